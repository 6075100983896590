import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../errors.js';
import type { Executor } from '../engine/executor.js';
import type { ParamStore } from '../engine/params.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { openSafetensors, writeSafetensors } from '../models/safetensors.js';
import { probesPerStep } from '../optimizers/optimizer.js';
import { optimizerNamed, parseHyperparameters } from '../optimizers/registry.js';
import { packageVersion } from '../paths.js';
import { batchOptions, encodeSplit, TaskProblem } from '../tasks/problem.js';
import { resolveTask } from '../tasks/registry.js';
import { scoreTask, taskLoss, type Encoded } from '../tasks/scoring.js';
import type { SplitSizes, Task } from '../tasks/task.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, truncateMetrics, writeJsonAtomic } from './checkpoint.js';
import { train, type Problem, type ScheduleKind, type StepRecord } from './harness.js';
import { LmProblem, evalBatches, meanLoss, readTextTokens } from './lm-problem.js';
import { checkNoiseVersion, makeNoise, NOISE_VERSIONS, type NoiseKind } from './noise.js';

/** Everything that determines a run; written to spec.json and read back by --resume. */
export interface RunSpec {
  model: string;
  /** The objective: the LM loss of a text file, or a task (by name, or a custom task file). */
  textFile?: string;
  task?: string;
  taskFile?: string;
  /** Where a MeZO task's downloaded files are. */
  dataDir?: string;
  /** MeZO's train_set_seed: which examples make the train and dev splits. */
  trainSetSeed: number;
  /** Split sizes instead of the task's defaults. */
  sizes?: Partial<SplitSizes>;
  /** Tasks: evaluate dev every N steps and keep the best-dev-loss weights (0: only at the end). */
  evalEvery: number;
  /** Tasks: tokens per row, prompts truncated from the left. */
  maxLen: number;
  optimizer: string;
  hyperparameters: Record<string, unknown>;
  steps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  noise: NoiseKind;
  /** The noise kind's version (NOISE_VERSIONS), set when the run starts; absent in older runs: 1. */
  noiseVersion?: number;
  schedule: ScheduleKind;
  executor: 'ort' | 'tfjs';
  threads?: number;
  saveEvery: number;
  logEvery: number;
}

export interface RunSummary {
  optimizer: string;
  steps: number;
  /** Held-out loss before and after: the text's eval windows, or the task's dev split. */
  initialLoss: number;
  finalLoss: number;
  weightsSha256: string;
  wallSeconds: number;
  peakRssMb: number;
  skippedSteps: number;
  /** Tasks only. */
  task?: string;
  metric?: 'accuracy' | 'f1';
  zeroShotDev?: number;
  /** The dev metric of the best-dev-loss weights, and the test metric of the same weights. */
  devBest?: number;
  devBestLoss?: number;
  test?: number;
  /** The task's training loss on the whole train split with the final weights. */
  finalTrainLoss?: number;
  /** The step whose weights scored the lowest dev loss (the weights tested). */
  bestStep?: number;
}

export interface RunHooks {
  onStep?: (r: StepRecord, spec: RunSpec) => void;
  log?: (msg: string) => void;
}

