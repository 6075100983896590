import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { OrtExecutor } from '../engine/ort.js';
import { TfjsExecutor } from '../engine/tfjs.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { loadCheckpoint, saveCheckpoint } from '../runs/checkpoint.js';
import { train, type StepRecord } from '../harness/harness.js';
import type { Problem } from '../core/problem.js';
import type { Perturbation } from '../core/perturbation.js';
import { LmProblem, trainBatch } from '../tasks/lm-problem.js';
import { ExactNoise, makeNoise, type NoiseKind } from '../core/noise.js';
import { Quadratic } from '../core/quadratic.js';
import { ParamStore } from '../core/params.js';
import { perturbedBlock } from '../core/perturbation.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import { probesPerStep, type Optimizer, type OptimizerState } from './optimizer.js';
import { OPTIMIZERS, optimizerNamed, parseHyperparameters } from './registry.js';

/**
 * One table-driven suite for every optimizer (the optax / tfjs-core pattern): a hand-computed step on
 * a 2-block toy problem, convergence on a quadratic, exact replay, state save/load, exact θ restore
 * around probes, forward-pass counts and tfjs tensor leaks.
 */

// ---------------------------------------------------------------- the toy problem, by hand
type Blocks = { w: number[]; b: number[] }; // layer.weight [2,3] (decayed), layer.bias [3] (not decayed)
const A = { w: [1, 2, 0.5, 1.5, 3, 1], b: [2, 1, 0.5] };
const T = { w: [0.3, -0.2, 0.1, 0.5, -0.4, 0.2], b: [-0.1, 0.2, 0.3] };
const THETA0: Blocks = { w: [0.1, 0.4, -0.3, 0.2, 0.0, 0.6], b: [0.5, -0.5, 0.1] };
const SEED = 17;

function toy(theta0: Blocks = THETA0): Quadratic {
  return new Quadratic([
    { name: 'layer.weight', shape: [2, 3], theta0: theta0.w, a: A.w, target: T.w },
    { name: 'layer.bias', shape: [3], theta0: theta0.b, a: A.b, target: T.b },
  ]);
}

/** L(θ) of the toy in float64, straight from its definition. */
function L(t: Blocks): number {
  let l = 0;
  t.w.forEach((v, i) => (l += 0.5 * A.w[i]! * (v - T.w[i]!) ** 2));
  t.b.forEach((v, i) => (l += 0.5 * A.b[i]! * (v - T.b[i]!) ** 2));
  return l;
}
const add = (t: Blocks, c: number, d: Blocks): Blocks => ({ w: t.w.map((v, i) => v + c * d.w[i]!), b: t.b.map((v, i) => v + c * d.b[i]!) });
const grad = (t: Blocks): Blocks => ({ w: t.w.map((v, i) => A.w[i]! * (v - T.w[i]!)), b: t.b.map((v, i) => A.b[i]! * (v - T.b[i]!)) });
const noise = new ExactNoise(SEED, [6, 3]);
const Z = (step: number, probe = 0): Blocks => ({ w: [...noise.z(step, probe, 0)], b: [...noise.z(step, probe, 1)] });
/** Decay applies to the weight, not the bias (MeZO's no_decay list). */
const decayOf = (wd: number): Blocks => ({ w: Array(6).fill(wd), b: Array(3).fill(0) });
const map2 = (x: Blocks, y: Blocks, f: (a: number, b: number, i: number) => number): Blocks => ({
  w: x.w.map((v, i) => f(v, y.w[i]!, i)),
  b: x.b.map((v, i) => f(v, y.b[i]!, i + 6)),
});
const flat = (t: Blocks) => [...t.w, ...t.b];

type Hand = (theta: Blocks, step: number, s: Record<string, any>) => Blocks;
const LR = 0.05;
const EPS = 0.01;

