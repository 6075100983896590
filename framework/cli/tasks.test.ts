import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureDir } from '../models/fixtures.js';
import { loadCustomTask } from '../tasks/custom.js';
import { taskNamed } from '../../datasets/registry.js';
import type { LoadOptions, Row, Splits } from '../tasks/task.js';
import { readJsonl, zo } from './testing.js';
import { evaluate } from '../runs/evaluate.js';
import { encodeSplit } from '../tasks/problem.js';
import { loadModel } from '../models/load.js';

/** A custom sentiment task: YAML next to JSONL, as a user would write it. */
function customTask(overrides: Record<string, unknown> = {}, rows?: { train?: string; dev?: string; test?: string }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-custom-'));
  const lines = (n: number, k: number) =>
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        text: `${(i + k) % 2 ? 'I loved this film' : 'A dull and boring film'} number ${i}.`,
        label: (i + k) % 2 ? 'great' : 'terrible',
      }),
    ).join('\n');
  fs.writeFileSync(path.join(dir, 'train.jsonl'), rows?.train ?? lines(24, 0));
  fs.writeFileSync(path.join(dir, 'dev.jsonl'), rows?.dev ?? lines(8, 1));
  fs.writeFileSync(path.join(dir, 'test.jsonl'), rows?.test ?? lines(8, 0));
  const spec = {
    name: 'my-sentiment',
    train: 'train.jsonl',
    dev: 'dev.jsonl',
    test: 'test.jsonl',
    template: '{text} It was',
    candidates: ['terrible', 'great'],
    labelField: 'label',
    loss: 'classification',
    metric: 'accuracy',
    ...overrides,
  };
  const yaml = Object.entries(spec)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n');
  const file = path.join(dir, 'task.yaml');
  fs.writeFileSync(file, yaml + '\n');
  return file;
}

