import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { ParamStore } from '../core/params.js';
import { makeNoise, type NoiseKind } from '../core/noise.js';
import { packageVersion } from '../core/paths.js';
import { OrtExecutor } from '../engine/ort.js';
import { randomFinetuner, saveFinetuner, type Finetuner } from '../learned/finetuner.js';
import { DEFAULT_NORMALIZATION } from '../learned/normalization.js';
import { RAW_FEATURES, standardization, type FeatureMode, type FeatureTransform } from '../learned/features.js';
import {
  bankFromState,
  metaState,
  metaTrain,
  taskAt,
  type MetaRecord,
  type MetaTask,
  type MetaTrainSettings,
} from '../learned/meta-train.js';
import type { Sharing } from '../learned/sharing.js';
import { loadModel } from '../models/load.js';
import { withPeft, type PeftMode, type PeftSpec } from './peft.js';
import { lossCurveSpec, readMetrics, renderChart } from '../plots/plot.js';
import { taskProblem } from '../tasks/build.js';
import type { SplitSizes } from '../tasks/task.js';
import { resolveTask } from '../../datasets/registry.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, truncateMetrics, writeJsonAtomic } from './checkpoint.js';
import { fsError, inspectOutFolder, readRunJson } from './folder.js';
import { lockRunFolder } from './lock.js';

/** Everything that determines a meta-training run; written to spec.json. */
export interface MetaTrainSpec {
  model: string;
  /** Task names (a list: multi-task mode, one shared bank) or task files. */
  tasks: string[];
  taskFiles?: string[];
  trainSetSeed: number;
  sizes?: Partial<SplitSizes>;
  maxLen: number;
  epochs: number;
  epochsPerRestart: number;
  /** Overrides epochs × steps per epoch (a short run, a test). */
  steps?: number;
  settings: Omit<MetaTrainSettings, 'steps' | 'cycleSteps'>;
  /** Which blocks share a PertNN (docs/methods/zo-finetuner.md#switches); absent in older specs: 'block'. */
  sharing?: Sharing;
  /** Raw features (the paper's) or standardised by a map fixed at the start; absent: 'raw'. */
  features?: FeatureMode;
  /** The normaliser nf (the paper's); false: nf = 1, the σ's are absolute scales (Table 2's ablation). Absent: true. */
  normalization?: boolean;
  noise: NoiseKind;
  threads?: number;
  saveEvery: number;
  /** A bank for a PEFT run's blocks (the adapters, initialised from settings.seed as such a run's are); absent: full. */
  peft?: PeftMode;
  lora?: PeftSpec['lora'];
  prefix?: PeftSpec['prefix'];
}

export interface MetaTrainSummary {
  steps: number;
  tasks: string[];
  /** The mean meta loss of the first and of the last tenth of the steps. */
  firstMetaLoss: number;
  finalMetaLoss: number;
  wallSeconds: number;
  finetuner: string;
}

const MARKER = 'zo-meta-train';

/**
 * Meta-trains a ZO Fine-tuner bank for one base model (`zo meta-train`): a run folder like `zo run`'s
 * (spec.json, metrics.jsonl, checkpoints, locked, resumable bit for bit), ending with
 * finetuner.safetensors + finetuner.json, a meta-loss plot and summary.json.
 */
