import {
  claim,
  closeJob,
  ctrlLength,
  FILL_CHUNK,
  FILL_IDLE_MS,
  fillParallel,
  fillPool,
  FILLS,
  MIN_POOLED_CHUNKS,
  openJob,
  type FillKind,
} from './fill-pool.js';
import { ExactNoise, TableNoise } from './noise.js';

afterAll(() => fillPool.close());

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
  expect(fillPool.size()).toBe(2);
});

test('jobs back to back, their lengths and keys changing every time, each come out whole, and the workers fill part of them', () => {
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

test('a job hands out each chunk once; a closed job, or one a newer job replaced, hands out none', () => {
  const ctrl = new Int32Array(ctrlLength(1));
  for (const job of [5, 4095, 4096, 4097 + 2048]) {
    openJob(ctrl, job);
    expect([0, 1, 2, 3, 4].map(() => claim(ctrl, job, 4))).toEqual([0, 1, 2, 3, -1]);
    // A late worker with this job's number and the next job's longer length.
    closeJob(ctrl, job);
    expect(claim(ctrl, job, 40)).toBe(-1);
    openJob(ctrl, job + 1);
    expect(claim(ctrl, job, 40)).toBe(-1);
    expect(claim(ctrl, job + 1, 40)).toBe(0);
  }
});

test('fills under MIN_POOLED_CHUNKS chunks stay on the calling thread', () => {
  const before = fillPool.workerChunks();
  const n = (MIN_POOLED_CHUNKS - 1) * FILL_CHUNK;
  for (let r = 0; r < 50; r++)
    expect(differing(fillParallel(new Float32Array(n), r, 'ziggurat', 2), FILLS.ziggurat(new Float32Array(n), r))).toBe(0);
  expect(fillPool.workerChunks()).toBe(before);
});

test.each(kinds)('%s noise on 2 threads draws what it draws on one', (kind) => {
  const sizes = [300, 5 * FILL_CHUNK + 3, 8 * FILL_CHUNK];
  const [one, two] = [new ExactNoise(11, sizes, kind, 1), new ExactNoise(11, sizes, kind, 2)];
  const before = fillPool.workerChunks();
  // Twenty steps and two probes: enough jobs that a worker takes part even on a busy machine.
  for (let step = 0; step < 20; step++)
    for (const probe of [0, 1]) sizes.forEach((_, b) => expect(differing(two.z(step, probe, b), one.z(step, probe, b))).toBe(0));
  // The two large blocks went through the pool (a worker that wakes too late for a block claims none of it).
  expect(fillPool.workerChunks()).toBeGreaterThan(before);
});

test('table noise generated on 2 threads is the one-thread table', () => {
  const before = fillPool.workerChunks();
  const [one, two] = [new TableNoise(5, [1000, 30_000], 1, 1), new TableNoise(5, [1000, 30_000], 1, 2)];
  for (const step of [0, 1, 77, 5000]) for (const b of [0, 1]) expect(differing(two.z(step, 0, b), one.z(step, 0, b))).toBe(0);
  expect(fillPool.workerChunks()).toBeGreaterThan(before);
});

test('workers stopped, or ended after their idle time, are started again by the next fill', async () => {
  const n = 8 * FILL_CHUNK;
  const want = FILLS.ziggurat(new Float32Array(n), 3);
  await fillPool.close();
  expect(fillPool.size()).toBe(0);
  fillPool.setIdleMs(200);
  try {
    expect(differing(fillParallel(new Float32Array(n), 3, 'ziggurat', 2), want)).toBe(0);
    expect(fillPool.size()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(fillPool.size()).toBe(0);
    const before = fillPool.workerChunks();
    // The new worker may still be starting during one fill: fill until it takes part.
    for (let r = 0; r < 200 && fillPool.workerChunks() === before; r++) {
      expect(differing(fillParallel(new Float32Array(n), 3, 'ziggurat', 2), want)).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(fillPool.workerChunks()).toBeGreaterThan(before);
  } finally {
    fillPool.setIdleMs(FILL_IDLE_MS);
  }
});
