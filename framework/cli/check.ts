import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { writeFileAtomic } from '../runs/checkpoint.js';
import { fsError } from '../runs/folder.js';
import {
  failureText,
  fails,
  junitXml,
  readBaseline,
  runCheck,
  shownVerdict,
  signed,
  VERDICTS,
  writeBaseline,
  type BaselineRow,
  type CellCheck,
  type CheckResult,
} from '../grid/check.js';
import { jsonOption, printJson, wholeNumberFlag } from './common.js';
import { dataDirOption, modelsDirOption, progress } from './grid.js';

interface CheckArgs {
  grid: string;
  baseline?: string;
  out?: string;
  toleranceLoss: number;
  toleranceMetric: number;
  strict: boolean;
  junit?: string;
  update: boolean;
  workers?: number;
  modelsDir?: string;
  dataDir?: string;
  json: boolean;
}

const toleranceFlag = (flag: string) => (v: unknown) => {
  const x = Number(v);
  if (typeof v === 'boolean' || !Number.isFinite(x) || x < 0) throw new ZoError(`--${flag}: must be a number ≥ 0 (got ${String(v)})`);
  return x;
};

/** The folder a file will be written into exists and is writable: checked before any cell runs. */
function checkWritable(flag: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new ZoError(`--${flag} ${file}: is a folder, not a file`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw fsError(`--${flag} ${file}`, `cannot write into ${dir}`, e);
  }
}

const f5 = (x: number) => (Number.isNaN(x) ? '–' : Number.isInteger(x) ? String(x) : x.toFixed(5));

