import { z } from 'zod';
import { ZoError } from '../errors.js';
import type { Ops } from '../engine/ops.js';
import type { ParamSpec } from '../engine/params.js';

/** What every parsed config.json carries, whatever the family. */
export interface BaseConfig {
  readonly modelType: string;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly tieWordEmbeddings: boolean;
}

/**
 * One architecture, written once against `Ops` (DESIGN §3.1). HF parameter names throughout, so a real
 * checkpoint's tensors map one to one onto blocks.
 */
export interface Family<C extends BaseConfig = BaseConfig> {
  readonly name: string;
  /** Values of config.json's `model_type` this family reads. */
  readonly modelTypes: readonly string[];
  parseConfig(raw: unknown, file: string): C;
  /** The blocks of θ in order. A tied lm_head is not a block: the embedding serves both. */
  params(c: C): ParamSpec[];
  /** Position ids per token slot from the attention mask (0/1, [B·S]); each family follows its HF code. */
  positions(c: C, attention: Uint8Array, B: number, S: number): Int32Array;
  /** Next-token logits [B·S, V] for the batch behind `ops`' inputs. */
  logits<T>(ops: Ops<T>, c: C, B: number, S: number): T;
  /**
   * Other names a checkpoint may use for a block (e.g. GPT-2 files saved without `transformer.`).
   * The loader tries the canonical name first.
   */
  aliases?(name: string): string[];
  /** How a block starts when training from scratch (fixtures, pretraining). */
  init(c: C, name: string): BlockInit;
}

/** Parses config.json with a zod schema; the first problem becomes one line naming the file and field. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, file: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(root)';
    throw new ZoError(`${file}: ${where}: ${issue.message}`);
  }
  return r.data;
}

/** Position ids 0..S-1 for every row, as Llama, Qwen2 and GPT-2 use when none are passed. */
export function arangePositions(B: number, S: number): Int32Array {
  const p = new Int32Array(B * S);
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) p[b * S + s] = s;
  return p;
}

export type BlockInit = 'normal' | 'ones' | 'zeros';

/** HF's _init_weights for these decoders: norm gains 1, biases 0, everything else N(0, std²). */
export function decoderInit(name: string): BlockInit {
  if (/(norm|ln_\w+|layer_norm)\.weight$/.test(name)) return 'ones';
  if (name.endsWith('.bias')) return 'zeros';
  return 'normal';
}

export const positiveInt = z.number().int().positive();
