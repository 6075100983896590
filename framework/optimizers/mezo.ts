import { z } from 'zod';
import { compose } from './compose.js';
import { spsa, spsaSchema } from './estimators.js';
import { decoupledWeightDecay, scaleByLearningRate } from './transforms.js';

const schema = z
  .object({
    ...spsaSchema,
    q: z.number().int().positive().default(1).describe('probes per step (n-SPSA); their estimates are averaged'),
    oneSided: z.boolean().default(false).describe('(ℓ(θ+εz) − ℓ(θ))/ε: one extra pass instead of one per probe'),
  })
  .strict();
export type MezoHyperparameters = z.infer<typeof schema>;

/**
 * MeZO (princeton-nlp/MeZO): two-point SPSA with the seed trick, θ ← θ − η(ḡ·z + λθ) where
 * ḡ·z = (1/q)·Σ_j g_j·z_j. For SGD, decay decoupled from the gradient is the same update, and it keeps
 * ĝ implicit: each block is written in place as θ − (η·g_j/q)·z_j, decayed once from θ at the start
 * of the step as MeZO's single-expression update does; no model-sized buffer.
 */
export const mezo = compose<MezoHyperparameters>({
  name: 'mezo',
  summary: 'MeZO: two-point SPSA (optionally one-sided or q probes) with in-place SGD, inference memory',
  hyperparameters: schema,
  parts: (h) => [spsa({ eps: h.eps, q: h.q, oneSided: h.oneSided }), scaleByLearningRate(), decoupledWeightDecay(h.weightDecay, 'mezo')],
});
