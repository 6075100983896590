import { ParamStore } from './params.js';
import type { Problem, StepObjective } from './problem.js';
import { perturbedBlock, type Perturbation } from './perturbation.js';

/**
 * L(θ) = Σ_b Σ_i ½·a_bi·(θ_bi − t_bi)², a problem in plain JS whose every value can be checked by
 * hand. Perturbations are applied with the same reference `perturbedBlock` the executors are tested
 * against. Optionally noisy per step (`batchNoise`) to look like minibatches.
 */
export class Quadratic implements Problem {
  readonly params: ParamStore;

  /** `params`: evaluate on another problem's θ (a second task on the same weights); θ0 is then unused. */
  constructor(
    readonly blocks: { name: string; shape: number[]; theta0: number[]; a: number[]; target: number[] }[],
    params?: ParamStore,
  ) {
    this.params =
      params ??
      new ParamStore(
        blocks.map((b) => ({ name: b.name, shape: b.shape })),
        (spec) => Float32Array.from(blocks.find((b) => b.name === spec.name)!.theta0),
      );
  }

  /** L at θ + perturbation, in float64 throughout (θ' too), so tests see the optimizer's math alone. */
  value(perturbation?: Perturbation): number {
    let l = 0;
    for (const b of this.blocks) {
      const theta = this.params.get(b.name);
      const p = perturbation?.get(b.name);
      const w = p ? perturbedBlock(theta, b.shape, p, new Float64Array(theta.length)) : theta;
      for (let i = 0; i < w.length; i++) l += 0.5 * b.a[i]! * (w[i]! - b.target[i]!) ** 2;
    }
    return l;
  }

  /** ∂L/∂θ at θ + perturbation (at θ without one). */
  grads(perturbation?: Perturbation): Map<string, Float32Array> {
    return new Map(
      this.blocks.map((b) => {
        const theta = this.params.get(b.name);
        const p = perturbation?.get(b.name);
        const w = p ? perturbedBlock(theta, b.shape, p, new Float64Array(theta.length)) : theta;
        return [b.name, Float32Array.from(w, (v, i) => b.a[i]! * (v - b.target[i]!))];
      }),
    );
  }

  at(): StepObjective {
    return {
      loss: async (p) => this.value(p),
      lossAndGrads: async (p) => ({ loss: this.value(p), grads: this.grads(p) }),
    };
  }
}

/**
 * The tests' two-block toy: `layer.weight` [2, 3] and `layer.bias` [3], with curvatures, targets and a
 * start chosen so every coordinate moves differently. `a`, `target` and `theta0` run over both blocks.
 */
export const TOY = {
  theta0: [0.1, 0.4, -0.3, 0.2, 0, 0.6, 0.5, -0.5, 0.1],
  a: [1, 2, 0.5, 1.5, 3, 1, 2, 1, 0.5],
  target: [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, -0.1, 0.2, 0.3],
};

export function toyQuadratic(): Quadratic {
  const part = (xs: number[], from: number, to: number) => xs.slice(from, to);
  return new Quadratic([
    { name: 'layer.weight', shape: [2, 3], theta0: part(TOY.theta0, 0, 6), a: part(TOY.a, 0, 6), target: part(TOY.target, 0, 6) },
    { name: 'layer.bias', shape: [3], theta0: part(TOY.theta0, 6, 9), a: part(TOY.a, 6, 9), target: part(TOY.target, 6, 9) },
  ]);
}
