import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import YAML from 'yaml';
import { ZoError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { resumeRun, startRun, type RunSpec } from '../runs/run.js';
import { completeSpec, RUN_DEFAULTS } from '../runs/spec.js';
import { NOISE_HELP, NOISE_KINDS, type NoiseKind } from '../core/noise.js';
import { SCHEDULES, type ScheduleKind, type StepRecord } from '../harness/harness.js';
import {
  deviceOption,
  executorOption,
  jsonOption,
  camelOf,
  loraFromArgs,
  prefixFromArgs,
  peftOptions,
  numberFlag,
  printJson,
  threadsOption,
  type Device,
  type ExecutorName,
  type PeftArgs,
} from './common.js';

interface Args extends PeftArgs {
  model?: string;
  textFile?: string;
  task?: string;
  taskFile?: string;
  dataDir?: string;
  trainSetSeed?: number;
  trainSize?: number;
  devSize?: number;
  testSize?: number;
  evalEvery?: number;
  maxLen?: number;
  optimizer?: string;
  plugin: string[];
  finetuner?: string;
  lr?: number;
  eps?: number;
  weightDecay?: number;
  hp: string[];
  steps?: number;
  batchSize?: number;
  seqLen?: number;
  seed?: number;
  noise?: NoiseKind;
  schedule?: ScheduleKind;
  executor?: ExecutorName;
  threads?: number;
  device?: Device;
  saveEvery?: number;
  logEvery?: number;
  saveModel?: boolean;
  plots?: boolean;
  config?: string;
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
  for (const [k, v] of [
    ['train', a.trainSize],
    ['dev', a.devSize],
    ['test', a.testSize],
  ] as const) {
    if (v === undefined) continue;
    if (Number.isNaN(v)) throw new ZoError(`--${k}-size: expected a number`);
    if (!(Number.isInteger(v) && v >= 0)) throw new ZoError(`--${k}-size ${v}: must be a non-negative integer`);
    out[k] = v;
  }
  return out;
}

/** `zo run` with no model and no task: the quick start (hyperparameters tuned for it, see README). */
export const QUICK_START = { model: 'models/tiny-llama-s', task: 'tiny-copa', optimizer: 'zo-ft', lr: 1e-4, steps: 2000 };

// Applied here, not by yargs, so that a resume can tell a typed flag (it must agree with the run's
// spec.json) from one left out.
const D = RUN_DEFAULTS;

/** The hyperparameters typed as --lr, --eps, --weight-decay and --hp. */
function typedHyperparameters(argv: Args): Record<string, unknown> {
  const h: Record<string, unknown> = { ...parseHp(argv.hp) };
  if (argv.lr !== undefined) h.lr = argv.lr;
  if (argv.eps !== undefined) h.eps = argv.eps;
  if (argv.weightDecay !== undefined) h.weightDecay = argv.weightDecay;
  return h;
}

/**
 * The spec fields the user typed (all but --steps, a resume's own request): a new run completes them
 * with the defaults, a resume checks them against spec.json.
 */
function typedFields(argv: Args): Partial<RunSpec> {
  const sizes = splitSizes(argv);
  const h = typedHyperparameters(argv);
  const given: Partial<RunSpec> = {
    model: argv.model,
    textFile: argv.textFile,
    task: argv.task,
    taskFile: argv.taskFile,
    dataDir: argv.dataDir,
    trainSetSeed: argv.trainSetSeed,
    evalEvery: argv.evalEvery,
    maxLen: argv.maxLen,
    optimizer: argv.optimizer,
    plugins: argv.plugin.length ? argv.plugin : undefined,
    finetuner: argv.finetuner,
    batchSize: argv.batchSize,
    seqLen: argv.seqLen,
    seed: argv.seed,
    noise: argv.noise,
    schedule: argv.schedule,
    executor: argv.executor,
    threads: argv.threads,
    device: argv.device,
    saveEvery: argv.saveEvery,
    logEvery: argv.logEvery,
    saveModel: argv.saveModel,
    plots: argv.plots,
    peft: argv.peft,
  };
  const lora = loraFromArgs(argv, argv.resume);
  if (lora) given.lora = lora;
  const prefix = prefixFromArgs(argv, argv.resume);
  if (prefix) given.prefix = prefix;
  if (Object.keys(sizes).length) given.sizes = sizes;
  if (Object.keys(h).length) given.hyperparameters = h;
  return given;
}

/** Neither a model nor an objective given: the quick start. */
const isQuickStart = (argv: Args): boolean => !argv.model && !argv.task && !argv.taskFile && !argv.textFile;

/** A new run's spec from the flags, with the quick start when neither a model nor an objective is given. */

function newSpec(argv: Args): RunSpec {
  if (isQuickStart(argv)) {
    argv.model = path.join(packageRoot(), QUICK_START.model);
    argv.task = QUICK_START.task;
    argv.optimizer ??= QUICK_START.optimizer;
    argv.lr ??= QUICK_START.lr;
    argv.steps ??= QUICK_START.steps;
    const bank = argv.finetuner ? `the finetuner in ${argv.finetuner}` : 'the finetuner the model ships';
    const who = argv.optimizer === 'zo-ft' ? `the ZO Fine-tuner (zo-ft, with ${bank})` : argv.optimizer;
    if (!argv.json)
      process.stderr.write(
        `zo run: no model or task given, so the quick start: ${who} fine-tunes ${QUICK_START.model} on ${QUICK_START.task} (zo run --help for the options)\n`,
      );
  }
  if (!argv.model)
    throw new ZoError(
      `--model is required with a task or text file: a Hugging Face model folder (e.g. --model ${QUICK_START.model}, the quick start's)`,
    );
  // The quick start's model, task and lr were filled in above, so they count as typed here.
  return completeSpec({
    model: argv.model,
    ...typedFields(argv),
    sizes: splitSizes(argv),
    hyperparameters: typedHyperparameters(argv),
    steps: argv.steps,
  });
}

/** The Hugging Face TrainingArguments names researchers type by habit, and the zo option each means. */
export const HF_ALIASES: Record<string, string> = {
  model_name_or_path: 'model',
  learning_rate: 'lr',
  max_steps: 'steps',
  per_device_train_batch_size: 'batchSize',
  seed: 'seed',
  weight_decay: 'weightDecay',
  eval_steps: 'evalEvery',
  save_steps: 'saveEvery',
  logging_steps: 'logEvery',
  output_dir: 'out',
  lr_scheduler_type: 'schedule',
  max_seq_length: 'seqLen',
  data_seed: 'trainSetSeed',
};

/** Every `zo run` option a config file may set, in camelCase. */
export const CONFIG_KEYS = [
  'model',
  'task',
  'taskFile',
  'textFile',
  'dataDir',
  'trainSetSeed',
  'evalEvery',
  'trainSize',
  'devSize',
  'testSize',
  'maxLen',
  'plugin',
  'finetuner',
  'optimizer',
  'lr',
  'eps',
  'weightDecay',
  'hp',
  'steps',
  'batchSize',
  'seqLen',
  'seed',
  'noise',
  'schedule',
  'executor',
  'threads',
  'device',
  'saveEvery',
  'logEvery',
  'saveModel',
  'plots',
  'peft',
  'loraR',
  'loraAlpha',
  'loraTargets',
  'prefixTokens',
  'out',
];

/**
 * `zo run --config FILE`: its keys as options (camelCase, kebab-case, or the HF names above), checked
 * before anything runs; flags typed on the command line override it. Relative paths in it are the
 * user's, from the working folder, as on the command line.
 */
export function readRunConfig(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ZoError(
      `--config ${file}: ${code === 'ENOENT' ? 'no such file' : `not YAML or JSON (${(e as Error).message.split('\n')[0]})`}`,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ZoError(`--config ${file}: expected a mapping of options (lr: 1.0e-4, …)`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const key = HF_ALIASES[k] ?? camelOf(k);
    if (!CONFIG_KEYS.includes(key)) throw new ZoError(`--config ${file}: ${k} is not a zo run option (zo run --help lists them)`);
    if (key in out) throw new ZoError(`--config ${file}: ${k} sets ${key} a second time`);
    out[key] = key === 'hp' ? hpPairs(v, file) : v;
  }
  return out;
}

/** A config file's `hp`, a mapping (hp: {q: 2}) or --hp's own list (hp: [q=2]), as --hp's key=value pairs. */
function hpPairs(v: unknown, file: string): string[] {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).map(([k, x]) => `${k}=${JSON.stringify(x)}`);
  throw new ZoError(`--config ${file}: hp must be a mapping (hp: {q: 2}) or a list of key=value (hp: [q=2])`);
}

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'fine-tune a model with a ZO (or first-order) optimizer on a task or on the LM loss of a text file',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'a Hugging Face model folder' })
      .option('task', { type: 'string', describe: 'a task by name (see `zo tasks`)' })
      .option('task-file', {
        type: 'string',
        describe: 'a custom task: YAML or JSON next to JSONL data (see docs/tasks.md, "Custom tasks")',
      })
      .option('text-file', { type: 'string', describe: 'train on the next-token loss of this text instead of a task' })
      .option('data-dir', { type: 'string', describe: "where MeZO tasks' downloaded files are (default $ZO_DATA or ./data)" })
      .option('train-set-seed', {
        type: 'number',
        describe: `MeZO's train_set_seed: which examples form train and dev (default ${D.trainSetSeed})`,
      })
      .option('eval-every', {
        type: 'number',
        describe: 'tasks: dev evaluation every N steps, keeping the best-dev-loss weights (default steps/5)',
      })
      .option('train-size', {
        type: 'number',
        describe: "tasks: train examples (default: the task's; MeZO 1000; custom tasks: the first N rows)",
      })
      .option('dev-size', { type: 'number', describe: "tasks: dev examples (default: the task's; MeZO 500)" })
      .option('test-size', { type: 'number', describe: "tasks: test examples (default: the task's; MeZO 1000)" })
      .option('max-len', {
        type: 'number',
        describe: `tasks: tokens per example, at most the model's max_position_embeddings (default ${D.maxLen}, MeZO's max_length); prompts are truncated from the left, generation prompts to max-len − 50 so that 50 new tokens fit`,
      })
      .option('plugin', {
        type: 'string',
        array: true,
        default: [],
        describe: 'an ES module that exports your own optimizer(s) (see README "API"); repeatable, recorded in spec.json',
      })
      .option('finetuner', { type: 'string', describe: "zo-ft: a finetuner folder or file (default: the model folder's own)" })
      .option('optimizer', { type: 'string', describe: `see \`zo optimizers\` (default ${D.optimizer})` })
      .option('lr', { type: 'number', coerce: numberFlag('lr'), describe: "learning rate η (default: the optimizer's)" })
      .option('eps', { type: 'number', coerce: numberFlag('eps'), describe: "perturbation scale ε (default: the optimizer's)" })
      .option('weight-decay', { type: 'number', coerce: numberFlag('weight-decay'), describe: 'λ (default 0)' })
      .option('hp', {
        type: 'string',
        array: true,
        default: [],
        describe: 'other hyperparameters as key=value, e.g. --hp q=2 --hp momentum=0.9',
      })
      .option('steps', { type: 'number', describe: `optimizer steps (default ${D.steps}); with --resume, extends a constant-schedule run` })
      .option('batch-size', { type: 'number', describe: `examples per step (default ${D.batchSize})` })
      .option('seq-len', { type: 'number', describe: `tokens per training window of a text file (default ${D.seqLen})` })
      .option('seed', { type: 'number', describe: `keys the batches and every random draw (default ${D.seed})` })
      .option('noise', { choices: NOISE_KINDS, describe: `${NOISE_HELP} (default ${D.noise})` })
      .option('schedule', { choices: SCHEDULES, describe: `learning-rate schedule (default ${D.schedule})` })
      .option('executor', { ...executorOption, default: undefined, describe: `${executorOption.describe} (default ${D.executor})` })
      .option('threads', threadsOption)
      .option('device', deviceOption)
      .option('save-every', { type: 'number', describe: 'checkpoint every N steps, 0 for only at the end (default 0)' })
      .option('log-every', { type: 'number', describe: `a metrics.jsonl line every N steps (default ${D.logEvery})` })
      .option('save-model', {
        type: 'boolean',
        describe: 'at the end, write RUNDIR/model/: a Hugging Face model folder of the best-dev (tasks) or final weights (default true)',
      })
      .option('plots', { type: 'boolean', describe: 'at the end, write loss.svg and loss.png (default true)' })
      .options(peftOptions)
      .config(
        'config',
        'a YAML or JSON file of any of these options in camelCase (lr, batchSize, …; also learning_rate, max_steps, per_device_train_batch_size…); flags override it',
        readRunConfig,
      )
      .option('resume', {
        type: 'boolean',
        default: false,
        describe: 'continue the run in --out from its checkpoint, as its spec.json says (flags that would change it are refused)',
      })
      .option('out', { type: 'string', describe: 'run folder: new or empty, or a run to --resume (default runs/<optimizer>-<time>)' })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (argv.resume && argv.out === undefined) throw new ZoError('--resume needs --out: the run folder to continue');
    // Named for the optimizer that will run: the quick start's when it is one (a resume names its --out).
    const out = argv.out ?? defaultOut(argv.optimizer ?? (isQuickStart(argv) ? QUICK_START.optimizer : D.optimizer));
    const tty = process.stderr.isTTY && !argv.json;
    const bar = tty
      ? new cliProgress.SingleBar(
          {
            format: 'step {value}/{total} [{bar}] {percentage}% | loss {loss} | {msPerStep} ms/step | eta {eta_formatted}',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    const log = (msg: string) => process.stderr.write(`${msg}\n`);
    let started = false;
    const hooks = {
      log: argv.json ? undefined : log,
      onStep: (r: StepRecord, s: RunSpec) => {
        if (bar) {
          if (!started) bar.start(s.steps, r.step, { loss: '-', msPerStep: '-' });
          started = true;
          bar.update(r.step + 1, { loss: r.loss.toFixed(4), msPerStep: r.ms.toFixed(1) });
        } else if (!argv.json && (r.step % s.logEvery === 0 || r.step === s.steps - 1))
          log(
            `step ${r.step + 1}/${s.steps}  loss ${r.loss.toFixed(4)}  g ${r.projectedGrad.toExponential(2)}  lr ${r.lr.toExponential(1)}  ${r.ms.toFixed(1)} ms${r.skipped ? '  (skipped: non-finite loss)' : ''}`,
          );
      },
    };
    const run = argv.resume ? resumeRun(out, { steps: argv.steps, given: typedFields(argv) }, hooks) : startRun(out, newSpec(argv), hooks);
    const summary = await run.finally(() => bar?.stop());
    if (argv.json) return printJson({ out, ...summary });
    const held = summary.task ? 'dev loss' : 'loss';
    console.log(
      `${summary.optimizer}: ${summary.steps} steps, ${held} ${summary.initialLoss.toFixed(4)} → ${summary.finalLoss.toFixed(4)} in ${summary.wallSeconds.toFixed(1)} s (peak RSS ${summary.peakRssMb} MB)`,
    );
    if (summary.task) {
      const pct = (x: number) => (100 * x).toFixed(1);
      console.log(
        `${summary.task} ${summary.metric}: zero-shot dev ${pct(summary.zeroShotDev!)} → dev ${pct(summary.devBest!)} (${summary.bestStep! >= 0 ? `best dev loss at step ${summary.bestStep}` : 'no finite dev loss: the final weights'}), test ${pct(summary.test!)}`,
      );
    }
    console.log(`run folder: ${out}`);
    if (fs.existsSync(path.join(out, 'adapter', 'adapter_config.json')))
      console.log(
        `adapter: ${path.join(out, 'adapter')} (Hugging Face PEFT layout; ${summary.peft === 'prefix' ? 'zo eval --adapter reads it' : 'zo export --merge writes the merged model'})`,
      );
    if (fs.existsSync(path.join(out, 'model', 'config.json')))
      console.log(`model folder: ${path.join(out, 'model')} (Hugging Face layout: loads in transformers, zo eval and zo forward)`);
  },
};
