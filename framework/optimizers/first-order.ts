import { z } from 'zod';
import { compose } from './compose.js';
import { autodiff } from './estimators.js';
import {
  adam,
  adamSchema,
  addDecayedWeights,
  clipByGlobalNorm,
  decoupledWeightDecay,
  momentum,
  scaleByLearningRate,
} from './transforms.js';

const sgdSchema = z
  .object({
    lr: z.number().positive().default(1e-3),
    momentum: z.number().min(0).max(1).default(0),
    weightDecay: z.number().nonnegative().default(0),
  })
  .strict();
export type FoSgdHyperparameters = z.infer<typeof sgdSchema>;

/** First-order SGD (torch semantics: coupled decay, momentum buffer only when μ > 0) through tfjs autodiff: the reference row. */
export const foSgd = compose<FoSgdHyperparameters>({
  name: 'fo-sgd',
  summary: 'first-order SGD (optional momentum) through tfjs autodiff: the backprop reference',
  hyperparameters: sgdSchema,
  parts: (h) => [
    autodiff(),
    addDecayedWeights(h.weightDecay, 'mezo'),
    momentum(h.momentum, { buffer: h.momentum > 0 }),
    scaleByLearningRate(),
  ],
});

const adamHp = z
  .object({ lr: z.number().positive().default(1e-5), weightDecay: z.number().nonnegative().default(0), ...adamSchema })
  .strict();
export type FoAdamHyperparameters = z.infer<typeof adamHp>;

/** First-order Adam (torch defaults, coupled L2 decay) through tfjs autodiff: MeZO's FT baseline. */
export const foAdam = compose<FoAdamHyperparameters>({
  name: 'fo-adam',
  summary: "first-order Adam through tfjs autodiff (MeZO's FT baseline; lr 1e-5)",
  hyperparameters: adamHp,
  parts: (h) => [autodiff(), addDecayedWeights(h.weightDecay, 'mezo'), adam(h)],
});

const adamwHp = z
  .object({
    lr: z.number().positive().default(1e-3),
    weightDecay: z.number().nonnegative().default(0.01).describe('λ of the decoupled decay, on ≥ 2-D blocks only'),
    ...adamSchema,
    clip: z.number().nonnegative().default(0).describe('max global gradient norm (0: no clipping)'),
  })
  .strict();
export type AdamwHyperparameters = z.infer<typeof adamwHp>;

/**
 * AdamW (torch.optim.AdamW, defaults too) with torch's clip_grad_norm_ first: θ ← θ·(1 − ηλ) − Adam's
 * step, the decay on matrices and embeddings only (nanoGPT's rule). What `zo pretrain` trains the zoo
 * with; not in the fine-tuning registry.
 */
export const adamw = compose<AdamwHyperparameters>({
  name: 'adamw',
  summary: 'first-order AdamW with global-norm clipping through tfjs autodiff (pretraining)',
  hyperparameters: adamwHp,
  parts: (h) => [autodiff(), clipByGlobalNorm(h.clip), adam(h), decoupledWeightDecay(h.weightDecay, 'matrices')],
});
