import { ZoError } from '../core/errors.js';
import { MEZO_DEFAULT_SIZES, NumpyRandomState, effectiveSizes, mezoPermutation, mezoSplitIndices, sampleMezoSplits } from './sampling.js';

// Golden values from numpy 2.4.6 (the legacy RandomState stream has been frozen since numpy 1.17).
// `perm(s, n)` below means: python3 -c "import numpy as np; np.random.seed(s); print(np.random.permutation(n).tolist())"
// which is exactly what MeZO's `sample_subset` does under `temp_seed(s)`.

/** Σ (i+1)·p[i]: one number that pins a whole permutation. */
function checksum(p: readonly number[]): number {
  return p.reduce((s, v, i) => s + (i + 1) * v, 0);
}

describe('NumpyRandomState', () => {
  test('raw MT19937 outputs match numpy legacy seeding', () => {
    // bg = np.random.MT19937(); bg._legacy_seeding(0); bg.random_raw(5).tolist()
    const rs = new NumpyRandomState(0);
    expect([0, 1, 2, 3, 4].map(() => rs.nextUint32())).toEqual([2357136044, 2546248239, 3071714933, 3626093760, 2588848963]);
    // ... _legacy_seeding(5489); random_raw(3)  (5489 is the reference implementation's default seed)
    const ref = new NumpyRandomState(5489);
    expect([0, 1, 2].map(() => ref.nextUint32())).toEqual([3499211612, 581869302, 3890346734]);
  });

  test('permutation equals numpy for small n', () => {
    // perm(0, 100)
    expect(mezoPermutation(100, 0)).toEqual([
      26, 86, 2, 55, 75, 93, 16, 73, 54, 95, 53, 92, 78, 13, 7, 30, 22, 24, 33, 8, 43, 62, 3, 71, 45, 48, 6, 99, 82, 76, 60, 80, 90, 68, 51,
      27, 18, 56, 63, 74, 1, 61, 42, 41, 4, 15, 17, 40, 38, 5, 91, 59, 0, 34, 28, 50, 11, 35, 23, 52, 10, 31, 66, 57, 79, 85, 32, 84, 14,
      89, 19, 29, 49, 97, 98, 69, 20, 94, 72, 77, 25, 37, 81, 46, 39, 65, 58, 12, 88, 70, 87, 36, 21, 83, 9, 96, 67, 64, 47, 44,
    ]);
    expect(mezoPermutation(1, 0)).toEqual([0]); // perm(0, 1)
    expect(mezoPermutation(2, 0)).toEqual([1, 0]); // perm(0, 2)
    expect(mezoPermutation(5, 3)).toEqual([3, 4, 1, 0, 2]); // perm(3, 5)
    expect(mezoPermutation(0, 0)).toEqual([]);
  });

  test('permutation equals numpy at the real split sizes', () => {
    const sst2 = mezoPermutation(67349, 0); // perm(0, 67349): SST-2 train
    expect(sst2.slice(0, 10)).toEqual([43787, 16159, 59015, 5108, 67052, 35938, 49879, 51591, 56780, 28518]);
    expect(sst2.slice(1490, 1500)).toEqual([38105, 42532, 65642, 926, 32169, 64958, 11734, 27381, 39942, 48120]);
    expect(checksum(sst2)).toBe(76247739158024);
    const wsc = mezoPermutation(554, 0); // perm(0, 554): WSC train
    expect(wsc.slice(0, 10)).toEqual([85, 132, 96, 107, 140, 37, 481, 90, 514, 235]);
    expect(wsc.slice(-5)).toEqual([70, 277, 9, 359, 192]);
    expect(checksum(wsc)).toBe(42347301);
    expect(checksum(mezoPermutation(872, 0))).toBe(165807297); // perm(0, 872): SST-2 validation
    expect(checksum(mezoPermutation(9427, 1))).toBe(209614682056); // perm(1, 9427): BoolQ train, seed 1
    expect(mezoPermutation(400, 42).slice(0, 10)).toEqual([209, 280, 33, 210, 93, 84, 329, 94, 266, 126]); // perm(42, 400)
    expect(mezoPermutation(250, 1).slice(0, 10)).toEqual([67, 249, 230, 161, 91, 224, 58, 234, 180, 4]); // perm(1, 250)
    expect(mezoPermutation(87599, 0).slice(0, 10)).toEqual([50436, 22762, 45227, 54941, 33360, 78996, 86439, 24103, 50462, 75702]); // perm(0, 87599)
    // perm(4294967295, 10000): the largest seed numpy accepts
    expect(mezoPermutation(10000, 4294967295).slice(0, 10)).toEqual([717, 5523, 2741, 7427, 6861, 5656, 4468, 7367, 5998, 2509]);
  });

  test('seeds numpy would reject are ZoErrors', () => {
    for (const bad of [-1, 1.5, 2 ** 32, NaN]) expect(() => new NumpyRandomState(bad)).toThrow(ZoError);
    expect(() => new NumpyRandomState(-1)).toThrow('train set seed must be an integer in [0, 4294967295] (got -1)');
  });
});

