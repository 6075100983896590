import { checkCells, compareValues, fails, junitXml, shownVerdict, type BaselineRow } from './check.js';
import type { Cell } from './expand.js';
import type { Row } from './results.js';

const VALUES = { final_train_loss: 2, dev_loss: 2.5, dev_metric: 0.6, test_metric: 0.55, zero_shot_dev: 0.5 };
type Values = typeof VALUES;

const baseRow = (v: Partial<Values> = {}, id: Partial<BaselineRow> = {}): BaselineRow => ({
  cell: '0123456789abcdef',
  model: 'm',
  task: 't',
  optimizer: 'mezo',
  seed: '0',
  lr: '0.001',
  eps: '0.001',
  steps: '10',
  ...Object.fromEntries(Object.entries({ ...VALUES, ...v }).map(([k, x]) => [k, Number.isNaN(x) ? '' : String(x)])),
  ...id,
});
const nowRow = (v: Partial<Values> = {}, cell = '0123456789abcdef') => ({ ...VALUES, ...v, cell, wall_s: 1 }) as unknown as Row;
const tol = (loss = 0, metric = 0) => ({ loss, metric });
const verdict = (v: Partial<Values>, t = tol()) => compareValues(baseRow(), nowRow(v), t).verdict;

describe('compareValues: the verdict of one cell', () => {
  test('equal values are the same; a lower loss or a higher metric is better', () => {
    expect(verdict({})).toBe('same');
    expect(verdict({ final_train_loss: 1.9 })).toBe('better');
    expect(verdict({ test_metric: 0.6 })).toBe('better');
  });

  test('at tolerance 0 any worse value regresses; within a tolerance it is worse, beyond it regressed', () => {
    expect(verdict({ final_train_loss: 2 + 1e-12 })).toBe('regressed');
    expect(verdict({ test_metric: 0.54 })).toBe('regressed');
    expect(verdict({ final_train_loss: 2.05 }, tol(0.1))).toBe('worse');
    expect(verdict({ final_train_loss: 2.2 }, tol(0.1))).toBe('regressed');
    // Each kind has its own tolerance: a loss tolerance does not excuse a metric.
    expect(verdict({ dev_metric: 0.5 }, tol(1))).toBe('regressed');
    expect(verdict({ dev_metric: 0.5 }, tol(0, 0.2))).toBe('worse');
    // One worse value outweighs a better one.
    expect(verdict({ final_train_loss: 1, dev_loss: 2.6 }, tol(0.5))).toBe('worse');
  });

  test('a value that became NaN regressed whatever the tolerance; NaN on both sides is the same', () => {
    expect(verdict({ final_train_loss: NaN }, tol(1e9))).toBe('regressed');
    expect(compareValues(baseRow({ dev_loss: NaN }), nowRow({ dev_loss: NaN }), tol()).verdict).toBe('same');
    expect(compareValues(baseRow({ dev_loss: NaN }), nowRow(), tol()).verdict).toBe('better');
  });

  test('beyond: any move past the tolerance either way, which --strict fails on', () => {
    const better = compareValues(baseRow(), nowRow({ final_train_loss: 1.5 }), tol(0.1));
    expect(better).toMatchObject({ verdict: 'better', beyond: true });
    const id = { cell: 'c', model: 'm', task: 't', optimizer: 'mezo', seed: 0, lr: 1, changes: [] };
    expect(fails({ ...id, ...better }, false)).toBe(false);
    expect(fails({ ...id, ...better }, true)).toBe(true);
    // Shown as "changed" where --strict fails it, in the table and in the JUnit failure's type.
    expect(shownVerdict({ ...id, ...better }, true)).toBe('changed');
    expect(shownVerdict({ ...id, ...better }, false)).toBe('better');
    expect(junitXml('g', [{ ...id, ...better }], true, 0)).toContain('<failure type="changed"');
    const slight = compareValues(baseRow(), nowRow({ final_train_loss: 1.95 }), tol(0.1));
    expect(slight).toMatchObject({ verdict: 'better', beyond: false });
    expect(fails({ ...id, ...slight }, true)).toBe(false);
  });
});

const cell = (hash: string, optimizer: string, lr: number): Cell =>
  ({
    hash,
    model: 'models/m',
    task: 't',
    method: optimizer,
    optimizer,
    seed: 0,
    steps: 10,
    hyperparameters: { lr, eps: 0.001 },
  }) as unknown as Cell;

describe('checkCells: matching by hash', () => {
  test('an unmatched cell pairs with the one unmatched baseline row of its (model, task, method, seed), naming the setting', () => {
    const [c] = checkCells([cell('aaaaaaaaaaaaaaaa', 'mezo', 0.1)], [nowRow({}, 'aaaaaaaaaaaaaaaa')], [baseRow()], tol(), new Map());
    expect(c).toMatchObject({ verdict: 'same', settings: ['lr 0.001 → 0.1'], baselineCell: '0123456789abcdef' });
    expect(fails(c!, false)).toBe(true);
  });

  test('without a unique partner a cell is new and the row missing; a cell without a row failed', () => {
    const rows = [baseRow(), baseRow({}, { cell: '1111111111111111', lr: '0.01' })];
    const cells = [cell('aaaaaaaaaaaaaaaa', 'mezo', 0.1), cell('bbbbbbbbbbbbbbbb', 'zo-adam', 0.1)];
    const out = checkCells(cells, [nowRow({}, 'aaaaaaaaaaaaaaaa')], rows, tol(), new Map([['bbbbbbbbbbbbbbbb', 'out of memory']]));
    expect(out.map((x) => [x.cell, x.verdict])).toEqual([
      ['aaaaaaaaaaaaaaaa', 'new'],
      ['bbbbbbbbbbbbbbbb', 'failed'],
      ['0123456789abcdef', 'missing'],
      ['1111111111111111', 'missing'],
    ]);
    expect(out[1]!.message).toBe('out of memory');
  });
});
