import type { Ops, Past } from '../engine/ops.js';

/** Dimensions of one attention call. H query heads share Hkv key/value heads (GQA when H > Hkv). */
export interface AttentionDims {
  B: number;
  S: number;
  H: number;
  Hkv: number;
  D: number;
  /** Multiplies the scores; 1/√D unless a family says otherwise. */
  scale: number;
}

/** cos and sin of RoPE angles, [B, S, 1, D], built in the graph from the `positions` input. */
export interface Rope<T> {
  cos: T;
  sin: T;
}

/**
 * RoPE tables as HF computes them: angles = position · inv_freq in fp32, duplicated over both halves
 * (the rotate_half convention of Llama and Qwen2).
 */
export function ropeTables<T>(ops: Ops<T>, invFreq: Float32Array, B: number, S: number): Rope<T> {
  const half = invFreq.length;
  const pos = ops.reshape(ops.castFloat(ops.input('positions')), [B * S, 1]);
  const angles = ops.matmul(pos, ops.constant(invFreq, [1, half]));
  const emb = ops.reshape(ops.concat([angles, angles], 1), [B, S, 1, 2 * half]);
  return { cos: ops.cos(emb), sin: ops.sin(emb) };
}

/** x·cos + rotate_half(x)·sin, with rotate_half(x) = [−x₂, x₁] over the last axis. */
function applyRope<T>(ops: Ops<T>, x: T, rope: Rope<T>): T {
  const D = ops.shape(x).at(-1)!;
  const axis = ops.shape(x).length - 1;
  const x1 = ops.slice(x, axis, 0, D / 2);
  const x2 = ops.slice(x, axis, D / 2, D);
  const rotated = ops.concat([ops.neg(x2), x1], axis);
  return ops.add(ops.mul(x, rope.cos), ops.mul(rotated, rope.sin));
}

/**
 * Multi-head causal self-attention on projected q [N, H·D], k and v [N, Hkv·D]; returns [N, H·D].
 * The additive mask input [B, 1, S, S] carries both causality and padding. Where the executor keeps a
 * KV cache (`ops.cache`), the layer's keys and values go there, and the queries also attend to the
 * cached past (see `withPast`).
 */
export function attention<T>(ops: Ops<T>, q: T, k: T, v: T, d: AttentionDims, rope?: Rope<T>): T {
  const { B, S, H, Hkv, D } = d;
  const heads = (x: T, n: number): T => {
    let y = ops.reshape(x, [B, S, n, D]);
    if (rope) y = applyRope(ops, y, rope);
    return ops.transpose(y, [0, 2, 1, 3]);
  };
  const repeatKv = (x: T): T => {
    if (H === Hkv) return x;
    // KV head i serves query heads i·g … i·g+g−1 (HF's repeat_kv). Rank 3, since tfjs has no
    // gradient for broadcasting rank-5 tensors.
    const g = H / Hkv;
    const e = ops.expand(ops.reshape(x, [B * Hkv, 1, S * D]), [B * Hkv, g, S * D]);
    return ops.reshape(e, [B, H, S, D]);
  };
  const qh = heads(q, H);
  const kh = heads(k, Hkv);
  const vh = ops.transpose(ops.reshape(v, [B, S, Hkv, D]), [0, 2, 1, 3]);
  const past = ops.cache?.(kh, vh);
  const scores = ops.add(ops.scale(ops.matmul(qh, repeatKv(kh), true), d.scale), ops.input('mask'));
  const out = past ? withPast(ops, qh, scores, repeatKv(vh), past, d) : ops.matmul(ops.softmax(scores), repeatKv(vh));
  return ops.reshape(ops.transpose(out, [0, 2, 1, 3]), [B * S, H * D]);
}

/**
 * Attention over T cached slots and the S new ones, [B, H, S, D]: one softmax over both score blocks,
 * each block then weighting its own values. The cache is read where it lies: queries are grouped by
 * their KV head ([B, Hkv, g·S, D], a free reshape since query head i·g+j serves KV head i), so the
 * cache is never repeated per query head nor concatenated with the new keys, only multiplied.
 */
function withPast<T>(ops: Ops<T>, qh: T, scores: T, vh: T, past: Past<T>, d: AttentionDims): T {
  const { B, S, H, Hkv, D } = d;
  const slots = ops.shape(past.keys)[2]!;
  const grouped = (x: T, last: number) => ops.reshape(x, [B, Hkv, (H / Hkv) * S, last]);
  const ungrouped = (x: T, last: number) => ops.reshape(x, [B, H, S, last]);
  const pastScores = ops.add(ops.scale(ungrouped(ops.matmul(grouped(qh, D), past.keys, true), slots), d.scale), past.mask);
  const p = ops.softmax(ops.concat([pastScores, scores], 3));
  const fromPast = ungrouped(ops.matmul(grouped(ops.slice(p, 3, 0, slots), slots), past.values), D);
  return ops.add(fromPast, ops.matmul(ops.slice(p, 3, slots, slots + S), vh));
}
