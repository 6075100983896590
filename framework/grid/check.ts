import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ZoError } from '../core/errors.js';
import { writeFileAtomic } from '../runs/checkpoint.js';
import { fsError, readRunJson } from '../runs/folder.js';
import { methodLabel, type Cell } from './expand.js';
import { failureFile, runGrid, type GridOptions } from './grid.js';
import { csvValue, modelName, resultsCsv, taskName, type Row } from './results.js';

/** How far a value may move for worse before the cell counts as regressed: losses, and metrics. */
export interface Tolerance {
  loss: number;
  metric: number;
}

/** The columns a check compares, and which way is better. */
export const CHECKED = [
  ['final_train_loss', 'loss'],
  ['dev_loss', 'loss'],
  ['dev_metric', 'metric'],
  ['test_metric', 'metric'],
  ['zero_shot_dev', 'metric'],
] as const;
type Column = (typeof CHECKED)[number][0];
const LABEL_COLUMNS = ['cell', 'model', 'task', 'optimizer', 'seed', 'lr'] as const;

/** A results.csv row as text, keyed by column. */
export type BaselineRow = Record<string, string>;

/** A results.csv read as the baseline: every row has a cell hash, and every checked column is there. */
export function readBaseline(file: string): BaselineRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ZoError(`--baseline ${file}: no such file (record one with --update)`);
    throw fsError(`--baseline ${file}`, 'cannot read the baseline', e);
  }
  let rows: BaselineRow[];
  try {
    rows = parse(text, { columns: true }) as BaselineRow[];
  } catch (e) {
    throw new ZoError(`--baseline ${file}: not a CSV file (${(e as Error).message})`);
  }
  const header = text.split('\n', 1)[0]!.split(',');
  const absent = [...LABEL_COLUMNS, ...CHECKED.map(([c]) => c)].filter((c) => !header.includes(c));
  if (absent.length) throw new ZoError(`--baseline ${file}: not a zo results.csv (no column ${absent.join(', ')})`);
  const seen = new Set<string>();
  rows.forEach((r, i) => {
    if (!/^[0-9a-f]{16}$/.test(r.cell!)) throw new ZoError(`--baseline ${file}: row ${i + 2}: cell "${r.cell}" is not a cell hash`);
    if (seen.has(r.cell!)) throw new ZoError(`--baseline ${file}: row ${i + 2}: cell ${r.cell} appears twice`);
    seen.add(r.cell!);
  });
  return rows;
}

/** One checked value of a cell against its baseline. */
export interface Change {
  column: Column;
  baseline: number;
  now: number;
  /** now − baseline. */
  delta: number;
  /** How much worse it got (a loss that rose, a metric that fell); negative when better. */
  worse: number;
  tolerance: number;
}

/**
 * same: every value equal (at tolerance 0, bit-identical); better: some value better, none worse;
 * worse: some value worse, each within its tolerance; regressed: some value worse beyond it. new: the
 * grid's cell has no baseline row; missing: a baseline row the grid no longer has; failed: it did not run.
 */
