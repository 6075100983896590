/**
 * Trains a GPT-2-style byte-level BPE tokenizer and writes it as a Hugging Face tokenizer.json, so a
 * pretrained model's tokenizer goes through exactly the loader real checkpoints use (loadTokenizer).
 *
 * Layout of the vocabulary (ids):
 *   0..255      the 256 single bytes, in byte order, spelled with GPT-2's byte→unicode table, so any
 *               UTF-8 text encodes (byte fallback is built in, no unk token);
 *   256..V−2    merged tokens, in the order they were learned;
 *   V−1         `<|endoftext|>`, the one special token: bos = eos = unk (as GPT-2). There is no pad
 *               token (again as GPT-2): batches pad with eos under a zero attention mask.
 */
import { ZoError } from '../core/errors.js';
import { byteLevelBpeFiles, byteToUnicode } from '../models/byte-level-bpe.js';

export { byteToUnicode };

export const END_OF_TEXT = '<|endoftext|>';

/** GPT-2's pre-tokenizer split, the same regex as the ByteLevel pre-tokenizer of HF tokenizers. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The pre-token words of a text, as GPT-2 splits them (before the byte mapping). */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_SPLIT) ?? [];
}

export interface BpeModel {
  /** Token spellings (byte-level unicode), indexed by id; the last is END_OF_TEXT. */
  tokens: string[];
  /** Learned merges in rank order, as pairs of token spellings. */
  merges: [string, string][];
}

export interface BpeTrainOptions {
  /** Final vocabulary size, special token included (≥ 257). */
  vocabSize: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
}

// Pair keys pack two ids into one number; ids stay below 2^21 (a vocab of two million).
const SHIFT = 2 ** 21;

/**
 * Learns merges from texts: words are counted once (pre-tokenized, as bytes), then merged over the
 * word-frequency table with incremental pair counts, so each merge touches only the words holding
 * its pair. The most frequent pair wins; ties go to the smaller (left id, right id), so the result
 * depends only on the texts. A merge whose spelling already exists (reached by another split) reuses
 * that token's id, as the HF encoder maps spellings, not merge paths, to ids.
 */
export function trainBpe(texts: Iterable<string>, opts: BpeTrainOptions): BpeModel {
  const { vocabSize } = opts;
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize >= SHIFT)
    throw new ZoError(`vocab size ${vocabSize}: must be an integer from 257 (256 bytes + ${END_OF_TEXT}) up`);

  const wordCounts = new Map<string, number>();
  for (const text of texts) for (const w of preTokenize(text)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);

  // Words as mutable id arrays (a length alongside, as merging shrinks them).
  const encoder = new TextEncoder();
  const words: Int32Array[] = [];
  const lens: number[] = [];
  const freq: number[] = [];
  // Sorted so the word table (and so every set iteration below) is independent of the texts' order.
  for (const w of [...wordCounts.keys()].sort()) {
    const bytes = encoder.encode(w);
    words.push(Int32Array.from(bytes));
    lens.push(bytes.length);
    freq.push(wordCounts.get(w)!);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number) => {
    const w = words[wi]!;
    const f = freq[wi]! * sign;
    for (let i = 0; i + 1 < lens[wi]!; i++) {
      const key = w[i]! * SHIFT + w[i + 1]!;
      const c = (pairCount.get(key) ?? 0) + f;
      // Counts that fall to zero would only slow the scan for the best pair.
      if (c === 0) pairCount.delete(key);
      else pairCount.set(key, c);
      if (sign > 0) {
        let s = pairWords.get(key);
        if (!s) pairWords.set(key, (s = new Set()));
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  const byteChars = byteToUnicode();
  const tokens = [...byteChars];
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const merges: [string, string][] = [];

  while (tokens.length < vocabSize - 1) {
    let best = -1;
    let bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (bestCount < minFrequency) break; // nothing left worth merging: a smaller vocab than asked
    const a = Math.floor(best / SHIFT);
    const b = best % SHIFT;
    const spelling = tokens[a]! + tokens[b]!;
    let id = idOf.get(spelling);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(spelling);
      idOf.set(spelling, id);
    }
    merges.push([tokens[a]!, tokens[b]!]);

    for (const wi of pairWords.get(best)!) {
      addPairs(wi, -1);
      const w = words[wi]!;
      let out = 0;
      for (let i = 0; i < lens[wi]!;) {
        if (i + 1 < lens[wi]! && w[i] === a && w[i + 1] === b) {
          w[out++] = id;
          i += 2;
        } else w[out++] = w[i++]!;
      }
      lens[wi] = out;
      addPairs(wi, 1);
    }
    pairWords.delete(best);
  }
  tokens.push(END_OF_TEXT);
  return { tokens, merges };
}

/**
 * Our own encoder for a trained model (no special-token splitting): the reference the HF loader is
 * tested against. Each word applies the lowest-ranked merge present, leftmost first, until none is.
 */
export function bpeEncoder(model: BpeModel): (text: string) => number[] {
  const idOf = new Map(model.tokens.map((t, i) => [t, i]));
  const rank = new Map<number, number>();
  model.merges.forEach(([a, b], r) => {
    const key = idOf.get(a)! * SHIFT + idOf.get(b)!;
    if (!rank.has(key)) rank.set(key, r);
  });
  const encoder = new TextEncoder();
  const cache = new Map<string, number[]>();
  const encodeWord = (word: string): number[] => {
    const ids = Array.from(encoder.encode(word));
    for (;;) {
      let bestRank = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = rank.get(ids[i]! * SHIFT + ids[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          at = i;
        }
      }
      if (at < 0) return ids;
      const [a, b] = model.merges[bestRank]!;
      ids.splice(at, 2, idOf.get(a + b)!);
    }
  };
  return (text) => {
    const out: number[] = [];
    for (const w of preTokenize(text)) {
      let ids = cache.get(w);
      if (!ids) cache.set(w, (ids = encodeWord(w)));
      out.push(...ids);
    }
    return out;
  };
}

/** The tokenizer.json and tokenizer_config.json objects of a trained model, in HF's format. */
export function tokenizerFiles(model: BpeModel): { tokenizer: object; config: object } {
  const vocab: Record<string, number> = {};
  model.tokens.forEach((t, i) => (vocab[t] = i));
  const eotId = model.tokens.length - 1;
  const eot = { content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  return byteLevelBpeFiles(
    vocab,
    model.merges.map(([a, b]) => `${a} ${b}`),
    END_OF_TEXT,
    { add_bos_token: false, added_tokens_decoder: { [String(eotId)]: eot } },
  );
}
