import path from 'node:path';
import { ExactNoise } from '../core/noise.js';
import { packageRoot } from '../core/paths.js';
import type { Perturbation } from '../core/perturbation.js';
import { Quadratic, TOY, toyQuadratic } from '../core/quadratic.js';
import { OrtExecutor } from '../engine/ort.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { LmProblem, readTextTokens } from '../tasks/lm-problem.js';
import { blockStats, features } from './features.js';
import { bankGroups, randomFinetuner, type Finetuner } from './finetuner.js';
import { backpropMetaStep, omegaNoise, spsaMetaStep, type MetaStepInput } from './meta.js';
import { effectiveSize } from './normalization.js';
import { pertnnForward, PERTNN_TENSORS, type PertNN } from './pertnn.js';
import type { Sharing } from './sharing.js';

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

/**
 * Four blocks in two layers and one outside them, HF-named so 'layer' sharing groups them: layer 0's
 * two blocks, layer 1's one, and the final norm (the toy's curvatures and targets, sliced).
 */
function layeredCase(sharing: Sharing): { m: MetaStepInput; q: Quadratic } {
  const sl = (from: number, to: number) => ({
    theta0: TOY.theta0.slice(from, to),
    a: TOY.a.slice(from, to),
    target: TOY.target.slice(from, to),
  });
  const q = new Quadratic([
    { name: 'model.layers.0.self_attn.q_proj.weight', shape: [2, 2], ...sl(0, 4) },
    { name: 'model.layers.0.input_layernorm.weight', shape: [2], ...sl(4, 6) },
    { name: 'model.layers.1.mlp.up_proj.weight', shape: [3], ...sl(6, 9) },
    { name: 'model.norm.weight', shape: [2], ...sl(1, 3) },
  ]);
  const sizes = [4, 2, 3, 2];
  const noise = new ExactNoise(4, sizes);
  const m: MetaStepInput = {
    ft: randomFinetuner(q.params, TOY_CONFIG, 2, { sharing }),
    params: q.params,
    sizes,
    objective: q.at(),
    z: (b) => noise.z(0, 0, b),
    history: { lossPlus: 0.9, lossMinus: 0.7, sigma: [1.2, 0.6, 0.9, 1.1] },
    alpha: 0.2,
    eps: 0.01,
  };
  return { m, q };
}

/** The same nets as `ft`, one copy per block: a 'block' bank whose gradients are the per-block ones. */
function perBlockCopy(m: MetaStepInput): MetaStepInput {
  const index = bankGroups(m.ft.manifest).index;
  const ft = randomFinetuner(m.params, TOY_CONFIG, 0);
  ft.nets = index.map((g) => ({ ...m.ft.nets[g]! }));
  return { ...m, ft };
}

describe('the meta-gradient of a shared net', () => {
  test.each<[Sharing, number[][]]>([
    ['layer', [[0, 1], [2], [3]]],
    ['global', [[0, 1, 2, 3]]],
  ])('%s sharing: the sum of its blocks’ gradients, and central differences of L_meta agree', async (sharing, members) => {
    const { m, q } = layeredCase(sharing);
    expect(bankGroups(m.ft.manifest).index).toEqual(members.flatMap((bs, g) => bs.map(() => g)));
    const r = await backpropMetaStep(m);
    const each = await backpropMetaStep(perBlockCopy(m));
    expect(r.sigma).toEqual(each.sigma);
    expect(r.grads).toHaveLength(members.length);
    members.forEach((blocks, g) =>
      PERTNN_TENSORS.forEach((t) =>
        r.grads[g]![t].forEach((v, i) => {
          const sum = blocks.reduce((a, b) => a + each.grads[b]![t][i]!, 0);
          expect(Math.abs(v - sum)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(sum)));
        }),
      ),
    );
    // Central differences on the shared net: moving it moves the σ of all its blocks at once.
    const h = 1e-4;
    for (const [t, j] of [
      ['w1', 3],
      ['b1', 10],
      ['w2', 7],
      ['b2', 0],
    ] as const) {
      const v = m.ft.nets[0]![t][j]!;
      const at = (d: number) => metaLossAt(m, withWeight(m.ft.nets, 0, t, j, v + d), r.g, r.nf, async (p) => q.value(p));
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      expect(Math.abs(fd)).toBeGreaterThan(1e-8);
      expect(Math.abs(r.grads[0]![t][j]! - fd) / Math.abs(fd)).toBeLessThan(1e-3);
      // …and no single block's share of it would do: the sum is what the difference measures.
      for (const b of members[0]!) expect(Math.abs(each.grads[b]![t][j]! - fd) / Math.abs(fd)).toBeGreaterThan(1e-2);
    }
  });

  test('SPSA on a layer bank draws u per net: each net’s estimate is k·u_net, k the directional derivative along u', async () => {
    const { m } = layeredCase('layer');
    const exact = await backpropMetaStep(m);
    for (let key = 1; key <= 10; key++) {
      const s = await spsaMetaStep(m, 1e-4, key);
      expect(s.grads).toHaveLength(3);
      const u = m.ft.nets.map((net, g) => omegaNoise(key, g, net));
      const k = s.grads[0]!.b2[0]! / u[0]!.b2[0]!;
      let dir = 0;
      u.forEach((x, g) =>
        PERTNN_TENSORS.forEach((t) =>
          x[t].forEach((v, i) => {
            expect(s.grads[g]![t][i]!).toBeCloseTo(k * v, 12);
            dir += v * exact.grads[g]![t][i]!;
          }),
        ),
      );
      expect(Math.sign(k)).toBe(Math.sign(dir));
      expect(Math.abs(k - dir) / Math.abs(dir)).toBeLessThan(0.05);
    }
  });
});
