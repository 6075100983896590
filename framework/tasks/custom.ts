import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import type { Rendered, Row, Splits, Task } from './task.js';

/**
 * A task defined in a YAML (or JSON) file next to JSONL data: no code needed for a new sentiment or
 * QA set. Paths are relative to the task file.
 *
 *   name: my-sentiment
 *   train: train.jsonl
 *   dev: dev.jsonl
 *   test: test.jsonl
 *   template: "{text} It was"
 *   candidates: [terrible, great]     # label words, or `answerField` for generation
 *   labelField: label                 # the candidate's index, or the candidate itself
 *   loss: classification              # or lm
 *   metric: accuracy                  # or f1
 */
export const customTaskSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, 'use letters, digits, ".", "_" or "-"'),
    description: z.string().optional(),
    train: z.string(),
    dev: z.string(),
    test: z.string(),
    template: z.string().min(1),
    candidates: z.array(z.string().min(1)).min(2).optional(),
    labelField: z.string().optional(),
    answerField: z.string().optional(),
    loss: z.enum(['classification', 'lm']),
    metric: z.enum(['accuracy', 'f1']),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.candidates && !t.labelField) ctx.addIssue({ code: 'custom', path: ['labelField'], message: 'required with candidates' });
    if (!t.candidates && !t.answerField)
      ctx.addIssue({ code: 'custom', path: ['candidates'], message: 'give candidates (label words) or answerField' });
    if (t.metric === 'f1' && !t.answerField)
      ctx.addIssue({ code: 'custom', path: ['answerField'], message: 'f1 scores generated answers: name the answer field' });
    if (t.loss === 'classification' && !t.candidates)
      ctx.addIssue({ code: 'custom', path: ['loss'], message: 'classification needs candidates' });
    const twice = t.candidates?.find((c, i) => t.candidates!.indexOf(c) !== i);
    if (twice !== undefined) ctx.addIssue({ code: 'custom', path: ['candidates'], message: `${JSON.stringify(twice)} appears twice` });
    const stray = strayBrace(t.template);
    if (stray >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['template'],
        message: `a stray "${t.template[stray]}" at character ${stray + 1}: placeholders are {field}; write {{ or }} for a literal brace`,
      });
  });

/** Where a brace is neither part of a {field} placeholder nor an escaped {{ or }}, or −1. */
function strayBrace(template: string): number {
  const re = /\{\{|\}\}|\{\w+\}|[{}]/g;
  for (let m = re.exec(template); m; m = re.exec(template)) if (m[0].length === 1) return m.index;
  return -1;
}
export type CustomTaskSpec = z.infer<typeof customTaskSchema>;

/** The separator before a continuation: none after a trailing space or newline, else one space. */
function joiner(prompt: string): string {
  return /\s$/.test(prompt) ? '' : ' ';
}

/** Fills `{field}` placeholders ({{ and }} are literal braces); a placeholder with no such field names the row. */
export function fillTemplate(template: string, row: Row, where: string): string {
  return template.replace(/\{\{|\}\}|\{(\w+)\}/g, (m, field: string | undefined) => {
    if (field === undefined) return m[0]!;
    if (!(field in row))
      throw new ZoError(`${where}: template placeholder {${field}} has no such field (fields: ${Object.keys(row).join(', ')})`);
    return textOf(row[field], field, where);
  });
}

/** A field as text: a string, number or boolean; null, an object or a list would render as "null" or "[object Object]". */
function textOf(v: unknown, field: string, where: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ZoError(`${where}: field ${field} is ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}, not text`);
}

export function readJsonl(file: string): Row[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ZoError(
      `${file}: cannot read (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as NodeJS.ErrnoException).code})`,
    );
  }
  const rows: Row[] = [];
  // Editors on Windows start UTF-8 files with a byte-order mark; it is not part of the first line.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new ZoError(`${file}: line ${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ZoError(`${file}: line ${i + 1}: expected a JSON object`);
    rows.push(v as Row);
  });
  if (rows.length === 0) throw new ZoError(`${file}: empty (no JSON lines)`);
  return rows;
}

export function loadCustomTask(file: string): Task {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ZoError(`${file}: ${code === 'ENOENT' ? 'missing' : `cannot parse (${(e as Error).message.split('\n')[0]})`}`);
  }
  const r = customTaskSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ZoError(`${file}: ${issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(', ') || '(task)'}: ${issue.message}`);
  }
  const spec = r.data;
  const dir = path.dirname(file);
  const renderAt = (row: Row, where = `${file}: ${spec.name}`): Rendered => {
    const prompt = fillTemplate(spec.template, row, where);
    const out: Rendered = { prompt };
    if (spec.candidates) {
      if (!(spec.labelField! in row))
        throw new ZoError(`${where}: no field ${spec.labelField} (labelField; fields: ${Object.keys(row).join(', ')})`);
      const value = row[spec.labelField!];
      const label = typeof value === 'number' ? value : spec.candidates.indexOf(String(value));
      if (!Number.isInteger(label) || label < 0 || label >= spec.candidates.length)
        throw new ZoError(
          `${where}: ${spec.labelField} ${JSON.stringify(value)} is not one of the candidates (${spec.candidates.join(', ')}) nor their index`,
        );
      out.options = spec.candidates.map((c) => joiner(prompt) + c);
      out.label = label;
    }
    if (spec.answerField) {
      const a = row[spec.answerField];
      const answers = (Array.isArray(a) ? a : [a])
        .filter((x) => x !== null && x !== undefined)
        .map((x) => textOf(x, spec.answerField!, where))
        .filter((x) => x.length > 0);
      if (answers.length === 0) throw new ZoError(`${where}: ${spec.answerField} is missing or empty`);
      out.answers = answers;
      // As MeZO's SQuAD/DROP targets: the first answer, then the newline that stops generation.
      out.target = `${joiner(prompt)}${answers[0]}\n`;
    }
    return out;
  };
  const splits: Splits = { train: [], dev: [], test: [] };
  return {
    name: spec.name,
    suite: 'custom',
    type: spec.answerField && !spec.candidates ? 'generation' : spec.loss === 'lm' ? 'multiple-choice' : 'classification',
    metric: spec.metric,
    loss: spec.loss,
    description: spec.description ?? `custom task from ${file}`,
    get sizes() {
      return { train: splits.train.length, dev: splits.dev.length, test: splits.test.length };
    },
    render: (row) => renderAt(row),
    async load(opts) {
      for (const split of ['train', 'dev', 'test'] as const) {
        const dataFile = path.resolve(dir, spec[split]);
        let rows = readJsonl(dataFile);
        // A requested size takes the file's first rows: the user's split is the user's sample.
        const want = opts?.sizes?.[split];
        if (want !== undefined) {
          if (want > rows.length)
            throw new ZoError(`${dataFile}: has ${rows.length} rows, fewer than the ${want} that --${split}-size asks for`);
          rows = rows.slice(0, want);
        }
        // Render every row now: a bad row is reported with its line number before any training.
        rows.forEach((row, i) => renderAt(row, `${dataFile}: line ${i + 1}`));
        splits[split] = rows;
      }
      return splits;
    },
  };
}
