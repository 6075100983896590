import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { Executor } from '../engine/executor.js';
import type { ParamStore } from '../core/params.js';
import type { LoadedModel } from '../models/load.js';
import { openSafetensors, tensorsOf, writeSafetensors } from '../models/safetensors.js';
import type { OptimizerState } from '../optimizers/optimizer.js';
import { packageVersion } from '../core/paths.js';
import { peakRssMb } from '../core/rss.js';
import { lmProblem, taskProblem } from '../tasks/build.js';
import { resolveTask } from '../../datasets/registry.js';
import { scoreTask, taskLoss, type Encoded } from '../tasks/scoring.js';
import type { Task } from '../tasks/task.js';
import { checkpointDir, hasCheckpoint, loadCheckpoint, saveCheckpoint, truncateMetrics, writeJsonAtomic } from './checkpoint.js';
import { train, type StepRecord } from '../harness/harness.js';
import type { Problem } from '../core/problem.js';
import { NOISE_VERSIONS } from '../core/noise.js';
import { writeAdapterFolder, writeModelFolder } from './export.js';
import { fsError, inspectOutFolder, readRunJson } from './folder.js';
import { plotRun, writeMetricsCsv } from './outputs.js';
import { loadTrainee, noiseFor, TRAINEE_FIELDS, writePrefixInit, type Trainee, type TraineeSpec } from './trainee.js';
import { replayFile, ReplayRecorder } from './replay.js';
import { lockRunFolder, refuseIfLocked, type RunLock } from './lock.js';
import { absolutePaths, completeSpec, resumedSpec, validateSpec, type ResumeRequest, type RunSpec, type RunSpecInput } from './spec.js';

export type { ResumeRequest, RunSpec, RunSpecInput } from './spec.js';

export interface RunSummary {
  optimizer: string;
  steps: number;
  /** Held-out loss before and after: the text's eval windows, or the task's dev split. */
  initialLoss: number;
  finalLoss: number;
  weightsSha256: string;
  wallSeconds: number;
  /** This process's peak RSS when the run ended, in MB (10⁶ bytes; core/rss.ts). */
  peakRssMb: number;
  skippedSteps: number;
  /** The scalars the optimizer perturbs and updates (θ): every weight, or with --peft the adapter's. */
  trainableParameters?: number;
  /** lora or prefix: RUNDIR/adapter/ holds the adapter (absent for full fine-tuning). */
  peft?: 'lora' | 'prefix';
  /** Tasks only. */
  task?: string;
  metric?: 'accuracy' | 'f1';
  /** The dev metric at step 0: the base model's zero-shot score (with a prefix, the init's: n real tokens of context). */
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
  /** After each dev evaluation (tasks): the step, its dev loss, and whether it is the best so far. */
  onEval?: (e: { step: number; devLoss: number; best: boolean }) => void;
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
  task?: {
    task: Task;
    encoded: { train: Encoded[]; dev: Encoded[]; test: Encoded[] };
    score(split: 'dev' | 'test'): Promise<number>;
    trainLoss(): Promise<number>;
  };
}

/** What a resumed run carries in its checkpoint besides θ and the optimizer state. */
interface Progress {
  initialLoss?: number;
  zeroShotDev?: number;
  skipped?: number;
  wallSeconds?: number;
  bestDevLoss?: number;
  bestStep?: number;
  /** The last step whose weights were evaluated on dev. */
  evaluatedAt?: number;
}

/** Everything a run needs, loaded and checked; nothing written yet. */
interface Prepared extends Trainee {
  outDir: string;
  spec: RunSpec;
  /** spec.json must be (re)written: a new run, or a resume that changed it. */
  writeSpec: boolean;
  exec: Executor;
  objective: RunObjective;
  state: OptimizerState;
  startStep: number;
  progress: Progress;
}

async function makeObjective(spec: RunSpec, model: LoadedModel, exec: Executor): Promise<RunObjective> {
  if (spec.textFile)
    return lmProblem({ model, exec, textFile: spec.textFile, batchSize: spec.batchSize, seqLen: spec.seqLen, seed: spec.seed });
  const task = resolveTask(spec.task, spec.taskFile);
  const { problem, encoded, batching: o } = await taskProblem({ ...spec, model, task, exec });
  return {
    problem,
    heldOutLoss: () => taskLoss(exec, task, encoded.dev, o),
    task: {
      task,
      encoded,
      score: async (split) => (await scoreTask(exec, task, model.tokenizer, encoded[split], o)).score,
      trainLoss: () => taskLoss(exec, task, encoded.train, o),
    },
  };
}

