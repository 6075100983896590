import type { BaseConfig } from './model.js';
import type { Batch } from './batch.js';
import type { Model } from './executor.js';
import { OrtExecutor } from './ort.js';
import { TfjsExecutor } from './tfjs.js';

export interface ParityResult {
  family: string;
  maxAbsLogitDiff: number;
  lossDiff: number;
  ortLoss: number;
  tfjsLoss: number;
}

/** Runs one batch through both executors and compares their logits and losses. */
export async function checkParity<C extends BaseConfig>(model: Model<C>, batch: Batch, threads?: number): Promise<ParityResult> {
  const ortExec = new OrtExecutor(model, { threads });
  const tfExec = await TfjsExecutor.create(model);
  try {
    const a = await ortExec.forward(batch, { logits: true });
    const b = await tfExec.forward(batch, { logits: true });
    let maxAbsLogitDiff = 0;
    for (let i = 0; i < a.logits!.length; i++) maxAbsLogitDiff = Math.max(maxAbsLogitDiff, Math.abs(a.logits![i]! - b.logits![i]!));
    return { family: model.family.name, maxAbsLogitDiff, lossDiff: Math.abs(a.loss - b.loss), ortLoss: a.loss, tfjsLoss: b.loss };
  } finally {
    await ortExec.dispose();
    await tfExec.dispose();
  }
}
