import { z } from 'zod';
import type { BlockPerturbation, Perturbation } from '../core/perturbation.js';
import { fillGaussian } from '../core/rng.js';
import { compose } from './compose.js';
import { spsaSchema, type GradientEstimator } from './estimators.js';
import type { StepContext } from './optimizer.js';
import { addDecayedWeights, momentum, scaleByLearningRate, type UpdateTransform } from './transforms.js';
import { implicit, isBare, type Direction } from './update.js';

const U_TAG = 0x10c0;
const V_TAG = 0x10c1;

const lozoFields = {
  ...spsaSchema,
  rank: z.number().int().positive().default(2).describe('rank r of U·Vᵀ'),
  interval: z.number().int().positive().default(50).describe('ν: V is redrawn every ν steps'),
};

export interface LowRank {
  rank: number;
  interval: number;
}

/** A ≥2-D block gets U·Vᵀ; vectors get plain z, as in LOZO. */
function isMatrix(shape: readonly number[]): boolean {
  return shape.length >= 2;
}

/** [rows, cols] of a block seen as a matrix (rows × the other axes). */
function dims(shape: readonly number[]): [number, number] {
  return [shape[0]!, shape.slice(1).reduce((a, c) => a * c, 1)];
}

/** V [cols, r] ~ N(0,1) of one V-period (steps with ⌊step / ν⌋ = period share it). */
function vFactor(ctx: StepContext, b: number, cols: number, rank: number, period: number): Float32Array {
  return fillGaussian(new Float32Array(cols * rank), ctx.key(V_TAG, period, b));
}

/**
 * U [rows, r] ~ N(0,1), new every step; V [cols, r] ~ N(0,1), new every ν steps. Both are keyed
 * draws, so the update regenerates exactly the U and V that were probed. (The official code draws V
 * from the same stream as U, so on redraw steps its update uses a different U than its probe; we do
 * not reproduce that.)
 */
function lowRankDirection(ctx: StepContext, b: number, shape: readonly number[], h: LowRank): Direction {
  const [rows, cols] = dims(shape);
  return {
    kind: 'lowrank',
    u: fillGaussian(new Float32Array(rows * h.rank), ctx.key(U_TAG, ctx.step, b)),
    v: vFactor(ctx, b, cols, h.rank, Math.floor(ctx.step / h.interval)),
    rank: h.rank,
  };
}

/** LOZO's low-rank SPSA: probes θ ± ε·U·Vᵀ on matrices (θ ± ε·z on vectors); ĝ = g·U·Vᵀ, never formed as a matrix. */
export function lowRankSpsa(o: { eps: number } & LowRank): GradientEstimator {
  return {
    forwardPasses: 2,
    async estimate(ctx) {
      const names = ctx.params.names;
      const ds = names.map((n, b) => (isMatrix(ctx.params.shape(n)) ? lowRankDirection(ctx, b, ctx.params.shape(n), o) : undefined));
      const direction = (b: number): Direction => ds[b] ?? { kind: 'scalar', z: ctx.z(0, b) };
      const probe = (scale: number): Perturbation =>
        new Map<string, BlockPerturbation>(names.map((n, b) => [n, { ...direction(b), scale } as BlockPerturbation]));
      const lPlus = await ctx.loss(probe(o.eps));
      const lMinus = await ctx.loss(probe(-o.eps));
      const g = (lPlus - lMinus) / (2 * o.eps);
      return {
        loss: lPlus,
        projectedGrad: g,
        block: (b) => implicit([{ coef: g, direction: () => direction(b) }]),
      };
    },
  };
}

const lozoSchema = z.object(lozoFields).strict();
export type LozoHyperparameters = z.infer<typeof lozoSchema>;

/** LOZO (optsuite/LOZO): SPSA along U·Vᵀ for matrices (z for vectors), θ ← θ − η(g·U·Vᵀ + λθ). */
export const lozo = compose<LozoHyperparameters>({
  name: 'lozo',
  summary: 'LOZO: low-rank SPSA, perturbing each matrix by U·Vᵀ with V redrawn every ν steps',
  hyperparameters: lozoSchema,
  parts: (h) => [lowRankSpsa(h), addDecayedWeights(h.weightDecay, 'mezo'), scaleByLearningRate()],
});

