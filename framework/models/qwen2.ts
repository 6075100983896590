import type { Family } from './family.js';
import { arangePositions, decoderInit, parseWith } from './family.js';
import { llamaConfigFrom, llamaLogits, llamaParams, llamaSchema, type LlamaConfig } from './llama.js';

/**
 * Qwen2 (HF `Qwen2ForCausalLM`): the Llama decoder with biases on q, k and v (not on o_proj).
 * Sliding-window attention (`use_sliding_window`) is off in every released Qwen2/2.5 config.
 */
export const qwen2: Family<LlamaConfig> = {
  name: 'qwen2',
  modelTypes: ['qwen2'],
  parseConfig: (raw, file) => llamaConfigFrom(parseWith(llamaSchema, raw, file), file, true),
  params: llamaParams,
  positions: (_c, _attention, B, S) => arangePositions(B, S),
  logits: llamaLogits,
  init: (_c, name) => decoderInit(name),
};
