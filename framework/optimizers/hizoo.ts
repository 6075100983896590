import { z } from 'zod';
import type { BlockPerturbation } from '../core/perturbation.js';
import type { Optimizer } from './optimizer.js';
import { spsaSchema } from './mezo.js';

const schema = z
  .object({
    ...spsaSchema,
    alpha: z.number().min(0).max(1).default(1e-8).describe('Hessian EMA smoothing α (README example: constant1e-8)'),
  })
  .strict();
export type HizooHyperparameters = z.infer<typeof schema>;

/**
 * HiZOO (Yanjun-Zhao/HiZOO, root trainer.py; paper.md §4.2). Probes θ ± ε·z/√H, then
 *   H ← (1−α)·H + α·|ℓ⁺ + ℓ⁻ − 2ℓ₀|/(2ε²)·H⊙z⊙z,   θ ← θ − η·(g·z/√H_new + λθ)
 * with the perturbation at the old H and the step at the new one, as the official code does. We keep
 * s = 1/√H (initially 1) rather than H: the probe needs s itself, and then
 * s_new = s / √((1−α) + α·k·z²), so the state is one model-sized buffer. Weight decay applies to every
 * block, as in HiZOO. Three forward passes (the official fourth only logs).
 */
export const hizoo: Optimizer<HizooHyperparameters> = {
  name: 'hizoo',
  summary: 'HiZOO: diagonal-Hessian-scaled SPSA, probes θ ± ε·z/√H with an EMA of |Δ²ℓ| (3 passes, one extra buffer)',
  hyperparameters: schema,
  memoryFactor: () => 1,
  forwardPasses: () => 3,
  init: (params) => ({
    slots: new Map(params.names.map((n) => [`${n}/inv_sqrt_hessian`, new Float32Array(params.get(n).length).fill(1)])),
    scalars: {},
  }),
  async step(ctx, state, h) {
    const names = ctx.params.names;
    const s = (name: string) => state.slots.get(`${name}/inv_sqrt_hessian`)!;
    const probe = (scale: number) =>
      new Map<string, BlockPerturbation>(names.map((n, b) => [n, { kind: 'elementwise', scale, z: ctx.z(0, b), s: s(n) }]));
    const l0 = await ctx.loss();
    const lPlus = await ctx.loss(probe(h.eps));
    const lMinus = await ctx.loss(probe(-h.eps));
    const g = (lPlus - lMinus) / (2 * h.eps);
    const k = Math.abs(lPlus + lMinus - 2 * l0) / (2 * h.eps * h.eps);
    names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const sb = s(name);
      const z = ctx.z(0, b);
      for (let i = 0; i < theta.length; i++) {
        const zi = z[i]!;
        sb[i] = sb[i]! / Math.sqrt(1 - h.alpha + h.alpha * k * zi * zi);
        theta[i] = theta[i]! - ctx.lr * (g * zi * sb[i]! + h.weightDecay * theta[i]!);
      }
    });
    return { loss: lPlus, projectedGrad: g };
  },
};
