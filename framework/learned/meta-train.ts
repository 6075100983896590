import type { NoiseSource } from '../core/noise.js';
import type { ParamStore } from '../core/params.js';
import type { BlockPerturbation } from '../core/perturbation.js';
import type { Problem } from '../core/problem.js';
import { keyedPermutation, keyOf } from '../core/rng.js';
import { BLOCK_ROLES, type BlockRole } from '../models/roles.js';
import type { OptimizerState } from '../optimizers/optimizer.js';
import { FEATURE_MODES } from './features.js';
import { FEATURES, PERTNN_TENSORS } from './pertnn.js';
import { bankGroups, type Finetuner } from './finetuner.js';
import { backpropMetaStep, sgdOnBank, spsaMetaStep, type MetaStep } from './meta.js';
import { effectiveSize } from './normalization.js';

/** Everything that shapes a meta-training run (docs/methods/zo-finetuner.md#meta-training). */
export interface MetaTrainSettings {
  /** α: the look-ahead step's learning rate (the deployment LR scale). */
  alpha: number;
  eps: number;
  /** The model's first-order trajectory: SGD with momentum at this LR, decaying to 0 in each cycle. */
  lrModel: number;
  momentum: number;
  clip: number;
  /** The PertNNs' plain-SGD learning rate. */
  lrMlp: number;
  /** Total steps, and the steps of one reset cycle (θ back to θ₀, the trajectory's SGD state new). */
  steps: number;
  cycleSteps: number;
  /** Reset on/off (an ablation: off keeps one trajectory). */
  reset: boolean;
  metaGradient: 'backprop' | 'spsa';
  /** SPSA's δ in ω-space. */
  delta: number;
  trajectory: 'fo' | 'zo';
  batchSize: number;
  seed: number;
}

/** One task's problem and the history its PertNN features carry (kept per task in multi-task mode). */
export interface MetaTask {
  name: string;
  problem: Problem;
}

/** What a step reports for metrics.jsonl. */
export interface MetaRecord {
  step: number;
  task: string;
  metaLoss: number;
  lossPlus: number;
  g: number;
  nf: number;
  /** The trajectory's loss at θ before its step. */
  trainLoss: number;
  lrModel: number;
  /** Mean nf·σ per block role. */
  scale: Partial<Record<BlockRole, number>>;
  reset: boolean;
  ms: number;
}

const historyKey = (task: string, what: string) => `history/${task}/${what}`;
const transformKey = (what: 'shift' | 'scale', k: number) => `features/${what}/${k}`;
/** The feature mode as a scalar: its index in FEATURE_MODES. */
const MODE_KEY = 'features/mode';

/**
 * The state of a meta-training run as plain data, so it checkpoints like an optimizer's: the bank's
 * tensors, one set per net (`bank/<group>.<w1|b1|w2|b2>`, the group being the block under 'block'
 * sharing), its feature map (`features/mode`, `features/shift/<k>`, `features/scale/<k>`: fixed at
 * the start from θ₀ and the first batch, so a resume reads it instead of recomputing it), the trajectory's momentum (`<block>/momentum`), and per task the
 * loss history and σ of the previous step.
 */
export function metaState(
  ft: Finetuner,
  params: ParamStore,
  tasks: readonly MetaTask[],
  trajectory: MetaTrainSettings['trajectory'] = 'fo',
): OptimizerState {
  const slots = new Map<string, Float32Array>();
  bankGroups(ft.manifest).names.forEach((g, i) => PERTNN_TENSORS.forEach((t) => slots.set(`bank/${g}.${t}`, ft.nets[i]![t])));
  // Only the first-order trajectory has momentum: the forward-only mode holds no model-sized buffer.
  if (trajectory === 'fo') for (const n of params.names) slots.set(`${n}/momentum`, new Float32Array(params.get(n).length));
  const scalars: Record<string, number> = { started: 0 };
  const { mode, shift, scale } = ft.manifest.featureTransform;
  scalars[MODE_KEY] = FEATURE_MODES.indexOf(mode);
  for (let k = 0; k < FEATURES; k++) {
    scalars[transformKey('shift', k)] = shift[k]!;
    scalars[transformKey('scale', k)] = scale[k]!;
  }
  for (const t of tasks) {
    scalars[historyKey(t.name, 'lossPlus')] = 0;
    scalars[historyKey(t.name, 'lossMinus')] = 0;
    params.names.forEach((n) => (scalars[historyKey(t.name, `sigma/${n}`)] = 1));
  }
  return { slots, scalars };
}

