import { z } from 'zod';
import { ParamStore } from '../core/params.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import { compose } from './compose.js';
import { autodiff, spsa } from './estimators.js';
import type { OptimizerState, StepContext } from './optimizer.js';
import {
  adam,
  addDecayedWeights,
  clipByGlobalNorm,
  DECAY_MASKS,
  decoupledWeightDecay,
  momentum,
  scaleByLearningRate,
  signOfProjectedGradient,
  type UpdateTransform,
} from './transforms.js';
import { applyUpdate, CHUNK, explicit, fillOf, type Direction, type Update } from './update.js';

/**
 * Each part on its own, against the formula evaluated by hand in float64: a 2-block θ (a [2, 3]
 * weight, a bias), fixed directions z and gradients G, one transform at a time.
 */
const THETA = { w: [0.1, 0.4, -0.3, 0.2, 0.0, 0.6], b: [0.5, -0.5, 0.1] };
const Z = { w: [0.3, -1.2, 0.7, 1.1, -0.4, 0.9], b: [-0.6, 0.2, 1.5] };
const G = { w: [0.5, -0.1, 0.2, 0.3, -0.7, 0.05], b: [1.0, -2.0, 0.25] };
type Blocks = { w: number[]; b: number[] };

const store = (theta: Blocks = THETA) =>
  new ParamStore(
    [
      { name: 'layer.weight', shape: [2, 3] },
      { name: 'layer.bias', shape: [3] },
    ],
    (p) => Float32Array.from(p.name === 'layer.weight' ? theta.w : theta.b),
  );
const ctxOf = (params: ParamStore, lr: number, step = 0): StepContext => ({
  step,
  lr,
  params,
  z: () => {
    throw new Error('no noise here');
  },
  key: (...parts) => keyOf(3, ...parts),
  loss: async () => 0,
  lossAndGrads: async () => {
    throw new Error('no gradients here');
  },
});
const f32 = (x: Blocks): Blocks => ({ w: x.w.map(Math.fround), b: x.b.map(Math.fround) });
const both = (x: Blocks, y: Blocks, f: (a: number, b: number, block: 'w' | 'b', i: number) => number): Blocks => ({
  w: x.w.map((v, i) => f(v, y.w[i]!, 'w', i)),
  b: x.b.map((v, i) => f(v, y.b[i]!, 'b', i)),
});
const flat = (x: Blocks) => [...x.w, ...x.b];
const thetaOf = (p: ParamStore): Blocks => ({ w: [...p.get('layer.weight')], b: [...p.get('layer.bias')] });
const key = (b: number) => (b === 0 ? 'w' : 'b');

/** ĝ = g·z, implicit, as an SPSA estimator leaves it. */
const implicitOf = (g: number, z: Blocks = Z): Update => ({
  block: (b) => ({
    kind: 'implicit',
    decay: 0,
    scale: 1,
    terms: [{ coef: g, direction: () => ({ kind: 'scalar', z: Float32Array.from(z[key(b)]) }) }],
  }),
});
/** A gradient element by element, as autodiff leaves it. */
const explicitOf = (grad: Blocks): Update => ({
  block: (b) =>
    explicit((out, start) => {
      for (let k = 0; k < out.length; k++) out[k] = grad[key(b)][start + k]!;
    }),
});

async function step(transforms: UpdateTransform[], u: Update, ctx: StepContext, state: OptimizerState = { slots: new Map(), scalars: {} }) {
  for (const t of transforms) u = await t.update(u, ctx, state);
  applyUpdate(ctx.params, u);
}
const expectClose = (got: Blocks, want: Blocks, tol = 1e-7) =>
  flat(want).forEach((v, i) => expect(Math.abs(flat(got)[i]! - v)).toBeLessThan(tol));
const stateOf = (t: UpdateTransform, params: ParamStore): OptimizerState => {
  const s = t.init!(params);
  return { slots: s.slots ?? new Map(), scalars: s.scalars ?? {} };
};

