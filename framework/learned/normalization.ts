import type { BlockRole } from '../models/roles.js';

/**
 * The effective size d̂ of a block in the normaliser: rows × cols for a matrix, numel for a vector,
 * and for an embedding table (token or position) `tokensPerExample` × batch × hidden — the official
 * heuristic that only the rows a batch looks up count (15 tokens per example there).
 */
export interface NormalizationSettings {
  /** Off: nf = 1, the σ's are absolute scales (an ablation). */
  enabled: boolean;
  /** The embedding rule's tokens per example (official: 15). */
  tokensPerExample: number;
  /** The rule applies to blocks of these roles. */
  embeddingRoles: BlockRole[];
}

export const DEFAULT_NORMALIZATION: NormalizationSettings = { enabled: true, tokensPerExample: 15, embeddingRoles: ['embedding'] };

export function effectiveSize(shape: readonly number[], role: BlockRole, batchSize: number, s: NormalizationSettings): number {
  if (s.embeddingRoles.includes(role) && shape.length === 2) return s.tokensPerExample * batchSize * shape[1]!;
  return shape.reduce((a, b) => a * b, 1);
}

/** nf = √(Σ d̂_i / Σ d̂_i σ_i²): with it, the d̂-weighted mean square of nf·σ_i is exactly 1. */
export function normalizer(sizes: readonly number[], sigmas: ArrayLike<number>, s: NormalizationSettings): number {
  if (!s.enabled) return 1;
  let total = 0;
  let weighted = 0;
  sizes.forEach((d, i) => {
    total += d;
    weighted += d * sigmas[i]! * sigmas[i]!;
  });
  return Math.sqrt(total / weighted);
}
