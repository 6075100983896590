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
