import { z } from 'zod';
import type { Part } from './estimators.js';
import { zeroSlots, type OptimizerState, type StepContext } from './optimizer.js';
import { explicit, fillOf, isBare, mapBlocks, scaled, withDecayedWeights, type Update } from './update.js';

/**
 * A step of an optimizer after its estimator, as in optax's gradient transformations: the incoming
 * update in, the outgoing one out. Per-block work happens lazily, in the returned update's `block(b)`.
 */
export interface UpdateTransform extends Part {
  update(u: Update, ctx: StepContext, state: OptimizerState): Promise<Update> | Update;
}

/** Which blocks weight decay applies to, by name and shape. */
export type DecayMask = (name: string, shape: readonly number[]) => boolean;

/** The rules the methods genuinely differ by. */
export const DECAY_MASKS = {
  /** MeZO's no_decay list: every block but biases and norm gains (ZO-Bench and LOZO follow it). */
  mezo: (name) => !name.endsWith('.bias') && !/(norm|ln_\w+|layer_norm)\.weight$/.test(name),
  /** Every block, biases and norms included, as HiZOO's official code decays. */
  all: () => true,
  /** ≥ 2-D blocks, matrices and embeddings (nanoGPT's rule, used for AdamW pretraining). */
  matrices: (_name, shape) => shape.length >= 2,
} satisfies Record<string, DecayMask>;
export type DecayMaskName = keyof typeof DECAY_MASKS;

/** u ← η·u, η this step's learning rate (after the schedule); on a bare ĝ = g·z it is (η·g)·z. */
export function scaleByLearningRate(): UpdateTransform {
  return { update: (u, ctx) => mapBlocks(u, ctx.params, (bu, blk) => scaled(bu, ctx.lr, blk)) };
}

/** ZO-SGD-Sign's ĝ = sign(g)·z: the sign of each probe's projected gradient (not of each coordinate). */
export function signOfProjectedGradient(): UpdateTransform {
  return {
    update: (u, ctx) =>
      mapBlocks(u, ctx.params, (bu) => {
        if (bu.kind !== 'implicit' || !isBare(bu))
          throw new Error('the sign of the projected gradient needs a zeroth-order estimate g·z, before any other transform');
        return { ...bu, terms: bu.terms.map((t) => ({ coef: Math.sign(t.coef), direction: t.direction })) };
      }),
  };
}

/**
 * u ← u + λθ on the blocks `mask` names: L2 decay coupled into the gradient, as torch's SGD and Adam
 * `weight_decay` (ZO-Bench, LOZO, HiZOO). Once the update has this θ term, the learning rate scales
 * the sum, η·(ĝ + λθ), as those codes write it.
 */
export function addDecayedWeights(lambda: number, mask: DecayMaskName): UpdateTransform {
  return {
    update: (u, ctx) =>
      mapBlocks(u, ctx.params, (bu, blk) => withDecayedWeights(bu, DECAY_MASKS[mask](blk.name, blk.shape) ? lambda : 0, blk)),
  };
}

/**
 * θ ← θ − u − ηλθ on the blocks `mask` names: decay decoupled from the gradient (torch's AdamW). For
 * plain SGD it is the same update as coupled decay, and it leaves the update bare: MeZO's
 * θ − (η·g)·z − ηλθ.
 */
export function decoupledWeightDecay(lambda: number, mask: DecayMaskName): UpdateTransform {
  return {
    update: (u, ctx) =>
      mapBlocks(u, ctx.params, (bu, blk) => (DECAY_MASKS[mask](blk.name, blk.shape) ? { ...bu, decay: bu.decay + ctx.lr * lambda } : bu)),
  };
}

/**
 * Heavy-ball momentum in slot `momentum`: b ← u on the first step, then b ← μ·b + (1 − d)·u; the
 * update becomes b. d = 0 is torch's SGD momentum (ZO-SGD-MMT, fo-sgd); d = μ an EMA (LOZO-M's
 * vectors). `buffer: false` keeps no slot and passes u through, as torch does at μ = 0. Scalar
 * `started` records that the buffer holds a first step.
 */
