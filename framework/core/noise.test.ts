import { createHash } from 'node:crypto';
import {
  ExactNoise,
  TableNoise,
  TABLE_DILUTION,
  checkNoiseVersion,
  makeNoise,
  NOISE_KINDS,
  NOISE_VERSIONS,
  type NoiseSource,
} from './noise.js';
import { fillGaussian, fillGaussianZiggurat, keyOf, mix32, permute } from './rng.js';

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

/**
 * Reuse at any lag, from the values alone (so it judges any source, the old table too): every three
 * neighbours (z[i], z[i+1], z[i+2]) are hashed from their bits into a 53-bit key. Two windows that share
 * a shifted run of L values, a lag at which they correlate perfectly, share L − 2 keys; independent
 * N(0,1) values share one by chance about once in 2^53 comparisons.
 */
class RunIndex {
  private sorted = new Float64Array(0);

  private static triples(z: Float32Array): Float64Array {
    const bits = new Uint32Array(z.buffer, z.byteOffset, z.length);
    const keys = new Float64Array(Math.max(0, bits.length - 2));
    for (let i = 0; i < keys.length; i++) {
      const [a, b, c] = [bits[i]!, bits[i + 1]!, bits[i + 2]!];
      keys[i] = mix32(a ^ mix32(b ^ mix32(c ^ 0x5bd1e995))) * 2 ** 21 + (mix32(c ^ mix32(b ^ mix32(a ^ 0x27d4eb2f))) >>> 11);
    }
    return keys.sort();
  }

  add(...zs: Float32Array[]): this {
    const all = new Float64Array(this.sorted.length + zs.reduce((n, z) => n + Math.max(0, z.length - 2), 0));
    all.set(this.sorted);
    let at = this.sorted.length;
    for (const z of zs) {
      const k = RunIndex.triples(z);
      all.set(k, at);
      at += k.length;
    }
    this.sorted = all.sort();
    return this;
  }

  /** Keys indexed more than once: runs shared among the windows added (or repeated inside one). */
  duplicates(): number {
    let n = 0;
    for (let i = 1; i < this.sorted.length; i++) if (this.sorted[i] === this.sorted[i - 1]) n++;
    return n;
  }

  /** Values of z that continue a run already indexed (the values z shares with it, less 2 per run). */
  shared(z: Float32Array): number {
    const [a, b] = [this.sorted, RunIndex.triples(z)];
    let n = 0;
    for (let i = 0, j = 0; i < a.length && j < b.length;) {
      if (a[i]! < b[j]!) i++;
      else if (a[i]! > b[j]!) j++;
      else {
        n++;
        j++;
      }
    }
    return n;
  }
}

/** Every block of every probe of one step, copied (exact noise reuses one scratch buffer per block). */
const windowsOf = (noise: NoiseSource, step: number, probes: number, blocks: number) =>
  Array.from({ length: probes * blocks }, (_, i) => noise.z(step, Math.floor(i / blocks), i % blocks).slice());

const SIZES = [200_000, 150_000, 64, 200_000];
const PROBES = 2;

describe.each(NOISE_KINDS)('%s noise', (kind) => {
  const noise: NoiseSource = makeNoise(kind, 1234, SIZES, PROBES);

  test('each block is N(0, 1): mean within 4σ/√n, variance within 2%', () => {
    for (const [b, n] of SIZES.entries()) {
      if (n < 1000) continue;
      const { mean, variance } = moments(noise.z(3, 0, b));
      expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
      expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    }
  });

  test('blocks, probes and steps are uncorrelated at lag 0 (|corr| < 5/√n)', () => {
    const n = 150_000;
    const a = noise.z(3, 0, 0).slice(0, n);
    const others = [noise.z(3, 0, 1), noise.z(3, 0, 3), noise.z(3, 1, 0), noise.z(4, 0, 0)];
    for (const o of others) expect(Math.abs(correlation(a, o.slice(0, n)))).toBeLessThan(5 / Math.sqrt(n));
  });

  test('the probes and blocks of one step share no value, at any lag', () => {
    expect(new RunIndex().add(...windowsOf(noise, 3, PROBES, SIZES.length)).duplicates()).toBe(0);
  });

  test('consecutive steps share no value, at any lag', () => {
    const steps = [3, 4].map((s) => new RunIndex().add(...windowsOf(noise, s, PROBES, SIZES.length)));
    for (const w of windowsOf(noise, 4, PROBES, SIZES.length)) expect(steps[0]!.shared(w)).toBe(0);
    for (const w of windowsOf(noise, 5, PROBES, SIZES.length)) expect(steps[0]!.shared(w) + steps[1]!.shared(w)).toBe(0);
  });

  test('no step of a 20,000-step run (MeZO’s horizon) repeats another’s z', () => {
    const starts = new Set<string>();
    for (let step = 0; step < 20_000; step++) starts.add(noise.z(step, 0, 2).slice(0, 3).join());
    expect(starts.size).toBe(20_000);
  });

  test('replay is bit-exact, in any call order and from a fresh source', () => {
    const first = noise.z(7, 1, 3).slice();
    noise.z(8, 0, 3);
    noise.z(2, 1, 0);
    expect(sameBits(noise.z(7, 1, 3), first)).toBe(true);
    expect(sameBits(makeNoise(kind, 1234, SIZES, PROBES).z(7, 1, 3), first)).toBe(true);
    expect(sameBits(makeNoise(kind, 1235, SIZES, PROBES).z(7, 1, 3), first)).toBe(false);
  });
});

