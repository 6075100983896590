import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { registerLearnedOptimizers } from '../learned/registry.js';
import { optimizerNamed, parseHyperparameters } from '../optimizers/registry.js';
import { completeSpec, type RunSpec, type RunSpecInput } from '../runs/spec.js';
import { completeLora } from '../models/lora.js';
import { completePrefix } from '../models/prefix.js';
import type { PeftMode } from '../runs/peft.js';
import type { GridFile, GridOverride, MethodAxis } from './file.js';

export type Hyperparameters = Record<string, unknown>;
export type Stage = 'pilot' | 'main';

/** What decides a cell's weights, with paths as the grid file writes them: the same on every machine. */
export interface CellIdentity {
  model: string;
  task: string;
  /** The grid's name for the method (its key under `optimizers`), and the registered optimizer it runs. */
  method: string;
  optimizer: string;
  finetuner?: string;
  /** Complete: the optimizer's defaults filled in. */
  hyperparameters: Hyperparameters;
  seed: number;
  steps: number;
  batchSize: number;
  evalEvery: number;
  sizes: { train?: number; dev?: number; test?: number };
  maxLen: number;
  trainSetSeed: number;
  noise: string;
  schedule: string;
  executor: string;
  /** Absent for full fine-tuning (so the hashes of full cells are those they always had). */
  peft?: 'lora' | 'prefix';
  lora?: { r: number; alpha: number; targets: string[] };
  prefix?: { tokens: number };
}

export interface Cell extends CellIdentity {
  /** The first 16 hex digits of SHA-256 over the canonical identity. */
  hash: string;
  stage: Stage;
}

/** One (model, task, method) of the grid with its settings and every hyperparameter combination. */
export interface Config {
  model: string;
  task: string;
  method: string;
  peft: PeftMode;
  optimizer: string;
  finetuner?: string;
  settings: Settings;
  combos: Hyperparameters[];
}

type Settings = Pick<GridFile, 'batchSize' | 'evalEvery' | 'trainSize' | 'devSize' | 'testSize' | 'maxLen' | 'trainSetSeed'> &
  Pick<GridFile, 'noise' | 'schedule' | 'executor' | 'lora' | 'prefix'> & { steps: number };

const SETTING_KEYS = [
  'steps',
  'batchSize',
  'evalEvery',
  'trainSize',
  'devSize',
  'testSize',
  'maxLen',
  'trainSetSeed',
  'noise',
  'schedule',
  'executor',
  'lora',
  'prefix',
] as const;

/** JSON with object keys sorted at every depth and undefined dropped: equal values, equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function cellHash(id: CellIdentity): string {
  return crypto.createHash('sha256').update(canonicalJson(id)).digest('hex').slice(0, 16);
}

const listOf = (x: string | string[] | undefined): string[] | undefined => (x === undefined ? undefined : Array.isArray(x) ? x : [x]);

function matches(o: GridOverride, model: string, task: string, method: string, peft: PeftMode): boolean {
  const ok = (want: string | string[] | undefined, v: string) => listOf(want)?.includes(v) ?? true;
  return ok(o.model, model) && ok(o.task, task) && ok(o.optimizer, method) && ok(o.peft, peft);
}

/** A method's name in results.csv and the tables: a LoRA or prefix cell's is `<method>+lora` or `+prefix`, a method of its own. */
export const methodLabel = (c: { method: string; peft?: string }): string =>
  c.peft && c.peft !== 'full' ? `${c.method}+${c.peft}` : c.method;

/** Every combination of the listed values, the first key varying slowest, in the file's order. */
function product(axis: MethodAxis | null): Hyperparameters[] {
  let out: Hyperparameters[] = [{}];
  for (const [k, v] of Object.entries(axis ?? {})) {
    if (k === 'optimizer' || k === 'finetuner') continue;
    const values = Array.isArray(v) ? v : [v];
    out = out.flatMap((h) => values.map((x) => ({ ...h, [k]: x })));
  }
  return out;
}

/** models × tasks × peft modes × methods in the file's order, each with its overrides applied and its combinations checked. */
export function expandConfigs(grid: GridFile, file: string): Config[] {
  registerLearnedOptimizers();
  const out: Config[] = [];
  for (const model of grid.models)
    for (const task of grid.tasks)
      for (const peft of grid.peft ?? ['full'])
        for (const [method, base] of Object.entries(grid.optimizers)) {
          const settings = Object.fromEntries(SETTING_KEYS.map((k) => [k, grid[k]])) as Settings;
          let axis: MethodAxis | null = base;
          for (const o of grid.overrides.filter((x) => matches(x, model, task, method, peft))) {
            for (const k of SETTING_KEYS) if (o[k] !== undefined) (settings as Record<string, unknown>)[k] = o[k];
            if (o.optimizers?.[method]) axis = { ...(axis ?? {}), ...o.optimizers[method] };
          }
          const optimizer = (axis?.optimizer as string | undefined) ?? method;
          let registered;
          try {
            registered = optimizerNamed(optimizer);
          } catch (e) {
            throw new ZoError(`${file}: optimizers.${method}: ${(e as Error).message}`);
          }
          const combos = product(axis).map((h) => {
            try {
              return parseHyperparameters(registered, h) as Hyperparameters;
            } catch (e) {
              throw new ZoError(`${file}: optimizers.${method} (${model}, ${task}): ${(e as Error).message}`);
            }
          });
          out.push({ model, task, method, peft, optimizer, finetuner: axis?.finetuner as string | undefined, settings, combos });
        }
  return out;
}

