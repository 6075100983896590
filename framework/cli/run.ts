import path from 'node:path';
import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ZoError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { optimizerNamed } from '../optimizers/registry.js';
import { runZo, type RunSpec } from '../zo/run.js';
import { NOISE_KINDS, type NoiseKind } from '../zo/noise.js';
import { SCHEDULES, type ScheduleKind } from '../zo/harness.js';
import { executorOption, jsonOption, printJson, threadsOption, type ExecutorName } from './common.js';

interface Args {
  model?: string;
  textFile?: string;
  task?: string;
  taskFile?: string;
  dataDir?: string;
  trainSetSeed: number;
  trainSize?: number;
  devSize?: number;
  testSize?: number;
  evalEvery: number;
  maxLen: number;
  optimizer: string;
  lr?: number;
  eps?: number;
  weightDecay?: number;
  hp: string[];
  steps?: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  noise: NoiseKind;
  schedule: ScheduleKind;
  executor: ExecutorName;
  threads?: number;
  saveEvery: number;
  logEvery: number;
  resume: boolean;
  out?: string;
  json: boolean;
}

/** `--hp key=value`: the value is read as JSON when it parses (numbers, booleans), else as a string. */
export function parseHp(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new ZoError(`--hp ${p}: expected key=value, e.g. --hp q=2`);
    const raw = p.slice(eq + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[p.slice(0, eq)] = v;
  }
  return out;
}

function defaultOut(optimizer: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `${optimizer}-${stamp}`);
}

/** --train-size/--dev-size/--test-size, where given. */
export function splitSizes(a: { trainSize?: number; devSize?: number; testSize?: number }) {
  const out: { train?: number; dev?: number; test?: number } = {};
  for (const [k, v] of [['train', a.trainSize], ['dev', a.devSize], ['test', a.testSize]] as const) {
    if (v === undefined) continue;
    if (!(Number.isInteger(v) && v >= 0)) throw new ZoError(`--${k}-size ${v}: must be a non-negative integer`);
    out[k] = v;
  }
  return out;
}

