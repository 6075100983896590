import { lmBatch } from '../engine/batch.js';
import type { Executor, Model } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';
import { TfjsExecutor } from '../engine/tfjs.js';
import { ParamStore } from '../core/params.js';
import { fixtureDir } from './fixtures.js';
import { loadModel } from './load.js';
import { loraPairs, mergedWeight, withLora, LORA_DEFAULTS } from './lora.js';

const batch = lmBatch([
  [1, 5, 7, 9, 11, 13, 2, 3, 40],
  [4, 6, 8, 10],
]);
const executors: [string, (m: Model) => Promise<Executor>][] = [
  ['ort', async (m) => new OrtExecutor(m, { threads: 1 })],
  ['tfjs', (m) => TfjsExecutor.create(m)],
];
async function lossOf(m: Model, make: (m: Model) => Promise<Executor>): Promise<number> {
  const exec = await make(m);
  try {
    return (await exec.forward(batch)).loss;
  } finally {
    await exec.dispose();
  }
}

/** Deterministic O(0.1) values, so that B·A moves the logits well past the tolerance. */
const wave = (n: number, phase: number) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(0.7 * i + phase));

describe('LoRA in the forward pass', () => {
  test('the adapters are PEFT-named A [r, in] and B [out, r] on q_proj and v_proj of every layer, and only they are θ', () => {
    const base = loadModel(fixtureDir('llama'));
    const l = withLora(base, LORA_DEFAULTS, 0);
    expect(l.trainable.names).toEqual(
      [0, 1].flatMap((i) =>
        ['q_proj', 'v_proj'].flatMap((m) => ['A', 'B'].map((x) => `base_model.model.model.layers.${i}.self_attn.${m}.lora_${x}.weight`)),
      ),
    );
    const q = l.pairs[0]!;
    expect(l.trainable.shape(q.a)).toEqual([8, 32]);
    expect(l.trainable.shape(q.b)).toEqual([32, 8]);
    // θ's arrays are the model's: an update to θ is what the forward pass reads.
    expect(l.trainable.get(q.a)).toBe(l.model.params.get(q.a));
    // PEFT's init: B = 0; A uniform in ±1/√in, different per block.
    expect(l.trainable.get(q.b).every((x) => x === 0)).toBe(true);
    const a = l.trainable.get(q.a);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(32));
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(32));
    expect(l.trainable.get(l.pairs[2]!.a)).not.toEqual(a);
  });

  test.each(executors)('%s: with B = 0 the loss is exactly the base model’s', async (_, make) => {
    const base = loadModel(fixtureDir('llama'));
    expect(await lossOf(withLora(base, LORA_DEFAULTS, 0).model, make)).toBe(await lossOf(base, make));
  });

  test.each(executors)('%s: W + (α/r)·B·A in the graph matches a model whose weights hold it, computed by hand, to 1e-5', async (_, make) => {
    const base = loadModel(fixtureDir('qwen2'));
    const cfg = { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] };
    const l = withLora(base, cfg, 3);
    l.pairs.forEach((p, i) => {
      l.trainable.get(p.a).set(wave(cfg.r * p.cols, i));
      l.trainable.get(p.b).set(wave(p.rows * cfg.r, i + 0.5));
    });
    // The merged weights by three nested loops over the definition, not through lora.ts.
    const s = cfg.alpha / cfg.r;
    const merged = new ParamStore(base.params.specs(), (spec) => {
      const w = Float32Array.from(base.params.get(spec.name));
      const p = l.pairs.find((x) => x.weight === spec.name);
      if (!p) return w;
      const [a, b] = [l.trainable.get(p.a), l.trainable.get(p.b)];
      for (let i = 0; i < p.rows; i++)
        for (let j = 0; j < p.cols; j++) {
          let ba = 0;
          for (let k = 0; k < cfg.r; k++) ba += b[i * cfg.r + k]! * a[k * p.cols + j]!;
          w[i * p.cols + j] = w[i * p.cols + j]! + s * ba;
        }
      return w;
    });
    const adapted = await lossOf(l.model, make);
    const byHand = await lossOf({ ...base, params: merged }, make);
    expect(Math.abs(adapted - byHand)).toBeLessThanOrEqual(1e-5);
    // Teeth: the adapters moved the loss far more than the tolerance.
    expect(Math.abs(adapted - (await lossOf(base, make)))).toBeGreaterThan(1e-3);
    // zo export --merge's weights are the same merge.
    for (const p of l.pairs) {
      const m = mergedWeight(l, p);
      const h = merged.get(p.weight);
      expect(Math.max(...m.map((x, i) => Math.abs(x - h[i]!)))).toBeLessThanOrEqual(1e-6);
    }
  });

  test('GPT-2 and targets that name no layer are refused in one line', () => {
    expect(() => withLora(loadModel(fixtureDir('gpt2')), LORA_DEFAULTS, 0)).toThrow(/GPT-2 fuses q, k and v/);
    const specs = loadModel(fixtureDir('opt')).params.specs();
    // In the model's block order (OPT's is k, v, q).
    expect(loraPairs(specs, LORA_DEFAULTS, 'opt').map((p) => p.module)).toEqual([
      'model.decoder.layers.0.self_attn.v_proj',
      'model.decoder.layers.0.self_attn.q_proj',
      'model.decoder.layers.1.self_attn.v_proj',
      'model.decoder.layers.1.self_attn.q_proj',
    ]);
    expect(() => loraPairs(specs, { ...LORA_DEFAULTS, targets: ['qproj'] }, 'opt')).toThrow(/--lora-targets qproj: no linear layer/);
    // One typo among good names is refused too, naming it: it would silently adapt only q_proj.
    expect(() => loraPairs(specs, { ...LORA_DEFAULTS, targets: ['q_proj', 'v_porj'] }, 'opt')).toThrow(
      /^--lora-targets: no linear layer of this model is named v_porj \(it has .*\bv_proj\b.*\)$/,
    );
  });
});
