import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { cellSummary, methodLabel, type Cell } from '../grid/expand.js';
import { gridJsonSchema } from '../grid/file.js';
import { planGrid, runGrid, type GridResult } from '../grid/grid.js';
import { DEFAULT_QUEUE, queueExecutor, reachRedis } from '../grid/queue.js';
import type { Job } from '../grid/local.js';
import { hpText, writeReport, type Report } from '../grid/report.js';
import { headline } from '../grid/winrate.js';
import { readPaper } from '../grid/paper.js';
import type { RunSummary } from '../runs/run.js';
import { deviceOption, jsonOption, printJson, wholeNumberFlag, type Device } from './common.js';

interface GridArgs {
  file?: string;
  out?: string;
  workers?: number;
  device?: Device;
  executor: 'local' | 'bullmq';
  redis?: string;
  queue: string;
  retries: number;
  modelsDir?: string;
  dataDir?: string;
  paper: string;
  plots: boolean;
  dryRun: boolean;
  schema: boolean;
  json: boolean;
}

/** The paper's reported figures as shipped; `--paper none` leaves paper-vs-ours.md out. */
const DEFAULT_PAPER = () => path.join(packageRoot(), 'baselines', 'paper.json');
const paperFile = (p: string) => (p === 'none' ? undefined : p);

const paperOption = {
  type: 'string',
  describe: "the paper's reported cells for paper-vs-ours.md (default: zo's baselines/paper.json; none to skip)",
} as const;

/** Where a grid's inputs are: shared by the commands that run grids. */
export const modelsDirOption = {
  type: 'string',
  describe: "where the grid's relative model paths resolve (overrides its modelRoot)",
} as const;
export const dataDirOption = { type: 'string', describe: "where MeZO tasks' downloaded files are (default $ZO_DATA or ./data)" } as const;

/** A cell in one line: model, task, method (LoRA's as <method>+lora), seed and hyperparameters. */
export const cellLabel = (c: Cell) => `${c.model} ${c.task} ${methodLabel(c)} seed ${c.seed} ${hpText(c.hyperparameters)}`;
const f4 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(4));

function printDryRun(file: string, out: string | undefined, json: boolean): void {
  const plan = planGrid(file, out);
  const cells = [...plan.pilot, ...plan.main];
  if (json) return printJson(cells.map(cellSummary));
  if (plan.pilot.length) console.log(`pilot: ${plan.pilot.length} cells (every combination on seeds ${plan.grid.pilot!.seeds.join(', ')})`);
  for (const c of plan.pilot) console.log(`  ${c.hash}  ${cellLabel(c)}`);
  console.log(`${plan.pilot.length ? 'main: ' : ''}${plan.main.length} cells`);
  for (const c of plan.main) console.log(`  ${c.hash}  ${cellLabel(c)}`);
  if (plan.waiting.length)
    console.log(
      `then ${plan.waiting.length * plan.grid.seeds.length} more: ${plan.waiting.length} (model, task, method) × ${plan.grid.seeds.length} seeds, at the pilot's choice once it is done`,
    );
}

