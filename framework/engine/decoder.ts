import { lmBatch } from './batch.js';
import type { Decoder, Executor } from './executor.js';

export type { Decoder } from './executor.js';

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
