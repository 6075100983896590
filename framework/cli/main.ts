import yargs from 'yargs';
import { ZoError } from '../core/errors.js';
import { benchCommand } from './bench.js';
import { checkCommand } from './check.js';
import { exportCommand, plotCommand, replayCommand } from './export.js';
import { camelOf, repeatedFlag } from './common.js';
import { finetunerCommand } from './finetuner.js';
import { metaTrainCommand } from './meta-train.js';
import { forwardCommand } from './forward.js';
import { gridCommand, reportCommand } from './grid.js';
import { infoCommand } from './info.js';
import { evalCommand } from './eval.js';
import { optimizersCommand } from './optimizers.js';
import { parityCommand } from './parity.js';
import { pretrainCommand } from './pretrain.js';
import { runCommand } from './run.js';
import { tasksCommand } from './tasks.js';
import { workerCommand } from './worker.js';

/**
 * The `zo` CLI. User errors (ZoError, bad flags) print one line on stderr and exit non-zero; any other
 * exception is a bug and keeps its stack trace.
 */
export async function main(argv: string[]): Promise<void> {
  // A signal becomes an ordinary exit, so exit hooks (a run folder's lock) run; 128 + signal number.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  try {
    await yargs(argv)
      .scriptName('zo')
      // A repeated flag means the last one wins, not an array nobody asked for.
      .parserConfiguration({ 'duplicate-arguments-array': false })
      // …except a repeatable (array) flag, whose occurrences add up: --task a --task b.
      .middleware((args) => {
        // An array flag's parsed value is an array (a scalar's never is, duplicates being off).
        for (const [flag, value] of Object.entries(args)) {
          const all = Array.isArray(value) && /^[a-z][a-z0-9-]*$/.test(flag) ? repeatedFlag(argv, flag) : undefined;
          if (!all) continue;
          args[flag] = all;
          args[camelOf(flag)] = all;
        }
      }, true)
      .usage('$0 <command> [options]\n\nZeroth-order fine-tuning of language models.')
      .command(infoCommand)
      .command(forwardCommand)
      .command(parityCommand)
      .command(runCommand)
      .command(optimizersCommand)
      .command(tasksCommand)
      .command(evalCommand)
      .command(exportCommand)
      .command(plotCommand)
      .command(replayCommand)
      .command(pretrainCommand)
      .command(benchCommand)
      .command(finetunerCommand)
      .command(metaTrainCommand)
      .command(gridCommand)
      .command(reportCommand)
      .command(checkCommand)
      .command(workerCommand)
      .demandCommand(1, 'name a command; `zo --help` lists them')
      .strict()
      .help()
      .version()
      .wrap(Math.min(110, process.stdout.columns || 110))
      .fail((msg, err) => {
        // yargs' own messages can span lines; a user error is always one.
        // A flag's own check (coerce) reaches here as yargs' YError: it is the user's error too.
        if (err?.name === 'YError') throw new ZoError(err.message.replace(/\s*\n\s*/g, ' '));
        throw err ?? new ZoError(`${msg.replace(/\s*\n\s*/g, ' ')} (see zo --help)`);
      })
      .parseAsync();
  } catch (e) {
    if (e instanceof ZoError) {
      process.stderr.write(`zo: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
}