/** A config's cell at one combination, seed and stage. */
export function makeCell(c: Config, hyperparameters: Hyperparameters, seed: number, stage: Stage, steps = c.settings.steps): Cell {
  const { trainSize, devSize, testSize, steps: full, evalEvery, lora, prefix, ...rest } = c.settings;
  // A pilot's shorter horizon keeps the default cadence (five evaluations), not the full run's.
  const spec = completeSpec({ model: c.model, ...rest, steps, evalEvery: steps === full ? evalEvery : undefined });
  const id: CellIdentity = {
    model: c.model,
    task: c.task,
    method: c.method,
    optimizer: c.optimizer,
    finetuner: c.finetuner,
    hyperparameters,
    seed,
    steps,
    batchSize: spec.batchSize,
    evalEvery: spec.evalEvery,
    sizes: { train: trainSize, dev: devSize, test: testSize },
    maxLen: spec.maxLen,
    trainSetSeed: spec.trainSetSeed,
    noise: spec.noise,
    schedule: spec.schedule,
    executor: spec.executor,
    ...(c.peft === 'lora' && { peft: 'lora' as const, lora: completeLora(lora) }),
    ...(c.peft === 'prefix' && { peft: 'prefix' as const, prefix: completePrefix(prefix) }),
  };
  return { ...id, hash: cellHash(id), stage };
}

/** The pilot's cells: every combination of each config that has more than one, on the pilot seeds. */
export function pilotCells(grid: GridFile, configs: Config[]): Cell[] {
  if (!grid.pilot) return [];
  const { seeds, steps } = grid.pilot;
  return configs
    .filter((c) => c.combos.length > 1)
    .flatMap((c) => c.combos.flatMap((h) => seeds.map((s) => makeCell(c, h, s, 'pilot', steps))));
}

/**
 * The grid's cells: every combination on every seed, or with a pilot, each config at its chosen
 * combination (`choose` gets the config's pilot cells; a config with one combination needs none).
 */
export function mainCells(grid: GridFile, configs: Config[], choose?: (c: Config, pilot: Cell[]) => Hyperparameters | undefined): Cell[] {
  const pilot = grid.pilot ? pilotCells(grid, configs) : [];
  return configs.flatMap((c) => {
    let combos = c.combos;
    if (grid.pilot && c.combos.length > 1) {
      const chosen = choose?.(
        c,
        pilot.filter((p) => p.model === c.model && p.task === c.task && p.method === c.method && (p.peft ?? 'full') === c.peft),
      );
      if (!chosen) return [];
      combos = [chosen];
    }
    return combos.flatMap((h) => grid.seeds.map((s) => makeCell(c, h, s, 'main')));
  });
}

/** The cells in a form for printing: what `zo grid --dry-run --json` shows. */
export const cellSummary = (c: Cell) => ({
  hash: c.hash,
  stage: c.stage,
  model: c.model,
  task: c.task,
  optimizer: methodLabel(c),
  seed: c.seed,
  hyperparameters: c.hyperparameters,
});

/** Where a relative path of a grid file points: the working folder, else the zo package (the zoo, experiments/). */
export function resolveGridPath(p: string, root?: string): string {
  if (path.isAbsolute(p)) return p;
  if (root) return path.resolve(root, p);
  const here = path.resolve(p);
  if (fs.existsSync(here)) return here;
  const ours = path.join(packageRoot(), p);
  return fs.existsSync(ours) ? ours : here;
}

/** A task given as a file (a custom task), not a name. */
export const isTaskFile = (t: string): boolean => /\.(ya?ml|json)$/i.test(t);

/** Where a cell's run needs to find things, and how it runs (neither changes its weights). */
export interface Placement {
  modelRoot?: string;
  dataDir?: string;
  threads?: number;
  device?: 'cpu' | 'cuda';
  saveEvery?: number;
  logEvery?: number;
}

/** The `startRun` input of a cell. */
export function runInput(c: Cell, where: Placement): RunSpecInput {
  const spec: Partial<RunSpec> & { model: string } = {
    model: resolveGridPath(c.model, where.modelRoot),
    ...(isTaskFile(c.task) ? { taskFile: resolveGridPath(c.task) } : { task: c.task }),
    optimizer: c.optimizer,
    finetuner: c.finetuner === undefined ? undefined : resolveGridPath(c.finetuner),
    hyperparameters: c.hyperparameters,
    seed: c.seed,
    steps: c.steps,
    batchSize: c.batchSize,
    evalEvery: c.evalEvery,
    sizes: c.sizes,
    maxLen: c.maxLen,
    trainSetSeed: c.trainSetSeed,
    noise: c.noise as RunSpec['noise'],
    schedule: c.schedule as RunSpec['schedule'],
    executor: c.executor as RunSpec['executor'],
    peft: c.peft,
    lora: c.lora,
    prefix: c.prefix,
    dataDir: where.dataDir,
    threads: where.threads,
    device: where.device,
    saveEvery: where.saveEvery,
    logEvery: where.logEvery,
    // A cell's folder is for the report: `zo export` makes a model folder of any cell that needs one.
    saveModel: false,
    plots: false,
  };
  return spec;
}
