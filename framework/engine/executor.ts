import type { BaseConfig, Family } from '../models/family.js';
import type { Batch } from './batch.js';
import type { Decoder } from './decoder.js';
import type { ParamStore } from './params.js';
import type { Perturbation } from '../zo/perturbation.js';

/** A model ready to run: its family, parsed config and weights. */
export interface Model<C extends BaseConfig = BaseConfig> {
  family: Family<C>;
  config: C;
  params: ParamStore;
}

export interface ForwardResult {
  /** Mean weighted next-token loss. */
  loss: number;
  /** Per-row Σ w·log p(target), [B]. */
  seqLogProb: Float32Array;
  /** Per-row Σ w, [B]. */
  seqCount: Float32Array;
  /** [B·S, V], only when asked for. */
  logits?: Float32Array;
  /** [B, V]: each row's next-token logits after its last real token, only when asked for. */
  lastLogits?: Float32Array;
}

export interface ForwardOptions {
  logits?: boolean;
  lastLogits?: boolean;
  /** θ + c·P(z) for these blocks, computed inside the forward pass; θ is not written. */
  perturbation?: Perturbation;
}

export interface Executor {
  readonly name: 'ort' | 'tfjs';
  /** One line for `zo info` and logs, e.g. "ort 1.30.0 cpu, 2 threads". */
  describe(): string;
  forward(batch: Batch, opts?: ForwardOptions): Promise<ForwardResult>;
  /**
   * A greedy decoder with a KV cache, where the executor has one; `recomputeDecoder` serves the
   * others. `padId` fills the slots of rows shorter than the longest.
   */
  decoder?(padId: number): Decoder;
  /** θ's Float32Arrays were written (an update): executors that keep a copy re-read them. */
  refresh(): void;
  dispose(): Promise<void>;
}