export const VERDICTS = ['same', 'better', 'worse', 'regressed', 'new', 'missing', 'failed'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** A cell as results.csv names it, with its verdict. */
export interface CellCheck extends Pick<Row, 'cell' | 'model' | 'task' | 'optimizer' | 'seed' | 'lr'> {
  verdict: Verdict;
  /** Some value moved by more than its tolerance, either way (what --strict fails on). */
  beyond: boolean;
  /** Every checked column, for cells that have both sides. */
  changes: Change[];
  /** Why a failed cell failed. */
  message?: string;
  /** A cell paired with a baseline row of another hash: what changed in its settings, and that row's hash. */
  settings?: string[];
  baselineCell?: string;
  wall_s?: number;
}

const num = (s: string | undefined) => (s === undefined || s === '' ? NaN : Number(s));

/** How much worse `now` is than `base`; NaN on one side only is infinitely worse (or better). */
function worseBy(kind: 'loss' | 'metric', base: number, now: number): number {
  if (Number.isNaN(base) && Number.isNaN(now)) return 0;
  if (Number.isNaN(now)) return Infinity;
  if (Number.isNaN(base)) return -Infinity;
  return kind === 'loss' ? now - base : base - now;
}

export function compareValues(base: BaselineRow, now: Row, tol: Tolerance): Pick<CellCheck, 'verdict' | 'beyond' | 'changes'> {
  const changes = CHECKED.map(([column, kind]): Change => {
    const b = num(base[column]);
    const n = now[column];
    return { column, baseline: b, now: n, delta: n - b, worse: worseBy(kind, b, n), tolerance: tol[kind] };
  });
  const verdict: Verdict = changes.some((c) => c.worse > c.tolerance)
    ? 'regressed'
    : changes.some((c) => c.worse > 0)
      ? 'worse'
      : changes.some((c) => c.worse < 0)
        ? 'better'
        : 'same';
  return { verdict, beyond: changes.some((c) => Math.abs(c.worse) > c.tolerance), changes };
}

/** What results.csv says of a cell's settings (lr, eps, steps, hp_*) that differs from the baseline row's. */
function settingsDiff(base: BaselineRow, c: Cell): string[] {
  const { lr, eps, ...rest } = c.hyperparameters;
  const now: Record<string, unknown> = { lr, eps, steps: c.steps };
  for (const [k, v] of Object.entries(rest)) now[`hp_${k}`] = v;
  if (c.finetuner) now.hp_finetuner = c.finetuner;
  const keys = new Set([...Object.keys(now), ...Object.keys(base).filter((k) => k.startsWith('hp_'))]);
  const diff = [...keys]
    .filter((k) => csvValue(now[k]) !== (base[k] ?? ''))
    .map((k) => `${k.replace(/^hp_/, '')} ${base[k] || '–'} → ${csvValue(now[k]) || '–'}`);
  // The hash also covers batch size, evaluation cadence, split sizes, noise, schedule and executor.
  return diff.length ? diff : ['a setting results.csv does not show (batch size, evaluation, split sizes, noise, schedule or executor)'];
}

const key = (model: string, task: string, optimizer: string, seed: number) => `${model}|${task}|${optimizer}|${seed}`;

/**
 * Matches the grid's cells to the baseline by hash. A cell whose hash the baseline lacks is paired with
 * the one unmatched baseline row of the same (model, task, method, seed), if there is one: its settings
 * changed, and its values are compared all the same. Otherwise it is new; a baseline row left over is
 * missing; a cell that did not finish is failed (with `failures`' message).
 */
export function checkCells(
  cells: Cell[],
  rows: Row[],
  baseline: BaselineRow[],
  tol: Tolerance,
  failures: Map<string, string>,
): CellCheck[] {
  const byHash = new Map(baseline.map((b) => [b.cell!, b]));
  const rowOf = new Map(rows.map((r) => [r.cell, r]));
  const planned = new Set(cells.map((c) => c.hash));
  const leftOver = baseline.filter((b) => !planned.has(b.cell!));
  const count = (k: string, xs: string[]) => xs.filter((x) => x === k).length;
  const oldKeys = leftOver.map((b) => key(b.model!, b.task!, b.optimizer!, num(b.seed)));
  const ids = cells.map((c) => ({
    cell: c.hash,
    model: modelName(c.model),
    task: taskName(c.task),
    optimizer: methodLabel(c),
    seed: c.seed,
    lr: c.hyperparameters.lr as number,
  }));
  const newKeys = ids.filter((id) => !byHash.has(id.cell)).map((id) => key(id.model, id.task, id.optimizer, id.seed));
  const paired = new Set<string>();
  const out: CellCheck[] = cells.map((c, i) => {
    const id = ids[i]!;
    const row = rowOf.get(c.hash);
    if (!row) return { ...id, verdict: 'failed', beyond: true, changes: [], message: failures.get(c.hash) ?? 'it did not finish' };
    let base = byHash.get(c.hash);
    let settings: string[] | undefined;
    const k = key(id.model, id.task, id.optimizer, id.seed);
    if (!base && count(k, oldKeys) === 1 && count(k, newKeys) === 1) {
      base = leftOver[oldKeys.indexOf(k)]!;
      paired.add(base.cell!);
      settings = settingsDiff(base, c);
    }
    if (!base) return { ...id, verdict: 'new', beyond: true, changes: [], wall_s: row.wall_s };
    return { ...id, ...compareValues(base, row, tol), wall_s: row.wall_s, ...(settings && { settings, baselineCell: base.cell }) };
  });
  for (const b of leftOver)
    if (!paired.has(b.cell!))
      out.push({
        cell: b.cell!,
        model: b.model!,
        task: b.task!,
        optimizer: b.optimizer!,
        seed: num(b.seed),
        lr: num(b.lr),
        verdict: 'missing',
        beyond: true,
        changes: [],
      });
  return out;
}

/**
 * Whether a cell fails the check: regressed, unmatched, with changed settings (the baseline no longer
 * describes the grid) or not run; with `strict`, also any move beyond the tolerance.
 */
export const fails = (c: CellCheck, strict: boolean): boolean =>
  ['regressed', 'new', 'missing', 'failed'].includes(c.verdict) || c.settings !== undefined || (strict && c.beyond);

/** The verdict as shown: a --strict check's failing improvement is "changed". */
export const shownVerdict = (c: CellCheck, strict: boolean): string => (c.verdict === 'better' && fails(c, strict) ? 'changed' : c.verdict);

/** What went wrong with a failing cell, in one line. */
export function failureText(c: CellCheck): string {
  if (c.verdict === 'new') return 'no baseline row has this cell hash: the grid gained it, or its settings changed';
  if (c.verdict === 'missing') return 'the baseline has this cell, the grid does not: it was removed, or its settings changed';
  if (c.verdict === 'failed') return `the cell did not run: ${c.message}`;
  const moved = c.changes
    .filter((x) => Math.abs(x.worse) > x.tolerance)
    .map(
      (x) => `${x.column} ${x.baseline} → ${x.now} (Δ ${signed(x.delta)}, ${x.worse > 0 ? 'worse' : 'better'}, tolerance ${x.tolerance})`,
    );
  const settings = c.settings ? [`settings changed since the baseline (cell ${c.baselineCell}): ${c.settings.join(', ')}`] : [];
  return [...settings, ...moved].join('; ') || 'within the tolerance';
}

export const signed = (x: number): string => (Number.isNaN(x) ? '–' : x > 0 ? `+${x.toPrecision(4)}` : x === 0 ? '0' : x.toPrecision(4));

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A JUnit XML report: one test case per cell, a failure element on each failing one. */
export function junitXml(suite: string, checks: CellCheck[], strict: boolean, seconds: number): string {
  const failing = checks.filter((c) => fails(c, strict)).length;
  const cases = checks.map((c) => {
    const head = `    <testcase classname="${xmlText(`${c.model}.${c.task}`)}" name="${xmlText(`${c.optimizer} seed ${c.seed} lr ${c.lr} [${c.cell}]`)}" time="${c.wall_s ?? 0}"`;
    const values = c.changes.map((x) => `${x.column}: ${x.baseline} → ${x.now} (Δ ${signed(x.delta)})`).join('\n');
    const out = `      <system-out>${xmlText(`verdict: ${c.verdict}${values ? `\n${values}` : ''}`)}</system-out>`;
    if (!fails(c, strict)) return `${head}>\n${out}\n    </testcase>`;
    const type = shownVerdict(c, strict);
    return `${head}>\n      <failure type="${type}" message="${xmlText(`${type}: ${failureText(c)}`)}"/>\n${out}\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="zo check" tests="${checks.length}" failures="${failing}" time="${seconds}">`,
    `  <testsuite name="${xmlText(suite)}" tests="${checks.length}" failures="${failing}" errors="0" skipped="0" time="${seconds}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export interface CheckOptions extends Pick<GridOptions, 'workers' | 'modelsDir' | 'dataDir' | 'events'> {
  /** A results folder whose finished cells are reused (default: a fresh temporary one). */
  out?: string;
  tolerance: Tolerance;
  strict?: boolean;
}

export interface CheckResult {
  checks: CellCheck[];
  /** The grid's finished cells, as results.csv has them. */
  rows: Row[];
  out: string;
  /** (model, task, method) configs whose pilot did not finish, so their cells cannot be named. */
  waiting: number;
  passed: boolean;
}

/**
 * Runs a grid's cells (one ORT thread each, so the numbers do not depend on the core count) and
 * checks them against a baseline results.csv (none: every cell is new).
 */
export async function runCheck(file: string, baseline: BaselineRow[], opts: CheckOptions): Promise<CheckResult> {
  const out = opts.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'zo-check-'));
  const r = await runGrid(file, out, { ...opts, threads: 1, plots: false, paper: undefined });
  const rows = r.main?.rows ?? [];
  const failures = new Map<string, string>();
  for (const c of r.plan.main) {
    const f = failureFile(out, c);
    if (fs.existsSync(f)) failures.set(c.hash, readRunJson<{ error: string }>(f, 'the failure record').error);
  }
  const checks = checkCells(r.plan.main, rows, baseline, opts.tolerance, failures);
  const waiting = r.plan.waiting.length;
  return { checks, rows, out, waiting, passed: waiting === 0 && !checks.some((c) => fails(c, opts.strict ?? false)) };
}

/** Rewrites the baseline with the grid's rows (atomically: a killed update leaves the old file whole). */
export function writeBaseline(file: string, rows: Row[]): void {
  writeFileAtomic(file, resultsCsv(rows));
}
