import { z } from 'zod';
import { decays, zeroSlots, type Optimizer } from './optimizer.js';
import { spsa, spsaSchema } from './mezo.js';

const schema = z.object({ ...spsaSchema, momentum: z.number().min(0).max(1).default(0.9).describe('μ of torch SGD momentum') }).strict();
export type ZoSgdMomentumHyperparameters = z.infer<typeof schema>;

/**
 * ZO-SGD-MMT (ZO-Bench): torch SGD with momentum fed ĝ = g·z. The buffer starts as the first
 * gradient, then b ← μ·b + ĝ; θ ← θ − η·b. Weight decay enters ĝ as λθ (torch's coupled decay).
 */
export const zoSgdMomentum: Optimizer<ZoSgdMomentumHyperparameters> = {
  name: 'zo-sgd-momentum',
  summary: 'ZO-SGD with heavy-ball momentum on ĝ = g·z (ZO-Bench ZO-SGD-MMT), one extra model-sized buffer',
  hyperparameters: schema,
  memoryFactor: () => 1,
  forwardPasses: () => 2,
  init: (params) => ({ slots: zeroSlots(params, 'momentum'), scalars: { started: 0 } }),
  async step(ctx, state, h) {
    const { g, lPlus } = await spsa(ctx, 0, h.eps);
    const first = state.scalars.started === 0;
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const buf = state.slots.get(`${name}/momentum`)!;
      const z = ctx.z(0, b);
      const wd = decays(name) ? h.weightDecay : 0;
      for (let i = 0; i < theta.length; i++) {
        const grad = g * z[i]! + wd * theta[i]!;
        buf[i] = first ? grad : h.momentum * buf[i]! + grad;
        theta[i] = theta[i]! - ctx.lr * buf[i]!;
      }
    });
    state.scalars.started = 1;
    return { loss: lPlus, projectedGrad: g };
  },
};
