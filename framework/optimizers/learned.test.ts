import { z } from 'zod';
import type { ParamSpec } from '../core/params.js';
import { ExactNoise } from '../core/noise.js';
import { Quadratic } from '../core/quadratic.js';
import { keyOf, uniformAt } from '../core/rng.js';
import { train } from '../harness/harness.js';
import { compose } from './compose.js';
import { spsa, type BlockScales } from './estimators.js';
import type { LearnedOptimizer } from './learned.js';
import type { Optimizer, OptimizerState } from './optimizer.js';
import { parseHyperparameters } from './registry.js';
import { mezo } from './mezo.js';
import { scaleByLearningRate } from './transforms.js';

const SEED = 5;
const blocks = [
  {
    name: 'layer.weight',
    shape: [2, 3],
    theta0: [0.1, 0.4, -0.3, 0.2, 0.0, 0.6],
    a: [1, 2, 0.5, 1.5, 3, 1],
    target: [0.3, -0.2, 0.1, 0.5, -0.4, 0.2],
  },
  { name: 'layer.bias', shape: [3], theta0: [0.5, -0.5, 0.1], a: [2, 1, 0.5], target: [-0.1, 0.2, 0.3] },
];
const toy = () => new Quadratic(blocks);

const schema = z.object({ lr: z.number().positive().default(0.05), eps: z.number().positive().default(0.01) }).strict();

/**
 * A toy learned optimizer: ω is one scale per block, and the optimizer it defines is MeZO perturbing
 * and stepping block b by ω_b (the ZO Fine-tuner's deployment form with a constant σ).
 */
const perBlockScale: LearnedOptimizer<Float64Array, z.infer<typeof schema>> = {
  name: 'per-block-scale',
  init: (specs: readonly ParamSpec[], key: number) => Float64Array.from(specs, (_, b) => 0.5 + uniformAt(key, b)),
  optimizerFor: (omega) =>
    compose({
      name: 'per-block-scale',
      summary: 'MeZO with a learned scale per block',
      hyperparameters: schema,
      parts: (h) => [spsa({ eps: h.eps, scales: { scales: () => omega } }), scaleByLearningRate()],
    }),
};

async function run<H extends { lr: number }>(o: Optimizer<H>, problem: Quadratic, steps: number): Promise<void> {
  const h = parseHyperparameters(o, { lr: 0.05, eps: 0.01 });
  const noise = new ExactNoise(SEED, [6, 3]);
  await train({
    optimizer: o,
    hyperparameters: h,
    problem,
    state: o.init(problem.params, h),
    noise,
    seed: SEED,
    steps,
    schedule: 'constant',
  });
}

describe('a learned optimizer (meta-parameters → an ordinary optimizer)', () => {
  test('ω = a scale per block becomes an optimizer that runs through train(): θ_b ← θ_b − η·g·ω_b·z_b, g from θ ± ε·ω⊙z', async () => {
    const omega = perBlockScale.init(toy().params.specs(), keyOf(SEED, 1));
    expect(omega[0]).not.toBeCloseTo(omega[1]!, 3); // the blocks really are scaled differently
    const problem = toy();
    await run(perBlockScale.optimizerFor(omega), problem, 2);

    // By hand, in float64: the same z, the toy's loss straight from its definition.
    const noise = new ExactNoise(SEED, [6, 3]);
    let theta = blocks.map((b) => [...b.theta0]);
    const L = (t: number[][]) =>
      t.reduce((l, w, b) => l + w.reduce((s, v, i) => s + 0.5 * blocks[b]!.a[i]! * (v - blocks[b]!.target[i]!) ** 2, 0), 0);
    for (let step = 0; step < 2; step++) {
      const zs = [0, 1].map((b) => [...noise.z(step, 0, b)]);
      const moved = (c: number) => theta.map((w, b) => w.map((v, i) => v + c * omega[b]! * zs[b]![i]!));
      const g = (L(moved(0.01)) - L(moved(-0.01))) / (2 * 0.01);
      theta = theta.map((w, b) => w.map((v, i) => v - 0.05 * g * omega[b]! * zs[b]![i]!));
    }
    const got = [...problem.params.get('layer.weight'), ...problem.params.get('layer.bias')];
    theta.flat().forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-6));
  });

  test('ω = 1 everywhere is MeZO, bit for bit', async () => {
    const [a, b] = [toy(), toy()];
    await run(perBlockScale.optimizerFor(Float64Array.of(1, 1)), a, 5);
    await run(mezo, b, 5);
    for (const n of a.params.names) expect(Buffer.from(a.params.get(n).buffer).equals(Buffer.from(b.params.get(n).buffer))).toBe(true);
  });

  test('scales that depend on history record it in the state once the probes succeed (the ZO Fine-tuner’s ℓ± features)', async () => {
    const seen: number[] = [];
    const scales: BlockScales = {
      init: () => ({ scalars: { lossPlus: 0, lossMinus: 0 } }),
      // σ from the previous step's losses, as the ZO Fine-tuner's features would feed its MLPs.
      scales: (_ctx, state) => (seen.push(state.scalars.lossPlus!), [1, 1 / (1 + state.scalars.lossPlus!)]),
      observe: (state, step) => Object.assign(state.scalars, { lossPlus: step.lossPlus[0], lossMinus: step.lossMinus[0] }),
    };
    const o = compose({
      name: 'history',
      summary: '',
      hyperparameters: schema,
      parts: (h) => [spsa({ eps: h.eps, scales }), scaleByLearningRate()],
    });
    const problem = toy();
    const logged: number[] = [];
    const state: OptimizerState = o.init(problem.params, schema.parse({}));
    expect(state.scalars).toEqual({ lossPlus: 0, lossMinus: 0 });
    await train({
      optimizer: o,
      hyperparameters: schema.parse({}),
      problem,
      state,
      noise: new ExactNoise(SEED, [6, 3]),
      seed: SEED,
      steps: 3,
      schedule: 'constant',
      onStep: (r) => void logged.push(r.loss),
    });
    expect(seen).toEqual([0, logged[0], logged[1]]);
    expect(state.scalars.lossPlus).toBe(logged[2]);
  });
});
