import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { checkDevice } from '../engine/ort.js';
import { fsError } from '../runs/folder.js';
import { lockHolder, type Holder } from '../runs/lock.js';
import { writeJsonAtomic } from '../runs/checkpoint.js';
import { resolveTask } from '../../datasets/registry.js';
import type { RunSummary } from '../runs/run.js';
import { CELL_FILE, isFinished, runCell, writeCellFile } from './cell.js';
import {
  expandConfigs,
  isTaskFile,
  mainCells,
  pilotCells,
  resolveGridPath,
  runInput,
  type Cell,
  type Config,
  type Hyperparameters,
  type Placement,
  type Stage,
} from './expand.js';
import { loadGrid, type GridFile } from './file.js';
import { runPool, threadsEach, type Executor, type Job, type PoolEvents } from './local.js';
import { writeReport, type Report } from './report.js';
import { readRow, type Row } from './results.js';
import { chooseByDev } from './winrate.js';

export interface GridOptions {
  /** Worker processes (default: the cores); each gets cores / workers ORT threads. */
  workers?: number;
  /** ORT threads per cell (default: cores / workers). */
  threads?: number;
  /** The ort executor's device for every cell (cpu by default). */
  device?: 'cpu' | 'cuda';
  /** Overrides the grid's modelRoot: where relative model paths resolve. */
  modelsDir?: string;
  dataDir?: string;
  /** baselines/paper.json, for paper-vs-ours.md. */
  paper?: string;
  plots?: boolean;
  events?: PoolEvents & { onStage?: (stage: 'pilot' | 'main', todo: Job[], done: number) => void };
  /** Where the cells run (default: the local pool of `workers` processes; see queue.ts for bullmq). */
  executor?: Executor;
}

/** A grid expanded against a results folder: what is planned, and what the pilot has chosen so far. */
export interface Plan {
  grid: GridFile;
  configs: Config[];
  pilot: Cell[];
  /** The main stage's cells that can be named now (with a pilot: those whose choice is made). */
  main: Cell[];
  /** Configs still waiting for their pilot cells. */
  waiting: Config[];
}

const stageDir = (out: string, c: Cell) => (c.stage === 'pilot' ? path.join(out, 'pilot') : out);
export const cellDir = (out: string, c: Cell) => path.join(stageDir(out, c), 'cells', c.hash);
export const failureFile = (out: string, c: Cell) => path.join(stageDir(out, c), 'failed', `${c.hash}.json`);

/**
 * The pilot's choice for a config, once every pilot cell is done: the report's own rule (chooseByDev,
 * the lowest mean dev loss), read back as the chosen cell's hyperparameters.
 */
function pilotChoice(out: string | undefined, pilot: Cell[]): Hyperparameters | undefined {
  if (!out) return undefined;
  const rows = pilot.map((c) => readRow(cellDir(out, c)));
  if (rows.some((r) => !r)) return undefined;
  const [choice] = chooseByDev(rows as Row[]);
  return pilot.find((c) => c.hash === choice?.rows[0]!.cell)?.hyperparameters;
}

/** Expands a grid file; with `out`, the pilot's finished cells decide the main stage's choices. */
export function planGrid(file: string, out?: string): Plan {
  // A shipped grid (experiments/…) is found from any working folder, as the zoo models are.
  const grid = loadGrid(resolveGridPath(file));
  const configs = expandConfigs(grid, file);
  const pilot = pilotCells(grid, configs);
  const waiting: Config[] = [];
  const main = mainCells(grid, configs, (c, p) => {
    const h = pilotChoice(out, p);
    if (!h) waiting.push(c);
    return h;
  });
  return { grid, configs, pilot, main, waiting };
}

