/**
 * Counter-based randomness: every value is a pure function of (key, index), so any block's noise can
 * be regenerated at any time without a shared stream to keep in step (the LOZO #3 class of bug).
 */

// Module-scope copies: under jest's vm realm every `Math.x` lookup goes through an interceptor on the
// global and costs ~0.3 µs, which turned a 40 ms noise fill into 1.6 s.
const { imul, clz32, log, sqrt, cos, sin, PI, floor } = Math;

/** Chris Wellons' triple32: a bijective 32-bit mixer with very low bias. */
export function mix32(x: number): number {
  x ^= x >>> 17;
  x = imul(x, 0xed5ad4bb);
  x ^= x >>> 11;
  x = imul(x, 0xac4c1b51);
  x ^= x >>> 15;
  x = imul(x, 0x31848bab);
  x ^= x >>> 14;
  return x >>> 0;
}

/** Folds a key of small integers (seed, step, probe, block, …) into one 32-bit stream id. */
export function keyOf(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // Two words per part so keys up to 2^53 stay distinct.
    h = mix32(h ^ (p >>> 0));
    h = mix32(h ^ floor(p / 0x100000000));
  }
  return h;
}

const TWO_PI = 2 * PI;
const INV_2_32 = 1 / 0x100000000;

/**
 * Fills `out` with N(0, 1) values for stream `key`, starting at counter `offset`: value c comes from
 * the Box–Muller pair at counters (c − c mod 2, +1), so it depends only on (key, c), never on how
 * the stream was chunked.
 */
export function fillGaussian(out: Float32Array, key: number, offset = 0): Float32Array {
  const k1 = mix32(key ^ 0x85ebca6b);
  const k2 = mix32(key ^ 0xc2b2ae35);
  const n = out.length;
  for (let i = 0; i < n;) {
    const c = offset + i;
    const even = c - (c & 1);
    const r = sqrt(-2 * log((mix32(k1 + even) + 1) * INV_2_32)); // +1: log never sees 0
    const t = TWO_PI * mix32(k2 + even) * INV_2_32;
    if (c & 1) {
      out[i++] = r * sin(t);
      continue;
    }
    out[i++] = r * cos(t);
    if (i < n) out[i++] = r * sin(t);
  }
  return out;
}

/** A uniform value in [0, 1) at (key, i). */
export function uniformAt(key: number, i: number): number {
  return mix32(mix32(key ^ 0x27d4eb2f) + i) * INV_2_32;
}

/**
 * A keyed bijection of [0, n): distinct x always map to distinct values, which is what table noise's
 * no-overlap and no-repeat guarantees rest on. Three keyed add / xorshift / odd-multiply rounds permute
 * [0, 2^k) for the smallest 2^k ≥ n, and cycle-walking (re-applying them until the value falls below n)
 * restricts that to [0, n); n > 2^(k−1) makes it take fewer than two walks on average.
 */
export function permute(x: number, n: number, key: number): number {
  if (n <= 1) return 0;
  if (n > 0x100000000) throw new RangeError(`permute: n = ${n} is over 2^32`);
  const bits = 32 - clz32(n - 1);
  const mask = bits === 32 ? 0xffffffff : 2 ** bits - 1;
  const half = (bits + 1) >>> 1;
  const k1 = mix32(key ^ 0x68e31da4);
  const k2 = mix32(key ^ 0xb5297a4d);
  const k3 = mix32(key ^ 0x1b56c4e9);
  do {
    x = ((x + k1) & mask) >>> 0;
    x = (x ^ (x >>> half)) >>> 0;
    x = (imul(x, 0x2c1b3c6d) & mask) >>> 0;
    x = ((x + k2) & mask) >>> 0;
    x = (x ^ (x >>> half)) >>> 0;
    x = (imul(x, 0x297a2d39) & mask) >>> 0;
    x = ((x + k3) & mask) >>> 0;
    x = (x ^ (x >>> half)) >>> 0;
  } while (x >= n);
  return x;
}