function expectOneLineError(r: { code: number; stderr: string }, ...fragments: string[]): void {
  expect(r.code).toBe(2);
  const last = r.stderr.trimEnd().split('\n').at(-1)!;
  expect(last).toMatch(/^zo: /);
  for (const f of fragments) expect(last).toContain(f);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('custom tasks from a file', () => {
  test('a YAML task with JSONL data runs end to end with mezo and reports the task summary', async () => {
    const file = customTask();
    const out = path.join(path.dirname(file), 'run');
    const r = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      '--task-file',
      file,
      '--optimizer',
      'mezo',
      '--lr',
      '1e-3',
      '--steps',
      '20',
      '--eval-every',
      '10',
      '--batch-size',
      '4',
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(s.task).toBe('my-sentiment');
    expect(s.metric).toBe('accuracy');
    for (const k of ['zeroShotDev', 'devBest', 'test']) expect(s[k]).toBeGreaterThanOrEqual(0);
    for (const k of ['zeroShotDev', 'devBest', 'test']) expect(s[k]).toBeLessThanOrEqual(1);
    expect(s.finalTrainLoss).toBeGreaterThan(0);
    expect([10, 20]).toContain(s.bestStep);
    expect(fs.existsSync(path.join(out, 'best.safetensors'))).toBe(true);
    const devLines = readJsonl(path.join(out, 'metrics.jsonl')).filter((l) => 'devLoss' in l);
    expect(devLines.map((l) => l.step)).toEqual([9, 19]);
    expect(Math.min(...devLines.map((l) => l.devLoss))).toBeCloseTo(s.devBestLoss, 10);
  });

  test('zo eval scores a custom task zero-shot', async () => {
    const r = await zo('eval', '--model', fixtureDir('gpt2'), '--task-file', customTask(), '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.examples).toBe(8);
    expect(out.metric).toBe('accuracy');
    // The test rows are lines(8, 0): row i is 'great' (option 1) when i is odd. The accuracy is the
    // share of the library's predicted options that match.
    const file = customTask();
    const { predictions } = await evaluate(fixtureDir('gpt2'), loadCustomTask(file), { split: 'test' });
    expect(predictions).toHaveLength(8);
    const right = predictions.filter((p, i) => p === i % 2).length;
    expect(out.score).toBe(right / 8);
  });

  test('a generation task (answerField, F1) evaluates by greedy decoding, scored row by row', async () => {
    const qa = (answers: readonly string[]) =>
      answers.map((answer, i) => JSON.stringify({ question: `What is ${i} plus one?`, answer })).join('\n');
    const spec = {
      template: 'Question: {question}\nAnswer:',
      candidates: undefined,
      labelField: undefined,
      answerField: 'answer',
      loss: 'lm',
      metric: 'f1',
    };
    const numbers = Array.from({ length: 6 }, (_, i) => String(i + 1));
    const first = customTask(spec, { train: qa(numbers), dev: qa(numbers), test: qa(numbers) });
    // The random fixture's greedy continuations (the prompts alone decide them), through the library.
    const { predictions } = await evaluate(fixtureDir('opt'), loadCustomTask(first), { split: 'test' });
    expect(predictions).toHaveLength(6);
    for (const p of predictions) expect(p).toMatch(/[a-z0-9]/i);
    // Gold = a row's own continuation on even rows (F1 1), a word it never says on odd ones (F1 0):
    // the mean is 1/2 only if each row is scored against its own answers.
    const gold = predictions.map((p, i) => (i % 2 === 0 ? String(p) : 'zzqx'));
    for (const p of predictions) expect(String(p)).not.toMatch(/zzqx/i);
    const file = customTask(spec, { train: qa(numbers), dev: qa(gold), test: qa(gold) });
    const r = await zo('eval', '--model', fixtureDir('opt'), '--task-file', file, '--json');
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.metric).toBe('f1');
    expect(out.examples).toBe(6);
    expect(out.score).toBeCloseTo(0.5, 12);
    expect(out.loss).toBeGreaterThan(0);
  });

  describe('bad input: one line naming the file, row or field', () => {
    const model = ['--model', fixtureDir('llama')];
    test('a data file that is missing', async () => {
      const file = customTask({ dev: 'nope.jsonl' });
      expectOneLineError(await zo('eval', ...model, '--task-file', file), 'nope.jsonl', 'missing');
    });
    test('a data file that is empty', async () => {
      expectOneLineError(await zo('eval', ...model, '--task-file', customTask({}, { test: '\n' })), 'test.jsonl', 'empty');
    });
    test('malformed JSON on line N', async () => {
      expectOneLineError(
        await zo('eval', ...model, '--task-file', customTask({}, { dev: '{"text": "ok", "label": "great"}\n{"text": oops}\n' })),
        'dev.jsonl: line 2: invalid JSON',
      );
    });
    test('a label outside the candidates', async () => {
      expectOneLineError(
        await zo('eval', ...model, '--task-file', customTask({}, { train: '{"text": "fine", "label": "meh"}\n' })),
        'train.jsonl: line 1',
        'label "meh" is not one of the candidates',
      );
    });
    test('a template placeholder with no such field', async () => {
      expectOneLineError(
        await zo('eval', ...model, '--task-file', customTask({ template: '{sentence} It was' })),
        'train.jsonl: line 1',
        'placeholder {sentence} has no such field',
      );
    });
    test.each([
      ['null', '{"text": null, "label": 1}', 'field text is null, not text'],
      ['an object', '{"text": {"a": 1}, "label": 1}', 'field text is object, not text'],
      ['no label field', '{"text": "fine"}', 'no field label (labelField; fields: text)'],
    ])('a row whose field is %s', async (_what, row, message) => {
      expectOneLineError(await zo('eval', ...model, '--task-file', customTask({}, { train: row + '\n' })), 'train.jsonl: line 1', message);
    });
    test('a null answer', async () => {
      const file = customTask(
        { template: 'Q: {q}\nA:', candidates: undefined, labelField: undefined, answerField: 'a', loss: 'lm', metric: 'f1' },
        { train: '{"q": "x", "a": null}\n', dev: '{"q": "x", "a": "y"}\n', test: '{"q": "x", "a": "y"}\n' },
      );
      expectOneLineError(await zo('eval', ...model, '--task-file', file), 'train.jsonl: line 1', 'a is missing or empty');
    });
    test('a candidate that merges with the template’s trailing space is scored, not refused', async () => {
      // After a trailing space, " a" is one byte-level BPE token that replaces the space token: that
      // token is the candidate's (framework/tasks/scoring.test.ts checks the count by hand).
      const file = customTask(
        { template: '{text} It was ', candidates: ['terrible', 'a'] },
        { train: '{"text": "fine", "label": 1}\n', dev: '{"text": "ok", "label": 0}\n', test: '{"text": "ok", "label": 0}\n' },
      );
      const r = await zo('eval', ...model, '--task-file', file, '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ task: 'my-sentiment', examples: 1 });
    });
    test('a task file that fails its schema', async () => {
      const file = customTask({ loss: 'regression' });
      expectOneLineError(await zo('eval', ...model, '--task-file', file), 'task.yaml', 'loss');
    });
  });
});

describe('zo tasks', () => {
  test('--json lists every task with suite, type, metric and sizes', async () => {
    const r = await zo('tasks', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; suite: string; type: string; metric: string }[];
    const names = rows.map((x) => x.name);
    for (const n of ['sst2', 'rte', 'cb', 'boolq', 'wsc', 'wic', 'multirc', 'copa', 'record', 'squad', 'drop']) expect(names).toContain(n);
    expect(rows.filter((x) => x.suite === 'tiny')).toHaveLength(7);
    const squad = rows.find((x) => x.name === 'squad')!;
    expect([squad.suite, squad.type, squad.metric]).toEqual(['mezo', 'generation', 'f1']);
  });
});

describe('zo tasks --export', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'zo-export-'));
  /** The three files an export wrote, parsed back. */
  const readExport = (dir: string): Splits => {
    expect(fs.readdirSync(dir).sort()).toEqual(['dev.jsonl', 'test.jsonl', 'train.jsonl']);
    const read = (split: string) =>
      fs
        .readFileSync(path.join(dir, `${split}.jsonl`), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Row);
    return { train: read('train'), dev: read('dev'), test: read('test') };
  };
  const load = (name: string, opts: LoadOptions) => taskNamed(name).load(opts);

  test('a tiny task: the files hold exactly the rows task.load gives, for the seed and sizes asked', async () => {
    const out = path.join(tmp(), 'cb');
    const r = await zo(
      'tasks',
      '--export',
      'tiny-cb',
      '--out',
      out,
      '--train-set-seed',
      '3',
      '--train-size',
      '40',
      '--dev-size',
      '10',
      '--test-size',
      '20',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tiny-cb: wrote 40 train, 10 dev and 20 test rows (train set seed 3)');
    const rows = readExport(out);
    expect(rows).toStrictEqual(await load('tiny-cb', { trainSetSeed: 3, sizes: { train: 40, dev: 10, test: 20 } }));
    expect(Object.keys(rows.test[0]!).sort()).toEqual(['hypothesis', 'idx', 'label', 'premise']);
  });

  test('a tiny task at its default sizes, into an empty folder that exists', async () => {
    const out = tmp();
    const r = await zo('tasks', '--export', 'tiny-drop', '--out', out, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ task: 'tiny-drop', out, trainSetSeed: 0, rows: { train: 800, dev: 60, test: 350 } });
    expect(readExport(out)).toStrictEqual(await load('tiny-drop', { trainSetSeed: 0 }));
  });

  test('a MeZO task, from the data files under --data-dir', async () => {
    const data = tmp();
    fs.mkdirSync(path.join(data, 'sst2'));
    const sst2 = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ sentence: `sentence ${from + i} `, label: i % 2, idx: from + i })).join('\n');
    fs.writeFileSync(path.join(data, 'sst2', 'train.jsonl'), sst2(30, 0));
    fs.writeFileSync(path.join(data, 'sst2', 'validation.jsonl'), sst2(12, 100));
    const out = path.join(tmp(), 'sst2');
    const sizes = ['--train-size', '8', '--dev-size', '4', '--test-size', '6'];
    const r = await zo('tasks', '--export', 'sst2', '--data-dir', data, '--train-set-seed', '1', ...sizes, '--out', out);
    expect(r.stderr).toBe('');
    expect(readExport(out)).toStrictEqual(await load('sst2', { dataDir: data, trainSetSeed: 1, sizes: { train: 8, dev: 4, test: 6 } }));
  });

  test('a custom task file; and an exported tiny task reads back as a custom task', async () => {
    const file = customTask();
    const out = path.join(tmp(), 'mine');
    const r = await zo('tasks', '--export', '--task-file', file, '--out', out);
    expect(r.stderr).toBe('');
    expect(readExport(out)).toStrictEqual(await loadCustomTask(file).load({ trainSetSeed: 0 }));

    const sentiment = path.join(tmp(), 'sentiment');
    expect((await zo('tasks', '--export', 'tiny-sentiment', '--out', sentiment, '--test-size', '16')).code).toBe(0);
    const yaml = path.join(sentiment, 'task.yaml');
    fs.writeFileSync(
      yaml,
      'name: my-sentiment\ntrain: train.jsonl\ndev: dev.jsonl\ntest: test.jsonl\ntemplate: "{sentence} It was"\ncandidates: [terrible, great]\nlabelField: label\nloss: classification\nmetric: accuracy\n',
    );
    const again = await loadCustomTask(yaml).load({ trainSetSeed: 0 });
    expect(again.test).toStrictEqual((await load('tiny-sentiment', { trainSetSeed: 0, sizes: { test: 16 } })).test);
    const tiny = taskNamed('tiny-sentiment');
    expect(again.test.map((row) => loadCustomTask(yaml).render(row))).toStrictEqual(again.test.map((row) => tiny.render(row)));
  });

  describe('bad input: one line, and nothing written', () => {
    test('an unknown task', async () => {
      const out = path.join(tmp(), 'x');
      expectOneLineError(await zo('tasks', '--export', 'tiny-nope', '--out', out), 'unknown task "tiny-nope"');
      expect(fs.existsSync(out)).toBe(false);
    });
    test('a folder that already holds files', async () => {
      const out = tmp();
      fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb', '--out', out), `--out ${out} already holds 1 entry (notes.txt)`);
      expect(fs.readdirSync(out)).toEqual(['notes.txt']);
      expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    });
    test('--out is a file, or lies under one', async () => {
      const file = path.join(tmp(), 'f');
      fs.writeFileSync(file, 'x');
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb', '--out', file), 'is a file');
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb', '--out', path.join(file, 'sub')), `${file} is a file, not a folder`);
      expect(fs.readFileSync(file, 'utf8')).toBe('x');
    });
    test('a MeZO task whose files are missing', async () => {
      const parent = tmp();
      const data = tmp();
      expectOneLineError(
        await zo('tasks', '--export', 'rte', '--data-dir', data, '--out', path.join(parent, 'rte')),
        `rte: no folder ${path.join(data, 'rte')}`,
      );
      expect(fs.readdirSync(parent)).toEqual([]);
    });
    test('no --out, no task, or both a name and a task file', async () => {
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb'), '--export needs --out DIR');
      expectOneLineError(await zo('tasks', '--export', '--out', path.join(tmp(), 'x')), '--export needs a task name');
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb', '--task-file', 'x.yaml', '--out', path.join(tmp(), 'x')), 'not both');
      expectOneLineError(await zo('tasks', '--out', path.join(tmp(), 'x')), '--task-file and --out are for exporting');
    });
    test('a bad size', async () => {
      const out = path.join(tmp(), 'x');
      expectOneLineError(await zo('tasks', '--export', 'tiny-cb', '--dev-size', '-1', '--out', out), '--dev-size -1');
      expect(fs.existsSync(out)).toBe(false);
    });
  });
});

