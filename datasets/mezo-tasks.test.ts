import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ZoError } from '../framework/core/errors.js';
import { MEZO_TASK_NAMES } from '../framework/tasks/mezo-templates.js';
import { MEZO_TASKS, mezoDataDir } from './mezo-tasks.js';
import type { Row, Task } from '../framework/tasks/task.js';

let data: string;
beforeAll(() => {
  data = mkdtempSync(path.join(os.tmpdir(), 'zo-mezo-tasks-'));
});
afterAll(() => rmSync(data, { recursive: true, force: true }));

function task(name: string): Task {
  return MEZO_TASKS.find((t) => t.name === name)!;
}

function jsonl(file: string, rows: Row[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

const sst2Rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ sentence: `sentence ${i} `, label: i % 2, idx: i }));
const wscRows = (n: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({
    text: `Text ${i}. It fell.`,
    span1_index: 0,
    span2_index: 2,
    span1_text: 'Text',
    span2_text: 'It',
    label: i % 2,
    idx: i,
  }));
const idx = (rows: Row[]): unknown[] => rows.map((r) => r.idx);

describe('MEZO_TASKS', () => {
  test('the eleven tasks with their type, loss, metric and MeZO sizes', () => {
    expect(MEZO_TASKS.map((t) => t.name)).toEqual([...MEZO_TASK_NAMES]);
    const table = Object.fromEntries(
      MEZO_TASKS.map((t) => [t.name, [t.suite, t.type, t.loss, t.metric, t.sizes.train, t.sizes.dev, t.sizes.test]]),
    );
    expect(table).toEqual({
      sst2: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      rte: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      cb: ['mezo', 'classification', 'classification', 'accuracy', 1000, 100, 1000],
      boolq: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      wsc: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      wic: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      multirc: ['mezo', 'classification', 'classification', 'accuracy', 1000, 500, 1000],
      copa: ['mezo', 'multiple-choice', 'lm', 'accuracy', 1000, 100, 1000],
      record: ['mezo', 'multiple-choice', 'lm', 'accuracy', 1000, 500, 1000],
      squad: ['mezo', 'generation', 'lm', 'f1', 1000, 500, 1000],
      drop: ['mezo', 'generation', 'lm', 'f1', 1000, 500, 1000],
    });
    expect(task('wsc').description).toContain('54/500/104');
    for (const t of MEZO_TASKS) expect(t.description).not.toContain('\n');
  });

  test('render uses the MeZO template', () => {
    expect(task('sst2').render({ sentence: 'fine ', label: 1 })).toEqual({
      prompt: 'fine It was',
      options: [' terrible', ' great'],
      label: 1,
    });
  });

  test('the data folder: option, else $ZO_DATA, else ./data', () => {
    const saved = process.env.ZO_DATA;
    try {
      delete process.env.ZO_DATA;
      expect(mezoDataDir()).toBe('data');
      process.env.ZO_DATA = '/tmp/zo-data';
      expect(mezoDataDir()).toBe('/tmp/zo-data');
      expect(mezoDataDir('mine')).toBe('mine');
    } finally {
      if (saved === undefined) delete process.env.ZO_DATA;
      else process.env.ZO_DATA = saved;
    }
  });
});

describe('load', () => {
  beforeAll(() => {
    jsonl(path.join(data, 'sst2', 'train.jsonl'), sst2Rows(30));
    jsonl(
      path.join(data, 'sst2', 'validation.jsonl'),
      sst2Rows(12).map((r) => ({ ...r, idx: 100 + (r.idx as number) })),
    );
    // WSC at its real sizes: 554 train, 104 validation.
    jsonl(path.join(data, 'wsc', 'wsc.fixed', 'train.jsonl'), wscRows(554));
    jsonl(path.join(data, 'wsc', 'wsc.fixed', 'validation.jsonl'), wscRows(104));
  });

  test('sizes, MeZO order and determinism with the seed', async () => {
    const sizes = { train: 6, dev: 4, test: 5 };
    const a = await task('sst2').load({ dataDir: data, trainSetSeed: 0, sizes });
    // np.random.seed(0); np.random.permutation(30)[:10] = [2, 28, 13, 10, 26, 24, 27, 11, 17, 22]
    // np.random.seed(0); np.random.permutation(12)[:5] = [6, 11, 4, 10, 2]
    expect(idx(a.train)).toEqual([2, 28, 13, 10, 26, 24]);
    expect(idx(a.dev)).toEqual([27, 11, 17, 22]);
    expect(idx(a.test)).toEqual([106, 111, 104, 110, 102]);
    expect(await task('sst2').load({ dataDir: data, trainSetSeed: 0, sizes })).toEqual(a);
    const b = await task('sst2').load({ dataDir: data, trainSetSeed: 1, sizes });
    // np.random.seed(1); np.random.permutation(30)[:6] = [17, 21, 10, 19, 14, 20]
    expect(idx(b.train)).toEqual([17, 21, 10, 19, 14, 20]);
  });

  test('defaults shrink to the data: all 12 validation rows, 500 dev would leave nothing → error', async () => {
    const s = await task('sst2').load({ dataDir: data, trainSetSeed: 0, sizes: { dev: 10 } });
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([20, 10, 12]);
    await expect(task('sst2').load({ dataDir: data, trainSetSeed: 0 })).rejects.toThrow(
      'sst2: the train split has 30 rows and dev takes 30 of them, leaving none to train on; ask for a smaller dev size',
    );
  });

  test('WSC quirk at the real split sizes: 54 train / 500 dev / 104 test, the rows MeZO draws', async () => {
    const s = await task('wsc').load({ dataDir: data, trainSetSeed: 0 });
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([54, 500, 104]);
    // np.random.seed(0); np.random.permutation(554)[:5] and np.random.permutation(104)[:5]
    expect(idx(s.train).slice(0, 5)).toEqual([85, 132, 96, 107, 140]);
    expect(idx(s.test).slice(0, 5)).toEqual([26, 61, 2, 62, 85]);
  });

  test('missing files: one line saying where to put what', async () => {
    const err = await task('copa')
      .load({ dataDir: data, trainSetSeed: 0 })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(ZoError);
    expect((err as Error).message).toBe(
      `copa: no folder ${path.join(data, 'copa')} (looked for train.parquet, train.jsonl, train.json, train-00000-of-0000N.parquet or train/0000.parquet, there or one folder down); ` +
        `download the train and validation splits of aps/super_glue copa from https://huggingface.co/datasets/aps/super_glue into ${data}/copa/ (datasets/mezo/README.md)`,
    );
  });

  test('bad data names the split and the HF row index', async () => {
    const rows = sst2Rows(10);
    rows[6] = { sentence: 'broken', idx: 6 }; // no label; permutation(10, seed 0) draws row 6 (perm starts 2, 8, 4, 9, 1, 6)
    jsonl(path.join(data, 'broken', 'sst2', 'train.jsonl'), rows);
    jsonl(path.join(data, 'broken', 'sst2', 'validation.jsonl'), sst2Rows(3));
    await expect(
      task('sst2').load({ dataDir: path.join(data, 'broken'), trainSetSeed: 0, sizes: { train: 8, dev: 2, test: 3 } }),
    ).rejects.toThrow('sst2 train row 6: missing field "label"');
  });
});
