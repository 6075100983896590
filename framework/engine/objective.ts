import type { Ops } from './ops.js';

/** The objective outputs every executor computes in the graph: small, so copying them out is free. */
export interface Objective<T> {
  /**
   * −Σ w·log p(target) / Σ w: the mean next-token loss over weighted slots; or, with C candidates per
   * example, the cross-entropy over each example's candidate scores (mean option-token log-probs).
   */
  loss: T;
  /** Σ over each sequence of w·log p(target), [B]. */
  seqLogProb: T;
  /** Σ over each sequence of w, [B]. */
  seqCount: T;
  /** w·log p(target) of every slot, [B·S]: the per-candidate sums of a packed row (scoring.ts). */
  slotLogProb: T;
}

/**
 * Weighted target log-probs from logits [N, V], with the `targets` and `weights` inputs. With
 * `candidates` = C, rows come C per example and the loss is MeZO's train_as_classification:
 * CE(softmax over c of mean option-token log-prob, gold).
 */
export function objective<T>(ops: Ops<T>, logits: T, B: number, S: number, candidates?: number): Objective<T> {
  const logp = ops.pick(ops.logSoftmax(logits), ops.input('targets'));
  const w = ops.input('weights');
  const slotLogProb = ops.mul(logp, w);
  const seqLogProb = ops.sum(ops.reshape(slotLogProb, [B, S]), 1);
  const seqCount = ops.sum(ops.reshape(w, [B, S]), 1);
  if (!candidates) return { loss: ops.neg(ops.div(ops.sum(seqLogProb, 0), ops.sum(seqCount, 0))), seqLogProb, seqCount, slotLogProb };
  const E = B / candidates;
  const scores = ops.reshape(ops.div(seqLogProb, seqCount), [E, candidates]);
  const gold = ops.pick(ops.logSoftmax(scores), ops.input('gold'));
  return { loss: ops.neg(ops.scale(ops.sum(gold, 0), 1 / E)), seqLogProb, seqCount, slotLogProb };
}

/** The logits of each row's last real token, [B, V]: the next-token distribution for generation. */
export function lastLogits<T>(ops: Ops<T>, logits: T): T {
  return ops.gather(logits, ops.input('last'));
}
