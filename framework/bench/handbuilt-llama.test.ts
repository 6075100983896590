import ort from 'onnxruntime-node';
import { feedsFor, lmBatch, type Batch } from '../engine/batch.js';
import type { Model } from '../engine/executor.js';
import { int64, OrtExecutor } from '../engine/ort.js';
import { initParams } from '../models/init.js';
import { llama, type LlamaConfig } from '../models/llama.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import { handBuiltLlamaGraph } from './handbuilt-llama.js';

/** Runs the hand-built graph on `batch` with the same feeds `OrtExecutor` builds. */
async function handLoss(model: Model<LlamaConfig>, batch: Batch): Promise<number> {
  const { B, S } = batch;
  const session = await ort.InferenceSession.create(handBuiltLlamaGraph(model.config, B, S), {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  try {
    const f = feedsFor(model.family, model.config, batch);
    const feeds: Record<string, ort.Tensor> = {
      ids: int64(f.ids),
      positions: int64(f.positions),
      targets: int64(f.targets),
      mask: new ort.Tensor('float32', f.mask, [B, 1, S, S]),
      weights: new ort.Tensor('float32', f.weights, [B * S]),
    };
    for (const name of model.params.names) feeds[name] = new ort.Tensor('float32', model.params.get(name), [...model.params.shape(name)]);
    expect([...session.inputNames].sort()).toEqual(Object.keys(feeds).sort());
    const out = await session.run(feeds);
    return (out.loss!.data as Float32Array)[0]!;
  } finally {
    await session.release();
  }
}

function smallLlama(raw: Record<string, unknown>, seed: number): Model<LlamaConfig> {
  const config = llama.parseConfig(
    {
      model_type: 'llama',
      vocab_size: 61,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: 32,
      rms_norm_eps: 1e-5,
      rope_theta: 500,
      ...raw,
    },
    'test',
  );
  const params = initParams(llama, config, seed, 0.2);
  // initParams zeroes biases and sets norm gains to 1: randomise both so they are exercised.
  for (const name of params.names) {
    if (!/(norm\.weight|\.bias)$/.test(name)) continue;
    const v = fillGaussian(params.get(name), keyOf(seed, 7, params.names.indexOf(name)));
    for (let i = 0; i < v.length; i++) v[i] = name.endsWith('.bias') ? 0.1 * v[i]! : 1 + 0.1 * v[i]!;
  }
  return { family: llama, config, params };
}

const seqs = [
  [3, 17, 42, 8, 55, 1, 9],
  [12, 5, 60, 33],
  [7, 7, 21, 0, 48, 19],
];

describe('handBuiltLlamaGraph', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['GQA, untied lm_head', { num_key_value_heads: 2, tie_word_embeddings: false }],
    ['MHA, tied embeddings', { num_key_value_heads: 4, tie_word_embeddings: true }],
    ['GQA 4:1 with attention and MLP biases', { num_key_value_heads: 1, attention_bias: true, mlp_bias: true }],
  ];
  for (const [label, raw] of cases) {
    test(`matches OrtExecutor's loss: ${label}`, async () => {
      const model = smallLlama(raw, 11);
      const exec = new OrtExecutor(model, { threads: 2 });
      try {
        for (const batch of [lmBatch(seqs), lmBatch(seqs.slice(0, 2), 0, 9)]) {
          const zo = (await exec.forward(batch)).loss;
          const hand = await handLoss(model, batch);
          expect(Number.isFinite(zo)).toBe(true);
          expect(zo).toBeGreaterThan(0.5); // std 0.2 init: logits O(1), so the loss is far from 0
          expect(Math.abs(hand - zo) / Math.abs(zo)).toBeLessThan(1e-5);
        }
      } finally {
        await exec.dispose();
      }
    });
  }
});
