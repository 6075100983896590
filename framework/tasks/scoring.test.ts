/**
 * Every rule of task scoring against hand-computed values or an independent path: the log-probs are
 * recomputed here in float64 from the model's raw logits, so the graph's reductions (weights, means,
 * the cross-entropy) are checked, not trusted.
 */
import { feedsFor, lmBatch, type Batch } from '../engine/batch.js';
import type { Decoder } from '../engine/decoder.js';
import type { Executor, ForwardResult } from '../engine/executor.js';
import { OrtExecutor } from '../engine/ort.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import type { TextTokenizer } from '../models/tokenizer.js';
import {
  encodeExample,
  generate,
  greedy,
  MAX_NEW_TOKENS,
  optionScores,
  packedBatch,
  packOptions,
  predictOptions,
  scoreTask,
  taskLoss,
  truncateLeft,
  type BatchOptions,
  type Encoded,
} from './scoring.js';
import type { Rendered, Task } from './task.js';

const task = (loss: Task['loss'], metric: Task['metric'] = 'accuracy') => ({ name: 'test-task', loss, metric }) as Task;

/**
 * An executor whose log p(target) depends on the target id alone: −id/10. Each row's score is then
 * known by hand from the ids the batch puts on weighted slots.
 */
class UnigramExecutor implements Executor {
  readonly name = 'ort' as const;
  describe = () => 'unigram stub';
  refresh() {}
  async dispose() {}
  async forward(batch: Batch): Promise<ForwardResult> {
    const seqLogProb = new Float32Array(batch.B);
    const seqCount = new Float32Array(batch.B);
    const slotLogProb = new Float32Array(batch.B * batch.S);
    for (let n = 0; n < batch.B * batch.S; n++) {
      const b = Math.floor(n / batch.S);
      slotLogProb[n] = batch.weights[n]! * (-batch.targets[n]! / 10);
      seqLogProb[b]! += slotLogProb[n]!;
      seqCount[b]! += batch.weights[n]!;
    }
    return { loss: NaN, seqLogProb, seqCount, slotLogProb };
  }
}

/** An option row: `prompt` ids then `option` ids, scored on the option. */
const option = (prompt: number[], opt: number[]) => ({ ids: [...prompt, ...opt], optionTokens: opt.length });
const example = (options: { ids: number[]; optionTokens: number }[], label = 0): Encoded => ({
  options,
  label,
  correct: [label],
  prompt: [],
  answers: [],
});
const STUB: BatchOptions = { padId: 0, chunk: 4, maxLen: 64 };

