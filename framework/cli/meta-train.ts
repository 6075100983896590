import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { DEFAULT_NOISE, NOISE_KINDS, type NoiseKind } from '../core/noise.js';
import { FEATURE_MODES, type FeatureMode } from '../learned/features.js';
import { SHARINGS, type Sharing } from '../learned/sharing.js';
import { metaTrainRun, type MetaTrainSpec } from '../runs/meta-run.js';
import { splitSizes } from './run.js';
import {
  jsonOption,
  loraFromArgs,
  peftOptions,
  prefixFromArgs,
  printJson,
  threadsOption,
  wholeNumberFlag,
  type PeftArgs,
} from './common.js';

interface Args extends PeftArgs {
  model?: string;
  task: string[];
  tasks?: string;
  taskFile: string[];
  epochs: number;
  epochsPerRestart: number;
  steps?: number;
  alpha: number;
  eps: number;
  lrModel: number;
  momentum: number;
  clip: number;
  lrMlp: number;
  reset: boolean;
  metaGradient: 'backprop' | 'spsa';
  delta: number;
  trajectory: 'fo' | 'zo';
  sharing: Sharing;
  features: FeatureMode;
  normalization: boolean;
  batchSize: number;
  seed: number;
  noise: NoiseKind;
  trainSetSeed: number;
  trainSize?: number;
  devSize?: number;
  testSize?: number;
  maxLen: number;
  threads?: number;
  saveEvery: number;
  resume: boolean;
  out?: string;
  json: boolean;
}

const positive = (flag: string, v: number) => {
  if (!(Number.isFinite(v) && v > 0)) throw new ZoError(`--${flag} ${v}: must be a positive number`);
};

/** What a resume may be told besides its folder: nothing that would change the bank it ends with. */
const RESUME_FLAGS = new Set(['out', 'resume', 'threads', 'save-every', 'json']);

/**
 * A resume continues what spec.json says, so a typed flag that the spec holds (yargs fills in every
 * default, so the typed ones are read from the command line itself) is refused, all of them named.
 */
function refuseChangesOnResume(args: readonly string[]): void {
  const typed = args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!.replace(/^no-/, ''));
  const changed = [...new Set(typed.filter((f) => !RESUME_FLAGS.has(f)))];
  if (changed.length)
    throw new ZoError(
      `--resume continues the run as its spec.json says: ${changed.map((f) => `--${f}`).join(', ')} cannot change it (only --threads and --save-every may)`,
    );
}

