import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { XMLParser } from 'fast-xml-parser';
import { fixtureDir } from '../models/fixtures.js';
import { expectOneLineError, writeCustomTask, zo } from './testing.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-check-${tag}-`));

/**
 * 2 models × 1 task × 2 optimizers: four cells of about a second. The zoo's pretrained models by
 * default, where a much larger LR does harm (on the random fixtures it can as well help).
 */
function writeGrid(
  dir: string,
  optimizers: string,
  name = 'grid.yaml',
  where = { models: 'models/tiny-llama-s, models/tiny-opt', task: 'tiny-copa', sizes: true },
): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `models: [${where.models}]
tasks: [${where.task}]
optimizers:
${optimizers}
seeds: [0]
steps: 40
batchSize: 4
evalEvery: 20
${where.sizes ? 'trainSize: 40\ndevSize: 20\ntestSize: 20\n' : ''}`,
  );
  return file;
}

const BASE = '  mezo: {lr: 3.0e-4}\n  zo-sgd-sign: {lr: 1.0e-4}\n';

interface Check {
  cell: string;
  optimizer: string;
  model: string;
  verdict: string;
  settings?: string[];
  changes: { column: string; delta: number }[];
}
const checked = (stdout: string) => JSON.parse(stdout) as { passed: boolean; out: string; cells: Check[] };

/** The JUnit file read by an independent XML parser: its test cases, each with its failure if any. */
function junitCases(file: string) {
  const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'testcase' }).parse(
    fs.readFileSync(file, 'utf8'),
  );
  const suite = xml.testsuites.testsuite;
  return {
    failures: Number(suite.failures),
    cases: suite.testcase as { name: string; classname: string; failure?: { type: string; message: string } }[],
  };
}

