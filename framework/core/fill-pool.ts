/**
 * Keyed N(0, 1) fills split across threads. Both generators are counter-based (value c of a stream
 * comes from (key, c) alone), so a block can be cut into chunks that any thread fills, and the result
 * is the one-thread fill's, bit for bit.
 *
 * ONNX Runtime refuses tensors on a SharedArrayBuffer, so z stays in the calling thread's memory and
 * workers cannot write it. Each worker fills its chunks into two slots of a small shared buffer
 * (2 × 64 KB), and the caller, between chunks of its own written straight into z, copies them over.
 * The caller waits only for chunks a worker has claimed: a worker still starting up claims none.
 *
 * Claims count down one shared word, the chunks left, by compare-and-swap; chunk c is (chunks − left).
 * A worker reads the job's description only after a claim succeeds: a job cannot end while one of its
 * chunks is claimed and unfilled, and the next job's description is written only after it ends, so
 * what a claim-holder reads is always its own job's, however late it woke. A job that ends otherwise
 * (a worker failed or was lost, or the caller's own fill threw) leaves the pool broken: no description
 * is published into that control array again, and only `close()` starts afresh.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fillGaussian } from './rng.js';
import { fillZiggurat } from './ziggurat.js';

/** Values per chunk: about 50 µs of the ziggurat, long next to a worker's wake-up. */
export const FILL_CHUNK = 1 << 14;
/** Blocks of fewer chunks are filled by the calling thread alone: a handoff would cost what it saves. */
export const MIN_POOLED_CHUNKS = 4;
const SLOTS = 2;

export type FillKind = 'ziggurat' | 'exact';
const KINDS: readonly FillKind[] = ['ziggurat', 'exact'];
export const FILLS: Readonly<Record<FillKind, (out: Float32Array, key: number, offset?: number) => Float32Array>> = {
  ziggurat: fillZiggurat,
  exact: fillGaussian,
};

/**
 * The shared control array: the chunks left to claim, the job number the workers wake on, the job's
 * description, how many workers may take part, the word the caller waits on (bumped at each delivery
 * and failure), a flag a failing worker raises, the chunks workers filled (counted before delivery,
 * so never after the fill that took them returns: tests read it), and per worker slot its state (0
 * free, else the chunk it holds + 1).
 */
export const CTRL = {
  left: 0,
  job: 1,
  key: 2,
  offset: 3,
  length: 4,
  kind: 5,
  helpers: 6,
  arrived: 7,
  failed: 8,
  filled: 9,
  slots: 10,
} as const;
export const ctrlLength = (workers: number): number => CTRL.slots + SLOTS * workers;

/** Takes one chunk of the open job: how many were left before it (≥ 1), or 0 when none is. */
export function claim(ctrl: Int32Array): number {
  for (;;) {
    const left = Atomics.load(ctrl, CTRL.left);
    if (left <= 0) return 0;
    if (Atomics.compareExchange(ctrl, CTRL.left, left, left - 1) === left) return left;
  }
}

/** What a job is; `publish` writes it before the job opens, and `read` is called only while holding a claim. */
export interface FillJob {
  key: number;
  offset: number;
  length: number;
  kind: FillKind;
}

export function publishJob(ctrl: Int32Array, j: FillJob, helpers: number): void {
  Atomics.store(ctrl, CTRL.key, j.key | 0);
  Atomics.store(ctrl, CTRL.offset, j.offset);
  Atomics.store(ctrl, CTRL.length, j.length);
  Atomics.store(ctrl, CTRL.kind, KINDS.indexOf(j.kind));
  Atomics.store(ctrl, CTRL.helpers, helpers);
  Atomics.store(ctrl, CTRL.left, Math.ceil(j.length / FILL_CHUNK));
}

export function readJob(ctrl: Int32Array): FillJob {
  const kind = KINDS[Atomics.load(ctrl, CTRL.kind)]!;
  return { key: Atomics.load(ctrl, CTRL.key), offset: Atomics.load(ctrl, CTRL.offset), length: Atomics.load(ctrl, CTRL.length), kind };
}

/** Chunk index of a claim that saw `left` chunks left, and its [start, end). */
function chunkOf(left: number, length: number): [number, number, number] {
  const c = Math.ceil(length / FILL_CHUNK) - left;
  return [c, ...span(c, length)];
}

/** [start, end) of chunk c of a fill of `length` values. */
const span = (c: number, length: number): [number, number] => [c * FILL_CHUNK, Math.min(length, (c + 1) * FILL_CHUNK)];