/**
 * The bank's nets as views of the state's slots, so an SGD step on them writes the state, with the
 * feature map the state holds (a checkpoint from before the map keeps `ft`'s).
 */
export function bankFromState(ft: Finetuner, state: OptimizerState): Finetuner {
  const nets = bankGroups(ft.manifest).names.map((g) => {
    const get = (t: (typeof PERTNN_TENSORS)[number]) => state.slots.get(`bank/${g}.${t}`)!;
    return { w1: get('w1'), b1: get('b1'), w2: get('w2'), b2: get('b2') };
  });
  const mode = FEATURE_MODES[state.scalars[MODE_KEY] ?? -1];
  const stored = (what: 'shift' | 'scale') => Array.from({ length: FEATURES }, (_, k) => state.scalars[transformKey(what, k)]!);
  const featureTransform = mode ? { mode, shift: stored('shift'), scale: stored('scale') } : ft.manifest.featureTransform;
  return { manifest: { ...ft.manifest, featureTransform }, nets };
}

/** Which task step t trains on: each round visits every task once, in a keyed order. */
export function taskAt(tasks: number, seed: number, step: number): { task: number; taskStep: number } {
  const round = Math.floor(step / tasks);
  return { task: keyedPermutation(tasks, keyOf(seed, round, 0x7a5c))[step % tasks]!, taskStep: round };
}

/** The trajectory's LR at step t: linear decay to 0 within each reset cycle (over the whole run with resets off). */
export const trajectoryLr = (s: MetaTrainSettings, step: number) => {
  // Without resets there is one trajectory, so one decay over the whole run rather than warm restarts.
  const period = s.reset ? s.cycleSteps : s.steps;
  return s.lrModel * (1 - (step % period) / period);
};

export interface MetaTrainHooks {
  onStep?: (r: MetaRecord) => void | Promise<void>;
  /** Restores θ to the pretrained weights in place (a reset). */
  resetWeights: () => void;
}

/**
 * Meta-trains the bank in `state` from `startStep` to `s.steps`. Each step: the ZO probes with the
 * current policy on the step's batch (they only measure), one meta-gradient step on ω, then one step
 * of the model's own trajectory on the same batch: first-order SGD with momentum and clipping, or
 * MeZO (`trajectory: 'zo'`). Every draw is keyed by (seed, step), so a resumed run replays exactly.
 */
