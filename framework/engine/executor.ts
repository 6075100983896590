import type { Batch } from './batch.js';
import type { Perturbation } from '../core/perturbation.js';

export interface ForwardResult {
  /** Mean weighted next-token loss. */
  loss: number;
  /** Per-row Σ w·log p(target), [B]. */
  seqLogProb: Float32Array;
  /** Per-row Σ w, [B]. */
  seqCount: Float32Array;
  /** Per-slot w·log p(target), [B·S]. */
  slotLogProb: Float32Array;
  /** [B·S, V], only when asked for. */
  logits?: Float32Array;
  /** [B, V]: each row's next-token logits after its last real token, only when asked for. */
  lastLogits?: Float32Array;
}

export interface ForwardOptions {
  logits?: boolean;
  lastLogits?: boolean;
  /** θ + c·P(z) for these blocks, computed inside the forward pass; θ is not written. */
  perturbation?: Perturbation;
}

export interface Executor {
  readonly name: 'ort' | 'tfjs';
  /** One line for `zo info` and logs, e.g. "ort 1.30.0 cpu, 2 threads". */
  describe(): string;
  forward(batch: Batch, opts?: ForwardOptions): Promise<ForwardResult>;
  /**
   * A greedy decoder with a KV cache, where the executor has one; `recomputeDecoder` serves the
   * others. `padId` fills the slots of rows shorter than the longest.
   */
  decoder?(padId: number): Decoder;
  /** θ's Float32Arrays were written (an update): executors that keep a copy re-read them. */
  refresh(): void;
  dispose(): Promise<void>;
}

export type { Model } from './model.js';

/**
 * Incremental greedy decoding over B rows. An executor with a KV cache keeps each row's keys and
 * values between calls, so a new token costs one token's forward pass, not the whole prefix's.
 * The logits a call returns are valid until the next call, which may reuse their buffer.
 */
export interface Decoder {
  /**
   * Starts one row per prompt, with room for `maxNew` more tokens in each; returns every row's
   * next-token logits, [B, V].
   */
  start(prompts: readonly (readonly number[])[], maxNew: number): Promise<Float32Array>;
  /** Appends `tokens[b]` to row b, for every row; returns the rows' next-token logits, [B, V]. */
  append(tokens: Int32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}