describe('candidate scoring', () => {
  test('the score is the mean option-token log-prob, not the sum', async () => {
    // A: option tokens 3, 3 → mean −0.3, sum −0.6. B: option token 4 → mean −0.4, sum −0.4.
    const e = example([option([1, 2], [3, 3]), option([1, 2], [4])]);
    expect(await predictOptions(new UnigramExecutor(), [e], STUB)).toEqual([0]);
    // C: 2, 9 → mean −0.55; D: 5 → −0.5: now the single token wins.
    const f = example([option([1], [2, 9]), option([1], [5])]);
    expect(await predictOptions(new UnigramExecutor(), [f], STUB)).toEqual([1]);
  });

  test('only option tokens count, not the prompt', async () => {
    // Prompts differ (7 vs 1) but are not scored: options 2 (−0.2) vs 3 (−0.3).
    const e = example([option([7, 7, 7], [2]), option([1], [3])]);
    expect(await predictOptions(new UnigramExecutor(), [e], STUB)).toEqual([0]);
  });

  test('ties go to the first candidate', async () => {
    const tie = example([option([1], [5]), option([2], [5])]);
    const lateTie = example([option([1], [6]), option([1], [4]), option([1], [2, 6])]);
    // lateTie: −0.6, −0.4, −0.4 → the first of the two best, index 1.
    expect(await predictOptions(new UnigramExecutor(), [tie, lateTie], STUB)).toEqual([0, 1]);
  });

  test('a packed row: the prefix once, each tail led by the prefix’s last token, seeing the prefix and itself at its own row’s positions', () => {
    const rows = packOptions(example([option([5, 6, 7], [8, 9]), option([5, 6, 7], [4])]), 64);
    expect(rows.map((r) => r.parts.map((p) => p.ids))).toEqual([
      [
        [5, 6],
        [7, 8, 9],
        [7, 4],
      ],
    ]);
    const { batch, slots } = packedBatch(rows, 0);
    // Slots 0–1 the prefix, 2–4 candidate A (7 predicts 8, 8 predicts 9), 5–6 candidate B (7 predicts 4).
    expect(slots).toEqual([[2, 3], [5]]);
    expect([2, 3, 5].map((n) => batch.targets[n])).toEqual([8, 9, 4]);
    expect(Array.from(batch.weights.slice(0, 7))).toEqual([0, 0, 1, 1, 0, 1, 0]);
    for (const [name, offset] of [
      ['llama', 0],
      ['opt', 2],
    ] as const) {
      const m = loadModel(fixtureDir(name));
      const f = feedsFor(m.family, m.config, batch);
      expect(Array.from(f.positions.slice(0, 7))).toEqual([0, 1, 2, 3, 4, 2, 3].map((p) => p + offset));
      const sees = (i: number) => [...Array(batch.S).keys()].filter((j) => f.mask[i * batch.S + j] === 0);
      expect([0, 1, 2, 3, 4, 5, 6].map(sees)).toEqual([[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 5], [0, 1, 5, 6]]);
    }
    // Padding slots take position 0's id, inside any learned position table.
    expect(feedsFor(loadModel(fixtureDir('opt')).family, loadModel(fixtureDir('opt')).config, batch).positions[7]).toBe(2);
    // Prompts that part early (left truncation can do that): only what every candidate shares is shared,
    expect(packOptions(example([option([5, 6, 7], [8]), option([5, 6, 9, 7], [4])]), 64)[0]!.parts.map((p) => p.ids)).toEqual([
      [5],
      [6, 7, 8],
      [6, 9, 7, 4],
    ]);
    // and where that is nothing, each candidate keeps a row of its own.
    expect(packOptions(example([option([5, 6, 7], [8]), option([1, 9, 7], [4])]), 64).map((r) => r.parts.map((p) => p.ids))).toEqual([
      [[5, 6, 7, 8]],
      [[1, 9, 7, 4]],
    ]);
    // Longer than the row allows: a row per candidate, as before.
    expect(packOptions(example([option([5, 6, 7], [8, 9]), option([5, 6, 7], [4])]), 6).map((r) => r.parts.map((p) => p.ids))).toEqual([
      [[5, 6, 7, 8, 9]],
      [[5, 6, 7, 4]],
    ]);
  });

  test('examples in several chunks keep their order', async () => {
    const es = [3, 1, 2, 0, 1].map((best) => example([0, 1, 2, 3].map((c) => option([1], [c === best ? 1 : 8]))));
    expect(await predictOptions(new UnigramExecutor(), es, { ...STUB, chunk: 2 })).toEqual([3, 1, 2, 0, 1]);
  });
});

