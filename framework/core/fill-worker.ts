/**
 * A fill worker (fill-pool.ts): sleeps until the job number changes, then fills chunks of that job
 * into its slots until none is left. A job it woke too late for has no chunks left to claim. It ends
 * after `idleMs` without a job (FILL_IDLE_MS), between jobs, holding no chunk, or when a fill throws.
 */
import { workerData } from 'node:worker_threads';
import { CTRL, workerFailed, workerPart } from './fill-pool.js';

const { ctrl, staging, worker, idleMs } = workerData as { ctrl: Int32Array; staging: Float32Array; worker: number; idleMs: number };
/** A step asks for its blocks back to back: stay awake this long after a job before sleeping. */
const SPIN_MS = 0.2;
let seen = Atomics.load(ctrl, CTRL.job);
for (;;) {
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, CTRL.job) === seen && performance.now() < until);
  if (Atomics.wait(ctrl, CTRL.job, seen, idleMs) === 'timed-out') break;
  seen = Atomics.load(ctrl, CTRL.job);
  try {
    workerPart(ctrl, staging, worker);
  } catch {
    // The caller fills what this worker claimed and never delivered, and fills alone from then on.
    workerFailed(ctrl);
    break;
  }
}
