import type { ParamStore } from '../core/params.js';
import type { LoadedModel } from '../models/load.js';
import { completeLora, withLora, type LoraConfig } from '../models/lora.js';
import { completePrefix, realActivations, withPrefix, type PrefixConfig, type PrefixModel } from '../models/prefix.js';

/** How a run fine-tunes: every weight, LoRA adapters, or a prefix (README "PEFT"). */
export const PEFT_MODES = ['full', 'lora', 'prefix'] as const;
export type PeftMode = (typeof PEFT_MODES)[number];

/** What a run's spec says about parameter-efficient fine-tuning. */
export interface PeftSpec {
  /** full (absent): every block is θ; lora: the adapters are; prefix: the prefix slots are. */
  peft?: PeftMode;
  lora?: Partial<LoraConfig>;
  prefix?: Partial<PrefixConfig>;
  seed: number;
}

export const loraConfig = (spec: PeftSpec): LoraConfig => completeLora(spec.lora);
export const prefixConfig = (spec: PeftSpec): PrefixConfig => completePrefix(spec.prefix);

/** What an adapter folder says besides θ's values: PEFT's adapter_config.json is written from it. */
export type Adapter =
  { type: 'lora'; lora: LoraConfig } | ({ type: 'prefix' } & Pick<PrefixModel<LoadedModel>, 'tokens' | 'heads' | 'width' | 'modules'>);

export interface Peft {
  model: LoadedModel;
  /** What the optimizer perturbs and updates. */
  theta: ParamStore;
  /** Absent for full fine-tuning. */
  adapter?: Adapter;
}

/** A saved adapter's blocks by name, and for a prefix its KV heads (adapter_config.json's num_attention_heads). */
export interface SavedAdapter {
  block: (name: string) => Float32Array;
  heads?: number;
}

/**
 * The model a run trains, and θ: all its blocks; with LoRA the adapter blocks (A initialised from the
 * run's seed); with a prefix its slots (initialised from the activations of random tokens keyed by the
 * seed). `saved` supplies the adapter blocks instead.
 */
export async function withPeft(model: LoadedModel, spec: PeftSpec, saved?: SavedAdapter): Promise<Peft> {
  if (spec.peft === 'lora') {
    const l = withLora(model, loraConfig(spec), spec.seed, saved?.block);
    return { model: l.model, theta: l.trainable, adapter: { type: 'lora', lora: l.config } };
  }
  if (spec.peft === 'prefix') {
    const { tokens } = prefixConfig(spec);
    const source = saved ?? (await realActivations(model, tokens, spec.seed));
    const p = withPrefix(model, tokens, { heads: source.heads!, block: source.block });
    const { heads, width, modules } = p;
    return { model: p.model, theta: p.trainable, adapter: { type: 'prefix', tokens, heads, width, modules } };
  }
  return { model, theta: model.params };
}