/** CTRL.failed's value that makes the next worker to claim a chunk throw (tests of the failure path). */
const FAIL_ON_CLAIM = 2;
/** CTRL.failed's value once a worker has failed. */
const FAILED = 1;

/**
 * A worker's part of the open job: each chunk it claims goes into a free slot of its own (waiting for
 * the caller to empty one), which then holds the chunk's index + 1 until copied. Workers past the
 * job's helper count sit it out.
 */
export function workerPart(ctrl: Int32Array, staging: Float32Array, worker: number): void {
  if (worker >= Atomics.load(ctrl, CTRL.helpers)) return;
  for (let left = claim(ctrl), i = 0; left > 0; left = claim(ctrl), i++) {
    if (Atomics.load(ctrl, CTRL.failed) === FAIL_ON_CLAIM) throw new Error('a worker failure the tests asked for');
    const j = readJob(ctrl);
    const [c, start, end] = chunkOf(left, j.length);
    const s = CTRL.slots + SLOTS * worker + (i % SLOTS);
    for (let held = Atomics.load(ctrl, s); held !== 0; held = Atomics.load(ctrl, s)) Atomics.wait(ctrl, s, held);
    const at = (s - CTRL.slots) * FILL_CHUNK;
    FILLS[j.kind](staging.subarray(at, at + end - start), j.key, j.offset + start);
    Atomics.add(ctrl, CTRL.filled, 1);
    Atomics.store(ctrl, s, c + 1);
    Atomics.add(ctrl, CTRL.arrived, 1);
    Atomics.notify(ctrl, CTRL.arrived);
  }
}

/** A worker that threw: raises the flag and wakes the caller, which fills what is missing itself. */
export function workerFailed(ctrl: Int32Array): void {
  Atomics.store(ctrl, CTRL.failed, FAILED);
  Atomics.add(ctrl, CTRL.arrived, 1);
  Atomics.notify(ctrl, CTRL.arrived);
}

/** Idle this long, a worker ends, and the pool starts another when asked: no thread outlives its use by much. */
export const FILL_IDLE_MS = 30_000;

/** How long the caller waits for a worker's chunk before it gives up on the workers and fills the rest itself. */
const WAIT_MS = 60_000;

/** The process's fill workers, started the first time a fill asks for them, never keeping the process alive. */
class FillPool {
  private ctrl = new Int32Array(new SharedArrayBuffer(4 * ctrlLength(0)));
  private staging = new Float32Array(new SharedArrayBuffer(0));
  private workers: Worker[] = [];
  private job = 0;
  /** Why fills stay on the calling thread from now on (a worker failed or never started). */
  broken?: string;
  /** A worker's idle time before it ends (tests shorten it). */
  idleMs = FILL_IDLE_MS;

  /** `FILLS[kind](out, key, offset)` on the caller and up to `helpers` workers. */
  fill(out: Float32Array, key: number, kind: FillKind, helpers: number, offset = 0): Float32Array {
    const chunks = Math.ceil(out.length / FILL_CHUNK);
    // Past 2^31 counters (an 8 GB block) the shared description's int32 fields would not hold it.
    const fits = Number.isSafeInteger(offset) && offset >= 0 && offset + out.length <= 0x7fffffff;
    if (helpers < 1 || chunks < MIN_POOLED_CHUNKS || !fits || this.broken !== undefined) return FILLS[kind](out, key, offset);
    this.grow(helpers);
    try {
      return this.pooled(out, key, kind, helpers, offset);
    } catch (e) {
      // The job may be left open with chunks in the slots: never publish another, and stop the
      // workers, which would wait on their full slots for good.
      this.broken = `a fill failed: ${(e as Error).message}`;
      for (const w of this.workers.splice(0)) void w.terminate();
      throw e;
    }
  }

