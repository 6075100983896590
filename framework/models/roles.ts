/**
 * What a block is for, read from its Hugging Face name (the same names in every family here): rules
 * keyed by role, such as ZO-FT's embedding heuristic, never look at a model's name.
 */
export type BlockRole = 'embedding' | 'attention' | 'mlp' | 'norm' | 'head' | 'other';
export const BLOCK_ROLES: readonly BlockRole[] = ['embedding', 'attention', 'mlp', 'norm', 'head', 'other'];

const RULES: readonly [RegExp, BlockRole][] = [
  [/(^|\.)(embed_tokens|embed_positions|wte|wpe)\.weight$/, 'embedding'],
  [/(^|\.)lm_head\./, 'head'],
  [/(norm|(^|\.)ln_\w+|layer_norm)\.(weight|bias)$/, 'norm'],
  [/\.(self_attn|attn)\./, 'attention'],
  [/\.(mlp|fc1|fc2)\./, 'mlp'],
  [/(^|\.)project_(in|out)\./, 'other'],
];

export function blockRole(name: string): BlockRole {
  return RULES.find(([re]) => re.test(name))?.[1] ?? 'other';
}

/** Whether a block is a PEFT adapter's, not the model's own: LoRA's A and B (lora.ts), a prefix's keys and values (prefix.ts). */
export function isAdapterBlock(name: string): boolean {
  return /\.(lora_[AB]\.weight|prefix_keys|prefix_values)$/.test(name);
}

/**
 * The transformer layer a block belongs to, as its name's prefix up to the layer index
 * (`model.layers.3`, `model.decoder.layers.3` for OPT, `transformer.h.3` for GPT-2), or undefined
 * for a block outside the layer stack (embeddings, the final norm, lm_head). The first (outermost)
 * `layers.N` or `h.N` of the name counts.
 */
export function blockLayer(name: string): string | undefined {
  return /^((?:.+?\.)?(?:layers|h)\.\d+)\./.exec(name)?.[1];
}