describe('table noise layout', () => {
  // W = 32,768 = 2^20 / 32: the smallest window whose table is sized by TABLE_DILUTION alone.
  const sizes = [20_000, 12_768];
  const t = new TableNoise(99, sizes);
  const [R, W] = [t.lanes, t.window];
  const window = (step: number) => {
    const z = t.z(step, 0, 0);
    return new Float32Array(z.buffer, z.byteOffset, W); // the two blocks lie end to end
  };

  test('the table holds (R + 1)·W floats, R = max(32, ⌈2^20 / W⌉) windows per round', () => {
    expect([R, W, t.floats]).toEqual([TABLE_DILUTION, 32_768, 33 * 32_768]);
    const small = new TableNoise(5, [10, 20], 3);
    expect([small.window, small.lanes, small.floats]).toEqual([90, 11_651, 11_652 * 90]);
    const zoo = new TableNoise(5, [250_432], 1);
    expect(zoo.floats).toBe(33 * 250_432);
  });

  test('zero-copy views: one step’s probes and blocks lie end to end from one offset', () => {
    const small = new TableNoise(5, [10, 20], 2);
    const [a, b, c] = [small.z(4, 0, 0), small.z(4, 0, 1), small.z(4, 1, 0)];
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset - a.byteOffset).toBe(10 * 4);
    expect(c.byteOffset - a.byteOffset).toBe(30 * 4);
    expect(() => small.z(4, 2, 0)).toThrow(/sized for 2 probe\(s\) per step; probe 2/);
  });

  test('the steps of a round tile the table: no value shared within a round, at most W in all with another', () => {
    const rounds = [0, 1, 7];
    const indexes = rounds.map((e) => new RunIndex().add(...Array.from({ length: R }, (_, i) => window(e * R + i))));
    for (const seen of indexes) expect(seen.duplicates()).toBe(0);
    // A round's windows being disjoint, what a step shares with the whole round is the sum of what it
    // shares with each of its steps, at most its own W values; and nearly that (rounds cover the same
    // table), so the mean over pairs of steps in different rounds is just under W/R.
    let total = 0;
    let pairs = 0;
    for (let s = 0; s < R; s++)
      for (const seen of indexes.slice(1)) {
        total += seen.shared(window(s));
        pairs += R;
      }
    const meanFraction = total / pairs / W;
    expect(meanFraction).toBeLessThanOrEqual(1 / R);
    expect(meanFraction).toBeGreaterThan(0.9 / R);
  });

  test('no two of the first R·W steps share an offset (no exact repeat within 2^20 steps)', () => {
    for (const source of [t, new TableNoise(3, [9])]) {
      const used = new Uint8Array(source.floats);
      let repeats = 0;
      for (let s = 0; s < source.lanes * source.window; s++) {
        const o = source.offset(s);
        repeats += used[o]!;
        used[o] = 1;
      }
      expect(source.lanes * source.window).toBeGreaterThanOrEqual(1 << 20);
      expect(repeats).toBe(0);
    }
  });

  test('asking for more probes than it was sized for is refused', () => {
    expect(() => makeNoise('table', 1, [4], 1).z(0, 1, 0)).toThrow(/sized for 1 probe/);
    expect(() => new TableNoise(1, [4], 0)).toThrow(/probes = 0/);
  });
});

