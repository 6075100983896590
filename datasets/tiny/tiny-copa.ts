import { renderCopa } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { keyOf } from '../../framework/zo/rng.js';
import { Picker, nameKey, permutation, tinyTask, uniqueRows } from './common.js';
import { uciSentences, type LabelledSentence } from './uci-sentences.js';

const NAME = 'tiny-copa';

/** A buyer's reaction to a product, as [after a positive review, after a negative one]. */
const REACTIONS: readonly (readonly [string, string])[] = [
  ['I would recommend it.', 'I would not recommend it.'],
  ['I kept it.', 'I returned it.'],
  ['I gave it five stars.', 'I gave it one star.'],
  ['I bought another one.', 'I asked for a refund.'],
  ['I was happy with it.', 'I was disappointed.'],
];

/** COPA's premises and choices are sentences ending in one period. */
function asSentence(text: string): string {
  return text.replace(/[\s.!?]+$/, '') + '.';
}

/**
 * Two kinds of row, as in COPA. "effect": a real review sentence is the premise and the choices are
 * the matching and the opposite reaction ("The mic is great so" → " I kept it." / " I returned it.").
 * "cause": a reaction is the premise and the choices are a real positive and a real negative sentence
 * ("I returned it because" → " the battery died." / " the mic is great."). Each sentence is used once.
 */
function build(): Row[] {
  const sentences = uciSentences(NAME, 'amazon', 120);
  const base = nameKey(NAME);
  const shuffled = (label: 0 | 1) => {
    const s = sentences.filter((x) => x.label === label);
    return permutation(s.length, keyOf(base, label)).map((i) => s[i]!);
  };
  const pos = shuffled(1);
  const neg = shuffled(0);
  const nCause = Math.floor(Math.min(pos.length, neg.length) / 2);
  const pick = new Picker(keyOf(base, 2));
  const rows: Row[] = [];
  // The correct choice alternates row by row between first and second, so position says nothing.
  const row = (premise: string, question: 'cause' | 'effect', right: string, wrong: string): Row => {
    const label = rows.length % 2;
    const [choice1, choice2] = label === 0 ? [right, wrong] : [wrong, right];
    return { premise, choice1, choice2, question, label };
  };
  for (let i = 0; i < nCause; i++) {
    const good = pick.coin();
    const reaction = REACTIONS[pick.pick(REACTIONS.length)]![good ? 0 : 1];
    const [right, wrong] = good ? [pos[i]!, neg[i]!] : [neg[i]!, pos[i]!];
    rows.push(row(reaction, 'cause', asSentence(right.text), asSentence(wrong.text)));
  }
  const effects: LabelledSentence[] = [...pos.slice(nCause), ...neg.slice(nCause)];
  for (const s of effects) {
    const pair = REACTIONS[pick.pick(REACTIONS.length)]!;
    rows.push(row(asSentence(s.text), 'effect', pair[s.label === 1 ? 0 : 1], pair[s.label === 1 ? 1 : 0]));
  }
  return uniqueRows(rows, (r) => `${r.premise}|${r.question}|${r.choice1}|${r.choice2}`);
}

/** COPA's twin: 2-choice cause/effect over real Amazon review sentences, LM-scored. */
export const tinyCopa = tinyTask({
  name: NAME,
  type: 'multiple-choice',
  metric: 'accuracy',
  loss: 'lm',
  description: 'COPA-like: cause/effect choices over real UCI Amazon review sentences (npm sentiment@5.0.2), generated frames',
  sizes: { train: 300, dev: 100, test: 100 },
  render: renderCopa,
  build,
});
