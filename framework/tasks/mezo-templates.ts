/**
 * MeZO's prompt templates (princeton-nlp/MeZO large_models/templates.py, with the template each
 * Dataset class of tasks.py uses by default), reproduced string for string. Rows carry the HF
 * columns of each dataset (datasets/mezo/README.md).
 *
 * MeZO builds two texts per candidate: `encode(sample)` (the prompt) and `verbalize(sample, cand)`
 * (prompt + answer), and utils.py `encode_prompt` strips ONLY spaces from both ends of each
 * (`.strip(' ')`). So `Rendered.prompt` is the stripped encode text and each option is what the
 * stripped verbalize text adds after it: " great" for SST-2 (the space lives in the option), "Yes"
 * after RTE's newline, " he fell" for COPA (the conjunction's trailing space moves to the option),
 * " answer\n" as the SQuAD/DROP training target. Deriving options that way, rather than writing
 * them out per task, keeps every quirk of MeZO's f-strings.
 */
import { ZoError } from '../core/errors.js';
import { pyRstrip, pyStrip, replaceAll, stripSpaces, upperFirst } from './python-strings.js';
import type { Rendered, Row } from './task.js';

export const MEZO_TASK_NAMES = ['sst2', 'rte', 'cb', 'boolq', 'wsc', 'wic', 'multirc', 'copa', 'record', 'squad', 'drop'] as const;
export type MezoTaskName = (typeof MEZO_TASK_NAMES)[number];

/** Renders one row; `at` names it in errors (e.g. "rte validation row 12"), the task name by default. */
export type MezoRender = (row: Row, at?: string) => Rendered;

// ---------------------------------------------------------------------------------------------
// Field access: one ZoError line naming the row and the field.

function field(row: Row, name: string, at: string): unknown {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new ZoError(`${at}: row is not an object`);
  const v = row[name];
  if (v === undefined || v === null) throw new ZoError(`${at}: missing field "${name}"`);
  return v;
}

function kind(v: unknown): string {
  return Array.isArray(v) ? 'array' : typeof v;
}

function str(row: Row, name: string, at: string): string {
  const v = field(row, name, at);
  if (typeof v !== 'string') throw new ZoError(`${at}: field "${name}" must be a string (got ${kind(v)})`);
  return v;
}

function strList(v: unknown, name: string, at: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ZoError(`${at}: field "${name}" must be a list of strings`);
  return v as string[];
}

