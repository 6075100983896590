import { axpyInWasm, subtractScaled, subtractScaledInJs, subtractScaledSums } from './axpy.js';
import { fillGaussian } from './rng.js';

/** θ ~ N(0, 0.02²) with the awkward values mixed in: ±0, subnormals, near the float32 limit, ±∞. */
function theta(n: number, key: number): Float32Array {
  const t = fillGaussian(new Float32Array(n), key).map((v) => v * 0.02);
  const odd = [0, -0, 1e-45, -3e-39, 3.4e38, -3.4e38, Infinity, -Infinity, 1, -1];
  for (let i = 0; i < n; i += 97) t[i] = odd[(i / 97) % odd.length]!;
  return t;
}

/** Equal bit for bit, any NaN equal to any NaN (WebAssembly may not keep a NaN's payload). */
function sameBits(a: Float32Array, b: Float32Array): number {
  const [ua, ub] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) differ++;
  return differ;
}

test('the update runs in WebAssembly here (node 20 has SIMD)', () => {
  expect(axpyInWasm).toBe(true);
});

// Lengths around the group of four and the 16384-element chunk; scales from MeZO's η·g to ones that overflow.
const lengths = [0, 1, 3, 4, 7, 16384, 16387, 40000];
const scales = [1.2345e-6, -7.5e-3, 0, -0, 3.1, 1e36];

test.each(lengths)('θ − c·z equals the JS loop bit for bit (n = %i)', (n) => {
  for (const [j, c] of scales.entries()) {
    const z = fillGaussian(new Float32Array(n), 1000 + j);
    if (n > 5) z[5] = NaN;
    const [ref, got] = [theta(n, j), theta(n, j)];
    subtractScaledInJs.sub(ref, c, z);
    subtractScaled(got, c, z);
    expect(sameBits(got, ref)).toBe(0);
  }
});

test.each(lengths)('with Σθ and Σθ², θ and both sums equal the JS loop bit for bit (n = %i)', (n) => {
  for (const [j, c] of scales.entries()) {
    const z = fillGaussian(new Float32Array(n), 2000 + j);
    // Finite θ: an ∞ would make every sum after it ∞ and hide the order of the additions.
    const finite = (t: Float32Array) => t.map((v) => (Number.isFinite(v) && Math.abs(v) < 1e30 ? v : 0));
    const [ref, got] = [finite(theta(n, j)), finite(theta(n, j))];
    const want = subtractScaledInJs.subSums(ref, c, z);
    const sums = subtractScaledSums(got, c, z);
    expect(sameBits(got, ref)).toBe(0);
    expect(sums).toEqual(want);
  }
});

test('θ and z of different lengths are refused', () => {
  expect(() => subtractScaled(new Float32Array(4), 1, new Float32Array(3))).toThrow(/4 elements and z 3/);
});