export async function metaTrainRun(
  outDir: string,
  specIn: MetaTrainSpec | undefined,
  hooks: { onStep?: (r: MetaRecord, total: number) => void; log?: (m: string) => void } = {},
): Promise<MetaTrainSummary> {
  const state0 = inspectOutFolder(outDir);
  const resume = specIn === undefined;
  if (resume && (state0 !== 'run' || !hasCheckpoint(outDir)))
    throw new ZoError(`--resume: ${outDir} has no meta-training checkpoint to resume from`);
  if (!resume && state0 === 'run')
    throw new ZoError(`--out ${outDir}: already holds a run; pass --resume to continue it, or choose another folder`);
  const spec = resume
    ? readRunJson<MetaTrainSpec>(path.join(outDir, 'spec.json'), 'the run spec')
    : { ...specIn!, model: path.resolve(specIn!.model) };
  const peftSpec = { peft: spec.peft, lora: spec.lora, prefix: spec.prefix, seed: spec.settings.seed };
  const { model, theta } = await withPeft(loadModel(spec.model), peftSpec);
  // A reset restores θ₀: the base weights re-read from disk (no second copy of the model held), or a
  // copy of the adapter's init, which is small.
  const theta0 = theta === model.params ? undefined : new Map(theta.names.map((n) => [n, Float32Array.from(theta.get(n))]));
  // Every probe of meta-training is θ + c·z on θ's blocks: evaluation shares their graph (OrtOptions.probed).
  const exec = new OrtExecutor(model, { threads: spec.threads, probed: theta.names });
  const names = [...spec.tasks, ...(spec.taskFiles ?? [])];
  if (names.length === 0) throw new ZoError('name at least one task (--task, --tasks a,b or --task-file)');
  const tasks: MetaTask[] = [];
  const perEpoch: number[] = [];
  for (const n of names) {
    const task = spec.tasks.includes(n) ? resolveTask(n) : resolveTask(undefined, n);
    const built = await taskProblem({
      model,
      task,
      exec,
      batchSize: spec.settings.batchSize,
      seed: spec.settings.seed,
      trainSetSeed: spec.trainSetSeed,
      sizes: spec.sizes,
      maxLen: spec.maxLen,
    });
    tasks.push({ name: task.name, problem: built.problem });
    perEpoch.push(Math.ceil(built.encoded.train.length / spec.settings.batchSize));
  }
  // An epoch is every task's train split once; a round of the task order visits each task once.
  const stepsPerEpoch = tasks.length * Math.max(...perEpoch);
  const settings: MetaTrainSettings = {
    ...spec.settings,
    steps: spec.steps ?? spec.epochs * stepsPerEpoch,
    cycleSteps: spec.epochsPerRestart * stepsPerEpoch,
  };
  // On resume the checkpoint holds the feature map (bankFromState reads it), so it is made only once.
  const featureTransform = resume ? RAW_FEATURES : await featureMap(spec.features ?? 'raw', theta, tasks, settings.seed);
  const ft0: Finetuner = randomFinetuner(theta, model.config, spec.settings.seed, {
    sharing: spec.sharing ?? 'block',
    featureTransform,
    normalization: { ...DEFAULT_NORMALIZATION, enabled: spec.normalization ?? true },
  });
  let state = metaState(ft0, theta, tasks, settings.trajectory);
  let startStep = 0;
  let wall0 = 0;
  if (resume) {
    const ck = loadCheckpoint(outDir, theta, MARKER);
    state = ck.state;
    startStep = ck.meta.step;
    wall0 = (ck.meta.extra.wallSeconds as number) ?? 0;
  }
  try {
    fs.mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw fsError(`--out ${outDir}`, 'cannot create the run folder', e);
  }
  const lock = lockRunFolder(outDir);
  const t0 = performance.now();
  try {
    if (!resume) writeJsonAtomic(path.join(outDir, 'spec.json'), { ...spec, zo: packageVersion() });
    const metricsFile = path.join(outDir, 'metrics.jsonl');
    truncateMetrics(metricsFile, startStep);
    const metrics = fs.openSync(metricsFile, 'a');
    const checkpoint = (step: number) =>
      saveCheckpoint(outDir, theta, state, {
        step,
        optimizer: MARKER,
        hyperparameters: {},
        blocks: theta.specs(),
        extra: { wallSeconds: wall0 + (performance.now() - t0) / 1000 },
      });
    hooks.log?.(
      `meta-training ${ft0.nets.length} PertNNs (${ft0.manifest.sharing} sharing, ${spec.features ?? 'raw'} features) for the ${theta.names.length} blocks of ${spec.model} on ${names.join(', ')}: ${settings.steps} steps, reset every ${settings.cycleSteps}`,
    );
    try {
      const noise = makeNoise(
        spec.noise,
        spec.settings.seed,
        theta.sizes(),
        spec.settings.trajectory === 'zo' ? 2 : 1,
        spec.threads ?? os.availableParallelism(),
      );
      await metaTrain(ft0, theta, tasks, noise, state, settings, startStep, {
        resetWeights: () => {
          const fresh: { get(n: string): Float32Array | undefined } = theta0 ?? loadModel(spec.model).params;
          for (const n of theta.names) theta.get(n).set(fresh.get(n)!);
        },
        onStep: (r) => {
          fs.writeSync(metrics, JSON.stringify({ ...r, ms: Math.round(r.ms * 100) / 100 }) + '\n');
          hooks.onStep?.(r, settings.steps);
          if (spec.saveEvery > 0 && (r.step + 1) % spec.saveEvery === 0 && r.step + 1 < settings.steps) checkpoint(r.step + 1);
        },
      });
    } finally {
      fs.closeSync(metrics);
    }
    if (startStep < settings.steps) checkpoint(settings.steps);
    return await finish(outDir, spec, settings, bankFromState(ft0, state), names, wall0 + (performance.now() - t0) / 1000);
  } finally {
    lock.release();
    for (const t of tasks) await (t.problem as { dispose?: () => Promise<void> }).dispose?.();
    await exec.dispose();
  }
}