function spsaG(t: Blocks, z: Blocks, eps = EPS): { g: number; lp: number; lm: number } {
  const lp = L(add(t, eps, z));
  const lm = L(add(t, -eps, z));
  return { g: (lp - lm) / (2 * eps), lp, lm };
}
function adam(theta: Blocks, G: Blocks, s: Record<string, any>, lr: number): Blocks {
  const [b1, b2, e] = [0.9, 0.999, 1e-8];
  s.t = (s.t ?? 0) + 1;
  s.m = s.m ? map2(s.m, G, (m, g) => b1 * m + (1 - b1) * g) : map2(G, G, (g) => (1 - b1) * g);
  s.v = s.v ? map2(s.v, G, (v, g) => b2 * v + (1 - b2) * g * g) : map2(G, G, (g) => (1 - b2) * g * g);
  return map2(theta, s.m, (th, m, i) => th - ((lr / (1 - b1 ** s.t)) * m) / (Math.sqrt(flat(s.v)[i]!) / Math.sqrt(1 - b2 ** s.t) + e));
}
/** LOZO's keyed factors for the 2×3 weight: U [2,r] per step, V [3,r] per period. */
const U = (step: number, r: number) => [...fillGaussian(new Float32Array(2 * r), keyOf(SEED, 0x10c0, step, 0))];
const V = (period: number, r: number) => [...fillGaussian(new Float32Array(3 * r), keyOf(SEED, 0x10c1, period, 0))];
const outer = (a: number[], v: number[], r: number) =>
  Array.from({ length: 6 }, (_, idx) => {
    const [i, j] = [Math.floor(idx / 3), idx % 3];
    let s = 0;
    for (let k = 0; k < r; k++) s += a[i * r + k]! * v[j * r + k]!;
    return s;
  });

/**
 * LOZO-M by hand (rank 2, ν = 2, β = 0.7): M lives in the subspace of the V it was last updated with
 * (s.period); a step with another V first carries it over, M ← M·V_oldᵀ·V/3.
 */
function lozoMHand(t: Blocks, step: number, s: Record<string, any>): Blocks {
  const r = 2;
  const period = Math.floor(step / 2);
  const u = U(step, r);
  const v = V(period, r);
  const z = Z(step).b;
  const { g } = spsaG(t, { w: outer(u, v, r), b: z });
  if (!s.M) {
    s.M = u.map((x) => g * x);
    s.Mb = z.map((x) => g * x);
  } else {
    if (s.period !== period) {
      const vOld = V(s.period, r);
      const P = [0, 1].map((k) => [0, 1].map((l) => [0, 1, 2].reduce((acc, j) => acc + vOld[j * r + k]! * v[j * r + l]!, 0) / 3));
      s.M = Array.from({ length: 4 }, (_, idx) => [0, 1].reduce((acc, k) => acc + s.M[Math.floor(idx / 2) * 2 + k] * P[k]![idx % 2]!, 0));
    }
    s.M = s.M.map((m: number, i: number) => 0.7 * m + 0.3 * g * u[i]!);
    s.Mb = s.Mb.map((m: number, i: number) => 0.7 * m + 0.3 * g * z[i]!);
  }
  s.period = period;
  return { w: t.w.map((th, i) => th - LR * outer(s.M, v, r)[i]!), b: t.b.map((th, i) => th - LR * s.Mb[i]) };
}

interface Row {
  name: string;
  /** Hyperparameters for the hand-computed steps. */
  hand: Record<string, unknown>;
  handSteps: number;
  step: Hand;
  /** Hyperparameters and steps that converge on the 20-dimensional quadratic. */
  converge: Record<string, unknown>;
  convergeSteps: number;
}

