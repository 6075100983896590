import { z } from 'zod';
import type { BlockPerturbation, Perturbation } from '../core/perturbation.js';
import { fillGaussian } from '../core/rng.js';
import { decays, type Optimizer, type OptimizerState, type StepContext } from './optimizer.js';
import { spsaSchema } from './mezo.js';

const U_TAG = 0x10c0;
const V_TAG = 0x10c1;

const lozoFields = {
  ...spsaSchema,
  rank: z.number().int().positive().default(2).describe('rank r of U·Vᵀ'),
  interval: z.number().int().positive().default(50).describe('ν: V is redrawn every ν steps'),
};

/** A ≥2-D block gets U·Vᵀ; vectors get plain z, as in LOZO. */
function isMatrix(shape: readonly number[]): boolean {
  return shape.length >= 2;
}

/** V [cols, r] ~ N(0,1) of one V-period (steps ⌊step / ν⌋ = period share it). */
function vFactor(ctx: StepContext, b: number, cols: number, rank: number, period: number): Float32Array {
  return fillGaussian(new Float32Array(cols * rank), ctx.key(V_TAG, period, b));
}

/**
 * U [rows, r] ~ N(0,1), new every step; V [cols, r] ~ N(0,1), new every ν steps. Both are keyed
 * draws, so the update regenerates exactly the U and V that were probed. (The official code draws V
 * from the same stream as U, so on redraw steps its update uses a different U than its probe; we do
 * not reproduce that.)
 */
function factors(ctx: StepContext, b: number, shape: readonly number[], h: { rank: number; interval: number }) {
  const [rows, cols] = [shape[0]!, shape.slice(1).reduce((a, c) => a * c, 1)];
  return {
    u: fillGaussian(new Float32Array(rows * h.rank), ctx.key(U_TAG, ctx.step, b)),
    v: vFactor(ctx, b, cols, h.rank, Math.floor(ctx.step / h.interval)),
    rows,
    cols,
  };
}

type Factors = ReturnType<typeof factors>;

async function lowRankSpsa(ctx: StepContext, h: { eps: number; rank: number; interval: number }) {
  const fs = ctx.params.names.map((n, b) => (isMatrix(ctx.params.shape(n)) ? factors(ctx, b, ctx.params.shape(n), h) : undefined));
  const probe = (scale: number): Perturbation =>
    new Map<string, BlockPerturbation>(
      ctx.params.names.map((n, b) => {
        const f = fs[b];
        return [n, f ? { kind: 'lowrank', scale, u: f.u, v: f.v, rank: h.rank } : { kind: 'scalar', scale, z: ctx.z(0, b) }];
      }),
    );
  const lPlus = await ctx.loss(probe(h.eps));
  const lMinus = await ctx.loss(probe(-h.eps));
  return { g: (lPlus - lMinus) / (2 * h.eps), lPlus, fs };
}

/** θ ← θ − η·(D + λθ) for a block whose direction is the [rows, cols] product A·Vᵀ (A is U or M). */
function lowRankUpdate(theta: Float32Array, a: Float32Array, f: Factors, r: number, coef: number, lr: number, wd: number): void {
  for (let i = 0; i < f.rows; i++)
    for (let j = 0; j < f.cols; j++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += a[i * r + k]! * f.v[j * r + k]!;
      const idx = i * f.cols + j;
      theta[idx] = theta[idx]! - lr * (coef * d + wd * theta[idx]!);
    }
}

const lozoSchema = z.object(lozoFields).strict();
export type LozoHyperparameters = z.infer<typeof lozoSchema>;

/** LOZO (optsuite/LOZO): SPSA along U·Vᵀ for matrices (z for vectors), θ ← θ − η(g·U·Vᵀ + λθ). */
export const lozo: Optimizer<LozoHyperparameters> = {
  name: 'lozo',
  summary: 'LOZO: low-rank SPSA, perturbing each matrix by U·Vᵀ with V redrawn every ν steps',
  hyperparameters: lozoSchema,
  memoryFactor: () => 0,
  forwardPasses: () => 2,
  init: () => ({ slots: new Map(), scalars: {} }),
  async step(ctx, _state, h) {
    const { g, lPlus, fs } = await lowRankSpsa(ctx, h);
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const wd = decays(name) ? h.weightDecay : 0;
      const f = fs[b];
      if (f) lowRankUpdate(theta, f.u, f, h.rank, g, ctx.lr, wd);
      else {
        const z = ctx.z(0, b);
        for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - ctx.lr * (g * z[i]! + wd * theta[i]!);
      }
    });
    return { loss: lPlus, projectedGrad: g };
  },
};

