import { ZoError } from '../../framework/core/errors.js';
import type { Rendered, Row, Splits } from '../../framework/tasks/task.js';
import { emailPassage } from './tiny-boolq.js';
import { months, questions, type Month } from './tiny-drop.js';
import { clip, nearDuplicates, packageDir, permutation, splitEntities, withoutNearDuplicates, wordSet, type TinyTask } from './common.js';
import { TINY_TASKS } from './index.js';
import { nameInText, places, placesIn } from './places.js';
import { SCHEMAS, schemaOf } from './tiny-wsc.js';

// Load times, measured (not asserted) for each task's first load in a node process on this 2-core
// machine: tiny-sentiment 80 ms, tiny-cb 70 ms, tiny-boolq 1.9 s (it reads and cleans 6046
// SpamAssassin email files), tiny-copa 30 ms, tiny-wsc 20 ms, tiny-squad 40 ms, tiny-drop 2 ms.
// Later loads reuse the entities and only rebuild the rows (a few ms).

const byName = (name: string): TinyTask => TINY_TASKS.find((t) => t.name === name)!;
const all = (s: Splits): Row[] => [...s.train, ...s.dev, ...s.test];
/** What the model sees of a row: two rows with the same key are the same example. */
const key = (r: Rendered) => JSON.stringify([r.prompt, r.options ?? r.answers]);
/** Every row a split's entities give. */
const WHOLE = { train: 1e9, dev: 1e9, test: 1e9 };

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

    test('loads offline at its default sizes, for any seed', async () => {
      for (const trainSetSeed of [42, 0, 0xffffffff]) {
        const s = trainSetSeed === 42 ? splits() : await task.load({ trainSetSeed });
        expect([s.train.length, s.dev.length, s.test.length]).toEqual([task.sizes.train, task.sizes.dev, task.sizes.test]);
      }
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

    /** Rows with what decides their answers. */
    const keyed = (rows: Row[]) => rows.map((row) => ({ row, keys: task.content(row) }));
    type Keyed = ReturnType<typeof keyed>;
    /** The rows of `held` that share a content key with `seen` or, for free text, are near-duplicates of one. */
    const sharing = (held: Keyed, seen: Keyed): Keyed => {
      const keys = new Set(seen.flatMap((r) => r.keys));
      const sets = [...keys].map(wordSet);
      // Checked pair by pair here; the build finds near-duplicates by prefix filtering.
      const near = (k: string) => {
        if (!task.textContent) return false;
        const w = wordSet(k);
        return sets.some((t) => nearDuplicates(w, t));
      };
      return held.filter((r) => r.keys.some((k) => keys.has(k) || near(k)));
    };

    test('no dev or test row shares what decides its answer with a train row (nor test with dev), for several seeds', async () => {
      for (const trainSetSeed of [0, 42, 0xffffffff]) {
        const s = await task.load({ trainSetSeed, sizes: WHOLE });
        const [train, dev, test] = [keyed(s.train), keyed(s.dev), keyed(s.test)];
        // A content function that found nothing would pass vacuously.
        expect([...train, ...dev, ...test].filter((r) => r.keys.length === 0)).toEqual([]);
        expect(sharing(dev, train)).toEqual([]);
        expect(sharing(test, [...train, ...dev])).toEqual([]);
      }
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

  // The first test row of each task, rendered: MeZO's template for the counterpart, string for string,
  // and what decides its answer.
  test.each<[string, Rendered, string[]]>([
    [
      'tiny-sentiment',
      {
        prompt:
          'The interplay between Martin and Emilio contains the same wonderful chemistry we saw in Wall Street with Martin and Charlie. It was',
        options: [' terrible', ' great'],
        label: 1,
      },
      ['The interplay between Martin and Emilio contains the same wonderful chemistry we saw in Wall Street with Martin and Charlie.'],
    ],
    [
      'tiny-cb',
      {
        prompt:
          'Suppose Gabon is governed from its capital, Libreville. Can we infer that "Gabon has its capital in Libreville"? Yes, No, or Maybe?\n',
        options: ['Yes', 'No', 'Maybe'],
        label: 0,
      },
      ['Gabon'],
    ],
    [
      'tiny-boolq',
      {
        prompt:
          'Subject: 2000 Year old bread recipe actually helps you lose weight! Hunza Bread Hunza Bread Home made Hunza Bread is a simple, delicious and nutritious bread Is this a genuine message?\n',
        options: ['Yes', 'No'],
        label: 1,
      },
      [
        'Subject: 2000 Year old bread recipe actually helps you lose weight! Hunza Bread Hunza Bread Home made Hunza Bread is a simple, delicious and nutritious bread',
        '2000 Year old bread recipe actually helps you lose weight!',
        'Hunza Bread Hunza Bread Home made Hunza Bread is a simple, delicious and nutritious bread',
      ],
    ],
    [
      'tiny-copa',
      {
        prompt: 'It was quite comfortable in the ear so',
        options: [' I would recommend it.', ' I would not recommend it.'],
        label: 0,
        target: ' I would recommend it.',
      },
      ['It was quite comfortable in the ear.'],
    ],
    [
      'tiny-wsc',
      {
        prompt:
          'Dagny corrected Wylie because he was a teacher.\nIn the previous sentence, does the pronoun "he" refer to Wylie? Yes or No?\n',
        options: ['No', 'Yes'],
        label: 0,
      },
      ['{A} corrected {B} because {p} was {x}.'],
    ],
    [
      'tiny-squad',
      {
        prompt:
          'Title: Capital_city\nContext: City of San Marino is the capital of San Marino. Tennessee is governed from Nashville. Beijing is the capital of China.\nQuestion: What is the capital of China?\nAnswer:',
        answers: ['Beijing'],
        target: ' Beijing\n',
      },
      ['Tennessee', 'China', 'San Marino'],
    ],
    [
      'tiny-drop',
      {
        prompt:
          'Passage: In April 1854, 1 soldier died of disease, 0 of wounds and 5 of other causes. In February 1855, 2120 died of disease, 42 of wounds and 361 of other causes.\nQuestion: In which month did more soldiers die of disease?\nAnswer:',
        answers: ['February 1855'],
        target: ' February 1855\n',
      },
      ['April 1854', 'February 1855'],
    ],
  ])("%s renders its first test row with its MeZO counterpart's template", (name, expected, content) => {
    const task = byName(name);
    const row = loads.get(name)!.test[0]!;
    expect(task.render(row)).toEqual(expected);
    expect(task.content(row)).toEqual(content);
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

  test('SQuAD writes "the" where a name takes it, and the answer is the name alone', async () => {
    const s = await byName('tiny-squad').load({ trainSetSeed: 0, sizes: WHOLE });
    const gambia = all(s).find((r) => r.question === 'Which country or territory has Banjul as its capital?')!;
    expect(gambia.context).toMatch(/(the capital of the Gambia|The Gambia is governed from Banjul)/);
    expect((gambia.answers as { text: string[] }).text).toEqual(['Gambia']);
  });

  test('every DROP answer follows from the numbers of its passage, recomputed here from the text', () => {
    const counts = (passage: string) =>
      new Map(
        [...passage.matchAll(/In (\w+ \d{4}), (\d+) (?:soldiers? )?died of disease, (\d+) of wounds and (\d+) of other causes\./g)].map(
          (m) => [m[1]!, { disease: Number(m[2]), wounds: Number(m[3]), other: Number(m[4]) } as Record<string, number>],
        ),
      );
    const cause = (of: string) => ({ 'of disease': 'disease', 'of wounds': 'wounds', 'of other causes': 'other' })[of]!;
    const wrong: string[] = [];
    for (const row of all(loads.get('tiny-drop')!)) {
      const m = counts(row.passage as string);
      const [a, b] = [...m.keys()];
      const q = row.question as string;
      let r: RegExpExecArray | null;
      let answer: string | number;
      if ((r = /^How many soldiers died (of .+) in the two months combined\?$/.exec(q)))
        answer = m.get(a!)![cause(r[1]!)]! + m.get(b!)![cause(r[1]!)]!;
      else if ((r = /^How many more soldiers died (of [a-z ]+) in (\w+ \d{4}) than in (\w+ \d{4})\?$/.exec(q)))
        answer = m.get(r[2]!)![cause(r[1]!)]! - m.get(r[3]!)![cause(r[1]!)]!;
      else if ((r = /^How many soldiers died in (\w+ \d{4}) in total\?$/.exec(q)))
        answer = Object.values(m.get(r[1]!)!).reduce((x, y) => x + y);
      else if ((r = /^How many more soldiers died (of [a-z ]+) than (of [a-z ]+) in (\w+ \d{4})\?$/.exec(q)))
        answer = m.get(r[3]!)![cause(r[1]!)]! - m.get(r[3]!)![cause(r[2]!)]!;
      else if ((r = /^In which month did more soldiers die (of .+)\?$/.exec(q)))
        answer = m.get(a!)![cause(r[1]!)]! > m.get(b!)![cause(r[1]!)]! ? a! : b!;
      else answer = `unparsed question: ${q}`;
      const spans = (row.answers_spans as { spans: string[] }).spans;
      if (m.size !== 2 || spans.length !== 1 || spans[0] !== String(answer)) wrong.push(`${q} → ${spans[0]} (recomputed ${answer})`);
    }
    expect(wrong).toEqual([]);
  });

  test('DROP: every way the seed can draw the 4 dev months leaves at least the default sizes', () => {
    const drop = byName('tiny-drop');
    const { test, dev, train } = splitEntities('tiny-drop', months(), drop.split, 0);
    const rest = [...dev, ...train];
    const count = (ms: Month[]) => ms.reduce((n, a, i) => n + ms.slice(i + 1).reduce((m, b) => m + questions(a, b).length, 0), 0);
    expect(count(test)).toBeGreaterThanOrEqual(drop.sizes.test);
    let [fewestDev, fewestTrain, draws] = [Infinity, Infinity, 0];
    const choose = (from: number, picked: Month[]): void => {
      if (picked.length === drop.split.dev) {
        draws++;
        fewestDev = Math.min(fewestDev, count(picked));
        fewestTrain = Math.min(fewestTrain, count(rest.filter((m) => !picked.includes(m))));
        return;
      }
      for (let i = from; i < rest.length; i++) choose(i + 1, [...picked, rest[i]!]);
    };
    choose(0, []);
    expect([draws, fewestDev, fewestTrain]).toEqual([1820, 66, 838]); // the card's numbers
    expect(drop.sizes.dev).toBeLessThanOrEqual(fewestDev);
    expect(drop.sizes.train).toBeLessThanOrEqual(fewestTrain);
  });

  test('WSC span indices point at the words of the text', () => {
    for (const row of all(loads.get('tiny-wsc')!)) {
      const words = (row.text as string).split(' ');
      expect(words[row.span1_index as number]).toBe(row.span1_text);
      expect(words[row.span2_index as number]).toBe(row.span2_text);
    }
  });

  test('WSC: every deciding word belongs to one schema only, and a sentence finds its schema', () => {
    const words = SCHEMAS.flatMap(([, a, b]) => [a, b]);
    expect(words.filter((w, i) => words.indexOf(w) !== i)).toEqual([]);
    expect(new Set(SCHEMAS.map(([s]) => s)).size).toBe(SCHEMAS.length);
    expect(schemaOf('Ann could not lift Joan because she was too heavy.')).toBe('{A} could not lift {B} because {p} was too {x}.');
    expect(() => schemaOf('Ann could not lift Joan because she was too tired.')).toThrow(/no schema/);
  });

  test('places: the US states and countries, none of whose names or capitals holds another', () => {
    const ps = places('tiny-x');
    expect(ps.filter((p) => p.kind === 'state')).toHaveLength(49);
    expect(ps.length).toBeGreaterThan(250);
    const find = (name: string) => ps.filter((p) => p.name === name).map((p) => p.capital);
    expect(find('Georgia')).toEqual(['Atlanta']); // the state; the country (Tbilisi) would be ambiguous
    expect(find('Mexico')).toEqual([]); // "Mexico" is held in "New Mexico"
    expect(find('United States')).toEqual([]); // "Washington D.C." holds the state of Washington
    expect(find('West Virginia')).toEqual([]); // holds "Virginia"
    expect(find('Kuwait')).toEqual(['Kuwait City']); // a name held in its own capital is fine
    const words = (s: string) => ` ${(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).join(' ')} `;
    const texts = ps.flatMap((p, i) => [p.name, p.capital].map((t) => ({ t: words(t), i })));
    const clashes = texts.flatMap((x) => texts.filter((y) => y.i !== x.i && x.t.includes(y.t)).map((y) => `${x.t} holds ${y.t}`));
    expect(clashes).toEqual([]);
    expect(placesIn('Kuwait City is the capital of Kuwait. Boise is in Idaho.', ps).map((p) => p.name)).toEqual(['Idaho', 'Kuwait']);
    expect(nameInText(ps.find((p) => p.name === 'Gambia')!)).toBe('the Gambia');
    expect(
      nameInText(
        ps.find((p) => p.name === 'Netherlands')!,
        true,
      ),
    ).toBe('The Netherlands');
    expect(
      nameInText(
        ps.find((p) => p.name === 'Idaho')!,
        true,
      ),
    ).toBe('Idaho');
  });

  test('an email passage is its subject and the opening words of its plain body', () => {
    const raw =
      'From: a@b.c\nSubject: [ILUG] Hello\n  there\nContent-Type: text/plain\n\n> quoted line\nHi all, the meeting moved to <b>Tuesday</b> at noon, see http://x.y/z and bring your notes please.\n';
    expect(emailPassage(raw)).toBe('Subject: Hello there. Hi all, the meeting moved to Tuesday at noon, see and bring your notes please.');
    expect(emailPassage(raw.replace('[ILUG] Hello\n  there', '(no subject)'))).toBe(
      'Hi all, the meeting moved to Tuesday at noon, see and bring your notes please.',
    );
    expect(emailPassage('Subject: x\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0g=\n')).toBeNull();
  });

  test('clip cuts at a word boundary', () => {
    expect(clip('one two three', 9)).toBe('one two');
    expect(clip('one two', 20)).toBe('one two');
  });
});

describe('near-duplicates', () => {
  test("three quarters of the longer text's words in common, case and punctuation aside", () => {
    expect(nearDuplicates(wordSet('Will not be back.'), wordSet('Will NOT be back!'))).toBe(true);
    expect(nearDuplicates(wordSet('I rather enjoyed it.'), wordSet('I enjoyed it'))).toBe(true); // 3 of 4
    expect(nearDuplicates(wordSet('Not what I wanted at all.'), wordSet('Just what I wanted.'))).toBe(false); // 3 of 6
  });

  test('withoutNearDuplicates keeps the first of each linked group, any text against any text', () => {
    const items = [
      { id: 0, texts: ['Will not be back.'] },
      { id: 1, texts: ['Great food and service.'] },
      { id: 2, texts: ['will not be back!!!'] },
      { id: 3, texts: ['great food and awesome service', 'Another text.'] }, // 4 of 5 with id 1
      { id: 4, texts: ['something else entirely', 'another text'] }, // its second text is id 3's second
      { id: 5, texts: ['The battery died after a week.'] },
    ];
    expect(withoutNearDuplicates(items, (x) => x.texts).map((x) => x.id)).toEqual([0, 1, 5]);
  });

  test('on real sentences, the kept ones hold no near-duplicate pair (checked pair by pair)', async () => {
    const s = await byName('tiny-sentiment').load({ trainSetSeed: 0, sizes: WHOLE });
    const sets = all(s).map((r) => wordSet(r.sentence as string));
    const pairs: number[][] = [];
    for (let i = 0; i < sets.length; i++)
      for (let j = i + 1; j < sets.length; j++) if (nearDuplicates(sets[i]!, sets[j]!)) pairs.push([i, j]);
    expect(pairs).toEqual([]);
  });
});

describe('loading', () => {
  test('a missing data package is a ZoError saying what to install', () => {
    expect(() => packageDir('tiny-x', { name: 'zo-no-such-data-package', version: '1.2.3' })).toThrow(ZoError);
    expect(() => packageDir('tiny-x', { name: 'zo-no-such-data-package', version: '1.2.3' })).toThrow(
      /npm install zo-no-such-data-package@1\.2\.3/,
    );
  });

  test('a package whose exports hide its package.json is found', () => {
    expect(packageDir('tiny-x', { name: 'countries-list', version: '3.4.1' })).toMatch(/node_modules\/countries-list$/);
  });

  test("requested sizes are honoured, and capped at what a split's entities give", async () => {
    const cb = byName('tiny-cb');
    const small = await cb.load({ trainSetSeed: 1, sizes: { train: 10, dev: 5, test: 3 } });
    expect([small.train.length, small.dev.length, small.test.length]).toEqual([10, 5, 3]);
    expect(small.test).toEqual((await cb.load({ trainSetSeed: 1 })).test.slice(0, 3));
    // 8 test months give 28 passages; 4 dev months only 6.
    const drop = await byName('tiny-drop').load({ trainSetSeed: 0, sizes: WHOLE });
    expect(new Set(drop.test.map((r) => r.section_id)).size).toBe(28);
    expect(new Set(drop.dev.map((r) => r.section_id)).size).toBe(6);
    expect(new Set(drop.train.map((r) => r.section_id)).size).toBe(66);
  });

  test('splitEntities deals each entity to one split: test fixed by the task, dev and train by the seed', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const a = splitEntities('x', items, { test: 5, dev: 3 }, 0);
    expect([a.train.length, a.dev.length, a.test.length]).toEqual([12, 3, 5]);
    expect([...a.train, ...a.dev, ...a.test].sort((x, y) => x - y)).toEqual(items);
    const b = splitEntities('x', items, { test: 5, dev: 3 }, 1);
    expect(b.test).toEqual(a.test);
    expect(b.dev).not.toEqual(a.dev);
    expect(splitEntities('y', items, { test: 5, dev: 3 }, 0).test).not.toEqual(a.test);
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