const ROWS: Row[] = [
  {
    name: 'mezo',
    hand: { lr: LR, eps: EPS, weightDecay: 0.1 },
    handSteps: 2,
    step: (t, step) => {
      const z = Z(step);
      const { g } = spsaG(t, z);
      return map2(t, z, (th, zi, i) => th - LR * (g * zi + flat(decayOf(0.1))[i]! * th));
    },
    converge: { lr: 0.02, eps: 1e-3 },
    convergeSteps: 1500,
  },
  {
    name: 'mezo',
    hand: { lr: LR, eps: EPS, q: 2, oneSided: true },
    handSteps: 1,
    step: (t, step) => {
      const l0 = L(t);
      const [z0, z1] = [Z(step, 0), Z(step, 1)];
      const g0 = (L(add(t, EPS, z0)) - l0) / EPS;
      const g1 = (L(add(t, EPS, z1)) - l0) / EPS;
      return map2(t, z0, (th, a, i) => th - LR * ((g0 * a + g1 * flat(z1)[i]!) / 2));
    },
    converge: { lr: 0.02, eps: 1e-3, q: 2 },
    convergeSteps: 1000,
  },
  {
    name: 'zo-sgd-momentum',
    hand: { lr: LR, eps: EPS, momentum: 0.8, weightDecay: 0.1 },
    handSteps: 3,
    step: (t, step, s) => {
      const z = Z(step);
      const { g } = spsaG(t, z);
      const G = map2(t, z, (th, zi, i) => g * zi + flat(decayOf(0.1))[i]! * th);
      s.buf = s.buf ? map2(s.buf, G, (b, gi) => 0.8 * b + gi) : G;
      return map2(t, s.buf, (th, b) => th - LR * b);
    },
    converge: { lr: 0.005, eps: 1e-3, momentum: 0.8 },
    convergeSteps: 1500,
  },
  {
    name: 'zo-sgd-sign',
    hand: { lr: LR, eps: EPS },
    handSteps: 2,
    step: (t, step) => {
      const z = Z(step);
      const { g } = spsaG(t, z);
      return map2(t, z, (th, zi) => th - LR * Math.sign(g) * zi);
    },
    converge: { lr: 0.005, eps: 1e-3 },
    convergeSteps: 1500,
  },
  {
    name: 'zo-sgd-conservative',
    hand: { lr: 0.3, eps: EPS },
    handSteps: 3,
    step: (t, step) => {
      const z = Z(step);
      const { g } = spsaG(t, z);
      const l0 = L(t);
      const tA = add(t, -0.3 * g, z);
      const tB = add(t, 0.3 * g, z);
      const [lA, lB] = [L(tA), L(tB)];
      return lA > l0 ? (l0 < lB ? t : tB) : lA < lB ? tA : tB;
    },
    converge: { lr: 0.05, eps: 1e-3 },
    convergeSteps: 1000,
  },
  {
    name: 'zo-adam',
    hand: { lr: LR, eps: EPS, weightDecay: 0.1 },
    handSteps: 2,
    step: (t, step, s) => {
      const z = Z(step);
      const { g } = spsaG(t, z);
      return adam(
        t,
        map2(t, z, (th, zi, i) => g * zi + flat(decayOf(0.1))[i]! * th),
        s,
        LR,
      );
    },
    converge: { lr: 0.01, eps: 1e-3 },
    convergeSteps: 1500,
  },
  {
    name: 'hizoo',
    hand: { lr: LR, eps: EPS, alpha: 0.5, weightDecay: 0.1 },
    handSteps: 2,
    step: (t, step, s) => {
      const z = Z(step);
      const H: Blocks = s.H ?? { w: Array(6).fill(1), b: Array(3).fill(1) };
      const dir = map2(z, H, (zi, h) => zi / Math.sqrt(h));
      const l0 = L(t);
      const lp = L(add(t, EPS, dir));
      const lm = L(add(t, -EPS, dir));
      const g = (lp - lm) / (2 * EPS);
      const k = Math.abs(lp + lm - 2 * l0) / (2 * EPS * EPS);
      s.H = map2(H, z, (h, zi) => (1 - 0.5) * h + 0.5 * k * h * zi * zi);
      // HiZOO decays every block, the bias included.
      return map2(t, z, (th, zi, i) => th - LR * ((g * zi) / Math.sqrt(flat(s.H)[i]!) + 0.1 * th));
    },
    converge: { lr: 0.02, eps: 1e-3, alpha: 1e-6 },
    convergeSteps: 1500,
  },
  {
    name: 'lozo',
    hand: { lr: LR, eps: EPS, rank: 2, interval: 2, weightDecay: 0.1 },
    handSteps: 3,
    step: (t, step) => {
      const d: Blocks = { w: outer(U(step, 2), V(Math.floor(step / 2), 2), 2), b: Z(step).b };
      const { g } = spsaG(t, d);
      return map2(t, d, (th, di, i) => th - LR * (g * di + flat(decayOf(0.1))[i]! * th));
    },
    converge: { lr: 0.01, eps: 1e-3, rank: 1, interval: 10 },
    convergeSteps: 1500,
  },
  {
    name: 'lozo-m',
    hand: { lr: LR, eps: EPS, rank: 2, interval: 2, beta: 0.7 },
    handSteps: 3,
    step: lozoMHand,
    converge: { lr: 0.01, eps: 1e-3, rank: 1, interval: 10, beta: 0.5 },
    convergeSteps: 1500,
  },
  {
    name: 'fo-sgd',
    hand: { lr: 0.1, momentum: 0.5, weightDecay: 0.1 },
    handSteps: 2,
    step: (t, _step, s) => {
      const G = map2(grad(t), t, (gi, th, i) => gi + flat(decayOf(0.1))[i]! * th);
      s.buf = s.buf ? map2(s.buf, G, (b, gi) => 0.5 * b + gi) : G;
      return map2(t, s.buf, (th, b) => th - 0.1 * b);
    },
    converge: { lr: 0.1 },
    convergeSteps: 200,
  },
  {
    name: 'fo-adam',
    hand: { lr: LR, weightDecay: 0.1 },
    handSteps: 2,
    step: (t, _step, s) =>
      adam(
        t,
        map2(grad(t), t, (gi, th, i) => gi + flat(decayOf(0.1))[i]! * th),
        s,
        LR,
      ),
    converge: { lr: 0.02 },
    convergeSteps: 500,
  },
];

