import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { SplitSizes } from '../tasks/task.js';
import { SCHEDULES, type ScheduleKind } from '../harness/harness.js';
import { checkNoiseVersion, DEFAULT_NOISE, NOISE_KINDS, type NoiseKind } from '../core/noise.js';
import { loraConfig, PEFT_MODES, prefixConfig, type PeftMode } from './peft.js';

/** Everything that determines a run; written to spec.json and read back by a resume. */
export interface RunSpec {
  /** A Hugging Face model folder (absolute, so a run resumes from any working directory). */
  model: string;
  /** The objective: the LM loss of a text file, or a task (by name, or a custom task file). */
  textFile?: string;
  task?: string;
  taskFile?: string;
  /** Where a MeZO task's downloaded files are. */
  dataDir?: string;
  /** MeZO's train_set_seed: which examples make the train and dev splits. */
  trainSetSeed: number;
  /** Split sizes instead of the task's defaults. */
  sizes?: Partial<SplitSizes>;
  /** Tasks: evaluate dev every N steps and keep the best-dev-loss weights (0: only at the end). */
  evalEvery: number;
  /** Tasks: tokens per row, prompts truncated from the left. */
  maxLen: number;
  optimizer: string;
  /** A learned optimizer's meta-parameters (zo-ft's finetuner folder or file; default: the model's own). */
  finetuner?: string;
  /** ES modules (absolute paths) that register optimizers from outside zo; loaded again on resume. */
  plugins?: string[];
  hyperparameters: Record<string, unknown>;
  steps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  noise: NoiseKind;
  /** The noise kind's version (NOISE_VERSIONS), set when the run starts; absent in older runs: 1. */
  noiseVersion?: number;
  schedule: ScheduleKind;
  executor: 'ort' | 'tfjs';
  /** The horizons the run had before a resume changed --steps, oldest first. */
  previousSteps?: number[];
  /** What does not change the weights, and may change on a resume. */
  threads?: number;
  saveEvery: number;
  logEvery: number;
  /** At the end: RUNDIR/model/ (a Hugging Face model folder), and loss.svg/png. Absent: true. */
  saveModel?: boolean;
  plots?: boolean;
  /** The ort executor's device: cpu (absent) or cuda. */
  device?: 'cpu' | 'cuda';
  /** Parameter-efficient fine-tuning: full (absent), lora with its r, α and target modules, or prefix with its slots. */
  peft?: PeftMode;
  lora?: { r?: number; alpha?: number; targets?: string[] };
  prefix?: { tokens?: number };
}

/** The defaults of a run's settings (the CLI's and the API's): MeZO's where MeZO has one. */
export const RUN_DEFAULTS = {
  trainSetSeed: 0,
  maxLen: 2048,
  optimizer: 'mezo',
  steps: 1000,
  batchSize: 16,
  seqLen: 64,
  seed: 0,
  noise: DEFAULT_NOISE,
  schedule: 'constant' as ScheduleKind,
  executor: 'ort' as 'ort' | 'tfjs',
  saveEvery: 0,
  logEvery: 10,
};

/** A run as a script states it: a model, one objective, and any settings that differ from the defaults. */
export type RunSpecInput = Pick<RunSpec, 'model'> & Partial<RunSpec>;

/** The full spec: defaults filled in, dev evaluated five times a run unless said otherwise. */
export function completeSpec(p: RunSpecInput): RunSpec {
  const defined = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RunSpecInput;
  const steps = defined.steps ?? RUN_DEFAULTS.steps;
  return { ...RUN_DEFAULTS, hyperparameters: {}, evalEvery: Math.max(1, Math.floor(steps / 5)), ...defined, steps };
}

/** The fields a resume may change: they decide how a run is carried out, not where it ends up. */
export const OPERATIONAL = ['threads', 'device', 'saveEvery', 'logEvery', 'saveModel', 'plots'] as const;

/** The command-line flag of a spec field, for messages. */
export const flagOf = (field: string): string => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const PATHS = ['model', 'textFile', 'taskFile', 'dataDir', 'finetuner'] as const;

/** The spec with its paths absolute, so spec.json means the same from any working directory. */
export function absolutePaths(spec: RunSpec): RunSpec {
  const out = { ...spec };
  for (const k of PATHS) if (out[k] !== undefined) out[k] = path.resolve(out[k]!);
  if (out.plugins) out.plugins = out.plugins.map((p) => path.resolve(p));
  return out;
}

