/**
 * The default noise's generator, fast: `fillGaussianZiggurat`'s values, bit for bit, with the fast
 * path in WebAssembly (ziggurat-wat.ts) and the rare one in JS (rng.ts `zigguratSlow`). Where
 * WebAssembly SIMD is missing, the JS generator itself.
 */
import { fillGaussianZiggurat, mix32, ZIGGURAT_TABLES, zigguratKeys, zigguratSlow } from './rng.js';
import { ZIGGURAT_WASM } from './ziggurat-wasm.js';
import { instantiateKernel } from './wasm.js';

/** Counters per call into WebAssembly: a 256 KB work area, and as much again for the rare list. */
const CHUNK = 1 << 16;
const WORK = 8192;
const RARE = WORK + 4 * CHUNK;

function instantiate(): ((out: Float32Array, key: number, offset?: number) => Float32Array) | undefined {
  const kernel = instantiateKernel<{ fill(out: number, n: number, k1: number, offset: number, rare: number): number }>(
    ZIGGURAT_WASM,
    RARE + 4 * CHUNK,
  );
  if (!kernel) return undefined;
  const buffer = kernel.memory.buffer;
  new Int32Array(buffer, 0, 256).set(ZIGGURAT_TABLES.k);
  new Float64Array(buffer, 1024, 512).set(ZIGGURAT_TABLES.signedW);
  const work = new Float32Array(buffer, WORK, CHUNK);
  const rare = new Int32Array(buffer, RARE, CHUNK);
  return (out, key, offset = 0) => {
    const [k1, k2] = zigguratKeys(key);
    for (let start = 0; start < out.length; start += CHUNK) {
      const n = Math.min(CHUNK, out.length - start);
      const from = offset + start;
      const count = kernel.fill(WORK, n, k1, from, RARE);
      for (let r = 0; r < count; r++) {
        const i = rare[r]!;
        work[i] = zigguratSlow(mix32(k1 + from + i), k2, from + i);
      }
      out.set(n === CHUNK ? work : work.subarray(0, n), start);
    }
    return out;
  };
}

/** Fills `out` with N(0, 1) values for stream `key` from counter `offset`: exactly `fillGaussianZiggurat(out, key, offset)`. */
export const fillZiggurat: (out: Float32Array, key: number, offset?: number) => Float32Array = instantiate() ?? fillGaussianZiggurat;

/** Whether `fillZiggurat` runs in WebAssembly here (zo bench says which). */
export const zigguratInWasm = fillZiggurat !== fillGaussianZiggurat;