describe('mezoSplitIndices', () => {
  test('SST-2 defaults: train = first 1000 drawn, dev = last 500, test = all 872 validation rows permuted', () => {
    const s = mezoSplitIndices(67349, 872, MEZO_DEFAULT_SIZES, 0);
    expect(s.train.length).toBe(1000);
    expect(s.dev.length).toBe(500);
    expect(s.test.length).toBe(872);
    expect(s.train.slice(0, 5)).toEqual([43787, 16159, 59015, 5108, 67052]); // perm(0, 67349)[:5]
    expect(s.train.slice(995)).toEqual([2393, 25023, 19139, 34221, 50896]); // [995:1000]
    expect(s.dev.slice(0, 5)).toEqual([2307, 42285, 56182, 55914, 35183]); // [1000:1005]
    expect(s.dev.slice(-5)).toEqual([64958, 11734, 27381, 39942, 48120]); // [1495:1500]
    expect(checksum([...s.train, ...s.dev])).toBe(37653817218); // checksum of perm(0, 67349)[:1500]
    expect(s.test.slice(0, 5)).toEqual([372, 676, 548, 293, 382]); // perm(0, 872)[:5]
    expect(s.test.slice(-5)).toEqual([835, 192, 629, 559, 684]);
  });

  test('WSC quirk: 554 train rows with DEV=500 leave 54 train', () => {
    const s = mezoSplitIndices(554, 104, MEZO_DEFAULT_SIZES, 0);
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([54, 500, 104]);
    expect(s.train.slice(0, 5)).toEqual([85, 132, 96, 107, 140]); // perm(0, 554)[:5]
    expect(s.train.slice(-4)).toEqual([303, 293, 438, 500]); // [50:54]
    expect(s.dev.slice(0, 5)).toEqual([506, 229, 449, 400, 444]); // [54:59]
    expect(s.dev.slice(-3)).toEqual([9, 359, 192]);
    expect(s.test.slice(0, 5)).toEqual([26, 61, 2, 62, 85]); // perm(0, 104)[:5]
    expect(effectiveSizes(554, 104, MEZO_DEFAULT_SIZES)).toEqual({ train: 54, dev: 500, test: 104 });
  });

  test('COPA (DEV=100): 300/100/100, and the same rows whether 1000 or 300 train are asked for', () => {
    const s = mezoSplitIndices(400, 100, { train: 1000, dev: 100, test: 1000 }, 0);
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([300, 100, 100]);
    expect(s.train.slice(0, 5)).toEqual([132, 309, 341, 196, 246]); // perm(0, 400)[:5]
    expect(s.train.slice(-5)).toEqual([130, 187, 23, 43, 0]); // [295:300]
    expect(s.dev.slice(0, 5)).toEqual([201, 339, 98, 387, 178]); // [300:305]
    expect(mezoSplitIndices(400, 100, { train: 300, dev: 100, test: 100 }, 0)).toEqual(s);
    expect(effectiveSizes(250, 56, { train: 1000, dev: 100, test: 1000 })).toEqual({ train: 150, dev: 100, test: 56 });
  });

  test('DEV larger than the split: everything is dev, as Python slicing does', () => {
    expect(mezoSplitIndices(12, 12, { train: 5, dev: 20, test: 3 }, 0)).toEqual({
      train: [],
      dev: [6, 11, 4, 10, 2, 8, 1, 7, 9, 3, 0, 5], // perm(0, 12)
      test: [6, 11, 4],
    });
  });

  test('DEV=0 gives no dev rows (MeZO would make everything dev)', () => {
    const s = mezoSplitIndices(12, 12, { train: 4, dev: 0, test: 2 }, 1);
    expect(s).toEqual({ train: [2, 3, 4, 10], dev: [], test: [2, 3] }); // perm(1, 12)[:4]
  });

  test('bad sizes are ZoErrors', () => {
    expect(() => mezoSplitIndices(10, 10, { train: -1, dev: 0, test: 0 }, 0)).toThrow('train size must be a non-negative integer (got -1)');
    expect(() => mezoSplitIndices(10, 10, { train: 1, dev: 0.5, test: 0 }, 0)).toThrow(ZoError);
  });
});

describe('sampleMezoSplits', () => {
  test('maps indices to rows; splits are disjoint; same seed, same rows', () => {
    const train = Array.from({ length: 30 }, (_, i) => `t${i}`);
    const valid = Array.from({ length: 12 }, (_, i) => `v${i}`);
    const a = sampleMezoSplits(train, valid, { train: 6, dev: 4, test: 5 }, 0);
    // perm(0, 30)[:10] = [2, 28, 13, 10, 26, 24, 27, 11, 17, 22]; perm(0, 12)[:5] = [6, 11, 4, 10, 2]
    expect(a).toEqual({
      train: ['t2', 't28', 't13', 't10', 't26', 't24'],
      dev: ['t27', 't11', 't17', 't22'],
      test: ['v6', 'v11', 'v4', 'v10', 'v2'],
    });
    expect(sampleMezoSplits(train, valid, { train: 6, dev: 4, test: 5 }, 0)).toEqual(a);
    // perm(1, 30)[:10] = [17, 21, 10, 19, 14, 20, 26, 3, 24, 22]
    expect(sampleMezoSplits(train, valid, { train: 6, dev: 4, test: 5 }, 1).train).toEqual(['t17', 't21', 't10', 't19', 't14', 't20']);
  });
});