export async function metaTrain(
  ft: Finetuner,
  params: ParamStore,
  tasks: readonly MetaTask[],
  noise: NoiseSource,
  state: OptimizerState,
  s: MetaTrainSettings,
  startStep: number,
  hooks: MetaTrainHooks,
): Promise<void> {
  const bank = bankFromState(ft, state);
  const sizes = params.names.map((n, i) =>
    effectiveSize(params.shape(n), ft.manifest.blocks[i]!.role, s.batchSize, ft.manifest.normalization),
  );
  for (let step = startStep; step < s.steps; step++) {
    const t0 = performance.now();
    const reset = s.reset && step > 0 && step % s.cycleSteps === 0;
    if (reset) {
      hooks.resetWeights();
      for (const n of params.names) state.slots.get(`${n}/momentum`)?.fill(0);
      state.scalars.started = 0;
    }
    const { task, taskStep } = taskAt(tasks.length, s.seed, step);
    const mt = tasks[task]!;
    const objective = mt.problem.at(taskStep);
    const h = (what: string) => historyKey(mt.name, what);
    const input = {
      ft: bank,
      params,
      sizes,
      objective,
      z: (b: number) => noise.z(step, 0, b),
      history: {
        lossPlus: state.scalars[h('lossPlus')]!,
        lossMinus: state.scalars[h('lossMinus')]!,
        sigma: params.names.map((n) => state.scalars[h(`sigma/${n}`)]!),
      },
      alpha: s.alpha,
      eps: s.eps,
    };
    const m: MetaStep =
      s.metaGradient === 'backprop' ? await backpropMetaStep(input) : await spsaMetaStep(input, s.delta, keyOf(s.seed, step, 0x5e5a));
    sgdOnBank(bank.nets, m.grads, s.lrMlp);
    state.scalars[h('lossPlus')] = m.lossPlus;
    state.scalars[h('lossMinus')] = m.lossMinus;
    params.names.forEach((n, i) => (state.scalars[h(`sigma/${n}`)] = m.sigma[i]!));
    const lr = trajectoryLr(s, step);
    const trainLoss =
      s.trajectory === 'fo' ? await firstOrderStep(params, objective, state, s, lr) : await mezoStep(params, objective, noise, step, s, lr);
    const scale: Partial<Record<BlockRole, number>> = {};
    for (const role of BLOCK_ROLES) {
      const xs = m.sigma.flatMap((v, i) => (ft.manifest.blocks[i]!.role === role ? [m.nf * v] : []));
      if (xs.length) scale[role] = xs.reduce((a, b) => a + b, 0) / xs.length;
    }
    await hooks.onStep?.({
      step,
      task: mt.name,
      metaLoss: m.metaLoss,
      lossPlus: m.lossPlus,
      g: m.g,
      nf: m.nf,
      trainLoss,
      lrModel: lr,
      scale,
      reset,
      ms: performance.now() - t0,
    });
  }
}

/** torch SGD with momentum on the clipped gradient (global norm), the official trajectory. */
async function firstOrderStep(
  params: ParamStore,
  objective: ReturnType<Problem['at']>,
  state: OptimizerState,
  s: MetaTrainSettings,
  lr: number,
): Promise<number> {
  const { loss, grads } = await objective.lossAndGrads();
  let sq = 0;
  for (const g of grads.values()) for (const v of g) sq += v * v;
  const c = s.clip > 0 && Math.sqrt(sq) > s.clip ? s.clip / Math.sqrt(sq) : 1;
  const first = state.scalars.started === 0;
  for (const n of params.names) {
    const theta = params.get(n);
    const g = grads.get(n)!;
    const buf = state.slots.get(`${n}/momentum`)!;
    for (let i = 0; i < theta.length; i++) {
      buf[i] = first ? c * g[i]! : s.momentum * buf[i]! + c * g[i]!;
      theta[i] = theta[i]! - lr * buf[i]!;
    }
  }
  state.scalars.started = 1;
  return loss;
}

/** The forward-only trajectory: a MeZO step with its own isotropic probe (probe 1 of the step's noise). */
async function mezoStep(
  params: ParamStore,
  objective: ReturnType<Problem['at']>,
  noise: NoiseSource,
  step: number,
  s: MetaTrainSettings,
  lr: number,
): Promise<number> {
  const probe = (scale: number) =>
    new Map<string, BlockPerturbation>(params.names.map((n, b) => [n, { kind: 'scalar', scale, z: noise.z(step, 1, b) }]));
  const lPlus = await objective.loss(probe(s.eps));
  const lMinus = await objective.loss(probe(-s.eps));
  const g = (lPlus - lMinus) / (2 * s.eps);
  params.names.forEach((n, b) => {
    const theta = params.get(n);
    const z = noise.z(step, 1, b);
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - lr * g * z[i]!;
  });
  return lPlus;
}
