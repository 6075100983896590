import { ExactNoise } from '../core/noise.js';
import { ParamStore } from '../core/params.js';
import type { Perturbation } from '../core/perturbation.js';
import { Quadratic, toyQuadratic } from '../core/quadratic.js';
import type { OptimizerState } from '../optimizers/optimizer.js';
import { RAW_FEATURES, type FeatureTransform } from './features.js';
import { randomFinetuner, type Finetuner } from './finetuner.js';
import { backpropMetaStep, sgdOnBank } from './meta.js';
import { bankFromState, metaState, metaTrain, trajectoryLr, type MetaRecord, type MetaTask, type MetaTrainSettings } from './meta-train.js';
import type { PertNN } from './pertnn.js';
import type { Sharing } from './sharing.js';

const TOY_CONFIG = { modelType: 'toy', vocabSize: 1, maxPositions: 1, tieWordEmbeddings: false };
const SETTINGS: MetaTrainSettings = {
  alpha: 0.1,
  eps: 0.01,
  lrModel: 0.05,
  momentum: 0.8,
  clip: 1,
  lrMlp: 0.5,
  steps: 8,
  cycleSteps: 100,
  reset: true,
  metaGradient: 'backprop',
  delta: 1e-3,
  trajectory: 'fo',
  batchSize: 1,
  seed: 3,
};

/** What a task saw of one plain `loss` call (metaTrain's only ones are the two probes of a step). */
interface Probe {
  task: string;
  taskStep: number;
  value: number;
  /** The perturbation's scale per block: ±ε·nf·σ_b. */
  scales: number[];
}

/** Task A is the toy quadratic; task B the same θ under other curvatures and targets. */
function twoTasks(probes: Probe[]): { tasks: MetaTask[]; a: Quadratic; b: Quadratic } {
  const a = toyQuadratic();
  const b = new Quadratic(
    a.blocks.map((blk) => ({ ...blk, a: blk.a.map((v) => 2 / v), target: blk.target.map((t) => -t) })),
    a.params,
  );
  const logged = (name: string, q: Quadratic): MetaTask => ({
    name,
    problem: {
      params: q.params,
      at: (taskStep) => ({
        loss: async (p?: Perturbation) => {
          const value = q.value(p);
          probes.push({ task: name, taskStep, value, scales: q.params.names.map((n) => (p?.get(n) as { scale: number }).scale) });
          return value;
        },
        lossAndGrads: async (p?: Perturbation) => ({ loss: q.value(p), grads: q.grads(p) }),
      }),
    },
  });
  return { tasks: [logged('a', a), logged('b', b)], a, b };
}

const copyNets = (nets: readonly PertNN[]): PertNN[] =>
  nets.map((n) => ({ w1: n.w1.slice(), b1: n.b1.slice(), w2: n.w2.slice(), b2: n.b2.slice() }));

/** After each step: its record, the scalars, the bank and θ. */
interface Snapshot {
  r?: MetaRecord;
  scalars: Record<string, number>;
  bank: PertNN[];
  theta: Float32Array[];
}

async function run(sharing: Sharing, featureTransform: FeatureTransform = RAW_FEATURES, steps = SETTINGS.steps) {
  const probes: Probe[] = [];
  const { tasks, a, b } = twoTasks(probes);
  const ft = randomFinetuner(a.params, TOY_CONFIG, 1, { sharing, featureTransform });
  const state = metaState(ft, a.params, tasks);
  const noise = new ExactNoise(SETTINGS.seed, [6, 3]);
  const snap = (r?: MetaRecord): Snapshot => ({
    r,
    scalars: { ...state.scalars },
    bank: copyNets(bankFromState(ft, state).nets),
    theta: a.params.names.map((n) => a.params.get(n).slice()),
  });
  const snaps = [snap()];
  await metaTrain(ft, a.params, tasks, noise, state, { ...SETTINGS, steps }, 0, {
    resetWeights: () => {},
    onStep: (r) => void snaps.push(snap(r)),
  });
  return { probes, snaps, ft, a, b, noise, tasks, state };
}

