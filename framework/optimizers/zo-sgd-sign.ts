import { z } from 'zod';
import { decays, emptyState, sgdUpdate, type Optimizer } from './optimizer.js';
import { spsa, spsaSchema } from './mezo.js';

const schema = z.object(spsaSchema).strict();
export type ZoSgdSignHyperparameters = z.infer<typeof schema>;

/** ZO-SGD-Sign (ZO-Bench): θ ← θ − η·(sign(g)·z + λθ), the sign of the scalar projected gradient. */
export const zoSgdSign: Optimizer<ZoSgdSignHyperparameters> = {
  name: 'zo-sgd-sign',
  summary: 'ZO-SGD with the sign of the projected gradient: θ ← θ − η·sign(g)·z',
  hyperparameters: schema,
  memoryFactor: () => 0,
  forwardPasses: () => 2,
  init: () => emptyState(),
  async step(ctx, _state, h) {
    const { g, lPlus } = await spsa(ctx, 0, h.eps);
    const sign = Math.sign(g);
    ctx.params.names.forEach((name, b) => sgdUpdate(ctx.params.get(name), ctx.z(0, b), ctx.lr, sign, decays(name) ? h.weightDecay : 0));
    return { loss: lPlus, projectedGrad: g };
  },
};