/** SHA-256 over θ's bytes, block by block in order: two runs agree iff their weights are identical. */
export function weightsSha256(params: ParamStore): string {
  const h = crypto.createHash('sha256');
  for (const n of params.names) {
    const v = params.get(n);
    h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return h.digest('hex');
}

/** What a run trains and evaluates, behind one shape for text files and tasks. */
interface RunObjective {
  problem: Problem & { dispose(): Promise<void> };
  /** The held-out loss: eval windows of the text, or the task's dev loss. */
  heldOutLoss(): Promise<number>;
  task?: { task: Task; encoded: { train: Encoded[]; dev: Encoded[]; test: Encoded[] }; score(split: 'dev' | 'test'): Promise<number>; trainLoss(): Promise<number> };
}


async function makeObjective(spec: RunSpec, model: LoadedModel, exec: Executor): Promise<RunObjective> {
  if (spec.textFile) {
    const data = { tokens: readTextTokens(spec.textFile, model), seqLen: spec.seqLen, batchSize: spec.batchSize };
    const evalSet = evalBatches(data);
    return { problem: new LmProblem(model, data, spec.seed, exec), heldOutLoss: () => meanLoss(exec, evalSet) };
  }
  const task = resolveTask(spec.task, spec.taskFile);
  const splits = await task.load({ dataDir: spec.dataDir, trainSetSeed: spec.trainSetSeed, sizes: spec.sizes });
  const o = batchOptions(model, spec.maxLen);
  const encoded = {
    train: encodeSplit(task, model, splits.train, 'train', o.maxLen),
    dev: encodeSplit(task, model, splits.dev, 'dev', o.maxLen),
    test: encodeSplit(task, model, splits.test, 'test', o.maxLen),
  };
  for (const [split, rows] of Object.entries(encoded)) if (rows.length === 0) throw new ZoError(`task ${task.name}: the ${split} split is empty`);
  return {
    problem: new TaskProblem(task, model, encoded.train, spec.batchSize, spec.seed, exec, o),
    heldOutLoss: () => taskLoss(exec, task, encoded.dev, o),
    task: {
      task,
      encoded,
      score: async (split) => (await scoreTask(exec, task, model.tokenizer, encoded[split], o)).score,
      trainLoss: () => taskLoss(exec, task, encoded.train, o),
    },
  };
}

/**
 * Fine-tunes a model on a text file's LM loss or on a task. Writes spec.json, metrics.jsonl (one line
 * per logged step), checkpoints every `saveEvery` steps and at the end, and summary.json last,
 * atomically: a run folder without summary.json is unfinished. Tasks evaluate dev every `evalEvery`
 * steps, keep the lowest-dev-loss weights in best.safetensors and report test on those (MeZO, ZO-FT).
 */
export async function runZo(outDir: string, specIn: RunSpec | undefined, resume: boolean, hooks: RunHooks = {}, stepsOverride?: number): Promise<RunSummary> {
  const specFile = path.join(outDir, 'spec.json');
  let spec: RunSpec;
  if (resume) {
    if (!hasCheckpoint(outDir)) throw new ZoError(`--resume: ${outDir} has no checkpoint to resume from`);
    spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as RunSpec;
    checkNoiseVersion(spec.noise, spec.noiseVersion, specFile);
    if (stepsOverride !== undefined) spec = { ...spec, steps: stepsOverride };
  } else {
    if (!specIn) throw new Error('runZo: a new run needs a spec');
    if (hasCheckpoint(outDir) || fs.existsSync(path.join(outDir, 'summary.json')))
      throw new ZoError(`--out ${outDir}: already holds a run; pass --resume to continue it, or choose another folder`);
    spec = { ...specIn, noiseVersion: NOISE_VERSIONS[specIn.noise] };
  }

  const optimizer = optimizerNamed(spec.optimizer);
  const h = parseHyperparameters(optimizer, spec.hyperparameters);
  const model = loadModel(spec.model);
  const exec: Executor =
    spec.executor === 'ort'
      ? new (await import('../engine/ort.js')).OrtExecutor(model, { threads: spec.threads })
      : await (await import('../engine/tfjs.js')).TfjsExecutor.create(model);
  const objective = await makeObjective(spec, model, exec);
  const t0 = performance.now();

  let state = optimizer.init(model.params, h);
  let startStep = 0;
  type Extra = { initialLoss?: number; zeroShotDev?: number; skipped?: number; wallSeconds?: number; bestDevLoss?: number; bestStep?: number };
  let extra: Extra = {};
  if (resume) {
    const ck = loadCheckpoint(outDir, model.params, optimizer.name);
    state = ck.state;
    startStep = ck.meta.step;
    extra = ck.meta.extra as Extra;
    hooks.log?.(`resuming ${outDir} at step ${startStep} of ${spec.steps}`);
  } else {
    fs.mkdirSync(outDir, { recursive: true });
    writeJsonAtomic(specFile, { ...spec, hyperparameters: h, zo: packageVersion() });
  }
  const metricsFile = path.join(outDir, 'metrics.jsonl');
  truncateMetrics(metricsFile, startStep);
  const bestFile = path.join(outDir, 'best.safetensors');

  const heldOut = async () => {
    exec.refresh();
    return objective.heldOutLoss();
  };
  const initialLoss = extra.initialLoss ?? (await heldOut());
  const zeroShotDev = objective.task ? (extra.zeroShotDev ?? (await objective.task.score('dev'))) : undefined;
  const what = objective.task ? `task ${objective.task.task.name} (dev loss ${initialLoss.toFixed(4)}, zero-shot dev ${objective.task.task.metric} ${zeroShotDev!.toFixed(4)})` : `initial loss ${initialLoss.toFixed(4)}`;
  hooks.log?.(`${optimizer.name} on ${spec.model} (${model.params.size.toLocaleString('en')} parameters, ${exec.describe()}); ${what}`);

  let skipped = extra.skipped ?? 0;
  let bestDevLoss = extra.bestDevLoss ?? Infinity;
  let bestStep = extra.bestStep ?? -1;
  const checkpoint = (step: number) =>
    saveCheckpoint(outDir, model.params, state, {
      step,
      optimizer: optimizer.name,
      hyperparameters: h,
      blocks: model.params.specs(),
      extra: { initialLoss, zeroShotDev, skipped, bestDevLoss, bestStep, wallSeconds: (extra.wallSeconds ?? 0) + (performance.now() - t0) / 1000 } satisfies Extra,
    });
  /** Dev loss after `step` steps; better weights replace best.safetensors (atomically). */
  let lastEvaluated = -1;
  const evaluateDev = async (step: number): Promise<number> => {
    lastEvaluated = step;
    const devLoss = await heldOut();
    if (devLoss < bestDevLoss) {
      bestDevLoss = devLoss;
      bestStep = step;
      writeSafetensors(bestFile, model.params.names.map((n) => ({ name: n, shape: [...model.params.shape(n)], data: model.params.get(n) })), { step: String(step) });
    }
    return devLoss;
  };

  const metrics = fs.openSync(metricsFile, 'a');
  try {
    await train({
      optimizer,
      hyperparameters: h,
      problem: {
        params: model.params,
        at: (step) => {
          // Updates wrote θ's Float32Arrays; an executor holding a copy re-reads them.
          exec.refresh();
          return objective.problem.at(step);
        },
      },
      state,
      noise: makeNoise(spec.noise, spec.seed, model.params.names.map((n) => model.params.get(n).length), probesPerStep(optimizer, h)),
      seed: spec.seed,
      steps: spec.steps,
      schedule: spec.schedule,
      startStep,
      onStep: async (r) => {
        if (r.skipped) skipped++;
        const last = r.step === spec.steps - 1;
        const devLoss = objective.task && spec.evalEvery > 0 && (r.step + 1) % spec.evalEvery === 0 ? await evaluateDev(r.step + 1) : undefined;
        if (r.step % spec.logEvery === 0 || last || r.skipped || devLoss !== undefined) {
          const line = {
            step: r.step,
            loss: r.loss,
            projectedGrad: r.projectedGrad,
            lr: r.lr,
            ms: Math.round(r.ms * 100) / 100,
            ...(r.skipped ? { skipped: true } : {}),
            ...(devLoss !== undefined ? { devLoss } : {}),
          };
          fs.writeSync(metrics, JSON.stringify(line) + '\n');
        }
        hooks.onStep?.(r, spec);
        if (spec.saveEvery > 0 && (r.step + 1) % spec.saveEvery === 0 && !last) checkpoint(r.step + 1);
      },
    });
  } finally {
    fs.closeSync(metrics);
  }
  // The final weights count as a candidate too, unless the last eval already saw them.
  if (objective.task && lastEvaluated !== spec.steps) await evaluateDev(spec.steps);
  checkpoint(spec.steps);
  const finalLoss = await heldOut();
  const summary: RunSummary = {
    optimizer: optimizer.name,
    steps: spec.steps,
    initialLoss,
    finalLoss,
    weightsSha256: weightsSha256(model.params),
    wallSeconds: 0,
    peakRssMb: 0,
    skippedSteps: skipped,
  };
  if (objective.task) {
    const t = objective.task;
    summary.task = t.task.name;
    summary.metric = t.task.metric;
    summary.zeroShotDev = zeroShotDev;
    summary.finalTrainLoss = await t.trainLoss();
    // Test is reported for the best-dev-loss weights, as MeZO and ZO-FT load_best_model_at_end.
    const best = openSafetensors(bestFile);
    for (const n of model.params.names) best.readF32(n, model.params.get(n));
    exec.refresh();
    summary.devBestLoss = bestDevLoss;
    summary.bestStep = bestStep;
    summary.devBest = await t.score('dev');
    summary.test = await t.score('test');
  }
  summary.wallSeconds = Math.round(((extra.wallSeconds ?? 0) + (performance.now() - t0) / 1000) * 100) / 100;
  summary.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  writeJsonAtomic(path.join(outDir, 'summary.json'), summary);
  await objective.problem.dispose();
  await exec.dispose();
  return summary;
}
