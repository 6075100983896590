import { lmBatch } from './batch.js';
import type { Executor } from './executor.js';

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

/** Rows are padded to a multiple of this, so a decoder traces a handful of graphs, not one per length. */
export const BUCKET = 16;

/**
 * The decoder of an executor without a KV cache: every call recomputes each row's whole prefix.
 * It is the reference a cached decoder is tested against.
 */
export function recomputeDecoder(exec: Executor, padId: number): Decoder {
  let rows: number[][] = [];
  const run = async (): Promise<Float32Array> => {
    const longest = Math.max(...rows.map((r) => r.length));
    const r = await exec.forward(lmBatch(rows, padId, Math.ceil(longest / BUCKET) * BUCKET), { lastLogits: true });
    return r.lastLogits!;
  };
  return {
    start: (prompts) => {
      rows = prompts.map((p) => [...p]);
      return run();
    },
    append: (tokens) => {
      rows.forEach((r, b) => r.push(tokens[b]!));
      return run();
    },
    dispose: async () => {
      rows = [];
    },
  };
}
