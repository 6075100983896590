/**
 * What the ort executor and its KV decoder share: the graph spec, the session runner the decoder
 * drives, and int64 inputs. A module of its own so the two never import each other.
 */
import ort from 'onnxruntime-node';
import type { Model } from './model.js';

/** An int64 ORT tensor from int32 ids (ORT's Gather and GatherElements take int64 indices). */
export function int64(values: Int32Array): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    [values.length],
  );
}

/** What a traced graph computes, besides θ: its batch shape and which outputs it has. */
export interface GraphSpec {
  B: number;
  S: number;
  /** Candidates per example: the loss is the classification CE (see `objective`). */
  candidates?: number;
  logits?: boolean;
  lastLogits?: boolean;
  /**
   * A KV-cache graph (the decoder's), without the objective: every layer's keys and values leave the
   * graph as `present.{i}.key|value` [B, Hkv, S, D], zero-padded to `slots` slots when given (so a
   * prefill writes straight into a cache of that size). With `past` > 0 the queries also attend to
   * that many cached slots, fed as `past.{i}.key|value` [B, Hkv, past, D] with `past_mask` [B, 1, S, past].
   */
  kv?: { past: number; slots?: number };
}

/** The part of the ort executor a decoder drives: its model, and its cached sessions. */
export interface GraphRunner {
  readonly model: Model;
  session(spec: GraphSpec): Promise<ort.InferenceSession>;
  /** Runs the graph of `spec`, feeding only the inputs it declares, writing into `into` where given. */
  run(
    spec: GraphSpec,
    data: Readonly<Record<string, ort.Tensor>>,
    into?: Readonly<Record<string, ort.Tensor>>,
  ): Promise<ort.InferenceSession.ReturnType>;
}
