import fs from 'node:fs';
import { ZoError } from '../core/errors.js';
import { lmBatch, type Batch } from '../engine/batch.js';
import type { Executor } from '../engine/executor.js';
import { LazyGradients } from '../engine/gradients.js';
import type { LoadedModel } from '../models/load.js';
import type { Problem, StepObjective } from '../core/problem.js';
import { keyOf, uniformAt } from '../core/rng.js';

/** Windows of a token stream: the language-model objective on a text file. */
export interface LmData {
  tokens: number[];
  seqLen: number;
  batchSize: number;
}

export function readTextTokens(file: string, model: LoadedModel): number[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ZoError(`${file}: cannot read the text file (${(e as NodeJS.ErrnoException).code})`);
  }
  const tokens = model.tokenizer.encode(text, { addSpecialTokens: false });
  if (tokens.length < 2) throw new ZoError(`${file}: ${tokens.length} token(s); a language-model objective needs at least 2`);
  return tokens;
}

/** Row r of step t's batch starts at a keyed offset: any step's batch is known without replaying the rest. */
export function trainBatch(d: LmData, seed: number, step: number): Batch {
  const S = Math.min(d.seqLen, d.tokens.length);
  const span = d.tokens.length - S;
  const key = keyOf(seed, step, 0xba7c);
  const rows = Array.from({ length: d.batchSize }, (_, r) => {
    const off = Math.floor(uniformAt(key, r) * (span + 1));
    return d.tokens.slice(off, off + S);
  });
  return lmBatch(rows);
}

/** Fixed evaluation batches: non-overlapping windows tiling the text (at most `maxBatches` batches). */
export function evalBatches(d: LmData, maxBatches = 8): Batch[] {
  const S = Math.min(d.seqLen, d.tokens.length);
  const windows: number[][] = [];
  for (let off = 0; off + S <= d.tokens.length && windows.length < maxBatches * d.batchSize; off += S)
    windows.push(d.tokens.slice(off, off + S));
  const batches: Batch[] = [];
  for (let i = 0; i < windows.length; i += d.batchSize) batches.push(lmBatch(windows.slice(i, i + d.batchSize)));
  return batches;
}

/** Mean next-token loss over batches, weighted by predicted tokens. */
export async function meanLoss(exec: Executor, batches: readonly Batch[]): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const r = await exec.forward(b);
    for (let i = 0; i < b.B; i++) {
      sum -= r.seqLogProb[i]!;
      count += r.seqCount[i]!;
    }
  }
  return sum / count;
}

/**
 * The LM objective as a harness Problem: ZO losses through `exec` (perturbation in the forward pass),
 * gradients through tfjs autodiff for first-order optimizers (created on first use).
 */
export class LmProblem implements Problem {
  private readonly grads: LazyGradients;

  constructor(
    readonly model: LoadedModel,
    readonly data: LmData,
    readonly seed: number,
    readonly exec: Executor,
  ) {
    this.grads = new LazyGradients(model);
  }

  get params() {
    return this.model.params;
  }

  at(step: number): StepObjective {
    const batch = trainBatch(this.data, this.seed, step);
    return {
      loss: async (perturbation) => (await this.exec.forward(batch, { perturbation })).loss,
      lossAndGrads: (perturbation) => this.grads.lossAndGrads(batch, perturbation),
    };
  }

  async dispose(): Promise<void> {
    await this.grads.dispose();
  }
}