describe('multi-task meta-training, two tasks on one bank', () => {
  test.each<Sharing>(['block', 'global'])('%s sharing: each round visits both tasks once, at that round’s batch', async (sharing) => {
    const { probes, snaps } = await run(sharing);
    const steps = snaps.slice(1).map((s) => s.r!);
    expect(steps.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let round = 0; round < 4; round++) expect([steps[2 * round]!.task, steps[2 * round + 1]!.task].sort()).toEqual(['a', 'b']);
    // Two probes per step, both on the step's task and at its round's batch.
    expect(probes).toHaveLength(16);
    steps.forEach((r, s) => {
      for (const p of probes.slice(2 * s, 2 * s + 2)) expect([p.task, p.taskStep]).toEqual([r.task, Math.floor(s / 2)]);
    });
  });

  test.each<Sharing>(['block', 'global'])(
    '%s sharing: a task’s history is written by its own steps only, as that step’s ℓ⁺, ℓ⁻ and σ',
    async (sharing) => {
      const { probes, snaps } = await run(sharing);
      for (let s = 1; s < snaps.length; s++) {
        const { r, scalars } = snaps[s]!;
        const [plus, minus] = [probes[2 * (s - 1)]!, probes[2 * (s - 1) + 1]!];
        const own = (what: string) => scalars[`history/${r!.task}/${what}`];
        expect([own('lossPlus'), own('lossMinus'), r!.lossPlus]).toEqual([plus.value, minus.value, plus.value]);
        // The probe's scale of block b is ε·nf·σ_b: σ_b read back from what the task was asked.
        ['layer.weight', 'layer.bias'].forEach((n, b) => {
          expect(own(`sigma/${n}`)).toBeCloseTo(plus.scales[b]! / (SETTINGS.eps * r!.nf), 12);
          expect(minus.scales[b]).toBe(-plus.scales[b]!);
        });
        const other = r!.task === 'a' ? 'b' : 'a';
        for (const [k, v] of Object.entries(snaps[s - 1]!.scalars))
          if (k.startsWith(`history/${other}/`)) expect([k, scalars[k]]).toEqual([k, v]);
      }
      // Before its first step a task's history is the initial one: ℓ± = 0, σ = 1.
      for (const t of ['a', 'b']) {
        const before = snaps[snaps.findIndex((x) => x.r?.task === t) - 1]!.scalars;
        expect([before[`history/${t}/lossPlus`], before[`history/${t}/lossMinus`], before[`history/${t}/sigma/layer.bias`]]).toEqual([
          0, 0, 1,
        ]);
      }
    },
  );

  test.each<Sharing>(['block', 'global'])(
    '%s sharing: one bank, each step’s meta-gradient taken from the bank the other task’s step left',
    async (sharing) => {
      const { snaps, ft, a, b, noise } = await run(sharing);
      for (let s = 1; s < snaps.length; s++) {
        const prev = snaps[s - 1]!;
        const { r, bank } = snaps[s]!;
        // Step s replayed from the state step s − 1 left: its θ, its bank, this task's history.
        const params = new ParamStore(a.params.specs(), (spec) => prev.theta[a.params.names.indexOf(spec.name)]!.slice());
        const task = new Quadratic(r!.task === 'a' ? a.blocks : b.blocks, params);
        const nets = copyNets(prev.bank);
        const h = (what: string) => prev.scalars[`history/${r!.task}/${what}`]!;
        const m = await backpropMetaStep({
          ft: { manifest: ft.manifest, nets } as Finetuner,
          params,
          sizes: [6, 3],
          objective: task.at(),
          z: (blk) => noise.z(r!.step, 0, blk),
          history: { lossPlus: h('lossPlus'), lossMinus: h('lossMinus'), sigma: params.names.map((n) => h(`sigma/${n}`)) },
          alpha: SETTINGS.alpha,
          eps: SETTINGS.eps,
        });
        sgdOnBank(nets, m.grads, SETTINGS.lrMlp);
        expect(m.metaLoss).toBe(r!.metaLoss);
        expect(nets).toEqual(bank);
        expect(bank).not.toEqual(prev.bank); // every step, of either task, moved it
      }
    },
  );

  test('a resume from the state after step 4 continues bit for bit, shared net and feature map included', async () => {
    const map: FeatureTransform = { mode: 'standardized', shift: [0.1, 0.05, 0, 0, 0], scale: [0.2, 0.04, 1.5, 1.5, 1] };
    const straight = await run('global', map);
    const half = await run('global', map, 4);
    expect([...half.state.slots.keys()]).toEqual([
      'bank/global.w1',
      'bank/global.b1',
      'bank/global.w2',
      'bank/global.b2',
      'layer.weight/momentum',
      'layer.bias/momentum',
    ]);
    // What a checkpoint holds: the slots and scalars as copies, and θ. The resumed run starts from a
    // fresh bank made without the map, as meta-run's resume does: the state's map must be the one used.
    const state: OptimizerState = {
      slots: new Map([...half.state.slots].map(([k, v]) => [k, v.slice()])),
      scalars: JSON.parse(JSON.stringify(half.state.scalars)),
    };
    const { tasks, a } = twoTasks([]);
    a.params.names.forEach((n) => a.params.get(n).set(half.a.params.get(n)));
    const fresh = randomFinetuner(a.params, TOY_CONFIG, 1, { sharing: 'global' });
    expect(bankFromState(fresh, state).manifest.featureTransform).toEqual(map);
    await metaTrain(fresh, a.params, tasks, new ExactNoise(SETTINGS.seed, [6, 3]), state, SETTINGS, 4, { resetWeights: () => {} });
    expect(bankFromState(fresh, state).nets).toEqual(bankFromState(straight.ft, straight.state).nets);
    expect(state.scalars).toEqual(straight.state.scalars);
    a.params.names.forEach((n) => expect(a.params.get(n)).toEqual(straight.a.params.get(n)));
  });
});