const lozoMSchema = z.object({ ...lozoFields, beta: z.number().min(0).lt(1).default(0.9).describe('momentum β (lozo.sh: 0.9)') }).strict();
export type LozoMHyperparameters = z.infer<typeof lozoMSchema>;

/** M ← M·(V_fromᵀ·V)/cols in place: an r×r change of basis carrying M [rows, r] into V's subspace. */
function carryMomentum(m: Float32Array, vFrom: Float32Array, f: Factors, r: number): void {
  const P = new Float64Array(r * r);
  for (let k = 0; k < r; k++)
    for (let l = 0; l < r; l++) {
      let s = 0;
      for (let j = 0; j < f.cols; j++) s += vFrom[j * r + k]! * f.v[j * r + l]!;
      P[k * r + l] = s / f.cols;
    }
  const row = new Float64Array(r);
  for (let i = 0; i < f.rows; i++) {
    for (let l = 0; l < r; l++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += m[i * r + k]! * P[k * r + l]!;
      row[l] = s;
    }
    for (let l = 0; l < r; l++) m[i * r + l] = row[l]!;
  }
}

/**
 * LOZO-M (optsuite/LOZO medium_models): momentum kept in the low-rank factor, M [rows, r] per matrix
 * (full size for vectors): M ← β·M + (1−β)·g·U, θ ← θ − η(M·Vᵀ + λθ). The first step sets M = g·U, as
 * the official code does. State records the V-period M is expressed in (`period`); a step whose V
 * differs carries M over as M·V_periodᵀ·V / cols. The official code does that only on steps with
 * step % ν = 0, so a skipped redraw step (non-finite loss) would leave M in the old subspace for good;
 * keying it to the recorded period covers skips and resumes alike.
 */
export const lozoM: Optimizer<LozoMHyperparameters> = {
  name: 'lozo-m',
  summary: 'LOZO with momentum stored in the low-rank factor (rows × r per matrix), projected when V is redrawn',
  hyperparameters: lozoMSchema,
  memoryFactor: () => 0,
  forwardPasses: () => 2,
  init: (params, h): OptimizerState => ({
    slots: new Map(
      params.names.map((n) => [
        `${n}/momentum`,
        new Float32Array(isMatrix(params.shape(n)) ? params.shape(n)[0]! * h.rank : params.get(n).length),
      ]),
    ),
    scalars: { started: 0, period: 0 },
  }),
  async step(ctx, state, h) {
    const { g, lPlus, fs } = await lowRankSpsa(ctx, h);
    const first = state.scalars.started === 0;
    const period = Math.floor(ctx.step / h.interval);
    // Checkpoints from before `period` was recorded: M was in the previous step's period (no skips then).
    const from = state.scalars.period ?? Math.floor((ctx.step - 1) / h.interval);
    const r = h.rank;
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const m = state.slots.get(`${name}/momentum`)!;
      const wd = decays(name) ? h.weightDecay : 0;
      const f = fs[b];
      if (!f) {
        const z = ctx.z(0, b);
        for (let i = 0; i < theta.length; i++) {
          m[i] = first ? g * z[i]! : h.beta * m[i]! + (1 - h.beta) * g * z[i]!;
          theta[i] = theta[i]! - ctx.lr * (m[i]! + wd * theta[i]!);
        }
        return;
      }
      if (!first && from !== period) carryMomentum(m, vFactor(ctx, b, f.cols, r, from), f, r);
      for (let i = 0; i < m.length; i++) m[i] = first ? g * f.u[i]! : h.beta * m[i]! + (1 - h.beta) * g * f.u[i]!;
      lowRankUpdate(theta, m, f, r, 1, ctx.lr, wd);
    });
    state.scalars.started = 1;
    state.scalars.period = period;
    return { loss: lPlus, projectedGrad: g };
  },
};