/** Every model folder, task and finetuner the grid names exists, before any cell is started. */
function checkInputs(plan: Plan, file: string, modelRoot: string | undefined): void {
  for (const m of plan.grid.models) {
    const dir = resolveGridPath(m, modelRoot);
    if (!fs.existsSync(path.join(dir, 'config.json')))
      throw new ZoError(
        `${file}: models: ${m}: no Hugging Face model folder at ${dir} (no config.json)${modelRoot ? '' : '; set modelRoot or --models-dir'}`,
      );
  }
  for (const t of plan.grid.tasks) {
    try {
      if (isTaskFile(t)) resolveTask(undefined, resolveGridPath(t));
      else resolveTask(t);
    } catch (e) {
      throw new ZoError(`${file}: tasks: ${(e as Error).message}`);
    }
  }
  for (const c of plan.configs)
    if (c.finetuner && !fs.existsSync(resolveGridPath(c.finetuner)))
      throw new ZoError(`${file}: optimizers.${c.method}.finetuner: ${c.finetuner} does not exist`);
}

function prepareOut(out: string): void {
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new ZoError(`--out ${out}: is a file, not a folder`);
  try {
    fs.mkdirSync(out, { recursive: true });
    fs.accessSync(out, fs.constants.W_OK);
  } catch (e) {
    throw fsError(`--out ${out}`, 'cannot write the results folder', e);
  }
}

/**
 * Whether a cell still has to run: a finished one (given its cell.json if it lacks one) does not, and
 * neither does a main cell the pilot already ran (same hash: same spec), which is copied instead.
 */
export function needsRun(out: string, c: Cell): boolean {
  const dir = cellDir(out, c);
  if (isFinished(dir)) {
    if (!fs.existsSync(path.join(dir, CELL_FILE))) writeCellFile(dir, c);
    return false;
  }
  const twin = c.stage === 'main' ? cellDir(out, { ...c, stage: 'pilot' }) : undefined;
  if (twin && isFinished(twin)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(twin, dir, { recursive: true });
    writeCellFile(dir, c);
    return false;
  }
  return true;
}

/**
 * Everything a grid's cells need is checked (models, tasks, finetuners, the device) before `out` is
 * created; returns where relative model paths resolve.
 */
function checkAndPrepare(plan: Plan, file: string, out: string, opts: Pick<GridOptions, 'modelsDir' | 'device'>): string | undefined {
  const modelRoot = opts.modelsDir ?? (plan.grid.modelRoot === undefined ? undefined : resolveGridPath(plan.grid.modelRoot));
  checkInputs(plan, file, modelRoot);
  checkDevice(opts.device ?? 'cpu');
  prepareOut(out);
  return modelRoot;
}

/** Where a grid's cells find their inputs and how they run: the options over the grid file's own settings. */
function placement(plan: Plan, opts: GridOptions, modelRoot: string | undefined, threads?: number): Placement {
  return {
    modelRoot,
    dataDir: opts.dataDir ?? plan.grid.dataDir,
    threads,
    device: opts.device,
    saveEvery: plan.grid.saveEvery,
    logEvery: plan.grid.logEvery,
  };
}

/** Runs a stage's unfinished cells on the executor; records failures, and each finished cell's cell.json. */
async function runStage(cells: Cell[], out: string, plan: Plan, opts: GridOptions, modelRoot?: string): Promise<number> {
  const workers = Math.max(1, opts.workers ?? os.availableParallelism());
  const place = placement(plan, opts, modelRoot, opts.threads ?? threadsEach(workers));
  const todo: Job[] = cells.filter((c) => needsRun(out, c)).map((c) => ({ cell: c, dir: cellDir(out, c), place }));
  opts.events?.onStage?.(cells[0]?.stage ?? 'main', todo, cells.length - todo.length);
  let failed = 0;
  const execute = opts.executor ?? ((jobs: Job[], ev: PoolEvents) => runPool(jobs, workers, ev));
  await execute(todo, {
    ...opts.events,
    onDone: (job, summary: RunSummary) => {
      writeCellFile(job.dir, job.cell);
      fs.rmSync(failureFile(out, job.cell), { force: true });
      opts.events?.onDone?.(job, summary);
    },
    onFail: (job, message) => {
      failed++;
      const f = failureFile(out, job.cell);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      writeJsonAtomic(f, { ...job.cell, error: message, at: new Date().toISOString() });
      opts.events?.onFail?.(job, message);
    },
  });
  return failed;
}

