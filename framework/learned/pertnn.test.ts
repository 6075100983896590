import { blockStats, features, RAW_FEATURES } from './features.js';
import { DEFAULT_NORMALIZATION, effectiveSize, normalizer } from './normalization.js';
import { FEATURES, HIDDEN, initPertNN, pertnnBackward, pertnnForward, type PertNN } from './pertnn.js';

/** A net with every weight set by hand: w1[j,k] = (j+k)/100 − 0.3, b1 = 0.01·j, w2 = ±0.05, b2 = −0.2. */
function handNet(): PertNN {
  return {
    w1: Float32Array.from({ length: HIDDEN * FEATURES }, (_, i) => (Math.floor(i / FEATURES) + (i % FEATURES)) / 100 - 0.3),
    b1: Float32Array.from({ length: HIDDEN }, (_, j) => 0.01 * j),
    w2: Float32Array.from({ length: HIDDEN }, (_, j) => (j % 2 ? 0.05 : -0.05)),
    b2: Float32Array.of(-0.2),
  };
}

describe('PertNN', () => {
  test('σ = |W2·tanh(W1·x + b1) + b2|, against a direct float64 evaluation', () => {
    const net = handNet();
    const x = [0.01, 1e-4, 2.5, 2.4, 1];
    let out = Math.fround(-0.2);
    for (let j = 0; j < HIDDEN; j++) {
      let a = Math.fround(0.01 * j);
      for (let k = 0; k < FEATURES; k++) a += Math.fround((j + k) / 100 - 0.3) * x[k]!;
      out += Math.fround(j % 2 ? 0.05 : -0.05) * Math.tanh(a);
    }
    expect(out).toBeLessThan(0); // so the |·| matters
    expect(pertnnForward(net, x).sigma).toBeCloseTo(Math.abs(out), 12);
  });

  test('the backward pass equals central differences of σ for every weight', () => {
    const net = initPertNN(7);
    const x = [0.3, 0.2, 1.5, 1.1, 0.8];
    const { trace } = pertnnForward(net, x);
    const g = pertnnBackward(net, trace, 1);
    const h = 1e-3;
    for (const k of ['w1', 'b1', 'w2', 'b2'] as const) {
      const arr = net[k];
      for (let i = 0; i < arr.length; i += k === 'w1' ? 7 : 3) {
        const v = arr[i]!;
        // float32 weights: perturb in float64 copies so the difference is exact to 1e-7.
        const at = (d: number) => {
          const copy = {
            w1: Float64Array.from(net.w1),
            b1: Float64Array.from(net.b1),
            w2: Float64Array.from(net.w2),
            b2: Float64Array.from(net.b2),
          };
          copy[k][i] = v + d;
          return pertnnForward(copy as unknown as PertNN, x).sigma;
        };
        expect(g[k][i]!).toBeCloseTo((at(h) - at(-h)) / (2 * h), 6);
      }
    }
  });

  test('PyTorch default init: uniform in ±1/√fan_in, a pure function of the key', () => {
    const a = initPertNN(1);
    expect(initPertNN(1)).toEqual(a);
    expect(initPertNN(2).w1).not.toEqual(a.w1);
    const within = (xs: Float32Array, fanIn: number) => xs.every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn));
    expect([within(a.w1, 5), within(a.b1, 5), within(a.w2, 64), within(a.b2, 64)]).toEqual([true, true, true, true]);
    // Spread over the whole support: the max is near the bound (uniform, 320 draws).
    expect(Math.max(...a.w1.map(Math.abs))).toBeGreaterThan(0.95 / Math.sqrt(5));
  });
});

describe('features and the normaliser, by hand on three blocks', () => {
  test('mean and unbiased variance', () => {
    // [1, 2, 3, 6]: mean 3, Σ(x−3)² = 4+1+0+9 = 14, variance 14/3.
    const s = blockStats(Float32Array.of(1, 2, 3, 6));
    expect(s.mean).toBe(3);
    expect(s.variance).toBeCloseTo(14 / 3, 12);
    expect([...features(s, 2.5, 2.4, 0.7, RAW_FEATURES)]).toEqual([3, 14 / 3, 2.5, 2.4, 0.7].map((v, i) => (i === 1 ? s.variance : v)));
  });

  test('effective sizes with the embedding rule, and nf', () => {
    const S = DEFAULT_NORMALIZATION;
    // An embedding [10, 4] at batch 2: 15·2·4 = 120; a matrix [3, 4]: 12; a vector [5]: 5.
    const sizes = [effectiveSize([10, 4], 'embedding', 2, S), effectiveSize([3, 4], 'attention', 2, S), effectiveSize([5], 'norm', 2, S)];
    expect(sizes).toEqual([120, 12, 5]);
    // σ = 1, 2, 0.5: Σd̂ = 137, Σd̂σ² = 120 + 48 + 1.25 = 169.25.
    const nf = normalizer(sizes, [1, 2, 0.5], S);
    expect(nf).toBeCloseTo(Math.sqrt(137 / 169.25), 14);
    // The d̂-weighted mean square of nf·σ is 1.
    expect((120 * (nf * 1) ** 2 + 12 * (nf * 2) ** 2 + 5 * (nf * 0.5) ** 2) / 137).toBeCloseTo(1, 14);
    expect(normalizer(sizes, [1, 2, 0.5], { ...S, enabled: false })).toBe(1);
    expect(effectiveSize([10, 4], 'embedding', 2, { ...S, embeddingRoles: [] })).toBe(40);
  });
});
