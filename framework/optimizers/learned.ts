import type { ParamSpec } from '../core/params.js';
import type { Optimizer } from './optimizer.js';

/**
 * A learned optimizer in google/learned_optimization's shape: meta-parameters ω, and a function from
 * ω to an ordinary optimizer (its `opt_fn`). Meta-training moves ω; fine-tuning takes
 * `optimizerFor(ω)` and runs it through `train()` like any optimizer in the registry, with its state,
 * checkpoints and resume. ω stays separate from the inner optimizer's state.
 *
 * The ZO Fine-tuner fits as ω = one small MLP per block, and `optimizerFor(ω)` = MeZO whose
 * per-block scale s_b = nf·σ_b(features; ω) scales both the probe (θ ± ε·s_b·z_b) and the update
 * (θ_b − η·g·s_b·z_b): `compose` of `spsa({ eps, scales })` and `scaleByLearningRate()`, where
 * `scales.scales` computes σ from θ's block statistics and the history `scales.observe` records in the
 * state (the previous ℓ± and σ).
 */
export interface LearnedOptimizer<Omega, H extends { lr: number } = { lr: number }> {
  readonly name: string;
  /** Meta-parameters for a model with these blocks, drawn from `key` (keyed, so they replay). */
  init(blocks: readonly ParamSpec[], key: number): Omega;
  /** The ordinary optimizer ω defines. */
  optimizerFor(omega: Omega): Optimizer<H>;
}
