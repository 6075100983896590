import type { ParamStore } from '../core/params.js';
import type { BlockPerturbation, Perturbation } from '../core/perturbation.js';
import type { StepObjective } from '../core/problem.js';
import { fillGaussian } from '../core/rng.js';
import { blockStats, features } from './features.js';
import { bankGroups, type Finetuner } from './finetuner.js';
import { normalizer } from './normalization.js';
import { pertnnBackward, pertnnForward, PERTNN_TENSORS, type PertNN, type PertNNTrace } from './pertnn.js';

/** What one meta step sees: the bank, θ and this step's batch, z, and the previous step's history. */
export interface MetaStepInput {
  ft: Finetuner;
  params: ParamStore;
  /** Effective sizes d̂ per block (normalization.ts). */
  sizes: readonly number[];
  objective: StepObjective;
  /** The step's z of block b. */
  z: (block: number) => Float32Array;
  history: { lossPlus: number; lossMinus: number; sigma: readonly number[] };
  /** α: the look-ahead step's learning rate. */
  alpha: number;
  eps: number;
}

/** ∂L_meta/∂ω for one net, shaped like it (float64). */
export type PertNNGrad = { [K in (typeof PERTNN_TENSORS)[number]]: Float64Array };

export interface MetaStep {
  lossPlus: number;
  lossMinus: number;
  g: number;
  nf: number;
  sigma: number[];
  /** L(θ − α·g·nf·σ⊙z) on the same batch (the SPSA mode reports the mean of its two probes). */
  metaLoss: number;
  /** One per net of the bank (per group): a shared net's is the sum over the blocks that use it. */
  grads: PertNNGrad[];
}

const scalarPerturbation = (params: ParamStore, z: (b: number) => Float32Array, scale: (b: number) => number): Perturbation =>
  new Map<string, BlockPerturbation>(params.names.map((n, b) => [n, { kind: 'scalar', scale: scale(b), z: z(b) }]));

/** σ_i(ω) from block i's features through its group's net (`nets` in bank order), with the traces a backward pass needs. */
function policy(m: MetaStepInput, nets: readonly PertNN[]): { sigma: number[]; traces: PertNNTrace[] } {
  const net = bankGroups(m.ft.manifest).index;
  const t = m.ft.manifest.featureTransform;
  const out = m.params.names.map((name, i) =>
    pertnnForward(
      nets[net[i]!]!,
      features(blockStats(m.params.get(name)), m.history.lossPlus, m.history.lossMinus, m.history.sigma[i]!, t),
    ),
  );
  return { sigma: out.map((o) => o.sigma), traces: out.map((o) => o.trace) };
}

/**
 * Per-block gradients summed into one per net: a shared net's ω reaches L_meta through the σ of
 * every block that uses it. A net of one block keeps that block's arrays as they are (no 0 + x).
 */
function sumByGroup(m: MetaStepInput, perBlock: readonly PertNNGrad[]): PertNNGrad[] {
  const out: PertNNGrad[] = [];
  bankGroups(m.ft.manifest).index.forEach((g, b) => {
    const acc = out[g];
    if (!acc) out[g] = perBlock[b]!;
    else for (const t of PERTNN_TENSORS) perBlock[b]![t].forEach((v, i) => (acc[t][i] = acc[t][i]! + v));
  });
  return out;
}

/** The ZO probes with the current policy: ℓ± at θ ± ε·nf·σ_i·z_i, and g = (ℓ⁺ − ℓ⁻)/2ε. */
async function probe(m: MetaStepInput, sigma: readonly number[], nf: number) {
  const lossPlus = await m.objective.loss(scalarPerturbation(m.params, m.z, (b) => m.eps * nf * sigma[b]!));
  const lossMinus = await m.objective.loss(scalarPerturbation(m.params, m.z, (b) => -m.eps * nf * sigma[b]!));
  return { lossPlus, lossMinus, g: (lossPlus - lossMinus) / (2 * m.eps) };
}

/** θ' = θ − α·g·nf·σ_i·z_i, as a perturbation (θ is never written). */
const lookAhead = (m: MetaStepInput, g: number, nf: number, sigma: readonly number[]) =>
  scalarPerturbation(m.params, m.z, (b) => -m.alpha * g * nf * sigma[b]!);

