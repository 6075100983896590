import { ZoError } from '../core/errors.js';
import type { BaseConfig, Family } from './model.js';
import { MASKED } from './ops.js';

/**
 * One batch of B right-padded rows of S token slots. `targets[n]`/`weights[n]` say which token slot n
 * predicts and how much it counts: next-token LM, answer-only LM and candidate scoring all reduce to
 * this, so every objective is the same graph.
 */
export interface Batch {
  B: number;
  S: number;
  ids: Int32Array;
  /** 1 for a real token, 0 for padding. */
  attention: Uint8Array;
  targets: Int32Array;
  weights: Float32Array;
  /** Rows are `candidates` consecutive rows per example (classification); `gold` [B/C] is the answer. */
  candidates?: number;
  gold?: Int32Array;
  /**
   * Rows that each hold several sequences sharing a prefix (a scoring prompt and its candidates,
   * scoring.ts): slot n belongs to `segment[n]` (0: the shared prefix) and stands at `index[n]` of the
   * sequence it is part of. A slot sees earlier real slots of the prefix and of its own segment, and
   * takes the position id that `index` would have in a row of its own.
   */
  packed?: { segment: Int32Array; index: Int32Array };
}

/** The executor-neutral inputs of the graph, computed in JS once per batch. */
export interface Feeds {
  ids: Int32Array;
  positions: Int32Array;
  /** Additive [B, 1, S, S]: 0 where query i may see key j (j ≤ i and j is a real token), else MASKED. */
  mask: Float32Array;
  targets: Int32Array;
  weights: Float32Array;
  gold: Int32Array;
  /** Flat slot b·S + (real length − 1) of each row. */
  last: Int32Array;
}

export function feedsFor<C extends BaseConfig>(family: Family<C>, config: C, batch: Batch): Feeds {
  const { B, S, attention } = batch;
  const N = B * S;
  for (const [name, arr] of [
    ['ids', batch.ids],
    ['attention', attention],
    ['targets', batch.targets],
    ['weights', batch.weights],
  ] as const)
    if (arr.length !== N) throw new Error(`batch.${name} has ${arr.length} entries, expected B·S = ${N}`);
  for (let n = 0; n < N; n++) {
    const id = batch.ids[n]!;
    const t = batch.targets[n]!;
    if (id < 0 || id >= config.vocabSize || t < 0 || t >= config.vocabSize)
      throw new ZoError(`token id ${id < 0 || id >= config.vocabSize ? id : t} is outside the model's vocabulary of ${config.vocabSize}`);
  }
  const p = batch.packed;
  const longest = p ? p.index.reduce((m, i) => Math.max(m, i + 1), 0) : S;
  if (longest > config.maxPositions) throw new ZoError(`sequence length ${longest} exceeds the model's ${config.maxPositions} positions`);
  const positions = family.positions(config, attention, B, S);
  const mask = new Float32Array(B * S * S);
  if (!p)
    for (let b = 0; b < B; b++)
      for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) mask[(b * S + i) * S + j] = j <= i && attention[b * S + j] ? 0 : MASKED;
  else {
    // The family's own position rule, read off one unpadded row as long as the longest sequence.
    const own = family.positions(config, new Uint8Array(longest).fill(1), 1, longest);
    // Padding slots are masked out; position 0's id keeps them inside a learned position table.
    for (let n = 0; n < N; n++) positions[n] = own[attention[n] ? p.index[n]! : 0]!;
    for (let b = 0; b < B; b++)
      for (let i = 0; i < S; i++) {
        const si = p.segment[b * S + i]!;
        for (let j = 0; j < S; j++) {
          const sj = p.segment[b * S + j]!;
          mask[(b * S + i) * S + j] = j <= i && attention[b * S + j] && (sj === 0 || sj === si) ? 0 : MASKED;
        }
      }
  }
  const last = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let len = 0;
    for (let s = 0; s < S; s++) len += attention[b * S + s]!;
    last[b] = b * S + Math.max(len - 1, 0);
  }
  const C = batch.candidates ?? 0;
  if (C && (B % C !== 0 || batch.gold?.length !== B / C))
    throw new Error(`batch: ${B} rows are not ${batch.gold?.length} examples × ${C} candidates`);
  return { ids: batch.ids, positions, mask, targets: batch.targets, weights: batch.weights, gold: batch.gold ?? new Int32Array(0), last };
}

/** B rows of S pad tokens, nothing attended and nothing predicted: what a batch builder fills in. */
export function paddedBatch(B: number, S: number, padId: number): Batch {
  const N = B * S;
  return {
    B,
    S,
    ids: new Int32Array(N).fill(padId),
    attention: new Uint8Array(N),
    targets: new Int32Array(N).fill(padId),
    weights: new Float32Array(N),
  };
}

/**
 * A next-token LM batch from token sequences: right-padded with `padId`, every real token after the
 * first predicted from its prefix.
 */
export function lmBatch(seqs: readonly (readonly number[])[], padId = 0, S = Math.max(...seqs.map((s) => s.length))): Batch {
  const batch = paddedBatch(seqs.length, S, padId);
  seqs.forEach((seq, b) => {
    const len = Math.min(seq.length, S);
    for (let s = 0; s < len; s++) {
      batch.ids[b * S + s] = seq[s]!;
      batch.attention[b * S + s] = 1;
      if (s + 1 < len) {
        batch.targets[b * S + s] = seq[s + 1]!;
        batch.weights[b * S + s] = 1;
      }
    }
  });
  return batch;
}
