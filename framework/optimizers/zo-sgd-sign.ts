import { z } from 'zod';
import { compose } from './compose.js';
import { spsa, spsaSchema } from './estimators.js';
import { addDecayedWeights, scaleByLearningRate, signOfProjectedGradient } from './transforms.js';

const schema = z.object(spsaSchema).strict();
export type ZoSgdSignHyperparameters = z.infer<typeof schema>;

/** ZO-SGD-Sign (ZO-Bench): θ ← θ − η·(sign(g)·z + λθ), the sign of the scalar projected gradient. */
export const zoSgdSign = compose<ZoSgdSignHyperparameters>({
  name: 'zo-sgd-sign',
  summary: 'ZO-SGD with the sign of the projected gradient: θ ← θ − η·sign(g)·z',
  hyperparameters: schema,
  parts: (h) => [spsa({ eps: h.eps }), signOfProjectedGradient(), addDecayedWeights(h.weightDecay, 'mezo'), scaleByLearningRate()],
});
