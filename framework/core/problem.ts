import type { ParamStore } from './params.js';
import type { Perturbation } from './perturbation.js';

/** The objective on one step's batch. */
export interface StepObjective {
  loss(perturbation?: Perturbation): Promise<number>;
  /** With a perturbation: the loss and gradients at θ + c·P(z), θ itself untouched. */
  lossAndGrads(perturbation?: Perturbation): Promise<{ loss: number; grads: Map<string, Float32Array> }>;
}

/** A training problem: θ and, for each step, the objective on that step's batch (keyed by step). */
export interface Problem {
  readonly params: ParamStore;
  at(step: number): StepObjective;
}
