/**
 * What the ort executor and its KV decoder share: the graph spec, the session runner the decoder
 * drives, and int64 inputs. A module of its own so the two never import each other.
 */
import ort from 'onnxruntime-node';
import type { Model } from './model.js';

/** Whether this machine stores an int64 low word first (x64, arm64): then an int32 widens by two word writes. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * An int64 ORT tensor from int32 ids (ORT's Gather and GatherElements take int64 indices). Each value
 * is written as its two 32-bit words (the low one, then its sign), not made a BigInt: for 1,024 ids
 * 3–9 µs against 95–150, which every forward pass paid for its ids, its positions and its targets
 * (on tiny-llama-s, batch 16 × 64, about 1% of a forward).
 */
export function int64(values: Int32Array): ort.Tensor {
  const out = new BigInt64Array(values.length);
  if (LITTLE_ENDIAN) {
    const words = new Int32Array(out.buffer);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      words[2 * i] = v;
      words[2 * i + 1] = v >> 31;
    }
  } else for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', out, [values.length]);
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
