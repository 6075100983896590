import path from 'node:path';
import { ExactNoise } from '../core/noise.js';
import { packageRoot } from '../core/paths.js';
import type { Perturbation } from '../core/perturbation.js';
import { toyQuadratic, type Quadratic } from '../core/quadratic.js';
import { OrtExecutor } from '../engine/ort.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { LmProblem, readTextTokens } from '../tasks/lm-problem.js';
import { blockStats, features } from './features.js';
import { bankGroups, randomFinetuner, type Finetuner } from './finetuner.js';
import { backpropMetaStep, omegaNoise, spsaMetaStep, type MetaStepInput } from './meta.js';
import { effectiveSize } from './normalization.js';
import { pertnnForward, type PertNN } from './pertnn.js';

/**
 * L_meta(ω) with g, nf and the history held at their values: what the meta-gradient differentiates.
 * `nets` in bank order; block i uses its group's net.
 */
function metaLossAt(m: MetaStepInput, nets: PertNN[], g: number, nf: number, loss: (p: Perturbation) => Promise<number>): Promise<number> {
  const net = bankGroups(m.ft.manifest).index;
  const t = m.ft.manifest.featureTransform;
  const sigma = m.params.names.map(
    (n, i) =>
      pertnnForward(nets[net[i]!]!, features(blockStats(m.params.get(n)), m.history.lossPlus, m.history.lossMinus, m.history.sigma[i]!, t))
        .sigma,
  );
  return loss(new Map(m.params.names.map((n, b) => [n, { kind: 'scalar', scale: -m.alpha * g * nf * sigma[b]!, z: m.z(b) }])));
}

const withWeight = (nets: PertNN[], b: number, t: keyof PertNN, j: number, v: number): PertNN[] =>
  nets.map((net, i) => (i === b ? { ...net, [t]: Float32Array.from(net[t], (x, k) => (k === j ? v : x)) } : net));

const TOY_CONFIG = { modelType: 'toy', vocabSize: 1, maxPositions: 1, tieWordEmbeddings: false };

function quadraticCase(): { m: MetaStepInput; q: Quadratic } {
  const q = toyQuadratic();
  const ft = randomFinetuner(q.params, TOY_CONFIG, 2);
  const noise = new ExactNoise(4, [6, 3]);
  const m: MetaStepInput = {
    ft,
    params: q.params,
    sizes: [6, 3],
    objective: q.at(),
    z: (b) => noise.z(0, 0, b),
    history: { lossPlus: 0.9, lossMinus: 0.7, sigma: [1.2, 0.6] },
    alpha: 0.2,
    eps: 0.01,
  };
  return { m, q };
}

describe('the meta-gradient', () => {
  test('backprop through the chain rule equals central differences of L_meta (quadratic, float64)', async () => {
    const { m, q } = quadraticCase();
    const r = await backpropMetaStep(m);
    const h = 1e-4;
    for (const [b, t, j] of [
      [0, 'w1', 3],
      [0, 'b1', 10],
      [1, 'w2', 7],
      [1, 'b2', 0],
      [0, 'w2', 40],
    ] as const) {
      const v = m.ft.nets[b]![t][j]!;
      const at = (d: number) => metaLossAt(m, withWeight(m.ft.nets, b, t, j, v + d), r.g, r.nf, async (p) => q.value(p));
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      expect(Math.abs(fd)).toBeGreaterThan(1e-8);
      expect(Math.abs(r.grads[b]![t][j]! - fd) / Math.abs(fd)).toBeLessThan(1e-3);
    }
  });

  test('on the llama fixture: tfjs autodiff at θ′ against central differences of ORT losses, relative error ≤ 1e-2', async () => {
    const model = loadModel(fixtureDir('llama'));
    const exec = new OrtExecutor(model, { threads: 1 });
    const text = path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt');
    const problem = new LmProblem(model, { tokens: readTextTokens(text, model), seqLen: 16, batchSize: 4 }, 1, exec);
    try {
      const ft: Finetuner = randomFinetuner(model.params, model.config, 5);
      const noise = new ExactNoise(
        7,
        model.params.names.map((n) => model.params.get(n).length),
      );
      const sizes = model.params.names.map((n, i) =>
        effectiveSize(model.params.shape(n), ft.manifest.blocks[i]!.role, 4, ft.manifest.normalization),
      );
      const objective = problem.at(0);
      const m: MetaStepInput = {
        ft,
        params: model.params,
        sizes,
        objective,
        z: (b) => noise.z(0, 0, b),
        history: { lossPlus: 7.5, lossMinus: 7.4, sigma: model.params.names.map(() => 1) },
        alpha: 5e-2,
        eps: 1e-3,
      };
      const r = await backpropMetaStep(m);
      // The output bias of the embedding's net: its σ moves every embedding row, a clear signal in fp32.
      const b = 0;
      const v = ft.nets[b]!.b2[0]!;
      const h = 5e-3;
      const at = (d: number) => metaLossAt(m, withWeight(ft.nets, b, 'b2', 0, v + d), r.g, r.nf, (p) => objective.loss(p));
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      expect(Math.abs(fd)).toBeGreaterThan(1e-4);
      expect(Math.abs(r.grads[b]!.b2[0]! - fd) / Math.abs(fd)).toBeLessThanOrEqual(1e-2);
    } finally {
      await problem.dispose();
      await exec.dispose();
    }
  });

  test('the SPSA estimate’s scale along u is the directional derivative uᵀ∇ω from backprop, draw by draw', async () => {
    // SPSA returns k·u with k = (L⁺ − L⁻)/2δ ≈ uᵀ∇ω L_meta. Judged per draw: same sign, and within 5%.
    const { m } = quadraticCase();
    const exact = await backpropMetaStep(m);
    for (let key = 1; key <= 20; key++) {
      const s = await spsaMetaStep(m, 1e-4, key);
      const u = m.ft.nets.map((net, b) => omegaNoise(key, b, net));
      let dir = 0;
      let k = 0;
      let uu = 0;
      u.forEach((x, b) =>
        (['w1', 'b1', 'w2', 'b2'] as const).forEach((t) =>
          x[t].forEach((v, i) => {
            dir += v * exact.grads[b]![t][i]!;
            k += v * s.grads[b]![t][i]!; // = k_spsa · |u|²
            uu += v * v;
          }),
        ),
      );
      k /= uu;
      expect(Math.sign(k)).toBe(Math.sign(dir));
      expect(Math.abs(k - dir) / Math.abs(dir)).toBeLessThan(0.05);
    }
  });
});