export interface GridResult {
  plan: Plan;
  failed: number;
  pilot?: Report;
  main?: Report;
}

/**
 * Runs every unfinished cell of a grid file into `out`, the pilot first if there is one, then
 * aggregates each stage. Finished cells are never run again; a killed cell resumes from its last
 * checkpoint; a failed cell is recorded under failed/ and retried on the next call.
 */
export async function runGrid(file: string, out: string, opts: GridOptions = {}): Promise<GridResult> {
  let plan = planGrid(file, out);
  const modelRoot = checkAndPrepare(plan, file, out, opts);
  /** A stage's report over its own cells, once any of them is finished. */
  const report = (cells: Cell[], dir: string, paper?: string) =>
    cells.some((c) => isFinished(cellDir(out, c)))
      ? writeReport(dir, { paper, plots: opts.plots, only: cells.map((c) => c.hash) })
      : undefined;
  let failed = 0;
  let pilot: Report | undefined;
  if (plan.pilot.length) {
    failed += await runStage(plan.pilot, out, plan, opts, modelRoot);
    pilot = await report(plan.pilot, path.join(out, 'pilot'));
    plan = planGrid(file, out);
  }
  failed += await runStage(plan.main, out, plan, opts, modelRoot);
  return { plan, failed, pilot, main: await report(plan.main, out, opts.paper) };
}

/**
 * The cells `--index` counts, in the order `zo grid --dry-run --json` lists them: the pilot's, then the
 * main stage's named so far; or one stage's alone (a grid with a pilot runs as two Indexed Jobs).
 */
export const indexedCells = (plan: Plan, stage?: Stage): Cell[] =>
  stage === 'pilot' ? plan.pilot : stage === 'main' ? plan.main : [...plan.pilot, ...plan.main];

/**
 * Runs cell `index` of a grid's deterministic expansion into `out`, in this process: the work of one
 * Kubernetes Indexed Job pod. A finished cell is not run again; `zo report` aggregates the folder.
 */
export async function runCellAt(
  file: string,
  out: string,
  index: number,
  opts: Pick<GridOptions, 'modelsDir' | 'dataDir' | 'threads' | 'device'> & { stage?: Stage; onWait?: (holder: Holder) => void } = {},
): Promise<{ cell: Cell; summary?: RunSummary }> {
  const plan = planGrid(file, out);
  // The main stage's cells are named as the pilot chooses: until it is done their indices would shift.
  if (plan.waiting.length && (opts.stage === 'main' || (!opts.stage && index >= plan.pilot.length)))
    throw new ZoError(
      `--index ${index}: ${file}'s pilot is not finished in ${out}, so its main-stage cells have no fixed indices yet; run the pilot's cells (--stage pilot) first`,
    );
  const cells = indexedCells(plan, opts.stage);
  if (index >= cells.length) {
    const later =
      plan.waiting.length && opts.stage !== 'pilot' ? `; ${plan.waiting.length * plan.grid.seeds.length} more once its pilot is done` : '';
    const what = opts.stage ? `${opts.stage} cells` : 'cells';
    const range = cells.length ? `${cells.length} ${what} now (indices 0 to ${cells.length - 1})` : `no ${what} now`;
    throw new ZoError(`--index ${index}: ${file} has ${range}${later}`);
  }
  const modelRoot = checkAndPrepare(plan, file, out, opts);
  const c = cells[index]!;
  const dir = cellDir(out, c);
  // Another pod on this index (a retry whose predecessor's lock is not yet stale, or a duplicate): wait
  // for it; then the cell is finished, or its folder is free to resume.
  for (let h = lockHolder(dir); h; h = lockHolder(dir)) {
    opts.onWait?.(h);
    await new Promise((r) => setTimeout(r, 5000));
  }
  if (!needsRun(out, c)) return { cell: c };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const summary = await runCell(dir, runInput(c, placement(plan, opts, modelRoot, opts.threads)));
  writeCellFile(dir, c);
  return { cell: c, summary };
}