/** `zo run` with no model and no task: the quick start (hyperparameters tuned for it, see README). */
export const QUICK_START = { model: 'models/tiny-llama-s', task: 'tiny-sentiment', lr: 1e-4, steps: 2000 };

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'fine-tune a model with a ZO (or first-order) optimizer on a task or on the LM loss of a text file',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'a Hugging Face model folder' })
      .option('task', { type: 'string', describe: 'a task by name (see `zo tasks`)' })
      .option('task-file', { type: 'string', describe: 'a custom task: YAML or JSON next to JSONL data (see README)' })
      .option('text-file', { type: 'string', describe: 'train on the next-token loss of this text instead of a task' })
      .option('data-dir', { type: 'string', describe: "where MeZO tasks' downloaded files are (default $ZO_DATA or ./data)" })
      .option('train-set-seed', { type: 'number', default: 0, describe: "MeZO's train_set_seed: which examples form train and dev" })
      .option('eval-every', { type: 'number', describe: 'tasks: dev evaluation every N steps, keeping the best-dev-loss weights (default steps/5)' })
      .option('train-size', { type: 'number', describe: "tasks: train examples (default: the task's; MeZO 1000)" })
      .option('dev-size', { type: 'number', describe: "tasks: dev examples (default: the task's; MeZO 500)" })
      .option('test-size', { type: 'number', describe: "tasks: test examples (default: the task's; MeZO 1000)" })
      .option('max-len', { type: 'number', default: 2048, describe: "tasks: tokens per example, capped at the model's max_position_embeddings (MeZO's max_length 2048); prompts are truncated from the left, generation prompts to max-len − 50 so that 50 new tokens fit" })
      .option('optimizer', { type: 'string', default: 'mezo', describe: 'see `zo optimizers`' })
      .option('lr', { type: 'number', describe: "learning rate η (default: the optimizer's)" })
      .option('eps', { type: 'number', describe: "perturbation scale ε (default: the optimizer's)" })
      .option('weight-decay', { type: 'number', describe: 'λ (default 0)' })
      .option('hp', { type: 'string', array: true, default: [], describe: 'other hyperparameters as key=value, e.g. --hp q=2 --hp momentum=0.9' })
      .option('steps', { type: 'number', describe: 'optimizer steps (default 1000; with --resume, extends or keeps the run)' })
      .option('batch-size', { type: 'number', default: 16 })
      .option('seq-len', { type: 'number', default: 64, describe: 'tokens per training window' })
      .option('seed', { type: 'number', default: 0, describe: 'keys the batches and every random draw' })
      .option('noise', { choices: NOISE_KINDS, default: 'exact' as NoiseKind, describe: 'exact: counter-based, regenerated; table: views into a pre-generated N(0,1) table' })
      .option('schedule', { choices: SCHEDULES, default: 'constant' as ScheduleKind, describe: 'learning-rate schedule' })
      .option('executor', executorOption)
      .option('threads', threadsOption)
      .option('save-every', { type: 'number', default: 0, describe: 'checkpoint every N steps (always at the end)' })
      .option('log-every', { type: 'number', default: 10, describe: 'a metrics.jsonl line every N steps' })
      .option('resume', { type: 'boolean', default: false, describe: "continue the run in --out from its checkpoint, with its spec.json" })
      .option('out', { type: 'string', describe: 'run folder (default runs/<optimizer>-<time>)' })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    const positive = (name: string, v: number | undefined) => {
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new ZoError(`--${name} ${v}: must be a positive integer`);
    };
    positive('steps', argv.steps);
    positive('batch-size', argv.batchSize);
    positive('seq-len', argv.seqLen);
    positive('log-every', argv.logEvery);
    positive('max-len', argv.maxLen);
    if (argv.resume && !argv.out) throw new ZoError('--resume needs --out: the run folder to continue');
    let spec: RunSpec | undefined;
    if (!argv.resume) {
      const quick = !argv.model && !argv.task && !argv.taskFile && !argv.textFile;
      if (quick) {
        // The README's quick start: the embedded tiny model, the tiny sentiment task, MeZO.
        argv.model = path.join(packageRoot(), QUICK_START.model);
        argv.task = QUICK_START.task;
        argv.lr ??= QUICK_START.lr;
        argv.steps ??= QUICK_START.steps;
        if (!argv.json) process.stderr.write(`zo run: no model or task given, so the quick start: MeZO fine-tunes ${QUICK_START.model} on ${QUICK_START.task} (zo run --help for the options)\n`);
      }
      if (!argv.model) throw new ZoError('--model is required: a Hugging Face model folder');
      const objectives = [argv.task, argv.taskFile, argv.textFile].filter((x) => x !== undefined).length;
      if (objectives !== 1) throw new ZoError('give exactly one of --task NAME, --task-file FILE or --text-file FILE');
      optimizerNamed(argv.optimizer);
      const hyperparameters: Record<string, unknown> = { ...parseHp(argv.hp) };
      if (argv.lr !== undefined) hyperparameters.lr = argv.lr;
      if (argv.eps !== undefined) hyperparameters.eps = argv.eps;
      if (argv.weightDecay !== undefined) hyperparameters.weightDecay = argv.weightDecay;
      spec = {
        model: argv.model,
        textFile: argv.textFile,
        task: argv.task,
        taskFile: argv.taskFile,
        dataDir: argv.dataDir,
        trainSetSeed: argv.trainSetSeed,
        sizes: splitSizes(argv),
        evalEvery: argv.evalEvery ?? Math.max(1, Math.floor((argv.steps ?? 1000) / 5)),
        maxLen: argv.maxLen,
        optimizer: argv.optimizer,
        hyperparameters,
        steps: argv.steps ?? 1000,
        batchSize: argv.batchSize,
        seqLen: argv.seqLen,
        seed: argv.seed,
        noise: argv.noise,
        schedule: argv.schedule,
        executor: argv.executor,
        threads: argv.threads,
        saveEvery: argv.saveEvery,
        logEvery: argv.logEvery,
      };
    }
    const out = argv.out ?? defaultOut(argv.optimizer);
    const tty = process.stderr.isTTY && !argv.json;
    const bar = tty
      ? new cliProgress.SingleBar(
          { format: 'step {value}/{total} [{bar}] {percentage}% | loss {loss} | {msPerStep} ms/step | eta {eta_formatted}', hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    const log = (msg: string) => process.stderr.write(`${msg}\n`);
    let started = false;
    const summary = await runZo(
      out,
      spec,
      argv.resume,
      {
        log: argv.json ? undefined : log,
        onStep: (r, s) => {
          if (bar) {
            if (!started) bar.start(s.steps, r.step, { loss: '-', msPerStep: '-' });
            started = true;
            bar.update(r.step + 1, { loss: r.loss.toFixed(4), msPerStep: r.ms.toFixed(1) });
          } else if (!argv.json && (r.step % s.logEvery === 0 || r.step === s.steps - 1))
            log(`step ${r.step + 1}/${s.steps}  loss ${r.loss.toFixed(4)}  g ${r.projectedGrad.toExponential(2)}  lr ${r.lr.toExponential(1)}  ${r.ms.toFixed(1)} ms${r.skipped ? '  (skipped: non-finite loss)' : ''}`);
        },
      },
      argv.resume ? argv.steps : undefined,
    ).finally(() => bar?.stop());
    if (argv.json) return printJson({ out, ...summary });
    const held = summary.task ? 'dev loss' : 'loss';
    console.log(`${summary.optimizer}: ${summary.steps} steps, ${held} ${summary.initialLoss.toFixed(4)} → ${summary.finalLoss.toFixed(4)} in ${summary.wallSeconds.toFixed(1)} s (peak RSS ${summary.peakRssMb} MB)`);
    if (summary.task) {
      const pct = (x: number) => (100 * x).toFixed(1);
      console.log(`${summary.task} ${summary.metric}: zero-shot dev ${pct(summary.zeroShotDev!)} → dev ${pct(summary.devBest!)} (best dev loss at step ${summary.bestStep}), test ${pct(summary.test!)}`);
    }
    console.log(`run folder: ${out}`);
  },
};
