import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../errors.js';
import type { Executor } from '../engine/executor.js';
import type { ParamStore } from '../engine/params.js';
import { loadModel } from '../models/load.js';
import { optimizerNamed, parseHyperparameters } from '../optimizers/registry.js';
import { packageVersion } from '../paths.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, writeJsonAtomic } from './checkpoint.js';
import { train, type ScheduleKind, type StepRecord } from './harness.js';
import { LmProblem, evalBatches, meanLoss, readTextTokens } from './lm-problem.js';
import { makeNoise, type NoiseKind } from './noise.js';

/** Everything that determines a run; written to spec.json and read back by --resume. */
export interface RunSpec {
  model: string;
  textFile: string;
  optimizer: string;
  hyperparameters: Record<string, unknown>;
  steps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  noise: NoiseKind;
  schedule: ScheduleKind;
  executor: 'ort' | 'tfjs';
  threads?: number;
  saveEvery: number;
  logEvery: number;
}

export interface RunSummary {
  optimizer: string;
  steps: number;
  initialLoss: number;
  finalLoss: number;
  weightsSha256: string;
  wallSeconds: number;
  peakRssMb: number;
  skippedSteps: number;
}

export interface RunHooks {
  /** Called after every step, for progress display. */
  onStep?: (r: StepRecord, spec: RunSpec) => void;
  /** Messages for a human (not the metrics). */
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

/** Keeps metrics.jsonl consistent with a checkpoint: drops lines for steps that will be rerun. */
function truncateMetrics(file: string, fromStep: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line && JSON.parse(line).step < fromStep);
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

/**
 * Fine-tunes on the LM objective of a text file. Writes spec.json, metrics.jsonl (one line per logged
 * step), checkpoints every `saveEvery` steps and at the end, and summary.json last, atomically: a run
 * folder without summary.json is unfinished.
 */
export async function runLm(outDir: string, specIn: RunSpec | undefined, resume: boolean, hooks: RunHooks = {}, stepsOverride?: number): Promise<RunSummary> {
  const specFile = path.join(outDir, 'spec.json');
  let spec: RunSpec;
  if (resume) {
    if (!hasCheckpoint(outDir)) throw new ZoError(`--resume: ${outDir} has no checkpoint to resume from`);
    spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as RunSpec;
    if (stepsOverride !== undefined) spec = { ...spec, steps: stepsOverride };
  } else {
    if (!specIn) throw new Error('runLm: a new run needs a spec');
    if (hasCheckpoint(outDir) || fs.existsSync(path.join(outDir, 'summary.json')))
      throw new ZoError(`--out ${outDir}: already holds a run; pass --resume to continue it, or choose another folder`);
    spec = specIn;
  }

  const optimizer = optimizerNamed(spec.optimizer);
  const h = parseHyperparameters(optimizer, spec.hyperparameters);
  const model = loadModel(spec.model);
  const tokens = readTextTokens(spec.textFile, model);
  const data = { tokens, seqLen: spec.seqLen, batchSize: spec.batchSize };
  const t0 = performance.now();

  let state = optimizer.init(model.params, h);
  let startStep = 0;
  let extra: { initialLoss?: number; skipped?: number; wallSeconds?: number } = {};
  if (resume) {
    const ck = loadCheckpoint(outDir, model.params, optimizer.name);
    state = ck.state;
    startStep = ck.meta.step;
    extra = ck.meta.extra;
    hooks.log?.(`resuming ${outDir} at step ${startStep} of ${spec.steps}`);
  } else {
    fs.mkdirSync(outDir, { recursive: true });
    writeJsonAtomic(specFile, { ...spec, hyperparameters: h, zo: packageVersion() });
  }
  const metricsFile = path.join(outDir, 'metrics.jsonl');
  truncateMetrics(metricsFile, startStep);

  const exec: Executor =
    spec.executor === 'ort'
      ? new (await import('../engine/ort.js')).OrtExecutor(model, { threads: spec.threads })
      : await (await import('../engine/tfjs.js')).TfjsExecutor.create(model);
  const problem = new LmProblem(model, data, spec.seed, exec);
  const evalSet = evalBatches(data);
  const evalLoss = async () => {
    exec.refresh();
    return meanLoss(exec, evalSet);
  };
  const initialLoss = extra.initialLoss ?? (await evalLoss());
  hooks.log?.(`${optimizer.name} on ${spec.model} (${model.params.size.toLocaleString('en')} parameters, ${exec.describe()}); initial loss ${initialLoss.toFixed(4)}`);

  let skipped = extra.skipped ?? 0;
  const checkpoint = (step: number) =>
    saveCheckpoint(outDir, model.params, state, {
      step,
      optimizer: optimizer.name,
      hyperparameters: h,
      blocks: model.params.specs(),
      extra: { initialLoss, skipped, wallSeconds: (extra.wallSeconds ?? 0) + (performance.now() - t0) / 1000 },
    });
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
          return problem.at(step);
        },
      },
      state,
      noise: makeNoise(spec.noise, spec.seed, model.params.names.map((n) => model.params.get(n).length)),
      seed: spec.seed,
      steps: spec.steps,
      schedule: spec.schedule,
      startStep,
      onStep: (r) => {
        if (r.skipped) skipped++;
        const last = r.step === spec.steps - 1;
        if (r.step % spec.logEvery === 0 || last || r.skipped) {
          const line = { step: r.step, loss: r.loss, projectedGrad: r.projectedGrad, lr: r.lr, ms: Math.round(r.ms * 100) / 100, ...(r.skipped ? { skipped: true } : {}) };
          fs.writeSync(metrics, JSON.stringify(line) + '\n');
        }
        hooks.onStep?.(r, spec);
        if (spec.saveEvery > 0 && (r.step + 1) % spec.saveEvery === 0 && !last) checkpoint(r.step + 1);
      },
    });
  } finally {
    fs.closeSync(metrics);
  }
  checkpoint(spec.steps);
  const finalLoss = await evalLoss();
  const summary: RunSummary = {
    optimizer: optimizer.name,
    steps: spec.steps,
    initialLoss,
    finalLoss,
    weightsSha256: weightsSha256(model.params),
    wallSeconds: Math.round(((extra.wallSeconds ?? 0) + (performance.now() - t0) / 1000) * 100) / 100,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    skippedSteps: skipped,
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), summary);
  await problem.dispose();
  await exec.dispose();
  return summary;
}
