import { ExactNoise, TableNoise, makeNoise, NOISE_KINDS, type NoiseSource } from './noise.js';
import { fillGaussian, keyOf } from './rng.js';

function moments(x: Float32Array): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  const mean = s / x.length;
  return { mean, variance: s2 / x.length - mean * mean };
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Bit-level equality (jest's deep equality is far too slow for 200k-element arrays). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const SIZES = [200_000, 150_000, 64, 200_000];

describe.each(NOISE_KINDS)('%s noise', (kind) => {
  const noise: NoiseSource = makeNoise(kind, 1234, SIZES);

  test('each block is N(0, 1): mean within 4σ/√n, variance within 2%', () => {
    for (const [b, n] of SIZES.entries()) {
      if (n < 1000) continue;
      const { mean, variance } = moments(noise.z(3, 0, b));
      expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
      expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    }
  });

  test('blocks, probes and steps are independent (|corr| < 5/√n)', () => {
    const n = 150_000;
    const a = noise.z(3, 0, 0).slice(0, n);
    const others = [noise.z(3, 0, 1), noise.z(3, 0, 3), noise.z(3, 1, 0), noise.z(4, 0, 0)];
    for (const o of others) expect(Math.abs(correlation(a, o.slice(0, n)))).toBeLessThan(5 / Math.sqrt(n));
  });

  test('replay is bit-exact, in any call order and from a fresh source', () => {
    const first = noise.z(7, 1, 3).slice();
    noise.z(8, 0, 3);
    noise.z(2, 5, 0);
    expect(sameBits(noise.z(7, 1, 3), first)).toBe(true);
    expect(sameBits(makeNoise(kind, 1234, SIZES).z(7, 1, 3), first)).toBe(true);
    expect(sameBits(makeNoise(kind, 1235, SIZES).z(7, 1, 3), first)).toBe(false);
  });
});

describe('sources', () => {
  test('exact noise is the counter-based generator keyed by (seed, step, probe, block)', () => {
    const z = new ExactNoise(5, [10, 20]).z(9, 2, 1);
    expect(sameBits(z, fillGaussian(new Float32Array(20), keyOf(5, 9, 2, 1)))).toBe(true);
  });

  test('gaussian values do not depend on how the stream is chunked', () => {
    const whole = fillGaussian(new Float32Array(101), 42);
    const tail = fillGaussian(new Float32Array(60), 42, 41); // odd offset: starts mid-pair
    expect(sameBits(tail, whole.subarray(41))).toBe(true);
  });

  test('table noise is a zero-copy view: blocks laid contiguously from one offset per (step, probe)', () => {
    const t = new TableNoise(5, [10, 20], 1000);
    const a = t.z(4, 0, 0);
    const b = t.z(4, 0, 1);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset - a.byteOffset).toBe(10 * 4);
    expect(t.floats).toBe(1030);
    const offsets = new Set(Array.from({ length: 200 }, (_, s) => t.offset(s, 0)));
    expect(offsets.size).toBeGreaterThan(150); // offsets spread over the slack
  });
});
