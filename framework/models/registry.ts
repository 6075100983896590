import { ZoError } from '../core/errors.js';
import type { BaseConfig, Family } from './family.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import { opt } from './opt.js';
import { qwen2 } from './qwen2.js';

/** Every supported architecture, in one explicit list. */
export const FAMILIES: readonly Family[] = [llama, qwen2, opt, gpt2];

export function familyFor(modelType: unknown, file: string): Family<BaseConfig> {
  const family = FAMILIES.find((f) => f.modelTypes.includes(String(modelType)));
  if (!family) {
    const known = FAMILIES.flatMap((f) => f.modelTypes).join(', ');
    throw new ZoError(`${file}: unknown model_type ${JSON.stringify(modelType)} (supported: ${known})`);
  }
  return family;
}
