import type { z } from 'zod';
import type { ParamStore } from '../core/params.js';
import type { Perturbation } from '../core/perturbation.js';

/**
 * What the harness gives an optimizer for one step. The harness owns batching, noise, the schedule,
 * logging and checkpoints; an optimizer asks for losses at perturbed points and then writes its update
 * into θ in place. Probes never write θ, so θ is exactly as before until the update.
 */
export interface StepContext {
  /** 0-based step index. */
  readonly step: number;
  /** This step's learning rate, after the schedule. */
  readonly lr: number;
  /** θ: read freely; only the update writes it. */
  readonly params: ParamStore;
  /** Keyed N(0, I) for block `block` of probe `probe` at this step; the same view for + and − probes. */
  z(probe: number, block: number): Float32Array;
  /** A 32-bit key for random draws other than z (e.g. LOZO's U and V): keyOf(runSeed, ...parts). */
  key(...parts: number[]): number;
  /** The objective on this step's batch at θ + perturbation (or at θ). One call = one forward pass. */
  loss(perturbation?: Perturbation): Promise<number>;
  /** The loss and ∂L/∂θ on this step's batch, through autodiff (first-order optimizers only). */
  lossAndGrads(): Promise<{ loss: number; grads: Map<string, Float32Array> }>;
}

/** What a step reports for metrics.jsonl. */
export interface StepInfo {
  /** The loss logged for this step: ℓ⁺ for SPSA methods (as MeZO logs), L(θ) for first-order ones. */
  loss: number;
  /** The scalar projected gradient g = (ℓ⁺ − ℓ⁻)/2ε, averaged over probes; the gradient norm for FO. */
  projectedGrad: number;
}

/**
 * Optimizer state as plain data: model-sized buffers keyed `<block>/<slot>`, and named scalars. It
 * saves as safetensors plus JSON, keyed by block name.
 */
export interface OptimizerState {
  slots: Map<string, Float32Array>;
  scalars: Record<string, number>;
}

export interface Optimizer<H extends { lr: number } = { lr: number }> {
  readonly name: string;
  /** One line for `zo optimizers` and --help. */
  readonly summary: string;
  /** zod schema of the hyperparameters, with defaults; strict, so a typo is an error. */
  readonly hyperparameters: z.ZodType<H>;
  /** Extra model-sized buffers held in state: 0 for MeZO, 2 for ZO-Adam. */
  memoryFactor(h: H): number;
  /** Forward passes per step (a first-order step counts its one forward). */
  forwardPasses(h: H): number;
  /**
   * For an optimizer that is a function of files or of the run (a learned one: meta-parameters ω to
   * an ordinary optimizer): the concrete optimizer for this run. The registry holds the unbound form,
   * so `zo optimizers` can list it.
   */
  bind?(ctx: BindContext): Optimizer<H>;
  /** A bound learned optimizer's meta-parameters: the file or folder they came from (spec.json records it). */
  readonly boundTo?: string;
  /** z probes drawn per step, ctx.z(0..n−1, ·) (default 1); table noise is laid out for exactly these. */
  probes?(h: H): number;
  /** True when the step needs ∂L/∂θ (tfjs autodiff) rather than losses only. */
  readonly firstOrder?: boolean;
  /**
   * True when every probe is θ + c·z on every block (a 'scalar' BlockPerturbation), as in MeZO and
   * everything built on spsa(): the ort executor then runs a run's plain passes through that same
   * graph with c = 0, so training and evaluation share one ONNX Runtime session and its arena.
   */
  readonly scalarProbes?: boolean;
  init(params: ParamStore, h: H): OptimizerState;
  step(ctx: StepContext, state: OptimizerState, h: H): Promise<StepInfo>;
}

/** What a run knows that an optimizer built for it may need (a learned one's bank, sized by the batch). */
export interface BindContext {
  params: ParamStore;
  /** The model folder, where a learned optimizer's own files may live (a zoo model ships its finetuner). */
  modelDir: string;
  batchSize: number;
  /** A learned optimizer's meta-parameters, as the run names them (`--finetuner`). */
  finetuner?: string;
}

/** The probes an optimizer draws per step, for sizing its noise source. */
export function probesPerStep<H extends { lr: number }>(o: Optimizer<H>, h: H): number {
  return o.probes?.(h) ?? 1;
}

/** One zeroed model-sized slot per block, named `<block>/<slot>`. */
export function zeroSlots(params: ParamStore, ...slots: string[]): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const name of params.names) for (const s of slots) m.set(`${name}/${s}`, new Float32Array(params.get(name).length));
  return m;
}
