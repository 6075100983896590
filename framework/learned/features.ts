import type { ParamStore } from '../core/params.js';
import { sums } from '../optimizers/update.js';

/**
 * The statistics a PertNN sees of its block: the mean and the unbiased (n − 1) variance of θ_i, as
 * torch's `mean()` and `var()` give them. Float64 sums, one pass.
 */
export function blockStats(theta: Float32Array): { mean: number; variance: number } {
  const [sum, sumSq] = sums(theta);
  return statsFromSums(sum, sumSq, theta.length);
}

/** The same from Σθ and Σθ² (an update's own pass can sum them: `applyUpdate`'s stats sink). */
export function statsFromSums(sum: number, sumSq: number, n: number): { mean: number; variance: number } {
  const mean = sum / n;
  // Σ(x − mean)² = Σx² − n·mean²; a one-element block has no spread (torch would give NaN).
  const variance = n > 1 ? Math.max(0, sumSq - n * mean * mean) / (n - 1) : 0;
  return { mean, variance };
}

/** How the five raw features are mapped before the net sees them (docs/methods/zo-finetuner.md#switches). */
export type FeatureMode = 'raw' | 'standardized';
export const FEATURE_MODES: readonly FeatureMode[] = ['raw', 'standardized'];

/**
 * A fixed affine map per feature, x̃_k = (x_k − shift_k) / scale_k, stored in finetuner.json so a
 * bank's σ is a pure function of its file. 'raw' is shift 0, scale 1: the paper's unmapped inputs.
 */
export interface FeatureTransform {
  mode: FeatureMode;
  shift: number[];
  scale: number[];
}

export const RAW_FEATURES: FeatureTransform = { mode: 'raw', shift: [0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1] };

/**
 * The five features in the official order (mean, variance, previous ℓ⁺, previous ℓ⁻, previous σ),
 * through the bank's transform. The one place the map is applied: deployment, meta-training and
 * `zo finetuner show` all build their inputs here. For 'raw', (x − 0)/1 is x exactly.
 */
export function features(
  stats: { mean: number; variance: number },
  lossPlus: number,
  lossMinus: number,
  sigma: number,
  t: FeatureTransform,
): Float64Array {
  const x = Float64Array.of(stats.mean, stats.variance, lossPlus, lossMinus, sigma);
  for (let k = 0; k < x.length; k++) x[k] = (x[k]! - t.shift[k]!) / t.scale[k]!;
  return x;
}

/** Mean and population standard deviation of a list; a spread of 0 scales by 1 (the map then only shifts). */
function centre(xs: readonly number[]): { shift: number; scale: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { shift: mean, scale: sd > 0 ? sd : 1 };
}

/**
 * The standardising map for a base model, fixed when a bank is made: the block mean and variance
 * features centred and scaled by their mean and standard deviation across the model's blocks at θ₀;
 * ℓ⁺ and ℓ⁻ divided by `loss` (the loss at θ₀ on the first batch), or left as they are when no loss
 * is known (`zo finetuner init`); the previous σ left as it is (it starts at 1).
 */
export function standardization(params: ParamStore, loss?: number): FeatureTransform {
  const stats = params.names.map((n) => blockStats(params.get(n)));
  const mean = centre(stats.map((s) => s.mean));
  const variance = centre(stats.map((s) => s.variance));
  const l = loss !== undefined && Number.isFinite(loss) && loss > 0 ? loss : 1;
  return { mode: 'standardized', shift: [mean.shift, variance.shift, 0, 0, 0], scale: [mean.scale, variance.scale, l, l, 1] };
}