// ---------------------------------------------------------------- running the real thing
async function run(
  o: Optimizer<any>,
  h: Record<string, unknown>,
  problem: Problem,
  steps: number,
  opts: { state?: OptimizerState; startStep?: number; seed?: number; noise?: NoiseKind } = {},
) {
  const hp = parseHyperparameters(o, h);
  const state = opts.state ?? o.init(problem.params, hp);
  const records: StepRecord[] = [];
  const sizes = problem.params.names.map((n) => problem.params.get(n).length);
  await train({
    optimizer: o,
    hyperparameters: hp,
    problem,
    state,
    noise: makeNoise(opts.noise ?? 'exact', opts.seed ?? SEED, sizes, probesPerStep(o, hp)),
    seed: opts.seed ?? SEED,
    steps,
    schedule: 'constant',
    startStep: opts.startStep,
    onStep: (r) => void records.push(r),
  });
  return { state, records, hp };
}

const bits = (p: Problem) => Buffer.concat(p.params.names.map((n) => Buffer.from(p.params.get(n).slice().buffer)));

/** A 20-dimensional ill-conditioned quadratic with its minimum at t. */
function bigQuadratic(): Quadratic {
  const a = (n: number, k: number) => Array.from(fillGaussian(new Float32Array(n), k), (x) => 0.5 + Math.abs(x));
  const v = (n: number, k: number) => Array.from(fillGaussian(new Float32Array(n), k));
  return new Quadratic([
    { name: 'proj.weight', shape: [3, 5], theta0: v(15, 1), a: a(15, 2), target: v(15, 3) },
    { name: 'proj.bias', shape: [5], theta0: v(5, 4), a: a(5, 5), target: v(5, 6) },
  ]);
}

