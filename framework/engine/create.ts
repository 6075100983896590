import type { Executor } from './executor.js';
import type { Model } from './model.js';
import { OrtExecutor, type Device } from './ort.js';

export type ExecutorName = 'ort' | 'tfjs';

export interface ExecutorOptions {
  /** ort (ONNX Runtime, the ZO hot path; the default) or tfjs (eager, with autodiff). */
  executor?: ExecutorName;
  /** ONNX Runtime intra-op threads (default: all cores). */
  threads?: number;
  /** ort: cpu (default) or cuda (its CUDA provider must be installed). tfjs uses tfjs-node-gpu when present. */
  device?: Device;
}

/** An executor for `model`. tfjs is imported only when asked for: loading it costs half a second. */
export async function createExecutor(model: Model, opts: ExecutorOptions = {}): Promise<Executor> {
  if ((opts.executor ?? 'ort') === 'ort') return new OrtExecutor(model, { threads: opts.threads, device: opts.device });
  const { TfjsExecutor } = await import('./tfjs.js');
  return TfjsExecutor.create(model);
}
