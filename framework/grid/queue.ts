/**
 * The bullmq executor: a grid's cells as jobs on a Redis queue (job id = cell hash), run by `zo worker`
 * processes on any machine that sees the results folder. BullMQ does the distribution: locks with
 * renewal, retries with backoff, and handing a dead worker's job to another once its lock expires.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DelayedError, Queue, QueueEvents, WaitingError, Worker, type ConnectionOptions } from 'bullmq';
import { ZoError } from '../core/errors.js';
import { checkDevice } from '../engine/ort.js';
import { checkpointStep } from '../runs/checkpoint.js';
import { lockHolder } from '../runs/lock.js';
import { readRunJson } from '../runs/folder.js';
import type { RunSummary } from '../runs/run.js';
import { isFinished, writeCellFile } from './cell.js';
import type { Cell, Placement } from './expand.js';
import { runJob, stopCellsOnExit, threadsEach, type Executor, type Job } from './local.js';

export const DEFAULT_QUEUE = 'zo-grid';

export interface QueueTarget {
  /** redis://[user:password@]host[:port][/db], or rediss:// for TLS. */
  redis: string;
  queue?: string;
}

/**
 * A queued cell: its folder on the shared volume, what it is, and where its inputs are (the worker
 * resolves them). Threads and device are the worker machine's own.
 */
export interface CellTask {
  dir: string;
  cell: Cell;
  place: Omit<Placement, 'threads' | 'device'>;
}

/** BullMQ's connection options from a Redis URL, or one line saying what is wrong with it. */
export function redisConnection(url: string): ConnectionOptions & { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ZoError(`--redis ${url}: not a URL (redis://host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ZoError(`--redis ${url}: not a redis:// or rediss:// URL`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new ZoError(`--redis ${url}: the database must be a number (redis://host:port/0)`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // A worker's blocking calls must wait forever (BullMQ requires it); reconnects are ioredis's.
    maxRetriesPerRequest: null,
  };
}

/** Fails fast, in one line, when nothing listens at the URL (ioredis itself would retry forever). */
export async function reachRedis(url: string): Promise<void> {
  const { host, port } = redisConnection(url);
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setTimeout(5000, () => s.destroy(new Error('no answer in 5 s')));
    s.once('connect', () => {
      s.end();
      resolve();
    });
    s.once('error', (e) => reject(new ZoError(`--redis ${url}: cannot reach Redis (${(e as NodeJS.ErrnoException).code ?? e.message})`)));
  });
}

const RETRY_DELAY_MS = 5000;

/** Adds a cell's job unless one is already waiting, delayed or running; a finished or failed one is replaced. */
async function enqueue(queue: Queue<CellTask>, j: Job, retries: number): Promise<void> {
  const old = await queue.getJob(j.cell.hash);
  if (old) {
    const state = await old.getState();
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
    await old.remove();
  }
  const { threads: _t, device: _d, ...place } = j.place;
  await queue.add(
    'cell',
    { dir: path.resolve(j.dir), cell: j.cell, place },
    {
      jobId: j.cell.hash,
      attempts: retries + 1,
      backoff: { type: 'exponential', delay: RETRY_DELAY_MS },
      removeOnComplete: true,
      // A failed job stays for a look (bullmq's tools show it) until the next grid call replaces it.
      removeOnFail: false,
    },
  );
}

/**
 * The grid side: enqueues the jobs, then reports them as the local pool does (steps from the queue's
 * progress events, each cell done or failed) until every one has ended. The folder on the shared
 * volume is the truth: a cell is done when its summary.json exists, whatever the events said.
 */
export function queueExecutor(target: QueueTarget & { retries?: number }): Executor {
  const retries = target.retries ?? 2;
  return async (jobs, ev) => {
    if (!jobs.length) return;
    await reachRedis(target.redis);
    const connection = redisConnection(target.redis);
    const name = target.queue ?? DEFAULT_QUEUE;
    const queue = new Queue<CellTask>(name, { connection });
    const events = new QueueEvents(name, { connection });
    const pending = new Map(jobs.map((j) => [j.cell.hash, j]));
    let allDone!: () => void;
    const ended = new Promise<void>((r) => (allDone = r));
    const settle = (hash: string, fn: (j: Job) => void) => {
      const j = pending.get(hash);
      if (!j) return;
      pending.delete(hash);
      fn(j);
      if (!pending.size) allDone();
    };
    const check = async (hash: string) => {
      const j = pending.get(hash);
      if (!j) return;
      if (isFinished(j.dir))
        return settle(hash, (x) => ev.onDone?.(x, readRunJson<RunSummary>(path.join(x.dir, 'summary.json'), 'the run summary')));
      const qj = await queue.getJob(hash);
      const state = qj ? await qj.getState() : 'unknown';
      if (state === 'failed') settle(hash, (x) => ev.onFail?.(x, qj?.failedReason ?? 'failed'));
      // Removed by hand, or completed without its folder (the volume is not shared): queue it again.
      else if (state === 'unknown') await enqueue(queue, j, retries);
    };
    events.on('progress', ({ jobId, data }) => {
      const j = pending.get(jobId);
      if (j && typeof data === 'number') ev.onStep?.(j, data);
    });
    events.on('completed', ({ jobId }) => void check(jobId));
    events.on('failed', ({ jobId }) => void check(jobId));
    await events.waitUntilReady();
    for (const j of jobs) {
      await enqueue(queue, j, retries);
      ev.onStart?.(j);
    }
    // Events can be missed (a reconnect, a job that ended before we listened): look every 2 s as well.
    const poll = setInterval(() => [...pending.keys()].forEach((h) => void check(h)), 2000);
    try {
      await ended;
    } finally {
      clearInterval(poll);
      await events.close();
      await queue.close();
    }
  };
}