describe('zo check', () => {
  const dir = tmp('suite');
  const grid = writeGrid(dir, BASE);
  const baseline = path.join(dir, 'baseline.csv');

  beforeAll(async () => {
    const r = await zo('check', grid, '--baseline', baseline, '--update');
    expect(r.stdout).toContain(`${baseline}: recorded 4 cells`);
    expect(r.code).toBe(0);
  });

  test('--update records every cell; an unchanged rerun is bit-identical, passes, and its JUnit file has one passing case per cell', async () => {
    const rows = parse(fs.readFileSync(baseline, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(4);
    const junit = path.join(dir, 'same.xml');
    const r = await zo('check', grid, '--baseline', baseline, '--junit', junit, '--json');
    expect(r.code).toBe(0);
    const c = checked(r.stdout);
    expect(c.passed).toBe(true);
    expect(c.cells.map((x) => x.verdict)).toEqual(['same', 'same', 'same', 'same']);
    expect(c.cells.map((x) => x.cell).sort()).toEqual(rows.map((x) => x.cell).sort());
    for (const x of c.cells) for (const d of x.changes) expect(d.delta).toBe(0);
    // The cells ran in a temporary folder, removed since the check passed.
    expect(fs.existsSync(c.out)).toBe(false);
    const j = junitCases(junit);
    expect(j.cases).toHaveLength(4);
    expect(j.failures).toBe(0);
    expect(j.cases.filter((x) => x.failure)).toHaveLength(0);
    expect(new Set(j.cases.map((x) => x.name)).size).toBe(4);
  });

  test("an LR ×100 for one optimizer is a regression of that optimizer's cells only, with exit code 1", async () => {
    const changed = writeGrid(dir, '  mezo: {lr: 3.0e-2}\n  zo-sgd-sign: {lr: 1.0e-4}\n', 'lr100.yaml');
    const junit = path.join(dir, 'lr100.xml');
    const json = await zo('check', changed, '--baseline', baseline, '--junit', junit, '--json');
    expect(json.code).toBe(1);
    const c = checked(json.stdout);
    expect(c.passed).toBe(false);
    const mezo = c.cells.filter((x) => x.optimizer === 'mezo');
    expect(mezo).toHaveLength(2);
    for (const x of mezo) {
      expect(x.verdict).toBe('regressed');
      expect(x.settings).toEqual(['lr 0.0003 → 0.03']);
    }
    expect(c.cells.filter((x) => x.optimizer === 'zo-sgd-sign').map((x) => x.verdict)).toEqual(['same', 'same']);
    // A failed check keeps its cells for a look.
    expect(fs.existsSync(path.join(c.out, 'results.csv'))).toBe(true);
    const j = junitCases(junit);
    expect(j.cases).toHaveLength(4);
    expect(j.failures).toBe(2);
    const failing = j.cases.filter((x) => x.failure);
    expect(failing.map((x) => x.failure!.type)).toEqual(['regressed', 'regressed']);
    for (const x of failing) {
      expect(x.name).toMatch(/^mezo seed 0 lr 0.03 \[[0-9a-f]{16}\]$/);
      expect(x.failure!.message).toContain('final_train_loss');
    }

    // The text report names the cells, the verdict and what to do; it reuses the cells in --out.
    const text = await zo('check', changed, '--baseline', baseline, '--out', c.out);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n').filter((l) => /^\s+regressed\s/.test(l))).toHaveLength(2);
    expect(text.stdout).toContain('4 cells: 2 same, 0 better, 0 worse, 2 regressed, 0 new, 0 missing, 0 failed');
    expect(text.stdout).toContain('--update');
  });

  test('a cell the baseline lacks is new, a baseline cell the grid lacks is missing, and both fail', async () => {
    const changed = writeGrid(dir, '  mezo: {lr: 3.0e-4}\n  zo-sgd-momentum: {lr: 1.0e-5}\n', 'swapped.yaml');
    const r = await zo('check', changed, '--baseline', baseline, '--json');
    expect(r.code).toBe(1);
    const c = checked(r.stdout);
    const by = (o: string) => c.cells.filter((x) => x.optimizer === o).map((x) => x.verdict);
    expect(by('mezo')).toEqual(['same', 'same']);
    expect(by('zo-sgd-momentum')).toEqual(['new', 'new']);
    expect(by('zo-sgd-sign')).toEqual(['missing', 'missing']);
  });

  test('the same cells on changed task data: the tolerance decides regressed, and --strict fails on any move', async () => {
    // The same path, so the same hashes: what a change to a task's code or data looks like.
    const task2 = writeCustomTask();
    const grid2 = writeGrid(tmp('data'), BASE, 'grid.yaml', {
      models: `${fixtureDir('llama')}, ${fixtureDir('opt')}`,
      task: task2,
      sizes: false,
    });
    const base2 = path.join(dir, 'data-baseline.csv');
    expect((await zo('check', grid2, '--baseline', base2, '--update')).code).toBe(0);
    const rows = (n: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ text: `film ${i} was`, label: i % 3 ? 'great' : 'terrible' })).join('\n');
    fs.writeFileSync(path.join(path.dirname(task2), 'train.jsonl'), rows(10));
    const out = tmp('data-out');
    // The cells run once; every later call reuses them from --out.
    const again = (...flags: string[]) => zo('check', grid2, '--baseline', base2, '--out', out, '--json', ...flags);
    const exact = await again();
    const c = checked(exact.stdout);
    expect(c.cells.every((x) => x.verdict !== 'same' && x.verdict !== 'new')).toBe(true);
    expect(exact.code).toBe(c.cells.some((x) => x.verdict === 'regressed') ? 1 : 0);
    // The final train loss is over the new train split, so every cell moved.
    for (const x of c.cells) expect(x.changes.find((d) => d.column === 'final_train_loss')!.delta).not.toBe(0);

    const loose = ['--tolerance-loss', '100', '--tolerance-metric', '1'];
    const passing = await again(...loose);
    expect(passing.code).toBe(0);
    expect(checked(passing.stdout).cells.map((x) => x.verdict)).not.toContain('regressed');
    expect((await again('--strict')).code).toBe(1);
    expect((await again('--strict', ...loose)).code).toBe(0);
  });

  test('bad input is one line, before any cell runs', async () => {
    const out = path.join(dir, 'never');
    expectOneLineError(
      await zo('check', grid, '--baseline', path.join(dir, 'nope.csv'), '--out', out),
      'nope.csv',
      'no such file',
      '--update',
    );
    const notCsv = path.join(dir, 'not.csv');
    fs.writeFileSync(notCsv, 'a,b\n1,2\n');
    expectOneLineError(await zo('check', grid, '--baseline', notCsv, '--out', out), 'not.csv', 'not a zo results.csv', 'cell');
    const lines = fs.readFileSync(baseline, 'utf8').trimEnd().split('\n');
    const twice = path.join(dir, 'twice.csv');
    fs.writeFileSync(twice, [...lines, lines[1]].join('\n') + '\n');
    expectOneLineError(await zo('check', grid, '--baseline', twice, '--out', out), 'twice.csv', 'row 6', 'appears twice');
    expectOneLineError(await zo('check', grid, '--baseline', baseline, '--tolerance-loss', '-1', '--out', out), '--tolerance-loss', '≥ 0');
    expectOneLineError(
      await zo('check', grid, '--baseline', baseline, '--junit', path.join(dir, 'no', 'such', 'x.xml'), '--out', out),
      '--junit',
    );
    expectOneLineError(await zo('check', grid, '--out', out), '--baseline');
    expect(fs.existsSync(out)).toBe(false);
  });
});
