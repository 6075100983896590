import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ZoError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { writeFileAtomic } from '../runs/checkpoint.js';
import { comparePaper, readPaper, type PaperBaseline } from './paper.js';
import { renderGridPlots } from './plots.js';
import { readRows, resultsCsv } from './results.js';
import { canonicalJson } from './expand.js';
import { aggregate, headline, isZo, mean, scoreOf, type Aggregate, type WinTable } from './winrate.js';

/** An aggregate and the files written for it. */
export interface Report extends Aggregate {
  files: string[];
}

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');
/** A hyperparameter value as people write it: 1e-4, 0.9, 16. */
export const hpValue = (v: unknown): string =>
  typeof v === 'number' && v !== 0 && !Number.isInteger(v) && Math.abs(v) < 0.01 ? v.toExponential(1).replace('.0e', 'e') : String(v);
export const hpText = (h: Record<string, unknown>): string =>
  Object.entries(h)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${hpValue(v)}`)
    .join(' ');
const mdTable = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function tableSection(t: WinTable, what: string): string {
  const lower = t.criterion === 'final_train_loss';
  const lines = [
    `## ${what}`,
    '',
    ...t.methods.map((m) => `- **${headline(m)}**, mean rank ${fmt(m.meanRank, 2)}`),
    '',
    mdTable(
      ['model', 'task', 'winner', 'score', 'runner-up', 'score', 'margin', 'verdict', 'every method (best first)'],
      t.pairs.map((p) => [
        p.model,
        p.task,
        p.winners.join(' = '),
        fmt(p.ranking[0]!.score),
        p.runnerUp?.method ?? '–',
        p.runnerUp ? fmt(p.runnerUp.score) : '–',
        p.runnerUp ? fmt(Math.abs(p.ranking[0]!.score - p.runnerUp.score)) : '–',
        p.verdict,
        p.ranking.map((s) => `${s.method} ${fmt(s.score)}${Number.isFinite(s.se) ? ` ± ${fmt(s.se)}` : ''}`).join(', '),
      ]),
    ),
    '',
    `Pairwise: the row's method ${lower ? 'has the lower' : 'has the higher'} score in this many pairs than the column's.`,
    '',
    mdTable(
      ['', ...t.methods.map((m) => m.method)],
      t.methods.map((a) => [a.method, ...t.methods.map((b) => (a.method === b.method ? '–' : String(t.matrix[a.method]![b.method])))]),
    ),
  ];
  return lines.join('\n');
}

/** winrate.md: the rule, the headline, per-pair winners with the seed-robust verdict, matrices and ranks. */
export function winrateMarkdown(r: Aggregate): string {
  const seeds = new Set(r.rows.map((x) => x.seed)).size;
  const fo = r.choices.filter((c) => !isZo(c.method));
  const intro = [
    '# Win rates',
    '',
    `${r.rows.length}${r.planned !== undefined ? ` of ${r.planned} planned` : ''} finished cells, ${r.loss.pairs.length} (model, task) pairs, ${seeds} seed(s). The rule (the paper's):`,
    '',
    '1. For each (model, task), each ZO method (every optimizer but `fo-*`) takes the hyperparameters with the lowest mean `dev_loss` over seeds.',
    '2. Its score is the mean `final_train_loss` over seeds at that choice (and, for the second table, the mean `test_metric`).',
    '3. The best score wins the pair; methods tied at the best score each count the pair.',
    '',
    'Verdict, per pair: **every seed** when the winner beats the runner-up on every seed they share; **> 2 SE** when the means differ by more than twice the standard error of their difference; otherwise **within noise** (or **one seed**, when there are too few seeds to say).',
  ];
  const sections = [intro.join('\n'), tableSection(r.loss, 'Lowest final train loss'), tableSection(r.test, 'Highest test metric')];
  sections.push(
    [
      '## Chosen hyperparameters',
      '',
      mdTable(
        [
          'model',
          'task',
          'optimizer',
          'chosen (of the values tried)',
          'mean dev loss',
          'seeds',
          'mean final train loss',
          'mean test metric',
        ],
        r.choices.map((c) => [
          c.model,
          c.task,
          c.method,
          hpText(Object.fromEntries((c.varied.length ? c.varied : ['lr']).map((k) => [k, c.hyperparameters[k]]))),
          fmt(c.devLoss),
          c.rows.length,
          fmt(mean(c.rows.map((x) => x.final_train_loss))),
          fmt(mean(c.rows.map((x) => x.test_metric))),
        ]),
      ),
      ...(fo.length ? ['', 'First-order rows (`fo-*`) are references, chosen the same way but outside the win rule.'] : []),
    ].join('\n'),
  );
  return sections.join('\n\n') + '\n';
}