/** The feature map of a new run: for 'standardized', from θ₀'s blocks and the loss at θ₀ on the first step's batch. */
async function featureMap(mode: FeatureMode, params: ParamStore, tasks: readonly MetaTask[], seed: number): Promise<FeatureTransform> {
  if (mode === 'raw') return RAW_FEATURES;
  const first = taskAt(tasks.length, seed, 0);
  return standardization(params, await tasks[first.task]!.problem.at(first.taskStep).loss());
}

/** The finetuner files (with how they were made), the meta-loss plot, and summary.json last. */
async function finish(
  outDir: string,
  spec: MetaTrainSpec,
  s: MetaTrainSettings,
  bank: Finetuner,
  tasks: string[],
  wallSeconds: number,
): Promise<MetaTrainSummary> {
  const lines = readMetrics(path.join(outDir, 'metrics.jsonl')) as unknown as MetaRecord[];
  const tenth = Math.max(1, Math.floor(lines.length / 10));
  const mean = (xs: MetaRecord[]) => xs.reduce((a, r) => a + r.metaLoss, 0) / xs.length;
  const [firstMetaLoss, finalMetaLoss] = [mean(lines.slice(0, tenth)), mean(lines.slice(-tenth))];
  const { batchSize, seed, ...rest } = spec.settings;
  bank.manifest.training = {
    tasks,
    epochs: spec.epochs,
    epochsPerRestart: spec.epochsPerRestart,
    steps: s.steps,
    cycleSteps: s.cycleSteps,
    batchSize,
    seed,
    ...rest,
    trainSetSeed: spec.trainSetSeed,
    noise: spec.noise,
  };
  bank.manifest.finalMetaLoss = finalMetaLoss;
  saveFinetuner(outDir, bank);
  const smooth = (k: number) => lines.map((r, i) => ({ step: r.step, value: mean(lines.slice(Math.max(0, i - k + 1), i + 1)) }));
  await renderChart(
    lossCurveSpec(
      [
        { name: 'meta loss (smoothed)', points: smooth(Math.max(1, Math.floor(lines.length / 20))) },
        { name: 'trajectory train loss', points: lines.map((r) => ({ step: r.step, value: r.trainLoss })) },
      ],
      { title: `ZO-FT meta-training on ${tasks.join(', ')}`, yTitle: 'loss', xTitle: 'step' },
    ),
    { svg: path.join(outDir, 'meta-loss.svg'), png: path.join(outDir, 'meta-loss.png') },
  );
  const summary: MetaTrainSummary = {
    steps: s.steps,
    tasks,
    firstMetaLoss,
    finalMetaLoss,
    wallSeconds: Math.round(wallSeconds * 100) / 100,
    finetuner: outDir,
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), summary);
  return summary;
}
