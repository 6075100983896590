import path from 'node:path';
import type { CommandModule } from 'yargs';
import { lmBatch } from '../engine/batch.js';
import type { ParityResult } from '../engine/parity.js';
import { loadModel } from '../models/load.js';
import { fixturesDir, FIXTURE_NAMES } from '../models/fixtures.js';
import { jsonOption, printJson, threadsOption } from './common.js';

/** Texts of different lengths, so the batch has padding and both attention masks matter. */
export const PARITY_TEXTS = [
  'The quick brown fox jumps over the lazy dog, and then it rests in the sun.',
  'Call me Ishmael. Some years ago',
];

export async function parityOf(dir: string, threads?: number): Promise<ParityResult> {
  const { checkParity } = await import('../engine/parity.js');
  const model = loadModel(dir);
  const seqs = PARITY_TEXTS.map((t) => model.tokenizer.encode(t));
  return checkParity(model, lmBatch(seqs, model.tokenizer.padId ?? 0), threads);
}

export const parityCommand: CommandModule<object, { model?: string; json: boolean; threads?: number }> = {
  command: 'parity',
  describe: 'run the ort and tfjs executors on the same batch and compare logits and loss',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'a Hugging Face model folder (default: the four fixture families)' })
      .option('threads', threadsOption)
      .option('json', jsonOption),
  handler: async (argv) => {
    const dirs = argv.model ? [argv.model] : FIXTURE_NAMES.map((n) => path.join(fixturesDir(), n));
    const results = [];
    for (const dir of dirs) {
      const r = await parityOf(dir, argv.threads);
      results.push({ family: r.family, maxAbsLogitDiff: r.maxAbsLogitDiff, lossDiff: r.lossDiff });
    }
    if (argv.json) return printJson(results);
    console.log('family   max |Δlogit|   |Δloss|');
    for (const r of results)
      console.log(`${r.family.padEnd(8)} ${r.maxAbsLogitDiff.toExponential(2).padStart(11)}   ${r.lossDiff.toExponential(2)}`);
  },
};
