import * as tf from '@tensorflow/tfjs';

/**
 * What tfjs-backend-wasm lacks or does slowly, patched once when the wasm backend is chosen: the
 * gradient of every embedding lookup, and fast transposed matmuls.
 */
export function registerWasmKernels(): void {
  registerSegmentSum();
  useFastWasmMatMul();
}

/**
 * tfjs-backend-wasm has no UnsortedSegmentSum kernel, and gather's gradient (every embedding lookup)
 * needs it. A plain JS loop over the wasm heap is exact and cheap next to the matmuls.
 */
function registerSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const b = backend as unknown as {
        readSync(id: object): ArrayLike<number>;
        makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
        typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
      };
      const xs = b.readSync(x.dataId);
      const ids = b.readSync(segmentIds.dataId);
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, c) => a * c, 1);
      const out = b.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
      const o = b.typedArrayFromHeap(out);
      o.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const seg = ids[i]!;
        if (seg < 0 || seg >= numSegments) continue;
        for (let j = 0; j < inner; j++) o[seg * inner + j]! += xs[i * inner + j]!;
      }
      return out;
    },
  });
}

const MARK = Symbol.for('zo.fastWasmMatMul');

/**
 * tfjs-backend-wasm runs BatchMatMul through XNNPACK only when neither operand is transposed; with
 * transposeA/transposeB (every `linear` on a torch [out, in] weight, and every weight gradient) it
 * falls back to a naive loop ~10× slower. Transposing the operand first (a cheap, memory-bound
 * kernel) and calling the original kernel untransposed made a d=128, 4-layer pretraining step ~4×
 * faster here. The values are the same products, summed by XNNPACK instead of the loop (≈1e-7 apart).
 * Process-wide and idempotent; a no-op unless the wasm backend is registered.
 */
function useFastWasmMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose || (original as unknown as Record<symbol, boolean>)[MARK]) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  const config: tf.KernelConfig = {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    // The original binds its wasm function when the backend initialises: keep that.
    setupFunc: original.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      let { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const temps: tf.TensorInfo[] = [];
      const swapLast = (x: tf.TensorInfo): tf.TensorInfo => {
        const r = x.shape.length;
        const perm = x.shape.map((_, i) => (i === r - 1 ? r - 2 : i === r - 2 ? r - 1 : i));
        const t = transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
        temps.push(t);
        return t;
      };
      if (transposeA) a = swapLast(a);
      if (transposeB) b = swapLast(b);
      const out = original.kernelFunc({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      for (const t of temps) (backend as unknown as { disposeData(id: object): void }).disposeData(t.dataId);
      return out;
    },
  };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  tf.registerKernel(config);
}
