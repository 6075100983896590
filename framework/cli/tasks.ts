import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { TASKS, resolveTask } from '../../datasets/registry.js';
import type { Row, Splits } from '../tasks/task.js';
import { jsonOption, printJson } from './common.js';
import { splitSizes } from './run.js';
import { checkNewFolder } from '../runs/folder.js';

interface Args {
  json: boolean;
  export?: string;
  taskFile?: string;
  out?: string;
  dataDir?: string;
  trainSetSeed: number;
  trainSize?: number;
  devSize?: number;
  testSize?: number;
}

const SPLITS = ['train', 'dev', 'test'] as const;

export const tasksCommand: CommandModule<object, Args> = {
  command: 'tasks',
  describe: "list the tasks: MeZO's 11 (your downloaded files) and the offline tiny suite; or export one's rows as JSONL",
  builder: (y) =>
    y
      .option('json', jsonOption)
      .option('export', {
        type: 'string',
        describe:
          "write this task's train, dev and test rows to --out as train.jsonl, dev.jsonl and test.jsonl, in its own columns (with --task-file, give no name)",
      })
      .option('task-file', { type: 'string', describe: 'export a custom task file' })
      .option('out', { type: 'string', describe: 'export: a new or empty folder' })
      .option('data-dir', { type: 'string', describe: "export: where MeZO tasks' downloaded files are" })
      .option('train-set-seed', { type: 'number', default: 0, describe: 'export: which train and dev rows are drawn' })
      .option('train-size', { type: 'number', describe: "export: train rows (default: the task's)" })
      .option('dev-size', { type: 'number', describe: "export: dev rows (default: the task's)" })
      .option('test-size', { type: 'number', describe: "export: test rows (default: the task's)" })
      .example('zo tasks --export tiny-cb --out exports/tiny-cb', "tiny-cb's rows as exports/tiny-cb/{train,dev,test}.jsonl")
      .example('zo tasks --export --task-file my-task.yaml --out exports/mine', "a custom task's rows, as zo run would load them") as never,
  handler: async (argv) => {
    if (argv.export !== undefined) return exportTask(argv);
    if (argv.taskFile !== undefined || argv.out !== undefined)
      throw new ZoError('--task-file and --out are for exporting: zo tasks --export NAME --out DIR');
    list(argv.json);
  },
};

function list(json: boolean): void {
  const rows = TASKS.map((t) => ({
    name: t.name,
    suite: t.suite,
    type: t.type,
    metric: t.metric,
    loss: t.loss,
    trainSize: t.sizes.train,
    devSize: t.sizes.dev,
    testSize: t.sizes.test,
    description: t.description,
  }));
  if (json) return printJson(rows);
  console.log('task              suite  type             loss            metric    train   dev  test');
  for (const r of rows)
    console.log(
      `${r.name.padEnd(17)} ${r.suite.padEnd(6)} ${r.type.padEnd(16)} ${r.loss.padEnd(15)} ${r.metric.padEnd(8)} ${String(r.trainSize).padStart(6)} ${String(r.devSize).padStart(5)} ${String(r.testSize).padStart(5)}`,
    );
}

/** `zo tasks --export`: the rows `task.load` gives, one JSONL file per split, written all or nothing. */
async function exportTask(a: Args): Promise<void> {
  const name = a.export || undefined;
  if (name && a.taskFile) throw new ZoError(`give --export ${name} or --export --task-file ${a.taskFile}, not both`);
  if (!name && !a.taskFile) throw new ZoError('--export needs a task name (see zo tasks) or --task-file FILE');
  if (!a.out) throw new ZoError('--export needs --out DIR: a new or empty folder for train.jsonl, dev.jsonl and test.jsonl');
  checkNewFolder(a.out);
  const task = resolveTask(name, a.taskFile);
  const splits = await task.load({ dataDir: a.dataDir, trainSetSeed: a.trainSetSeed, sizes: splitSizes(a) });
  const files = SPLITS.map((split) => ({ file: `${split}.jsonl`, text: jsonl(task.name, split, splits) }));
  writeFolder(a.out, files);
  const counts = Object.fromEntries(SPLITS.map((s) => [s, splits[s].length])) as Record<(typeof SPLITS)[number], number>;
  if (a.json) return printJson({ task: task.name, out: a.out, trainSetSeed: a.trainSetSeed, rows: counts });
  console.log(
    `${task.name}: wrote ${counts.train} train, ${counts.dev} dev and ${counts.test} test rows (train set seed ${a.trainSetSeed}) to ${path.join(a.out, '{train,dev,test}.jsonl')}`,
  );
}

/** A split as JSON Lines; a row that JSON cannot hold exactly (a huge integer, a date) is refused, not changed. */
function jsonl(task: string, split: keyof Splits, splits: Splits): string {
  return splits[split]
    .map((row: Row, i) => {
      let line: string | undefined;
      try {
        line = JSON.stringify(row);
      } catch (e) {
        throw new ZoError(`${task}: ${split} row ${i + 1} cannot be written as JSON (${(e as Error).message})`);
      }
      if (line === undefined || !isDeepStrictEqual(JSON.parse(line), row))
        throw new ZoError(`${task}: ${split} row ${i + 1} would not read back the same from JSON`);
      return line + '\n';
    })
    .join('');
}

/**
 * Writes the files into a temporary folder beside `out`, then renames it to `out` (which may be an
 * empty folder): a reader never sees part of an export, and a failure leaves nothing behind.
 */
function writeFolder(out: string, files: { file: string; text: string }[]): void {
  const target = path.resolve(out);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    for (const { file, text } of files) fs.writeFileSync(path.join(tmp, file), text);
    fs.renameSync(tmp, target);
  } catch (e) {
    throw new ZoError(`--out ${out}: cannot write the export (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