describe('update transforms, each against the formula', () => {
  const [eta, g, lam] = [0.1, -0.8, 0.3];
  const theta0 = f32(THETA);

  test('scaleByLearningRate: θ ← θ − η·g·z on an implicit ĝ, θ ← θ − η·G on an explicit one', async () => {
    const p = store();
    await step([scaleByLearningRate()], implicitOf(g), ctxOf(p, eta));
    expectClose(
      thetaOf(p),
      both(theta0, f32(Z), (t, z) => t - eta * g * z),
    );
    const q = store();
    await step([scaleByLearningRate()], explicitOf(G), ctxOf(q, eta));
    expectClose(
      thetaOf(q),
      both(theta0, G, (t, gr) => t - eta * gr),
    );
  });

  test('signOfProjectedGradient: ĝ = sign(g)·z, whatever |g|; an explicit gradient is refused', async () => {
    const p = store();
    await step([signOfProjectedGradient(), scaleByLearningRate()], implicitOf(-37.5), ctxOf(p, eta));
    expectClose(
      thetaOf(p),
      both(theta0, f32(Z), (t, z) => t + eta * z),
    );
    await expect(step([signOfProjectedGradient()], explicitOf(G), ctxOf(store(), eta))).rejects.toThrow(/zeroth-order/);
  });

  test('addDecayedWeights: θ ← θ − η(g·z + λθ) on the blocks its mask names', async () => {
    for (const [mask, decayed] of [
      ['mezo', { w: true, b: false }],
      ['all', { w: true, b: true }],
      ['matrices', { w: true, b: false }],
    ] as const) {
      const p = store();
      await step([addDecayedWeights(lam, mask), scaleByLearningRate()], implicitOf(g), ctxOf(p, eta));
      expectClose(
        thetaOf(p),
        both(theta0, f32(Z), (t, z, blk) => t - eta * (g * z + (decayed[blk] ? lam : 0) * t)),
      );
    }
  });

  test('decay masks: MeZO spares biases and norm gains, HiZOO decays all, matrices-only spares every vector', () => {
    const cases: [string, number[], boolean, boolean][] = [
      // name, shape, mezo, matrices
      ['model.layers.0.self_attn.q_proj.weight', [8, 8], true, true],
      ['model.layers.0.self_attn.q_proj.bias', [8], false, false],
      ['model.layers.0.input_layernorm.weight', [8], false, false],
      ['model.norm.weight', [8], false, false],
      ['transformer.h.0.ln_1.weight', [8], false, false],
      ['model.decoder.layers.0.self_attn_layer_norm.weight', [8], false, false],
      ['model.embed_tokens.weight', [16, 8], true, true],
      ['some.scale.weight', [8], true, false],
    ];
    for (const [name, shape, mezoRule, matrices] of cases) {
      expect([name, DECAY_MASKS.mezo(name), DECAY_MASKS.all(), DECAY_MASKS.matrices(name, shape)]).toEqual([
        name,
        mezoRule,
        true,
        matrices,
      ]);
    }
  });

  test('decoupledWeightDecay: θ − η·g·z − ηλθ on an implicit ĝ (decayed once with q terms), θ(1 − ηλ) − u on an explicit one', async () => {
    const p = store();
    await step([scaleByLearningRate(), decoupledWeightDecay(lam, 'all')], implicitOf(g), ctxOf(p, eta));
    expectClose(
      thetaOf(p),
      both(theta0, f32(Z), (t, z) => t - eta * g * z - eta * lam * t),
    );
    // Two probe terms: decay once, from θ at the start of the step.
    const q = store();
    const twoTerms: Update = {
      block: (b) => ({
        kind: 'implicit',
        decay: 0,
        scale: 1,
        terms: [g, 2 * g].map((c) => ({ coef: c, direction: (): Direction => ({ kind: 'scalar', z: Float32Array.from(Z[key(b)]) }) })),
      }),
    };
    await step([scaleByLearningRate(), decoupledWeightDecay(lam, 'mezo')], twoTerms, ctxOf(q, eta));
    expectClose(
      thetaOf(q),
      both(theta0, f32(Z), (t, z, blk) => t - 3 * eta * g * z - (blk === 'w' ? eta * lam * t : 0)),
    );
    const r = store();
    await step([scaleByLearningRate(), decoupledWeightDecay(lam, 'matrices')], explicitOf(G), ctxOf(r, eta));
    expectClose(
      thetaOf(r),
      both(theta0, G, (t, gr, blk) => t * (1 - (blk === 'w' ? eta * lam : 0)) - eta * gr),
    );
  });

  test('momentum: b ← u, then b ← μb + (1 − d)·u; θ ← θ − η·b; no buffer when asked for none', async () => {
    const grads = [G, both(G, Z, (a, b) => a - b), both(G, Z, (a, b) => 0.5 * a + b)];
    for (const dampening of [0, 0.6]) {
      const [mu, p] = [0.8, store()];
      const t = momentum(mu, { dampening });
      const state = stateOf(t, p);
      expect([...state.slots.keys()]).toEqual(['layer.weight/momentum', 'layer.bias/momentum']);
      let buf: Blocks | undefined;
      let theta = theta0;
      for (const [s, gr] of grads.entries()) {
        await step([t, scaleByLearningRate()], explicitOf(gr), ctxOf(p, eta, s), state);
        buf = f32(buf ? both(buf, gr, (bb, x) => mu * bb + (1 - dampening) * x) : gr);
        theta = f32(both(theta, buf, (th, bb) => th - eta * bb));
        expectClose(thetaOf(p), theta);
        expect(state.scalars.started).toBe(1);
      }
      expectClose({ w: [...state.slots.get('layer.weight/momentum')!], b: [...state.slots.get('layer.bias/momentum')!] }, buf!);
    }
    const none = momentum(0, { buffer: false });
    const p = store();
    const state = stateOf(none, p);
    expect([state.slots.size, none.memoryFactor]).toEqual([0, 0]);
    await step([none, scaleByLearningRate()], explicitOf(G), ctxOf(p, eta), state);
    expectClose(
      thetaOf(p),
      both(theta0, G, (t, gr) => t - eta * gr),
    );
    expect(state.scalars.started).toBe(1);
  });

  test('momentum with dampening on an implicit ĝ folds (1 − d) into g: the EMA LOZO-M keeps for vectors', async () => {
    const [mu, p] = [0.7, store()];
    const t = momentum(mu, { dampening: mu });
    const state = stateOf(t, p);
    await step([t, scaleByLearningRate()], implicitOf(g), ctxOf(p, eta, 0), state);
    await step([t, scaleByLearningRate()], implicitOf(2 * g), ctxOf(p, eta, 1), state);
    const b1 = f32(both(Z, Z, (z) => g * z));
    const b2 = f32(both(b1, Z, (bb, z) => mu * bb + (1 - mu) * 2 * g * z));
    expectClose(thetaOf(p), f32(both(f32(both(theta0, b1, (th, bb) => th - eta * bb)), b2, (th, bb) => th - eta * bb)));
  });

  test('coupled decay feeds a stateful transform the decayed gradient g·z + λθ (torch’s weight_decay before momentum)', async () => {
    const [mu, p] = [0.5, store()];
    const t = momentum(mu);
    const state = stateOf(t, p);
    await step([addDecayedWeights(lam, 'mezo'), t, scaleByLearningRate()], implicitOf(g), ctxOf(p, eta), state);
    const b1 = f32(both(theta0, f32(Z), (th, z, blk) => g * z + (blk === 'w' ? lam * th : 0)));
    expectClose({ w: [...state.slots.get('layer.weight/momentum')!], b: [...state.slots.get('layer.bias/momentum')!] }, b1);
    expectClose(
      thetaOf(p),
      both(theta0, b1, (th, bb) => th - eta * bb),
    );
  });

  test('adam: torch.optim.Adam, bias-corrected, with η inside the step', async () => {
    const h = { beta1: 0.9, beta2: 0.99, adamEps: 1e-3 };
    const p = store();
    const t = adam(h);
    const state = stateOf(t, p);
    expect(state.scalars).toEqual({ t: 0 });
    let [m, v, theta] = [both(G, G, () => 0), both(G, G, () => 0), theta0];
    for (const [s, gr] of [G, both(G, Z, (a, b) => a * b)].entries()) {
      await step([t], explicitOf(gr), ctxOf(p, eta, s), state);
      const n = s + 1;
      m = f32(both(m, gr, (mm, x) => h.beta1 * mm + (1 - h.beta1) * x));
      v = f32(both(v, gr, (vv, x) => h.beta2 * vv + (1 - h.beta2) * x * x));
      const mHat = both(m, m, (mm) => mm / (1 - h.beta1 ** n));
      const vHat = both(v, v, (vv) => vv / (1 - h.beta2 ** n));
      theta = f32(both(theta, mHat, (th, mh, blk, i) => th - (eta * mh) / (Math.sqrt(vHat[blk][i]!) + h.adamEps)));
      expectClose(thetaOf(p), theta);
    }
    expect(state.scalars.t).toBe(2);
  });

  test('clipByGlobalNorm: u·c/(‖u‖ + 1e-6) above c, u below it; it needs the norm up front', async () => {
    const norm = Math.hypot(...flat(G));
    for (const c of [0.5 * norm, 2 * norm, 0]) {
      const p = store();
      const u = { ...explicitOf(G), globalNorm: () => norm };
      await step([clipByGlobalNorm(c), scaleByLearningRate()], u, ctxOf(p, eta));
      const scale = c > 0 && c < norm ? c / (norm + 1e-6) : 1;
      expectClose(
        thetaOf(p),
        both(theta0, G, (t, gr) => t - eta * scale * gr),
      );
    }
    await expect(step([clipByGlobalNorm(1)], explicitOf(G), ctxOf(store(), eta))).rejects.toThrow(/straight after an estimator/);
  });
});

