import { renderCopa } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { nearDuplicates, tinyTask, withoutNearDuplicates, wordSet, type Picker } from './common.js';
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
 * Two kinds of row, as in COPA, from the split's sentences. "effect": a real review sentence is the
 * premise and the choices are the matching and the opposite reaction ("The mic is great so" → " I
 * kept it." / " I returned it."). "cause": a reaction is the premise and the choices are a real
 * positive and a real negative sentence ("I returned it because" → " the battery died." / " the mic
 * is great."). Each sentence is used once.
 */
function rows(split: readonly LabelledSentence[], { pick }: { pick: Picker }): Row[] {
  const pos = split.filter((x) => x.label === 1);
  const neg = split.filter((x) => x.label === 0);
  const nCause = Math.floor(Math.min(pos.length, neg.length) / 2);
  const out: Row[] = [];
  // The correct choice alternates row by row between first and second, so position says nothing.
  const row = (premise: string, question: 'cause' | 'effect', right: string, wrong: string): Row => {
    const label = out.length % 2;
    const [choice1, choice2] = label === 0 ? [right, wrong] : [wrong, right];
    return { premise, choice1, choice2, question, label };
  };
  for (let i = 0; i < nCause; i++) {
    const good = pick.coin();
    const reaction = pick.one(REACTIONS)[good ? 0 : 1];
    const [right, wrong] = good ? [pos[i]!, neg[i]!] : [neg[i]!, pos[i]!];
    out.push(row(reaction, 'cause', asSentence(right.text), asSentence(wrong.text)));
  }
  for (const s of [...pos.slice(nCause), ...neg.slice(nCause)]) {
    const pair = pick.one(REACTIONS);
    out.push(row(asSentence(s.text), 'effect', pair[s.label === 1 ? 0 : 1], pair[s.label === 1 ? 1 : 0]));
  }
  return out;
}

const REACTION_TEXTS = new Set(REACTIONS.flat());

/**
 * Each sentence is an entity. Near-duplicates ("Great phone!." / "Great Phone.") are kept once, and a
 * sentence that near-duplicates a reaction ("I would recommend this.") is left out: it would blur
 * the line between what a row asks about and the fixed frame.
 */
function entities(): LabelledSentence[] {
  const reactions = [...REACTION_TEXTS].map(wordSet);
  const sentences = uciSentences(NAME, 'amazon', 120).filter((s) => !reactions.some((r) => nearDuplicates(wordSet(s.text), r)));
  return withoutNearDuplicates(sentences, (s) => [s.text]);
}

/** COPA's twin: 2-choice cause/effect over real Amazon review sentences, LM-scored. */
export const tinyCopa = tinyTask<LabelledSentence>({
  name: NAME,
  type: 'multiple-choice',
  metric: 'accuracy',
  loss: 'lm',
  description:
    'COPA-like: cause/effect choices over real UCI Amazon review sentences (npm sentiment@5.0.2), generated frames; no near-duplicate sentences across splits',
  sizes: { train: 300, dev: 100, test: 100 },
  render: renderCopa,
  entities,
  split: { test: 140, dev: 140 },
  rows,
  // The review sentences decide the answer; the reactions are the task's fixed frame, shared by all rows.
  content: (row) => [row.premise, row.choice1, row.choice2].map(String).filter((t) => !REACTION_TEXTS.has(t)),
  textContent: true,
});