describe.each(ROWS.map((r) => [`${r.name} ${JSON.stringify(r.hand)}`, r] as const))('%s', (_label, row) => {
  const o = optimizerNamed(row.name);

  test('steps equal the hand-computed steps on the 2-block toy problem (1e-6)', async () => {
    const problem = toy();
    const { records } = await run(o, row.hand, problem, row.handSteps);
    let t = THETA0;
    const s = {};
    for (let step = 0; step < row.handSteps; step++) t = row.step(t, step, s);
    const got = [...problem.params.get('layer.weight'), ...problem.params.get('layer.bias')];
    const want = flat(t);
    expect(flat(THETA0).some((v, i) => Math.abs(v - want[i]!) > 1e-3)).toBe(true); // the step moved θ
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
    for (const r of records) expect(r.forwardPasses).toBe(o.forwardPasses(parseHyperparameters(o, row.hand)));
  });

  test('converges on a quadratic', async () => {
    const problem = bigQuadratic();
    const before = problem.value();
    await run(o, row.converge, problem, row.convergeSteps);
    expect(problem.value()).toBeLessThan(0.05 * before);
  });

  test('replay is exact (exact and table noise); another seed differs', async () => {
    for (const kind of ['exact', 'table'] as const) {
      const [a, b, c] = [bigQuadratic(), bigQuadratic(), bigQuadratic()];
      await run(o, row.converge, a, 30, { noise: kind });
      await run(o, row.converge, b, 30, { noise: kind });
      await run(o, row.converge, c, 30, { noise: kind, seed: SEED + 1 });
      expect(bits(a).equals(bits(b))).toBe(true);
      if (!o.firstOrder) expect(bits(a).equals(bits(c))).toBe(false);
    }
  });

  test('state saved and loaded mid-run continues bit-identically', async () => {
    const whole = bigQuadratic();
    await run(o, row.converge, whole, 24);
    const first = bigQuadratic();
    const { state, hp } = await run(o, row.converge, first, 12);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `zo-opt-${o.name}-`));
    saveCheckpoint(dir, first.params, state, { step: 12, optimizer: o.name, hyperparameters: hp, blocks: first.params.specs(), extra: {} });
    const resumed = bigQuadratic();
    const loaded = loadCheckpoint(dir, resumed.params, o.name);
    expect(loaded.meta.step).toBe(12);
    expect(bits(resumed).equals(bits(first))).toBe(true);
    expect([...loaded.state.slots.keys()]).toEqual([...state.slots.keys()]);
    await run(o, row.converge, resumed, 24, { state: loaded.state, startStep: 12 });
    expect(bits(resumed).equals(bits(whole))).toBe(true);
    fs.rmSync(dir, { recursive: true });
  });
});

/** The problem with a non-finite loss on `skipped` steps, which the harness skips leaving θ and state as they were. */
function skipping(problem: Problem, skipped: readonly number[]): Problem {
  const nan = { loss: async () => NaN, lossAndGrads: async () => ({ loss: NaN, grads: new Map<string, Float32Array>() }) };
  return { params: problem.params, at: (step) => (skipped.includes(step) ? nan : problem.at(step)) };
}