export function momentum(mu: number, o: { dampening?: number; buffer?: boolean } = {}): UpdateTransform {
  const damp = 1 - (o.dampening ?? 0);
  const buffer = o.buffer ?? true;
  return {
    memoryFactor: buffer ? 1 : 0,
    init: (params) => ({ slots: buffer ? zeroSlots(params, 'momentum') : new Map(), scalars: { started: 0 } }),
    update(u, ctx, state) {
      const first = state.scalars.started === 0;
      state.scalars.started = 1;
      if (!buffer) return u;
      return mapBlocks(u, ctx.params, (bu, blk) => {
        const buf = state.slots.get(`${blk.name}/momentum`)!;
        // On an implicit ĝ the (1 − d) joins the coefficient: ((1 − d)·g)·z.
        const inner = fillOf(first || damp === 1 ? bu : scaled(bu, damp, blk), blk);
        return explicit((out, start) => {
          inner(out, start);
          for (let k = 0; k < out.length; k++) {
            const i = start + k;
            buf[i] = first ? out[k]! : mu * buf[i]! + out[k]!;
            out[k] = buf[i]!;
          }
        }, bu.decay);
      });
    },
  };
}

/** Adam's hyperparameters, torch's defaults. */
export const adamSchema = {
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  adamEps: z.number().positive().default(1e-8).describe("Adam's ε in the denominator"),
};

/**
 * torch.optim.Adam's step for gradient G = u, in slots `exp_avg` (m) and `exp_avg_sq` (v) with step
 * count `t`: m ← β₁m + (1−β₁)G, v ← β₂v + (1−β₂)G², u ← (η/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε). The
 * learning rate is part of the step, as in torch's arithmetic, so no scaleByLearningRate follows it.
 */
export function adam(h: { beta1: number; beta2: number; adamEps: number }): UpdateTransform {
  const { beta1, beta2, adamEps } = h;
  return {
    memoryFactor: 2,
    init: (params) => ({ slots: zeroSlots(params, 'exp_avg', 'exp_avg_sq'), scalars: { t: 0 } }),
    update(u, ctx, state) {
      const t = ++state.scalars.t!;
      const stepSize = ctx.lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      return mapBlocks(u, ctx.params, (bu, blk) => {
        const m = state.slots.get(`${blk.name}/exp_avg`)!;
        const v = state.slots.get(`${blk.name}/exp_avg_sq`)!;
        const inner = fillOf(bu, blk);
        return explicit((out, start) => {
          inner(out, start);
          for (let k = 0; k < out.length; k++) {
            const i = start + k;
            const G = out[k]!;
            m[i] = beta1 * m[i]! + (1 - beta1) * G;
            v[i] = beta2 * v[i]! + (1 - beta2) * G * G;
            out[k] = (stepSize * m[i]!) / (Math.sqrt(v[i]!) / sqrtBc2 + adamEps);
          }
        }, bu.decay);
      });
    },
  };
}

/**
 * u ← u·min(1, c/(‖u‖₂ + 1e-6)), torch's clip_grad_norm_ (c = 0: no clipping). It needs the global norm
 * before any block is touched, so it comes straight after an estimator that knows it (autodiff).
 */
export function clipByGlobalNorm(maxNorm: number): UpdateTransform {
  return {
    update(u, ctx) {
      if (maxNorm === 0) return u;
      if (!u.globalNorm) throw new Error('clipByGlobalNorm must come straight after an estimator that knows ‖ĝ‖ (autodiff)');
      const scale = Math.min(1, maxNorm / (u.globalNorm() + 1e-6));
      return mapBlocks(u, ctx.params, (bu, blk) => scaled(bu, scale, blk));
    },
  };
}
