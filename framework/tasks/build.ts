import { ZoError } from '../core/errors.js';
import type { Executor } from '../engine/executor.js';
import type { LoadedModel } from '../models/load.js';
import { evalBatches, LmProblem, meanLoss, readTextTokens } from './lm-problem.js';
import { batchOptions, encodeSplit, TaskProblem } from './problem.js';
import type { BatchOptions, Encoded } from './scoring.js';
import type { SplitSizes, Task } from './task.js';

export interface TaskProblemOptions {
  model: LoadedModel;
  task: Task;
  exec: Executor;
  batchSize?: number;
  /** Keys the batch order. */
  seed?: number;
  /** MeZO's train_set_seed: which rows form train and dev. */
  trainSetSeed?: number;
  sizes?: Partial<SplitSizes>;
  dataDir?: string;
  /** Tokens per example (default 2048, capped at the model's positions). */
  maxLen?: number;
}

/** A task's training problem, with its splits tokenized once (dev and test for evaluation). */
export async function taskProblem(
  o: TaskProblemOptions,
): Promise<{ problem: TaskProblem; encoded: Record<'train' | 'dev' | 'test', Encoded[]>; batching: BatchOptions }> {
  const { model, task } = o;
  const splits = await task.load({ dataDir: o.dataDir, trainSetSeed: o.trainSetSeed ?? 0, sizes: o.sizes });
  const batching = batchOptions(model, o.maxLen ?? 2048);
  const encoded = {
    train: encodeSplit(task, model, splits.train, 'train', batching.maxLen),
    dev: encodeSplit(task, model, splits.dev, 'dev', batching.maxLen),
    test: encodeSplit(task, model, splits.test, 'test', batching.maxLen),
  };
  for (const [split, rows] of Object.entries(encoded))
    if (rows.length === 0) throw new ZoError(`task ${task.name}: the ${split} split is empty`);
  const problem = new TaskProblem(task, model, encoded.train, o.batchSize ?? 16, o.seed ?? 0, o.exec, batching);
  return { problem, encoded, batching };
}

export interface LmProblemOptions {
  model: LoadedModel;
  textFile: string;
  exec: Executor;
  batchSize?: number;
  seqLen?: number;
  seed?: number;
}

/** The next-token loss of a text file's windows, and its held-out loss over fixed windows. */
export function lmProblem(o: LmProblemOptions): { problem: LmProblem; heldOutLoss: () => Promise<number> } {
  const { model, exec } = o;
  const seqLen = o.seqLen ?? 64;
  const tokens = readTextTokens(o.textFile, model);
  if (seqLen > model.config.maxPositions)
    throw new ZoError(`--seq-len ${seqLen}: the model has only ${model.config.maxPositions} positions`);
  if (seqLen > tokens.length)
    throw new ZoError(`--seq-len ${seqLen}: ${o.textFile} has only ${tokens.length} tokens; use a shorter --seq-len or a longer text`);
  const data = { tokens, seqLen, batchSize: o.batchSize ?? 16 };
  const evalSet = evalBatches(data);
  return { problem: new LmProblem(model, data, o.seed ?? 0, exec), heldOutLoss: () => meanLoss(exec, evalSet) };
}
