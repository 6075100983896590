import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import type { Ops } from '../engine/ops.js';
import type { ParamSpec } from '../core/params.js';
import { decoderInit, parseWith, positiveInt, type BaseConfig, type Family } from './family.js';
import { attention } from './layers.js';

/**
 * OPT (HF `OPTForCausalLM`): learned positions with an offset of 2, LayerNorm before (OPT-125m, 1.3b+)
 * or after (OPT-350m) each sublayer, ReLU MLP, and project_in/project_out when the word embedding
 * width differs from the hidden size (OPT-350m).
 */
export interface OptConfig extends BaseConfig {
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  embedDim: number;
  preNorm: boolean;
  finalNorm: boolean;
  bias: boolean;
  affine: boolean;
}

/** OPT's learned position table has 2 extra rows: positions are looked up at id + 2. */
export const OPT_POSITION_OFFSET = 2;
const LN_EPS = 1e-5;

const schema = z.object({
  model_type: z.string(),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  ffn_dim: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  max_position_embeddings: positiveInt.default(2048),
  word_embed_proj_dim: positiveInt.nullish(),
  do_layer_norm_before: z.boolean().default(true),
  _remove_final_layer_norm: z.boolean().default(false),
  enable_bias: z.boolean().default(true),
  layer_norm_elementwise_affine: z.boolean().default(true),
  tie_word_embeddings: z.boolean().default(true),
  activation_function: z.literal('relu', { message: 'only activation_function "relu" is supported' }).default('relu'),
});

function parseConfig(raw: unknown, file: string): OptConfig {
  const r = parseWith(schema, raw, file);
  if (r.hidden_size % r.num_attention_heads !== 0)
    throw new ZoError(`${file}: hidden_size ${r.hidden_size} is not a multiple of num_attention_heads ${r.num_attention_heads}`);
  return {
    modelType: r.model_type,
    vocabSize: r.vocab_size,
    maxPositions: r.max_position_embeddings,
    tieWordEmbeddings: r.tie_word_embeddings,
    hidden: r.hidden_size,
    ffn: r.ffn_dim,
    layers: r.num_hidden_layers,
    heads: r.num_attention_heads,
    embedDim: r.word_embed_proj_dim ?? r.hidden_size,
    preNorm: r.do_layer_norm_before,
    // HF builds final_layer_norm only for pre-norm models that did not remove it.
    finalNorm: r.do_layer_norm_before && !r._remove_final_layer_norm,
    bias: r.enable_bias,
    affine: r.layer_norm_elementwise_affine,
  };
}

function params(c: OptConfig): ParamSpec[] {
  const d = c.hidden;
  const p: ParamSpec[] = [
    { name: 'model.decoder.embed_tokens.weight', shape: [c.vocabSize, c.embedDim] },
    { name: 'model.decoder.embed_positions.weight', shape: [c.maxPositions + OPT_POSITION_OFFSET, d] },
  ];
  const norm = (name: string) => {
    if (!c.affine) return;
    p.push({ name: `${name}.weight`, shape: [d] }, { name: `${name}.bias`, shape: [d] });
  };
  const linear = (name: string, out: number, inp: number) => {
    p.push({ name: `${name}.weight`, shape: [out, inp] });
    if (c.bias) p.push({ name: `${name}.bias`, shape: [out] });
  };
  // HF's registration order: project_out, project_in, final_layer_norm, then the layers.
  if (c.embedDim !== d) {
    p.push({ name: 'model.decoder.project_out.weight', shape: [c.embedDim, d] });
    p.push({ name: 'model.decoder.project_in.weight', shape: [d, c.embedDim] });
  }
  if (c.finalNorm) norm('model.decoder.final_layer_norm');
  for (let i = 0; i < c.layers; i++) {
    const l = `model.decoder.layers.${i}`;
    for (const proj of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) linear(`${l}.self_attn.${proj}`, d, d);
    norm(`${l}.self_attn_layer_norm`);
    linear(`${l}.fc1`, c.ffn, d);
    linear(`${l}.fc2`, d, c.ffn);
    norm(`${l}.final_layer_norm`);
  }
  if (!c.tieWordEmbeddings) p.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.embedDim] });
  return p;
}

/** HF: cumsum(mask)·mask − 1, so padding slots get −1 (looked up at row 1) and real tokens count up. */
function positions(_c: OptConfig, attention: Uint8Array, B: number, S: number): Int32Array {
  const p = new Int32Array(B * S);
  for (let b = 0; b < B; b++) {
    let seen = 0;
    for (let s = 0; s < S; s++) {
      const m = attention[b * S + s]!;
      seen += m;
      p[b * S + s] = seen * m - 1 + OPT_POSITION_OFFSET;
    }
  }
  return p;
}

function logits<T>(ops: Ops<T>, c: OptConfig, B: number, S: number): T {
  const w = (name: string) => ops.param(name);
  const linear = (x: T, name: string) => ops.linear(x, w(`${name}.weight`), c.bias ? w(`${name}.bias`) : undefined);
  const norm = (x: T, name: string) =>
    ops.layerNorm(x, c.affine ? w(`${name}.weight`) : undefined, c.affine ? w(`${name}.bias`) : undefined, LN_EPS);
  const D = c.hidden / c.heads;
  const dims = { B, S, H: c.heads, Hkv: c.heads, D, scale: 1 / Math.sqrt(D) };

  let h = ops.gather(w('model.decoder.embed_tokens.weight'), ops.input('ids'));
  if (c.embedDim !== c.hidden) h = ops.linear(h, w('model.decoder.project_in.weight'));
  h = ops.add(h, ops.gather(w('model.decoder.embed_positions.weight'), ops.input('positions')));
  for (let i = 0; i < c.layers; i++) {
    const l = `model.decoder.layers.${i}`;
    const x = c.preNorm ? norm(h, `${l}.self_attn_layer_norm`) : h;
    const a = attention(
      ops,
      linear(x, `${l}.self_attn.q_proj`),
      linear(x, `${l}.self_attn.k_proj`),
      linear(x, `${l}.self_attn.v_proj`),
      dims,
    );
    h = ops.add(h, linear(a, `${l}.self_attn.out_proj`));
    if (!c.preNorm) h = norm(h, `${l}.self_attn_layer_norm`);
    const y = c.preNorm ? norm(h, `${l}.final_layer_norm`) : h;
    h = ops.add(h, linear(ops.relu(linear(y, `${l}.fc1`)), `${l}.fc2`));
    if (!c.preNorm) h = norm(h, `${l}.final_layer_norm`);
  }
  if (c.finalNorm) h = norm(h, 'model.decoder.final_layer_norm');
  if (c.embedDim !== c.hidden) h = ops.linear(h, w('model.decoder.project_out.weight'));
  return ops.linear(h, w(c.tieWordEmbeddings ? 'model.decoder.embed_tokens.weight' : 'lm_head.weight'));
}

export const opt: Family<OptConfig> = {
  name: 'opt',
  modelTypes: ['opt'],
  parseConfig,
  params,
  positions,
  logits,
  // Older OPT files (e.g. facebook/opt-125m) store the decoder without the `model.` prefix.
  aliases: (name) => (name.startsWith('model.') ? [name.slice('model.'.length)] : []),
  init: (_c, name) => decoderInit(name),
};
