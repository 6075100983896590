import { uniformAt } from '../core/rng.js';

/** A PertNN's input: mean θ_i, variance θ_i, the previous ℓ⁺ and ℓ⁻, the previous σ_i (docs/methods/zo-finetuner.md). */
export const FEATURES = 5;
/** Its hidden width: Linear(5→64) → tanh → Linear(64→1), then |·|, as in the official code. */
export const HIDDEN = 64;

/** One block's MLP, as plain arrays: w1 [HIDDEN, FEATURES] row-major, b1 [HIDDEN], w2 [HIDDEN], b2 [1]. */
export interface PertNN {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

/** The tensors of a PertNN by their suffix, in the order they are saved. */
export const PERTNN_TENSORS = ['w1', 'b1', 'w2', 'b2'] as const;
export const PERTNN_SHAPES: Record<(typeof PERTNN_TENSORS)[number], number[]> = {
  w1: [HIDDEN, FEATURES],
  b1: [HIDDEN],
  w2: [1, HIDDEN],
  b2: [1],
};

/**
 * PyTorch's default Linear initialisation (weights and biases uniform in ±1/√fan_in), from keyed
 * uniforms so a bank is a pure function of its key.
 */
export function initPertNN(key: number): PertNN {
  const draw = (n: number, fanIn: number, offset: number) => {
    const bound = 1 / Math.sqrt(fanIn);
    return Float32Array.from({ length: n }, (_, i) => (2 * uniformAt(key, offset + i) - 1) * bound);
  };
  const n1 = HIDDEN * FEATURES;
  return {
    w1: draw(n1, FEATURES, 0),
    b1: draw(HIDDEN, FEATURES, n1),
    w2: draw(HIDDEN, HIDDEN, n1 + HIDDEN),
    b2: draw(1, HIDDEN, n1 + 2 * HIDDEN),
  };
}

/** What the forward pass keeps for the backward one. */
export interface PertNNTrace {
  x: Float64Array;
  /** tanh of the hidden pre-activations. */
  h: Float64Array;
  /** W2·h + b2, before |·|. */
  out: number;
}

/** σ = |W2·tanh(W1·x + b1) + b2|, in float64. */
export function pertnnForward(net: PertNN, x: ArrayLike<number>): { sigma: number; trace: PertNNTrace } {
  const xs = Float64Array.from(x);
  const h = new Float64Array(HIDDEN);
  let out = net.b2[0]!;
  for (let j = 0; j < HIDDEN; j++) {
    let a = net.b1[j]!;
    for (let k = 0; k < FEATURES; k++) a += net.w1[j * FEATURES + k]! * xs[k]!;
    h[j] = Math.tanh(a);
    out += net.w2[j]! * h[j]!;
  }
  return { sigma: Math.abs(out), trace: { x: xs, h, out } };
}

/** ∂(dSigma·σ)/∂ω for one net, from its trace: the gradient of a scalar that depends on ω only through σ. */
export function pertnnBackward(
  net: PertNN,
  t: PertNNTrace,
  dSigma: number,
): { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array } {
  // d|u|/du = sign(u); at exactly 0 the subgradient 0 (torch's choice for abs).
  const dOut = dSigma * Math.sign(t.out);
  const w1 = new Float64Array(HIDDEN * FEATURES);
  const b1 = new Float64Array(HIDDEN);
  const w2 = new Float64Array(HIDDEN);
  for (let j = 0; j < HIDDEN; j++) {
    w2[j] = dOut * t.h[j]!;
    const dA = dOut * net.w2[j]! * (1 - t.h[j]! * t.h[j]!);
    b1[j] = dA;
    for (let k = 0; k < FEATURES; k++) w1[j * FEATURES + k] = dA * t.x[k]!;
  }
  return { w1, b1, w2, b2: Float64Array.of(dOut) };
}
