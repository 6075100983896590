import { ZoError } from '../core/errors.js';
import { createExecutor, type ExecutorName } from '../engine/create.js';
import type { Executor, Model } from '../engine/executor.js';
import { LORA_DEFAULTS } from '../models/lora.js';
import { PREFIX_DEFAULTS } from '../models/prefix.js';
import { PEFT_MODES, type PeftMode } from '../runs/peft.js';

export type { ExecutorName } from '../engine/create.js';

export const executorOption = {
  choices: ['ort', 'tfjs'] as const,
  default: 'ort' as const,
  describe: 'ort: ONNX Runtime (fast, the ZO hot path); tfjs: eager with autodiff',
};
/** A flag's camelCase name, as yargs and spec fields spell it: `batch-size` → `batchSize`. */
export const camelOf = (flag: string): string => flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** A real-number flag: `--lr abc` (which yargs reads as NaN) is one line naming the flag. */
export function numberFlag(flag: string) {
  return (v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const n = Array.isArray(v) ? v.at(-1) : v;
    if (typeof n !== 'number' || Number.isNaN(n)) throw new ZoError(`--${flag}: expected a number`);
    return n;
  };
}

/** A whole-number flag in [min, max], checked where yargs parses it: `--threads 0` or `abc` is one line. */
export function wholeNumberFlag(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const number = numberFlag(flag);
  return (v: unknown): number | undefined => {
    const n = number(v);
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ZoError(`--${flag} ${n}: must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}`);
    return n;
  };
}

export const threadsOption = {
  type: 'number',
  describe: "ONNX Runtime intra-op threads, and the threads z's generation takes between passes (default: all cores)",
  coerce: wholeNumberFlag('threads', 1, 1024),
} as const;
export const deviceOption = {
  choices: ['cpu', 'cuda'] as const,
  describe: 'the ort executor\'s device: cpu (default), or cuda where onnxruntime-node\'s CUDA provider is installed (README "GPU")',
} as const;
export type Device = (typeof deviceOption.choices)[number];

/** --peft, --lora-r, --lora-alpha, --lora-targets, --prefix-tokens: shared by zo run and zo finetuner init. */
export const peftOptions = {
  peft: {
    choices: PEFT_MODES,
    describe:
      "full: θ is every weight (default); lora: θ is LoRA adapters on the target layers (W + (α/r)·B·A); prefix: θ is n key/value slots per attention layer, initialised from the activations of n random tokens (MeZO's prefix tuning). Both are saved in PEFT layout. With lora or prefix, the noise scratch, the optimizer state (ZO-Adam, HiZOO) and checkpoints are the size of the adapter, not of the model",
  },
  'lora-r': { type: 'number', describe: `LoRA rank r (default ${LORA_DEFAULTS.r}, MeZO's)` },
  'lora-alpha': { type: 'number', describe: `LoRA α (default ${LORA_DEFAULTS.alpha}, MeZO's)` },
  'lora-targets': {
    type: 'string',
    describe: `comma-separated module names to adapt (default ${LORA_DEFAULTS.targets.join(',')}, MeZO's)`,
  },
  'prefix-tokens': { type: 'number', describe: `prefix slots per layer (default ${PREFIX_DEFAULTS.tokens}, MeZO's)` },
} as const;

export interface PeftArgs {
  peft?: PeftMode;
  loraR?: number;
  loraAlpha?: number;
  loraTargets?: string;
  prefixTokens?: number;
}

/** The typed prefix settings (undefined if none); refused without --peft prefix unless `resuming`. */
export function prefixFromArgs(argv: PeftArgs, resuming = false): { tokens: number } | undefined {
  if (argv.prefixTokens === undefined) return undefined;
  if (argv.peft !== 'prefix' && !resuming) throw new ZoError('--prefix-tokens goes with --peft prefix');
  return { tokens: argv.prefixTokens };
}

/** The typed LoRA settings (undefined if none); refused without --peft lora unless `resuming`. */
export function loraFromArgs(argv: PeftArgs, resuming = false): { r?: number; alpha?: number; targets?: string[] } | undefined {
  const lora = {
    r: argv.loraR,
    alpha: argv.loraAlpha,
    targets: argv.loraTargets
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  };
  if (Object.values(lora).every((v) => v === undefined)) return undefined;
  if (argv.peft !== 'lora' && !resuming) throw new ZoError('--lora-r, --lora-alpha and --lora-targets go with --peft lora');
  return Object.fromEntries(Object.entries(lora).filter(([, v]) => v !== undefined));
}

export const jsonOption = { type: 'boolean', default: false, describe: 'print JSON instead of text' } as const;

export function makeExecutor(model: Model, executor: ExecutorName, threads?: number, device?: Device): Promise<Executor> {
  return createExecutor(model, { executor, threads, device });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Every value of a repeated array flag, from the raw arguments. With last-wins duplicates (main.ts),
 * yargs replaces an array flag's list at each occurrence, so `--task a --task b` would give [b]; a
 * repeatable flag is meant to add. Undefined unless the flag occurs more than once (yargs' own list
 * is then right). Values are read as yargs reads an array: `--flag=v`, or the words up to the next
 * flag; a bare `--` ends the flags.
 */
export function repeatedFlag(raw: readonly string[], flag: string): string[] | undefined {
  const values: string[] = [];
  let seen = 0;
  for (let i = 0; i < raw.length && raw[i] !== '--'; i++) {
    const a = raw[i]!;
    if (a.startsWith(`--${flag}=`)) {
      seen++;
      values.push(a.slice(flag.length + 3));
    } else if (a === `--${flag}`) {
      seen++;
      while (i + 1 < raw.length && !raw[i + 1]!.startsWith('-')) values.push(raw[++i]!);
    }
  }
  return seen > 1 ? values : undefined;
}
