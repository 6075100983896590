import { z } from 'zod';
import { compose } from './compose.js';
import { spsa, spsaSchema } from './estimators.js';
import { addDecayedWeights, momentum, scaleByLearningRate } from './transforms.js';

const schema = z.object({ ...spsaSchema, momentum: z.number().min(0).max(1).default(0.9).describe('μ of torch SGD momentum') }).strict();
export type ZoSgdMomentumHyperparameters = z.infer<typeof schema>;

/**
 * ZO-SGD-MMT (ZO-Bench): torch SGD with momentum fed ĝ = g·z. Weight decay enters ĝ as λθ (torch's
 * coupled decay), then b ← μ·b + ĝ (b starts as the first ĝ), θ ← θ − η·b.
 */
export const zoSgdMomentum = compose<ZoSgdMomentumHyperparameters>({
  name: 'zo-sgd-momentum',
  summary: 'ZO-SGD with heavy-ball momentum on ĝ = g·z (ZO-Bench ZO-SGD-MMT), one extra model-sized buffer',
  hyperparameters: schema,
  parts: (h) => [spsa({ eps: h.eps }), addDecayedWeights(h.weightDecay, 'mezo'), momentum(h.momentum), scaleByLearningRate()],
});
