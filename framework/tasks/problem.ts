import type { Executor } from '../engine/executor.js';
import { LazyGradients } from '../engine/gradients.js';
import type { LoadedModel } from '../models/load.js';
import type { Problem, StepObjective } from '../core/problem.js';
import { keyedPermutation, keyOf } from '../core/rng.js';
import { encodeExample, trainingBatch, type BatchOptions, type Encoded } from './scoring.js';
import type { Row, Task } from './task.js';

/** Rows per forward pass when evaluating. */
const EVAL_CHUNK = 32;

/** How a model batches task rows: its pad id, and rows no longer than asked nor than its positions. */
export function batchOptions(model: LoadedModel, maxLen: number): BatchOptions {
  return {
    padId: model.tokenizer.padId ?? model.tokenizer.eosId ?? 0,
    chunk: EVAL_CHUNK,
    maxLen: Math.min(maxLen, model.config.maxPositions),
  };
}

/** Tokenizes a split once; bad rows are reported with the split and row number. */
export function encodeSplit(task: Task, model: LoadedModel, rows: readonly Row[], split: string, maxLen: number): Encoded[] {
  return rows.map((row, i) => encodeExample(task, task.render(row), model.tokenizer, maxLen, `${task.name} ${split} row ${i + 1}`));
}

/**
 * A task's training loss as a harness Problem. Step t's batch is examples t·B … t·B+B−1 of an endless
 * sequence of epochs, each a keyed shuffle of the train split (what a shuffling data loader does), so
 * any step's batch follows from (seed, t) alone.
 */
export class TaskProblem implements Problem {
  private epochCache = new Map<number, number[]>();
  private readonly grads: LazyGradients;

  constructor(
    readonly task: Task,
    readonly model: LoadedModel,
    readonly train: readonly Encoded[],
    readonly batchSize: number,
    readonly seed: number,
    readonly exec: Executor,
    readonly batching: BatchOptions,
  ) {
    this.grads = new LazyGradients(model);
  }

  get params() {
    return this.model.params;
  }

  private order(epoch: number): number[] {
    let p = this.epochCache.get(epoch);
    if (!p) {
      p = keyedPermutation(this.train.length, keyOf(this.seed, epoch, 0xe90c));
      this.epochCache.clear();
      this.epochCache.set(epoch, p);
    }
    return p;
  }

  /** The examples of step t's batch. */
  examplesAt(step: number): Encoded[] {
    const n = this.train.length;
    return Array.from({ length: this.batchSize }, (_, j) => {
      const k = step * this.batchSize + j;
      return this.train[this.order(Math.floor(k / n))[k % n]!]!;
    });
  }

  at(step: number): StepObjective {
    const batch = trainingBatch(this.task, this.examplesAt(step), this.batching);
    return {
      loss: async (perturbation) => (await this.exec.forward(batch, { perturbation })).loss,
      lossAndGrads: (perturbation) => this.grads.lossAndGrads(batch, perturbation),
    };
  }

  async dispose(): Promise<void> {
    await this.grads.dispose();
  }
}
