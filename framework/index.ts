/**
 * zo's public API: what an ablation script imports (`import { … } from 'zo-finetune'`). The `zo`
 * CLI is one client of it. Everything here is typed; see README "API" and examples/.
 */

import { registerLearnedOptimizers } from './learned/registry.js';

// zo-ft is listed and resolvable by name from the moment the package is imported.
registerLearnedOptimizers();

// Models: a Hugging Face folder (config.json, safetensors, tokenizer.json) as θ plus a tokenizer.
export { loadModel, loadConfig, type LoadedModel } from './models/load.js';
export { ZOO, zooModelDir, type ZooModel } from './models/zoo.js';
export { ParamStore, numel, type ParamSpec } from './core/params.js';
export { ZoError } from './core/errors.js';

// Executors: ort (ONNX Runtime, the ZO hot path) and tfjs (eager, autodiff).
export { createExecutor, type ExecutorName, type ExecutorOptions } from './engine/create.js';
export type { Executor, ForwardOptions, ForwardResult, Decoder, Model } from './engine/executor.js';
export { lmBatch, type Batch } from './engine/batch.js';

// Tasks and problems: what a run trains on and how it is scored.
export { TASKS, taskNamed, resolveTask } from '../datasets/registry.js';
export { loadCustomTask } from './tasks/custom.js';
export type { Task, Rendered, Row, Splits, SplitSizes, LossKind, Metric } from './tasks/task.js';
export { taskProblem, lmProblem, type TaskProblemOptions, type LmProblemOptions } from './tasks/build.js';
export { TaskProblem } from './tasks/problem.js';
export { LmProblem } from './tasks/lm-problem.js';
export { scoreTask, taskLoss, generate, type TaskScore, type Encoded, type BatchOptions } from './tasks/scoring.js';
export { tokenF1, maxF1, normalizeAnswer } from './tasks/metrics.js';
export type { Problem, StepObjective } from './core/problem.js';

// Noise and perturbations: every draw keyed by (seed, step, probe, block).
export { makeNoise, ExactNoise, TableNoise, NOISE_KINDS, type NoiseKind, type NoiseSource } from './core/noise.js';
export { perturbedBlock, type BlockPerturbation, type Perturbation } from './core/perturbation.js';
export { keyOf, fillGaussian, uniformAt } from './core/rng.js';

// Optimizers: the built-ins, the contract a user's own satisfies, and registration.
export { OPTIMIZERS, allOptimizers, optimizerNamed, registerOptimizer, parseHyperparameters } from './optimizers/registry.js';
export { loadPlugin } from './optimizers/plugins.js';
export type { Optimizer, OptimizerState, StepContext, StepInfo } from './optimizers/optimizer.js';
export { zeroSlots, type BindContext } from './optimizers/optimizer.js';
// The shared parts every built-in is composed of (optax's chain): estimators, then update transforms.
export { compose, type Composition } from './optimizers/compose.js';
export { spsa, autodiff, scalarProbe, spsaSchema, type GradientEstimator } from './optimizers/estimators.js';
export {
  scaleByLearningRate,
  signOfProjectedGradient,
  addDecayedWeights,
  decoupledWeightDecay,
  momentum,
  adam,
  adamSchema,
  clipByGlobalNorm,
  DECAY_MASKS,
  type UpdateTransform,
} from './optimizers/transforms.js';
// The parts only one built-in uses, for compositions of one's own (README, "Optimizers from parts").
export { hessianSpsa } from './optimizers/hizoo.js';
export { lowRankSpsa, lowRankMomentum, type LowRank } from './optimizers/lozo.js';
export { conservativeMove } from './optimizers/zo-sgd-conservative.js';
export type { LearnedOptimizer } from './optimizers/learned.js';
/** zod, for an optimizer's hyperparameter schema, so a plugin needs no dependency of its own. */
export { z } from 'zod';

// The ZO Fine-tuner: a learned per-block perturbation scale (framework/learned).
export { zoFt, zoFtOptimizer, type ZoFtHyperparameters } from './learned/zo-ft.js';
export {
  loadFinetuner,
  saveFinetuner,
  randomFinetuner,
  checkFinetunerFits,
  type Finetuner,
  type FinetunerManifest,
  type FinetunerOptions,
} from './learned/finetuner.js';
export { standardization, RAW_FEATURES, type FeatureMode, type FeatureTransform } from './learned/features.js';
export { SHARINGS, type Sharing } from './learned/sharing.js';
export { backpropMetaStep, spsaMetaStep, type MetaStep, type MetaStepInput } from './learned/meta.js';

// Training: the step loop over any optimizer, and whole runs with their folders.
export { train, lrAt, SCHEDULES, type ScheduleKind, type StepRecord, type TrainOptions } from './harness/harness.js';
export {
  startRun,
  resumeRun,
  weightsSha256,
  type RunSpec,
  type RunSpecInput,
  type RunSummary,
  type RunHooks,
  type ResumeRequest,
} from './runs/run.js';
export { completeSpec, RUN_DEFAULTS } from './runs/spec.js';
export { evaluate, type EvaluateOptions, type Evaluation } from './runs/evaluate.js';
export { saveCheckpoint, loadCheckpoint, type CheckpointMeta } from './runs/checkpoint.js';

// Grids: models × tasks × optimizers × hyperparameters × seeds, their reports, and the CI check.
export { loadGrid, type GridFile } from './grid/file.js';
export { planGrid, runGrid, type GridOptions, type GridResult, type Plan } from './grid/grid.js';
export { cellHash, type Cell, type CellIdentity } from './grid/expand.js';
export { writeReport, type Report } from './grid/report.js';
export { readRows, resultsCsv, type Row as ResultRow } from './grid/results.js';
export {
  runCheck,
  readBaseline,
  writeBaseline,
  checkCells,
  junitXml,
  type CheckOptions,
  type CheckResult,
  type CellCheck,
  type Tolerance,
  type Verdict,
} from './grid/check.js';
