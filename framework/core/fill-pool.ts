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
 * A job's chunks are claimed through one shared word, (job & 0xfff) << 20 | next chunk, by
 * compare-and-swap. The caller closes the word when a job ends and publishes the next job's
 * description before its word and number, so a worker that wakes late, holding an older job (or an
 * older job's number with part of a newer description), finds nothing to claim.
 */
import { Worker } from 'node:worker_threads';
import { fillGaussian } from './rng.js';
import { fillZiggurat } from './ziggurat.js';

/** Values per chunk: about 50 µs of the ziggurat, long next to a worker's wake-up. */
export const FILL_CHUNK = 1 << 14;
/** Blocks of fewer chunks are filled by the calling thread alone: a handoff would cost what it saves. */
export const MIN_POOLED_CHUNKS = 4;
const MAX_CHUNKS = (1 << 20) - 1;
const SLOTS = 2;

export type FillKind = 'ziggurat' | 'exact';
const KINDS: readonly FillKind[] = ['ziggurat', 'exact'];
export const FILLS: Readonly<Record<FillKind, (out: Float32Array, key: number, offset?: number) => Float32Array>> = {
  ziggurat: fillZiggurat,
  exact: fillGaussian,
};

/**
 * The shared control array: the claim word, the job's description (published before its number), a
 * count of chunks the caller has taken in, and per worker slot its state (FREE, or the chunk it holds + 1).
 */
export const CTRL = { word: 0, job: 1, key: 2, offset: 3, length: 4, kind: 5, arrived: 6, slots: 8 } as const;
export const ctrlLength = (workers: number): number => CTRL.slots + SLOTS * workers;

/** Claims the next chunk of `job` (of `chunks`), or −1 once the job's chunks are all taken or another job began. */
export function claim(ctrl: Int32Array, job: number, chunks: number): number {
  for (;;) {
    const w = Atomics.load(ctrl, CTRL.word);
    const c = w & 0xfffff;
    if (w >>> 20 !== (job & 0xfff) || c >= chunks) return -1;
    if (Atomics.compareExchange(ctrl, CTRL.word, w, w + 1) === w) return c;
  }
}

/** Opens job `job` for claims from chunk 0. */
export function openJob(ctrl: Int32Array, job: number): void {
  Atomics.store(ctrl, CTRL.word, (job & 0xfff) << 20);
}

/** Closes it: a worker that read part of the next job's description under this job's number claims nothing. */
export function closeJob(ctrl: Int32Array, job: number): void {
  Atomics.store(ctrl, CTRL.word, ((job & 0xfff) << 20) | 0xfffff);
}

/** [start, end) of chunk c of a fill of n values. */
const span = (c: number, n: number): [number, number] => [c * FILL_CHUNK, Math.min(n, (c + 1) * FILL_CHUNK)];

/**
 * A worker's part of the job it was woken for: each chunk it claims goes into a free slot of its own
 * (waiting for the caller to empty one), which then holds the chunk's index + 1 until copied.
 */
export function workerPart(ctrl: Int32Array, staging: Float32Array, worker: number): void {
  const job = Atomics.load(ctrl, CTRL.job);
  const [key, offset, n] = [Atomics.load(ctrl, CTRL.key), Atomics.load(ctrl, CTRL.offset), Atomics.load(ctrl, CTRL.length)];
  const fill = FILLS[KINDS[Atomics.load(ctrl, CTRL.kind)]!];
  const chunks = Math.ceil(n / FILL_CHUNK);
  for (let c = claim(ctrl, job, chunks), i = 0; c >= 0; c = claim(ctrl, job, chunks), i++) {
    const s = CTRL.slots + SLOTS * worker + (i % SLOTS);
    for (let held = Atomics.load(ctrl, s); held !== 0; held = Atomics.load(ctrl, s)) Atomics.wait(ctrl, s, held);
    const [start, end] = span(c, n);
    const at = (s - CTRL.slots) * FILL_CHUNK;
    fill(staging.subarray(at, at + end - start), key, offset + start);
    Atomics.store(ctrl, s, c + 1);
    Atomics.add(ctrl, CTRL.arrived, 1);
    Atomics.notify(ctrl, CTRL.arrived);
  }
}

/** Idle this long, a worker ends, and the pool starts another when asked: no thread outlives its use by much. */
export const FILL_IDLE_MS = 30_000;

/** How long the caller waits for a worker's chunk before it calls the worker lost. */
const WAIT_MS = 60_000;

/** The process's fill workers, started the first time a fill asks for them, never keeping the process alive. */
class FillPool {
  private ctrl = new Int32Array(new SharedArrayBuffer(4 * ctrlLength(0)));
  private staging = new Float32Array(new SharedArrayBuffer(0));
  private workers: Worker[] = [];
  private job = 0;
  private broken?: string;
  /** A worker's idle time before it ends (tests shorten it). */
  idleMs = FILL_IDLE_MS;

  /** `FILLS[kind](out, key, offset)` on the caller and up to `helpers` workers. */
  fill(out: Float32Array, key: number, kind: FillKind, helpers: number, offset = 0): Float32Array {
    const chunks = Math.ceil(out.length / FILL_CHUNK);
    // Past 2^31 counters (an 8 GB block) the shared description's int32 fields would not hold it.
    const fits = chunks <= MAX_CHUNKS && Number.isSafeInteger(offset) && offset >= 0 && offset + out.length <= 0x7fffffff;
    if (helpers < 1 || chunks < MIN_POOLED_CHUNKS || !fits || this.broken !== undefined) return FILLS[kind](out, key, offset);
    this.grow(helpers);
    const { ctrl, staging } = this;
    const job = ++this.job;
    // The description first, then the word, then the number the workers wake on.
    Atomics.store(ctrl, CTRL.key, key | 0);
    Atomics.store(ctrl, CTRL.offset, offset);
    Atomics.store(ctrl, CTRL.length, out.length);
    Atomics.store(ctrl, CTRL.kind, KINDS.indexOf(kind));
    openJob(ctrl, job);
    Atomics.store(ctrl, CTRL.job, job);
    Atomics.notify(ctrl, CTRL.job);
    const fill = FILLS[kind];
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
        done++;
      }
    };
    for (let c = claim(ctrl, job, chunks); c >= 0; c = claim(ctrl, job, chunks)) {
      const [start, end] = span(c, out.length);
      fill(out.subarray(start, end), key, offset + start);
      done++;
      takeIn();
    }
    for (;;) {
      const arrived = Atomics.load(ctrl, CTRL.arrived);
      takeIn();
      if (done === chunks) {
        closeJob(ctrl, job);
        return out;
      }
      if (Atomics.wait(ctrl, CTRL.arrived, arrived, WAIT_MS) === 'timed-out') {
        this.broken = `a noise worker held a chunk for ${WAIT_MS / 1000} s`;
        throw new Error(`${this.broken}; noise is generated on one thread from now on`);
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

  /** Stops the workers (tests; a later fill starts them again). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Chunks the workers have filled since they started. */
  get workerChunks(): number {
    return Atomics.load(this.ctrl, CTRL.arrived);
  }
}

const pool = new FillPool();

/**
 * `FILLS[kind](out, key, offset)`, bit for bit, on the calling thread and up to `threads − 1` workers;
 * on the calling thread alone for fills under MIN_POOLED_CHUNKS chunks.
 */
export function fillParallel(out: Float32Array, key: number, kind: FillKind, threads: number, offset = 0): Float32Array {
  return pool.fill(out, key, kind, threads - 1, offset);
}

/** The workers running, the chunks they filled, and ways to stop them or shorten their idle time (tests). */
export const fillPool = {
  size: () => pool.size,
  workerChunks: () => pool.workerChunks,
  close: () => pool.close(),
  /** Workers started from now on end after `ms` idle. */
  setIdleMs: (ms: number) => {
    pool.idleMs = ms;
  },
};