/** Loads and checks everything the run needs: model, optimizer, objective, and a resume's checkpoint. */
async function prepare(outDir: string, spec: RunSpec, writeSpec: boolean, resume: boolean): Promise<Prepared> {
  validateSpec(spec);
  const trainee = await loadTrainee(spec, spec.model, outDir);
  const { model, theta, optimizer, h } = trainee;
  const exec: Executor =
    spec.executor === 'ort'
      ? new (await import('../engine/ort.js')).OrtExecutor(model, {
          threads: spec.threads,
          device: spec.device,
          // Evaluation through the training graph: one session, not two (−0.28 P, zo bench --suite memory).
          probed: optimizer.scalarProbes ? theta.names : undefined,
        })
      : await (await import('../engine/tfjs.js')).TfjsExecutor.create(model);
  const objective = await makeObjective(spec, model, exec);
  // A run names the meta-parameters it used, also when they were the model folder's own.
  if (optimizer.boundTo && !spec.finetuner) spec = { ...spec, finetuner: optimizer.boundTo };
  let state = optimizer.init(theta, h);
  let startStep = 0;
  let progress: Progress = {};
  if (resume) {
    const ck = loadCheckpoint(outDir, theta, optimizer.name);
    state = ck.state;
    startStep = ck.meta.step;
    progress = ck.meta.extra as Progress;
  }
  return { ...trainee, outDir, spec, writeSpec, exec, objective, state, startStep, progress };
}

