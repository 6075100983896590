import path from 'node:path';
import { BUCKET } from '../engine/decoder.js';
import type { Executor } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';
import { loadModel } from '../models/load.js';
import { packageRoot } from '../core/paths.js';
import { batchOptions, encodeSplit } from './problem.js';
import { taskNamed } from '../../datasets/registry.js';
import { generate } from './scoring.js';

describe('generate() with and without the KV cache', () => {
  test('tiny-llama-s on tiny-squad dev prompts: the same strings, fewer graphs', async () => {
    const model = loadModel(path.join(packageRoot(), 'models', 'tiny-llama-s'));
    const task = taskNamed('tiny-squad');
    const splits = await task.load({ trainSetSeed: 0 });
    // Chunks of 3 over 7 prompts: two full chunks and a short one, each starting a fresh cache.
    const o = { ...batchOptions(model, 2048), chunk: 3 };
    const examples = encodeSplit(task, model, splits.dev.slice(0, 7), 'dev', o.maxLen);
    const cached = new OrtExecutor(model, { threads: 1 });
    // The same executor without its decoder: generate() falls back to recomputing every prefix.
    const plain: Executor = {
      name: 'ort',
      describe: () => cached.describe(),
      forward: (batch, opts) => cached.forward(batch, opts),
      refresh: () => {},
      dispose: async () => {},
    };
    try {
      const prompts = examples.map((e) => e.prompt);
      const withCache = await generate(cached, model.tokenizer, prompts, o);
      const kvGraphs = cached.graphCount;
      const without = await generate(plain, model.tokenizer, prompts, o);
      expect(withCache).toEqual(without);
      expect(withCache.filter((t) => t.length > 0).length).toBeGreaterThan(3);
      // Two graphs (prefill, decode) per distinct (rows, prompt bucket) of a chunk, not one per token.
      const shapes = new Set(
        [0, 3, 6].map((i) => {
          const chunk = prompts.slice(i, i + 3);
          return `${chunk.length}x${Math.ceil(Math.max(...chunk.map((p) => p.length)) / BUCKET) * BUCKET}`;
        }),
      );
      expect(kvGraphs).toBe(2 * shapes.size);
    } finally {
      await cached.dispose();
    }
  });
});