export const metaTrainCommand: CommandModule<object, Args> = {
  command: 'meta-train',
  describe: 'meta-train a ZO Fine-tuner (one PertNN per block) for a base model; writes finetuner.safetensors + finetuner.json',
  builder: (y) =>
    y
      .usage(
        '$0 meta-train --model models/tiny-llama-s --task tiny-copa --out runs/ft-s\n\n' +
          'Each step probes θ ± ε·nf·σ(ω)⊙z on a batch, takes one meta-gradient step on ω for the loss after the look-ahead ' +
          'step θ − α·g·nf·σ⊙z on the same batch, and moves θ along its own trajectory (first-order SGD by default), reset ' +
          'to the pretrained weights every --epochs-per-restart epochs. See docs/methods/zo-finetuner.md.',
      )
      .option('model', { type: 'string', describe: 'the base model folder' })
      .option('task', {
        type: 'string',
        array: true,
        default: [],
        describe: 'a task by name (repeatable: multi-task mode, one shared bank; default tiny-copa, as the paper meta-trains on COPA)',
      })
      .option('tasks', { type: 'string', describe: 'tasks as a comma-separated list' })
      .option('task-file', { type: 'string', array: true, default: [], describe: 'a custom task file (repeatable)' })
      .option('epochs', {
        type: 'number',
        default: 15,
        coerce: wholeNumberFlag('epochs', 1),
        describe: 'epochs over the train splits (official 15)',
      })
      .option('epochs-per-restart', {
        type: 'number',
        default: 5,
        coerce: wholeNumberFlag('epochs-per-restart', 1),
        describe: 'θ is reset to the pretrained weights every R epochs (official 5)',
      })
      .option('steps', { type: 'number', coerce: wholeNumberFlag('steps', 1), describe: 'total steps instead of epochs × steps per epoch' })
      .option('alpha', {
        type: 'number',
        default: 1e-4,
        describe:
          'α: the look-ahead step’s LR, the deployment LR scale (official 1e-6 for 1B models; the zoo’s banks use 1e-4, where MeZO fine-tunes the zoo stably)',
      })
      .option('eps', { type: 'number', default: 1e-3, describe: 'ε of the probes' })
      .option('lr-model', {
        type: 'number',
        default: 1e-2,
        describe: 'the trajectory’s LR, decaying linearly to 0 in each restart cycle (official 1e-2 for Llama-1B)',
      })
      .option('momentum', { type: 'number', default: 0.8, describe: 'the trajectory’s SGD momentum (official 0.8)' })
      .option('clip', { type: 'number', default: 1, describe: 'the trajectory’s gradient-norm clip, 0 for none (official 1.0)' })
      .option('lr-mlp', { type: 'number', default: 0.1, describe: 'the PertNNs’ SGD LR (official 0.1 for Llama-1B)' })
      .option('reset', {
        type: 'boolean',
        default: true,
        describe: 'reset θ every restart cycle (--no-reset: one long trajectory, an ablation)',
      })
      .option('meta-gradient', {
        choices: ['backprop', 'spsa'] as const,
        default: 'backprop' as const,
        describe: 'backprop: the chain rule through one autodiff pass at θ′; spsa: two forward passes at σ(ω ± δu)',
      })
      .option('delta', { type: 'number', default: 1e-3, describe: 'spsa: δ in ω-space' })
      .option('trajectory', {
        choices: ['fo', 'zo'] as const,
        default: 'fo' as const,
        describe: 'fo: SGD with momentum on ∇θ; zo: MeZO (with --meta-gradient spsa: forward passes only)',
      })
      .option('sharing', {
        choices: SHARINGS,
        default: 'block' as Sharing,
        describe:
          'which blocks share one PertNN: block (one each, the paper’s), layer (one per transformer layer; embeddings, final norm and lm_head keep their own), global (one for all); features stay per block',
      })
      .option('normalization', {
        type: 'boolean',
        default: true,
        describe: 'the normaliser nf, so that the d̂-weighted mean square of nf·σ is 1 (--no-normalization: nf = 1, an ablation)',
      })
      .option('features', {
        choices: FEATURE_MODES,
        default: 'raw' as FeatureMode,
        describe:
          'raw (the paper’s) or standardized: mean and variance centred and scaled across θ₀’s blocks, ℓ± divided by the loss at θ₀ on the first batch; the map is stored in finetuner.json',
      })
      .option('batch-size', {
        type: 'number',
        default: 8,
        coerce: wholeNumberFlag('batch-size', 1),
        describe: 'examples per step (official 8)',
      })
      .option('seed', {
        type: 'number',
        default: 0,
        coerce: wholeNumberFlag('seed', 0),
        describe: 'keys the bank’s init, the batches, z and u',
      })
      .option('noise', { choices: NOISE_KINDS, default: DEFAULT_NOISE })
      .option('train-set-seed', { type: 'number', default: 0, coerce: wholeNumberFlag('train-set-seed', 0) })
      .option('train-size', { type: 'number' })
      .option('dev-size', { type: 'number' })
      .option('test-size', { type: 'number' })
      .option('max-len', { type: 'number', default: 2048, coerce: wholeNumberFlag('max-len', 1) })
      .option('threads', threadsOption)
      .option('save-every', {
        type: 'number',
        default: 50,
        coerce: wholeNumberFlag('save-every', 0),
        describe: 'checkpoint every N steps (and at the end)',
      })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the meta-training run in --out from its checkpoint' })
      .option('out', {
        type: 'string',
        describe: 'the run folder, where the finetuner is written (a model folder ships it beside its weights)',
      })
      .options(peftOptions)
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (!argv.out) throw new ZoError('--out is required: the folder for the run and its finetuner');
    if (argv.resume) refuseChangesOnResume(process.argv.slice(2));
    let spec: MetaTrainSpec | undefined;
    if (!argv.resume) {
      if (!argv.model) throw new ZoError('--model is required: the base model folder');
      for (const f of ['alpha', 'eps', 'lrModel', 'lrMlp', 'delta'] as const)
        positive(
          f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
          argv[f],
        );
      if (!(argv.momentum >= 0 && argv.momentum < 1)) throw new ZoError(`--momentum ${argv.momentum}: must be in [0, 1)`);
      const tasks = [
        ...argv.task,
        ...(argv.tasks
          ? argv.tasks
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean)
          : []),
      ];
      spec = {
        model: argv.model,
        tasks: tasks.length || argv.taskFile.length ? tasks : ['tiny-copa'],
        taskFiles: argv.taskFile,
        trainSetSeed: argv.trainSetSeed,
        sizes: splitSizes(argv),
        maxLen: argv.maxLen,
        epochs: argv.epochs,
        epochsPerRestart: argv.epochsPerRestart,
        steps: argv.steps,
        settings: {
          alpha: argv.alpha,
          eps: argv.eps,
          lrModel: argv.lrModel,
          momentum: argv.momentum,
          clip: argv.clip,
          lrMlp: argv.lrMlp,
          reset: argv.reset,
          metaGradient: argv.metaGradient,
          delta: argv.delta,
          trajectory: argv.trajectory,
          batchSize: argv.batchSize,
          seed: argv.seed,
        },
        sharing: argv.sharing,
        features: argv.features,
        normalization: argv.normalization,
        noise: argv.noise,
        threads: argv.threads,
        saveEvery: argv.saveEvery,
      };
      // A bank for a --peft run's blocks: a finetuner for LoRA blocks is meta-trained on LoRA blocks.
      const [lora, prefix] = [loraFromArgs(argv), prefixFromArgs(argv)];
      if (argv.peft && argv.peft !== 'full') Object.assign(spec, { peft: argv.peft, lora, prefix });
    }
    const tty = process.stderr.isTTY && !argv.json;
    const bar = tty
      ? new cliProgress.SingleBar(
          { format: 'meta step {value}/{total} [{bar}] {percentage}% | meta loss {loss} | eta {eta_formatted}' },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    let started = false;
    const log = (m: string) => process.stderr.write(`${m}\n`);
    const summary = await metaTrainRun(argv.out, spec, {
      log: argv.json ? undefined : log,
      onStep: (r, total) => {
        if (bar) {
          if (!started) bar.start(total, r.step, { loss: '-' });
          started = true;
          bar.update(r.step + 1, { loss: r.metaLoss.toFixed(4) });
        } else if (!argv.json && (r.step % 10 === 0 || r.step === total - 1))
          log(
            `meta step ${r.step + 1}/${total}  ${r.task}  meta loss ${r.metaLoss.toFixed(4)}  train ${r.trainLoss.toFixed(4)}  nf ${r.nf.toFixed(3)}${r.reset ? '  (reset)' : ''}`,
          );
      },
    }).finally(() => bar?.stop());
    if (argv.json) return printJson(summary);
    console.log(
      `meta-trained on ${summary.tasks.join(', ')} for ${summary.steps} steps: meta loss ${summary.firstMetaLoss.toFixed(4)} (first tenth) → ${summary.finalMetaLoss.toFixed(4)} (last tenth) in ${summary.wallSeconds.toFixed(1)} s`,
    );
    console.log(`finetuner: ${summary.finetuner}/finetuner.json (zo finetuner show ${summary.finetuner})`);
  },
};
