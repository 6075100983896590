import { PY_WORD, pySplit } from './python-strings.js';

/** The articles as whole words, with Python's Unicode word boundaries (`re.sub(r'\b(a|an|the)\b', ' ', …)`). */
const ARTICLES = new RegExp(`(?<!${PY_WORD})(a|an|the)(?!${PY_WORD})`, 'gu');

/**
 * SQuAD's answer normalisation and token F1 (the official evaluate-v1.1 rules, which MeZO uses for
 * SQuAD and DROP): lower-case, strip punctuation, drop the articles a/an/the, collapse whitespace.
 */
export function normalizeAnswer(s: string): string {
  const noPunct = [...s.toLowerCase()].filter((ch) => !PUNCTUATION.has(ch)).join('');
  return pySplit(noPunct.replace(ARTICLES, ' ')).join(' ');
}

/** Python's string.punctuation, which the official script removes. */
const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/**
 * Token-level F1 between a prediction and one gold answer, after normalisation. No shared token
 * scores 0, and that includes both normalising to nothing, as in the official f1_score.
 */
export function tokenF1(prediction: string, gold: string): number {
  const p = pySplit(normalizeAnswer(prediction));
  const g = pySplit(normalizeAnswer(gold));
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** F1 against several gold answers: the best match counts. */
export function maxF1(prediction: string, golds: readonly string[]): number {
  return golds.reduce((best, g) => Math.max(best, tokenF1(prediction, g)), 0);
}