describe('sources', () => {
  test('exact noise is the counter-based generator keyed by (seed, step, probe, block)', () => {
    const z = new ExactNoise(5, [10, 20]).z(9, 2, 1);
    expect(sameBits(z, fillGaussian(new Float32Array(20), keyOf(5, 9, 2, 1)))).toBe(true);
  });

  test('ziggurat noise is the ziggurat generator on the same keys, and another stream than exact', () => {
    const z = new ExactNoise(5, [10, 20], 'ziggurat').z(9, 2, 1);
    expect(sameBits(z, fillGaussianZiggurat(new Float32Array(20), keyOf(5, 9, 2, 1)))).toBe(true);
    expect(sameBits(z, new ExactNoise(5, [10, 20]).z(9, 2, 1))).toBe(false);
  });

  // Runs recorded noise version 1 of these kinds and resume bit for bit only while the streams are
  // these: a faster generator must give the same values (or be a new version, NOISE_VERSIONS).
  test.each([
    ['box-muller', fillGaussian, 1 << 16, '170741e8d93e341d'],
    ['ziggurat', fillGaussianZiggurat, 1 << 20, 'edc5567e2b533d85'],
  ])('%s is the version-1 stream, value for value (a sha256 of its first values)', (_name, fill, n, sha) => {
    const z = fill(new Float32Array(n), keyOf(7, 3));
    expect(createHash('sha256').update(Buffer.from(z.buffer)).digest('hex').slice(0, 16)).toBe(sha);
  });

  // Likewise for table runs (version 2): the table's values and where each step's window lies.
  test('table noise is the version-2 table, value for value (a sha256 of three steps’ windows)', () => {
    const t = new TableNoise(7, [1000, 30_000]);
    const h = createHash('sha256');
    for (const step of [0, 1, 77]) for (const b of [0, 1]) h.update(Buffer.from(t.z(step, 0, b).slice().buffer));
    expect(h.digest('hex').slice(0, 16)).toBe('94414706f89818b4');
  });

  test.each([
    ['box-muller', fillGaussian],
    ['ziggurat', fillGaussianZiggurat],
  ])('%s values do not depend on how the stream is chunked', (_name, fill) => {
    const whole = fill(new Float32Array(20_001), 42);
    const tail = fill(new Float32Array(12_000), 42, 8001); // odd offset: starts mid-pair for Box–Muller
    expect(sameBits(tail, whole.subarray(8001))).toBe(true);
  });

  // The moments above miss a misshapen density; these look at its shape: the whole CDF, and the tail
  // beyond the ziggurat's r = 3.654, which its rare path draws.
  test.each([
    ['box-muller', fillGaussian],
    ['ziggurat', fillGaussianZiggurat],
  ])(
    '%s values follow Φ over 10⁶ values (Kolmogorov–Smirnov, χ² of |z| in bins of 0.05, p = 0.001), and the tail beyond 3.654 in mass and shape',
    (_n, fill) => {
      const n = 1_000_000;
      const x = Float64Array.from(fill(new Float32Array(n), 77)).sort();
      let d = 0;
      for (let i = 0; i < n; i++) {
        const F = normalCdf(x[i]!);
        d = Math.max(d, F - i / n, (i + 1) / n - F);
      }
      expect(Math.sqrt(n) * d).toBeLessThan(1.95);
      // χ² of |z| in 80 bins of width 0.05 up to 4 (and one beyond) catches a density off by a fraction of
      // a percent in narrow places, the ziggurat's wedges, which KS misses: 125 is the p = 0.001 point for 80
      // degrees of freedom.
      const counts = new Float64Array(81);
      for (const v of x) counts[Math.min(80, Math.floor(Math.abs(v) / 0.05))]!++;
      const mass = (b: number) => 2 * ((b === 80 ? 1 : normalCdf((b + 1) * 0.05)) - normalCdf(b * 0.05));
      const chi2 = counts.reduce((a, c, b) => a + (c - mass(b) * n) ** 2 / (mass(b) * n), 0);
      expect(chi2).toBeLessThan(125);
      const expected = 2 * (1 - normalCdf(3.6541528853610088)) * n;
      const beyond = x.filter((v) => Math.abs(v) > 3.6541528853610088);
      expect(Math.abs(beyond.length - expected)).toBeLessThan(4 * Math.sqrt(expected));
      // The tail's shape: E[|z| − r | |z| > r] = φ(r)/Q(r) − r ≈ 0.247, its spread ≈ 0.23; allow 5 standard errors.
      const r = 3.6541528853610088;
      const excess = beyond.reduce((a, v) => a + Math.abs(v) - r, 0) / beyond.length;
      const want = Math.exp((-r * r) / 2) / Math.sqrt(2 * Math.PI) / (1 - normalCdf(r)) - r;
      expect(Math.abs(excess - want)).toBeLessThan(5 * (0.23 / Math.sqrt(beyond.length)));
    },
  );

  test('permute is a keyed bijection of [0, n)', () => {
    for (const n of [1, 2, 3, 5, 32, 33, 1000, 1024, 1025, 65_537]) {
      for (const key of [0, 7, 0xdeadbeef]) {
        const seen = new Uint8Array(n);
        for (let x = 0; x < n; x++) seen[permute(x, n, key)]++;
        expect(seen.every((c) => c === 1)).toBe(true);
      }
    }
    const order = (key: number) => Array.from({ length: 32 }, (_, x) => permute(x, 32, key));
    expect(order(1)).not.toEqual(order(2));
    expect(order(1)).not.toEqual(Array.from({ length: 32 }, (_, x) => x));
  });
});

/** Φ from the Numerical Recipes erfc (relative error < 1.2e-7 everywhere). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

describe('noise versions', () => {
  test('a run that drew another version of its noise is refused; unversioned runs drew version 1', () => {
    expect(NOISE_VERSIONS).toEqual({ ziggurat: 1, exact: 1, table: 2 });
    expect(() => checkNoiseVersion('exact', undefined, 'spec.json')).not.toThrow();
    expect(() => checkNoiseVersion('table', 2, 'spec.json')).not.toThrow();
    expect(() => checkNoiseVersion('table', undefined, 'run/spec.json')).toThrow(
      'run/spec.json: the run drew table noise version 1, this zo draws version 2',
    );
  });
});
