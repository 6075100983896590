import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../errors.js';
import type { ParamStore } from '../engine/params.js';
import { openSafetensors, writeSafetensors } from '../models/safetensors.js';
import type { OptimizerState } from '../optimizers/optimizer.js';

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

/**
 * Saves θ, the optimizer state and the step under `runDir/checkpoint-<step>/`, then points
 * `checkpoint.json` at it with an atomic rename: a crash at any moment leaves the previous checkpoint
 * whole and pointed to.
 */
export function saveCheckpoint(runDir: string, params: ParamStore, state: OptimizerState, meta: CheckpointMeta): void {
  const name = `checkpoint-${String(meta.step).padStart(8, '0')}`;
  const dir = path.join(runDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    params.names.map((n) => ({ name: n, shape: [...params.shape(n)], data: params.get(n) })),
  );
  writeSafetensors(
    path.join(dir, 'optimizer.safetensors'),
    [...state.slots].map(([n, data]) => ({ name: n, shape: [data.length], data })),
  );
  writeJsonAtomic(path.join(dir, 'state.json'), { ...meta, scalars: state.scalars });
  const previous = readPointer(runDir);
  writeJsonAtomic(path.join(runDir, POINTER), { dir: name, step: meta.step });
  if (previous && previous !== name) fs.rmSync(path.join(runDir, previous), { recursive: true, force: true });
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

function readPointer(runDir: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, POINTER), 'utf8')).dir;
  } catch {
    return undefined;
  }
}

export function hasCheckpoint(runDir: string): boolean {
  return readPointer(runDir) !== undefined;
}

/**
 * Loads the checkpoint of `runDir` into `params` and returns the optimizer state and metadata. Refuses
 * a checkpoint made for other blocks or another optimizer, naming the first difference.
 */
export function loadCheckpoint(runDir: string, params: ParamStore, optimizer: string): { state: OptimizerState; meta: CheckpointMeta } {
  const name = readPointer(runDir);
  if (!name) throw new ZoError(`${runDir}: no checkpoint to resume from (${POINTER} is missing)`);
  const dir = path.join(runDir, name);
  const stateFile = path.join(dir, 'state.json');
  const meta = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as CheckpointMeta & { scalars: Record<string, number> };
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

/** Keeps metrics.jsonl consistent with a checkpoint: drops the lines of steps ≥ `fromStep`,
 * which ran before a crash and will run again. */
export function truncateMetrics(file: string, fromStep: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line && JSON.parse(line).step < fromStep);
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

