import { OnnxGraph } from '../engine/onnx-graph.js';
import type { LlamaConfig } from '../models/llama.js';

/**
 * The Llama forward pass and mean next-token loss written directly as ONNX nodes, independently of
 * `Ops`/`OrtTracer`/layers.ts: a benchmark baseline for the traced graph and a correctness cross-check.
 *
 * Same graph inputs as `traceModel` (ids, positions, targets int64 [B·S]; mask float [B,1,S,S];
 * weights float [B·S]; every weight block as a float input by its HF name) and one output, `loss`
 * (−Σ w·log p(target) / Σ w). Standard opset 17 only; weights stay graph inputs (zero-copy).
 *
 * Choices, all aimed at ORT's CPU EP (measured against the traced graph with ORT profiling):
 * - q, k, v come out head-major ([n, N, D]) from one batched MatMul each, against the [out, in]
 *   weight viewed as [n, D, d] with its last two axes transposed; ORT folds that Transpose into the
 *   MatMul (FusedMatMul transB), so θ is read in place and q/k/v need no activation Transposes. The
 *   only Transpose left per layer merges the heads back before o_proj.
 * - Every other projection is one Gemm with transB=1 on the [out, in] weight (MLAS reads it
 *   transposed in place; a bias rides along as Gemm's C).
 * - RMSNorm is spelled Pow → ReduceMean → Add → Sqrt → Div → Mul, the pattern ORT's
 *   SimplifiedLayerNormFusion turns into one SimplifiedLayerNormalization kernel.
 * - SiLU is x·Sigmoid(x), which ORT fuses (QuickGelu with α = 1).
 * - RoPE tables are built once from `positions` and shared by every layer; the rotate_half sign lives
 *   in the sin table and the rotation itself is one reversed Slice over the two halves, so each of q
 *   and k costs Mul, Slice, Mul, Add. The 1/√D score scale is folded into q's tables.
 * - GQA without repeating K/V: attention runs on [Hkv, g, B, S, ·] and MatMul broadcasts each kv
 *   head's K/V ([Hkv, 1, B, S, ·]) over its g query heads.
 * - The loss is LogSoftmax → GatherElements → weighted sums (ReduceLogSumExp measured ~10× slower).
 */
