import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeNoise, type NoiseKind } from '../core/noise.js';
import { TOY, toyQuadratic } from '../core/quadratic.js';
import { OrtExecutor } from '../engine/ort.js';
import { train } from '../harness/harness.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { mezo } from '../optimizers/mezo.js';
import { parseHyperparameters } from '../optimizers/registry.js';
import { LmProblem, readTextTokens } from '../tasks/lm-problem.js';
import { packageRoot } from '../core/paths.js';
import { checkFinetunerFits, loadFinetuner, randomFinetuner, saveFinetuner, type Finetuner } from './finetuner.js';
import { blockStats } from './features.js';
import { HIDDEN, FEATURES, type PertNN } from './pertnn.js';
import { zoFt } from './zo-ft.js';

/** A PertNN whose σ is the constant |c|, whatever its features (all weights 0 but the output bias). */
const constant = (c: number): PertNN => ({
  w1: new Float32Array(HIDDEN * FEATURES),
  b1: new Float32Array(HIDDEN),
  w2: new Float32Array(HIDDEN),
  b2: Float32Array.of(c),
});
const withNets = (ft: Finetuner, nets: PertNN[]): Finetuner => ({ ...ft, nets });

describe('zo-ft at deployment', () => {
  test.each<NoiseKind>(['exact', 'table'])('with every σ equal, its steps are MeZO’s (%s noise), to 1e-6', async (kind) => {
    const TEXT = path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt');
    const runWith = async (opt: 'mezo' | 'zo-ft') => {
      const model = loadModel(fixtureDir('llama'));
      const exec = new OrtExecutor(model, { threads: 1 });
      const problem = new LmProblem(model, { tokens: readTextTokens(TEXT, model), seqLen: 16, batchSize: 4 }, 3, exec);
      const ft = withNets(
        randomFinetuner(model.params, model.config, 0),
        model.params.names.map(() => constant(0.37)),
      );
      const optimizer = opt === 'mezo' ? mezo : zoFt(ft, { batchSize: 4 });
      const h = parseHyperparameters(optimizer as typeof mezo, { lr: 1e-2, eps: 1e-3 });
      const sizes = model.params.names.map((n) => model.params.get(n).length);
      await train({
        optimizer: optimizer as typeof mezo,
        hyperparameters: h,
        problem,
        state: optimizer.init(model.params, h as never),
        noise: makeNoise(kind, 5, sizes),
        seed: 5,
        steps: 4,
        schedule: 'constant',
      });
      await exec.dispose();
      return model.params;
    };
    const [a, b] = [await runWith('mezo'), await runWith('zo-ft')];
    let moved = 0;
    const base = loadModel(fixtureDir('llama')).params;
    for (const n of a.names) {
      const x = a.get(n);
      const y = b.get(n);
      for (let i = 0; i < x.length; i++) {
        expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(1e-6);
        moved = Math.max(moved, Math.abs(x[i]! - base.get(n)[i]!));
      }
    }
    expect(moved).toBeGreaterThan(1e-5); // the runs really moved θ
  });

  test('one step by hand on a 2-block quadratic: probes at ±ε·nf·σ_i, update η·nf·σ_i·g', async () => {
    const q = toyQuadratic();
    const theta0 = [...q.params.get('layer.weight'), ...q.params.get('layer.bias')];
    const base = randomFinetuner(q.params, { modelType: 'toy', vocabSize: 1, maxPositions: 1, tieWordEmbeddings: false }, 0);
    const ft = withNets(base, [constant(2), constant(0.5)]);
    const opt = zoFt(ft, { batchSize: 1 });
    const h = { lr: 0.05, eps: 0.01 };
    const noise = makeNoise('exact', 9, [6, 3]);
    await train({
      optimizer: opt as never,
      hyperparameters: h,
      problem: q,
      state: opt.init(q.params, h),
      noise,
      seed: 9,
      steps: 1,
      schedule: 'constant',
    });
    // By hand: d̂ = 6 and 3, σ = 2 and 0.5 → nf = √(9 / (6·4 + 3·0.25)) = √(9/24.75).
    const nf = Math.sqrt(9 / 24.75);
    const z = [...noise.z(0, 0, 0), ...noise.z(0, 0, 1)];
    const scale = (i: number) => nf * (i < 6 ? 2 : 0.5);
    const A = TOY.a;
    const T = TOY.target;
    const L = (t: number[]) => t.reduce((s, v, i) => s + 0.5 * A[i]! * (v - T[i]!) ** 2, 0);
    const probe = (sign: number) => theta0.map((v, i) => v + sign * 0.01 * scale(i) * z[i]!);
    const g = (L(probe(1)) - L(probe(-1))) / 0.02;
    const expected = theta0.map((v, i) => v - 0.05 * scale(i) * g * z[i]!);
    const got = [...q.params.get('layer.weight'), ...q.params.get('layer.bias')];
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    // Its probes are θ ± ε·nf·σ_i·z on every block, MeZO's kind: a run evaluates through their graph.
    expect(opt.scalarProbes).toBe(true);
  });

  test('the features of step t+1 are step t’s ℓ⁺, ℓ⁻ and σ, and θ’s mean and variance now', async () => {
    const model = loadModel(fixtureDir('llama'));
    const ft = randomFinetuner(model.params, model.config, 3);
    const opt = zoFt(ft, { batchSize: 2 });
    const state = opt.init(model.params, { lr: 1e-3, eps: 1e-3 });
    expect(state.scalars.lossPlus).toBe(0);
    expect(state.scalars[`sigma/${model.params.names[0]}`]).toBe(1);
    const losses = [2.5, 2.25];
    let call = 0;
    const ctx = {
      step: 0,
      lr: 1e-3,
      params: model.params,
      z: () => new Float32Array(model.params.get(model.params.names[0]!).length),
      key: () => 0,
      loss: async () => losses[call++ % 2]!,
      lossAndGrads: async () => ({ loss: 0, grads: new Map() }),
    };
    // z of the first block's size would be wrong for the others: give each block its own zeros.
    ctx.z = ((_: number, b: number) => new Float32Array(model.params.get(model.params.names[b]!).length)) as never;
    await opt.step(ctx, state, { lr: 1e-3, eps: 1e-3 });
    expect([state.scalars.lossPlus, state.scalars.lossMinus]).toEqual([2.5, 2.25]);
    const name = model.params.names[1]!;
    const stats = blockStats(model.params.get(name));
    const { pertnnForward } = await import('./pertnn.js');
    const sigma0 = pertnnForward(ft.nets[1]!, [stats.mean, stats.variance, 0, 0, 1]).sigma;
    expect(state.scalars[`sigma/${name}`]).toBeCloseTo(sigma0, 12);
  });
});