/** log p(ids[t] | ids[<t]) for the last `n` tokens of each row, in float64 from raw logits. */
async function tailLogProbs(exec: OrtExecutor, model: LoadedModel, rows: { ids: number[]; n: number }[]): Promise<number[][]> {
  const batch = lmBatch(
    rows.map((r) => r.ids),
    0,
  );
  const { logits } = await exec.forward(batch, { logits: true });
  const V = model.config.vocabSize;
  return rows.map((r, b) =>
    Array.from({ length: r.n }, (_, k) => {
      const t = r.ids.length - r.n + k; // the token scored, predicted from slot t − 1
      const row = logits!.subarray((b * batch.S + t - 1) * V, (b * batch.S + t) * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      return row[r.ids[t]!]! - max - Math.log(sum);
    }),
  );
}

describe('task losses on the llama fixture, against float64 recomputation from its logits', () => {
  let model: LoadedModel;
  let exec: OrtExecutor;
  const o = (): BatchOptions => ({ padId: 0, chunk: 32, maxLen: 128 });
  beforeAll(() => {
    model = loadModel(fixtureDir('llama'));
    exec = new OrtExecutor(model, { threads: 1 });
  });
  afterAll(() => exec.dispose());

  const encode = (t: Task, r: Rendered) => encodeExample(t, r, model.tokenizer, 128, 'test');

  test('classification: cross-entropy over the candidates’ mean option-token log-probs', async () => {
    const rendered: Rendered[] = [
      { prompt: 'The movie was fun. It was', options: [' terrible', ' great'], label: 1 },
      { prompt: 'Is the sky green?\n', options: ['Yes', 'No', 'Maybe so'], label: 2 },
      { prompt: 'I loved every minute. It was', options: [' terrible', ' great'], label: 0 },
    ];
    // Two tasks of two and three candidates: a batch holds one candidate count.
    for (const group of [[rendered[0]!, rendered[2]!], [rendered[1]!]]) {
      const examples = group.map((r) => encode(task('classification'), r));
      // The candidates really differ in length, so a sum would rank them differently than a mean.
      expect(new Set(examples.flatMap((e) => e.options.map((x) => x.optionTokens))).size).toBeGreaterThan(1);
      let expected = 0;
      for (const e of examples) {
        const lps = await tailLogProbs(
          exec,
          model,
          e.options.map((x) => ({ ids: x.ids, n: x.optionTokens })),
        );
        const scores = lps.map((lp) => lp.reduce((a, b) => a + b, 0) / lp.length);
        const max = Math.max(...scores);
        const logZ = max + Math.log(scores.reduce((a, s) => a + Math.exp(s - max), 0));
        expected += (logZ - scores[e.label]!) / examples.length;
      }
      expect(await taskLoss(exec, task('classification'), examples, o())).toBeCloseTo(expected, 5);
    }
  });

  test('scoreTask on a classification task: the loss and predictions of taskLoss and predictOptions, in half the passes', async () => {
    const rendered: Rendered[] = [
      { prompt: 'The movie was fun. It was', options: [' terrible', ' great'], label: 1 },
      { prompt: 'I loved every minute. It was', options: [' terrible', ' great'], label: 0 },
      { prompt: 'A dull, slow film. It was', options: [' terrible', ' great'], label: 0 },
    ];
    const t = task('classification');
    const examples = rendered.map((r) => encode(t, r));
    const chunked = { ...o(), chunk: 2 };
    let passes = 0;
    const counting = { forward: (b: Batch, opts?: object) => (passes++, exec.forward(b, opts)) } as unknown as Executor;
    const separate = { loss: await taskLoss(exec, t, examples, chunked), predictions: await predictOptions(exec, examples, chunked) };
    const r = await scoreTask(counting, t, model.tokenizer, examples, chunked);
    expect(r.loss).toBe(separate.loss);
    expect(r.predictions).toEqual(separate.predictions);
    expect(r.score).toBe(separate.predictions.filter((p, i) => p === examples[i]!.label).length / 3);
    // Two chunks of candidate rows, each run once: the separate path runs each twice.
    expect(passes).toBe(2);
  });

  test.each(['llama', 'opt', 'gpt2'] as const)(
    '%s: candidates packed one row per example score as a row each does (float64 from its logits), also where a row falls back',
    async (family) => {
      const m = family === 'llama' ? model : loadModel(fixtureDir(family));
      const ex = family === 'llama' ? exec : new OrtExecutor(m, { threads: 1 });
      const rendered: Rendered[] = [
        { prompt: 'The movie was fun. It was', options: [' terrible', ' great'], label: 1 },
        { prompt: 'Is the sky green?\n', options: ['Yes', 'No', 'Maybe so'], label: 2 },
        // A prompt ending in a space: each option merges with it, so the shared prefix stops earlier.
        { prompt: 'My favourite colour is ', options: ['blue', 'green', 'a deep red'], label: 0 },
      ];
      const examples = rendered.map((r) => encodeExample(task('classification'), r, m.tokenizer, 128, 'test'));
      const want: number[][] = [];
      for (const e of examples) {
        const lps = await tailLogProbs(
          ex as OrtExecutor,
          m,
          e.options.map((x) => ({ ids: x.ids, n: x.optionTokens })),
        );
        want.push(lps.map((lp) => lp.reduce((a, b) => a + b, 0) / lp.length));
      }
      // 128 packs every example, 1 none; the shortest packed row's length packs that example alone.
      const lengths = examples.map((e) => packOptions(e, 128)[0]!.parts.reduce((n, p) => n + p.ids.length, 0));
      expect(new Set(lengths).size).toBe(3);
      for (const maxLen of [128, 1, Math.min(...lengths)])
        for (const chunk of [1, 3]) {
          const got = await optionScores(ex, examples, { padId: 0, chunk, maxLen });
          got.forEach((scores, i) => scores.forEach((s, c) => expect(s).toBeCloseTo(want[i]![c]!, 5)));
        }
      // A candidate listed twice scores exactly as its first copy (packed at another place in the row
      // it could differ in the last bit), so argmax keeps the first, as a row each did.
      const twice = examples.map((e) => ({ ...e, options: [...e.options, ...e.options] }));
      for (const scores of await optionScores(ex, twice, { padId: 0, chunk: 3, maxLen: 128 })) {
        const C = scores.length / 2;
        expect(scores.slice(C)).toEqual(scores.slice(0, C));
      }
      if (ex !== exec) await ex.dispose();
    },
  );

  test('lm: the next-token loss on the answer tokens only, averaged per token', async () => {
    const rendered: Rendered[] = [
      { prompt: 'Passage: In May, 508 died.\nQuestion: How many?\nAnswer:', answers: ['508'], target: ' 508\n' },
      {
        prompt: 'Title: x\nContext: Salt Lake City is the capital of Utah.\nQuestion: What is the capital of Utah?\nAnswer:',
        answers: ['Salt Lake City'],
        target: ' Salt Lake City\n',
      },
    ];
    const examples = rendered.map((r) => encode(task('lm', 'f1'), r));
    const lps = await tailLogProbs(
      exec,
      model,
      examples.map((e) => ({ ids: e.lm!.ids, n: e.lm!.targetTokens })),
    );
    const tokens = lps.flat();
    expect(tokens.length).toBe(examples[0]!.lm!.targetTokens + examples[1]!.lm!.targetTokens);
    const expected = -tokens.reduce((a, b) => a + b, 0) / tokens.length;
    expect(await taskLoss(exec, task('lm', 'f1'), examples, o())).toBeCloseTo(expected, 5);
  });

  test('the answer’s tokens are those after what the prompt’s own encoding shares', () => {
    const tok = model.tokenizer;
    // "Answer:" + " 508\n": nothing merges, so the count is MeZO's len(prompt+answer) − len(prompt).
    const plain = encode(task('lm', 'f1'), { prompt: 'Answer:', answers: ['508'], target: ' 508\n' });
    expect(plain.lm!.targetTokens).toBe(tok.encode('Answer: 508\n').length - tok.encode('Answer:').length);
    // "It was " + "great": the prompt ends in a lone " " token that " g…" replaces. By hand, with this
    // fixture's 1000 BPE merges: "It was " → [BOS, I, t, " was", " "], "It was great" → [BOS, I, t,
    // " was", " g", "re", "at"]: four shared ids, three answer tokens (MeZO's formula would say two).
    expect(tok.encode('It was ')).toEqual([1000, 40, 83, 574, 220]);
    expect(tok.encode('It was great')).toEqual([1000, 40, 83, 574, 342, 265, 266]);
    const merged = encode(task('classification'), { prompt: 'It was ', options: ['great', 'bad'], label: 0 });
    expect(merged.options[0]).toEqual({ ids: [1000, 40, 83, 574, 342, 265, 266], optionTokens: 3 });
    // Generation continues from where the trained target starts: without the merged-away " ".
    const gen = encode(task('lm', 'f1'), { prompt: 'It was ', answers: ['great'], target: 'great\n' });
    expect(gen.prompt).toEqual([1000, 40, 83, 574]);
  });
});

test('a continuation that adds no token is one error naming the example', () => {
  // A tokenizer whose normaliser drops "~" (byte-level BPE never drops anything, so this needs a stub).
  const tok = { addsBos: false, encode: (s: string) => [...s.replace(/~/g, '')].map((c) => c.codePointAt(0)!) } as unknown as TextTokenizer;
  expect(() => encodeExample(task('classification'), { prompt: 'ab', options: [' c', '~'], label: 0 }, tok, 64, 'dev row 4')).toThrow(
    'dev row 4: candidate 1: "~" tokenizes to nothing after the prompt',
  );
});

describe('left truncation', () => {
  test('keeps the last tokens, and a BOS in front only when asked', () => {
    const ids = [100, 1, 2, 3, 4, 5];
    expect(truncateLeft(ids, 4, false)).toEqual([2, 3, 4, 5]);
    expect(truncateLeft(ids, 4, true)).toEqual([100, 3, 4, 5]);
    expect(truncateLeft(ids, 6, true)).toEqual(ids);
  });

  test('a tokenizer that adds BOS keeps it; one that does not keeps only the tail', () => {
    const long = `${'word '.repeat(300)}end`;
    const llama = loadModel(fixtureDir('llama')).tokenizer;
    const gpt2 = loadModel(fixtureDir('gpt2')).tokenizer;
    expect([llama.addsBos, gpt2.addsBos]).toEqual([true, false]);
    const r: Rendered = { prompt: long, options: [' yes', ' no'], label: 0 };
    const a = encodeExample(task('classification'), r, llama, 32, 'test').options[0]!;
    const fullA = llama.encode(long + ' yes');
    expect(a.ids).toEqual([llama.bosId, ...fullA.slice(fullA.length - 31)]);
    // GPT-2's <|endoftext|> doubles as its bos_token, but the tokenizer never adds it: a text that
    // happens to start with it is cut like any other.
    const g = encodeExample(task('classification'), { ...r, prompt: `<|endoftext|>${long}` }, gpt2, 32, 'test').options[0]!;
    const fullG = gpt2.encode(`<|endoftext|>${long} yes`);
    expect(fullG[0]).toBe(gpt2.bosId);
    expect(g.ids).toEqual(fullG.slice(fullG.length - 32));
  });

  test('a generation prompt keeps 50 tokens of room for the answer (MeZO’s max_length − 50)', () => {
    const llama = loadModel(fixtureDir('llama')).tokenizer;
    const prompt = `Passage: ${'word '.repeat(300)}\nAnswer:`;
    const e = encodeExample(task('lm', 'f1'), { prompt, answers: ['x'], target: ' x\n' }, llama, 128, 'test');
    const full = llama.encode(prompt);
    expect(e.prompt).toEqual([llama.bosId, ...full.slice(full.length - (128 - MAX_NEW_TOKENS - 1))]);
    expect(() => encodeExample(task('lm', 'f1'), { prompt, answers: ['x'], target: ' x\n' }, llama, 50, 'test row 3')).toThrow(
      'test row 3: a max length of 50 tokens leaves no room for a prompt and 50 generated tokens',
    );
  });
});

/** A decoder that plays each row's script of token ids, one per call, and records what it was given. */
function scripted(tok: TextTokenizer, scripts: number[][]) {
  const seen = { maxNew: -1, appends: [] as number[][] };
  let step = 0;
  const logits = () => {
    const V = tok.vocabSize;
    const out = new Float32Array(scripts.length * V);
    scripts.forEach((s, b) => (out[b * V + s[Math.min(step, s.length - 1)]!] = 1));
    step++;
    return out;
  };
  const decoder: Decoder = {
    start: async (_prompts, maxNew) => {
      seen.maxNew = maxNew;
      return logits();
    },
    append: async (tokens) => {
      seen.appends.push([...tokens]);
      return logits();
    },
    dispose: async () => {},
  };
  return { decoder, seen };
}

describe('greedy decoding', () => {
  let tok: TextTokenizer;
  let ids: { a: number; b: number; nl: number; dotNl: number; nlNl: number; eos: number };
  beforeAll(() => {
    tok = loadModel(fixtureDir('llama')).tokenizer;
    const one = (s: string) => {
      const x = tok.encode(s, { addSpecialTokens: false });
      expect(x).toHaveLength(1);
      return x[0]!;
    };
    ids = { a: one(' a'), b: one(' b'), nl: one('\n'), dotNl: one('.\n'), nlNl: one('\n\n'), eos: tok.eosId! };
  });

  test('at most 50 new tokens', async () => {
    const { decoder, seen } = scripted(tok, [[ids.a]]);
    const [out] = await greedy(decoder, tok, [[1, 2, 3]], 2048);
    expect(out).toHaveLength(MAX_NEW_TOKENS);
    expect(seen.maxNew).toBe(50);
    expect(seen.appends).toHaveLength(49); // the 50th token needs no forward pass after it
  });

  test('fewer when the row would pass the model’s length', async () => {
    const { decoder } = scripted(tok, [[ids.a]]);
    const [out] = await greedy(decoder, tok, [Array.from({ length: 120 }, () => 5)], 128);
    expect(out).toHaveLength(8);
  });

  test('stops at a newline token, at EOS, and keeps what precedes a newline inside a merged token', async () => {
    const { decoder, seen } = scripted(tok, [
      [ids.a, ids.b, ids.nl, ids.a],
      [ids.b, ids.eos, ids.a],
      [ids.a, ids.dotNl, ids.a],
      [ids.nlNl, ids.a],
      [ids.a, ids.a, ids.a, ids.b, ids.nl],
    ]);
    const out = await greedy(decoder, tok, [[1], [1], [1], [1], [1]], 2048);
    expect(out).toEqual([[ids.a, ids.b], [ids.b], [ids.a, ids.dotNl], [], [ids.a, ids.a, ids.a, ids.b]]);
    expect(seen.appends).toHaveLength(4); // until the last row stops, at step 5
  });

  test('generate() decodes each continuation up to its newline, without special tokens, trimmed', async () => {
    const { decoder } = scripted(tok, [
      [ids.a, ids.b, ids.nl],
      [ids.a, ids.dotNl],
      [ids.b, tok.bosId!, ids.a, ids.nl], // a special token in the middle decodes to nothing
    ]);
    const exec = { decoder: () => decoder } as unknown as Executor;
    expect(await generate(exec, tok, [[1], [1], [1]], { padId: 0, chunk: 8, maxLen: 2048 })).toEqual(['a b', 'a.', 'b a']);
  });
});
