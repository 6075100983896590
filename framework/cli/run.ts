import path from 'node:path';
import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ZoError } from '../errors.js';
import { optimizerNamed } from '../optimizers/registry.js';
import { runLm, type RunSpec } from '../zo/run.js';
import { NOISE_KINDS, type NoiseKind } from '../zo/noise.js';
import { SCHEDULES, type ScheduleKind } from '../zo/harness.js';
import { executorOption, jsonOption, printJson, threadsOption, type ExecutorName } from './common.js';

interface Args {
  model?: string;
  textFile?: string;
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

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'fine-tune a model with a ZO (or first-order) optimizer on the LM loss of a text file',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'a Hugging Face model folder' })
      .option('text-file', { type: 'string', describe: 'train on the next-token loss of this text' })
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
    if (argv.resume && !argv.out) throw new ZoError('--resume needs --out: the run folder to continue');
    let spec: RunSpec | undefined;
    if (!argv.resume) {
      if (!argv.model) throw new ZoError('--model is required: a Hugging Face model folder');
      if (!argv.textFile) throw new ZoError('--text-file is required: the text to fine-tune on');
      optimizerNamed(argv.optimizer);
      const hyperparameters: Record<string, unknown> = { ...parseHp(argv.hp) };
      if (argv.lr !== undefined) hyperparameters.lr = argv.lr;
      if (argv.eps !== undefined) hyperparameters.eps = argv.eps;
      if (argv.weightDecay !== undefined) hyperparameters.weightDecay = argv.weightDecay;
      spec = {
        model: argv.model,
        textFile: argv.textFile,
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
    const summary = await runLm(
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
    console.log(`${summary.optimizer}: ${summary.steps} steps, loss ${summary.initialLoss.toFixed(4)} → ${summary.finalLoss.toFixed(4)} in ${summary.wallSeconds.toFixed(1)} s (peak RSS ${summary.peakRssMb} MB)`);
    console.log(`run folder: ${out}`);
  },
};