/**
 * The meta-gradient by the chain rule, without a copy of the model: with g, nf and the previous σ
 * detached, ∂L_meta/∂σ_i = −α·g·nf·⟨∇_{θ_i} L(θ′), z_i⟩. One autodiff pass at θ′ (built inside the
 * graph), one dot product per block, then backprop through each small MLP alone.
 */
export async function backpropMetaStep(m: MetaStepInput): Promise<MetaStep> {
  const { sigma, traces } = policy(m, m.ft.nets);
  const nf = normalizer(m.sizes, sigma, m.ft.manifest.normalization);
  const { lossPlus, lossMinus, g } = await probe(m, sigma, nf);
  const { loss: metaLoss, grads } = await m.objective.lossAndGrads(lookAhead(m, g, nf, sigma));
  const net = bankGroups(m.ft.manifest).index;
  const perBlock = m.params.names.map((name, b) => {
    const G = grads.get(name)!;
    const z = m.z(b);
    let dot = 0;
    for (let i = 0; i < G.length; i++) dot += G[i]! * z[i]!;
    return pertnnBackward(m.ft.nets[net[b]!]!, traces[b]!, -m.alpha * g * nf * dot);
  });
  return { lossPlus, lossMinus, g, nf, sigma, metaLoss, grads: sumByGroup(m, perBlock) };
}

/** A net moved by c·u (u in ω-space, one array per tensor). */
function shifted(net: PertNN, u: PertNNGrad, c: number): PertNN {
  const add = (w: Float32Array, d: Float64Array) => Float32Array.from(w, (v, i) => v + c * d[i]!);
  return { w1: add(net.w1, u.w1), b1: add(net.b1, u.b1), w2: add(net.w2, u.w2), b2: add(net.b2, u.b2) };
}

/** N(0, I) in one net's ω-space, keyed (net `b` of the key's stream: one draw per net, shared or not). */
export function omegaNoise(key: number, b: number, net: PertNN): PertNNGrad {
  const draw = (t: (typeof PERTNN_TENSORS)[number], k: number) =>
    Float64Array.from(fillGaussian(new Float32Array(net[t].length), key + b * 4 + k));
  return { w1: draw('w1', 0), b1: draw('b1', 1), w2: draw('w2', 2), b2: draw('b2', 3) };
}

/**
 * The forward-only meta-gradient: SPSA in ω-space, two more forward passes at σ(ω ± δu) with u a
 * keyed draw per net (a shared net moves once, for all its blocks), g and nf detached as in the
 * backprop mode: ∇_ω L_meta ≈ (L⁺ − L⁻)/(2δ)·u.
 */
export async function spsaMetaStep(m: MetaStepInput, delta: number, key: number): Promise<MetaStep> {
  const { sigma } = policy(m, m.ft.nets);
  const nf = normalizer(m.sizes, sigma, m.ft.manifest.normalization);
  const { lossPlus, lossMinus, g } = await probe(m, sigma, nf);
  const u = m.ft.nets.map((net, b) => omegaNoise(key, b, net));
  const at = async (c: number) => {
    const s = policy(
      m,
      m.ft.nets.map((net, b) => shifted(net, u[b]!, c)),
    ).sigma;
    return m.objective.loss(lookAhead(m, g, nf, s));
  };
  const up = await at(delta);
  const down = await at(-delta);
  const k = (up - down) / (2 * delta);
  const grads = u.map((x) => ({
    w1: x.w1.map((v) => k * v),
    b1: x.b1.map((v) => k * v),
    w2: x.w2.map((v) => k * v),
    b2: x.b2.map((v) => k * v),
  }));
  return { lossPlus, lossMinus, g, nf, sigma, metaLoss: (up + down) / 2, grads };
}

/** ω ← ω − lr·∇ω, in place (plain SGD, as the official meta-training). */
export function sgdOnBank(nets: PertNN[], grads: readonly PertNNGrad[], lr: number): void {
  nets.forEach((net, b) => {
    for (const t of PERTNN_TENSORS) {
      const w = net[t];
      const d = grads[b]![t];
      for (let i = 0; i < w.length; i++) w[i] = w[i]! - lr * d[i]!;
    }
  });
}
