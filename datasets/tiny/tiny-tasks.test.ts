import { ZoError } from '../../framework/errors.js';
import type { Rendered, Row, Splits, Task } from '../../framework/tasks/task.js';
import { emailPassage } from './tiny-boolq.js';
import { clip, drawSplits, packageDir, permutation } from './common.js';
import { TINY_TASKS } from './index.js';

// Load times, measured (not asserted) for each task's first load in a node process on this 2-core
// machine, warm to cold file cache: tiny-sentiment 20–60 ms, tiny-cb 5–15 ms, tiny-boolq 1.0–2.0 s
// (it reads and cleans 6046 SpamAssassin email files), tiny-copa 10–20 ms, tiny-wsc 10–30 ms,
// tiny-squad 20–50 ms, tiny-drop 20–90 ms. Later loads reuse the built rows (about 1 ms).

const byName = (name: string): Task => TINY_TASKS.find((t) => t.name === name)!;
const all = (s: Splits): Row[] => [...s.train, ...s.dev, ...s.test];
/** What the model sees of a row: two rows with the same key are the same example. */
const key = (r: Rendered) => JSON.stringify([r.prompt, r.options ?? r.answers]);

const loads = new Map<string, Splits>();
let realFetch: typeof globalThis.fetch;

beforeAll(async () => {
  // Any network use while loading fails the load.
  realFetch = globalThis.fetch;
  globalThis.fetch = () => Promise.reject(new Error('tiny tasks must not use the network'));
  for (const t of TINY_TASKS) loads.set(t.name, await t.load({ trainSetSeed: 42 }));
});

afterAll(() => {
  globalThis.fetch = realFetch;
});

describe('the tiny suite', () => {
  test('one task per paper task type, in suite "tiny"', () => {
    expect(TINY_TASKS.map((t) => [t.name, t.type, t.loss, t.metric])).toEqual([
      ['tiny-sentiment', 'classification', 'classification', 'accuracy'],
      ['tiny-cb', 'classification', 'classification', 'accuracy'],
      ['tiny-boolq', 'classification', 'classification', 'accuracy'],
      ['tiny-copa', 'multiple-choice', 'lm', 'accuracy'],
      ['tiny-wsc', 'classification', 'classification', 'accuracy'],
      ['tiny-squad', 'generation', 'lm', 'f1'],
      ['tiny-drop', 'generation', 'lm', 'f1'],
    ]);
    for (const t of TINY_TASKS) expect(t.suite).toBe('tiny');
    expect(byName('tiny-wsc').description).toMatch(/SYNTHETIC/);
  });

  describe.each(TINY_TASKS.map((t) => [t.name, t] as const))('%s', (_name, task) => {
    const splits = () => loads.get(task.name)!;

    test('loads offline at its default sizes', () => {
      const s = splits();
      expect([s.train.length, s.dev.length, s.test.length]).toEqual([task.sizes.train, task.sizes.dev, task.sizes.test]);
    });

    test('splits are disjoint, with no repeated example inside one', () => {
      const keys = all(splits()).map((r) => key(task.render(r)));
      expect(new Set(keys).size).toBe(keys.length);
    });

    test('splits are deterministic for a seed; another seed draws another train/dev, same test', async () => {
      const again = await task.load({ trainSetSeed: 42 });
      expect(again).toEqual(splits());
      const other = await task.load({ trainSetSeed: 43 });
      expect(other.test).toEqual(splits().test);
      expect(other.train).not.toEqual(splits().train);
      expect(other.dev).not.toEqual(splits().dev);
    });

    test('every row renders: a short non-empty prompt, labels in range or non-empty answers', () => {
      // Collects what is wrong instead of one expect per row: thousands of expects are slow under jest.
      const bad: string[] = [];
      for (const row of all(splits())) {
        const r = task.render(row);
        const ok =
          r.prompt.trim().length > 0 &&
          r.prompt.length <= 300 &&
          (task.type === 'generation'
            ? r.answers!.length > 0 && r.answers!.every((a) => a.trim().length > 0) && r.target === ` ${r.answers![0]}\n`
            : r.options!.length >= 2 &&
              Number.isInteger(r.label) &&
              r.label! >= 0 &&
              r.label! < r.options!.length &&
              (task.loss !== 'lm' || r.target === r.options![r.label!]));
        if (!ok) bad.push(JSON.stringify(r));
      }
      expect(bad).toEqual([]);
    });

    if (task.type !== 'generation') {
      test('classes are roughly balanced', () => {
        const labels = all(splits()).map((row) => task.render(row).label!);
        const k = task.render(splits().test[0]!).options!.length;
        for (let c = 0; c < k; c++) {
          const share = labels.filter((l) => l === c).length / labels.length;
          expect(share).toBeGreaterThan(0.7 / k);
          expect(share).toBeLessThan(1.3 / k);
        }
      });
    }

    test('a bad row is a ZoError naming the task and the field', () => {
      expect(() => task.render({ idx: 7 })).toThrow(ZoError);
      expect(() => task.render({ idx: 7 })).toThrow(new RegExp(`^${task.name} row 7: missing field`));
    });
  });

  // The first test row of each task, rendered: MeZO's template for the counterpart, string for string.
  test.each<[string, Rendered]>([
    [
      'tiny-sentiment',
      {
        prompt: 'Everything on the menu is terrific and we were also thrilled that they made amazing accommodations for our vegetarian daughter. It was',
        options: [' terrible', ' great'],
        label: 1,
      },
    ],
    [
      'tiny-cb',
      {
        prompt: 'Suppose The state government of Indiana sits in Indianapolis. Can we infer that "Olympia is the capital of Indiana"? Yes, No, or Maybe?\n',
        options: ['Yes', 'No', 'Maybe'],
        label: 1,
      },
    ],
    [
      'tiny-boolq',
      {
        prompt:
          'Subject: Free moneyZDVIJO. On January 1st 2002, the European countries began using the new Euro. Never before have so many countries with such powerful Is this email spam?\n',
        options: ['Yes', 'No'],
        label: 0,
      },
    ],
    [
      'tiny-copa',
      {
        prompt: 'I would not recommend it because',
        options: [' voice recognition is tremendous.', ' this is essentially a communications tool that does not communicate.'],
        label: 1,
        target: ' this is essentially a communications tool that does not communicate.',
      },
    ],
    [
      'tiny-wsc',
      {
        prompt: 'Vaughn visited Sanson in hospital because he was ill.\nIn the previous sentence, does the pronoun "he" refer to Vaughn? Yes or No?\n',
        options: ['No', 'Yes'],
        label: 0,
      },
    ],
    [
      'tiny-squad',
      {
        prompt:
          'Title: U.S._state_capitals\nContext: The capital of Utah is Salt Lake City. The capital of Illinois is Springfield. North Dakota is governed from Bismarck.\nQuestion: What is the capital of Illinois?\nAnswer:',
        answers: ['Springfield'],
        target: ' Springfield\n',
      },
    ],
    [
      'tiny-drop',
      {
        prompt:
          'Passage: In May 1855, 508 soldiers died of disease, 49 of wounds and 37 of other causes. In March 1856, 15 died of disease, 0 of wounds and 35 of other causes.\nQuestion: How many more soldiers died of disease in May 1855 than in March 1856?\nAnswer:',
        answers: ['493'],
        target: ' 493\n',
      },
    ],
  ])('%s renders its first test row with its MeZO counterpart\'s template', (name, expected) => {
    const task = byName(name);
    expect(task.render(loads.get(name)!.test[0]!)).toEqual(expected);
  });
});

