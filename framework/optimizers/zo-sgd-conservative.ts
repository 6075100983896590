import { z } from 'zod';
import { emptyState, sgdUpdate, type Optimizer } from './optimizer.js';
import { scalarProbe, spsa, spsaSchema } from './mezo.js';

const schema = z.object({ lr: spsaSchema.lr, eps: spsaSchema.eps }).strict();
export type ZoSgdConservativeHyperparameters = z.infer<typeof schema>;

/**
 * ZO-SGD-Cons (ZO-Bench zo_conserv_step, with the plain SGD it intends): from L(θ), ℓ± and
 * g = (ℓ⁺ − ℓ⁻)/2ε, evaluate θ_A = θ − η·g·z and θ_B = θ + η·g·z and move to the lowest of
 * {θ, θ_A, θ_B}; ties go to θ_B, then θ_A, as in the official code. Five forward passes; both
 * candidates are probes (θ + c·z with c = ∓η·g), so θ is written once, by the chosen move.
 */
export const zoSgdConservative: Optimizer<ZoSgdConservativeHyperparameters> = {
  name: 'zo-sgd-conservative',
  summary: 'ZO-SGD that only moves to θ ∓ η·g·z when that lowers the batch loss (5 forward passes)',
  hyperparameters: schema,
  memoryFactor: () => 0,
  forwardPasses: () => 5,
  init: () => emptyState(),
  async step(ctx, _state, h) {
    const l0 = await ctx.loss();
    const { g, lPlus } = await spsa(ctx, 0, h.eps);
    const lA = await ctx.loss(scalarProbe(ctx, 0, -ctx.lr * g));
    const lB = await ctx.loss(scalarProbe(ctx, 0, ctx.lr * g));
    // The official branches: A strictly better than θ and B; else B unless θ is strictly better.
    const move = lA > l0 ? (l0 < lB ? 0 : -1) : lA < lB ? 1 : -1;
    if (move !== 0) ctx.params.names.forEach((name, b) => sgdUpdate(ctx.params.get(name), ctx.z(0, b), ctx.lr, move * g, 0));
    return { loss: lPlus, projectedGrad: g };
  },
};
