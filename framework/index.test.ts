import * as zo from './index.js';
import { toyQuadratic } from './core/quadratic.js';

/**
 * The public entry point, as a script sees it: the parts the README's "Optimizers from parts" names
 * are importable, and re-composing a built-in from them gives the built-in's steps bit for bit.
 */

const toy = toyQuadratic;

async function thetaAfter(o: zo.Optimizer, h: Record<string, unknown>, steps: number): Promise<number[]> {
  const problem = toy();
  const hp = zo.parseHyperparameters(o, h);
  await zo.train({
    optimizer: o,
    hyperparameters: hp,
    problem,
    state: o.init(problem.params, hp),
    noise: zo.makeNoise('exact', 5, problem.params.sizes()),
    seed: 5,
    steps,
    schedule: 'constant',
  });
  return problem.params.names.flatMap((n) => [...problem.params.get(n)]);
}

test("every part the README's optimizer list names is exported", () => {
  const parts = [
    'spsa',
    'hessianSpsa',
    'lowRankSpsa',
    'autodiff',
    'scaleByLearningRate',
    'signOfProjectedGradient',
    'addDecayedWeights',
    'decoupledWeightDecay',
    'momentum',
    'adam',
    'clipByGlobalNorm',
    'conservativeMove',
    'lowRankMomentum',
  ];
  expect(parts.filter((p) => typeof (zo as Record<string, unknown>)[p] !== 'function')).toEqual([]);
});

describe('a built-in re-composed from the exported parts steps as the built-in does, bit for bit', () => {
  const cases: [string, Record<string, unknown>, (h: any) => zo.UpdateTransform[] | unknown[]][] = [
    [
      'hizoo',
      { lr: 0.05, eps: 0.01, alpha: 0.3, weightDecay: 0.1 },
      (h) => [zo.hessianSpsa(h), zo.addDecayedWeights(h.weightDecay, 'all'), zo.scaleByLearningRate()],
    ],
    [
      'lozo-m',
      { lr: 0.05, eps: 0.01, rank: 2, interval: 2, beta: 0.9, weightDecay: 0.1 },
      (h) => [zo.lowRankSpsa(h), zo.lowRankMomentum(h), zo.addDecayedWeights(h.weightDecay, 'mezo'), zo.scaleByLearningRate()],
    ],
    ['zo-sgd-conservative', { lr: 0.05, eps: 0.01 }, (h) => [zo.spsa({ eps: h.eps }), zo.scaleByLearningRate(), zo.conservativeMove()]],
  ];
  test.each(cases)('%s', async (name, h, parts) => {
    const builtIn = zo.optimizerNamed(name);
    const mine = zo.compose({ name: `my-${name}`, summary: '', hyperparameters: builtIn.hyperparameters, parts: parts as never });
    const want = await thetaAfter(builtIn, h, 5);
    expect(want).not.toEqual(toy().params.names.flatMap((n) => [...toy().params.get(n)])); // θ moved
    expect(await thetaAfter(mine, h, 5)).toEqual(want);
  });
});
