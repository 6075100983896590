import { lmBatch, type Batch } from '../engine/batch.js';
import { recomputeDecoder } from '../engine/decoder.js';
import type { Executor, Model } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';
import { TfjsExecutor } from '../engine/tfjs.js';
import { FIXTURE_NAMES, fixtureDir } from './fixtures.js';
import { initParams } from './init.js';
import type { LlamaConfig } from './llama.js';
import { loadModel } from './load.js';
import { attentionModules, prefixBlocksOf, prefixInitTokens, promptEmbeddings, realActivations, withPrefix } from './prefix.js';
import { MODEL_VARIANTS } from './testing.js';

const N = 5;
const SEED = 3;
const rows = [
  [1, 5, 7, 9, 11, 13, 2, 3, 40],
  [4, 6, 8, 10],
];
const executors: [string, (m: Model) => Promise<Executor>][] = [
  ['ort', async (m) => new OrtExecutor(m, { threads: 1 })],
  ['tfjs', (m) => TfjsExecutor.create(m)],
];

async function lossOf(m: Model, batch: Batch, make: (m: Model) => Promise<Executor> = executors[0]![1]): Promise<number> {
  const exec = await make(m);
  try {
    return (await exec.forward(batch)).loss;
  } finally {
    await exec.dispose();
  }
}

/**
 * The independent path: the base model reading the init tokens before each row, through a plain
 * forward pass, with only the row's own predictions weighted (slot n−1 would predict the row's first
 * token, which the prefixed batch never predicts).
 */
function conditionedBatch(init: number[]): Batch {
  const b = lmBatch(rows.map((r) => [...init, ...r]));
  for (let row = 0; row < b.B; row++) b.weights.fill(0, row * b.S, row * b.S + init.length);
  return b;
}

async function prefixed(base: Model) {
  return withPrefix(base, N, await realActivations(base, N, SEED));
}

describe('prefix tuning in the forward pass', () => {
  test('θ is MeZO-named prefix_keys and prefix_values [n, Hkv·D] per attention layer, initialised from real activations', async () => {
    const base = loadModel(fixtureDir('qwen2'));
    const p = await prefixed(base);
    expect(p.trainable.names).toEqual(
      [0, 1].flatMap((i) => ['keys', 'values'].map((x) => `model.layers.${i}.self_attn.prefix_${x}`)),
    );
    const kvd = base.params.shape('model.layers.0.self_attn.k_proj.weight')[0]!;
    expect(p.trainable.shape('model.layers.0.self_attn.prefix_keys')).toEqual([N, kvd]);
    expect(p.heads).toBe((base.config as LlamaConfig).kvHeads);
    // θ's arrays are the model's; the base blocks are the base model's own arrays, never copied.
    expect(p.trainable.get('model.layers.1.self_attn.prefix_values')).toBe(p.model.params.get('model.layers.1.self_attn.prefix_values'));
    expect(p.model.params.get('model.embed_tokens.weight')).toBe(base.params.get('model.embed_tokens.weight'));
    // The init is keyed by the seed, and the sequence gives up n of the model's positions.
    expect((await realActivations(base, N, SEED + 1)).block(p.trainable.names[0]!)).not.toEqual(p.trainable.get(p.trainable.names[0]!));
    expect(p.model.config.maxPositions).toBe(base.config.maxPositions - N);
    expect(attentionModules(loadModel(fixtureDir('gpt2')).params.specs())).toEqual(['transformer.h.0.attn', 'transformer.h.1.attn']);
  });

  test.each(FIXTURE_NAMES.flatMap((f) => executors.map(([e, make]) => [f, e, make] as const)))(
    '%s on %s: at step 0 the loss is the base model’s on the init tokens followed by the batch (to 1e-5), not the bare base loss',
    async (fixture, _e, make) => {
      const base = loadModel(fixtureDir(fixture));
      const p = await prefixed(base);
      const init = prefixInitTokens(N, base.config.vocabSize, SEED);
      const withPrefix0 = await lossOf(p.model, lmBatch(rows), make);
      expect(Math.abs(withPrefix0 - (await lossOf(base, conditionedBatch(init), make)))).toBeLessThanOrEqual(1e-5);
      // The documented difference: the prefix is n real tokens of context, so the bare loss differs.
      expect(Math.abs(withPrefix0 - (await lossOf(base, lmBatch(rows), make)))).toBeGreaterThan(1e-3);
    },
  );

  // GQA with one KV head, post-LN OPT and GPT-2's per-layer scaling, on in-memory models with O(1) weights.
  test.each(MODEL_VARIANTS)('%s: the step-0 identity holds to 1e-4', async (_label, family, raw) => {
    const config = family.parseConfig(raw, 'test');
    const base: Model = { family, config, params: initParams(family, config, 7, 0.3) };
    const p = await prefixed(base);
    const init = prefixInitTokens(N, config.vocabSize, SEED);
    expect(Math.abs((await lossOf(p.model, lmBatch(rows))) - (await lossOf(base, conditionedBatch(init))))).toBeLessThanOrEqual(1e-4);
  });

  test('generation: the KV-cache decoder reads the prefix before its own cache, as the recompute path does (1e-4)', async () => {
    const p = await prefixed(loadModel(fixtureDir('llama')));
    // A trained prefix is no longer any tokens' activations: move it off the init.
    for (const name of p.trainable.names) p.trainable.get(name).forEach((x, i, a) => (a[i] = x + 0.2 * Math.sin(i)));
    const kvExec = new OrtExecutor(p.model, { threads: 1 });
    const refExec = new OrtExecutor(p.model, { threads: 1 });
    const kv = kvExec.decoder(0);
    const ref = recomputeDecoder(refExec, 0);
    try {
      const diff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
      expect(diff((await kv.start(rows, 6)).slice(), await ref.start(rows, 6))).toBeLessThanOrEqual(1e-4);
      for (let step = 0; step < 6; step++) {
        const next = Int32Array.of(3 + step, 17 + 2 * step);
        expect(diff((await kv.append(next)).slice(), await ref.append(next))).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await kvExec.dispose();
      await refExec.dispose();
    }
  });

  test('PEFT’s prompt_embeddings [n, L·2·W]: slot t holds layer 0 keys, layer 0 values, layer 1 keys, …; and back', async () => {
    const p = await prefixed(loadModel(fixtureDir('opt')));
    const e = promptEmbeddings(p, p.trainable);
    const W = p.width;
    expect(e.length).toBe(N * 2 * 2 * W);
    const values1 = p.trainable.get('model.decoder.layers.1.self_attn.prefix_values');
    // Slot 3, layer 1's values: entry 2·1 + 1 of the row's 2L.
    expect(e.subarray((3 * 4 + 3) * W, (3 * 4 + 4) * W)).toEqual(values1.subarray(3 * W, 4 * W));
    const back = prefixBlocksOf(e, p.modules, N);
    for (const name of p.trainable.names) expect(back.get(name)).toEqual(p.trainable.get(name));
  });
});
