/**
 * The machine's matrix-product speed at a forward pass's size: one MatMul [M, K] × [K, N] in ONNX
 * Runtime, M the batch's tokens and K = N chosen so that it does a forward pass's FLOPs. A forward's
 * GFLOP/s over this one's says how close the model's graph runs to what the cores can do on one GEMM
 * of its work (`zo bench --suite step`, issue #11's small-model goal).
 */
import ort from 'onnxruntime-node';
import { OnnxGraph } from '../engine/onnx-graph.js';
import { sessionOptions, type Device } from '../engine/ort.js';
import { timing, type Timing } from './forward.js';

export interface GemmReference {
  m: number;
  k: number;
  n: number;
  /** 2·M·K·N: this GEMM's FLOPs. */
  flops: number;
  ms: Timing;
  gflops: number;
}

/** One GEMM of about `flops` FLOPs over `tokens` rows, timed for at least `minMs` and 10 runs. */
export async function gemmReference(
  flops: number,
  tokens: number,
  threads: number,
  minMs = 1000,
  device: Device = 'cpu',
): Promise<GemmReference> {
  const m = tokens;
  const k = Math.max(1, Math.round(Math.sqrt(flops / (2 * m))));
  const n = k;
  const g = new OnnxGraph();
  g.op('MatMul', [g.input('a', [m, k]), g.input('b', [k, n])], {}, 'c');
  g.output('c', [m, n]);
  // The options of the model's own sessions, so only the graphs differ.
  const session = await ort.InferenceSession.create(g.bytes(), sessionOptions(threads, device));
  const fill = (len: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(i) * 0.1);
  const feeds = { a: new ort.Tensor('float32', fill(m * k), [m, k]), b: new ort.Tensor('float32', fill(k * n), [k, n]) };
  try {
    for (let i = 0; i < 2; i++) await session.run(feeds);
    const samples: number[] = [];
    const end = performance.now() + minMs;
    while (samples.length < 10 || performance.now() < end) {
      const t0 = performance.now();
      await session.run(feeds);
      samples.push(performance.now() - t0);
    }
    const ms = timing(samples);
    const done = 2 * m * k * n;
    return { m, k, n, flops: done, ms, gflops: done / (ms.median / 1000) / 1e9 };
  } finally {
    await session.release();
  }
}
