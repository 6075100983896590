import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { packageRoot } from '../core/paths.js';
import { readBaseline } from './check.js';
import { planGrid } from './grid.js';
import { winrateCsv, winrateMarkdown } from './report.js';
import type { Row } from './results.js';
import { aggregate } from './winrate.js';

/** results.csv read back into rows, by an independent CSV parser: numbers as numbers, hp_<name> as hp. */
function rowsFromCsv(file: string): Row[] {
  const value = (s: string): unknown =>
    s === '' ? undefined : s === 'true' ? true : s === 'false' ? false : Number.isNaN(Number(s)) ? s : Number(s);
  return (parse(fs.readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[]).map((r) => {
    const hp: Record<string, unknown> = {};
    const row: Record<string, unknown> = { hp, dir: '' };
    for (const [k, v] of Object.entries(r)) {
      if (k.startsWith('hp_')) {
        if (v !== '') hp[k.slice(3)] = value(v);
      } else row[k] = ['cell', 'model', 'task', 'optimizer', 'metric'].includes(k) ? v : value(v);
    }
    return row as unknown as Row;
  });
}

const TINY = path.join(packageRoot(), 'results', 'tiny');

describe('the committed miniature (results/tiny)', () => {
  test('holds every cell of experiments/tiny.yaml: 4 models × 7 tasks × 5 ZO methods × 3 seeds', () => {
    const rows = rowsFromCsv(path.join(TINY, 'results.csv'));
    expect(rows).toHaveLength(4 * 7 * 5 * 3);
    expect(new Set(rows.map((r) => r.model)).size).toBe(4);
    expect(new Set(rows.map((r) => r.task)).size).toBe(7);
    expect([...new Set(rows.map((r) => r.optimizer))].sort()).toEqual(['hizoo', 'lozo', 'mezo', 'zo-adam', 'zo-ft']);
    expect(new Set(rows.map((r) => r.cell)).size).toBe(rows.length);
  });

  test('winrate.md and winrate.csv follow from results.csv by the rule', () => {
    const rows = rowsFromCsv(path.join(TINY, 'results.csv'));
    const a = aggregate(rows, rows.length);
    expect(winrateMarkdown(a)).toBe(fs.readFileSync(path.join(TINY, 'winrate.md'), 'utf8'));
    expect(winrateCsv(a)).toBe(fs.readFileSync(path.join(TINY, 'winrate.csv'), 'utf8'));
  });
});

describe('the committed regression baseline (results/regression)', () => {
  test('has one row per cell of experiments/regression.yaml, by hash: every optimizer, both models, both tasks', () => {
    const rows = readBaseline(path.join(packageRoot(), 'results', 'regression', 'results.csv'));
    const plan = planGrid('experiments/regression.yaml');
    expect(rows.map((r) => r.cell).sort()).toEqual(plan.main.map((c) => c.hash).sort());
    expect(new Set(rows.map((r) => r.optimizer)).size).toBe(11);
    expect([...new Set(rows.map((r) => r.task))].sort()).toEqual(['tiny-copa', 'tiny-sentiment']);
    // A NaN loss is written as an empty field, which Number() would read as 0.
    for (const r of rows) expect(String(r.final_train_loss)).toMatch(/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i);
  });
});
