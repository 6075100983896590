import type { CommandModule } from 'yargs';
import { lmBatch } from '../engine/batch.js';
import { ZoError } from '../core/errors.js';
import { peakRssMb } from '../core/rss.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { RUN_DEFAULTS } from '../runs/spec.js';
import { evalBatches, meanLoss, readTextTokens } from '../tasks/lm-problem.js';
import {
  deviceOption,
  executorOption,
  jsonOption,
  makeExecutor,
  printJson,
  threadsOption,
  wholeNumberFlag,
  type Device,
  type ExecutorName,
} from './common.js';

interface Args {
  model: string;
  text?: string;
  textFile?: string;
  batchSize?: number;
  seqLen?: number;
  executor: ExecutorName;
  json: boolean;
  threads?: number;
  device?: Device;
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
  describe:
    'tokenize a text, print its ids, mean next-token loss and the top-5 next tokens; or, with --text-file, ' +
    "the mean next-token loss of one batch of the file's windows (inference on a training-sized batch)",
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'a Hugging Face model folder' })
      .option('text', { type: 'string', describe: 'the text to score' })
      .option('text-file', {
        type: 'string',
        describe: 'score one batch of a text file instead: --batch-size consecutive windows of --seq-len tokens from its start',
      })
      .option('batch-size', {
        type: 'number',
        coerce: wholeNumberFlag('batch-size', 1),
        describe: `--text-file: windows in the batch (default ${RUN_DEFAULTS.batchSize}, as zo run)`,
      })
      .option('seq-len', {
        type: 'number',
        // A window of one token predicts nothing: its mean loss would be 0/0.
        coerce: wholeNumberFlag('seq-len', 2),
        describe: `--text-file: tokens per window, at most the model's max_position_embeddings (default ${RUN_DEFAULTS.seqLen}, as zo run)`,
      })
      .conflicts('text', 'text-file')
      .option('executor', executorOption)
      .option('threads', threadsOption)
      .option('device', deviceOption)
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (argv.text === undefined && argv.textFile === undefined) throw new ZoError('give --text "..." or --text-file FILE');
    if (argv.textFile === undefined && (argv.batchSize !== undefined || argv.seqLen !== undefined))
      throw new ZoError('--batch-size and --seq-len go with --text-file');
    const model = loadModel(argv.model);
    if (argv.textFile !== undefined) return forwardTextFile(argv, argv.textFile, model);
    const text = argv.text!;
    const ids = model.tokenizer.encode(text);
    if (ids.length < 2) throw new ZoError(`--text: "${text}" is ${ids.length} token(s); the loss needs at least 2`);
    const exec = await makeExecutor(model, argv.executor, argv.threads, argv.device);
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

/**
 * `zo forward --text-file`: one forward pass over the first B windows of S tokens of the file, the
 * windows `zo run --text-file` evaluates its held-out loss on (evalBatches), and the mean next-token
 * loss over them. On the batch shape of a run, this process's peak RSS is zo's inference baseline
 * (`zo bench --suite memory`).
 */
async function forwardTextFile(argv: Args, file: string, model: LoadedModel): Promise<void> {
  const B = argv.batchSize ?? RUN_DEFAULTS.batchSize;
  const S = argv.seqLen ?? RUN_DEFAULTS.seqLen;
  if (S > model.config.maxPositions) throw new ZoError(`--seq-len ${S}: the model has only ${model.config.maxPositions} positions`);
  const tokens = readTextTokens(file, model);
  if (tokens.length < B * S)
    throw new ZoError(
      `${file}: ${tokens.length} tokens; --batch-size ${B} × --seq-len ${S} needs ${B * S}; use a longer text or a smaller batch`,
    );
  const batch = evalBatches({ tokens, seqLen: S, batchSize: B }, 1)[0]!;
  const exec = await makeExecutor(model, argv.executor, argv.threads, argv.device);
  try {
    const loss = await meanLoss(exec, [batch]);
    // Read after the pass, before anything is released: the process's peak so far is its peak.
    const peak = peakRssMb();
    const predictions = B * (S - 1);
    if (argv.json) return printJson({ loss, batch: B, seqLen: S, tokens: tokens.length, predictions, peakRssMb: peak });
    console.log(`model     ${argv.model} (${model.family.name}, ${model.params.size.toLocaleString('en')} parameters)`);
    console.log(`executor  ${exec.describe()}`);
    console.log(`text      ${file} (${tokens.length.toLocaleString('en')} tokens)`);
    console.log(`batch     ${B} consecutive windows × ${S} tokens from the start (${B * S} tokens)`);
    console.log(`loss      ${loss.toFixed(4)} (mean over ${predictions} next-token predictions)`);
    console.log(`peak RSS  ${peak} MB`);
  } finally {
    await exec.dispose();
  }
}
