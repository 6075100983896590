import type { Ops } from './ops.js';
import type { ParamSpec, ParamStore } from '../core/params.js';

/**
 * What an executor runs: an architecture written once against `Ops`, its parsed config and θ.
 * The model families (framework/models) implement `Family`; executors only call it.
 */
/** What every parsed config.json carries, whatever the family. */
export interface BaseConfig {
  readonly modelType: string;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly tieWordEmbeddings: boolean;
}

/**
 * One architecture, written once against `Ops` (docs/architecture.md#executors). HF parameter names throughout, so a real
 * checkpoint's tensors map one to one onto blocks.
 */
export interface Family<C extends BaseConfig = BaseConfig> {
  readonly name: string;
  /** Values of config.json's `model_type` this family reads. */
  readonly modelTypes: readonly string[];
  parseConfig(raw: unknown, file: string): C;
  /** The blocks of θ in order. A tied lm_head is not a block: the embedding serves both. */
  params(c: C): ParamSpec[];
  /** Position ids per token slot from the attention mask (0/1, [B·S]); each family follows its HF code. */
  positions(c: C, attention: Uint8Array, B: number, S: number): Int32Array;
  /** Next-token logits [B·S, V] for the batch behind `ops`' inputs. */
  logits<T>(ops: Ops<T>, c: C, B: number, S: number): T;
  /**
   * Other names a checkpoint may use for a block (e.g. GPT-2 files saved without `transformer.`).
   * The loader tries the canonical name first.
   */
  aliases?(name: string): string[];
  /** How a block starts when training from scratch (fixtures, pretraining). */
  init(c: C, name: string): BlockInit;
}

export type BlockInit = 'normal' | 'ones' | 'zeros';

/** A model ready to run: its family, parsed config and weights. */
export interface Model<C extends BaseConfig = BaseConfig> {
  family: Family<C>;
  config: C;
  params: ParamStore;
}
