import path from 'node:path';
import type { LoadedModel } from '../models/load.js';
import { loadModel } from '../models/load.js';
import { OrtExecutor, type Device } from '../engine/ort.js';
import { zooModelDir } from '../models/zoo.js';
import { batchOptions, encodeSplit } from '../tasks/problem.js';
import { scoreTask, taskLoss } from '../tasks/scoring.js';
import { taskNamed } from '../../datasets/registry.js';

/** One task type's evaluation speed: the loss alone, and the whole score (loss + candidates or generation). */
export interface EvalBenchRow {
  task: string;
  type: string;
  metric: string;
  examples: number;
  /** Examples per second of `taskLoss` (what the dev loss in a run costs). */
  lossPerSecond: number;
  /** Examples per second of `scoreTask` (what zero-shot, dev and test scores cost; it includes the loss). */
  scorePerSecond: number;
  score: number;
}

export interface EvalBench {
  model: string;
  params: number;
  threads: number;
  rows: EvalBenchRow[];
  seconds: number;
}

export interface EvalBenchOptions {
  /** The ort executor's device (default cpu). */
  device?: Device;
  threads?: number;
  /** Model folder (default tiny-llama-s) and tasks (default one per task type of the tiny suite). */
  modelDir?: string;
  tasks?: string[];
  /** Dev examples per task (default 100: every split of the tiny suite has that many). */
  examples?: number;
  onProgress?: (msg: string) => void;
}

/** One of each: a classification task, a multiple-choice task with the LM loss, a generation task. */
export const EVAL_BENCH_TASKS = ['tiny-sentiment', 'tiny-copa', 'tiny-squad'];

/** Seconds of `f` over a warm run: the first call compiles the graphs each shape needs, and is not timed. */
async function timed<T>(f: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  await f();
  const t0 = performance.now();
  const value = await f();
  return { seconds: (performance.now() - t0) / 1000, value };
}

async function benchTask(model: LoadedModel, exec: OrtExecutor, name: string, examples: number): Promise<EvalBenchRow> {
  const task = taskNamed(name);
  const splits = await task.load({ trainSetSeed: 0 });
  const o = batchOptions(model, 2048);
  const encoded = encodeSplit(task, model, splits.dev.slice(0, examples), 'dev', o.maxLen);
  const loss = await timed(() => taskLoss(exec, task, encoded, o));
  const score = await timed(() => scoreTask(exec, task, model.tokenizer, encoded, o));
  return {
    task: name,
    type: task.type,
    metric: task.metric,
    examples: encoded.length,
    lossPerSecond: encoded.length / loss.seconds,
    scorePerSecond: encoded.length / score.seconds,
    score: score.value.score,
  };
}

/**
 * Evaluation throughput per task type on one model (zero-shot, dev and test evaluation dominate short
 * runs): examples per second of the dev loss and of the full score, each timed on a second pass so
 * that graph compilation is left out.
 */
export async function benchEvaluate(opts: EvalBenchOptions = {}): Promise<EvalBench> {
  const t0 = performance.now();
  const modelDir = opts.modelDir ?? zooModelDir('tiny-llama-s');
  const model = loadModel(modelDir);
  const exec = new OrtExecutor(model, { threads: opts.threads, device: opts.device });
  const rows: EvalBenchRow[] = [];
  try {
    for (const name of opts.tasks ?? EVAL_BENCH_TASKS) {
      opts.onProgress?.(`  eval: ${name}`);
      rows.push(await benchTask(model, exec, name, opts.examples ?? 100));
    }
  } finally {
    await exec.dispose();
  }
  return {
    model: path.basename(modelDir),
    params: model.params.size,
    threads: exec.threads,
    rows,
    seconds: (performance.now() - t0) / 1000,
  };
}