  private pooled(out: Float32Array, key: number, kind: FillKind, helpers: number, offset: number): Float32Array {
    const chunks = Math.ceil(out.length / FILL_CHUNK);
    const { ctrl, staging } = this;
    publishJob(ctrl, { key, offset, length: out.length, kind }, helpers);
    Atomics.store(ctrl, CTRL.job, ++this.job);
    Atomics.notify(ctrl, CTRL.job);
    const have = new Uint8Array(chunks);
    let done = 0;
    // Copies every full slot into out and frees it.
    const takeIn = () => {
      for (let s = CTRL.slots; s < ctrl.length; s++) {
        const held = Atomics.load(ctrl, s);
        if (held === 0) continue;
        const [start, end] = span(held - 1, out.length);
        const at = (s - CTRL.slots) * FILL_CHUNK;
        out.set(staging.subarray(at, at + end - start), start);
        Atomics.store(ctrl, s, 0);
        Atomics.notify(ctrl, s);
        have[held - 1] = 1;
        done++;
      }
    };
    for (let left = claim(ctrl); left > 0; left = claim(ctrl)) {
      const [c, start, end] = chunkOf(left, out.length);
      FILLS[kind](out.subarray(start, end), key, offset + start);
      have[c] = 1;
      done++;
      takeIn();
    }
    for (;;) {
      const arrived = Atomics.load(ctrl, CTRL.arrived);
      takeIn();
      if (done === chunks) return out;
      // A failing worker raises the flag before it counts an arrival: read after `arrived`, it is seen.
      const failed = Atomics.load(ctrl, CTRL.failed) === FAILED;
      const timedOut = !failed && Atomics.wait(ctrl, CTRL.arrived, arrived, WAIT_MS) === 'timed-out';
      if (failed || timedOut) {
        // A worker is lost with a chunk: fill what is missing here, and every fill from now on. What
        // a late worker leaves in its slots is never read, since no job is published again.
        this.broken = timedOut ? `a noise worker held a chunk for ${WAIT_MS / 1000} s` : 'a noise worker failed';
        takeIn();
        have.forEach((h, c) => {
          const [start, end] = span(c, out.length);
          if (!h) FILLS[kind](out.subarray(start, end), key, offset + start);
        });
        return out;
      }
    }
  }

  /** Starts workers up to n. The control array and slots are made afresh, before any worker holds them. */
  private grow(n: number): void {
    if (this.workers.length >= n) return;
    const old = this.workers.splice(0);
    for (const w of old) void w.terminate();
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * ctrlLength(n)));
    Atomics.store(this.ctrl, CTRL.job, this.job);
    this.staging = new Float32Array(new SharedArrayBuffer(4 * SLOTS * n * FILL_CHUNK));
    for (let i = 0; i < n; i++) {
      let worker: Worker;
      try {
        worker = new Worker(new URL('./fill-worker.js', import.meta.url), {
          workerData: { ctrl: this.ctrl, staging: this.staging, worker: i, idleMs: this.idleMs },
        });
      } catch (e) {
        // Without workers (a sandbox, a bundler that left the file out) the caller fills alone.
        this.broken = `no noise worker: ${(e as Error).message}`;
        return;
      }
      worker.unref();
      worker.on('exit', () => {
        this.workers = this.workers.filter((w) => w !== worker);
      });
      worker.on('error', (e) => {
        this.broken = `a noise worker failed: ${e.message}`;
      });
      this.workers.push(worker);
    }
  }

  /** Stops the workers (tests; a later fill starts fresh ones, the pool no longer broken). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
    this.broken = undefined;
    Atomics.store(this.ctrl, CTRL.failed, 0);
  }

  /** Makes the next worker to claim a chunk throw (tests). */
  failNextClaim(): void {
    Atomics.store(this.ctrl, CTRL.failed, FAIL_ON_CLAIM);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Chunks the workers have filled since they started. */
  get workerChunks(): number {
    return Atomics.load(this.ctrl, CTRL.filled);
  }
}

const pool = new FillPool();

/**
 * `FILLS[kind](out, key, offset)`, bit for bit, on the calling thread and up to `threads − 1` workers;
 * on the calling thread alone for fills under MIN_POOLED_CHUNKS chunks.
 */
export function fillParallel(out: Float32Array, key: number, kind: FillKind, threads: number, offset = 0): Float32Array {
  return pool.fill(out, key, kind, fillThreads(threads) - 1, offset);
}

/** The threads a fill asked for `threads` runs on: no more than the cores, since more would only take turns, each worker with its own ~14 MB heap. */
export const fillThreads = (threads: number): number => Math.min(threads, os.availableParallelism());

/** The workers running, the chunks they filled, and ways to stop them or shorten their idle time (tests). */
export const fillPool = {
  size: () => pool.size,
  workerChunks: () => pool.workerChunks,
  close: () => pool.close(),
  /** Why fills stay on the calling thread, if they do. */
  broken: () => pool.broken,
  /** Makes the next worker to claim a chunk throw, as a crashing worker would. */
  failNextClaim: () => pool.failNextClaim(),
  /** Workers started from now on end after `ms` idle. */
  setIdleMs: (ms: number) => {
    pool.idleMs = ms;
  },
};
