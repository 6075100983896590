import * as tf from '@tensorflow/tfjs';
import { lmBatch } from './batch.js';
import { OrtExecutor } from './ort.js';
import { TfjsExecutor, tfjsBackend } from './tfjs.js';
import { loadModel } from '../models/load.js';
import { fixtureDir } from '../models/fixtures.js';
import { fillGaussian, keyOf } from '../core/rng.js';

describe('tfjs executor', () => {
  test('picks a backend that exists here, and says which', async () => {
    const b = await tfjsBackend();
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(b);
    expect(tf.getBackend()).toBe(b === 'tensorflow-gpu' ? 'tensorflow' : b);
  });

  test('autodiff gradient matches a central difference of the ort loss along a random direction', async () => {
    // An independent path: ORT never differentiates, so ⟨∇L, v⟩ ≈ (L(θ+hv) − L(θ−hv)) / 2h checks
    // tfjs's gradient of every block (embeddings included, through the registered segment-sum kernel).
    const model = loadModel(fixtureDir('llama'));
    const batch = lmBatch([model.tokenizer.encode('Call me Ishmael. Some years ago'), model.tokenizer.encode('It was the best of times')]);
    const tfx = await TfjsExecutor.create(model);
    const { loss, grads } = await tfx.lossAndGrads(batch);
    await tfx.dispose();

    const ortx = new OrtExecutor(model);
    expect(Math.abs((await ortx.forward(batch)).loss - loss)).toBeLessThan(1e-4);
    for (const name of ['model.embed_tokens.weight', 'model.layers.1.self_attn.k_proj.weight', 'model.norm.weight', 'lm_head.weight']) {
      const theta = model.params.get(name);
      const saved = theta.slice();
      const v = fillGaussian(new Float32Array(theta.length), keyOf(11, theta.length));
      const g = grads.get(name)!;
      let directional = 0;
      for (let i = 0; i < v.length; i++) directional += g[i]! * v[i]!;
      const h = 1e-3;
      const at = async (s: number) => {
        for (let i = 0; i < theta.length; i++) theta[i] = saved[i]! + s * h * v[i]!;
        return (await ortx.forward(batch)).loss;
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * h);
      theta.set(saved);
      expect(Math.abs(directional)).toBeGreaterThan(1e-3);
      // float32 losses at h = 1e-3 leave about 5e-4 of rounding in fd; a gradient 1% off fails.
      expect(Math.abs(fd - directional)).toBeLessThan(0.002 * Math.abs(directional) + 1e-3);
    }
    await ortx.dispose();
  });

  test('per-slot log-probs: ORT’s to 1e-5, and each row’s sum is its seqLogProb', async () => {
    const model = loadModel(fixtureDir('llama'));
    const batch = lmBatch([model.tokenizer.encode('Call me Ishmael. Some years ago'), model.tokenizer.encode('It was the best of times')]);
    const tfx = await TfjsExecutor.create(model);
    const ortx = new OrtExecutor(model, { threads: 1 });
    const [a, b] = [await tfx.forward(batch), await ortx.forward(batch)];
    expect(a.slotLogProb).toHaveLength(batch.B * batch.S);
    a.slotLogProb.forEach((x, n) => expect(Math.abs(x - b.slotLogProb[n]!)).toBeLessThan(1e-5));
    for (const r of [a, b])
      for (let row = 0; row < batch.B; row++) {
        const sum = r.slotLogProb.slice(row * batch.S, (row + 1) * batch.S).reduce((s, x) => s + x, 0);
        expect(Math.abs(sum - r.seqLogProb[row]!)).toBeLessThan(1e-4);
        expect(r.seqLogProb[row]).toBeLessThan(-1); // weighted slots really count
      }
    await tfx.dispose();
    await ortx.dispose();
  });

  test('forward and lossAndGrads leak no tensors', async () => {
    const model = loadModel(fixtureDir('gpt2'));
    const tfx = await TfjsExecutor.create(model);
    const batch = lmBatch([
      [1, 2, 3, 4],
      [5, 6, 7],
    ]);
    await tfx.forward(batch);
    const before = tf.memory().numTensors;
    await tfx.forward(batch, { logits: true });
    await tfx.lossAndGrads(batch);
    expect(tf.memory().numTensors).toBe(before);
    await tfx.dispose();
  });
});
