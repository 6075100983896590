import type { CommandModule } from 'yargs';
import { lmBatch } from '../engine/batch.js';
import { ZoError } from '../core/errors.js';
import { loadModel } from '../models/load.js';
import { executorOption, jsonOption, makeExecutor, printJson, threadsOption, type ExecutorName } from './common.js';

interface Args {
  model: string;
  text: string;
  executor: ExecutorName;
  json: boolean;
  threads?: number;
}

export interface TopToken {
  id: number;
  token: string;
  prob: number;
}

/** The k most likely ids of one row of logits, with softmax probabilities. */
export function topK(logits: Float32Array, k: number): { id: number; prob: number }[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let z = 0;
  for (const v of logits) z += Math.exp(v - max);
  const ids = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!).slice(0, k);
  return ids.map((id) => ({ id, prob: Math.exp(logits[id]! - max) / z }));
}

export const forwardCommand: CommandModule<object, Args> = {
  command: 'forward',
  describe: 'tokenize a text, print its ids, mean next-token loss and the top-5 next tokens',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'a Hugging Face model folder' })
      .option('text', { type: 'string', demandOption: true, describe: 'the text to score' })
      .option('executor', executorOption)
      .option('threads', threadsOption)
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    const model = loadModel(argv.model);
    const ids = model.tokenizer.encode(argv.text);
    if (ids.length < 2) throw new ZoError(`--text: "${argv.text}" is ${ids.length} token(s); the loss needs at least 2`);
    const exec = await makeExecutor(model, argv.executor, argv.threads);
    try {
      const batch = lmBatch([ids]);
      const out = await exec.forward(batch, { logits: true });
      const V = model.config.vocabSize;
      const last = out.logits!.subarray((ids.length - 1) * V, ids.length * V);
      const top5: TopToken[] = topK(last, 5).map((t) => ({ ...t, token: model.tokenizer.tokenText(t.id) }));
      if (argv.json) return printJson({ ids, loss: out.loss, top5 });
      console.log(`model     ${argv.model} (${model.family.name}, ${model.params.size.toLocaleString('en')} parameters)`);
      console.log(`executor  ${exec.describe()}`);
      console.log(`ids       [${ids.join(', ')}]`);
      console.log(`loss      ${out.loss.toFixed(4)} (mean over ${ids.length - 1} next-token predictions)`);
      console.log('top-5 next tokens:');
      for (const t of top5)
        console.log(`  ${String(t.id).padStart(7)}  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${JSON.stringify(t.token)}`);
    } finally {
      await exec.dispose();
    }
  },
};
