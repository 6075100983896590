import { z } from 'zod';
import type { ParamStore } from '../core/params.js';
import type { Perturbation } from '../core/perturbation.js';
import type { OptimizerState, StepContext } from './optimizer.js';
import { explicit, implicit, type BlockStatsSink, type Update } from './update.js';

/** What a part of an optimizer adds to its state and its cost; every field is optional. */
export interface Part {
  /** Extra model-sized buffers it keeps in the state. */
  readonly memoryFactor?: number;
  /** Forward passes it runs per step. */
  readonly forwardPasses?: number;
  /** Its slots (`<block>/<slot>`) and scalars, as a fresh run starts them. */
  init?(params: ParamStore): { slots?: Map<string, Float32Array>; scalars?: Record<string, number> };
}

/** A step's gradient estimate: the update it implies, and what metrics.jsonl logs. */
export interface Estimate extends Update {
  /** ℓ⁺ for SPSA methods (as MeZO logs), L(θ) for first-order ones. */
  readonly loss: number;
  /** The scalar projected gradient g (averaged over probes); the gradient norm for autodiff. */
  readonly projectedGrad: number;
  /** Told each block's Σθ and Σθ² once the step's update is written (compose passes it to applyUpdate). */
  readonly stats?: BlockStatsSink;
}

/** The first part of every optimizer: losses (or gradients) in, an estimate of ∇L out. */
export interface GradientEstimator extends Part {
  /** z probes drawn per step, ctx.z(0..n−1, ·) (default 1). */
  readonly probes?: number;
  /** True when it needs ∂L/∂θ (tfjs autodiff) rather than losses only. */
  readonly firstOrder?: boolean;
  /** True when every probe it asks for is θ + c·z on every block (Optimizer.scalarProbes). */
  readonly scalarProbes?: boolean;
  /** Runs the step's forward passes; nothing may write θ, and state only once every pass has succeeded. */
  estimate(ctx: StepContext, state: OptimizerState): Promise<Estimate>;
}

/** Hyperparameters shared by the SPSA family; defaults are MeZO's OPT full-FT settings. */
export const spsaSchema = {
  lr: z.number().positive().default(1e-6).describe('learning rate η'),
  eps: z.number().positive().default(1e-3).describe('perturbation scale ε'),
  weightDecay: z.number().nonnegative().default(0).describe('λ, applied to all but biases and norm gains'),
};

/**
 * Per-block perturbation scales s_b for SPSA: probe θ ± ε·s_b·z_b, estimate ĝ_b = g·s_b·z_b with g =
 * (ℓ⁺ − ℓ⁻)/2ε not divided by s. The ZO Fine-tuner's deployment form is MeZO with s_b = nf·σ_b(features).
 */
export interface BlockScales extends Part {
  /** This step's s, one per block. May read θ and the state (a learned σ's features); must not write them. */
  scales(ctx: StepContext, state: OptimizerState): ArrayLike<number>;
  /** Called once every probe has succeeded: where scales that depend on history record it (the ZO Fine-tuner's ℓ±, σ). */
  observe?(state: OptimizerState, step: { scales: ArrayLike<number>; lossPlus: number[]; lossMinus: number[] }): void;
  /** Told Σθ and Σθ² of block b after step `step`'s update, summed in the update's own pass (features of θ). */
  updated?(step: number, block: number, sum: number, sumSq: number, theta: Float32Array): void;
}

/** θ + scale·s_b·z_probe on every block: the MeZO probe. */
export function scalarProbe(ctx: StepContext, probe: number, scale: number, s?: ArrayLike<number>): Perturbation {
  return new Map(ctx.params.names.map((name, b) => [name, { kind: 'scalar', scale: s ? scale * s[b]! : scale, z: ctx.z(probe, b) }]));
}

/**
 * SPSA over q probes (MeZO; n-SPSA): g_j = (ℓ(θ + εz_j) − ℓ(θ − εz_j))/2ε, or one-sided
 * (ℓ(θ + εz_j) − ℓ(θ))/ε with one shared pass at θ. ĝ = (1/q)·Σ_j g_j·z_j, kept implicit: each block's
 * update regenerates its z_j.
 */
export function spsa(o: { eps: number; q?: number; oneSided?: boolean; scales?: BlockScales }): GradientEstimator {
  const q = o.q ?? 1;
  return {
    forwardPasses: o.oneSided ? q + 1 : 2 * q,
    probes: q,
    scalarProbes: true,
    memoryFactor: o.scales?.memoryFactor,
    init: o.scales?.init,
    async estimate(ctx, state) {
      const s = o.scales?.scales(ctx, state);
      const l0 = o.oneSided ? await ctx.loss() : undefined;
      const [lPlus, lMinus, gs]: number[][] = [[], [], []];
      for (let j = 0; j < q; j++) {
        lPlus.push(await ctx.loss(scalarProbe(ctx, j, o.eps, s)));
        lMinus.push(l0 ?? (await ctx.loss(scalarProbe(ctx, j, -o.eps, s))));
        gs.push(l0 === undefined ? (lPlus[j]! - lMinus[j]!) / (2 * o.eps) : (lPlus[j]! - l0) / o.eps);
      }
      if (s) o.scales!.observe?.(state, { scales: s, lossPlus: lPlus, lossMinus: lMinus });
      const updated = o.scales?.updated;
      return {
        loss: lPlus[0]!,
        projectedGrad: gs.reduce((a, b) => a + b, 0) / q,
        stats: updated && ((b, sum, sumSq, theta) => updated(ctx.step, b, sum, sumSq, theta)),
        block: (b) =>
          implicit(gs.map((g, j) => ({ coef: (s ? g * s[b]! : g) / q, direction: () => ({ kind: 'scalar', z: ctx.z(j, b) }) }))),
      };
    },
  };
}

/** ∂L/∂θ through tfjs autodiff (first-order SGD and Adam, pretraining); logs ‖∇L‖₂ as its projected gradient. */
export function autodiff(): GradientEstimator {
  return {
    forwardPasses: 1,
    firstOrder: true,
    async estimate(ctx) {
      const { loss, grads } = await ctx.lossAndGrads();
      let sq = 0;
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
      const norm = Math.sqrt(sq);
      return {
        loss,
        projectedGrad: norm,
        globalNorm: () => norm,
        block: (b) => {
          const g = grads.get(ctx.params.names[b]!)!;
          return explicit((out, start) => {
            for (let k = 0; k < out.length; k++) out[k] = g[start + k]!;
          });
        },
      };
    },
  };
}