export function handBuiltLlamaGraph(c: LlamaConfig, B: number, S: number): Uint8Array {
  const g = new OnnxGraph();
  const N = B * S;
  const d = c.hidden;
  const H = c.heads;
  const Hkv = c.kvHeads;
  const D = c.headDim;
  const half = D / 2;
  const grp = H / Hkv;
  const V = c.vocabSize;

  const op = (type: string, ins: readonly string[], attrs = {}) => g.op(type, ins, attrs);
  const scalar = (x: number) => g.constant(Float32Array.of(x), []);
  const reshape = (x: string, shape: readonly number[]) => op('Reshape', [x, g.ints(shape)]);
  const declared = new Set<string>();
  const w = (name: string, shape: readonly number[]): string => {
    if (!declared.has(name)) {
      declared.add(name);
      g.input(name, shape);
    }
    return name;
  };
  /** x [N, in] · Wᵀ (+ b) for a torch Linear weight [out, in]. */
  const linear = (x: string, name: string, out: number, inp: number, bias: boolean): string => {
    const ins = [x, w(`${name}.weight`, [out, inp])];
    if (bias) ins.push(w(`${name}.bias`, [out]));
    return op('Gemm', ins, { transB: 1 });
  };
  const eps = scalar(c.rmsEps);
  const two = scalar(2);
  const rmsNorm = (x: string, gain: string): string => {
    const ms = op('ReduceMean', [op('Pow', [x, two])], { axes: [-1], keepdims: 1 });
    const normed = op('Div', [x, op('Sqrt', [op('Add', [ms, eps])])]);
    return op('Mul', [normed, w(gain, [d])]);
  };

  // Data inputs, declared in the traced graph's order.
  const ids = g.input('ids', [N], 'int64');
  const positions = g.input('positions', [N], 'int64');
  const mask = g.input('mask', [B, 1, S, S]);
  const targets = g.input('targets', [N], 'int64');
  const weights = g.input('weights', [N]);

  // RoPE tables [N, D], once: angles = position · inv_freq, duplicated over both halves.
  const pos = reshape(op('Cast', [positions], { to: 1 }), [N, 1]);
  const angles = op('Mul', [pos, g.constant(c.invFreq, [1, half])]);
  const emb = op('Concat', [angles, angles], { axis: 1 }); // [N, D]
  const sign = new Float32Array(D);
  for (let i = 0; i < D; i++) sign[i] = i < half ? -1 : 1;
  const cosK = op('Cos', [emb]);
  const sinK = op('Mul', [op('Sin', [emb]), g.constant(sign, [D])]);
  const scale = scalar(1 / Math.sqrt(D));
  const cosQ = op('Mul', [cosK, scale]);
  const sinQ = op('Mul', [sinK, scale]);
  // Slice over the [2, D/2] halves from index 1 down to 0 (end −3 clamps to before 0), step −1.
  const swapStarts = g.ints([1]);
  const swapEnds = g.ints([-3]);
  const swapAxes = g.ints([1]);
  const swapSteps = g.ints([-1]);
  /** x [n, N, D] → x·cos + [x₂, x₁]·(±sin), the tables broadcasting over heads. */
  const rope = (x: string, n: number, cos: string, sin: string): string => {
    const swapped = op('Slice', [reshape(x, [n * N, 2, half]), swapStarts, swapEnds, swapAxes, swapSteps]);
    return op('Add', [op('Mul', [x, cos]), op('Mul', [reshape(swapped, [n, N, D]), sin])]);
  };
  /**
   * x [N, d] → [n, N, D], head-major straight out of the projection: one batched MatMul against the
   * [out, in] weight viewed as [n, D, d] and transposed on its last two axes, which ORT folds into the
   * MatMul (FusedMatMul transB), so neither θ nor the activations are copied into head layout.
   */
  const headProj = (x: string, name: string, n: number, bias: boolean): string => {
    const wt = op('Transpose', [reshape(w(`${name}.weight`, [n * D, d]), [n, D, d])], { perm: [0, 2, 1] });
    const y = op('MatMul', [x, wt]);
    return bias ? op('Add', [y, reshape(w(`${name}.bias`, [n * D]), [n, 1, D])]) : y;
  };
  // Attention runs on [Hkv, g, B, S, ·]: the g = H/Hkv query heads of a kv head broadcast against its
  // single K/V ([Hkv, 1, B, S, ·]) inside MatMul, so K/V are never repeated; the mask broadcasts too.
  const mask5 = reshape(mask, [1, 1, B, S, S]);

  let h = op('Gather', [w('model.embed_tokens.weight', [V, d]), ids], { axis: 0 });
  for (let i = 0; i < c.layers; i++) {
    const l = `model.layers.${i}`;
    const a = `${l}.self_attn`;
    const x = rmsNorm(h, `${l}.input_layernorm.weight`);
    const q = reshape(rope(headProj(x, `${a}.q_proj`, H, c.qkvBias), H, cosQ, sinQ), [Hkv, grp, B, S, D]);
    const k = reshape(rope(headProj(x, `${a}.k_proj`, Hkv, c.qkvBias), Hkv, cosK, sinK), [Hkv, 1, B, S, D]);
    const v = reshape(headProj(x, `${a}.v_proj`, Hkv, c.qkvBias), [Hkv, 1, B, S, D]);
    const scores = op('MatMul', [q, op('Transpose', [k], { perm: [0, 1, 2, 4, 3] })]);
    const probs = op('Softmax', [op('Add', [scores, mask5])], { axis: -1 });
    const ctx = reshape(op('MatMul', [probs, v]), [H, N, D]);
    const merged = reshape(op('Transpose', [ctx], { perm: [1, 0, 2] }), [N, H * D]);
    h = op('Add', [h, linear(merged, `${a}.o_proj`, d, H * D, c.oBias)]);

    const y = rmsNorm(h, `${l}.post_attention_layernorm.weight`);
    const gate = linear(y, `${l}.mlp.gate_proj`, c.intermediate, d, c.mlpBias);
    const up = linear(y, `${l}.mlp.up_proj`, c.intermediate, d, c.mlpBias);
    const act = op('Mul', [op('Mul', [gate, op('Sigmoid', [gate])]), up]);
    h = op('Add', [h, linear(act, `${l}.mlp.down_proj`, d, c.intermediate, c.mlpBias)]);
  }
  const hn = rmsNorm(h, 'model.norm.weight');
  const logits = linear(hn, c.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head', V, d, false);

  // loss = −Σ w·log p(target) / Σ w.
  const logp = op('GatherElements', [op('LogSoftmax', [logits], { axis: 1 }), reshape(targets, [N, 1])], { axis: 1 });
  const num = op('ReduceSum', [op('Mul', [reshape(logp, [N]), weights]), g.ints([0])], { keepdims: 0 });
  const den = op('ReduceSum', [weights, g.ints([0])], { keepdims: 0 });
  const negDen = op('Neg', [den]);
  g.op('Div', [num, negDen], {}, 'loss');
  g.output('loss', []);
  return g.bytes();
}
