import { z } from 'zod';
import type { BlockPerturbation } from '../core/perturbation.js';
import { compose } from './compose.js';
import { spsaSchema, type GradientEstimator } from './estimators.js';
import { addDecayedWeights, scaleByLearningRate } from './transforms.js';
import { implicit } from './update.js';

const schema = z
  .object({
    ...spsaSchema,
    alpha: z.number().min(0).max(1).default(1e-8).describe('Hessian EMA smoothing α (README example: constant1e-8)'),
  })
  .strict();
export type HizooHyperparameters = z.infer<typeof schema>;

/**
 * HiZOO's Hessian-scaled SPSA: probes θ ± ε·z/√H around ℓ₀ = L(θ), then
 *   H ← (1−α)·H + α·|ℓ⁺ + ℓ⁻ − 2ℓ₀|/(2ε²)·H⊙z⊙z,   ĝ = g·z/√H_new,
 * probing at the old H and stepping at the new one, as the official code does. It keeps s = 1/√H
 * (initially 1) rather than H, in slot `inv_sqrt_hessian`: the probe needs s itself, and then
 * s_new = s / √((1−α) + α·k·z²). H advances block by block as the update is written.
 */
export function hessianSpsa(o: { eps: number; alpha: number }): GradientEstimator {
  const slot = (name: string) => `${name}/inv_sqrt_hessian`;
  return {
    forwardPasses: 3,
    memoryFactor: 1,
    init: (params) => ({ slots: new Map(params.names.map((n) => [slot(n), new Float32Array(params.get(n).length).fill(1)])) }),
    async estimate(ctx, state) {
      const names = ctx.params.names;
      const s = (b: number) => state.slots.get(slot(names[b]!))!;
      const probe = (scale: number) =>
        new Map<string, BlockPerturbation>(names.map((n, b) => [n, { kind: 'elementwise', scale, z: ctx.z(0, b), s: s(b) }]));
      const l0 = await ctx.loss();
      const lPlus = await ctx.loss(probe(o.eps));
      const lMinus = await ctx.loss(probe(-o.eps));
      const g = (lPlus - lMinus) / (2 * o.eps);
      const k = Math.abs(lPlus + lMinus - 2 * l0) / (2 * o.eps * o.eps);
      return {
        loss: lPlus,
        projectedGrad: g,
        block: (b) => {
          const [sb, z] = [s(b), ctx.z(0, b)];
          for (let i = 0; i < sb.length; i++) sb[i] = sb[i]! / Math.sqrt(1 - o.alpha + o.alpha * k * z[i]! * z[i]!);
          return implicit([{ coef: g, direction: () => ({ kind: 'elementwise', z: ctx.z(0, b), s: sb }) }]);
        },
      };
    },
  };
}

/**
 * HiZOO (Yanjun-Zhao/HiZOO, root trainer.py): θ ← θ − η·(g·z/√H_new + λθ), weight decay on every
 * block as in HiZOO. Three forward passes (the official fourth only logs), one extra buffer.
 */
export const hizoo = compose<HizooHyperparameters>({
  name: 'hizoo',
  summary: 'HiZOO: diagonal-Hessian-scaled SPSA, probes θ ± ε·z/√H with an EMA of |Δ²ℓ| (3 passes, one extra buffer)',
  hyperparameters: schema,
  parts: (h) => [hessianSpsa(h), addDecayedWeights(h.weightDecay, 'all'), scaleByLearningRate()],
});