describe('applying an update', () => {
  test('q implicit terms are written one at a time, each direction fetched just before its use (as a noise scratch demands)', async () => {
    const p = store();
    const scratch = [new Float32Array(6), new Float32Array(3)];
    const zOf = (j: number): Blocks => both(Z, Z, (z, _z, _b, i) => z * (j + 1) + i);
    const u: Update = {
      block: (b) => ({
        kind: 'implicit',
        decay: 0,
        scale: 1,
        terms: [0, 1, 2].map((j) => ({
          coef: (j + 1) * 0.1,
          direction: (): Direction => (scratch[b]!.set(zOf(j)[key(b)]), { kind: 'scalar', z: scratch[b]! }),
        })),
      }),
    };
    applyUpdate(p, u);
    let want = THETA;
    for (const j of [0, 1, 2]) want = both(want, f32(zOf(j)), (t, z) => t - (j + 1) * 0.1 * z);
    expectClose(thetaOf(p), want, 1e-6);
  });

  test('a low-rank term U·Vᵀ, implicit or evaluated chunk by chunk across rows, equals the dense product', async () => {
    const [rows, cols, r] = [7, 1500, 2]; // 10,500 elements: chunks of 4096 end mid-row
    expect(rows * cols).toBeGreaterThan(2 * CHUNK);
    const specs = [{ name: 'proj.weight', shape: [rows, cols] }];
    const u = fillGaussian(new Float32Array(rows * r), 1);
    const v = fillGaussian(new Float32Array(cols * r), 2);
    const theta0 = fillGaussian(new Float32Array(rows * cols), 3);
    const dense = Array.from(theta0, (t, idx) => {
      const [i, j] = [Math.floor(idx / cols), idx % cols];
      return t - 0.3 * (u[i * r]! * v[j * r]! + u[i * r + 1]! * v[j * r + 1]!);
    });
    const lowRank: Update = {
      block: () => ({
        kind: 'implicit',
        decay: 0,
        scale: 1,
        terms: [{ coef: 0.3, direction: () => ({ kind: 'lowrank', u, v, rank: r }) }],
      }),
    };
    const implicitP = new ParamStore(specs, () => theta0.slice());
    applyUpdate(implicitP, lowRank);
    const explicitP = new ParamStore(specs, () => theta0.slice());
    const blk = { b: 0, name: 'proj.weight', shape: [rows, cols], theta: explicitP.get('proj.weight') };
    applyUpdate(explicitP, { block: () => explicit(fillOf(lowRank.block(0), blk)) });
    for (const got of [implicitP.get('proj.weight'), explicitP.get('proj.weight')])
      dense.forEach((want, i) => expect(Math.abs(got[i]! - want)).toBeLessThan(1e-6));
  });
});

