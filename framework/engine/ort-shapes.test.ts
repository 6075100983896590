import type { Batch } from './batch.js';
import type { Model } from './executor.js';
import type { BaseConfig, Family } from './model.js';
import { OrtExecutor, traceSymbolic, type OrtOptions } from './ort.js';
import { FIXTURE_NAMES, fixtureDir } from '../models/fixtures.js';
import { MODEL_VARIANTS } from '../models/testing.js';
import { initParams } from '../models/init.js';
import { loadModel } from '../models/load.js';
import { llama } from '../models/llama.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import type { BlockPerturbation, Perturbation } from '../core/perturbation.js';

/**
 * One ORT session per kind of pass, whatever the batch shapes (OrtOptions.shapes 'symbolic'): every
 * result is compared bit for bit with a fresh executor that compiles a graph for that one shape.
 */

const fixed: OrtOptions = { threads: 1, shapes: 'fixed' };

/** B rows of up to S tokens: row b is S − b tokens long (at least 1), the rest padding; C candidates per example when given. */
function batchOf(vocab: number, B: number, S: number, C?: number): Batch {
  const N = B * S;
  const batch: Batch = {
    B,
    S,
    ids: new Int32Array(N),
    attention: new Uint8Array(N),
    targets: new Int32Array(N),
    weights: new Float32Array(N),
  };
  for (let b = 0; b < B; b++) {
    const len = Math.max(S - b, 1);
    for (let s = 0; s < len; s++) {
      batch.ids[b * S + s] = (31 * s + 17 * b + 7 * S + 5) % vocab;
      batch.attention[b * S + s] = 1;
      // Every slot predicts something, so even a 1-slot row has a loss.
      batch.targets[b * S + s] = (13 * s + 11 * b + S) % vocab;
      batch.weights[b * S + s] = 1;
    }
  }
  if (C) {
    batch.candidates = C;
    batch.gold = Int32Array.from({ length: B / C }, (_, e) => e % C);
  }
  return batch;
}

const gauss = (n: number, k: number) => fillGaussian(new Float32Array(n), keyOf(5, k));

/** A MeZO probe: every block scalar-perturbed. */
function probe(model: Model, scale: number): Perturbation {
  return new Map(
    model.params.names.map((n, i) => [n, { kind: 'scalar', scale, z: gauss(model.params.get(n).length, i) } as BlockPerturbation]),
  );
}

/** The forward result of `batch` on a fresh fixed-shape executor: the independent path. */
async function fresh(model: Model, batch: Batch, perturbation?: Perturbation) {
  const exec = new OrtExecutor(model, fixed);
  try {
    return await exec.forward(batch, { perturbation, lastLogits: true });
  } finally {
    await exec.dispose();
  }
}

async function expectSame(exec: OrtExecutor, model: Model, batch: Batch, perturbation?: Perturbation) {
  const got = await exec.forward(batch, { perturbation, lastLogits: true });
  const want = await fresh(model, batch, perturbation);
  expect(Number.isFinite(want.loss)).toBe(true);
  expect(got.loss).toBe(want.loss);
  expect(got.seqLogProb).toEqual(want.seqLogProb);
  expect(got.seqCount).toEqual(want.seqCount);
  expect(got.lastLogits).toEqual(want.lastLogits);
}

