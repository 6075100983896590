import fs from 'node:fs';
import { z } from 'zod';
import { ZoError } from '../core/errors.js';
import { fsError } from '../runs/folder.js';
import { parseWith } from '../models/family.js';
import { headline, mean, scoreOf, type Aggregate, type MethodStat, type WinTable } from './winrate.js';

const paperSchema = z.object({
  paper: z.string(),
  source: z.string(),
  headline: z.array(
    z.object({
      what: z.string(),
      criterion: z.enum(['final_train_loss', 'test_metric', 'test_metric_gain_vs_mezo']),
      method: z.string(),
      wins: z.number().optional(),
      pairs: z.number().optional(),
      value: z.number().optional(),
      provenance: z.string(),
    }),
  ),
  methods: z.record(z.string(), z.string()),
  analogues: z.object({ provenance: z.string(), models: z.record(z.string(), z.string()), tasks: z.record(z.string(), z.string()) }),
  cellsProvenance: z.string(),
  cells: z.array(
    z.object({ model: z.string(), method: z.string(), task: z.string(), final_train_loss: z.number(), test_metric: z.number() }),
  ),
});

/** baselines/paper.json: the paper's reported figures, each with where it comes from. */
export type PaperBaseline = z.infer<typeof paperSchema>;

export function readPaper(file: string): PaperBaseline {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fsError(file, 'cannot read the paper baseline', e);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ZoError(`${file}: the paper baseline is not JSON (the shipped one is baselines/paper.json)`);
  }
  return parseWith(paperSchema, raw, file);
}

const pct = (w: number, n: number) => `${w}/${n} (${n ? ((100 * w) / n).toFixed(1) : '–'}%)`;
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2));

/** Mean over pairs of (method's test metric − MeZO's), in points, at the dev-loss choice. */
export function gainOverMezo(r: Aggregate, method: string): { gain: number; pairs: number } {
  const gains = r.test.pairs.flatMap((p) => {
    const a = scoreOf(r.test, p.model, p.task, method).scored?.score;
    const b = scoreOf(r.test, p.model, p.task, 'mezo').scored?.score;
    return a === undefined || b === undefined ? [] : [100 * (a - b)];
  });
  return { gain: mean(gains), pairs: gains.length };
}

const gainText = (g: { gain: number; pairs: number }) =>
  g.pairs ? `${g.gain >= 0 ? '+' : ''}${g.gain.toFixed(1)} points over ${g.pairs} pairs` : '–';
const statText = (s: MethodStat | undefined) => (s ? headline(s) : '–');

/** paper-vs-ours.md: the paper's headline and cells beside ours, with each figure's provenance. */
export function comparePaper(paper: PaperBaseline, r: Aggregate, paperFile: string): string {
  const stat = (t: WinTable, m: string) => t.methods.find((s) => s.method === m);
  const head = paper.headline.map((h) => {
    const ours =
      h.criterion === 'test_metric_gain_vs_mezo'
        ? gainText(gainOverMezo(r, h.method))
        : statText(stat(h.criterion === 'final_train_loss' ? r.loss : r.test, h.method));
    const theirs = h.wins !== undefined ? pct(h.wins, h.pairs!) : `${h.value! >= 0 ? '+' : ''}${h.value} points`;
    return `| ${h.what} | ${theirs} | ${ours} | ${h.provenance} |`;
  });
  const analogue = (kind: 'models' | 'tasks', ours: string) => paper.analogues[kind][ours];
  const ourCell = (model: string, task: string, method: string) => {
    const choice = r.choices.find(
      (c) => analogue('models', c.model) === model && analogue('tasks', c.task) === task && c.method === method,
    );
    if (!choice) return undefined;
    const m = (k: 'final_train_loss' | 'test_metric') => mean(choice.rows.map((x) => x[k]));
    return { model: choice.model, task: choice.task, loss: m('final_train_loss'), test: m('test_metric') };
  };
  const cells = paper.cells.map((c) => {
    const o = ourCell(c.model, c.task, c.method);
    return `| ${c.model} | ${c.task} | ${paper.methods[c.method] ?? c.method} | ${f2(c.final_train_loss)} / ${f2(c.test_metric)} | ${o ? `${o.model} ${o.task}` : '–'} | ${o ? `${f2(o.loss)} / ${f2(o.test)}` : '–'} |`;
  });
  // Per paper pair: does ZO FT beat MeZO on the final loss, in the paper and in ours?
  const pairs = [...new Set(paper.cells.map((c) => `${c.model}\u0000${c.task}`))].map((k) => {
    const [model, task] = k.split('\u0000') as [string, string];
    const get = (m: string) => paper.cells.find((c) => c.model === model && c.task === task && c.method === m);
    const p = [get('zo-ft'), get('mezo')];
    const o = [ourCell(model, task, 'zo-ft'), ourCell(model, task, 'mezo')];
    const paperWins = p[0] && p[1] ? p[0].final_train_loss < p[1].final_train_loss : undefined;
    const ourWins = o[0] && o[1] ? o[0].loss < o[1].loss : undefined;
    const says = (w: boolean | undefined) => (w === undefined ? '–' : w ? 'ZO FT' : 'MeZO');
    return `| ${model} | ${task} | ${says(paperWins)} | ${says(ourWins)} | ${paperWins === undefined || ourWins === undefined ? '–' : paperWins === ourWins ? 'yes' : 'no'} |`;
  });
  if (!paper.cells.length) throw new ZoError(`${paperFile}: no cells`);
  return [
    '# The paper beside ours',
    '',
    `Paper: ${paper.paper}. Figures from \`${paperFile}\`; its source: ${paper.source}.`,
    '',
    "Our models and tasks are tiny analogues of the paper's, so only the *pattern* can agree, never the numbers. " +
      `Which tiny model or task stands for which: ${paper.analogues.provenance}.`,
    '',
    '## Headline',
    '',
    '| figure | paper | ours | provenance (paper) |',
    '|---|---|---|---|',
    ...head,
    '',
    '## Reported cells: final train loss / test metric',
    '',
    `Provenance: ${paper.cellsProvenance}`,
    '',
    '| paper model | task | method | paper | our analogue | ours |',
    '|---|---|---|---|---|---|',
    ...cells,
    '',
    '## Who has the lower final loss, ZO FT or MeZO?',
    '',
    '| paper model | task | paper | ours | agree |',
    '|---|---|---|---|---|',
    ...pairs,
    '',
  ].join('\n');
}
