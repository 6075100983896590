/**
 * The process a local grid forks for one cell (grid/local.ts). One cell per process, so each cell's
 * peak RSS is its own. It reports steps and the end over IPC, and stops when the grid goes away.
 */
import { ZoError } from '../core/errors.js';
import type { RunSpecInput } from '../runs/run.js';
import { runCell } from './cell.js';

export interface CellJob {
  dir: string;
  input: RunSpecInput;
}

export type CellMessage =
  { type: 'step'; step: number } | { type: 'done'; summary: unknown } | { type: 'error'; message: string; user: boolean };

const send = (m: CellMessage) => process.send?.(m);

/** The last message, then exit once it is delivered (ORT's threads would otherwise keep the process). */
const finish = (m: CellMessage, code: number) => {
  if (!process.send) process.exit(code);
  process.send(m, () => process.exit(code));
};

// The grid holds the other end of the IPC channel; when it dies (even by SIGKILL) the cell stops too,
// and its lock goes with it, so a rerun can take the cell over.
process.on('disconnect', () => process.exit(143));
process.once('SIGTERM', () => process.exit(143));
process.once('SIGINT', () => process.exit(130));

process.once('message', (job: CellJob) => {
  let last = 0;
  runCell(job.dir, job.input, {
    onStep: (r) => {
      const now = Date.now();
      if (now - last < 250) return;
      last = now;
      send({ type: 'step', step: r.step + 1 });
    },
  })
    .then((summary) => finish({ type: 'done', summary }, 0))
    .catch((e: unknown) => {
      const user = e instanceof ZoError;
      finish({ type: 'error', message: user ? e.message : String((e as Error)?.stack ?? e), user }, 1);
    });
});
