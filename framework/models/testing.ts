import type { Family } from '../engine/model.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import { opt } from './opt.js';
import { qwen2 } from './qwen2.js';

/**
 * Options the fixture models do not cover, as raw config.json fields for in-memory models (built with
 * O(1) weights by the tests): GQA/MHA, tied and untied heads, RoPE scaling, biases, post-LN OPT with
 * project_in/out, GPT-2's per-layer attention scaling. The parity and KV-cache tests run every one.
 */
export const MODEL_VARIANTS: [string, Family, Record<string, unknown>][] = [
[
  'llama MHA, tied, linear RoPE scaling, attention_bias',
  llama,
  {
    model_type: 'llama',
    vocab_size: 61,
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    tie_word_embeddings: true,
    attention_bias: true,
    rope_scaling: { type: 'linear', factor: 2 },
  },
],
[
  'qwen2 with one kv head, untied',
  qwen2,
  {
    model_type: 'qwen2',
    vocab_size: 61,
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    tie_word_embeddings: false,
  },
],
[
  'opt post-LN with project_in/out (opt-350m shape)',
  opt,
  {
    model_type: 'opt',
    vocab_size: 61,
    hidden_size: 32,
    ffn_dim: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 64,
    do_layer_norm_before: false,
    word_embed_proj_dim: 16,
  },
],
[
  'gpt2 with scale_attn_by_inverse_layer_idx and n_inner',
  gpt2,
  {
    model_type: 'gpt2',
    vocab_size: 61,
    n_embd: 32,
    n_layer: 2,
    n_head: 4,
    n_positions: 64,
    n_inner: 40,
    scale_attn_by_inverse_layer_idx: true,
  },
],
];
