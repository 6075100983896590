/**
 * The grid on many machines, against a real Redis server: `zo grid --executor bullmq` with `zo worker`
 * processes, and `zo worker --grid --index` (Kubernetes Indexed Jobs) followed by `zo report`.
 * Every result must equal the local executor's, to the bit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import YAML from 'yaml';
import { packageRoot } from '../core/paths.js';
import { planGrid } from '../grid/grid.js';
import { fixtureDir } from '../models/fixtures.js';
import { expectOneLineError, freePort, testRedis, waitFor, zo, zoInBackground } from './testing.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-worker-${tag}-`));

function writeGrid(dir: string, name: string, models: string[], steps: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `models: [${models.join(', ')}]
tasks: [tiny-copa]
optimizers:
  mezo: {lr: 1.0e-3}
  zo-sgd-sign: {lr: 1.0e-4}
seeds: [0]
steps: ${steps}
batchSize: 4
evalEvery: 20
trainSize: 40
devSize: 20
testSize: 20
saveEvery: 10
`,
  );
  return file;
}

/** results.csv without the columns a machine changes (wall time, memory): the cells and every score. */
const results = (out: string) =>
  (parse(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'), { columns: true }) as Record<string, string>[]).map(
    ({ wall_s: _w, peak_rss_mb: _m, ...r }) => r,
  );
const started = (log: string) => [...log.matchAll(/ ([0-9a-f]{16}) start/g)].map((m) => m[1]!);

let redis: { url: string; stop: () => void };
const dir = tmp('suite');
const short = writeGrid(dir, 'short.yaml', [fixtureDir('llama'), fixtureDir('opt')], 60);
const long = writeGrid(dir, 'long.yaml', [fixtureDir('llama')], 600);
const local: Record<string, Record<string, string>[]> = {};
const workers: ReturnType<typeof zoInBackground>[] = [];
let queues = 0;

/** A worker on its own queue name per test, ready once it says so; SIGKILLed after the suite. */
async function worker(queue: string, ...extra: string[]) {
  const w = zoInBackground(['worker', '--redis', redis.url, '--queue', queue, '--threads', '1', '--lock-seconds', '2', ...extra]);
  workers.push(w);
  await waitFor(() => w.output().includes('worker on queue'), 20_000, 'the worker to start');
  return w;
}
const gridOnQueue = (file: string, out: string, queue: string) =>
  zoInBackground([
    'grid',
    file,
    '--out',
    out,
    '--executor',
    'bullmq',
    '--redis',
    redis.url,
    '--queue',
    queue,
    '--no-plots',
    '--paper',
    'none',
  ]);
const cellsWithCheckpoint = (out: string) =>
  fs.existsSync(path.join(out, 'cells'))
    ? fs.readdirSync(path.join(out, 'cells')).filter((h) => fs.existsSync(path.join(out, 'cells', h, 'checkpoint.json')))
    : [];

beforeAll(async () => {
  redis = await testRedis();
  // The references: the local executor, one thread per cell (2 workers on these 2 cores), as the workers run.
  for (const [name, file] of [
    ['short', short],
    ['long', long],
  ] as const) {
    const out = path.join(dir, `local-${name}`);
    const r = await zo('grid', file, '--out', out, '--workers', String(os.availableParallelism()), '--no-plots', '--paper', 'none');
    expect(r.code).toBe(0);
    local[name] = results(out);
  }
}, 120_000);

afterAll(() => {
  for (const w of workers) w.child.kill('SIGKILL');
  redis?.stop();
});

describe('zo grid --executor bullmq, with zo worker', () => {
  test('two workers, the grid enqueued twice: every cell runs exactly once, and results.csv equals the local executor’s', async () => {
    const q = `two-${queues++}`;
    const [a, b] = [await worker(q), await worker(q)];
    const out = path.join(dir, 'two');
    // The same grid enqueued twice at once: a job's id is its cell hash, so neither call adds a duplicate.
    const [g1, g2] = [gridOnQueue(short, out, q), gridOnQueue(short, out, q)];
    expect(await g1.exited).toBe(0);
    expect(await g2.exited).toBe(0);
    const all = [...started(a.output()), ...started(b.output())];
    expect(all.sort()).toEqual(local.short!.map((r) => r.cell).sort());
    // Both took work: the queue spread it.
    expect(started(a.output()).length).toBeGreaterThan(0);
    expect(started(b.output()).length).toBeGreaterThan(0);
    expect(results(out)).toEqual(local.short);
  }, 60_000);

  test('a worker SIGKILLed mid-cell: the other takes the cell once its lock expires, resumes it, and results.csv has every cell once', async () => {
    const q = `kill-${queues++}`;
    const a = await worker(q);
    const out = path.join(dir, 'kill');
    const g = gridOnQueue(long, out, q);
    await waitFor(() => cellsWithCheckpoint(out).length > 0 && started(a.output()).length > 0, 30_000, 'a checkpoint');
    const cut = started(a.output())[0]!;
    a.child.kill('SIGKILL');
    const b = await worker(q);
    expect(await g.exited).toBe(0);
    // The cut cell ran on b from its checkpoint; each cell finished once.
    expect(b.output()).toMatch(new RegExp(`${cut} start \\(attempt 1, resuming from step \\d+\\)`));
    expect(new Set([...started(a.output()), ...started(b.output())])).toEqual(new Set(local.long!.map((r) => r.cell)));
    expect(results(out)).toEqual(local.long);
  }, 90_000);

  test('SIGTERM puts the running cell back in the queue at once; another worker resumes it', async () => {
    const q = `term-${queues++}`;
    const a = await worker(q);
    const out = path.join(dir, 'term');
    const g = gridOnQueue(long, out, q);
    await waitFor(() => cellsWithCheckpoint(out).length > 0, 30_000, 'a checkpoint');
    const cut = started(a.output())[0]!;
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.output()).toContain(`${cut} released: back in the queue`);
    const b = await worker(q);
    expect(await g.exited).toBe(0);
    // No lock to wait for: b's first cell is the released one, resumed.
    expect(started(b.output())[0]).toBe(cut);
    expect(b.output()).toMatch(new RegExp(`${cut} start \\(attempt 1, resuming from step \\d+\\)`));
    expect(results(out)).toEqual(local.long);
  }, 90_000);
});

