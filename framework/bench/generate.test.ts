import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import type { LlamaConfig } from '../models/llama.js';
import { benchGenerate } from './generate.js';

// A smoke test of the report's shape on a fixture model: timings belong to `zo bench`, never to
// assertions here.
describe('benchGenerate', () => {
  test('reports forward, KV-cache and recompute generation per example, their ratios and the cache size', async () => {
    const model = loadModel(fixtureDir('llama'));
    const prompts = [[5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], [9]];
    const r = await benchGenerate({
      threads: 1,
      minSeconds: 0.001,
      minRuns: 1,
      newTokens: 6,
      cases: [{ label: 'fixture', model, prompts, padId: 0 }],
    });

    expect(r.rows).toHaveLength(1);
    const row = r.rows[0]!;
    expect([row.batch, row.newTokens, row.promptTokens]).toEqual([3, 6, [1, 17]]);
    expect(row.sameTokens).toBe(true);
    expect(row.perExampleMs.kv).toBeCloseTo(row.kvMs.median / 3, 10);
    expect(row.kvOverForward).toBeCloseTo(row.kvMs.median / row.forwardMs.median, 10);
    expect(row.recomputeOverKv).toBeCloseTo(row.recomputeMs.median / row.kvMs.median, 10);
    // The cache: 2 layers × keys and values × 3 rows × 2 KV heads × (32 prompt + 16 new slots) × 8 dims, fp32.
    const c = model.config as LlamaConfig;
    expect([c.layers, c.kvHeads, c.headDim]).toEqual([2, 2, 8]);
    expect(row.cacheMb * 1e6).toBe(2 * 2 * 3 * 2 * 48 * 8 * 4);
    // A step writes the logits and one slot of keys and values per row.
    expect(row.stepOutputKb * 1e3).toBe(4 * (3 * c.vocabSize + 2 * 2 * 3 * 2 * 8));
  });
});
