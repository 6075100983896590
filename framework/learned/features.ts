/**
 * The statistics a PertNN sees of its block: the mean and the unbiased (n − 1) variance of θ_i, as
 * torch's `mean()` and `var()` give them. Float64 sums, one pass.
 */
export function blockStats(theta: Float32Array): { mean: number; variance: number } {
  const n = theta.length;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const v = theta[i]!;
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  // Σ(x − mean)² = Σx² − n·mean²; a one-element block has no spread (torch would give NaN).
  const variance = n > 1 ? Math.max(0, sq - n * mean * mean) / (n - 1) : 0;
  return { mean, variance };
}

/** The five features in the official order: mean, variance, previous ℓ⁺, previous ℓ⁻, previous σ. */
export function features(stats: { mean: number; variance: number }, lossPlus: number, lossMinus: number, sigma: number): Float64Array {
  return Float64Array.of(stats.mean, stats.variance, lossPlus, lossMinus, sigma);
}
