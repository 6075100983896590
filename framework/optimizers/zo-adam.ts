import { z } from 'zod';
import { decays, zeroSlots, type Optimizer, type OptimizerState } from './optimizer.js';
import { spsa, spsaSchema } from './mezo.js';

export const adamSchema = {
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  adamEps: z.number().positive().default(1e-8).describe("Adam's ε in the denominator"),
};

/**
 * One torch.optim.Adam step on one block, for gradient G = gradAt(i), in place:
 * m ← β₁m + (1−β₁)G, v ← β₂v + (1−β₂)G², θ ← θ − (η/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
 */
export function adamBlock(
  theta: Float32Array,
  m: Float32Array,
  v: Float32Array,
  t: number,
  lr: number,
  h: { beta1: number; beta2: number; adamEps: number },
  gradAt: (i: number) => number,
): void {
  const stepSize = lr / (1 - h.beta1 ** t);
  const sqrtBc2 = Math.sqrt(1 - h.beta2 ** t);
  for (let i = 0; i < theta.length; i++) {
    const G = gradAt(i);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * G;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * G * G;
    theta[i] = theta[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / sqrtBc2 + h.adamEps);
  }
}

export function adamInit(params: import('../core/params.js').ParamStore): OptimizerState {
  return { slots: zeroSlots(params, 'exp_avg', 'exp_avg_sq'), scalars: { t: 0 } };
}

const schema = z.object({ ...spsaSchema, lr: spsaSchema.lr.default(1e-5), ...adamSchema }).strict();
export type ZoAdamHyperparameters = z.infer<typeof schema>;

/**
 * ZO-Adam (ZO-Bench): torch Adam with torch defaults, fed ĝ = g·z (+ λθ, torch's L2 decay), so
 * memory is 3P: θ, m and v.
 */
export const zoAdam: Optimizer<ZoAdamHyperparameters> = {
  name: 'zo-adam',
  summary: 'Adam over the ZO gradient ĝ = g·z, torch defaults (β 0.9/0.999, ε 1e-8); two extra model-sized buffers',
  hyperparameters: schema,
  memoryFactor: () => 2,
  forwardPasses: () => 2,
  init: (params) => adamInit(params),
  async step(ctx, state, h) {
    const { g, lPlus } = await spsa(ctx, 0, h.eps);
    const t = ++state.scalars.t!;
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const z = ctx.z(0, b);
      const wd = decays(name) ? h.weightDecay : 0;
      adamBlock(
        theta,
        state.slots.get(`${name}/exp_avg`)!,
        state.slots.get(`${name}/exp_avg_sq`)!,
        t,
        ctx.lr,
        h,
        (i) => g * z[i]! + wd * theta[i]!,
      );
    });
    return { loss: lPlus, projectedGrad: g };
  },
};
