import { z } from 'zod';
import { compose } from './compose.js';
import { spsa, spsaSchema } from './estimators.js';
import { adam, adamSchema, addDecayedWeights } from './transforms.js';

const schema = z.object({ ...spsaSchema, lr: spsaSchema.lr.default(1e-5), ...adamSchema }).strict();
export type ZoAdamHyperparameters = z.infer<typeof schema>;

/**
 * ZO-Adam (ZO-Bench): torch Adam with torch defaults, fed ĝ = g·z (+ λθ, torch's L2 decay), so
 * memory is 3P: θ, m and v.
 */
export const zoAdam = compose<ZoAdamHyperparameters>({
  name: 'zo-adam',
  summary: 'Adam over the ZO gradient ĝ = g·z, torch defaults (β 0.9/0.999, ε 1e-8); two extra model-sized buffers',
  hyperparameters: schema,
  parts: (h) => [spsa({ eps: h.eps }), addDecayedWeights(h.weightDecay, 'mezo'), adam(h)],
});
