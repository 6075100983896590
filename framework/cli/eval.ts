import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { resolveTask } from '../../datasets/registry.js';
import { evaluate } from '../runs/evaluate.js';
import { splitSizes } from './run.js';
import {
  deviceOption,
  executorOption,
  jsonOption,
  printJson,
  threadsOption,
  wholeNumberFlag,
  type Device,
  type ExecutorName,
} from './common.js';

interface Args {
  model: string;
  task?: string;
  taskFile?: string;
  split: 'dev' | 'test';
  dataDir?: string;
  trainSetSeed: number;
  trainSize?: number;
  devSize?: number;
  testSize?: number;
  maxLen: number;
  limit?: number;
  executor: ExecutorName;
  threads?: number;
  device?: Device;
  adapter?: string;
  json: boolean;
}

export const evalCommand: CommandModule<object, Args> = {
  command: 'eval',
  describe: "zero-shot evaluation of a model on a task's dev or test split",
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'a Hugging Face model folder' })
      .option('task', { type: 'string', describe: 'a task by name (see `zo tasks`)' })
      .option('task-file', { type: 'string', describe: 'a custom task file' })
      .option('split', { choices: ['dev', 'test'] as const, default: 'test' as const })
      .option('data-dir', { type: 'string', describe: "where MeZO tasks' downloaded files are" })
      .option('train-set-seed', { type: 'number', default: 0, coerce: wholeNumberFlag('train-set-seed', 0, 0xffffffff) })
      .option('train-size', {
        type: 'number',
        coerce: wholeNumberFlag('train-size', 0),
        describe: "tasks: train examples (default: the task's; MeZO 1000)",
      })
      .option('dev-size', {
        type: 'number',
        coerce: wholeNumberFlag('dev-size', 0),
        describe: "tasks: dev examples (default: the task's; MeZO 500)",
      })
      .option('test-size', {
        type: 'number',
        coerce: wholeNumberFlag('test-size', 0),
        describe: "tasks: test examples (default: the task's; MeZO 1000)",
      })
      .option('max-len', {
        type: 'number',
        default: 2048,
        coerce: wholeNumberFlag('max-len', 2),
        describe:
          "tokens per example, capped at the model's max_position_embeddings (MeZO's max_length 2048); generation prompts keep 50 tokens of room",
      })
      .option('limit', { type: 'number', coerce: wholeNumberFlag('limit', 1), describe: 'score only the first N examples' })
      .option('executor', executorOption)
      .option('threads', threadsOption)
      .option('device', deviceOption)
      .option('adapter', {
        type: 'string',
        describe: 'a LoRA or prefix adapter folder in Hugging Face PEFT layout (a zo run --peft lora|prefix writes RUNDIR/adapter/)',
      })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (!argv.task === !argv.taskFile) throw new ZoError('give exactly one of --task NAME or --task-file FILE');
    const task = resolveTask(argv.task, argv.taskFile);
    const r = await evaluate(argv.model, task, {
      split: argv.split,
      dataDir: argv.dataDir,
      trainSetSeed: argv.trainSetSeed,
      sizes: splitSizes(argv),
      maxLen: argv.maxLen,
      limit: argv.limit,
      executor: argv.executor,
      threads: argv.threads,
      device: argv.device,
      adapter: argv.adapter,
    });
    const out = { task: r.task, split: r.split, metric: r.metric, score: r.score, loss: r.loss, examples: r.examples };
    if (argv.json) return printJson(out);
    console.log(`${r.task} ${r.split}: ${r.metric} ${(100 * r.score).toFixed(2)} over ${r.examples} examples (loss ${r.loss.toFixed(4)})`);
  },
};
