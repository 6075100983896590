import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import type { BlockInit } from '../engine/model.js';

export type { BaseConfig, BlockInit, Family } from '../engine/model.js';

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

/** HF's _init_weights for these decoders: norm gains 1, biases 0, everything else N(0, std²). */
export function decoderInit(name: string): BlockInit {
  if (/(norm|ln_\w+|layer_norm)\.weight$/.test(name)) return 'ones';
  if (name.endsWith('.bias')) return 'zeros';
  return 'normal';
}

export const positiveInt = z.number().int().positive();