/** 0..n−1 shuffled by Fisher–Yates on the counter-based uniforms of `key`: any shuffle follows from its key alone. */
export function keyedPermutation(n: number, key: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = floor(uniformAt(key, i) * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/**
 * Marsaglia and Tsang's ziggurat for the half-normal, 256 layers (r and v from their paper): layer i's
 * fast-path bound k[i] (a 23-bit magnitude below it is inside the layer's rectangle), its width per
 * unit w[i] (x = u·w[i]), and f[i] = exp(−x_i²/2) for the wedge test.
 */
const ZIG = (() => {
  const layers = 256;
  const M = 2 ** 23;
  const r = 3.6541528853610088;
  const v = 0.00492867323399;
  const k = new Float64Array(layers);
  const w = new Float64Array(layers);
  const f = new Float64Array(layers);
  let dn = r;
  let tn = dn;
  const q = v / Math.exp(-0.5 * dn * dn);
  k[0] = (dn / q) * M;
  k[1] = 0;
  w[0] = q / M;
  w[layers - 1] = dn / M;
  f[0] = 1;
  f[layers - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = layers - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(v / dn + Math.exp(-0.5 * dn * dn)));
    k[i + 1] = (dn / tn) * M;
    tn = dn;
    f[i] = Math.exp(-0.5 * dn * dn);
    w[i] = dn / M;
  }
  // Indexed by the hash's low 9 bits (8 for the layer, 1 for the sign), so the fast path is one lookup.
  const signedW = Float64Array.from({ length: 2 * layers }, (_, j) => (j & layers ? -1 : 1) * w[j & (layers - 1)]!);
  return { layers, r, k: Int32Array.from(k, (x) => floor(x)), w, f, signedW };
})();
const { exp } = Math;

const { k: ZK, w: ZW, f: ZF, r: ZR } = ZIG;

/** The ziggurat's fast-path tables, for its WebAssembly port (ziggurat.ts): bounds K[256] and signed widths W[512]. */
export const ZIGGURAT_TABLES: { readonly k: Int32Array; readonly signedW: Float64Array } = ZIG;

/** The ziggurat's two streams of `key`: k1 hashes each counter, k2 keys the rare path's uniforms. */
export const zigguratKeys = (key: number): [number, number] => [mix32(key ^ 0x9b05688c), mix32(key ^ 0x1f83d9ab)];

/**
 * The rare ziggurat path of counter c (about 1 value in 70): the wedge test, the tail beyond r, and
 * redraws, every uniform keyed by (stream, c, attempt) so the value still depends only on (key, c).
 * Uniforms are (mix32(base + attempt) + 1)·2⁻³² ∈ (0, 1], written out in place: a closure made per
 * call made the whole fill about 1.14× slower (3.3M values, medians of three runs: 17.3 against 15.2 ms).
 */
export function zigguratSlow(h: number, stream: number, c: number): number {
  const sign = h & 256 ? -1 : 1;
  const base = mix32(stream + c);
  let a = 0;
  let i = h & 255;
  let u = h >>> 9;
  for (;;) {
    if (i === 0) {
      // The tail: Marsaglia's exponential-rejection method for x > r.
      let x: number;
      let y: number;
      do {
        x = -log((mix32(base + a++) + 1) * INV_2_32) / ZR;
        y = -log((mix32(base + a++) + 1) * INV_2_32);
      } while (y + y < x * x);
      return sign * (ZR + x);
    }
    const x = u * ZW[i]!;
    if (ZF[i]! + (mix32(base + a++) + 1) * INV_2_32 * (ZF[i - 1]! - ZF[i]!) < exp(-0.5 * x * x)) return sign * x;
    const g = mix32(base + a++);
    i = g & 255;
    u = g >>> 9;
    if (u < ZK[i]!) return sign * u * ZW[i]!;
  }
}

/**
 * Fills `out` with N(0, 1) values for stream `key` from counter `offset`, by the ziggurat: value c is
 * one triple32 hash of (key, c) (8 bits of layer, 1 of sign, 23 of magnitude) and, 69 times in 70, one
 * compare and one multiply; so it depends only on (key, c). About 3.6× faster than `fillGaussian`'s
 * Box–Muller, which spends its time in log, sqrt, cos and sin
 * (and 9× with its fast path in WebAssembly: `fillZiggurat`, ziggurat.ts, the same values).
 */
export function fillGaussianZiggurat(out: Float32Array, key: number, offset = 0): Float32Array {
  const [k1, k2] = zigguratKeys(key);
  const { k, signedW } = ZIG;
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const c = offset + i;
    // mix32(k1 + c) written out: this loop is the default noise's whole cost, and calling mix32 made
    // it 30% slower here (17 against 13 ms for 3.3M values).
    let x = (k1 + c) | 0;
    x ^= x >>> 17;
    x = imul(x, 0xed5ad4bb);
    x ^= x >>> 11;
    x = imul(x, 0xac4c1b51);
    x ^= x >>> 15;
    x = imul(x, 0x31848bab);
    x ^= x >>> 14;
    const u = x >>> 9;
    out[i] = u < k[x & 255]! ? u * signedW[x & 511]! : zigguratSlow(x >>> 0, k2, c);
  }
  return out;
}
