import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import type { Ops } from '../engine/ops.js';
import type { ParamSpec } from '../core/params.js';
import { arangePositions, decoderInit, parseWith, positiveInt, type BaseConfig, type Family } from './family.js';
import { attention } from './layers.js';

/**
 * GPT-2 (HF `GPT2LMHeadModel`): learned positions, pre-LN, gelu_new, and Conv1D weights stored as
 * [in, out] (y = x·W + b), with q, k and v fused in c_attn.
 */
export interface Gpt2Config extends BaseConfig {
  hidden: number;
  inner: number;
  layers: number;
  heads: number;
  lnEps: number;
  scaleAttn: boolean;
  scaleByLayer: boolean;
  act: 'gelu' | 'relu';
}

const schema = z.object({
  model_type: z.string(),
  vocab_size: positiveInt,
  n_positions: positiveInt.default(1024),
  n_embd: positiveInt,
  n_layer: positiveInt,
  n_head: positiveInt,
  n_inner: positiveInt.nullish(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z
    .enum(['gelu_new', 'gelu_pytorch_tanh', 'relu'], { message: 'activation_function must be gelu_new, gelu_pytorch_tanh or relu' })
    .default('gelu_new'),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
});

function parseConfig(raw: unknown, file: string): Gpt2Config {
  const r = parseWith(schema, raw, file);
  if (r.n_embd % r.n_head !== 0) throw new ZoError(`${file}: n_embd ${r.n_embd} is not a multiple of n_head ${r.n_head}`);
  return {
    modelType: r.model_type,
    vocabSize: r.vocab_size,
    maxPositions: r.n_positions,
    tieWordEmbeddings: r.tie_word_embeddings,
    hidden: r.n_embd,
    inner: r.n_inner ?? 4 * r.n_embd,
    layers: r.n_layer,
    heads: r.n_head,
    lnEps: r.layer_norm_epsilon,
    scaleAttn: r.scale_attn_weights,
    scaleByLayer: r.scale_attn_by_inverse_layer_idx,
    act: r.activation_function === 'relu' ? 'relu' : 'gelu',
  };
}

function params(c: Gpt2Config): ParamSpec[] {
  const d = c.hidden;
  const p: ParamSpec[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, d] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositions, d] },
  ];
  const ln = (name: string) => p.push({ name: `${name}.weight`, shape: [d] }, { name: `${name}.bias`, shape: [d] });
  const conv = (name: string, inp: number, out: number) =>
    p.push({ name: `${name}.weight`, shape: [inp, out] }, { name: `${name}.bias`, shape: [out] });
  for (let i = 0; i < c.layers; i++) {
    const l = `transformer.h.${i}`;
    ln(`${l}.ln_1`);
    conv(`${l}.attn.c_attn`, d, 3 * d);
    conv(`${l}.attn.c_proj`, d, d);
    ln(`${l}.ln_2`);
    conv(`${l}.mlp.c_fc`, d, c.inner);
    conv(`${l}.mlp.c_proj`, c.inner, d);
  }
  ln('transformer.ln_f');
  if (!c.tieWordEmbeddings) p.push({ name: 'lm_head.weight', shape: [c.vocabSize, d] });
  return p;
}

function logits<T>(ops: Ops<T>, c: Gpt2Config, B: number, S: number): T {
  const w = (name: string) => ops.param(name);
  const conv = (x: T, name: string) => ops.linear(x, w(`${name}.weight`), w(`${name}.bias`), 'in_out');
  const ln = (x: T, name: string) => ops.layerNorm(x, w(`${name}.weight`), w(`${name}.bias`), c.lnEps);
  const d = c.hidden;
  const D = d / c.heads;

  let h = ops.add(
    ops.gather(w('transformer.wte.weight'), ops.input('ids')),
    ops.gather(w('transformer.wpe.weight'), ops.input('positions')),
  );
  for (let i = 0; i < c.layers; i++) {
    const l = `transformer.h.${i}`;
    const qkv = conv(ln(h, `${l}.ln_1`), `${l}.attn.c_attn`);
    const scale = (c.scaleAttn ? 1 / Math.sqrt(D) : 1) / (c.scaleByLayer ? i + 1 : 1);
    const a = attention(
      ops,
      ops.slice(qkv, 1, 0, d),
      ops.slice(qkv, 1, d, 2 * d),
      ops.slice(qkv, 1, 2 * d, 3 * d),
      { B, S, H: c.heads, Hkv: c.heads, D, scale },
    );
    h = ops.add(h, conv(a, `${l}.attn.c_proj`));
    const m = conv(ln(h, `${l}.ln_2`), `${l}.mlp.c_fc`);
    h = ops.add(h, conv(c.act === 'relu' ? ops.relu(m) : ops.geluTanh(m), `${l}.mlp.c_proj`));
  }
  h = ln(h, 'transformer.ln_f');
  return ops.linear(h, w(c.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight'));
}

export const gpt2: Family<Gpt2Config> = {
  name: 'gpt2',
  modelTypes: ['gpt2'],
  parseConfig,
  params,
  positions: (_c, _attention, B, S) => arangePositions(B, S),
  logits,
  // The original openai-community/gpt2 file stores blocks without the `transformer.` prefix.
  aliases: (name) => (name.startsWith('transformer.') ? [name.slice('transformer.'.length)] : []),
  init: (_c, name) => decoderInit(name),
};