function wholeNumber(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new ZoError(`${flagOf(field)}: expected a number${typeof v === 'number' || v === undefined ? '' : `, got ${JSON.stringify(v)}`}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new ZoError(
      `${flagOf(field)} ${v}: must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}`,
    );
}

/** Every field in range, before anything is loaded or written: a bad value is one line naming its flag. */
export function validateSpec(spec: RunSpec): void {
  const objectives = [spec.task, spec.taskFile, spec.textFile].filter((x) => x !== undefined).length;
  if (objectives !== 1) throw new ZoError('give exactly one of --task NAME, --task-file FILE or --text-file FILE');
  if (!spec.model) throw new ZoError('--model is required: a Hugging Face model folder');
  wholeNumber('steps', spec.steps, 1);
  wholeNumber('batchSize', spec.batchSize, 1);
  wholeNumber('seqLen', spec.seqLen, 1);
  wholeNumber('maxLen', spec.maxLen, 1);
  wholeNumber('seed', spec.seed, 0);
  wholeNumber('trainSetSeed', spec.trainSetSeed, 0, 0xffffffff);
  wholeNumber('evalEvery', spec.evalEvery, 0);
  wholeNumber('saveEvery', spec.saveEvery, 0);
  wholeNumber('logEvery', spec.logEvery, 1);
  if (spec.threads !== undefined) wholeNumber('threads', spec.threads, 1, 1024);
  for (const [k, v] of Object.entries(spec.sizes ?? {})) if (v !== undefined) wholeNumber(`${k}Size`, v, 0);
  if (!NOISE_KINDS.includes(spec.noise)) throw new ZoError(`--noise ${spec.noise}: must be one of ${NOISE_KINDS.join(', ')}`);
  if (!SCHEDULES.includes(spec.schedule)) throw new ZoError(`--schedule ${spec.schedule}: must be one of ${SCHEDULES.join(', ')}`);
  if (spec.executor !== 'ort' && spec.executor !== 'tfjs') throw new ZoError(`--executor ${String(spec.executor)}: must be ort or tfjs`);
  if (spec.peft !== undefined && !PEFT_MODES.includes(spec.peft))
    throw new ZoError(`--peft ${String(spec.peft)}: must be one of ${PEFT_MODES.join(', ')}`);
  if (spec.prefix?.tokens !== undefined) wholeNumber('prefixTokens', spec.prefix.tokens, 1, 1024);
  if (spec.lora && spec.peft !== 'lora') throw new ZoError('--lora-r, --lora-alpha and --lora-targets go with --peft lora');
  if (spec.prefix && spec.peft !== 'prefix') throw new ZoError('--prefix-tokens goes with --peft prefix');
  if (spec.device !== undefined && spec.device !== 'cpu' && spec.device !== 'cuda')
    throw new ZoError(`--device ${String(spec.device)}: must be cpu or cuda`);
}

/** What a resume is asked to do besides continuing: a new horizon, and the flags the user typed. */
export interface ResumeRequest {
  /** Extend (or confirm) the horizon. */
  steps?: number;
  /** Fields the user typed: each must agree with spec.json, except the operational ones. */
  given?: Partial<RunSpec>;
}

/**
 * spec.json with a resume request applied. Typed flags that would change what the run computes are
 * refused, all of them named; operational ones are taken. A run never goes backwards, and a schedule
 * that depends on the horizon (linear) cannot be extended without changing the steps already run.
 */
export function resumedSpec(file: string, spec: RunSpec, checkpointStep: number, req: ResumeRequest): RunSpec {
  checkNoiseVersion(spec.noise, spec.noiseVersion, file);
  const given = { ...(req.given ?? {}) };
  const conflicts: string[] = [];
  const out: RunSpec = { ...spec };
  for (const [k, v] of Object.entries(given) as [keyof RunSpec, unknown][]) {
    if (v === undefined) continue;
    if ((OPERATIONAL as readonly string[]).includes(k)) {
      (out as unknown as Record<string, unknown>)[k] = v;
      continue;
    }
    if (k === 'lora' || k === 'prefix') {
      // Compared field by field with the run's complete config: a typed default is no change.
      const theirs = (k === 'lora' ? loraConfig(spec) : prefixConfig(spec)) as unknown as Record<string, unknown>;
      for (const [f, x] of Object.entries(v as Record<string, unknown>))
        if (JSON.stringify(theirs[f]) !== JSON.stringify(x))
          conflicts.push(`--${k}-${f} ${JSON.stringify(x)} (the run has ${JSON.stringify(theirs[f])})`);
      continue;
    }
    if (k === 'peft' && v === (spec.peft ?? 'full')) continue;
    if (k === 'hyperparameters') {
      for (const [h, x] of Object.entries(v as Record<string, unknown>))
        if (JSON.stringify(spec.hyperparameters[h]) !== JSON.stringify(x))
          conflicts.push(`${h} ${JSON.stringify(x)} (the run has ${JSON.stringify(spec.hyperparameters[h])})`);
      continue;
    }
    const theirs = (PATHS as readonly string[]).includes(k)
      ? path.resolve(v as string)
      : k === 'plugins'
        ? (v as string[]).map((p) => path.resolve(p))
        : v;
    if (JSON.stringify(theirs) !== JSON.stringify(spec[k]))
      conflicts.push(`${flagOf(k)} ${JSON.stringify(v)} (the run has ${JSON.stringify(spec[k])})`);
  }
  if (conflicts.length)
    throw new ZoError(
      `--resume continues the run that ${file} describes; these flags would change it: ${conflicts.join(', ')}. Start a new run (another --out) to change them`,
    );
  const steps = req.steps ?? spec.steps;
  wholeNumber('steps', steps, 1);
  if (steps < checkpointStep)
    throw new ZoError(`--steps ${steps}: the run's checkpoint is at step ${checkpointStep}, and a run never goes backwards`);
  if (steps !== spec.steps) {
    if (spec.schedule !== 'constant')
      throw new ZoError(
        `--steps ${steps}: this run's ${spec.schedule} schedule ends at step ${spec.steps}, and changing the horizon would change the learning rate of every step already run; start a new run with --steps ${steps}`,
      );
    // A constant schedule makes every step independent of the horizon: steps run so far stay valid.
    out.steps = steps;
    out.previousSteps = [...(spec.previousSteps ?? []), spec.steps];
  }
  validateSpec(out);
  return out;
}
