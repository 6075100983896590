import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { makeNoise, type NoiseSource } from '../core/noise.js';
import type { ParamStore } from '../core/params.js';
import { registerLearnedOptimizers } from '../learned/registry.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { openSafetensors, tensorsOf, writeSafetensors } from '../models/safetensors.js';
import { probesPerStep, type Optimizer } from '../optimizers/optimizer.js';
import { loadPlugin } from '../optimizers/plugins.js';
import { optimizerNamed, parseHyperparameters } from '../optimizers/registry.js';
import { withPeft, type Adapter, type SavedAdapter } from './peft.js';
import type { RunSpec } from './spec.js';

/** The part of a spec that decides what is trained and how: all a run's replay needs (replay.bin's header). */
export type TraineeSpec = Pick<
  RunSpec,
  | 'model'
  | 'optimizer'
  | 'hyperparameters'
  | 'finetuner'
  | 'plugins'
  | 'seed'
  | 'steps'
  | 'batchSize'
  | 'noise'
  | 'noiseVersion'
  | 'schedule'
  | 'peft'
  | 'lora'
  | 'prefix'
>;

export const TRAINEE_FIELDS = [
  'model',
  'optimizer',
  'hyperparameters',
  'finetuner',
  'plugins',
  'seed',
  'steps',
  'batchSize',
  'noise',
  'noiseVersion',
  'schedule',
  'peft',
  'lora',
  'prefix',
] as const satisfies readonly (keyof TraineeSpec)[];

export interface Trainee {
  model: LoadedModel;
  /** What the optimizer perturbs and updates: every block, or with --peft the adapter's blocks alone. */
  theta: ParamStore;
  /** What a PEFT run's adapter folder says besides θ (absent for full fine-tuning). */
  adapter?: Adapter;
  optimizer: Optimizer<{ lr: number }>;
  /** The optimizer's hyperparameters, complete. */
  h: { lr: number };
}

/**
 * A prefix run's θ₀, kept in its folder: the init comes out of ONNX Runtime's kernels, which another
 * machine or ORT build may round differently, so a replay elsewhere reads it rather than recomputing.
 */
export const PREFIX_INIT_FILE = 'prefix-init.safetensors';

export function writePrefixInit(runDir: string, t: Trainee): void {
  if (t.adapter?.type !== 'prefix') return;
  writeSafetensors(path.join(runDir, PREFIX_INIT_FILE), tensorsOf(t.theta), { heads: String(t.adapter.heads) });
}

function readPrefixInit(runDir: string | undefined): SavedAdapter | undefined {
  const file = runDir && path.join(runDir, PREFIX_INIT_FILE);
  if (!file || !fs.existsSync(file)) return undefined;
  const f = openSafetensors(file);
  return { heads: Number(f.metadata().heads), block: (name) => f.readF32(name) };
}

/**
 * What a run (or its replay) trains: the model with θ, and the optimizer the spec names, with its
 * plugins loaded, its hyperparameters parsed and bound to θ. `modelDir` overrides the spec's model;
 * `runDir` is the run's folder, where a prefix run's θ₀ is.
 */
export async function loadTrainee(s: TraineeSpec, modelDir = s.model, runDir?: string): Promise<Trainee> {
  for (const plugin of s.plugins ?? []) await loadPlugin(plugin);
  registerLearnedOptimizers();
  const registered = optimizerNamed(s.optimizer);
  const h = parseHyperparameters(registered, s.hyperparameters);
  const saved = s.peft === 'prefix' ? readPrefixInit(runDir) : undefined;
  const { model, theta, adapter } = await withPeft(loadModel(modelDir), s, saved);
  if (s.finetuner !== undefined && !registered.bind)
    throw new ZoError(`--finetuner is a learned optimizer's meta-parameters (zo-ft's bank); ${registered.name} takes none`);
  const optimizer = registered.bind?.({ params: theta, modelDir: model.dir, batchSize: s.batchSize, finetuner: s.finetuner }) ?? registered;
  return { model, theta, adapter, optimizer, h };
}

/**
 * The trainee's noise: z for each block of θ, keyed by the spec's seed, as many probes as its optimizer
 * draws, generated on `threads` threads (the run's ORT threads: the passes and z's generation take turns).
 */
export const noiseFor = (s: Pick<TraineeSpec, 'noise' | 'seed'>, t: Trainee, threads = os.availableParallelism()): NoiseSource =>
  makeNoise(s.noise, s.seed, t.theta.sizes(), probesPerStep(t.optimizer, t.h), threads);
