import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import { NOISE_KINDS } from '../core/noise.js';
import { SCHEDULES } from '../harness/harness.js';
import { PEFT_MODES } from '../runs/peft.js';

/**
 * A grid file: models × tasks × optimizers (each with lists of hyperparameter values) × seeds, plus
 * what a run takes. docs/grid.md documents every field; `zo grid --schema` prints this as JSON Schema.
 *
 *   models: [models/tiny-llama-s, models/tiny-qwen2]
 *   tasks: [tiny-copa, tiny-sentiment]
 *   optimizers:
 *     mezo: {lr: [1.0e-4, 3.0e-4]}
 *     zo-ft: {lr: [1.0e-4, 3.0e-4]}
 *   seeds: [0, 1, 2]
 *   steps: 1000
 */
const scalar = z.union([z.number(), z.string(), z.boolean()]);
const count = (what: string) => z.number().int(`${what} must be a whole number`).nonnegative(`${what} must be ≥ 0`);
const positive = (what: string) => z.number().int(`${what} must be a whole number`).positive(`${what} must be ≥ 1`);
const names = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** One optimizer's axis: hyperparameter → its values (a scalar is a list of one), plus what picks the code. */
const methodSchema = z
  .object({
    optimizer: z.string().min(1).optional().describe('the registered optimizer, when the key is a label (default: the key)'),
    finetuner: z.string().min(1).optional().describe("zo-ft's meta-parameters (default: the model folder's own)"),
  })
  .catchall(z.union([scalar, z.array(scalar).min(1)]))
  .describe('hyperparameter → a value or a list of values; every combination is a cell');

/** Settings a run takes; each may be overridden per model, task or optimizer. */
const settings = {
  steps: positive('steps').optional(),
  batchSize: positive('batchSize').optional(),
  evalEvery: count('evalEvery').optional().describe('dev evaluation every N steps (default steps/5)'),
  trainSize: count('trainSize').optional(),
  devSize: count('devSize').optional(),
  testSize: count('testSize').optional(),
  maxLen: positive('maxLen').optional(),
  trainSetSeed: count('trainSetSeed').optional(),
  noise: z.enum(NOISE_KINDS).optional(),
  schedule: z.enum(SCHEDULES).optional(),
  executor: z.enum(['ort', 'tfjs']).optional(),
  lora: z
    .object({
      r: positive('lora.r').optional(),
      alpha: z.number().positive().optional(),
      targets: z.array(z.string().min(1)).min(1).optional(),
    })
    .strict()
    .optional()
    .describe("LoRA's r, α and target modules for the peft: lora cells (default MeZO's: 8, 16, q_proj and v_proj)"),
  prefix: z
    .object({ tokens: positive('prefix.tokens').optional() })
    .strict()
    .optional()
    .describe("the prefix's slots per layer for the peft: prefix cells (default MeZO's 5)"),
};

const overrideSchema = z
  .object({
    model: names.optional(),
    task: names.optional(),
    optimizer: names.optional(),
    peft: z.union([z.enum(PEFT_MODES), z.array(z.enum(PEFT_MODES)).min(1)]).optional(),
    ...settings,
    optimizers: z.record(z.string(), methodSchema).optional().describe("replaces these methods' listed hyperparameters"),
  })
  .strict()
  .describe('settings for the cells that match every given model, task, optimizer (method key) and peft mode');

export const gridSchema = z
  .object({
    description: z.string().optional(),
    modelRoot: z.string().optional().describe('relative model paths resolve here (default: the working folder, then the zoo)'),
    models: z.array(z.string().min(1)).min(1),
    tasks: z.array(z.string().min(1)).min(1).describe('task names, or task files (.yaml/.json)'),
    optimizers: z.record(z.string(), methodSchema.nullable()).refine((o) => Object.keys(o).length > 0, 'name at least one optimizer'),
    seeds: z.array(count('a seed')).min(1),
    peft: z
      .array(z.enum(PEFT_MODES))
      .min(1)
      .optional()
      .describe(
        'an axis: full fine-tuning, LoRA, prefix tuning, or several (default [full]); overrides with peft: lora or prefix give those their own LRs',
      ),
    ...settings,
    steps: positive('steps'),
    dataDir: z.string().optional().describe("where MeZO tasks' files are (not part of a cell's identity)"),
    saveEvery: count('saveEvery').optional().describe('checkpoint every N steps, so a killed cell resumes (not part of its identity)'),
    logEvery: positive('logEvery').optional(),
    overrides: z.array(overrideSchema).default([]),
    pilot: z
      .object({ seeds: z.array(count('a seed')).min(1), steps: positive('pilot.steps').optional() })
      .strict()
      .optional()
      .describe('two stages: the pilot runs every combination on these seeds; then `seeds` run at the lowest mean dev loss'),
  })
  .strict();

export type GridFile = z.infer<typeof gridSchema>;
export type MethodAxis = z.infer<typeof methodSchema>;
export type GridOverride = z.infer<typeof overrideSchema>;

/** A parsed grid; the first problem is one line naming the file and field. */
export function parseGrid(raw: unknown, file: string): GridFile {
  const r = gridSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const keys = (issue as { keys?: string[] }).keys;
    const where = issue.path.join('.') || '(grid)';
    throw new ZoError(`${file}: ${where}: ${keys ? `unknown field(s) ${keys.join(', ')}` : issue.message}`);
  }
  for (const [name, axis] of Object.entries(r.data.optimizers))
    for (const [k, v] of Object.entries(axis ?? {}))
      if (Array.isArray(v) && new Set(v.map((x) => JSON.stringify(x))).size !== v.length)
        throw new ZoError(`${file}: optimizers.${name}.${k}: a value appears twice, which would make two identical cells`);
  // An override names cells by what the grid lists: a name it does not list would match nothing, unseen.
  const listed = { model: r.data.models, task: r.data.tasks, optimizer: Object.keys(r.data.optimizers) };
  r.data.overrides.forEach((o, i) => {
    for (const k of ['model', 'task', 'optimizer'] as const)
      for (const v of [o[k] ?? []].flat())
        if (!(listed[k] as readonly string[]).includes(v))
          throw new ZoError(
            `${file}: overrides.${i}.${k}: ${JSON.stringify(v)} is not one of the grid's ${k === 'model' ? 'models' : `${k}s`} (${listed[k].join(', ')})`,
          );
    for (const m of Object.keys(o.optimizers ?? {}))
      if (!listed.optimizer.includes(m))
        throw new ZoError(`${file}: overrides.${i}.optimizers.${m}: not one of the grid's optimizers (${listed.optimizer.join(', ')})`);
  });
  for (const k of ['models', 'tasks', 'seeds', 'peft'] as const) {
    if (!r.data[k]) continue;
    const list = r.data[k] as unknown[];
    const twice = list.find((x, i) => list.indexOf(x) !== i);
    if (twice !== undefined) throw new ZoError(`${file}: ${k}: ${JSON.stringify(twice)} appears twice, which would make identical cells`);
  }
  return r.data;
}

/** Reads and parses a grid file (YAML or JSON). */
export function loadGrid(file: string): GridFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ZoError(`${file}: ${code === 'ENOENT' ? 'no such grid file' : `cannot read it (${code})`}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ZoError(`${file}: cannot parse (${(e as Error).message.split('\n')[0]})`);
  }
  return parseGrid(raw, file);
}

/** The grid file's JSON Schema, for editors and for `zo grid --schema`. */
export function gridJsonSchema(): unknown {
  return z.toJSONSchema(gridSchema, { io: 'input' });
}
