import os from 'node:os';
import {
  claim,
  ctrlLength,
  FILL_CHUNK,
  FILL_IDLE_MS,
  fillParallel,
  fillPool,
  FILLS,
  MIN_POOLED_CHUNKS,
  publishJob,
  readJob,
  type FillKind,
} from './fill-pool.js';
import { ExactNoise, TableNoise } from './noise.js';

afterAll(() => fillPool.close());

/** Tests of the workers' part need a second core: on one, the pool starts no worker (fillParallel's clamp). */
const poolTest = os.availableParallelism() > 1 ? test : test.skip;

/** Equal bit for bit (no NaN is drawn). */
function differing(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return a.length === b.length ? n : -1;
}

const kinds: FillKind[] = ['ziggurat', 'exact'];
// The smallest pooled fill, one value past it, chunks that end mid-way, and a large one.
const lengths = [MIN_POOLED_CHUNKS * FILL_CHUNK, MIN_POOLED_CHUNKS * FILL_CHUNK + 1, 100_003, (1 << 20) + 7];

test.each(kinds)('%s: a fill on 2 and 3 threads is the one-thread fill, bit for bit, from any counter and key', (kind) => {
  for (const n of lengths)
    for (const [key, offset] of [
      [1234, 0],
      [0xdeadbeef, 12_345],
    ] as const) {
      const want = FILLS[kind](new Float32Array(n), key, offset);
      for (const threads of [2, 3]) expect(differing(fillParallel(new Float32Array(n), key, kind, threads, offset), want)).toBe(0);
    }
  // A third thread only where there is a third core: no more workers than cores − 1.
  expect(fillPool.size()).toBe(Math.min(2, os.availableParallelism() - 1));
});

poolTest('jobs back to back, their lengths and keys changing every time, each come out whole, and the workers fill part of them', () => {
  // A worker that wakes late and reads part of the next job's description must claim nothing of it.
  const jobs = [
    { n: MIN_POOLED_CHUNKS * FILL_CHUNK, key: 7 },
    { n: 37 * FILL_CHUNK + 5, key: 0x9e3779b9 },
    { n: 5 * FILL_CHUNK + 17, key: 42 },
  ];
  const want = jobs.map((j) => FILLS.ziggurat(new Float32Array(j.n), j.key));
  const outs = jobs.map((j) => new Float32Array(j.n));
  const before = fillPool.workerChunks();
  let wrong = 0;
  for (let r = 0; r < 300; r++)
    jobs.forEach((j, i) => {
      outs[i]!.fill(0);
      fillParallel(outs[i]!, j.key, 'ziggurat', 2);
      if (differing(outs[i]!, want[i]!) !== 0) wrong++;
    });
  expect(wrong).toBe(0);
  // Without this the test would pass with the workers never taking part.
  expect(fillPool.workerChunks() - before).toBeGreaterThan(1000);
});

test('a job hands out each of its chunks once, counting down, and its description is what was published', () => {
  const ctrl = new Int32Array(ctrlLength(1));
  for (const job of [
    { key: 0x9e3779b9, offset: 12_345, length: 4 * FILL_CHUNK, kind: 'exact' as const },
    { key: 7, offset: 0, length: 2 * FILL_CHUNK + 1, kind: 'ziggurat' as const },
  ]) {
    publishJob(ctrl, job, 1);
    const chunks = Math.ceil(job.length / FILL_CHUNK);
    expect(Array.from({ length: chunks + 2 }, () => claim(ctrl))).toEqual([...Array.from({ length: chunks }, (_, i) => chunks - i), 0, 0]);
    expect(readJob(ctrl)).toEqual({ ...job, key: job.key | 0 });
  }
});

test('fills under MIN_POOLED_CHUNKS chunks stay on the calling thread', () => {
  const before = fillPool.workerChunks();
  const n = (MIN_POOLED_CHUNKS - 1) * FILL_CHUNK;
  for (let r = 0; r < 50; r++)
    expect(differing(fillParallel(new Float32Array(n), r, 'ziggurat', 2), FILLS.ziggurat(new Float32Array(n), r))).toBe(0);
  expect(fillPool.workerChunks()).toBe(before);
});

