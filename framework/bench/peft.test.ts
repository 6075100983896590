import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { benchPeft } from './peft.js';

test('the peft bench times the three steps on one model: θ is the q/v adapters or the prefix, and the ratios are of the medians', async () => {
  const model = loadModel(fixtureDir('llama'));
  const r = await benchPeft({ threads: 1, model, minSeconds: 0 });
  // 2 layers × (q: A [8, 32] + B [32, 8]; v: A [8, 32] + B [16, 8] for 2 KV heads of 8).
  expect(r.trainable).toBe(2 * (8 * 32 + 32 * 8 + 8 * 32 + 16 * 8));
  expect(r.params).toBe(model.params.size);
  expect(r.fullMs.median).toBeGreaterThan(0);
  expect(r.ratio).toBeCloseTo(r.loraMs.median / r.fullMs.median, 12);
  // 2 layers × keys and values × 5 slots × 16 (2 KV heads of 8).
  expect(r.prefixTrainable).toBe(2 * 2 * 5 * 16);
  expect(r.prefixRatio).toBeCloseTo(r.prefixMs.median / r.fullMs.median, 12);
});
