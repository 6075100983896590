/**
 * The small tensor vocabulary every model family is written against, once (docs/architecture.md#executors).
 *
 * Two executors implement it: `ort` traces the calls into an ONNX graph, `tfjs` runs them eagerly with
 * autodiff. Shapes are concrete numbers at call time, so a model definition can read `ops.shape(x)` and
 * do ordinary arithmetic on dimensions. (The ort executor traces with marker sizes to make its graphs'
 * batch and sequence sizes symbolic, ort-dims.ts: products of sizes and plain numbers are followed, a
 * float computed from a size or a sum of sizes makes that graph one per batch shape instead.)
 */
export type Shape = readonly number[];

/**
 * The data inputs of one batch, flattened over N = B·S token slots: ids, positions, targets [N] (int);
 * mask [B,1,S,S] (additive); weights [N]; gold [B/C] (int: the correct candidate of each example when
 * rows are C candidates per example); last [B] (int: the flat slot of each row's last real token).
 */
export type InputName = 'ids' | 'positions' | 'mask' | 'targets' | 'weights' | 'gold' | 'last';

/**
 * What one attention layer attends to besides its own tokens: keys [B, Hkv, T, D] and values
 * [B, Hkv, T, D] of T cached slots, and the additive mask [B, 1, S, T] of the slots each query sees.
 */
export interface Past<T> {
  keys: T;
  values: T;
  mask: T;
}

export interface Ops<T> {
  readonly kind: 'ort' | 'tfjs';
  shape(x: T): Shape;

  /** A data input (see InputName). */
  input(name: InputName): T;
  /** A weight block by its HF name. The executor may return θ + c·P(z) here (perturbation in the forward pass). */
  param(name: string): T;
  constant(values: Float32Array, shape: Shape): T;

  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  scale(x: T, s: number): T;
  neg(x: T): T;

  /** Batched a·b (or a·bᵀ), broadcasting leading dims. */
  matmul(a: T, b: T, transposeB?: boolean): T;
  /**
   * x[N, in] → [N, out]. `layout` is how the weight is stored: 'out_in' for torch Linear (y = x·Wᵀ),
   * 'in_out' for GPT-2's Conv1D (y = x·W).
   */
  linear(x: T, w: T, b?: T, layout?: 'out_in' | 'in_out'): T;
  /** Rows of `table` [V, d] at int `ids` [N] → [N, d]. */
  gather(table: T, ids: T): T;

  reshape(x: T, shape: Shape): T;
  transpose(x: T, perm: readonly number[]): T;
  slice(x: T, axis: number, start: number, end: number): T;
  concat(xs: readonly T[], axis: number): T;
  /** Broadcast to `shape` (numpy rules). */
  expand(x: T, shape: Shape): T;
  castFloat(x: T): T;

  /** Over the last axis; g and b are optional (elementwise_affine off). */
  layerNorm(x: T, g: T | undefined, b: T | undefined, eps: number): T;
  /** x · rsqrt(mean(x²) + eps) · g over the last axis (Llama / Qwen2 RMSNorm). */
  rmsNorm(x: T, g: T, eps: number): T;

  relu(x: T): T;
  silu(x: T): T;
  /** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  geluTanh(x: T): T;
  cos(x: T): T;
  sin(x: T): T;

  softmax(x: T): T;
  logSoftmax(x: T): T;
  /** x[N, V], int targets [N] → x[n, targets[n]] as [N]. */
  pick(x: T, targets: T): T;
  sum(x: T, axis: number, keepDims?: boolean): T;

  /**
   * The KV cache hook, for executors that decode incrementally (absent elsewhere). Attention calls it
   * once per layer, in layer order, with that layer's keys [B, Hkv, S, D] (after RoPE) and values; the
   * executor keeps them, and returns the layer's cached past to attend to as well, or undefined when
   * there is none (a plain forward, or the prefill that fills the cache).
   */
  cache?(keys: T, values: T): Past<T> | undefined;
}

/** An additive mask value: large enough to zero a softmax weight, small enough to stay finite in fp32. */
export const MASKED = -1e9;
