import { ZoError } from '../core/errors.js';
import type { ParamStore } from '../core/params.js';
import type { Optimizer, OptimizerState, StepContext, StepInfo } from '../optimizers/optimizer.js';
import type { NoiseSource } from '../core/noise.js';
import type { Problem } from '../core/problem.js';
import { keyOf } from '../core/rng.js';

export type ScheduleKind = 'constant' | 'linear';
export const SCHEDULES: readonly ScheduleKind[] = ['constant', 'linear'];

/** The learning rate at `step` of `total`: constant, or linear decay to 0 (HF's linear, no warm-up). */
export function lrAt(lr: number, schedule: ScheduleKind, step: number, total: number): number {
  return schedule === 'constant' ? lr : lr * Math.max(0, 1 - step / total);
}

/** A learning-rate schedule: the rate at 0-based `step`. */
export type Schedule = (step: number) => number;

/**
 * Linear warm-up to `lr` over `warmup` steps, then cosine decay to `minLr` at the last step (nanoGPT's
 * schedule; `zo pretrain`). 0-based: step k is the (k+1)-th update, so the first one is not wasted at 0.
 */
export function warmupCosine(s: { lr: number; minLr: number; warmup: number; steps: number }): Schedule {
  return (step) => {
    const n = step + 1;
    if (n <= s.warmup) return (s.lr * n) / s.warmup;
    const progress = Math.min(1, (n - s.warmup) / Math.max(1, s.steps - s.warmup));
    return s.minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - s.minLr);
  };
}

/** Thrown by ctx.loss on NaN/Inf so the step is skipped before any update touches θ. */
class NonFiniteLoss extends Error {
  constructor(readonly value: number) {
    super(`non-finite loss ${value}`);
  }
}

export interface StepRecord extends StepInfo {
  step: number;
  lr: number;
  ms: number;
  forwardPasses: number;
  /** True when a non-finite loss skipped the step (θ and state unchanged). */
  skipped: boolean;
}

export interface TrainOptions<H extends { lr: number }> {
  optimizer: Optimizer<H>;
  hyperparameters: H;
  problem: Problem;
  state: OptimizerState;
  /** Where z comes from; a first-order optimizer draws none, and may go without. */
  noise?: NoiseSource;
  seed: number;
  /** Total steps of the run (the schedule's horizon). */
  steps: number;
  /** A named schedule of the hyperparameters' lr over `steps`, or any schedule. */
  schedule: ScheduleKind | Schedule;
  /** Resume point: the first step to run. */
  startStep?: number;
  /** Stop before this step (default `steps`): a run cut short, as a crash would, resumes from here. */
  endStep?: number;
  /** Consecutive non-finite losses tolerated before the run aborts. */
  maxNonFinite?: number;
  onStep?: (r: StepRecord) => void | Promise<void>;
}

/**
 * The step loop shared by every optimizer, and by `zo run`, `zo bench` and `zo pretrain`. Each step
 * sees only (seed, step): its batch, its noise and its other draws are keyed by them, so a resumed
 * run replays exactly.
 */
export async function train<H extends { lr: number }>(o: TrainOptions<H>): Promise<{ skipped: number }> {
  const maxNonFinite = o.maxNonFinite ?? 5;
  let skipped = 0;
  let inARow = 0;
  const named = o.schedule;
  const schedule = typeof named === 'function' ? named : (step: number) => lrAt(o.hyperparameters.lr, named, step, o.steps);
  const noise = o.noise;
  for (let step = o.startStep ?? 0; step < Math.min(o.steps, o.endStep ?? o.steps); step++) {
    const t0 = performance.now();
    const objective = o.problem.at(step);
    let passes = 0;
    const lr = schedule(step);
    const ctx: StepContext = {
      step,
      lr,
      params: o.problem.params,
      z: (probe, block) => {
        if (!noise) throw new Error(`${o.optimizer.name} draws z, but the run was given no noise source`);
        return noise.z(step, probe, block);
      },
      key: (...parts) => keyOf(o.seed, ...parts),
      loss: async (p) => {
        passes++;
        const l = await objective.loss(p);
        if (!Number.isFinite(l)) throw new NonFiniteLoss(l);
        return l;
      },
      lossAndGrads: async () => {
        passes++;
        const r = await objective.lossAndGrads();
        if (!Number.isFinite(r.loss)) throw new NonFiniteLoss(r.loss);
        return r;
      },
    };
    let record: StepRecord;
    try {
      const info = await o.optimizer.step(ctx, o.state, o.hyperparameters);
      inARow = 0;
      record = { step, lr, ms: performance.now() - t0, forwardPasses: passes, skipped: false, ...info };
    } catch (e) {
      if (!(e instanceof NonFiniteLoss)) throw e;
      skipped++;
      inARow++;
      record = { step, lr, ms: performance.now() - t0, forwardPasses: passes, skipped: true, loss: e.value, projectedGrad: NaN };
    }
    await o.onStep?.(record);
    if (inARow >= maxNonFinite)
      throw new ZoError(`step ${step}: ${inARow} non-finite losses in a row (last ${record.loss}); ${diagnose(o.problem.params)}`);
  }
  return { skipped };
}

/** Why losses went non-finite: bad values already in θ (where), or a finite θ the step size broke. */
function diagnose(params: ParamStore): string {
  for (const name of params.names) {
    const v = params.get(name);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      return `θ holds a non-finite value (${name}[${bad}] = ${v[bad]}): the weights were loaded or updated that way; restart from a good checkpoint with a lower --lr`;
  }
  return 'θ is finite, so the probes overflow: lower --lr or --eps, or check the data for empty targets';
}
