import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { ParamStore } from '../core/params.js';
import { openSafetensors, tensorsOf, writeSafetensors } from '../models/safetensors.js';
import type { OptimizerState } from '../optimizers/optimizer.js';
import { fsError, readRunJson } from './folder.js';

/** What identifies a run's checkpoint besides the tensors. */
export interface CheckpointMeta {
  step: number;
  optimizer: string;
  hyperparameters: Record<string, unknown>;
  /** The model's block names and shapes, so a checkpoint from another model is refused. */
  blocks: { name: string; shape: readonly number[] }[];
  /** Anything else the run needs to resume (skipped steps, best dev so far, …). */
  extra: Record<string, unknown>;
}

const POINTER = 'checkpoint.json';
/** A checkpoint folder's name: its step, then a nonce, so a re-save never reuses the live folder's name. */
const CHECKPOINT_DIR = /^checkpoint-\d{8}(-[0-9a-f]{8})?$/;

/**
 * Saves θ, the optimizer state and the step under a new `runDir/checkpoint-<step>-<nonce>/`, then
 * points `checkpoint.json` at it with an atomic rename, and only then removes the checkpoint it
 * replaces (and any a crash left half-written). A crash at any moment leaves a whole checkpoint that
 * the pointer names: the live one is never deleted before its successor is pointed to.
 */
export function saveCheckpoint(runDir: string, params: ParamStore, state: OptimizerState, meta: CheckpointMeta): void {
  const name = `checkpoint-${String(meta.step).padStart(8, '0')}-${crypto.randomBytes(4).toString('hex')}`;
  const dir = path.join(runDir, name);
  fs.mkdirSync(dir);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensorsOf(params));
  writeSafetensors(
    path.join(dir, 'optimizer.safetensors'),
    [...state.slots].map(([n, data]) => ({ name: n, shape: [data.length], data })),
  );
  writeJsonAtomic(path.join(dir, 'state.json'), { ...meta, scalars: state.scalars });
  writeJsonAtomic(path.join(runDir, POINTER), { dir: name, step: meta.step });
  for (const entry of fs.readdirSync(runDir))
    if (entry !== name && /^checkpoint-\d{8}/.test(entry)) fs.rmSync(path.join(runDir, entry), { recursive: true, force: true });
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Writes a file through a temporary one and a rename, so a reader never sees half of it. */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export function hasCheckpoint(runDir: string): boolean {
  return fs.existsSync(path.join(runDir, POINTER));
}

/** The step of the live checkpoint (`checkpoint.json`'s), or undefined when the run has none. */
export function checkpointStep(runDir: string): number | undefined {
  return hasCheckpoint(runDir) ? readRunJson<{ step: number }>(path.join(runDir, POINTER), 'the checkpoint pointer').step : undefined;
}

/** Fills a folder through a temporary sibling and a rename, replacing `dest`: a folder there is always whole. */
export function writeFolderAtomic(dest: string, what: string, fill: (tmp: string) => void): void {
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp, { recursive: true });
    fill(tmp);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e instanceof ZoError ? e : fsError(dest, `cannot write the ${what}`, e);
  }
}

/**
 * The live checkpoint folder that `checkpoint.json` names. Only a checkpoint folder directly inside
 * the run folder is accepted: a pointer is data, and a run must never load or delete another's files.
 */
export function checkpointDir(runDir: string): string {
  const file = path.join(runDir, POINTER);
  const ptr = readRunJson<{ dir?: unknown }>(file, 'the checkpoint pointer');
  const name = ptr?.dir;
  if (typeof name !== 'string' || !CHECKPOINT_DIR.test(name))
    throw new ZoError(`${file}: "dir" must name a checkpoint-<step> folder inside this run folder (got ${JSON.stringify(name)})`);
  const dir = path.join(runDir, name);
  if (!fs.existsSync(dir)) throw new ZoError(`${file}: names ${name}, which is missing from the run folder`);
  return dir;
}

/**
 * Loads the checkpoint of `runDir` into `params` and returns the optimizer state and metadata. Refuses
 * a checkpoint made for other blocks or another optimizer, naming the first difference.
 */
export function loadCheckpoint(runDir: string, params: ParamStore, optimizer: string): { state: OptimizerState; meta: CheckpointMeta } {
  if (!hasCheckpoint(runDir)) throw new ZoError(`${runDir}: no checkpoint to resume from (${POINTER} is missing)`);
  const dir = checkpointDir(runDir);
  const stateFile = path.join(dir, 'state.json');
  const meta = readRunJson<CheckpointMeta & { scalars: Record<string, number> }>(stateFile, 'the checkpoint state');
  if (meta.optimizer !== optimizer) throw new ZoError(`${stateFile}: checkpoint is from optimizer "${meta.optimizer}", not "${optimizer}"`);
  const mine = params.names;
  for (let i = 0; i < Math.max(mine.length, meta.blocks.length); i++) {
    const theirs = meta.blocks[i];
    const ours = mine[i];
    if (!theirs || !ours || theirs.name !== ours || theirs.shape.join(',') !== params.shape(ours).join(','))
      throw new ZoError(
        `${stateFile}: checkpoint is from another model: block ${i} is ${theirs ? `${theirs.name} [${theirs.shape}]` : 'absent'} there, ${ours ? `${ours} [${params.shape(ours)}]` : 'absent'} here`,
      );
  }
  const model = openSafetensors(path.join(dir, 'model.safetensors'));
  for (const n of mine) model.readF32(n, params.get(n));
  const opt = openSafetensors(path.join(dir, 'optimizer.safetensors'));
  const slots = new Map(opt.names().map((n) => [n, opt.readF32(n)]));
  return { state: { slots, scalars: meta.scalars }, meta };
}

/**
 * Keeps metrics.jsonl consistent with a checkpoint: drops the lines of steps ≥ `fromStep`, which ran
 * before a crash and will run again. A torn last line (a kill mid-write) is dropped with them; a
 * broken line before it means the file is damaged, and is refused.
 */
export function truncateMetrics(file: string, fromStep: number): void {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const kept: string[] = [];
  lines.forEach((line, i) => {
    if (!line) return;
    let step: unknown;
    try {
      step = JSON.parse(line).step;
    } catch {
      if (lines.slice(i + 1).some(Boolean)) throw new ZoError(`${file}: line ${i + 1} is not valid JSON; the metrics file is damaged`);
      return; // the torn last line of a killed run
    }
    if (typeof step === 'number' && step < fromStep) kept.push(line);
  });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, kept.map((l) => l + '\n').join(''));
  fs.renameSync(tmp, file);
}
