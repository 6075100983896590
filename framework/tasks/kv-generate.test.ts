import path from 'node:path';
import type { Executor } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';
import { loadModel } from '../models/load.js';
import { packageRoot } from '../paths.js';
import { batchOptions, encodeSplit } from './problem.js';
import { taskNamed } from './registry.js';
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
      expect(kvGraphs).toBeLessThanOrEqual(4);
    } finally {
      await cached.dispose();
    }
  });
});