/** The per-cell table: the two headline values with their Δ, then the verdict; other moved values below. */
function printTable(checks: CellCheck[], strict: boolean, explain: (c: CellCheck) => boolean): void {
  const head = [
    'verdict',
    'model',
    'task',
    'optimizer',
    'seed',
    'lr',
    'final_train_loss  baseline → now (Δ)',
    'test_metric  baseline → now (Δ)',
  ];
  const pair = (c: CellCheck, col: string) => {
    const x = c.changes.find((y) => y.column === col);
    return x ? `${f5(x.baseline)} → ${f5(x.now)} (${signed(x.delta)})` : '';
  };
  const rows = checks.map((c) => [
    shownVerdict(c, strict),
    c.model,
    c.task,
    c.optimizer,
    String(c.seed),
    String(c.lr),
    pair(c, 'final_train_loss'),
    pair(c, 'test_metric'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((x, i) => x.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  console.log(line(head));
  checks.forEach((c, i) => {
    console.log(line(rows[i]!));
    if (explain(c)) console.log(`      ${c.cell}: ${failureText(c)}`);
  });
}

function counts(checks: CellCheck[]): string {
  const n = (v: string) => checks.filter((c) => c.verdict === v).length;
  return VERDICTS.map((v) => `${n(v)} ${v}`).join(', ');
}

/** The table, the counts, and what the run did to the baseline or what to do next. */
function printText(argv: CheckArgs, r: CheckResult, o: { ran: boolean; passed: boolean; seconds: number; hadBaseline: boolean }): void {
  const t = `loss ${argv.toleranceLoss}, metric ${argv.toleranceMetric}${argv.strict ? ', strict' : ''}`;
  console.log(`zo check ${argv.grid} against ${argv.baseline} (tolerance: ${t})`);
  // An update explains every cell it changes; a check, every cell that fails it.
  const changed = (c: CellCheck) => c.verdict !== 'same' || c.settings !== undefined;
  printTable(r.checks, argv.strict && !argv.update, argv.update ? changed : (c) => fails(c, argv.strict));
  console.log(`${r.checks.length} cells: ${counts(r.checks)} (${o.seconds} s)`);
  if (r.waiting) console.log(`${r.waiting} (model, task, method) wait for pilot cells that did not finish`);
  if (argv.update)
    console.log(
      o.ran
        ? o.hadBaseline
          ? `${argv.baseline}: rewritten with ${r.rows.length} cells (${r.checks.filter(changed).length} differ from the old baseline)`
          : `${argv.baseline}: recorded ${r.rows.length} cells`
        : `${argv.baseline}: left as it was, since some cells did not run`,
    );
  else if (!o.passed)
    console.log(
      `FAILED. The cells are in ${r.out}. If the change is intended, record it: zo check ${argv.grid} --baseline ${argv.baseline} --update`,
    );
}

export const checkCommand: CommandModule<object, CheckArgs> = {
  command: 'check <grid>',
  describe: "re-run a grid's cells and fail on a regression against a baseline results.csv (for CI)",
  builder: (y) =>
    y
      .positional('grid', { type: 'string', demandOption: true, describe: 'a grid file (e.g. experiments/regression.yaml)' })
      .option('baseline', {
        type: 'string',
        describe: "the committed results.csv to compare with (its rows match the grid's cells by hash)",
      })
      .option('out', {
        type: 'string',
        describe: 'a results folder whose finished cells are reused (default: a temporary one, removed when the check passes)',
      })
      .option('tolerance-loss', {
        type: 'number',
        default: 0,
        describe: 'how far a loss may rise before the cell regresses (0: a rerun on the same machine is bit-identical)',
        coerce: toleranceFlag('tolerance-loss'),
      })
      .option('tolerance-metric', {
        type: 'number',
        default: 0,
        describe: 'how far an accuracy or F1 may fall before the cell regresses',
        coerce: toleranceFlag('tolerance-metric'),
      })
      .option('strict', {
        type: 'boolean',
        default: false,
        describe: 'fail on any move beyond the tolerance, improvements too: a changed trajectory must be recorded with --update',
      })
      .option('junit', { type: 'string', describe: 'also write a JUnit XML report (one test case per cell) to this file' })
      .option('update', {
        type: 'boolean',
        default: false,
        describe: 'rewrite the baseline with this run, on purpose, and say what changed',
      })
      .option('workers', {
        type: 'number',
        describe: 'cells run at once (default: the cores; each cell uses one thread)',
        coerce: wholeNumberFlag('workers', 1, 1024),
      })
      .option('models-dir', modelsDirOption)
      .option('data-dir', dataDirOption)
      .option('json', jsonOption)
      .example('$0 check experiments/regression.yaml --baseline results/regression/results.csv', 'check, at tolerance 0 (same machine)')
      .example(
        '$0 check GRID --baseline B --strict --tolerance-loss 1e-3 --tolerance-metric 0.02 --junit check.xml',
        'in CI, across machines',
      )
      .example('$0 check GRID --baseline B --update', 'record the baseline on purpose, saying what changed') as never,
  handler: async (argv) => {
    if (!argv.baseline) throw new ZoError('--baseline is required: the committed results.csv (with --update, the file to write)');
    // Everything is validated before any cell runs: a bad flag costs nothing and writes nothing.
    const hadBaseline = fs.existsSync(argv.baseline);
    const baseline: BaselineRow[] = !argv.update || hadBaseline ? readBaseline(argv.baseline) : [];
    if (argv.update) checkWritable('baseline', argv.baseline);
    if (argv.junit) checkWritable('junit', argv.junit);
    const tolerance = { loss: argv.toleranceLoss, metric: argv.toleranceMetric };
    const p = progress(process.stderr.isTTY && !argv.json);
    const t0 = Date.now();
    let r: CheckResult;
    try {
      r = await runCheck(argv.grid, baseline, {
        out: argv.out,
        tolerance,
        strict: argv.strict,
        workers: argv.workers,
        modelsDir: argv.modelsDir,
        dataDir: argv.dataDir,
        events: p,
      });
    } finally {
      p.stop();
    }
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    if (argv.junit) writeFileAtomic(argv.junit, junitXml(argv.grid, r.checks, argv.strict, seconds));
    const ran = r.checks.every((c) => c.verdict !== 'failed') && r.waiting === 0;
    if (argv.update && ran) writeBaseline(argv.baseline, r.rows);
    const passed = argv.update ? ran : r.passed;
    // A temporary folder is kept only when there is something in it to look at.
    if (!argv.out && passed) fs.rmSync(r.out, { recursive: true, force: true });
    if (argv.json)
      printJson({ grid: argv.grid, baseline: argv.baseline, tolerance, strict: argv.strict, seconds, passed, out: r.out, cells: r.checks });
    else printText(argv, r, { ran, passed, seconds, hadBaseline });
    if (!passed) process.exitCode = 1;
  },
};