/** A score in [0, 1]; an accuracy over n examples is also a count of them over n. */
function expectScore(metric: string, score: number, n: number): void {
  expect(['accuracy', 'f1']).toContain(metric);
  expect(score).toBeGreaterThanOrEqual(0);
  expect(score).toBeLessThanOrEqual(1);
  if (metric === 'accuracy') expect(score * n).toBeCloseTo(Math.round(score * n), 9);
}

describe('zo eval: bad flags are one line, before any model is loaded', () => {
  const base = ['eval', '--model', fixtureDir('llama'), '--task', 'tiny-copa'];
  test.each([
    [['--limit', '-5'], '--limit -5: must be a whole number ≥ 1'],
    [['--limit', '0'], '--limit 0: must be a whole number ≥ 1'],
    [['--limit', 'abc'], '--limit: expected a number'],
    [['--limit', '1.5'], '--limit 1.5: must be a whole number ≥ 1'],
    [['--max-len', '1'], '--max-len 1: must be a whole number ≥ 2'],
    [['--max-len', 'abc'], '--max-len: expected a number'],
    [['--test-size', '-1'], '--test-size -1: must be a whole number ≥ 0'],
    [['--test-size', '0'], 'task tiny-copa: the test split is empty'],
    [['--task-file', 'x.yaml'], 'give exactly one of --task NAME or --task-file FILE'],
  ])('%j', async (flags, message) => {
    expectOneLineError(await zo(...base, ...flags), message);
  });

  test('a max length of 1 token is refused by the library too, naming the example', () => {
    const task = taskNamed('tiny-copa');
    const rows = [{ premise: 'The man fell.', choice1: 'He slipped.', choice2: 'He won.', question: 'cause', label: 0 }];
    expect(() => encodeSplit(task, loadModel(fixtureDir('llama')), rows as never, 'dev', 1)).toThrow(
      /tiny-copa dev row 1: candidate 0: a max length of 1 token leaves no room for a prompt token before the answer/,
    );
  });
});

