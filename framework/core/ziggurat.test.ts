import { fillGaussianZiggurat, keyOf } from './rng.js';
import { fillZiggurat, zigguratInWasm } from './ziggurat.js';

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('the WebAssembly ziggurat', () => {
  test('runs in WebAssembly on this Node (SIMD is there since Node 16)', () => {
    expect(zigguratInWasm).toBe(true);
  });

  // Sizes around the 4-lane loop and the 65,536-counter chunks, offsets that wrap 2^32, and a million
  // values: about 15,000 of them take the rare path, tail included, through JS.
  test.each([
    [1, 0],
    [3, 5],
    [4, 0],
    [7, 1],
    [65_535, 7],
    [65_536, 0],
    [65_537, 3],
    [200_003, 2 ** 32 - 6],
    [1 << 20, 123_456_789],
  ])('%i values from counter %i are the JS generator’s, bit for bit', (n, offset) => {
    const key = keyOf(5, n);
    expect(sameBits(fillZiggurat(new Float32Array(n), key, offset), fillGaussianZiggurat(new Float32Array(n), key, offset))).toBe(true);
  });

  test('fills a view in place and returns it', () => {
    const buf = new Float32Array(100).fill(9);
    const view = buf.subarray(10, 90);
    expect(fillZiggurat(view, 3)).toBe(view);
    expect(sameBits(view, fillGaussianZiggurat(new Float32Array(80), 3))).toBe(true);
    expect([buf[9], buf[90]]).toEqual([9, 9]);
  });
});