/** An integer label in [0, n). HF test splits carry -1 there: no gold label to train or score on. */
function label(row: Row, n: number, at: string, name = 'label'): number {
  const raw = field(row, name, at);
  const v = typeof raw === 'bigint' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) {
    const got = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
    throw new ZoError(`${at}: field "${name}" must be an integer in 0..${n - 1} (got ${got})`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// From MeZO's (encode, verbalize) texts to a Rendered.

/** The option for one candidate: what the stripped verbalize text adds after the stripped prompt. */
function optionOf(prompt: string, verbalized: string, at: string): string {
  const full = stripSpaces(verbalized);
  // Always true when verbalize = encode + suffix, which holds for every template below.
  if (!full.startsWith(prompt)) throw new Error(`${at}: verbalized text does not start with the prompt (template bug)`);
  return full.slice(prompt.length);
}

function choices(encoded: string, verbalized: string[], gold: number, at: string): Rendered {
  const prompt = stripSpaces(encoded);
  return { prompt, options: verbalized.map((v) => optionOf(prompt, v, at)), label: gold };
}

/** Label-word classification: verbalize(sample, c) = encode(sample) + words[c]. */
function classify(encoded: string, words: readonly string[], gold: number, at: string): Rendered {
  return choices(
    encoded,
    words.map((w) => encoded + w),
    gold,
    at,
  );
}

// ---------------------------------------------------------------------------------------------
// The eleven tasks.

/** SST-2 (glue/sst2; SST2Template): "<sentence> It was" + {" terrible", " great"}. */
export const renderSst2: MezoRender = (row, at = 'sst2') => {
  const text = pyStrip(str(row, 'sentence', at));
  return classify(`${text} It was`, [' terrible', ' great'], label(row, 2, at), at);
};

/** RTE (super_glue/rte; RTETemplate): label 0 = entailment = "Yes". */
export const renderRte: MezoRender = (row, at = 'rte') => {
  const premise = str(row, 'premise', at);
  const hypothesis = str(row, 'hypothesis', at);
  return classify(`${premise}\nDoes this mean that "${hypothesis}" is true? Yes or No?\n`, ['Yes', 'No'], label(row, 2, at), at);
};

/** CB (super_glue/cb; CBTemplate): entailment/contradiction/neutral = Yes/No/Maybe. */
export const renderCb: MezoRender = (row, at = 'cb') => {
  const premise = str(row, 'premise', at);
  const hypothesis = str(row, 'hypothesis', at);
  return classify(
    `Suppose ${premise} Can we infer that "${hypothesis}"? Yes, No, or Maybe?\n`,
    ['Yes', 'No', 'Maybe'],
    label(row, 3, at),
    at,
  );
};

/**
 * BoolQ (MeZO loads HF `boolq`, i.e. google/boolq: `answer` is a bool). Default template version 2
 * = BoolQTemplateV3: "<passage> <Question?>\n" + {"Yes", "No"}; the question gets "?" appended if
 * missing, then its first letter upper-cased. super_glue/boolq rows (`label`, 1 = True) work too.
 */
export const renderBoolq: MezoRender = (row, at = 'boolq') => {
  const passage = str(row, 'passage', at);
  let question = str(row, 'question', at);
  if (!question.endsWith('?')) question += '?';
  question = upperFirst(question);
  let yes: boolean;
  if (row.answer !== undefined && row.answer !== null) {
    if (typeof row.answer !== 'boolean')
      throw new ZoError(`${at}: field "answer" must be true or false (got ${JSON.stringify(row.answer)})`);
    yes = row.answer;
  } else if (row.label !== undefined && row.label !== null) {
    yes = label(row, 2, at) === 1;
  } else {
    throw new ZoError(`${at}: missing field "answer"`);
  }
  return classify(`${passage} ${question}\n`, ['Yes', 'No'], yes ? 0 : 1, at);
};

/** WSC (super_glue/wsc.fixed; WSCTemplate): span2 (the pronoun) lower-cased, span1 as is; {No, Yes}. */
export const renderWsc: MezoRender = (row, at = 'wsc') => {
  const text = str(row, 'text', at);
  const span1 = str(row, 'span1_text', at);
  const span2 = str(row, 'span2_text', at).toLowerCase();
  return classify(
    `${text}\nIn the previous sentence, does the pronoun "${span2}" refer to ${span1}? Yes or No?\n`,
    ['No', 'Yes'],
    label(row, 2, at),
    at,
  );
};

/** WiC (super_glue/wic; WICTemplate): {No, Yes}. */
export const renderWic: MezoRender = (row, at = 'wic') => {
  const word = str(row, 'word', at);
  const s1 = str(row, 'sentence1', at);
  const s2 = str(row, 'sentence2', at);
  return classify(
    `Does the word "${word}" have the same meaning in these two sentences? Yes, No?\n${s1}\n${s2}\n`,
    ['No', 'Yes'],
    label(row, 2, at),
    at,
  );
};

/** MultiRC (super_glue/multirc; MultiRCTemplate): one row per (question, answer) pair; {No, Yes}. */
export const renderMultirc: MezoRender = (row, at = 'multirc') => {
  const paragraph = str(row, 'paragraph', at);
  const question = str(row, 'question', at);
  const answer = str(row, 'answer', at);
  return classify(
    `${paragraph}\nQuestion: ${question}\nI found this answer "${answer}". Is that correct? Yes or No?\n`,
    ['No', 'Yes'],
    label(row, 2, at),
    at,
  );
};

/** CopaTemplate's "correct" capitalization: lower-case the first word unless it is exactly "I". */
function copaCapitalize(choice: string): string {
  const words = choice.split(' ');
  if (words[0] !== 'I') words[0] = words[0]!.toLowerCase();
  return words.join(' ');
}

/**
 * COPA (super_glue/copa; CopaTemplate): premise (right-stripped, one final "." dropped) + " so "
 * (question "effect") or " because " ("cause"); each choice with copaCapitalize. Multiple choice
 * trained with the LM loss on the gold choice (`target`).
 */
export const renderCopa: MezoRender = (row, at = 'copa') => {
  let premise = pyRstrip(str(row, 'premise', at));
  if (premise.endsWith('.')) premise = premise.slice(0, -1);
  const question = str(row, 'question', at);
  if (question !== 'effect' && question !== 'cause')
    throw new ZoError(`${at}: field "question" must be "cause" or "effect" (got ${JSON.stringify(question)})`);
  const encoded = premise + (question === 'effect' ? ' so ' : ' because ');
  const cands = [str(row, 'choice1', at), str(row, 'choice2', at)];
  const r = choices(
    encoded,
    cands.map((c) => encoded + copaCapitalize(c)),
    label(row, 2, at),
    at,
  );
  return { ...r, target: r.options![r.label!] };
};

function recordFields(row: Row, at: string): { entities: string[]; answers: string[] } {
  const entities = strList(field(row, 'entities', at), 'entities', at);
  const answers = strList(field(row, 'answers', at), 'answers', at);
  if (entities.length === 0) throw new ZoError(`${at}: field "entities" is empty`);
  if (answers.length === 0) throw new ZoError(`${at}: field "answers" is empty (HF test rows have no answers)`);
  for (const a of answers) {
    if (!entities.includes(a)) throw new ZoError(`${at}: answer ${JSON.stringify(a)} is not one of the entities`);
  }
  return { entities, answers };
}

/**
 * Indices of every gold option of a ReCoRD row: MeZO scores a prediction correct when it is any of
 * them (`[candidates.index(a) for a in answers]`). `Rendered.label` holds only the first.
 */
export function recordGoldIndices(row: Row, at = 'record'): number[] {
  const { entities, answers } = recordFields(row, at);
  return [...new Set(answers.map((a) => entities.indexOf(a)))];
}

/**
 * ReCoRD (super_glue/record; ReCoRDTemplateGPT3): the passage with every "@highlight\n" replaced by
 * "- ", then "\n-"; each entity's option is " " + the query with every "@placeholder" replaced by
 * it. `label` is the index of the FIRST gold answer in `entities` (first occurrence) — the option
 * MeZO trains on (`candidates.index(correct_candidate[0])`); `labels` holds every gold entity, any of
 * which scores as correct, as in MeZO. Trained with the LM loss on that option (`target`).
 */
export const renderRecord: MezoRender = (row, at = 'record') => {
  const passage = replaceAll(str(row, 'passage', at), '@highlight\n', '- ');
  const query = str(row, 'query', at);
  const { entities, answers } = recordFields(row, at);
  const r = choices(
    `${passage}\n-`,
    entities.map((e) => `${passage}\n- ${replaceAll(query, '@placeholder', e)}`),
    entities.indexOf(answers[0]!),
    at,
  );
  return { ...r, target: r.options![r.label!], labels: recordGoldIndices(row, at) };
};

/** Generation: the prompt, all gold answers, and the target = what verbalize adds (" <answers[0]>\n"). */
function generate(encoded: string, answers: string[], verbalized: string, at: string): Rendered {
  const prompt = stripSpaces(encoded);
  return { prompt, answers, target: optionOf(prompt, verbalized, at) };
}

function answersOf(row: Row, column: string, key: string, at: string): string[] {
  const v = field(row, column, at);
  if (typeof v !== 'object' || Array.isArray(v)) throw new ZoError(`${at}: field "${column}" must be an object with a "${key}" list`);
  const list = strList((v as Record<string, unknown>)[key], `${column}.${key}`, at);
  if (list.length === 0) throw new ZoError(`${at}: field "${column}.${key}" is empty`);
  return list;
}

/** SQuAD v1.1 (HF squad; SQuADv2Template despite its name): answers from `answers.text`. */
export const renderSquad: MezoRender = (row, at = 'squad') => {
  const title = str(row, 'title', at);
  const context = str(row, 'context', at);
  const question = pyStrip(str(row, 'question', at));
  const answers = answersOf(row, 'answers', 'text', at);
  const encoded = `Title: ${title}\nContext: ${context}\nQuestion: ${question}\nAnswer:`;
  return generate(encoded, answers, `${encoded} ${answers[0]}\n`, at);
};

/** DROP (HF drop; DROPTemplate): passage from `passage`, answers from `answers_spans.spans`. */
export const renderDrop: MezoRender = (row, at = 'drop') => {
  const passage = str(row, 'passage', at);
  const question = pyStrip(str(row, 'question', at));
  const answers = answersOf(row, 'answers_spans', 'spans', at);
  const encoded = `Passage: ${passage}\nQuestion: ${question}\nAnswer:`;
  return generate(encoded, answers, `${encoded} ${answers[0]}\n`, at);
};

export const MEZO_RENDERERS: Readonly<Record<MezoTaskName, MezoRender>> = {
  sst2: renderSst2,
  rte: renderRte,
  cb: renderCb,
  boolq: renderBoolq,
  wsc: renderWsc,
  wic: renderWic,
  multirc: renderMultirc,
  copa: renderCopa,
  record: renderRecord,
  squad: renderSquad,
  drop: renderDrop,
};
