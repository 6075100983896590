import type { Executor, Model } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';

export type ExecutorName = 'ort' | 'tfjs';

export const executorOption = {
  choices: ['ort', 'tfjs'] as const,
  default: 'ort' as const,
  describe: 'ort: ONNX Runtime (fast, the ZO hot path); tfjs: eager with autodiff',
};
export const threadsOption = { type: 'number', describe: 'ONNX Runtime intra-op threads (default: all cores)' } as const;
export const jsonOption = { type: 'boolean', default: false, describe: 'print JSON instead of text' } as const;

/** tfjs is imported only when asked for: loading it costs half a second of every CLI start. */
export async function makeExecutor(model: Model, name: ExecutorName, threads?: number): Promise<Executor> {
  if (name === 'ort') return new OrtExecutor(model, { threads });
  const { TfjsExecutor } = await import('../engine/tfjs.js');
  return TfjsExecutor.create(model);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