describe('zo-sgd-conservative on a cubic, where every move occurs', () => {
  // On a convex quadratic θ + η·g·z never wins (the toy's hand steps keep or take θ − η·g·z); a cubic's
  // odd term makes it win at step 3. L(w) = Σ c_i·w_i³ + ½·w_i², in float64 at θ + c·z.
  const C = [3, -2, 1.5, 4];
  const W0 = [0.4, -0.3, 0.9, 0.1];
  const f = (w: ArrayLike<number>) => Array.from(w).reduce((l, x, i) => l + C[i]! * x ** 3 + 0.5 * x * x, 0);
  const [lr, eps] = [0.2, 1e-3];

  test('steps keep θ, take θ − η·g·z, then θ + η·g·z, as by hand (1e-6)', async () => {
    const params = new ParamStore([{ name: 'w', shape: [4] }], () => Float32Array.from(W0));
    const problem: Problem = {
      params,
      at: () => ({
        loss: async (p?: Perturbation) => {
          const q = p?.get('w');
          return f(q ? perturbedBlock(params.get('w'), [4], q, new Float64Array(4)) : params.get('w'));
        },
        lossAndGrads: () => Promise.reject(new Error('zeroth order only')),
      }),
    };
    await run(optimizerNamed('zo-sgd-conservative'), { lr, eps }, problem, 4);
    const noise = new ExactNoise(SEED, [4]);
    let w = [...W0];
    const moves: string[] = [];
    for (let step = 0; step < 4; step++) {
      const z = [...noise.z(step, 0, 0)];
      const g = (f(w.map((x, i) => x + eps * z[i]!)) - f(w.map((x, i) => x - eps * z[i]!))) / (2 * eps);
      const [wA, wB] = [w.map((x, i) => x - lr * g * z[i]!), w.map((x, i) => x + lr * g * z[i]!)];
      const [l0, lA, lB] = [f(w), f(wA), f(wB)];
      const move = lA > l0 ? (l0 < lB ? 'keep' : 'B') : lA < lB ? 'A' : 'B';
      moves.push(move);
      w = move === 'keep' ? w : move === 'A' ? wA : wB;
    }
    expect(moves).toEqual(['keep', 'keep', 'A', 'B']);
    params.get('w').forEach((v, i) => expect(Math.abs(v - w[i]!)).toBeLessThan(1e-6));
  });
});

describe('lozo-m when the V-redraw step is skipped', () => {
  const o = optimizerNamed('lozo-m');
  const hp = { lr: LR, eps: EPS, rank: 2, interval: 2, beta: 0.7 };
  // ν = 2: steps 0 and 1 use V of period 0; step 2 would redraw V and carry M over, but its loss is
  // NaN; steps 3 and 4 use V of period 1, so step 3 must carry M from period 0.
  const SKIPPED = [2];
  const RAN = [0, 1, 3, 4];

  test('the next step that runs carries the momentum into the new V (hand computation)', async () => {
    const problem = toy();
    const { state, records } = await run(o, hp, skipping(problem, SKIPPED), 5);
    expect(records.map((r) => r.skipped)).toEqual([false, false, true, false, false]);
    let t = THETA0;
    const s: Record<string, any> = {};
    for (const step of RAN) {
      if (step === 3) {
        // The carry matters here: without it (M taken as already in period 1) step 3's M differs.
        const uncarried: Record<string, any> = { ...s, period: 1 };
        lozoMHand(t, step, uncarried);
        const carried: Record<string, any> = { ...s };
        lozoMHand(t, step, carried);
        expect(Math.max(...carried.M.map((m: number, i: number) => Math.abs(m - uncarried.M[i])))).toBeGreaterThan(1e-3);
      }
      t = lozoMHand(t, step, s);
    }
    [...problem.params.get('layer.weight'), ...problem.params.get('layer.bias')].forEach((v, i) =>
      expect(Math.abs(v - flat(t)[i]!)).toBeLessThan(1e-6),
    );
    [...state.slots.get('layer.weight/momentum')!].forEach((m, i) => expect(Math.abs(m - s.M[i])).toBeLessThan(1e-6));
    [...state.slots.get('layer.bias/momentum')!].forEach((m, i) => expect(Math.abs(m - s.Mb[i])).toBeLessThan(1e-6));
    expect(state.scalars.period).toBe(2);
  });

  test('a run saved right after the skipped step resumes bit-identically (the period is in the state)', async () => {
    const whole = toy();
    await run(o, hp, skipping(whole, SKIPPED), 5);
    const first = toy();
    const { state, hp: h } = await run(o, hp, skipping(first, SKIPPED), 3);
    expect(state.scalars.period).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-lozo-m-skip-'));
    saveCheckpoint(dir, first.params, state, { step: 3, optimizer: o.name, hyperparameters: h, blocks: first.params.specs(), extra: {} });
    const resumed = toy();
    const loaded = loadCheckpoint(dir, resumed.params, o.name);
    await run(o, hp, skipping(resumed, SKIPPED), 5, { state: loaded.state, startStep: 3 });
    expect(bits(resumed).equals(bits(whole))).toBe(true);
    fs.rmSync(dir, { recursive: true });
  });

  test('a checkpoint from before the period was recorded resumes as if no step had been skipped', async () => {
    const whole = toy();
    await run(o, hp, whole, 4);
    const first = toy();
    const { state } = await run(o, hp, first, 2);
    delete state.scalars.period; // saved by a zo that kept only `started`
    await run(o, hp, first, 4, { state, startStep: 2 }); // step 2 redraws V: M is carried from period 0
    expect(bits(first).equals(bits(whole))).toBe(true);
  });
});

