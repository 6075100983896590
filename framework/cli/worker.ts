import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { runCellAt } from '../grid/grid.js';
import { DEFAULT_QUEUE, startWorker } from '../grid/queue.js';
import { deviceOption, printJson, wholeNumberFlag, type Device } from './common.js';
import { cellLabel, dataDirOption, modelsDirOption } from './grid.js';

interface WorkerArgs {
  redis?: string;
  queue: string;
  concurrency: number;
  threads?: number;
  device?: Device;
  lockSeconds: number;
  grid?: string;
  index?: number;
  stage?: 'pilot' | 'main';
  out?: string;
  modelsDir?: string;
  dataDir?: string;
  json: boolean;
}

/** `--index`, else Kubernetes' JOB_COMPLETION_INDEX: which cell of the expansion this pod runs. */
function indexOf(argv: WorkerArgs): number {
  if (argv.index !== undefined) return argv.index;
  const env = process.env.JOB_COMPLETION_INDEX;
  if (env === undefined) throw new ZoError('--grid needs --index I (or JOB_COMPLETION_INDEX, which a Kubernetes Indexed Job sets)');
  if (!/^\d+$/.test(env)) throw new ZoError(`JOB_COMPLETION_INDEX=${env}: not a cell index`);
  return Number(env);
}

/** One cell of a grid, in this process (a Kubernetes Indexed Job pod). */
async function runIndexed(argv: WorkerArgs): Promise<void> {
  if (!argv.out) throw new ZoError('--grid needs --out DIR: the shared results folder');
  const index = indexOf(argv);
  const r = await runCellAt(argv.grid!, argv.out, index, {
    modelsDir: argv.modelsDir,
    dataDir: argv.dataDir,
    threads: argv.threads,
    device: argv.device,
    stage: argv.stage,
    onWait: (h) => console.error(`cell ${index}: another zo process (pid ${h.pid} on ${h.host}) holds its folder; waiting for it`),
  });
  if (argv.json) return printJson({ index, cell: r.cell.hash, ran: r.summary !== undefined, summary: r.summary });
  const what = cellLabel(r.cell);
  console.log(
    r.summary
      ? `cell ${index} (${r.cell.hash}, ${what}): dev loss ${r.summary.devBestLoss?.toFixed(4)}, train loss ${r.summary.finalTrainLoss?.toFixed(4)} in ${r.summary.wallSeconds.toFixed(1)} s`
      : `cell ${index} (${r.cell.hash}, ${what}): already finished`,
  );
}

/** A queue worker until SIGTERM or SIGINT, which puts its running cells back in the queue. */
async function runQueueWorker(argv: WorkerArgs): Promise<void> {
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const w = await startWorker({
    redis: argv.redis!,
    queue: argv.queue,
    concurrency: argv.concurrency,
    threads: argv.threads,
    device: argv.device,
    lockSeconds: argv.lockSeconds,
    modelsDir: argv.modelsDir,
    dataDir: argv.dataDir,
    log,
  });
  log(`worker on queue ${argv.queue} at ${argv.redis}: ${argv.concurrency} cell(s) at a time; SIGTERM puts running cells back`);
  // Replace the CLI's exit-on-signal: a worker first hands its cells back, so none waits for a lock to expire.
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: releasing running cells`);
      void w.release().then(resolve);
    };
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log('stopped');
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: "run a grid's cells on this machine: jobs from a Redis queue (--redis), or one cell by index (--grid, for Kubernetes)",
  builder: (y) =>
    y
      .option('redis', { type: 'string', describe: 'the Redis that `zo grid --executor bullmq` enqueued to (redis://host:port)' })
      .option('queue', { type: 'string', default: DEFAULT_QUEUE, describe: 'the queue name (as `zo grid --queue`)' })
      .option('concurrency', {
        type: 'number',
        default: 1,
        describe: 'cells at once, each in its own process',
        coerce: wholeNumberFlag('concurrency', 1, 1024),
      })
      .option('threads', {
        type: 'number',
        describe: 'ORT threads per cell (default: cores / concurrency)',
        coerce: wholeNumberFlag('threads', 1, 1024),
      })
      .option('device', deviceOption)
      .option('lock-seconds', {
        type: 'number',
        default: 30,
        describe: "a job's lock, renewed while its cell runs: if this worker dies, another takes the cell after this long",
        coerce: wholeNumberFlag('lock-seconds', 1, 86400),
      })
      .option('grid', { type: 'string', describe: 'instead of a queue: run one cell of this grid file (with --index and --out)' })
      .option('index', {
        type: 'number',
        describe: 'the cell to run, 0-based, in `zo grid --dry-run --json` order (default: $JOB_COMPLETION_INDEX)',
        coerce: wholeNumberFlag('index', 0),
      })
      .option('stage', {
        choices: ['pilot', 'main'] as const,
        describe: "with --grid: count --index over one stage's cells (a grid with a pilot runs as two Indexed Jobs)",
      })
      .option('out', { type: 'string', describe: 'with --grid: the results folder every pod shares' })
      .option('models-dir', { ...modelsDirOption, describe: `${modelsDirOption.describe}, on this machine` })
      .option('data-dir', dataDirOption)
      .option('json', { type: 'boolean', default: false, describe: 'with --grid: print the cell and its summary as JSON' })
      .example('$0 worker --redis redis://queue-host:6379 --concurrency 2', 'take cells from the default queue, two at a time')
      .example(
        '$0 worker --grid experiments/tiny.yaml --index 3 --out /results/tiny',
        'run cell 3 (a Kubernetes Indexed Job pod)',
      ) as never,
  handler: async (argv) => {
    if (argv.grid && argv.redis) throw new ZoError('give --redis (a queue worker) or --grid (one cell by index), not both');
    if (argv.grid) return runIndexed(argv);
    if (!argv.redis) throw new ZoError('name a queue with --redis URL, or a grid cell with --grid FILE --index I --out DIR');
    return runQueueWorker(argv);
  },
};
