/**
 * A ZO fine-tune stored as scalars (MeZO §"storage efficiency"): every loss the optimizer asked for,
 * step by step. Given the base model, the same optimizer code re-runs every step from them: the noise
 * is keyed by (seed, step, probe, block), so z is drawn again, and g, the update and any state (ZO-Adam's
 * moments, HiZOO's Hessian, LOZO's factors) follow from the losses exactly as they did. No forward pass
 * and no data: the rebuilt weights are the run's, bit for bit.
 *
 * replay.bin: "ZOREPLAY1\n", a u32 little-endian header length, the header (JSON: what the replay needs
 * from spec.json), then one record per step: a byte n (the losses of that step; bit 7 set when they are
 * stored as float64 because one is not a float32), then n floats.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { checkNoiseVersion } from '../core/noise.js';
import type { ParamStore } from '../core/params.js';
import type { Problem, StepObjective } from '../core/problem.js';
import { train } from '../harness/harness.js';
import type { LoadedModel } from '../models/load.js';
import { writeFileAtomic } from './checkpoint.js';
import type { Adapter } from './peft.js';
import { loadTrainee, noiseFor, type TraineeSpec } from './trainee.js';

export const REPLAY_FILE = 'replay.bin';
const MAGIC = 'ZOREPLAY1\n';

/** What a replay needs besides the losses: the trainee's part of the run's spec. */
export type ReplayHeader = TraineeSpec;

function encodeStep(losses: readonly number[]): Buffer {
  if (losses.length > 127) throw new Error(`a step asked for ${losses.length} losses; replay.bin holds at most 127`);
  const wide = losses.some((l) => Math.fround(l) !== l && !Number.isNaN(l));
  const b = Buffer.alloc(1 + losses.length * (wide ? 8 : 4));
  b[0] = losses.length | (wide ? 0x80 : 0);
  losses.forEach((l, i) => (wide ? b.writeDoubleLE(l, 1 + 8 * i) : b.writeFloatLE(l, 1 + 4 * i)));
  return b;
}

/** Parses replay.bin: the header and every step's losses; a damaged file is one line. */
export function readReplay(file: string): { header: ReplayHeader; steps: number[][]; bytes: number } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ZoError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (a ZO run writes one)' : 'cannot read it'}`,
    );
  }
  const bad = (why: string) => new ZoError(`${file}: not a zo replay file (${why})`);
  if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw bad('no ZOREPLAY1 header');
  if (buf.length < MAGIC.length + 4) throw bad('its header is cut short');
  const n = buf.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + n;
  let header: ReplayHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, dataStart).toString('utf8')) as ReplayHeader;
  } catch {
    throw bad('its header is not JSON');
  }
  const steps: number[][] = [];
  for (let at = dataStart; at < buf.length;) {
    const count = buf[at]! & 0x7f;
    const wide = (buf[at]! & 0x80) !== 0;
    const end = at + 1 + count * (wide ? 8 : 4);
    if (end > buf.length) break; // a torn last record (a kill mid-write): that step is not recorded
    steps.push(Array.from({ length: count }, (_, i) => (wide ? buf.readDoubleLE(at + 1 + 8 * i) : buf.readFloatLE(at + 1 + 4 * i))));
    at = end;
  }
  return { header, steps, bytes: buf.length };
}

/**
 * The run's recorder: a new file, or on a resume the old one cut back to the checkpoint's step. Wraps
 * the problem so that every loss the optimizer gets is kept, and appends a record after each step.
 */
export class ReplayRecorder {
  private fd: number;
  private current: number[] = [];

  constructor(
    readonly file: string,
    header: ReplayHeader,
    fromStep: number,
  ) {
    // A resume keeps the steps before its checkpoint, under the header of the run as it is now (an
    // extension changes its steps); the file is rewritten whole, atomically.
    let kept: number[][] = [];
    if (fromStep > 0) {
      kept = readReplay(file).steps;
      if (kept.length < fromStep) throw new ZoError(`${file}: holds ${kept.length} steps, but the run resumes at step ${fromStep}`);
      kept = kept.slice(0, fromStep);
    }
    const h = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(h.length);
    writeFileAtomic(file, Buffer.concat([Buffer.from(MAGIC, 'latin1'), len, h, ...kept.map(encodeStep)]));
    this.fd = fs.openSync(file, 'a');
  }

  /** The problem with every loss of a step noted as it is returned. */
  wrap(problem: Problem): Problem {
    return {
      params: problem.params,
      at: (step) => {
        this.current = [];
        const o = problem.at(step);
        return {
          loss: async (p) => {
            const l = await o.loss(p);
            this.current.push(l);
            return l;
          },
          lossAndGrads: (p) => o.lossAndGrads(p),
        };
      },
    };
  }

  /** After a step (skipped or not): its losses, in the order they were asked for. */
  endStep(): void {
    fs.writeSync(this.fd, encodeStep(this.current));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** A problem that answers each step's losses from the record, in order, whatever the perturbation. */
function recordedProblem(theta: ParamStore, steps: number[][]): Problem {
  return {
    params: theta,
    at: (step): StepObjective => {
      const losses = steps[step]!;
      let i = 0;
      return {
        loss: async () => {
          if (i >= losses.length)
            throw new ZoError(`step ${step}: the optimizer asked for more losses than the run recorded (${losses.length})`);
          return losses[i++]!;
        },
        lossAndGrads: () => {
          throw new ZoError('a first-order step needs gradients, which a replay file does not hold');
        },
      };
    },
  };
}

/**
 * Rebuilds a ZO run's final weights from the base model and its replay file: the optimizer's own
 * steps, fed the recorded losses. `model` overrides the base model folder the header names.
 */
export async function replay(
  file: string,
  opts: { model?: string } = {},
): Promise<{ model: LoadedModel; theta: ParamStore; adapter?: Adapter; header: ReplayHeader; bytes: number }> {
  const { header: h, steps, bytes } = readReplay(file);
  if (steps.length < h.steps) throw new ZoError(`${file}: holds ${steps.length} of the run's ${h.steps} steps; the run is not finished`);
  checkNoiseVersion(h.noise, h.noiseVersion, file);
  // A prefix run's θ₀ is read from beside the replay file when it is there (trainee.ts).
  const t = await loadTrainee(h, opts.model, path.dirname(file));
  if (t.optimizer.firstOrder) throw new ZoError(`${file}: ${h.optimizer} is first-order; its updates need gradients, not losses`);
  await train({
    optimizer: t.optimizer,
    hyperparameters: t.h,
    problem: recordedProblem(t.theta, steps),
    state: t.optimizer.init(t.theta, t.h),
    noise: noiseFor(h, t),
    seed: h.seed,
    steps: h.steps,
    schedule: h.schedule,
  });
  return { model: t.model, theta: t.theta, adapter: t.adapter, header: h, bytes };
}

export const replayFile = (runDir: string) => path.join(runDir, REPLAY_FILE);
