/**
 * Writes the test fixtures: one small random-init model per family in Hugging Face layout
 * (config.json, model.safetensors, tokenizer.json, tokenizer_config.json), each well under 1 MB.
 * Deterministic: the same bytes on every run, so a test can regenerate them and compare.
 *
 *   node dist/scripts/make-fixtures.js [OUT_DIR]      (default: fixtures/ in the package)
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hashName, initParams } from '../framework/models/init.js';
import { familyFor } from '../framework/models/registry.js';
import { writeSafetensors } from '../framework/models/safetensors.js';
import { tokenizerFromJson } from '../framework/models/tokenizer.js';
import { fixturesDir } from '../framework/models/fixtures.js';
import { fillGaussian, keyOf } from '../framework/core/rng.js';
import { truncatedTokenizerJson, type TokenizerFamily } from './fixture-tokenizers.js';

/** Byte-level BPE entries kept from each real tokenizer: enough for words, small enough for 1 MB. */
const KEEP = 1000;

interface FixtureSpec {
  name: string;
  tokenizer: TokenizerFamily;
  dtype: 'F32' | 'F16' | 'BF16';
  /** config.json without vocab_size, which follows the tokenizer. */
  config: Record<string, unknown>;
}

/**
 * One per family, each exercising the options real checkpoints use: GQA + llama3 RoPE scaling +
 * untied head (Llama 3.1), q/k/v biases + tied head in bf16 (Qwen2.5), learned positions + fp16 (OPT),
 * Conv1D + gelu_new (GPT-2).
 */
export const FIXTURES: FixtureSpec[] = [
  {
    name: 'llama',
    tokenizer: 'llama3',
    dtype: 'F32',
    config: {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
      tie_word_embeddings: false,
      hidden_act: 'silu',
    },
  },
  {
    name: 'qwen2',
    tokenizer: 'qwen2',
    dtype: 'BF16',
    config: {
      model_type: 'qwen2',
      architectures: ['Qwen2ForCausalLM'],
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      tie_word_embeddings: true,
      hidden_act: 'silu',
    },
  },
  {
    name: 'opt',
    tokenizer: 'gpt2',
    dtype: 'F16',
    config: {
      model_type: 'opt',
      architectures: ['OPTForCausalLM'],
      hidden_size: 32,
      ffn_dim: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: 128,
      word_embed_proj_dim: 32,
      do_layer_norm_before: true,
      activation_function: 'relu',
      tie_word_embeddings: true,
    },
  },
  {
    name: 'gpt2',
    tokenizer: 'gpt2',
    dtype: 'F32',
    config: {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: 32,
      n_layer: 2,
      n_head: 4,
      n_positions: 128,
      activation_function: 'gelu_new',
      tie_word_embeddings: true,
    },
  },
];

/**
 * Random weights with signal in every block: matrices N(0, 0.2²) so logits are O(1), and norm gains
 * and biases jittered off 1 and 0 so a dropped gain or bias changes the output.
 */
function fixtureParams(raw: Record<string, unknown>, seed: number) {
  const family = familyFor(raw.model_type, 'config.json');
  const config = family.parseConfig(raw, 'config.json');
  const params = initParams(family, config, seed, 0.2);
  for (const name of params.names) {
    if (family.init(config, name) === 'normal') continue;
    const v = params.get(name);
    const jitter = fillGaussian(new Float32Array(v.length), keyOf(seed + 1, hashName(name)));
    for (let i = 0; i < v.length; i++) v[i]! += 0.1 * jitter[i]!;
  }
  return { family, config, params };
}

/** Padded up like real checkpoints, whose embedding rows outnumber the tokenizer's ids. */
function paddedVocab(n: number): number {
  return Math.ceil(n / 64) * 64;
}

export function writeFixture(spec: FixtureSpec, outDir: string): void {
  const dir = path.join(outDir, spec.name);
  fs.mkdirSync(dir, { recursive: true });
  const tok = truncatedTokenizerJson(spec.tokenizer, KEEP);
  const vocab = paddedVocab(tokenizerFromJson(tok.tokenizer, tok.config).vocabSize);
  const raw = { ...spec.config, vocab_size: vocab, torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[spec.dtype] };
  const { params } = fixtureParams(raw, hashName(spec.name));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.tokenizer));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tok.config, null, 2) + '\n');
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    params.names.map((name) => ({ name, shape: [...params.shape(name)], data: params.get(name), dtype: spec.dtype })),
    { format: 'pt' },
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2] ?? fixturesDir();
  for (const spec of FIXTURES) writeFixture(spec, out);
  console.log(`wrote ${FIXTURES.map((f) => f.name).join(', ')} to ${out}`);
}