describe('zo worker --grid --index (Kubernetes Indexed Jobs), then zo report', () => {
  test('every index once, one of them from JOB_COMPLETION_INDEX, reproduces the local executor', async () => {
    const out = path.join(dir, 'indexed');
    const dry = await zo('grid', short, '--dry-run', '--json');
    const cells = JSON.parse(dry.stdout) as { hash: string }[];
    for (let i = 0; i < cells.length; i++) {
      const args = ['worker', '--grid', short, '--out', out, '--threads', '1', '--json'];
      const r = i === 0 ? zoInBackground(args, { JOB_COMPLETION_INDEX: '0' }) : zoInBackground([...args, '--index', String(i)]);
      expect(await r.exited).toBe(0);
      expect(JSON.parse(r.output())).toMatchObject({ index: i, cell: cells[i]!.hash, ran: true });
    }
    // A pod that runs again (a retry) finds its cell finished.
    const again = await zo('worker', '--grid', short, '--out', out, '--index', '1', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ index: 1, ran: false });
    expect((await zo('report', out, '--no-plots', '--paper', 'none')).code).toBe(0);
    expect(results(out)).toEqual(local.short);
  }, 90_000);
});

describe('zo worker --grid --index, when its folder is locked', () => {
  test('waits while another live process holds the cell, then runs it', async () => {
    const out = path.join(dir, 'locked');
    const [first] = JSON.parse((await zo('grid', short, '--dry-run', '--json')).stdout) as { hash: string }[];
    const cell = path.join(out, 'cells', first!.hash);
    fs.mkdirSync(cell, { recursive: true });
    // Held by this test process: alive, on this host, not the worker.
    fs.writeFileSync(
      path.join(cell, 'zo.lock'),
      JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }),
    );
    const w = zoInBackground(['worker', '--grid', short, '--out', out, '--index', '0', '--threads', '1']);
    await waitFor(() => w.output().includes('holds its folder; waiting for it'), 20_000, 'the worker to wait');
    expect(fs.existsSync(path.join(cell, 'summary.json'))).toBe(false);
    fs.rmSync(path.join(cell, 'zo.lock'));
    expect(await w.exited).toBe(0);
    expect(fs.existsSync(path.join(cell, 'summary.json'))).toBe(true);
  }, 60_000);
});