export interface WorkerOptions extends QueueTarget {
  /** Cells at once (default 1). */
  concurrency?: number;
  /** ORT threads per cell (default: cores / concurrency). */
  threads?: number;
  /** This machine's device for the ort executor (default cpu). */
  device?: 'cpu' | 'cuda';
  /** How long a job's lock lasts without renewal: a dead worker's job moves on after this (default 30 s). */
  lockSeconds?: number;
  /** Override the job's own modelRoot and dataDir: where this machine keeps models and data. */
  modelsDir?: string;
  dataDir?: string;
  log?: (line: string) => void;
}

export interface RunningWorker {
  /** Stops taking jobs, stops the running cells and puts their jobs back in the queue (each resumes from its checkpoint), then closes. */
  release(): Promise<void>;
}

/**
 * A worker: takes cell jobs and runs each in a fresh process (as BullMQ's sandboxed processors do, but
 * one process per cell, so its peak RSS is its own, and the cell stops with its worker even on SIGKILL).
 * A failed cell throws, so BullMQ retries it with backoff; a cell whose folder another live process
 * holds is put back for later without using an attempt.
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  await reachRedis(o.redis);
  checkDevice(o.device ?? 'cpu');
  stopCellsOnExit();
  const concurrency = o.concurrency ?? 1;
  const threads = o.threads ?? threadsEach(concurrency);
  const lockMs = (o.lockSeconds ?? 30) * 1000;
  const log = o.log ?? (() => {});
  const running = new Set<AbortController>();
  let releasing = false;
  const worker = new Worker<CellTask>(
    o.queue ?? DEFAULT_QUEUE,
    async (job, token) => {
      const { dir, cell } = job.data;
      const place = { ...job.data.place, ...(o.modelsDir && { modelRoot: o.modelsDir }), ...(o.dataDir && { dataDir: o.dataDir }) };
      if (lockHolder(dir)) {
        log(`${cell.hash} busy: another process holds its folder; back in the queue for ${lockMs / 1000} s`);
        await job.moveToDelayed(Date.now() + lockMs, token);
        throw new DelayedError();
      }
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      const from = checkpointStep(dir);
      log(`${cell.hash} start (attempt ${job.attemptsMade + 1}${from ? `, resuming from step ${from}` : ''})`);
      const ac = new AbortController();
      running.add(ac);
      let summary: RunSummary | undefined;
      let error: string | undefined;
      try {
        await runJob(
          { cell, dir, place: { ...place, threads, device: o.device } },
          {
            onStep: (_, step) => void job.updateProgress(step).catch(() => {}),
            onDone: (_, s) => (summary = s),
            onFail: (_, m) => (error = m),
          },
          ac.signal,
        );
      } finally {
        running.delete(ac);
      }
      if (!summary && releasing) {
        log(`${cell.hash} released: back in the queue, to resume from its last checkpoint`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (!summary) {
        log(`${cell.hash} failed: ${error}`);
        throw new Error(error);
      }
      writeCellFile(dir, cell);
      log(`${cell.hash} done in ${summary.wallSeconds.toFixed(1)} s`);
      return { wallSeconds: summary.wallSeconds };
    },
    {
      connection: redisConnection(o.redis),
      concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A stall is a dead worker, not a bad cell; a cell that kills every worker still ends as failed.
      maxStalledCount: 5,
    },
  );
  worker.on('error', (e) => log(`queue error: ${e.message}`));
  await worker.waitUntilReady();
  return {
    release: async () => {
      releasing = true;
      for (const ac of running) ac.abort();
      await worker.close();
    },
  };
}
