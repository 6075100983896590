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