describe('the offline tiny suite on a fixture model', () => {
  const TINY = ['tiny-sentiment', 'tiny-cb', 'tiny-boolq', 'tiny-copa', 'tiny-wsc', 'tiny-squad', 'tiny-drop'];
  // Small splits: these check the plumbing of every task type, not the scores of a random model.
  const sizes = ['--train-size', '24', '--dev-size', '12', '--test-size', '12'];

  test.each(TINY)('%s: zo eval gives a zero-shot score', async (task) => {
    const r = await zo('eval', '--model', fixtureDir('llama'), '--task', task, ...sizes, '--json');
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.examples).toBe(12);
    expectScore(out.metric, out.score, 12);
    expect(Number.isFinite(out.loss)).toBe(true);
  });

  test.each(TINY)('%s: zo run --optimizer mezo runs and reports dev and test', async (task) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `zo-${task}-`)), 'run');
    const r = await zo(
      'run',
      '--model',
      fixtureDir('qwen2'),
      '--task',
      task,
      '--optimizer',
      'mezo',
      '--lr',
      '1e-4',
      '--steps',
      '4',
      '--eval-every',
      '2',
      '--batch-size',
      '4',
      ...sizes,
      '--out',
      out,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(s.task).toBe(task);
    expect([2, 4]).toContain(s.bestStep);
    for (const k of ['zeroShotDev', 'devBest', 'test']) expectScore(s.metric, s[k], 12);
    const devLosses = readJsonl(path.join(out, 'metrics.jsonl')).flatMap((l) => ('devLoss' in l ? [l.devLoss as number] : []));
    expect(devLosses).toHaveLength(2);
    expect(s.devBestLoss).toBe(Math.min(...devLosses));
  });
});