poolTest.each(kinds)('%s noise on 2 threads draws what it draws on one', (kind) => {
  const sizes = [300, 5 * FILL_CHUNK + 3, 8 * FILL_CHUNK];
  const [one, two] = [new ExactNoise(11, sizes, kind, 1), new ExactNoise(11, sizes, kind, 2)];
  const before = fillPool.workerChunks();
  // Twenty steps and two probes: enough jobs that a worker takes part even on a busy machine.
  for (let step = 0; step < 20; step++)
    for (const probe of [0, 1]) sizes.forEach((_, b) => expect(differing(two.z(step, probe, b), one.z(step, probe, b))).toBe(0));
  // The two large blocks went through the pool (a worker that wakes too late for a block claims none of it).
  expect(fillPool.workerChunks()).toBeGreaterThan(before);
});

/** Fills until a worker has taken part, so that the pool is up before a test that counts its chunks. */
async function warm(): Promise<void> {
  const n = 8 * FILL_CHUNK;
  // After one fill: a pool that starts afresh also starts its count afresh.
  fillParallel(new Float32Array(n), 0, 'ziggurat', 2);
  const before = fillPool.workerChunks();
  for (let r = 1; r < 400 && fillPool.workerChunks() <= before; r++) {
    fillParallel(new Float32Array(n), r, 'ziggurat', 2);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

poolTest('table noise generated on 2 threads is the one-thread table', async () => {
  await warm();
  const before = fillPool.workerChunks();
  const [one, two] = [new TableNoise(5, [1000, 30_000], 1, 1), new TableNoise(5, [1000, 30_000], 1, 2)];
  for (const step of [0, 1, 77, 5000]) for (const b of [0, 1]) expect(differing(two.z(step, 0, b), one.z(step, 0, b))).toBe(0);
  expect(fillPool.workerChunks()).toBeGreaterThan(before);
});

poolTest('workers stopped, or ended after their idle time, are started again by the next fill', async () => {
  const n = 8 * FILL_CHUNK;
  const want = FILLS.ziggurat(new Float32Array(n), 3);
  await fillPool.close();
  expect(fillPool.size()).toBe(0);
  fillPool.setIdleMs(200);
  try {
    expect(differing(fillParallel(new Float32Array(n), 3, 'ziggurat', 2), want)).toBe(0);
    expect(fillPool.size()).toBe(1);
    for (let t = 0; t < 100 && fillPool.size() > 0; t++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fillPool.size()).toBe(0);
    // The first fill starts a new worker (and a new count); it may still be starting during that fill.
    expect(differing(fillParallel(new Float32Array(n), 3, 'ziggurat', 2), want)).toBe(0);
    const before = fillPool.workerChunks();
    for (let r = 0; r < 400 && fillPool.workerChunks() === before; r++) {
      expect(differing(fillParallel(new Float32Array(n), 3, 'ziggurat', 2), want)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(fillPool.workerChunks()).toBeGreaterThan(before);
  } finally {
    fillPool.setIdleMs(FILL_IDLE_MS);
    // Its worker keeps the short idle time: stop it, so that the next test starts a worker of its own.
    await fillPool.close();
  }
});

poolTest('a worker that fails holding a chunk: the fill still comes out whole, at once, and later fills run on the caller', async () => {
  await warm();
  const n = 64 * FILL_CHUNK;
  const want = FILLS.ziggurat(new Float32Array(n), 11);
  fillPool.failNextClaim();
  try {
    // Until a worker claims (and fails), fills are whole as usual.
    for (let r = 0; r < 400 && fillPool.broken() === undefined; r++) {
      expect(differing(fillParallel(new Float32Array(n), 11, 'ziggurat', 2), want)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(fillPool.broken()).toBe('a noise worker failed');
    const chunks = fillPool.workerChunks();
    expect(differing(fillParallel(new Float32Array(n), 11, 'ziggurat', 2), want)).toBe(0);
    expect(fillPool.workerChunks()).toBe(chunks);
  } finally {
    await fillPool.close();
  }
});