describe('on a real model (llama fixture)', () => {
  const model = loadModel(fixtureDir('llama'));
  const tokens = model.tokenizer.encode(
    'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.',
    { addSpecialTokens: false },
  );
  const data = { tokens, seqLen: 12, batchSize: 2 };
  const names = [...new Set(ROWS.map((r) => r.name))];

  test.each(names)('%s: θ is bit-identical after every probe, until the update', async (name) => {
    const o = optimizerNamed(name);
    const exec = new OrtExecutor(model);
    const inner = new LmProblem(model, data, SEED, exec);
    const snapshot = () => Buffer.concat(model.params.names.map((n) => Buffer.from(model.params.get(n).slice().buffer)));
    let atStepStart = snapshot();
    let lastStep = -1;
    const checked: Problem = {
      params: model.params,
      at: (step) => {
        atStepStart = snapshot();
        lastStep = step;
        const f = inner.at(step);
        return {
          loss: async (p) => {
            const l = await f.loss(p);
            expect(snapshot().equals(atStepStart)).toBe(true);
            return l;
          },
          lossAndGrads: async () => {
            const r = await f.lossAndGrads();
            expect(snapshot().equals(atStepStart)).toBe(true);
            return r;
          },
        };
      },
    };
    const original = snapshot();
    const row = ROWS.find((r) => r.name === name)!;
    await run(o, { ...row.converge, lr: 1e-3 }, checked, 2);
    expect(lastStep).toBe(1);
    expect(snapshot().equals(original)).toBe(false); // the updates did write θ
    model.params.names.forEach((n, i) =>
      model.params
        .get(n)
        .set(new Float32Array(original.buffer, original.byteOffset, original.length / 4).subarray(offsetOf(i), offsetOf(i + 1))),
    );
    await inner.dispose();
    await exec.dispose();
  });

  test.each(names)('%s: no tfjs tensors leak across steps (tfjs executor, θ re-read every step)', async (name) => {
    const o = optimizerNamed(name);
    const saved = model.params.names.map((n) => model.params.get(n).slice());
    const snapshot = () => Buffer.concat(model.params.names.map((n) => Buffer.from(model.params.get(n).slice().buffer)));
    const exec = await TfjsExecutor.create(model);
    const inner = new LmProblem(model, data, SEED, exec);
    // What each step starts from: θ, and the executor's loss at θ on one fixed batch (taken before the
    // step's first pass), which moves exactly when the weights the executor holds do.
    const fixed = trainBatch(data, SEED, 0);
    const starts: { theta: Buffer; held: number }[] = [];
    const problem: Problem = {
      params: model.params,
      at: (step) => {
        exec.refresh(); // updates wrote θ's arrays in place: the variables re-read them, as zo run does
        const f = inner.at(step);
        const theta = snapshot();
        let taken = false;
        const take = async () => {
          if (!taken) starts.push({ theta, held: (await exec.forward(fixed)).loss });
          taken = true;
        };
        return {
          loss: async (p) => (await take(), f.loss(p)),
          lossAndGrads: async () => (await take(), f.lossAndGrads()),
        };
      },
    };
    const row = ROWS.find((r) => r.name === name)!;
    await run(o, { ...row.converge, lr: 1e-4 }, problem, 1); // warm-up: lazily created executors
    const before = tf.memory().numTensors;
    await run(o, { ...row.converge, lr: 1e-4 }, problem, 3, { startStep: 1 }); // steps 1 and 2
    expect(tf.memory().numTensors).toBe(before);
    expect(starts).toHaveLength(3);
    const moved = starts.slice(1).map((s, i) => !s.theta.equals(starts[i]!.theta));
    expect(moved.some(Boolean)).toBe(true); // the updates wrote θ
    expect(starts.slice(1).map((s, i) => s.held !== starts[i]!.held)).toEqual(moved);
    await inner.dispose();
    await exec.dispose();
    model.params.names.forEach((n, i) => model.params.get(n).set(saved[i]!));
  });

  function offsetOf(i: number): number {
    return model.params.names.slice(0, i).reduce((s, n) => s + model.params.get(n).length, 0);
  }
});