describe('compose', () => {
  const schema = z.object({ lr: z.number().default(0.1), mu: z.number().default(0.9) }).strict();

  test('memory, forward passes and probes are the parts’ sums; state is the union of their slots and scalars', () => {
    const lookahead: UpdateTransform = { forwardPasses: 2, update: (u) => u }; // a transform that probes, as ZO-SGD-Cons's does
    const o = compose({
      name: 'x',
      summary: '',
      hyperparameters: schema,
      parts: (h) => [spsa({ eps: 1e-3, q: 3 }), momentum(h.mu), adam({ beta1: 0.9, beta2: 0.9, adamEps: 1e-8 }), lookahead],
    });
    const h = schema.parse({});
    expect([o.memoryFactor(h), o.forwardPasses(h), o.probes!(h), o.firstOrder]).toEqual([3, 6 + 2, 3, false]);
    const state = o.init(store(), h);
    expect([...state.slots.keys()]).toEqual([
      'layer.weight/momentum',
      'layer.bias/momentum',
      'layer.weight/exp_avg',
      'layer.weight/exp_avg_sq',
      'layer.bias/exp_avg',
      'layer.bias/exp_avg_sq',
    ]);
    expect(state.scalars).toEqual({ started: 0, t: 0 });
    const fo = compose({ name: 'y', summary: '', hyperparameters: schema, parts: () => [autodiff(), scaleByLearningRate()] });
    expect([fo.firstOrder, fo.forwardPasses(h), fo.memoryFactor(h)]).toEqual([true, 1, 0]);
  });
});
