import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import type { Ops } from '../engine/ops.js';
import type { ParamSpec } from '../core/params.js';
import { arangePositions, decoderInit, parseWith, positiveInt, type BaseConfig, type Family } from './family.js';
import { attention, ropeTables } from './layers.js';

/**
 * Llama (HF `LlamaForCausalLM`): RMSNorm pre-norm, RoPE (incl. `rope_scaling` llama3 and linear), GQA,
 * SwiGLU MLP. Qwen2 is this decoder with q/k/v biases (qwen2.ts).
 */
export interface LlamaConfig extends BaseConfig {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsEps: number;
  invFreq: Float32Array;
  /** Bias on q, k, v (Qwen2, or Llama's attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's attention_bias only). */
  oBias: boolean;
  mlpBias: boolean;
}

const ropeScaling = z
  .object({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().positive().optional(),
    high_freq_factor: z.number().positive().optional(),
    original_max_position_embeddings: positiveInt.optional(),
  })
  .nullish();

export const llamaSchema = z.object({
  model_type: z.string(),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  max_position_embeddings: positiveInt.default(2048),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: ropeScaling,
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  hidden_act: z.literal('silu', { message: 'only hidden_act "silu" is supported' }).default('silu'),
});

/** HF's rotary inverse frequencies, with the `rope_scaling` variants we support. */
export function ropeInvFreq(raw: z.infer<typeof llamaSchema>, headDim: number, file: string): Float32Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(raw.rope_theta, (2 * i) / headDim);
  const sc = raw.rope_scaling;
  const type = sc ? (sc.rope_type ?? sc.type ?? 'default') : 'default';
  if (type === 'default') return Float32Array.from(inv);
  if (type === 'linear') {
    const factor = sc?.factor ?? 1;
    return Float32Array.from(inv, (f) => f / factor);
  }
  if (type === 'llama3') {
    // transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`, short ones
    // kept, and the band between interpolated smoothly.
    const factor = sc?.factor ?? 8;
    const low = sc?.low_freq_factor ?? 1;
    const high = sc?.high_freq_factor ?? 4;
    const oldCtx = sc?.original_max_position_embeddings ?? 8192;
    const lowWavelen = oldCtx / low;
    const highWavelen = oldCtx / high;
    return Float32Array.from(inv, (f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) return f;
      if (wavelen > lowWavelen) return f / factor;
      const smooth = (oldCtx / wavelen - low) / (high - low);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  throw new ZoError(`${file}: rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`);
}

export function llamaConfigFrom(raw: z.infer<typeof llamaSchema>, file: string, qkvBias: boolean): LlamaConfig {
  const heads = raw.num_attention_heads;
  const kvHeads = raw.num_key_value_heads ?? heads;
  const headDim = raw.head_dim ?? raw.hidden_size / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw new ZoError(`${file}: hidden_size ${raw.hidden_size} / num_attention_heads ${heads} is not an even head size`);
  if (heads % kvHeads !== 0)
    throw new ZoError(`${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  return {
    modelType: raw.model_type,
    vocabSize: raw.vocab_size,
    maxPositions: raw.max_position_embeddings,
    tieWordEmbeddings: raw.tie_word_embeddings,
    hidden: raw.hidden_size,
    intermediate: raw.intermediate_size,
    layers: raw.num_hidden_layers,
    heads,
    kvHeads,
    headDim,
    rmsEps: raw.rms_norm_eps,
    invFreq: ropeInvFreq(raw, headDim, file),
    qkvBias: qkvBias || raw.attention_bias,
    oBias: raw.attention_bias,
    mlpBias: raw.mlp_bias,
  };
}

export function llamaParams(c: LlamaConfig): ParamSpec[] {
  const d = c.hidden;
  const qd = c.heads * c.headDim;
  const kvd = c.kvHeads * c.headDim;
  const p: ParamSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, d] }];
  for (let i = 0; i < c.layers; i++) {
    const l = `model.layers.${i}`;
    const linear = (name: string, out: number, inp: number, bias: boolean) => {
      p.push({ name: `${l}.${name}.weight`, shape: [out, inp] });
      if (bias) p.push({ name: `${l}.${name}.bias`, shape: [out] });
    };
    p.push({ name: `${l}.input_layernorm.weight`, shape: [d] });
    linear('self_attn.q_proj', qd, d, c.qkvBias);
    linear('self_attn.k_proj', kvd, d, c.qkvBias);
    linear('self_attn.v_proj', kvd, d, c.qkvBias);
    linear('self_attn.o_proj', d, qd, c.oBias);
    p.push({ name: `${l}.post_attention_layernorm.weight`, shape: [d] });
    linear('mlp.gate_proj', c.intermediate, d, c.mlpBias);
    linear('mlp.up_proj', c.intermediate, d, c.mlpBias);
    linear('mlp.down_proj', d, c.intermediate, c.mlpBias);
  }
  p.push({ name: 'model.norm.weight', shape: [d] });
  if (!c.tieWordEmbeddings) p.push({ name: 'lm_head.weight', shape: [c.vocabSize, d] });
  return p;
}

export function llamaLogits<T>(ops: Ops<T>, c: LlamaConfig, B: number, S: number): T {
  const w = (name: string) => ops.param(name);
  const bias = (name: string, on: boolean) => (on ? w(`${name}.bias`) : undefined);
  const proj = (x: T, name: string, on: boolean) => ops.linear(x, w(`${name}.weight`), bias(name, on));
  const rope = ropeTables(ops, c.invFreq, B, S);
  const dims = { B, S, H: c.heads, Hkv: c.kvHeads, D: c.headDim, scale: 1 / Math.sqrt(c.headDim) };

  let h = ops.gather(w('model.embed_tokens.weight'), ops.input('ids'));
  for (let i = 0; i < c.layers; i++) {
    const l = `model.layers.${i}`;
    const x = ops.rmsNorm(h, w(`${l}.input_layernorm.weight`), c.rmsEps);
    const q = proj(x, `${l}.self_attn.q_proj`, c.qkvBias);
    const k = proj(x, `${l}.self_attn.k_proj`, c.qkvBias);
    const v = proj(x, `${l}.self_attn.v_proj`, c.qkvBias);
    h = ops.add(h, proj(attention(ops, q, k, v, dims, rope), `${l}.self_attn.o_proj`, c.oBias));
    const y = ops.rmsNorm(h, w(`${l}.post_attention_layernorm.weight`), c.rmsEps);
    const gate = ops.silu(proj(y, `${l}.mlp.gate_proj`, c.mlpBias));
    const up = proj(y, `${l}.mlp.up_proj`, c.mlpBias);
    h = ops.add(h, proj(ops.mul(gate, up), `${l}.mlp.down_proj`, c.mlpBias));
  }
  h = ops.rmsNorm(h, w('model.norm.weight'), c.rmsEps);
  return ops.linear(h, w(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'));
}

export const llama: Family<LlamaConfig> = {
  name: 'llama',
  modelTypes: ['llama'],
  parseConfig: (raw, file) => llamaConfigFrom(parseWith(llamaSchema, raw, file), file, false),
  params: llamaParams,
  positions: (_c, _attention, B, S) => arangePositions(B, S),
  logits: llamaLogits,
  init: (_c, name) => decoderInit(name),
};
