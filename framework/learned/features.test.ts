import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParamStore } from '../core/params.js';
import { ExactNoise, makeNoise } from '../core/noise.js';
import { toyQuadratic } from '../core/quadratic.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { blockStats, features, RAW_FEATURES, standardization, type FeatureTransform } from './features.js';
import { loadFinetuner, randomFinetuner, saveFinetuner } from './finetuner.js';
import { pertnnForward } from './pertnn.js';
import { backpropMetaStep } from './meta.js';
import { referenceSigmas } from './show.js';
import { sigmas, zoFt } from './zo-ft.js';

const TOY_CONFIG = { modelType: 'toy', vocabSize: 1, maxPositions: 1, tieWordEmbeddings: false };

/** Three blocks: [1, 2, 3, 6] (mean 3, variance 14/3), [0, 2] (mean 1, variance 2), [5] (mean 5, variance 0). */
const threeBlocks = () => {
  const values: Record<string, number[]> = { a: [1, 2, 3, 6], b: [0, 2], c: [5] };
  return new ParamStore(
    Object.entries(values).map(([name, v]) => ({ name, shape: [v.length] })),
    (spec) => Float32Array.from(values[spec.name]!),
  );
};

describe('standardised features', () => {
  test('by hand on three blocks: mean and variance centred and scaled across blocks, ℓ± by the loss at θ₀', () => {
    const t = standardization(threeBlocks(), 2.5);
    // Means 3, 1, 5: centre 3, population sd √(8/3). Variances 14/3, 2, 0: centre 20/9, sd √296/9.
    expect(t.mode).toBe('standardized');
    expect(t.shift).toEqual([3, expect.closeTo(20 / 9, 14), 0, 0, 0]);
    expect(t.scale).toEqual([expect.closeTo(Math.sqrt(8 / 3), 14), expect.closeTo(Math.sqrt(296) / 9, 14), 2.5, 2.5, 1]);
    // Block a with ℓ⁺ 2.5, ℓ⁻ 2, σ 0.7: (3 − 3)/…, (14/3 − 20/9)/(√296/9) = 22/√296, 1, 0.8, 0.7.
    const x = features(blockStats(Float32Array.of(1, 2, 3, 6)), 2.5, 2, 0.7, t);
    expect(x[0]).toBe(0);
    expect(x[1]).toBeCloseTo(22 / Math.sqrt(296), 13);
    expect([x[2], x[3], x[4]]).toEqual([1, 0.8, 0.7]);
  });

  test('no spread across blocks scales by 1; no loss (finetuner init) leaves ℓ± unscaled', () => {
    const same = new ParamStore(
      [
        { name: 'a', shape: [2] },
        { name: 'b', shape: [2] },
      ],
      () => Float32Array.of(1, 3),
    );
    expect(standardization(same)).toEqual({ mode: 'standardized', shift: [2, 2, 0, 0, 0], scale: [1, 1, 1, 1, 1] });
    for (const loss of [undefined, 0, NaN]) expect(standardization(threeBlocks(), loss).scale.slice(2)).toEqual([1, 1, 1]);
  });

  test('raw is a no-op, bit for bit', () => {
    const stats = { mean: -0, variance: 1e-300 };
    const x = features(stats, 123456.789, -2e-17, 0.1, RAW_FEATURES);
    [-0, 1e-300, 123456.789, -2e-17, 0.1].forEach((v, k) => expect(Object.is(x[k], v)).toBe(true));
  });

  test('the shift and scale round-trip through finetuner.json exactly', () => {
    const model = loadModel(fixtureDir('opt'));
    const featureTransform = standardization(model.params, 10.12345678901234);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-feat-'));
    saveFinetuner(dir, randomFinetuner(model.params, model.config, 1, { featureTransform }));
    expect(loadFinetuner(dir).manifest.featureTransform).toEqual(featureTransform);
    expect(featureTransform.shift[1]).not.toBe(0); // a real map, not the identity
  });

  test('a featureTransform that is not five finite numbers each is refused, naming the file', () => {
    const model = loadModel(fixtureDir('llama'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-feat-'));
    saveFinetuner(dir, randomFinetuner(model.params, model.config, 0));
    const file = path.join(dir, 'finetuner.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(
      file,
      JSON.stringify({ ...m, featureTransform: { mode: 'standardized', shift: [0, 0, 0, 0, 0], scale: [1, 0, 1, 1, 1] } }),
    );
    expect(() => loadFinetuner(dir)).toThrow(`${file}: featureTransform must be`);
  });
});

describe('zo-ft and the feature map', () => {
  test('on a standardised bank σ comes from the transformed features, computed here by hand', async () => {
    const q = toyQuadratic();
    const t: FeatureTransform = { mode: 'standardized', shift: [0.1, 0.05, 0, 0, 0], scale: [0.2, 0.04, 2, 2, 1] };
    const ft = randomFinetuner(q.params, TOY_CONFIG, 5, { featureTransform: t });
    const opt = zoFt(ft, { batchSize: 1 });
    const h = { lr: 0.05, eps: 0.01 };
    const state = opt.init(q.params, h);
    Object.assign(state.scalars, { lossPlus: 0.8, lossMinus: 0.6, 'sigma/layer.weight': 1.5, 'sigma/layer.bias': 0.5 });
    const got = sigmas(ft, { params: q.params }, state);
    const w = blockStats(q.params.get('layer.weight'));
    const b = blockStats(q.params.get('layer.bias'));
    expect(got[0]).toBe(pertnnForward(ft.nets[0]!, [(w.mean - 0.1) / 0.2, (w.variance - 0.05) / 0.04, 0.4, 0.3, 1.5]).sigma);
    expect(got[1]).toBe(pertnnForward(ft.nets[1]!, [(b.mean - 0.1) / 0.2, (b.variance - 0.05) / 0.04, 0.4, 0.3, 0.5]).sigma);
    // The map matters: the raw features give other σ's.
    expect(got[0]).not.toBeCloseTo(pertnnForward(ft.nets[0]!, [w.mean, w.variance, 0.8, 0.6, 1.5]).sigma, 3);
  });

  test('raw: every step’s σ is the net on the unmapped features (the path before the switch), exactly', async () => {
    const q = toyQuadratic();
    const ft = randomFinetuner(q.params, TOY_CONFIG, 3);
    const opt = zoFt(ft, { batchSize: 1 });
    const h = { lr: 0.05, eps: 0.01 };
    const state = opt.init(q.params, h);
    const noise = makeNoise('exact', 9, [6, 3]);
    const objective = q.at();
    for (let step = 0; step < 4; step++) {
      const before = q.params.names.map((n) => {
        const s = blockStats(q.params.get(n));
        const x = Float64Array.of(s.mean, s.variance, state.scalars.lossPlus!, state.scalars.lossMinus!, state.scalars[`sigma/${n}`]!);
        return pertnnForward(ft.nets[q.params.names.indexOf(n)]!, x).sigma;
      });
      const ctx = { step, lr: h.lr, params: q.params, z: (_p: number, b: number) => noise.z(step, 0, b), key: () => 0, ...objective };
      await opt.step(ctx, state, h);
      q.params.names.forEach((n, i) => expect(state.scalars[`sigma/${n}`]).toBe(before[i]));
    }
    expect(state.scalars.lossPlus).not.toBe(0);
  });
});

describe('meta-training and show use the same map', () => {
  const t: FeatureTransform = { mode: 'standardized', shift: [0.1, 0.05, 0, 0, 0], scale: [0.2, 0.04, 2, 2, 1] };
  /** Block n's features mapped by t, written out. */
  const mapped = (theta: Float32Array, lp: number, lm: number, sigma: number) => {
    const s = blockStats(theta);
    return [(s.mean - 0.1) / 0.2, (s.variance - 0.05) / 0.04, lp / 2, lm / 2, sigma];
  };

  test('the meta step’s σ (the policy being trained) comes from the transformed features', async () => {
    const q = toyQuadratic();
    const ft = randomFinetuner(q.params, TOY_CONFIG, 4, { featureTransform: t });
    const noise = new ExactNoise(2, [6, 3]);
    const r = await backpropMetaStep({
      ft,
      params: q.params,
      sizes: [6, 3],
      objective: q.at(),
      z: (b) => noise.z(0, 0, b),
      history: { lossPlus: 0.9, lossMinus: 0.7, sigma: [1.2, 0.6] },
      alpha: 0.2,
      eps: 0.01,
    });
    q.params.names.forEach((n, b) =>
      expect(r.sigma[b]).toBe(pertnnForward(ft.nets[b]!, mapped(q.params.get(n), 0.9, 0.7, [1.2, 0.6][b]!)).sigma),
    );
  });

  test('zo finetuner show’s reference σ is the fixed point of the net on the transformed features', () => {
    const q = toyQuadratic();
    const ft = randomFinetuner(q.params, TOY_CONFIG, 4, { featureTransform: t });
    const ref = referenceSigmas(ft, q.params, 1.5, 1);
    ref.blocks.forEach((b, i) => {
      const again = pertnnForward(ft.nets[i]!, mapped(q.params.get(b.name), 1.5, 1.5, b.sigma)).sigma;
      expect(Math.abs(again - b.sigma)).toBeLessThanOrEqual(1e-8 * b.sigma);
    });
    expect(ref.iterations).toBeLessThan(100); // it settled
  });
});
