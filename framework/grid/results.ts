import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ZoError } from '../core/errors.js';
import { readMetrics, trainLossesOf } from '../plots/plot.js';
import { readRunJson } from '../runs/folder.js';
import type { RunSpec, RunSummary } from '../runs/run.js';
import { isFinished, readCellFile } from './cell.js';
import { methodLabel } from './expand.js';

/** One finished cell, as results.csv has it. */
export interface Row {
  cell: string;
  model: string;
  task: string;
  /** The grid's method name (its key under `optimizers`); the registered optimizer otherwise. */
  optimizer: string;
  seed: number;
  lr: number;
  eps: number | undefined;
  steps: number;
  /** The final weights' loss on the task's whole train split (the same examples in every cell of a task). */
  final_train_loss: number;
  /** ℓ⁺ of the steps, averaged over the last tenth of the run: the noisy training signal, smoothed. */
  train_loss_smoothed: number;
  /** The best dev loss, and the dev and test metric of those weights. */
  dev_loss: number;
  dev_metric: number;
  test_metric: number;
  zero_shot_dev: number;
  metric: string;
  best_step: number;
  wall_s: number;
  peak_rss_mb: number;
  /** The other hyperparameters, complete (results.csv: hp_<name> columns). */
  hp: Record<string, unknown>;
  /** The folder it was read from. */
  dir: string;
}

/** The cell folders under DIR: DIR/cells/* when there is one, else DIR's own subfolders (any run folders). */
export function cellFolders(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ZoError(`${dir}: no such results folder`);
  const root = fs.existsSync(path.join(dir, 'cells')) ? path.join(dir, 'cells') : dir;
  return fs
    .readdirSync(root)
    .sort()
    .map((f) => path.join(root, f))
    .filter((f) => fs.statSync(f).isDirectory() && fs.existsSync(path.join(f, 'spec.json')));
}

/** How results.csv names a model and a task: the folder's and the file's base name. */
export const modelName = (p: string) => path.basename(p.replace(/[/\\]+$/, ''));
export const taskName = (p: string) => path.basename(p).replace(/\.(ya?ml|json)$/i, '');

/** The logged ℓ⁺ of a run's steps (step from 0); a step skipped for a non-finite loss is left out. */
export const trainLosses = (metricsFile: string): { step: number; loss: number }[] => trainLossesOf(readMetrics(metricsFile));

/** ℓ⁺ over the last tenth of the steps (at least the last logged line). */
export function smoothedTrainLoss(metricsFile: string, steps: number): number {
  const lines = trainLosses(metricsFile);
  const from = Math.floor(steps * 0.9);
  const tail = lines.filter((l) => l.step >= from);
  const use = tail.length ? tail : lines.slice(-1);
  return use.length ? use.reduce((a, l) => a + l.loss, 0) / use.length : NaN;
}

/** A finished task cell's row; an LM-loss run or an unfinished one has none. */
export function readRow(dir: string): Row | undefined {
  if (!isFinished(dir)) return undefined;
  const spec = readRunJson<RunSpec>(path.join(dir, 'spec.json'), 'the run spec');
  const s = readRunJson<RunSummary>(path.join(dir, 'summary.json'), 'the run summary');
  if (s.task === undefined) return undefined;
  const cell = readCellFile(dir);
  const { lr, eps, ...hp } = spec.hyperparameters as Record<string, unknown>;
  // A finetuner the grid names tells two zo-ft methods apart; the model's own needs no column.
  if (cell?.finetuner) hp.finetuner = cell.finetuner;
  return {
    cell: cell?.hash ?? path.basename(dir),
    model: modelName(cell?.model ?? spec.model),
    task: cell ? taskName(cell.task) : s.task,
    optimizer: methodLabel(cell ?? { method: spec.optimizer, peft: spec.peft }),
    seed: spec.seed,
    lr: lr as number,
    eps: eps as number | undefined,
    steps: s.steps,
    final_train_loss: s.finalTrainLoss!,
    train_loss_smoothed: smoothedTrainLoss(path.join(dir, 'metrics.jsonl'), s.steps),
    dev_loss: s.devBestLoss!,
    dev_metric: s.devBest!,
    test_metric: s.test!,
    zero_shot_dev: s.zeroShotDev!,
    metric: s.metric!,
    best_step: s.bestStep!,
    wall_s: s.wallSeconds,
    peak_rss_mb: s.peakRssMb,
    hp,
    dir,
  };
}

export const readRows = (dir: string): Row[] => cellFolders(dir).flatMap((d) => readRow(d) ?? []);

const COLUMNS = [
  'cell',
  'model',
  'task',
  'optimizer',
  'seed',
  'lr',
  'eps',
  'steps',
  'final_train_loss',
  'train_loss_smoothed',
  'dev_loss',
  'dev_metric',
  'test_metric',
  'zero_shot_dev',
  'metric',
  'best_step',
  'wall_s',
  'peak_rss_mb',
] as const;

/**
 * How results.csv writes a value: empty when absent, JSON for an object, and a boolean as true/false
 * (csv-stringify would write false as an empty field, which reads back as "not set").
 */
export const csvValue = (v: unknown): string =>
  v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** results.csv: one row per cell, sorted by model, task, optimizer, seed; hp_<name> columns after the fixed ones. */
export function resultsCsv(rows: Row[]): string {
  const hpNames = [...new Set(rows.flatMap((r) => Object.keys(r.hp)))].sort();
  const sorted = [...rows].sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      a.task.localeCompare(b.task) ||
      a.optimizer.localeCompare(b.optimizer) ||
      a.seed - b.seed ||
      a.lr - b.lr,
  );
  return stringify(
    sorted.map((r) => [...COLUMNS.map((c) => csvValue(r[c])), ...hpNames.map((h) => csvValue(r.hp[h]))]),
    { header: true, columns: [...COLUMNS, ...hpNames.map((h) => `hp_${h}`)] },
  );
}
