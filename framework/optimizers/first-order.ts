import { z } from 'zod';
import { decays, zeroSlots, type Optimizer } from './optimizer.js';
import { adamBlock, adamInit, adamSchema } from './zo-adam.js';

/** ‖∇L‖₂ over all blocks, logged in the projected-gradient column for first-order rows. */
function gradNorm(grads: Map<string, Float32Array>): number {
  let s = 0;
  for (const g of grads.values()) for (const v of g) s += v * v;
  return Math.sqrt(s);
}

const sgdSchema = z
  .object({
    lr: z.number().positive().default(1e-3),
    momentum: z.number().min(0).max(1).default(0),
    weightDecay: z.number().nonnegative().default(0),
  })
  .strict();
export type FoSgdHyperparameters = z.infer<typeof sgdSchema>;

/** First-order SGD (torch semantics) through tfjs autodiff: the reference row. */
export const foSgd: Optimizer<FoSgdHyperparameters> = {
  name: 'fo-sgd',
  summary: 'first-order SGD (optional momentum) through tfjs autodiff: the backprop reference',
  hyperparameters: sgdSchema,
  firstOrder: true,
  memoryFactor: (h) => (h.momentum > 0 ? 1 : 0),
  forwardPasses: () => 1,
  init: (params, h) => ({ slots: h.momentum > 0 ? zeroSlots(params, 'momentum') : new Map(), scalars: { started: 0 } }),
  async step(ctx, state, h) {
    const { loss, grads } = await ctx.lossAndGrads();
    const first = state.scalars.started === 0;
    for (const name of ctx.params.names) {
      const theta = ctx.params.get(name);
      const g = grads.get(name)!;
      const wd = decays(name) ? h.weightDecay : 0;
      const buf = state.slots.get(`${name}/momentum`);
      for (let i = 0; i < theta.length; i++) {
        let d = g[i]! + wd * theta[i]!;
        if (buf) d = buf[i] = first ? d : h.momentum * buf[i]! + d;
        theta[i] = theta[i]! - ctx.lr * d;
      }
    }
    state.scalars.started = 1;
    return { loss, projectedGrad: gradNorm(grads) };
  },
};

const adamHp = z
  .object({ lr: z.number().positive().default(1e-5), weightDecay: z.number().nonnegative().default(0), ...adamSchema })
  .strict();
export type FoAdamHyperparameters = z.infer<typeof adamHp>;

/** First-order Adam (torch defaults) through tfjs autodiff: MeZO's FT baseline. */
export const foAdam: Optimizer<FoAdamHyperparameters> = {
  name: 'fo-adam',
  summary: "first-order Adam through tfjs autodiff (MeZO's FT baseline; lr 1e-5)",
  hyperparameters: adamHp,
  firstOrder: true,
  memoryFactor: () => 2,
  forwardPasses: () => 1,
  init: (params) => adamInit(params),
  async step(ctx, state, h) {
    const { loss, grads } = await ctx.lossAndGrads();
    const t = ++state.scalars.t!;
    for (const name of ctx.params.names) {
      const theta = ctx.params.get(name);
      const g = grads.get(name)!;
      const wd = decays(name) ? h.weightDecay : 0;
      adamBlock(
        theta,
        state.slots.get(`${name}/exp_avg`)!,
        state.slots.get(`${name}/exp_avg_sq`)!,
        t,
        ctx.lr,
        h,
        (i) => g[i]! + wd * theta[i]!,
      );
    }
    return { loss, projectedGrad: gradNorm(grads) };
  },
};