/** winrate.csv: one row per (model, task, ZO method) with its choice, scores, ranks and whether it won. */
export function winrateCsv(r: Aggregate): string {
  const rows = r.choices
    .filter((c) => isZo(c.method))
    .map((c) => {
      const columns = (t: WinTable) => {
        const { pair, scored } = scoreOf(t, c.model, c.task, c.method);
        return [
          scored?.score ?? '',
          Number.isFinite(scored?.se) ? scored!.se : '',
          scored?.rank ?? '',
          pair?.winners.includes(c.method) ? 1 : 0,
          pair?.verdict ?? '',
        ];
      };
      return [
        c.model,
        c.task,
        c.method,
        canonicalJson(c.hyperparameters),
        c.devLoss,
        c.rows.length,
        ...columns(r.loss),
        ...columns(r.test),
      ];
    });
  return stringify(rows, {
    header: true,
    columns: [
      'model',
      'task',
      'optimizer',
      'hyperparameters',
      'dev_loss_mean',
      'seeds',
      'final_train_loss_mean',
      'final_train_loss_se',
      'rank_loss',
      'wins_loss',
      'verdict_loss',
      'test_metric_mean',
      'test_metric_se',
      'rank_test',
      'wins_test',
      'verdict_test',
    ],
  });
}

/** A file inside zo's package by its path there (baselines/paper.json), any other as given. */
const displayPath = (f: string) => {
  const rel = path.relative(packageRoot(), path.resolve(f));
  return rel.startsWith('..') || path.isAbsolute(rel) ? f : rel;
};

export interface ReportOptions {
  /** The paper's reported cells (baselines/paper.json) for paper-vs-ours.md. */
  paper?: string;
  /** Plots (SVG and PNG) beside the tables; on by default. */
  plots?: boolean;
  /** Only these cells (by hash): a grid reports its own cells, not others that share the folder. */
  only?: string[];
}

/**
 * Aggregates the finished cells under `dir` from their files alone, and writes results.csv,
 * winrate.md/.csv, paper-vs-ours.md and the plots into `dir`. Every file is written whole or not at all.
 */
export async function writeReport(dir: string, opts: ReportOptions = {}): Promise<Report> {
  const only = opts.only && new Set(opts.only);
  const rows = readRows(dir).filter((r) => !only || only.has(r.cell));
  if (rows.length === 0) throw new ZoError(`${dir}: no finished task cells to report (a cell is finished when its summary.json exists)`);
  const paper: PaperBaseline | undefined = opts.paper ? readPaper(opts.paper) : undefined;
  const report: Report = { ...aggregate(rows, opts.only?.length), files: [] };
  const write = (name: string, text: string) => {
    writeFileAtomic(path.join(dir, name), text);
    report.files.push(name);
  };
  write('results.csv', resultsCsv(rows));
  write('winrate.md', winrateMarkdown(report));
  write('winrate.csv', winrateCsv(report));
  if (paper) write('paper-vs-ours.md', comparePaper(paper, report, displayPath(opts.paper!)));
  if (opts.plots ?? true) report.files.push(...(await renderGridPlots(dir, report)));
  return report;
}
