import { ZoError } from '../core/errors.js';
import { readAdapterFolder } from './export.js';
import { withPeft } from './peft.js';
import { createExecutor, type ExecutorOptions } from '../engine/create.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { batchOptions, encodeSplit } from '../tasks/problem.js';
import { scoreTask } from '../tasks/scoring.js';
import type { SplitSizes, Task } from '../tasks/task.js';
import { resolveTask } from '../../datasets/registry.js';

export interface EvaluateOptions extends ExecutorOptions {
  split?: 'dev' | 'test';
  /** MeZO's train_set_seed (which rows form dev); test does not depend on it. */
  trainSetSeed?: number;
  sizes?: Partial<SplitSizes>;
  /** Where a MeZO task's downloaded files are. */
  dataDir?: string;
  /** Tokens per example (default 2048, capped at the model's positions). */
  maxLen?: number;
  /** Score only the first N examples. */
  limit?: number;
  /** A PEFT adapter folder (LoRA or prefix) applied to the model: adapter_config.json, adapter_model.safetensors. */
  adapter?: string;
}

export interface Evaluation {
  task: string;
  split: 'dev' | 'test';
  metric: Task['metric'];
  /** Accuracy or F1, in [0, 1]. */
  score: number;
  /** The task's training loss on the same examples. */
  loss: number;
  examples: number;
  /** Option indices, or generated text. */
  predictions: (number | string)[];
}

/** A model with a saved adapter applied: LoRA's W + (α/r)·B·A, or a prefix's slots, in the forward pass. */
export async function withAdapter(model: LoadedModel, dir: string): Promise<LoadedModel> {
  const a = readAdapterFolder(dir, model);
  return (await withPeft(model, { ...a.spec, seed: 0 }, a.saved)).model;
}

/** A model's score on a task split (`zo eval`): a model folder or a loaded model, a task name or Task. */
export async function evaluate(model: LoadedModel | string, task: Task | string, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const base = typeof model === 'string' ? loadModel(model) : model;
  const m = opts.adapter ? await withAdapter(base, opts.adapter) : base;
  const t = typeof task === 'string' ? resolveTask(task) : task;
  const split = opts.split ?? 'test';
  const splits = await t.load({ dataDir: opts.dataDir, trainSetSeed: opts.trainSetSeed ?? 0, sizes: opts.sizes });
  const o = batchOptions(m, opts.maxLen ?? 2048);
  const rows = splits[split].slice(0, opts.limit);
  if (rows.length === 0) throw new ZoError(`task ${t.name}: the ${split} split is empty`);
  const examples = encodeSplit(t, m, rows, split, o.maxLen);
  const exec = await createExecutor(m, opts);
  try {
    const r = await scoreTask(exec, t, m.tokenizer, examples, o);
    return { task: t.name, split, metric: t.metric, score: r.score, loss: r.loss, examples: examples.length, predictions: r.predictions };
  } finally {
    await exec.dispose();
  }
}
