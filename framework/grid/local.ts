import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { RunSummary } from '../runs/run.js';
import type { CellJob, CellMessage } from './cell-process.js';
import { runInput, type Cell, type Placement } from './expand.js';

/** A cell to run in `dir`; its run's input follows from `place` (runInput), on whichever machine runs it. */
export interface Job {
  cell: Cell;
  dir: string;
  place: Placement;
}

/** ORT threads for each of `processes` cells sharing this machine's cores. */
export const threadsEach = (processes: number): number => Math.max(1, Math.floor(os.availableParallelism() / processes));

/** Runs a stage's jobs, reporting each one's steps and end: the local pool, or a queue's workers. */
export type Executor = (jobs: Job[], ev: PoolEvents) => Promise<void>;

export interface PoolEvents {
  onStart?: (job: Job) => void;
  /** Steps done so far in this cell (sent a few times a second). */
  onStep?: (job: Job, step: number) => void;
  onDone?: (job: Job, summary: RunSummary) => void;
  onFail?: (job: Job, message: string) => void;
}

const CELL_PROCESS = new URL('./cell-process.js', import.meta.url);

const live = new Set<ChildProcess>();
let exitHook = false;

/** If this process exits, its cells' processes are stopped with it. */
export function stopCellsOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGTERM');
  });
}

/**
 * Runs one job in a fresh process; resolves when it ends, however it ends. An abort stops the cell
 * (SIGTERM: its lock goes, its last checkpoint stays), and the job ends as failed.
 */
export function runJob(job: Job, ev: PoolEvents, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const child = fork(CELL_PROCESS, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    live.add(child);
    signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let ended = false;
    const end = (fn: () => void) => {
      if (ended) return;
      ended = true;
      fn();
    };
    child.on('message', (m: CellMessage) => {
      if (m.type === 'step') ev.onStep?.(job, m.step);
      else if (m.type === 'done') end(() => ev.onDone?.(job, m.summary as RunSummary));
      else end(() => ev.onFail?.(job, m.user ? m.message : `a bug: ${m.message}`));
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      end(() => {
        const last = stderr.trim().split('\n').slice(-3).join(' | ');
        ev.onFail?.(job, `its process ended (${signal ?? `exit code ${code}`}) before the run finished${last ? `: ${last}` : ''}`);
      });
      resolve();
    });
    ev.onStart?.(job);
    child.send({ dir: job.dir, input: runInput(job.cell, job.place) } satisfies CellJob);
  });
}

/**
 * Runs the jobs on `workers` processes at a time, in order. A failed job is reported and the rest go
 * on. If this process exits, the cells' processes are stopped with it (they also stop on their own
 * when the IPC channel closes, which covers a SIGKILL).
 */
export async function runPool(jobs: Job[], workers: number, ev: PoolEvents = {}): Promise<void> {
  stopCellsOnExit();
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) await runJob(jobs[next++]!, ev);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, jobs.length)) }, lane));
}