test('the registry lists each optimizer once, each with a strict schema', () => {
  const names = OPTIMIZERS.map((o) => o.name);
  expect(new Set(names).size).toBe(names.length);
  expect(names).toEqual([
    'mezo',
    'zo-sgd-momentum',
    'zo-sgd-sign',
    'zo-sgd-conservative',
    'zo-adam',
    'hizoo',
    'lozo',
    'lozo-m',
    'fo-sgd',
    'fo-adam',
  ]);
  for (const o of OPTIMIZERS) expect(() => parseHyperparameters(o, { lr: 1e-3, notAField: 1 })).toThrow(/notAField/);
  expect(() => parseHyperparameters(optimizerNamed('mezo'), { lr: -1 })).toThrow(/hyperparameter lr/);
  expect(() => optimizerNamed('adamw')).toThrow(/unknown optimizer "adamw" \(known: mezo, /);
});

// The ort executor evaluates through a run's training graph when the optimizer says its probes are
// θ + c·z on every block (OrtOptions.probed): the claim must match what its steps ask for.
test.each(OPTIMIZERS.filter((o) => !o.firstOrder).map((o) => [o.name, o] as const))(
  '%s: scalarProbes says whether every probe is θ + c·z on every block',
  async (_name, opt) => {
    const quad = new Quadratic([
      { name: 'w', shape: [4, 3], theta0: Array.from({ length: 12 }, (_, i) => i / 10), a: Array(12).fill(1), target: Array(12).fill(0) },
      { name: 'b', shape: [3], theta0: [1, 2, 3], a: [1, 1, 1], target: [0, 0, 0] },
    ]);
    const seen: (Perturbation | undefined)[] = [];
    const problem: Problem = {
      params: quad.params,
      at: () => {
        const o = quad.at();
        return { ...o, loss: (p?: Perturbation) => (seen.push(p), o.loss(p)) };
      },
    };
    const h = parseHyperparameters(opt, { lr: 1e-3 });
    const noise = makeNoise('ziggurat', 1, quad.params.sizes(), probesPerStep(opt, h));
    await train({
      optimizer: opt,
      hyperparameters: h,
      problem,
      state: opt.init(quad.params, h),
      noise,
      seed: 1,
      steps: 2,
      schedule: 'constant',
    });
    const probes = seen.filter((p): p is Perturbation => p !== undefined);
    expect(probes.length).toBeGreaterThan(0);
    const scalarEverywhere = probes.every((p) => quad.params.names.every((n) => p.get(n)?.kind === 'scalar'));
    expect(opt.scalarProbes).toBe(scalarEverywhere);
  },
);
