/**
 * SQuAD's answer normalisation and token F1 (the official evaluate-v1.1 rules, which MeZO uses for
 * SQuAD and DROP): lower-case, strip punctuation, drop the articles a/an/the, collapse whitespace.
 */
export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  const noPunct = [...lower].filter((ch) => !PUNCTUATION.has(ch)).join('');
  const noArticles = noPunct.replace(/\b(a|an|the)\b/g, ' ');
  return noArticles.split(/\s+/).filter(Boolean).join(' ');
}

/** Python's string.punctuation, which the official script removes. */
const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/** Token-level F1 between a prediction and one gold answer, after normalisation. */
export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
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