describe('bad input is one line', () => {
  test('queue and index flags', async () => {
    const out = path.join(dir, 'never');
    expectOneLineError(await zo('grid', short, '--out', out, '--executor', 'bullmq'), '--executor bullmq needs --redis');
    expectOneLineError(await zo('grid', short, '--out', out, '--executor', 'bullmq', '--redis', 'http://x'), 'redis://');
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    expectOneLineError(await zo('grid', short, '--out', out, '--executor', 'bullmq', '--redis', nobody), nobody, 'cannot reach Redis');
    expectOneLineError(await zo('worker', '--redis', nobody), 'cannot reach Redis');
    expectOneLineError(await zo('worker'), '--redis', '--grid');
    expectOneLineError(await zo('worker', '--grid', short, '--redis', redis.url), 'not both');
    expectOneLineError(await zo('worker', '--grid', short, '--out', out), '--index', 'JOB_COMPLETION_INDEX');
    expectOneLineError(await zo('worker', '--grid', short, '--out', out, '--index', '4'), '--index 4', '4 cells', '0 to 3');
    expectOneLineError(await zo('worker', '--grid', short, '--out', out, '--stage', 'pilot', '--index', '0'), 'no pilot cells');
    // With a pilot, main-stage indices exist only once the pilot has chosen: they would shift before.
    const piloted = path.join(dir, 'piloted.yaml');
    fs.writeFileSync(
      piloted,
      fs.readFileSync(short, 'utf8').replace('mezo: {lr: 1.0e-3}', 'mezo: {lr: [1.0e-3, 1.0e-4]}') + 'pilot: {seeds: [0]}\n',
    );
    expectOneLineError(await zo('worker', '--grid', piloted, '--out', out, '--stage', 'main', '--index', '0'), 'pilot is not finished');
    expectOneLineError(await zo('worker', '--grid', piloted, '--out', out, '--index', '4'), 'pilot is not finished', '--stage pilot');
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('experiments/k8s', () => {
  const k8s = path.join(packageRoot(), 'experiments', 'k8s');
  const docs = (file: string) => YAML.parseAllDocuments(fs.readFileSync(path.join(k8s, file), 'utf8')).map((d) => d.toJS());
  const containers = (doc: any): { args: string[] }[] => doc.spec.template.spec.containers;

  test("the Indexed Job has one completion per cell of the paper grid, and every pod's zo command parses", async () => {
    const [job] = docs('grid-job.yaml');
    expect(job.spec.completionMode).toBe('Indexed');
    const plan = planGrid('experiments/paper.yaml');
    expect(plan.pilot).toHaveLength(0);
    expect(job.spec.completions).toBe(plan.main.length);
    // One past the last index: every flag parses and the grid resolves; only the index is out of range.
    const args = containers(job)[0]!.args;
    expectOneLineError(await zo(...args, '--index', String(plan.main.length)), `--index ${plan.main.length}`, `${plan.main.length} cells`);
    const [report] = docs('report-job.yaml');
    expectOneLineError(await zo(...containers(report)[0]!.args), '/results/paper', 'no such folder');
    const worker = docs('workers.yaml').find((d) => d.metadata.name === 'zo-workers');
    expectOneLineError(await zo(...containers(worker)[0]!.args), 'redis://zo-redis:6379', 'cannot reach Redis');
  });
});
