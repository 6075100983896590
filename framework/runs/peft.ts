import type { ParamStore } from '../core/params.js';
import type { LoadedModel } from '../models/load.js';
import { completeLora, withLora, type LoraConfig } from '../models/lora.js';

/** What a run's spec says about parameter-efficient fine-tuning. */
export interface PeftSpec {
  /** full (absent): every block is θ; lora: the adapters are. */
  peft?: 'full' | 'lora';
  lora?: Partial<LoraConfig>;
  seed: number;
}

export const loraConfig = (spec: PeftSpec): LoraConfig => completeLora(spec.lora);

/**
 * The model a run trains, and θ: all its blocks, or with LoRA the adapter blocks (initialised from the
 * run's seed; `adapter` reads saved ones instead), the model reading W + (α/r)·B·A.
 */
export function withPeft(
  model: LoadedModel,
  spec: PeftSpec,
  adapter?: (name: string) => Float32Array,
): { model: LoadedModel; theta: ParamStore } {
  if (spec.peft !== 'lora') return { model, theta: model.params };
  const l = withLora(model, loraConfig(spec), spec.seed, adapter);
  return { model: l.model, theta: l.trainable };
}
