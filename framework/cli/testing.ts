import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../core/paths.js';

const run = promisify(execFile);
const ZO = path.join(packageRoot(), 'bin', 'zo.js');

/** Runs the real CLI in a child process; never throws on a non-zero exit. */
export async function zo(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return zoWith({}, ...args);
}

/** The same, in another working directory or as another user (root tests of permissions). */
export async function zoWith(
  opts: { cwd?: string; uid?: number; gid?: number },
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ZO, ...args], { maxBuffer: 64 << 20, ...opts });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The rows of a JSONL file (metrics.jsonl, an exported split), parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields of rows they just had written
export const readJsonl = (file: string): any[] =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** A user error: exit 2, exactly one line on stderr that names the problem, no stack trace. */
export function expectOneLineError(r: { code: number; stderr: string }, ...fragments: string[]): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^zo: /);
  for (const f of fragments) expect(lines[0]).toContain(f);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** The path of the CLI entry point, for tests that spawn it themselves (signals, concurrency). */
export const ZO_BIN = ZO;

/** A custom task folder for tests: task.yaml with `fields` over the defaults, and 10/4/4 rows of JSONL. */
export function writeCustomTask(fields: Record<string, unknown> = {}, data: { train?: string } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-custom-unit-'));
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify({ text: `review ${i}`, label: i % 2 ? 'great' : 'terrible' })).join('\n');
  fs.writeFileSync(path.join(dir, 'train.jsonl'), data.train ?? rows(10));
  fs.writeFileSync(path.join(dir, 'dev.jsonl'), rows(4));
  fs.writeFileSync(path.join(dir, 'test.jsonl'), rows(4));
  const spec = {
    name: 't',
    train: 'train.jsonl',
    dev: 'dev.jsonl',
    test: 'test.jsonl',
    template: '{text} It was',
    candidates: ['terrible', 'great'],
    labelField: 'label',
    loss: 'classification',
    metric: 'accuracy',
    ...fields,
  };
  const file = path.join(dir, 'task.yaml');
  fs.writeFileSync(
    file,
    Object.entries(spec)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n',
  );
  return file;
}

/**
 * Runs the CLI and SIGKILLs it once `dir/checkpoint.json` names a step ≥ `atLeast`, wherever the run
 * then is (or lets it end, if it finishes first): a real crash for the resume tests.
 */
export async function killAfterCheckpoint(args: readonly string[], dir: string, atLeast: number): Promise<void> {
  const child = spawn(process.execPath, [ZO, ...args], { stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      try {
        if (JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8')).step >= atLeast) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      } catch {
        // not written yet
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(poll);
      resolve();
    });
    child.on('error', reject);
  });
  await closed;
}

/** A port nothing listens on right now, on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A real Redis server for the queue tests: $ZO_TEST_REDIS_URL when set (.ci/run starts one), else a
 * redis-server of our own on a free loopback port, stopped by stop().
 */
export async function testRedis(): Promise<{ url: string; stop: () => void }> {
  const given = process.env.ZO_TEST_REDIS_URL;
  if (given) return { url: given, stop: () => {} };
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const why = (e: string) =>
      reject(
        new Error(
          `redis-server did not start (${e}): the queue tests need a real Redis (apt-get install redis-server, or set ZO_TEST_REDIS_URL)`,
        ),
      );
    child.once('error', (e) => why(e.message));
    child.once('exit', (code) => why(`exit code ${code}`));
    child.stdout!.on('data', (d: Buffer) => {
      if (/Ready to accept connections/.test(d.toString())) resolve();
    });
  });
  child.removeAllListeners('exit');
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/** A `zo` process in the background (a worker, a grid), with what it printed so far. */
export function zoInBackground(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [ZO, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** Resolves once `test()` holds, polling every 20 ms; rejects after `ms`. */
export async function waitFor(test: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** tiny-copa cut to 40/20/20 rows at batch 4: a zoo-model run of a second or two. */
export const smallCopaArgs = (evalEvery: number): string[] => [
  '--task',
  'tiny-copa',
  '--batch-size',
  '4',
  '--eval-every',
  String(evalEvery),
  '--train-size',
  '40',
  '--dev-size',
  '20',
  '--test-size',
  '20',
];