describe('the trajectory', () => {
  test('its LR decays linearly to 0 within each reset cycle, and over the whole run with resets off', () => {
    const s = { ...SETTINGS, lrModel: 0.1, steps: 40, cycleSteps: 10 };
    const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
    close(
      [0, 5, 10, 15, 39].map((t) => trajectoryLr(s, t)),
      [0.1, 0.05, 0.1, 0.05, 0.01],
    );
    const once = { ...s, reset: false };
    close(
      [0, 10, 20, 30].map((t) => trajectoryLr(once, t)),
      [0.1, 0.075, 0.05, 0.025],
    );
  });

  /** θ after each step of a one-task meta-run on the toy, θ restored to θ₀ at each reset (every 4 steps). */
  async function thetas(trajectory: 'fo' | 'zo', settings: Partial<MetaTrainSettings> = {}): Promise<number[][]> {
    const problem = toyQuadratic();
    const { params } = problem;
    const theta0 = params.names.map((n) => params.get(n).slice());
    const ft = randomFinetuner(params, TOY_CONFIG, 0);
    const tasks = [{ name: 't', problem }];
    const state = metaState(ft, params, tasks, trajectory);
    const flat = () => params.names.flatMap((n) => [...params.get(n)]);
    const out: number[][] = [];
    const s = { ...SETTINGS, steps: 7, cycleSteps: 4, trajectory, ...settings };
    await metaTrain(ft, params, tasks, new ExactNoise(SETTINGS.seed, [6, 3]), state, s, 0, {
      resetWeights: () => params.names.forEach((n, b) => params.get(n).set(theta0[b]!)),
      onStep: () => void out.push(flat()),
    });
    return out;
  }
  const toy = toyQuadratic();
  /** The toy's L and ∇L in float64 at a flat θ (weight then bias). */
  const L = (t: number[]) =>
    t.reduce((l, v, i) => l + 0.5 * toy.blocks[i < 6 ? 0 : 1]!.a[i % 6]! * (v - toy.blocks[i < 6 ? 0 : 1]!.target[i % 6]!) ** 2, 0);
  const grad = (t: number[]) => t.map((v, i) => toy.blocks[i < 6 ? 0 : 1]!.a[i % 6]! * (v - toy.blocks[i < 6 ? 0 : 1]!.target[i % 6]!));
  const theta0 = () => toy.params.names.flatMap((n) => [...toy.params.get(n)]);

  test('first order: torch SGD with momentum on the globally clipped gradient, restarted at each reset, by hand (1e-6)', async () => {
    const s = { ...SETTINGS, steps: 7, cycleSteps: 4, clip: 2.15 }; // ‖∇L‖ runs 2.29 → 1.9 over a cycle
    let t = theta0();
    let buf: number[] = [];
    let clipped = 0;
    const want: number[][] = [];
    for (let step = 0; step < s.steps; step++) {
      const reset = step > 0 && step % s.cycleSteps === 0;
      if (reset) t = theta0();
      const g = grad(t);
      const norm = Math.hypot(...g);
      const c = norm > s.clip ? s.clip / norm : 1;
      if (c < 1) clipped++;
      buf = step === 0 || reset ? g.map((x) => c * x) : buf.map((m, i) => s.momentum * m + c * g[i]!);
      const lr = s.lrModel * (1 - (step % s.cycleSteps) / s.cycleSteps);
      t = t.map((v, i) => v - lr * buf[i]!);
      want.push(t);
    }
    expect(clipped).toBeGreaterThan(0);
    expect(clipped).toBeLessThan(s.steps); // both kinds of step occur
    const got = await thetas('fo', { clip: s.clip });
    got.forEach((g, step) => g.forEach((v, i) => expect(Math.abs(v - want[step]![i]!)).toBeLessThan(1e-6)));
  });

  test('forward only: MeZO on probe 1 of the step’s noise, θ − lr·g·z, by hand (1e-6)', async () => {
    const noise = new ExactNoise(SETTINGS.seed, [6, 3]);
    let t = theta0();
    const want: number[][] = [];
    for (let step = 0; step < 7; step++) {
      if (step === 4) t = theta0();
      const z = [...noise.z(step, 1, 0), ...noise.z(step, 1, 1)];
      const at = (e: number) => L(t.map((v, i) => v + e * z[i]!));
      const g = (at(SETTINGS.eps) - at(-SETTINGS.eps)) / (2 * SETTINGS.eps);
      const lr = SETTINGS.lrModel * (1 - (step % 4) / 4);
      t = t.map((v, i) => v - lr * g * z[i]!);
      want.push(t);
    }
    const got = await thetas('zo');
    got.forEach((g, step) => g.forEach((v, i) => expect(Math.abs(v - want[step]![i]!)).toBeLessThan(1e-6)));
  });

  test('the forward-only trajectory holds no momentum: no model-sized buffer in the state', () => {
    const problem = toyQuadratic();
    const { params } = problem;
    const ft = randomFinetuner(params, TOY_CONFIG, 0);
    const tasks = [{ name: 't', problem }];
    const slots = (trajectory: 'fo' | 'zo') =>
      [...metaState(ft, params, tasks, trajectory).slots.keys()].filter((k) => !k.startsWith('bank/'));
    expect(slots('fo')).toEqual(params.names.map((n) => `${n}/momentum`));
    expect(slots('zo')).toEqual([]);
  });
});