describe('symbolic batch and sequence sizes: one session per kind of pass', () => {
  test('llama fixture: 20 lengths × 2 batch sizes, plain and perturbed, LM and candidates: 4 sessions, every loss bit-identical', async () => {
    const model = loadModel(fixtureDir('llama'));
    const V = model.config.vocabSize;
    const exec = new OrtExecutor(model, { threads: 1 });
    const plus = probe(model, 1e-2);
    try {
      for (let S = 1; S <= 20; S++)
        for (const B of [2, 4]) {
          await expectSame(exec, model, batchOf(V, B, S));
          await expectSame(exec, model, batchOf(V, B, S), plus);
          await expectSame(exec, model, batchOf(V, B, S, 2));
          await expectSame(exec, model, batchOf(V, B, S, 2), plus);
        }
      expect(exec.graphCount).toBe(20 * 2 * 4);
      // plain LM, perturbed LM, plain candidates, perturbed candidates.
      expect(exec.sessionCount).toBe(4);
    } finally {
      await exec.dispose();
    }
  });

  test('elementwise and low-rank probes share one session per signature', async () => {
    const model = loadModel(fixtureDir('llama'));
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const [rows, cols] = model.params.shape(q) as [number, number];
    const n = rows * cols;
    const kinds: Perturbation[] = [
      new Map([[q, { kind: 'elementwise', scale: 0.1, z: gauss(n, 1), s: gauss(n, 2).map(Math.abs) }]]),
      new Map([[q, { kind: 'lowrank', scale: 0.1, u: gauss(rows * 2, 3), v: gauss(cols * 2, 4), rank: 2 }]]),
    ];
    const exec = new OrtExecutor(model, { threads: 1 });
    try {
      for (const p of kinds)
        for (const [B, S] of [
          [1, 3],
          [3, 9],
          [2, 16],
        ] as const)
          await expectSame(exec, model, batchOf(model.config.vocabSize, B, S), p);
      expect(exec.sessionCount).toBe(2);
    } finally {
      await exec.dispose();
    }
  });

  // Every family and option the parity tests cover traces symbolically (no silent fall-back to a graph per shape).
  const models: [string, () => Model][] = [
    ...FIXTURE_NAMES.map((name): [string, () => Model] => [`fixture ${name}`, () => loadModel(fixtureDir(name))]),
    ...MODEL_VARIANTS.map(([label, family, raw]): [string, () => Model] => [
      label,
      () => {
        const config = family.parseConfig(raw, 'test');
        return { family, config, params: initParams(family, config, 7, 0.3) };
      },
    ]),
  ];
  test.each(models)('%s: symbolic, and bit-identical to fixed shapes on 3 shapes', async (_label, make) => {
    const model = make();
    expect(traceSymbolic(model, { B: 2, S: 3 })).toBeDefined();
    expect(traceSymbolic(model, { B: 4, S: 3, candidates: 2 }, probe(model, 1))).toBeDefined();
    expect(traceSymbolic(model, { B: 2, S: 16, lastLogits: true, kv: { past: 0, slots: 32 } })).toBeDefined();
    expect(traceSymbolic(model, { B: 2, S: 1, lastLogits: true, kv: { past: 32 } })).toBeDefined();
    const exec = new OrtExecutor(model, { threads: 1 });
    try {
      for (const [B, S] of [
        [1, 1],
        [3, 7],
        [2, 12],
      ] as const)
        await expectSame(exec, model, batchOf(model.config.vocabSize, B, S));
      expect(exec.sessionCount).toBe(1);
    } finally {
      await exec.dispose();
    }
  });

  test('KV decoder: 4 calls of different rows, prompt buckets and budgets on 2 sessions, logits bit-identical', async () => {
    const model = loadModel(fixtureDir('llama'));
    const V = model.config.vocabSize;
    const calls: [number[], number][] = [
      [[3, 14, 1, 16], 18],
      [[5], 3],
      [[20, 2], 40],
      [[1, 1, 1], 0],
    ];
    const logits = async (opts: OrtOptions) => {
      const exec = new OrtExecutor(model, opts);
      const out: Float32Array[] = [];
      try {
        for (const [lens, maxNew] of calls) {
          const dec = exec.decoder(0);
          const prompts = lens.map((n, b) => Array.from({ length: n }, (_, s) => (31 * s + 17 * b + 5) % V));
          out.push((await dec.start(prompts, maxNew)).slice());
          for (let i = 0; i < maxNew; i++) out.push((await dec.append(Int32Array.from(lens, (_, b) => (7 * i + b) % V))).slice());
        }
        return { out, graphs: exec.graphCount, sessions: exec.sessionCount };
      } finally {
        await exec.dispose();
      }
    };
    const sym = await logits({ threads: 1 });
    const ref = await logits(fixed);
    expect(sym.out).toEqual(ref.out);
    // A prefill and a decode graph per call (the last has no decode), compiled once each.
    expect(ref.sessions).toBe(7);
    expect(sym.graphs).toBe(7);
    expect(sym.sessions).toBe(2);
  });

  test('a definition that bakes a size into a constant falls back to a graph per shape, with the same results', async () => {
    const base = llama.parseConfig(
      { model_type: 'llama', vocab_size: 61, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2 },
      'test',
    );
    // Logits scaled by a float computed from S: the two marker traces differ, so it is not symbolic.
    const family: Family<BaseConfig> = {
      ...(llama as unknown as Family<BaseConfig>),
      logits: (ops, c, B, S) => ops.scale(llama.logits(ops, c as typeof base, B, S), 1 + S / 1024),
    };
    const model: Model = { family, config: base, params: initParams(llama, base, 7, 0.3) };
    expect(traceSymbolic(model, { B: 2, S: 3 })).toBeUndefined();
    const exec = new OrtExecutor(model, { threads: 1 });
    try {
      for (const S of [2, 5, 9]) await expectSame(exec, model, batchOf(61, 2, S));
      expect(exec.sessionCount).toBe(3);
    } finally {
      await exec.dispose();
    }
  });
});
