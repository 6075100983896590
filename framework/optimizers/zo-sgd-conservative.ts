import { z } from 'zod';
import type { BlockPerturbation } from '../core/perturbation.js';
import { compose } from './compose.js';
import { spsa, spsaSchema } from './estimators.js';
import { scaleByLearningRate, type UpdateTransform } from './transforms.js';
import { asPerturbation, mapBlocks, NO_UPDATE, scaled } from './update.js';

const schema = z.object({ lr: spsaSchema.lr, eps: spsaSchema.eps }).strict();
export type ZoSgdConservativeHyperparameters = z.infer<typeof schema>;

/**
 * ZO-SGD-Cons's move (ZO-Bench zo_conserv_step): from L(θ) and the candidates θ_A = θ − u and
 * θ_B = θ + u, keep the lowest of {θ, θ_A, θ_B}; ties go to θ_B, then θ_A, as in the official code.
 * Both candidates are probes, so θ is written once, by the chosen move. Three forward passes.
 */
export function conservativeMove(): UpdateTransform {
  return {
    forwardPasses: 3,
    async update(u, ctx) {
      const blocks = ctx.params.names.map((_, b) => u.block(b));
      const candidate = (sign: number) =>
        new Map(
          ctx.params.names.flatMap((n, b) => {
            const p = asPerturbation(blocks[b]!, sign);
            return p ? [[n, p] as [string, BlockPerturbation]] : [];
          }),
        );
      // L(θ) last, so the four perturbed passes run back to back on one graph: switching the executor
      // between its plain and perturbed graphs costs about as much as a pass.
      const lA = await ctx.loss(candidate(-1));
      const lB = await ctx.loss(candidate(1));
      const l0 = await ctx.loss();
      // The official branches: A strictly better than θ and B; else B unless θ is strictly better.
      const move = lA > l0 ? (l0 < lB ? 0 : -1) : lA < lB ? 1 : -1;
      return mapBlocks({ block: (b) => blocks[b]! }, ctx.params, (bu, blk) => (move === 0 ? NO_UPDATE : scaled(bu, move, blk)));
    },
  };
}

/**
 * ZO-SGD-Cons (ZO-Bench, with the plain SGD it intends): g = (ℓ⁺ − ℓ⁻)/2ε, then the move to whichever
 * of θ, θ − η·g·z and θ + η·g·z has the lowest batch loss. Five forward passes.
 */
export const zoSgdConservative = compose<ZoSgdConservativeHyperparameters>({
  name: 'zo-sgd-conservative',
  summary: 'ZO-SGD that only moves to θ ∓ η·g·z when that lowers the batch loss (5 forward passes)',
  hyperparameters: schema,
  parts: (h) => [spsa({ eps: h.eps }), scaleByLearningRate(), conservativeMove()],
});
