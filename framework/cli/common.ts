import { ZoError } from '../core/errors.js';
import { createExecutor, type ExecutorName } from '../engine/create.js';
import type { Executor, Model } from '../engine/executor.js';

export type { ExecutorName } from '../engine/create.js';

export const executorOption = {
  choices: ['ort', 'tfjs'] as const,
  default: 'ort' as const,
  describe: 'ort: ONNX Runtime (fast, the ZO hot path); tfjs: eager with autodiff',
};
/** A whole-number flag in [min, max], checked where yargs parses it: `--threads 0` or `abc` is one line. */
export function wholeNumberFlag(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const n = Array.isArray(v) ? v.at(-1) : v;
    if (typeof n !== 'number' || Number.isNaN(n)) throw new ZoError(`--${flag}: expected a number`);
    if (!Number.isInteger(n) || n < min || n > max) throw new ZoError(`--${flag} ${n}: must be a whole number in [${min}, ${max}]`);
    return n;
  };
}

export const threadsOption = {
  type: 'number',
  describe: 'ONNX Runtime intra-op threads (default: all cores)',
  coerce: wholeNumberFlag('threads', 1, 1024),
} as const;
export const jsonOption = { type: 'boolean', default: false, describe: 'print JSON instead of text' } as const;

export function makeExecutor(model: Model, executor: ExecutorName, threads?: number): Promise<Executor> {
  return createExecutor(model, { executor, threads });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