/** Creates (if needed) and locks the folder, then writes what the run's first writes are. */
function claim(p: Prepared, expect: 'new' | 'run'): RunLock {
  const { outDir } = p;
  const created = !fs.existsSync(outDir);
  try {
    fs.mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw fsError(`--out ${outDir}`, 'cannot create the run folder', e);
  }
  let lock: RunLock;
  try {
    lock = lockRunFolder(outDir);
  } catch (e) {
    if (created) fs.rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  try {
    // Checked again under the lock: another run may have claimed the folder since it was inspected.
    const state = inspectOutFolder(outDir);
    if (expect === 'new' && state !== 'absent' && state !== 'empty')
      throw new ZoError(`--out ${outDir}: another run started in this folder meanwhile; choose another folder`);
    if (expect === 'run' && state !== 'run') throw new ZoError(`--out ${outDir}: its spec.json is gone`);
    if (p.writeSpec) {
      // A changed horizon makes an earlier summary.json describe another run: it goes first.
      fs.rmSync(path.join(outDir, 'summary.json'), { force: true });
      writeJsonAtomic(path.join(outDir, 'spec.json'), { ...p.spec, hyperparameters: p.h, zo: packageVersion() });
    }
    if (p.startStep === 0) writePrefixInit(outDir, p);
    return lock;
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Writes θ as best.safetensors (atomically), tagged with the step. */
function saveBest(file: string, params: ParamStore, step: number): void {
  writeSafetensors(file, tensorsOf(params), { step: String(step) });
}

/** The training loop and the final evaluation; summary.json is written last. */
async function execute(p: Prepared, hooks: RunHooks): Promise<RunSummary> {
  const { outDir, spec, model, theta, exec, objective, optimizer, h } = p;
  const t0 = performance.now();
  const metricsFile = path.join(outDir, 'metrics.jsonl');
  truncateMetrics(metricsFile, p.startStep);
  const bestFile = path.join(outDir, 'best.safetensors');
  const progress = { ...p.progress };
  const heldOut = async () => {
    exec.refresh();
    return objective.heldOutLoss();
  };
  if (p.startStep > 0) hooks.log?.(`resuming ${outDir} at step ${p.startStep} of ${spec.steps}`);
  const trainRows = objective.task?.encoded.train.length;
  if (trainRows !== undefined && spec.batchSize > trainRows)
    hooks.log?.(`--batch-size ${spec.batchSize} is more than the ${trainRows} train examples: every batch repeats examples`);
  progress.initialLoss ??= await heldOut();
  if (objective.task) progress.zeroShotDev ??= await objective.task.score('dev');
  const what = objective.task
    ? `task ${objective.task.task.name} (dev loss ${progress.initialLoss.toFixed(4)}, zero-shot dev ${objective.task.task.metric} ${progress.zeroShotDev!.toFixed(4)})`
    : `initial loss ${progress.initialLoss.toFixed(4)}`;
  const trained = p.adapter
    ? `, ${theta.size.toLocaleString('en')} of them trainable (${p.adapter.type === 'lora' ? 'LoRA' : 'prefix'})`
    : '';
  hooks.log?.(
    `${optimizer.name} on ${spec.model} (${model.params.size.toLocaleString('en')} parameters${trained}, ${exec.describe()}); ${what}`,
  );

  progress.skipped ??= 0;
  progress.bestDevLoss ??= Infinity;
  progress.bestStep ??= -1;
  const wall = () => (p.progress.wallSeconds ?? 0) + (performance.now() - t0) / 1000;
  const checkpoint = (step: number) =>
    saveCheckpoint(outDir, theta, p.state, {
      step,
      optimizer: optimizer.name,
      hyperparameters: h,
      blocks: theta.specs(),
      extra: { ...progress, wallSeconds: wall() } satisfies Progress,
    });
  /** Dev loss after `step` steps; better weights replace best.safetensors. */
  const evaluateDev = async (step: number): Promise<number> => {
    progress.evaluatedAt = step;
    const devLoss = await heldOut();
    const best = devLoss < progress.bestDevLoss!;
    if (best) {
      progress.bestDevLoss = devLoss;
      progress.bestStep = step;
      saveBest(bestFile, theta, step);
    }
    hooks.onEval?.({ step, devLoss, best });
    return devLoss;
  };

  if (p.startStep < spec.steps) {
    await loop(p, hooks, metricsFile, evaluateDev, checkpoint, progress);
    // The final weights count as a candidate too, unless the last eval already saw them.
    if (objective.task && progress.evaluatedAt !== spec.steps) await evaluateDev(spec.steps);
    checkpoint(spec.steps);
  }
  if (objective.task && progress.bestStep! < 0)
    hooks.log?.('no dev loss was finite, so there are no best weights: dev and test are those of the final weights');
  const summary = await summarise(p, progress, bestFile, wall);
  if (!Number.isFinite(summary.finalLoss))
    hooks.log?.(`the final held-out loss is ${summary.finalLoss}: the run diverged (try a smaller lr)`);
  return summary;
}

async function loop(
  p: Prepared,
  hooks: RunHooks,
  metricsFile: string,
  evaluateDev: (step: number) => Promise<number>,
  checkpoint: (step: number) => void,
  progress: Progress,
): Promise<void> {
  const { spec, exec, objective } = p;
  const metrics = fs.openSync(metricsFile, 'a');
  const recorder = replayRecorder(p);
  const problem: Problem = {
    params: p.theta,
    at: (step) => {
      // Updates wrote θ's Float32Arrays; an executor holding a copy re-reads them.
      exec.refresh();
      return objective.problem.at(step);
    },
  };
  try {
    await train({
      optimizer: p.optimizer,
      hyperparameters: p.h,
      problem: recorder ? recorder.wrap(problem) : problem,
      state: p.state,
      noise: noiseFor(spec, p, spec.threads),
      seed: spec.seed,
      steps: spec.steps,
      schedule: spec.schedule,
      startStep: p.startStep,
      onStep: async (r) => {
        recorder?.endStep();
        if (r.skipped) progress.skipped!++;
        const last = r.step === spec.steps - 1;
        const devLoss =
          objective.task && spec.evalEvery > 0 && (r.step + 1) % spec.evalEvery === 0 ? await evaluateDev(r.step + 1) : undefined;
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
    recorder?.close();
  }
}

/**
 * The replay recorder of a ZO run (replay.ts): none for a first-order one, whose updates need
 * gradients, nor for a run resumed from before replay files existed.
 */
function replayRecorder(p: Prepared): ReplayRecorder | undefined {
  const file = replayFile(p.outDir);
  if (p.optimizer.firstOrder || (p.startStep > 0 && !fs.existsSync(file))) return undefined;
  const header = Object.fromEntries(TRAINEE_FIELDS.map((k) => [k, k === 'hyperparameters' ? p.h : p.spec[k]])) as TraineeSpec;
  return new ReplayRecorder(file, header, p.startStep);
}

/** Final held-out loss, and for tasks the train loss, then dev and test of the best-dev weights. */
async function summarise(p: Prepared, progress: Progress, bestFile: string, wall: () => number): Promise<RunSummary> {
  const { spec, model, exec, objective } = p;
  exec.refresh();
  const summary: RunSummary = {
    optimizer: p.optimizer.name,
    steps: spec.steps,
    initialLoss: progress.initialLoss!,
    finalLoss: await objective.heldOutLoss(),
    weightsSha256: weightsSha256(model.params),
    wallSeconds: 0,
    peakRssMb: 0,
    skippedSteps: progress.skipped!,
    trainableParameters: p.theta.size,
  };
  if (p.adapter) summary.peft = p.adapter.type;
  if (objective.task) {
    const t = objective.task;
    summary.task = t.task.name;
    summary.metric = t.task.metric;
    summary.zeroShotDev = progress.zeroShotDev;
    summary.finalTrainLoss = await t.trainLoss();
    // Test is reported for the best-dev-loss weights, as MeZO and ZO-FT load_best_model_at_end; with
    // no finite dev loss there is no best, and (as HF's Trainer then does) the final weights stay.
    if (progress.bestStep! >= 0) {
      const best = openSafetensors(bestFile);
      for (const n of p.theta.names) best.readF32(n, p.theta.get(n));
      exec.refresh();
    }
    summary.devBestLoss = progress.bestStep! >= 0 ? progress.bestDevLoss : NaN;
    summary.bestStep = progress.bestStep;
    summary.devBest = await t.score('dev');
    summary.test = await t.score('test');
  }
  // Every forward pass is done: ORT's arenas go back before the plots and the model folder are
  // written, so those reuse that memory instead of raising the run's peak (0.2 P on the memory
  // bench's model). runClaimed disposes again on every path; a second dispose is a no-op.
  await p.objective.problem.dispose();
  await exec.dispose();
  await writeOutputs(p, summary);
  summary.wallSeconds = Math.round(wall() * 100) / 100;
  summary.peakRssMb = peakRssMb();
  writeJsonAtomic(path.join(p.outDir, 'summary.json'), summary);
  return summary;
}

/**
 * metrics.csv, and unless the spec turns them off, loss.svg/png and RUNDIR/model/: a Hugging Face
 * folder of the weights the summary scores (the best-dev ones for tasks, the final ones otherwise).
 */
async function writeOutputs(p: Prepared, summary: RunSummary): Promise<void> {
  writeMetricsCsv(p.outDir);
  if (p.spec.plots !== false) await plotRun(p.outDir, summary);
  if (p.spec.saveModel === false) return;
  if (p.adapter) writeAdapterFolder(path.join(p.outDir, 'adapter'), { spec: p.spec, adapter: p.adapter, weights: p.theta });
  else
    writeModelFolder(path.join(p.outDir, 'model'), {
      spec: { ...p.spec, hyperparameters: p.h },
      summary,
      weights: p.model.params,
      which: summary.task ? 'best' : 'final',
    });
}

/** Runs a prepared run in its claimed folder, then releases everything. */
async function runClaimed(p: Prepared, expect: 'new' | 'run', hooks: RunHooks): Promise<RunSummary> {
  try {
    const lock = claim(p, expect);
    try {
      return await execute(p, hooks);
    } finally {
      lock.release();
    }
  } finally {
    await p.objective.problem.dispose();
    await p.exec.dispose();
  }
}

/**
 * Fine-tunes a model on a text file's LM loss or on a task, in a new run folder. Everything is
 * loaded and checked before the first write; then the folder is locked and spec.json written.
 * metrics.jsonl gets a line per logged step, checkpoints come every `saveEvery` steps and at the
 * end, and summary.json comes last: a run folder without it is unfinished. Tasks evaluate dev every
 * `evalEvery` steps, keep the lowest-dev-loss weights in best.safetensors and report test on those.
 */
export async function startRun(outDir: string, input: RunSpecInput, hooks: RunHooks = {}): Promise<RunSummary> {
  const specIn = completeSpec(input);
  const state = inspectOutFolder(outDir);
  if (state === 'run') throw new ZoError(`--out ${outDir}: already holds a run; pass --resume to continue it, or choose another folder`);
  const spec = { ...absolutePaths(specIn), noiseVersion: NOISE_VERSIONS[specIn.noise] };
  const p = await prepare(outDir, spec, true, false);
  return runClaimed(p, 'new', hooks);
}

/**
 * Continues the run in `outDir` from its checkpoint, to exactly the weights an uninterrupted run
 * would have. `req.steps` extends a constant-schedule run; typed flags must agree with spec.json.
 * A finished run with nothing to add returns its summary.
 */
export async function resumeRun(outDir: string, req: ResumeRequest = {}, hooks: RunHooks = {}): Promise<RunSummary> {
  const state = inspectOutFolder(outDir);
  if (state !== 'run' || !hasCheckpoint(outDir)) throw new ZoError(`--resume: ${outDir} has no checkpoint to resume from`);
  refuseIfLocked(outDir);
  const specFile = path.join(outDir, 'spec.json');
  const saved = readRunJson<RunSpec>(specFile, 'the run spec');
  const at = readRunJson<{ step?: unknown }>(path.join(checkpointDir(outDir), 'state.json'), 'the checkpoint state').step;
  if (typeof at !== 'number') throw new ZoError(`${checkpointDir(outDir)}/state.json: no step; the checkpoint is damaged`);
  const spec = resumedSpec(specFile, saved, at, req);
  const summaryFile = path.join(outDir, 'summary.json');
  const changed = JSON.stringify(spec) !== JSON.stringify(saved);
  if (!changed && at === spec.steps && fs.existsSync(summaryFile)) {
    hooks.log?.(`${outDir}: the run is complete at step ${at}; nothing to do (--steps N extends it)`);
    return readRunJson<RunSummary>(summaryFile, 'the run summary');
  }
  let p: Prepared;
  try {
    p = await prepare(outDir, spec, changed, true);
  } catch (e) {
    // A live run rewrites its checkpoint while this one reads it: say that, not the file it tore.
    refuseIfLocked(outDir);
    throw e;
  }
  return runClaimed(p, 'run', hooks);
}