/** The grid's progress: one bar on a terminal (steps done over steps to do, with its ETA), plain lines otherwise. */
export function progress(tty: boolean) {
  let started = Date.now();
  const bars = tty
    ? new cliProgress.MultiBar(
        { format: '{stage} [{bar}] {cells} cells | {percentage}% | eta {eta_formatted}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let bar: cliProgress.SingleBar | undefined;
  const stepsOf = new Map<Job, number>();
  let total = 0;
  let finished = 0;
  let cells = 0;
  let stage = '';
  const log = (s: string) => (bars ? bars.log(`${s}\n`) : process.stderr.write(`${s}\n`));
  const update = () =>
    bar?.update(
      [...stepsOf.values()].reduce((a, b) => a + b, 0),
      { cells: `${finished}/${cells}`, stage },
    );
  return {
    onStage: (s: 'pilot' | 'main', todo: Job[], done: number) => {
      stage = s;
      started = Date.now();
      cells = todo.length;
      finished = 0;
      stepsOf.clear();
      total = todo.reduce((a, j) => a + j.cell.steps, 0);
      log(`${s}: ${done} cell(s) already finished, ${todo.length} to run`);
      if (bars && todo.length) {
        bar?.stop();
        bar = bars.create(total, 0, { cells: `0/${cells}`, stage });
      }
    },
    onStep: (job: Job, step: number) => {
      stepsOf.set(job, step);
      update();
    },
    onDone: (job: Job, s: RunSummary) => {
      stepsOf.set(job, job.cell.steps);
      finished++;
      const eta = finished < cells ? `, eta ${Math.round((((Date.now() - started) / 1000) * (cells - finished)) / finished)} s` : '';
      log(
        `[${finished}/${cells}] ${job.cell.hash} ${cellLabel(job.cell)}: dev loss ${f4(s.devBestLoss)}, train loss ${f4(s.finalTrainLoss)}, test ${f4(s.test)} (${s.wallSeconds.toFixed(1)} s${bars ? '' : eta})`,
      );
      update();
    },
    onFail: (job: Job, message: string) => {
      stepsOf.set(job, job.cell.steps);
      finished++;
      log(`[${finished}/${cells}] ${job.cell.hash} ${cellLabel(job.cell)}: FAILED: ${message}`);
      update();
    },
    stop: () => bars?.stop(),
  };
}

function printReport(name: string, r: Report, dir: string): void {
  console.log(`${name}: ${r.rows.length} cells → ${path.join(dir, 'results.csv')}, winrate.md, ${r.files.length - 3} more file(s)`);
  for (const m of r.loss.methods) console.log(`  lowest final train loss  ${headline(m)}`);
  for (const m of r.test.methods) console.log(`  highest test metric      ${headline(m)}`);
}

export const gridCommand: CommandModule<object, GridArgs> = {
  command: 'grid [file]',
  describe: 'run an experiment grid (models × tasks × optimizers × hyperparameters × seeds) and aggregate it',
  builder: (y) =>
    y
      .positional('file', { type: 'string', describe: 'a grid file (YAML or JSON; see experiments/ and docs/grid.md)' })
      .option('out', { type: 'string', describe: 'the results folder: cells/<hash>/ run folders, results.csv, winrate.md, plots' })
      .option('workers', {
        type: 'number',
        describe: 'worker processes (default: the cores; each gets cores/workers threads)',
        coerce: wholeNumberFlag('workers', 1, 1024),
      })
      .option('executor', {
        choices: ['local', 'bullmq'] as const,
        default: 'local' as const,
        describe:
          'where cells run: a pool of processes here, or jobs on a Redis queue that `zo worker` processes take (DIR on a shared volume)',
      })
      .option('redis', { type: 'string', describe: 'with --executor bullmq: the Redis URL (redis://host:port)' })
      .option('queue', { type: 'string', default: DEFAULT_QUEUE, describe: 'with --executor bullmq: the queue name' })
      .option('retries', {
        type: 'number',
        default: 2,
        describe: 'with --executor bullmq: how often a failed cell is retried (with backoff) before it is recorded as failed',
        coerce: wholeNumberFlag('retries', 0, 100),
      })
      .option('device', deviceOption)
      .option('models-dir', modelsDirOption)
      .option('data-dir', dataDirOption)
      .option('paper', paperOption)
      .option('plots', { type: 'boolean', default: true, describe: 'render the plots (--no-plots skips them)' })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: "print the cells (with --out: the pilot's choices so far) and run nothing",
      })
      .option('schema', { type: 'boolean', default: false, describe: "print the grid file's JSON Schema" })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (argv.schema) return printJson(gridJsonSchema());
    if (!argv.file) throw new ZoError('name a grid file: zo grid FILE --out DIR (see experiments/)');
    if (argv.dryRun) return printDryRun(argv.file, argv.out, argv.json);
    if (!argv.out) throw new ZoError('--out is required: the results folder (e.g. --out results/mine)');
    if (argv.executor === 'bullmq' && !argv.redis) throw new ZoError('--executor bullmq needs --redis URL (redis://host:port)');
    // Before anything is written: an unreachable queue is one line, not a results folder with nothing in it.
    if (argv.executor === 'bullmq') await reachRedis(argv.redis!);
    // The report reads it only after every cell has run: a bad file is found now instead.
    const paper = paperFile(argv.paper ?? DEFAULT_PAPER());
    if (paper) readPaper(paper);
    const p = progress(process.stderr.isTTY && !argv.json);
    const t0 = Date.now();
    let r: GridResult;
    try {
      r = await runGrid(argv.file, argv.out, {
        workers: argv.workers,
        device: argv.device,
        modelsDir: argv.modelsDir,
        dataDir: argv.dataDir,
        paper,
        plots: argv.plots,
        events: p,
        executor: argv.executor === 'bullmq' ? queueExecutor({ redis: argv.redis!, queue: argv.queue, retries: argv.retries }) : undefined,
      });
    } finally {
      p.stop();
    }
    const wallSeconds = Math.round((Date.now() - t0) / 100) / 10;
    if (argv.json)
      return printJson({ out: argv.out, failed: r.failed, cells: r.plan.main.length, waiting: r.plan.waiting.length, wallSeconds });
    console.log(`${argv.file}: ${r.plan.pilot.length + r.plan.main.length} cells, this call took ${(wallSeconds / 60).toFixed(1)} min`);
    if (r.pilot) printReport('pilot', r.pilot, path.join(argv.out, 'pilot'));
    if (r.main) printReport('grid', r.main, argv.out);
    if (r.failed) {
      console.log(
        `${r.failed} cell(s) failed; each error is in ${path.join(argv.out, '[pilot/]failed', '<hash>.json')}, and the next call retries them`,
      );
      process.exitCode = 1;
    }
  },
};

export const reportCommand: CommandModule<object, { dir: string; paper?: string; plots: boolean; json: boolean }> = {
  command: 'report <dir>',
  describe: 'aggregate finished cell folders into results.csv, win-rate tables, paper-vs-ours.md and plots',
  builder: (y) =>
    y
      .positional('dir', {
        type: 'string',
        demandOption: true,
        describe: 'a grid results folder (its cells/), or any folder of run folders',
      })
      .option('paper', paperOption)
      .option('plots', { type: 'boolean', default: true, describe: 'render the plots (--no-plots skips them)' })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (!fs.existsSync(argv.dir)) throw new ZoError(`${argv.dir}: no such folder`);
    const r = await writeReport(argv.dir, { paper: paperFile(argv.paper ?? DEFAULT_PAPER()), plots: argv.plots });
    if (argv.json) return printJson({ cells: r.rows.length, files: r.files, loss: r.loss.methods, test: r.test.methods });
    printReport('report', r, argv.dir);
  },
};