describe('the finetuner file', () => {
  test('saves as safetensors + JSON and loads back exactly, from the folder or either file', () => {
    const model = loadModel(fixtureDir('llama'));
    const ft = randomFinetuner(model.params, model.config, 11);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ft-'));
    saveFinetuner(dir, ft);
    for (const p of [dir, path.join(dir, 'finetuner.json'), path.join(dir, 'finetuner.safetensors')]) {
      const back = loadFinetuner(p);
      expect(back.manifest).toEqual(JSON.parse(JSON.stringify(ft.manifest)));
      back.nets.forEach((n, i) => expect(n).toEqual(ft.nets[i]));
    }
    expect(ft.manifest.blocks[0]).toEqual({
      name: 'model.embed_tokens.weight',
      shape: [...model.params.shape('model.embed_tokens.weight')],
      role: 'embedding',
      group: 'model.embed_tokens.weight',
    });
  });

  test('a finetuner for another model is refused, naming the first block that differs', () => {
    const llama = loadModel(fixtureDir('llama'));
    const qwen = loadModel(fixtureDir('qwen2'));
    const ft = randomFinetuner(llama.params, llama.config, 0);
    expect(() => checkFinetunerFits(ft, qwen.params, 'zo-ft')).toThrow(
      'zo-ft: the finetuner was made for another model: block 3 is model.layers.0.self_attn.k_proj.weight [16,32] there, model.layers.0.self_attn.q_proj.bias [32] here',
    );
    expect(() => zoFt(ft, { batchSize: 2 }).init(qwen.params, { lr: 1e-6, eps: 1e-3 })).toThrow('block 3');
  });
});

describe('zo-ft reads its block statistics from the update’s own pass', () => {
  const TOY_CONFIG = { modelType: 'toy', vocabSize: 1, maxPositions: 1, tieWordEmbeddings: false };
  /** Steps zo-ft on the toy quadratic, with one optimizer throughout or a fresh one (no cached sums) per step; `meddle` may write θ between steps. */
  const run = async (fresh: boolean, meddle?: (step: number, q: ReturnType<typeof toyQuadratic>) => void) => {
    const q = toyQuadratic();
    const ft = randomFinetuner(q.params, TOY_CONFIG, 3);
    const make = () => zoFt(ft, { batchSize: 1 });
    const h = { lr: 0.05, eps: 0.01 };
    const state = make().init(q.params, h);
    const noise = makeNoise('ziggurat', 2, [6, 3]);
    let opt = make();
    for (let t = 0; t < 6; t++) {
      if (fresh) opt = make();
      await train({
        optimizer: opt,
        hyperparameters: h,
        problem: q,
        state,
        noise,
        seed: 2,
        steps: t + 1,
        startStep: t,
        schedule: 'constant',
      });
      meddle?.(t, q);
    }
    return { theta: [...q.params.get('layer.weight'), ...q.params.get('layer.bias')], state };
  };

  test('the sums the update takes give bit for bit the σ a fresh pass over θ gives', async () => {
    const [cached, fresh] = [await run(false), await run(true)];
    expect(cached.theta).toEqual(fresh.theta);
    expect(cached.state.scalars).toEqual(fresh.state.scalars);
  });

  test('θ written between steps (a script restoring it) is seen: the stale sums are not used', async () => {
    const restore = (step: number, q: ReturnType<typeof toyQuadratic>) => {
      if (step === 2) q.params.get('layer.weight').set(TOY.theta0.slice(0, 6));
    };
    const [cached, fresh] = [await run(false, restore), await run(true, restore)];
    expect(cached.theta).toEqual(fresh.theta);
    expect(cached.state.scalars).toEqual(fresh.state.scalars);
  });
});