/** M ← M·(V_fromᵀ·V)/cols in place: an r×r change of basis carrying M [rows, r] into V's subspace. */
function carryMomentum(m: Float32Array, vFrom: Float32Array, v: Float32Array, rows: number, cols: number, r: number): void {
  const P = new Float64Array(r * r);
  for (let k = 0; k < r; k++)
    for (let l = 0; l < r; l++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += vFrom[j * r + k]! * v[j * r + l]!;
      P[k * r + l] = s / cols;
    }
  const row = new Float64Array(r);
  for (let i = 0; i < rows; i++) {
    for (let l = 0; l < r; l++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += m[i * r + k]! * P[k * r + l]!;
      row[l] = s;
    }
    for (let l = 0; l < r; l++) m[i * r + l] = row[l]!;
  }
}

/**
 * LOZO-M's momentum, kept in the low-rank factor: M [rows, r] per matrix, M ← β·M + (1−β)·g·U (the first
 * step sets M = g·U, as the official code does), and the update becomes M·Vᵀ. Vectors keep a full EMA
 * (`momentum` with dampening β). Slot `momentum`; scalar `period` records the V-period M is expressed
 * in, and a step whose V differs first carries M over as M·V_periodᵀ·V / cols. The official code
 * carries only on steps with step % ν = 0, so a skipped redraw step (non-finite loss) would leave M in
 * the old subspace for good; keying it to the recorded period covers skips and resumes alike.
 */
export function lowRankMomentum(o: { beta: number } & LowRank): UpdateTransform {
  const vectors = momentum(o.beta, { dampening: o.beta });
  return {
    init: (params) => ({
      slots: new Map(
        params.names.map((n) => {
          const shape = params.shape(n);
          return [`${n}/momentum`, new Float32Array(isMatrix(shape) ? shape[0]! * o.rank : params.get(n).length)];
        }),
      ),
      scalars: { started: 0, period: 0 },
    }),
    async update(u, ctx, state) {
      const first = state.scalars.started === 0;
      const period = Math.floor(ctx.step / o.interval);
      // Checkpoints from before `period` was recorded: M was in the previous step's period (no skips then).
      const from = state.scalars.period ?? Math.floor((ctx.step - 1) / o.interval);
      const vec = await vectors.update(u, ctx, state); // sets `started`
      state.scalars.period = period;
      const r = o.rank;
      return {
        block: (b) => {
          const name = ctx.params.names[b]!;
          const shape = ctx.params.shape(name);
          if (!isMatrix(shape)) return vec.block(b);
          const bu = u.block(b);
          const t = bu.kind === 'implicit' && isBare(bu) && bu.terms.length === 1 ? bu.terms[0]! : undefined;
          const d = t?.direction();
          if (!t || d?.kind !== 'lowrank') throw new Error('lowRankMomentum needs a low-rank estimate (lowRankSpsa)');
          const m = state.slots.get(`${name}/momentum`)!;
          const [rows, cols] = dims(shape);
          if (!first && from !== period) carryMomentum(m, vFactor(ctx, b, cols, r, from), d.v, rows, cols, r);
          const g = t.coef;
          for (let i = 0; i < m.length; i++) m[i] = first ? g * d.u[i]! : o.beta * m[i]! + (1 - o.beta) * g * d.u[i]!;
          return implicit([{ coef: 1, direction: () => ({ kind: 'lowrank', u: m, v: d.v, rank: r }) }]);
        },
      };
    },
  };
}

const lozoMSchema = z.object({ ...lozoFields, beta: z.number().min(0).lt(1).default(0.9).describe('momentum β (lozo.sh: 0.9)') }).strict();
export type LozoMHyperparameters = z.infer<typeof lozoMSchema>;

/** LOZO-M (optsuite/LOZO medium_models): LOZO with momentum in the low-rank factor, θ ← θ − η(M·Vᵀ + λθ). */
export const lozoM = compose<LozoMHyperparameters>({
  name: 'lozo-m',
  summary: 'LOZO with momentum stored in the low-rank factor (rows × r per matrix), projected when V is redrawn',
  hyperparameters: lozoMSchema,
  parts: (h) => [lowRankSpsa(h), lowRankMomentum(h), addDecayedWeights(h.weightDecay, 'mezo'), scaleByLearningRate()],
});