describe('task data', () => {
  test('SQuAD answers are spans of the context at answer_start', () => {
    for (const row of all(loads.get('tiny-squad')!)) {
      const { text, answer_start } = row.answers as { text: string[]; answer_start: number[] };
      const context = row.context as string;
      expect(context.slice(answer_start[0], answer_start[0]! + text[0]!.length)).toBe(text[0]);
    }
  });

  test('a DROP answer is computed from the real numbers of its passage (508 - 15)', () => {
    const row = loads.get('tiny-drop')!.test[0]!;
    expect(row.passage).toContain('508 soldiers died of disease');
    expect(row.passage).toContain('15 died of disease');
    expect(row.answers_spans).toEqual({ spans: ['493'], types: ['number'] });
  });

  test('WSC span indices point at the words of the text', () => {
    for (const row of all(loads.get('tiny-wsc')!)) {
      const words = (row.text as string).split(' ');
      expect(words[row.span1_index as number]).toBe(row.span1_text);
      expect(words[row.span2_index as number]).toBe(row.span2_text);
    }
  });

  test('an email passage is its subject and the opening words of its plain body', () => {
    const raw = 'From: a@b.c\nSubject: [ILUG] Hello\n  there\nContent-Type: text/plain\n\n> quoted line\nHi all, the meeting moved to <b>Tuesday</b> at noon, see http://x.y/z and bring your notes please.\n';
    expect(emailPassage(raw)).toBe('Subject: Hello there. Hi all, the meeting moved to Tuesday at noon, see and bring your notes please.');
    expect(emailPassage('Subject: x\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0g=\n')).toBeNull();
  });

  test('clip cuts at a word boundary', () => {
    expect(clip('one two three', 9)).toBe('one two');
    expect(clip('one two', 20)).toBe('one two');
  });
});

describe('loading', () => {
  test('a missing data package is a ZoError saying what to install', () => {
    expect(() => packageDir('tiny-x', { name: 'zo-no-such-data-package', version: '1.2.3' })).toThrow(ZoError);
    expect(() => packageDir('tiny-x', { name: 'zo-no-such-data-package', version: '1.2.3' })).toThrow(/npm install zo-no-such-data-package@1\.2\.3/);
  });

  test('requested sizes are honoured, and shrink train first past what the data holds', async () => {
    const cb = byName('tiny-cb');
    const small = await cb.load({ trainSetSeed: 1, sizes: { train: 10, dev: 5, test: 3 } });
    expect([small.train.length, small.dev.length, small.test.length]).toEqual([10, 5, 3]);
    const rows = Array.from({ length: 20 }, (_, i) => ({ i }));
    const s = drawSplits('x', rows, { train: 100, dev: 4, test: 10 }, 0);
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([6, 4, 10]);
  });

  test('a bad seed or size is a ZoError', async () => {
    const cb = byName('tiny-cb');
    await expect(cb.load({ trainSetSeed: -1 })).rejects.toThrow(/train set seed/);
    await expect(cb.load({ trainSetSeed: 0, sizes: { dev: 1.5 } })).rejects.toThrow(/dev size/);
  });

  test('permutation is a deterministic shuffle of 0..n-1', () => {
    const p = permutation(100, 5);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(permutation(100, 5)).toEqual(p);
    expect(permutation(100, 6)).not.toEqual(p);
  });
});
