import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { writeReport } from './report.js';
import { readRows } from './results.js';
import { chooseByDev, verdict, winTable, type Scored } from './winrate.js';

/**
 * Hand-made cell folders: the files a finished cell has (spec.json, summary.json, metrics.jsonl and
 * cell.json), with the scores chosen so that every count below can be worked out by hand.
 */
interface Hand {
  model: string;
  task: string;
  method: string;
  lr?: number;
  train: number[];
  dev?: number[];
  test?: number[];
  /** Leave cell.json out: the report must fall back to spec.json. */
  bare?: boolean;
}

let n = 0;
function writeHand(root: string, h: Hand): void {
  h.train.forEach((train, seed) => {
    const dir = path.join(root, 'cells', `c${String(n++).padStart(3, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    const hyperparameters = { lr: h.lr ?? 1e-4, eps: 1e-3, q: 1, oneSided: false };
    const json = (f: string, v: unknown) => fs.writeFileSync(path.join(dir, f), JSON.stringify(v));
    json('spec.json', {
      model: `/abs/models/${h.model}`,
      task: h.task,
      optimizer: h.method,
      seed,
      hyperparameters,
      steps: 100,
      batchSize: 16,
    });
    json('summary.json', {
      optimizer: h.method,
      steps: 100,
      initialLoss: 2,
      finalLoss: 1,
      weightsSha256: 'x',
      wallSeconds: 1.5,
      peakRssMb: 300,
      skippedSteps: 0,
      task: h.task,
      metric: 'accuracy',
      zeroShotDev: 0.5,
      devBest: 0.5,
      devBestLoss: h.dev?.[seed] ?? 1,
      test: h.test?.[seed] ?? 0.5,
      finalTrainLoss: train,
      bestStep: 100,
    });
    const lines = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99].map((step) => ({ step, loss: step === 90 ? 0.8 : step === 99 ? 0.6 : 5 }));
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    if (!h.bare) json('cell.json', { hash: path.basename(dir), method: h.method, model: `models/${h.model}`, task: h.task });
  });
}

const HAND: Hand[] = [
  // P1 (m1, t1): zo-ft's lr 3e-4 has the lowest train loss but not the lowest dev loss, so lr 1e-4 is chosen.
  { model: 'm1', task: 't1', method: 'zo-ft', lr: 1e-4, dev: [1.0, 1.1, 1.2], train: [0.5, 0.52, 0.54], test: [0.6, 0.6, 0.6] },
  { model: 'm1', task: 't1', method: 'zo-ft', lr: 3e-4, dev: [1.3, 1.3, 1.3], train: [0.1, 0.1, 0.1] },
  { model: 'm1', task: 't1', method: 'zo-adam', dev: [1, 1, 1], train: [0.55, 0.55, 0.55] },
  { model: 'm1', task: 't1', method: 'mezo', dev: [1.2, 1.2, 1.2], train: [0.6, 0.61, 0.62], bare: true },
  { model: 'm1', task: 't1', method: 'fo-adam', train: [0.01, 0.01, 0.01], test: [0.9, 0.9, 0.9] }, // a reference, outside the rule
  // P2: MeZO wins, within the noise (its margin 0.05 < 2 SE = 0.2).
  { model: 'm1', task: 't2', method: 'zo-ft', train: [0.4, 0.7, 0.4] },
  { model: 'm1', task: 't2', method: 'mezo', train: [0.45, 0.45, 0.45] },
  // P3: a tie.
  { model: 'm2', task: 't1', method: 'zo-ft', train: [0.3, 0.3, 0.3] },
  { model: 'm2', task: 't1', method: 'mezo', train: [0.3, 0.3, 0.3] },
  // P4: zo-ft loses seed 2 but wins by 0.0633 > 2 SE = 0.0525.
  { model: 'm2', task: 't2', method: 'zo-ft', train: [0.1, 0.11, 0.16] },
  { model: 'm2', task: 't2', method: 'mezo', train: [0.2, 0.21, 0.15] },
  // P5: one seed each.
  { model: 'm2', task: 't3', method: 'zo-ft', train: [0.2] },
  { model: 'm2', task: 't3', method: 'mezo', train: [0.3] },
];

describe('zo report: aggregation from hand-made cell folders', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-report-'));
  beforeAll(() => HAND.forEach((h) => writeHand(root, h)));
  afterAll(() => fs.rmSync(root, { recursive: true }));

  test('best-by-dev selection: each method takes the LR with the lowest mean dev loss, not the lowest train loss', () => {
    const choices = chooseByDev(readRows(root));
    const zoft = choices.find((c) => c.model === 'm1' && c.task === 't1' && c.method === 'zo-ft')!;
    expect(zoft.hyperparameters.lr).toBe(1e-4);
    expect(zoft.devLoss).toBeCloseTo(1.1, 12);
    expect(zoft.rows.map((r) => r.final_train_loss)).toEqual([0.5, 0.52, 0.54]);
  });

  test('win counts, ties, pairwise wins and mean ranks follow the rule; fo-* rows are outside it', () => {
    const t = winTable(chooseByDev(readRows(root)), 'final_train_loss');
    const stat = Object.fromEntries(t.methods.map((m) => [m.method, m]));
    expect(Object.keys(stat)).toEqual(['mezo', 'zo-adam', 'zo-ft']);
    expect([stat['zo-ft']!.wins, stat['zo-ft']!.pairs]).toEqual([4, 5]); // P1, P3 (tie), P4, P5
    expect([stat.mezo!.wins, stat.mezo!.pairs]).toEqual([2, 5]); // P2, P3 (tie)
    expect([stat['zo-adam']!.wins, stat['zo-adam']!.pairs]).toEqual([0, 1]);
    expect(stat['zo-ft']!.meanRank).toBeCloseTo((1 + 2 + 1.5 + 1 + 1) / 5, 12);
    expect(stat.mezo!.meanRank).toBeCloseTo((3 + 1 + 1.5 + 2 + 2) / 5, 12);
    expect(t.matrix['zo-ft']).toEqual({ mezo: 3, 'zo-adam': 1 });
    expect(t.matrix.mezo).toEqual({ 'zo-ft': 1, 'zo-adam': 0 });
    expect(t.matrix['zo-adam']).toEqual({ mezo: 1, 'zo-ft': 0 });
    const verdicts = t.pairs.map((p) => [p.model, p.task, p.winners.join('='), p.verdict]);
    expect(verdicts).toEqual([
      ['m1', 't1', 'zo-ft', 'every seed'],
      ['m1', 't2', 'mezo', 'within noise'],
      ['m2', 't1', 'mezo=zo-ft', 'tie'],
      ['m2', 't2', 'zo-ft', '> 2 SE'],
      ['m2', 't3', 'zo-ft', 'one seed'],
    ]);
    expect(t.pairs[0]!.runnerUp!.method).toBe('zo-adam');
    // The test metric: higher wins; fo-adam's 0.9 does not count.
    const test = winTable(chooseByDev(readRows(root)), 'test_metric');
    expect(test.pairs[0]!.winners).toEqual(['zo-ft']);
    expect(test.methods.find((m) => m.method === 'zo-ft')!.wins).toBe(5); // P1 alone, the rest ties at 0.5
  });

  test('the seed-robust verdict, case by case', () => {
    const s = (xs: number[], method = 'a'): Scored => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
      return { method, score: m, se: sd / Math.sqrt(xs.length), bySeed: new Map(xs.map((x, i) => [i, x])), rank: 1 };
    };
    expect(verdict(s([1, 2, 3]), s([2, 3, 4]), true, false)).toBe('every seed');
    expect(verdict(s([3, 2, 1]), s([2, 3, 4]), false, false)).toBe('within noise'); // higher-better: 2 vs 3, loses
    expect(verdict(s([1]), s([2]), true, false)).toBe('one seed');
    expect(verdict(s([1, 1]), undefined, true, false)).toBe('unopposed');
    expect(verdict(s([1, 1]), s([1, 1]), true, true)).toBe('tie');
  });

  test('results.csv has the named columns, one row per cell; winrate.md and .csv follow from it', async () => {
    const r = await writeReport(root, { plots: false });
    const csv = fs.readFileSync(path.join(root, 'results.csv'), 'utf8');
    const header = csv.split('\n')[0]!.split(',');
    const required =
      'cell, model, task, optimizer, seed, lr, eps, steps, final_train_loss, dev_loss, dev_metric, test_metric, wall_s, peak_rss_mb'.split(
        ', ',
      );
    for (const c of required) expect(header).toContain(c);
    expect(header).toContain('train_loss_smoothed');
    expect(header).toContain('hp_q');
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(HAND.reduce((a, h) => a + h.train.length, 0));
    const mezo = rows.find((x) => x.model === 'm1' && x.task === 't1' && x.optimizer === 'mezo' && x.seed === '1')!;
    expect(mezo).toMatchObject({
      final_train_loss: '0.61',
      dev_loss: '1.2',
      lr: '0.0001',
      eps: '0.001',
      hp_q: '1',
      hp_oneSided: 'false',
      steps: '100',
    });
    // ℓ⁺ over the last tenth of the steps: the lines at steps 90 and 99.
    expect(Number(mezo.train_loss_smoothed)).toBeCloseTo(0.7, 12);
    const md = fs.readFileSync(path.join(root, 'winrate.md'), 'utf8');
    expect(md).toContain('**zo-ft: 4/5 pairs (80.0%)**');
    expect(md).toContain('**mezo: 2/5 pairs (40.0%)**');
    expect(md).toContain('| m2 | t2 | zo-ft | 0.1233 | mezo | 0.1867 | 0.0633 | > 2 SE |');
    const wr = parse(fs.readFileSync(path.join(root, 'winrate.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(wr.filter((x) => x.wins_loss === '1').map((x) => `${x.model}/${x.task}/${x.optimizer}`)).toEqual([
      'm1/t1/zo-ft',
      'm1/t2/mezo',
      'm2/t1/mezo',
      'm2/t1/zo-ft',
      'm2/t2/zo-ft',
      'm2/t3/zo-ft',
    ]);
    expect(wr.some((x) => x.optimizer === 'fo-adam')).toBe(false);
    expect(r.files).toEqual(['results.csv', 'winrate.md', 'winrate.csv']);
  });
});
