/**
 * A run folder never lies: every way to misuse one is one `zo:` line, a non-zero exit, and nothing
 * left behind that looks complete. Each case was first reproduced against the old `zo run`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fixtureDir } from '../models/fixtures.js';
import { packageRoot } from '../core/paths.js';
import { expectOneLineError, readJsonl, writeCustomTask, zo, ZO_BIN, zoWith } from './testing.js';

const TEXT = path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt');
const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-folder-${tag}-`));

/** Whether this process may mount a tmpfs (root with the capability to, as in CI). */
function canMount(): boolean {
  const dir = tmp('probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir]);
    return true;
  } catch {
    return false;
  }
}
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
const common = ['--model', fixtureDir('llama'), '--text-file', TEXT, '--batch-size', '4', '--seq-len', '24', '--lr', '1e-3'];
type Result = { code: number; stdout: string; stderr: string };
const SHORT_TEXT = path.join(tmp('short'), 'short.txt');
fs.writeFileSync(SHORT_TEXT, 'Call me Ishmael.');

/** Every file under `dir` with its bytes, to prove a refused command changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p).toString('base64');
  }
  return out;
}

/** A finished run of `steps` steps with a checkpoint every 2 (and at the end). */
async function finishedRun(tag: string, steps = 6, extra: string[] = []): Promise<string> {
  const out = path.join(tmp(tag), 'run');
  const r = await zo('run', ...common, '--steps', String(steps), '--save-every', '2', ...extra, '--out', out);
  expect(r.code).toBe(0);
  return out;
}

function spawnZo(args: string[]): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [ZO_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Result>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGINT' ? 130 : -1), stdout, stderr })),
  );
  return { child, done };
}

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('one run per folder at a time', () => {
  test('a second run on a folder in use is refused, naming the holder; the first finishes whole', async () => {
    const out = path.join(tmp('two'), 'run');
    const first = spawnZo(['run', ...common, '--steps', '400', '--log-every', '1', '--out', out]);
    await until(() => fs.existsSync(path.join(out, 'spec.json')));
    // Paused, the first run holds the folder for as long as the checks take, however fast its steps are.
    first.child.kill('SIGSTOP');
    try {
      const second = await zo('run', ...common, '--steps', '5', '--optimizer', 'zo-adam', '--out', out);
      expectOneLineError(second, out, 'already holds a run');
      const resumed = await zo('run', '--resume', '--out', out);
      // No checkpoint yet, or the lock: either way it is refused and changes nothing.
      expect(resumed.code).toBe(2);
      expect(resumed.stderr).toMatch(/^zo: .*(another zo process \(pid \d+|no checkpoint)/);
    } finally {
      first.child.kill('SIGCONT');
    }
    const r = await first.done;
    expect(r.code).toBe(0);
    expect(readJson(path.join(out, 'spec.json')).optimizer).toBe('mezo');
    expect(readJson(path.join(out, 'summary.json')).steps).toBe(400);
    const steps = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(fs.existsSync(path.join(out, 'zo.lock'))).toBe(false);
  });

  test('a run that found the folder free but lost the race is refused by the lock', async () => {
    const out = await finishedRun('locked');
    // A live holder: this test's own process, on this host.
    fs.writeFileSync(path.join(out, 'zo.lock'), JSON.stringify({ pid: process.pid, host: os.hostname(), started: 'now' }));
    const before = snapshot(out);
    expectOneLineError(
      await zo('run', '--resume', '--out', out, '--steps', '8'),
      `another zo process (pid ${process.pid} on ${os.hostname()}`,
    );
    expect(snapshot(out)).toEqual(before);
  });

  test('a stale lock (its process is gone) is taken over', async () => {
    const out = await finishedRun('stale');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    fs.writeFileSync(path.join(out, 'zo.lock'), JSON.stringify({ pid: dead.pid, host: os.hostname(), started: 'then' }));
    const r = await zo('run', '--resume', '--out', out, '--steps', '8');
    expect(r.code).toBe(0);
    expect(readJson(path.join(out, 'summary.json')).steps).toBe(8);
    expect(fs.existsSync(path.join(out, 'zo.lock'))).toBe(false);
  });

  test('Ctrl-C exits 130, releases the lock and keeps a checkpoint that resumes exactly', async () => {
    const args = [...common, '--optimizer', 'zo-adam', '--steps', '60', '--save-every', '5'];
    const straight = path.join(tmp('straight'), 'run');
    expect((await zo('run', ...args, '--out', straight)).code).toBe(0);
    const out = path.join(tmp('sigint'), 'run');
    const run = spawnZo(['run', ...args, '--out', out]);
    await until(() => fs.existsSync(path.join(out, 'checkpoint.json')));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(fs.existsSync(path.join(out, 'zo.lock'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'summary.json'))).toBe(false);
    expect((await zo('run', '--resume', '--out', out)).code).toBe(0);
    expect(readJson(path.join(out, 'summary.json')).weightsSha256).toBe(readJson(path.join(straight, 'summary.json')).weightsSha256);
  });
});

describe('resume never goes backwards, never loses the checkpoint, never leaves the folder', () => {
  test('--resume --steps 3 on a 6-step run is refused and changes nothing', async () => {
    const out = await finishedRun('back');
    const before = snapshot(out);
    expectOneLineError(await zo('run', '--resume', '--out', out, '--steps', '3'), "--steps 3: the run's checkpoint is at step 6");
    expect(snapshot(out)).toEqual(before);
  });

  test('a run killed after its last checkpoint but before summary.json resumes to the same weights', async () => {
    const out = await finishedRun('final');
    const summary = readJson(path.join(out, 'summary.json'));
    const pointer = readJson(path.join(out, 'checkpoint.json'));
    fs.rmSync(path.join(out, 'summary.json')); // as if killed during the final evaluation
    expect((await zo('run', '--resume', '--out', out)).code).toBe(0);
    expect(readJson(path.join(out, 'summary.json')).weightsSha256).toBe(summary.weightsSha256);
    // Nothing to re-save: the checkpoint it resumed from is the one still pointed to.
    expect(readJson(path.join(out, 'checkpoint.json'))).toEqual(pointer);
    expect(fs.existsSync(path.join(out, pointer.dir, 'model.safetensors'))).toBe(true);
  });

  test('a finished run resumed with nothing to add is left as it is', async () => {
    const out = await finishedRun('done');
    const before = snapshot(out);
    const r = await zo('run', '--resume', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('the run is complete at step 6');
    expect(snapshot(out)).toEqual(before);
  });

  test('checkpoint.json pointing outside the run folder is refused; the other run is untouched', async () => {
    const victim = await finishedRun('victim');
    const out = await finishedRun('pointer');
    const victimPointer = readJson(path.join(victim, 'checkpoint.json'));
    const relative = path.relative(out, path.join(victim, victimPointer.dir));
    fs.writeFileSync(path.join(out, 'checkpoint.json'), JSON.stringify({ dir: relative, step: 6 }));
    const before = snapshot(victim);
    expectOneLineError(
      await zo('run', '--resume', '--out', out, '--steps', '8'),
      'checkpoint.json',
      'must name a checkpoint-<step> folder inside this run folder',
    );
    expect(snapshot(victim)).toEqual(before);
  });

  test.each([
    [
      'a truncated spec.json',
      'spec.json',
      (f: string) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 40)),
      'the run spec is not valid JSON',
    ],
    [
      'a truncated state.json',
      'CK/state.json',
      (f: string) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 40)),
      'the checkpoint state is not valid JSON',
    ],
    ['a missing state.json', 'CK/state.json', (f: string) => fs.rmSync(f), 'cannot read the checkpoint state (no such file or folder)'],
    ['a missing checkpoint folder', 'CK', (f: string) => fs.rmSync(f, { recursive: true }), 'which is missing from the run folder'],
    [
      'a torn line in the middle of metrics.jsonl',
      'metrics.jsonl',
      (f: string) => fs.writeFileSync(f, '{"step": 0, "lo\n{"step": 1}\n'),
      'metrics.jsonl: line 1 is not valid JSON',
    ],
  ])('%s is one line naming the file', async (_what, file, breakIt, message) => {
    const out = await finishedRun('damaged');
    fs.rmSync(path.join(out, 'summary.json'));
    const target = path.join(out, file.replace('CK', readJson(path.join(out, 'checkpoint.json')).dir));
    breakIt(target);
    expectOneLineError(await zo('run', '--resume', '--out', out, '--steps', '8'), message);
    expect(fs.existsSync(path.join(out, 'summary.json'))).toBe(false);
  });

  test('a torn last line of metrics.jsonl (a kill mid-write) is dropped, and the resume completes', async () => {
    const args = [...common, '--steps', '6', '--save-every', '3', '--log-every', '1'];
    const straight = path.join(tmp('torn-ref'), 'run');
    expect((await zo('run', ...args, '--out', straight)).code).toBe(0);
    const out = path.join(tmp('torn'), 'run');
    expect((await zo('run', ...args, '--steps', '3', '--out', out)).code).toBe(0);
    fs.appendFileSync(path.join(out, 'metrics.jsonl'), '{"step": 3, "loss": 7.5');
    expect((await zo('run', '--resume', '--out', out, '--steps', '6')).code).toBe(0);
    const lines = (dir: string) => readJsonl(path.join(dir, 'metrics.jsonl'));
    expect(lines(out).map((l) => [l.step, l.loss])).toEqual(lines(straight).map((l) => [l.step, l.loss]));
    expect(readJson(path.join(out, 'summary.json')).weightsSha256).toBe(readJson(path.join(straight, 'summary.json')).weightsSha256);
  });
});

describe('what --resume may change', () => {
  test('flags that would change the run are refused, all named; the same values are fine', async () => {
    const out = await finishedRun('flags', 4);
    const before = snapshot(out);
    expectOneLineError(
      await zo('run', '--resume', '--out', out, '--steps', '8', '--lr', '5', '--optimizer', 'zo-adam'),
      'these flags would change it',
      '--optimizer "zo-adam" (the run has "mezo")',
      'lr 5 (the run has 0.001)',
    );
    expect(snapshot(out)).toEqual(before);
    const same = await zo(
      'run',
      '--resume',
      '--out',
      out,
      '--steps',
      '6',
      '--lr',
      '1e-3',
      '--optimizer',
      'mezo',
      '--model',
      fixtureDir('llama'),
    );
    expect(same.code).toBe(0);
  });

  test('a constant-schedule run extended from 6 to 10 steps equals a 10-step run, and spec.json says so', async () => {
    const ten = await finishedRun('ten', 10);
    const out = await finishedRun('six', 6);
    expect((await zo('run', '--resume', '--out', out, '--steps', '10')).code).toBe(0);
    expect(readJson(path.join(out, 'summary.json')).weightsSha256).toBe(readJson(path.join(ten, 'summary.json')).weightsSha256);
    expect(readJson(path.join(out, 'spec.json'))).toMatchObject({ steps: 10, previousSteps: [6] });
  });

  test('extending a linear-schedule run is refused: its learning rates depend on the horizon', async () => {
    const out = await finishedRun('linear', 6, ['--schedule', 'linear']);
    const before = snapshot(out);
    expectOneLineError(
      await zo('run', '--resume', '--out', out, '--steps', '10'),
      'linear schedule ends at step 6',
      'start a new run with --steps 10',
    );
    expect(snapshot(out)).toEqual(before);
  });

  test('a run resumes from another working directory: spec.json holds absolute paths', async () => {
    const here = tmp('cwd-a');
    fs.cpSync(fixtureDir('llama'), path.join(here, 'model'), { recursive: true });
    fs.copyFileSync(TEXT, path.join(here, 'text.txt'));
    const rel = [
      '--model',
      'model',
      '--text-file',
      'text.txt',
      '--batch-size',
      '4',
      '--seq-len',
      '24',
      '--steps',
      '4',
      '--save-every',
      '2',
    ];
    expect((await zoWith({ cwd: here }, 'run', ...rel, '--out', 'run')).code).toBe(0);
    expect(readJson(path.join(here, 'run', 'spec.json')).model).toBe(path.join(fs.realpathSync(here), 'model'));
    expect((await zoWith({ cwd: tmp('cwd-b') }, 'run', '--resume', '--out', path.join(here, 'run'), '--steps', '6')).code).toBe(0);
  });
});

describe('--out must be a place for a run', () => {
  test('a folder of other files (a model folder) is refused, and nothing in it changes', async () => {
    const dir = tmp('model-as-out');
    fs.cpSync(fixtureDir('llama'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step": 0}\n{"step": 99}\n');
    const before = snapshot(dir);
    expectOneLineError(await zo('run', ...common, '--steps', '2', '--out', dir), 'holds', 'but no spec.json, so it is not a zo run folder');
    expectOneLineError(await zo('run', '--resume', '--out', dir), 'not a zo run folder');
    expect(snapshot(dir)).toEqual(before);
  });

  test('a file is refused', async () => {
    const file = path.join(tmp('file'), 'f');
    fs.writeFileSync(file, 'x');
    expectOneLineError(await zo('run', ...common, '--steps', '2', '--out', file), `--out ${file}: is a file, not a folder`);
    expectOneLineError(await zo('run', ...common, '--steps', '2', '--out', path.join(file, 'run')), 'a part of the path is a file');
  });

  test('an empty --out is refused', async () => {
    expectOneLineError(await zo('run', ...common, '--steps', '2', '--out', ''), '--out is empty');
  });

  // Mounting needs root (CI runs as root); elsewhere this shows as skipped, and the permission test
  // below covers the same path.
  (canMount() ? test : test.skip)('a read-only mount is refused before anything is loaded', async () => {
    const mnt = tmp('ro');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt], { stdio: 'ignore' });
    try {
      expectOneLineError(
        await zo('run', ...common, '--steps', '2', '--out', path.join(mnt, 'run')),
        `cannot write in ${mnt} (the file system is read-only)`,
      );
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  test('a folder the user may not write is refused', async () => {
    const parent = tmp('nowrite');
    fs.chmodSync(parent, 0o555);
    // Root may write anywhere, so run the CLI as nobody when the tests run as root (CI does).
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = await zoWith(as, 'run', ...common, '--steps', '2', '--out', path.join(parent, 'run'));
    expectOneLineError(r, `cannot write in ${parent} (permission denied)`);
    expect(fs.readdirSync(parent)).toEqual([]);
  });
});

describe('flags are checked, not coerced, before anything is written', () => {
  test.each([
    [['--seed', 'abc'], '--seed: expected a number'],
    [['--seed', '1.5'], '--seed 1.5: must be a whole number ≥ 0'],
    [['--threads', '0'], '--threads 0: must be a whole number in [1, 1024]'],
    [['--threads', '-1'], '--threads -1: must be a whole number in [1, 1024]'],
    [['--save-every', '-1'], '--save-every -1: must be a whole number ≥ 0'],
    [['--steps', '0'], '--steps 0: must be a whole number ≥ 1'],
    [['--lr', 'abc'], '--lr: expected a number'],
    [['--eps', '1e-3x'], '--eps: expected a number'],
    [['--dev-size', 'abc'], '--dev-size: expected a number'],
    [['--seq-len', '500'], '--seq-len 500: the model has only 128 positions'],
    [['--seq-len', '100', '--text-file', SHORT_TEXT], `--seq-len 100: ${SHORT_TEXT} has only`],
  ])('%j', async (flags, message) => {
    const out = path.join(tmp('flags'), 'run');
    expectOneLineError(await zo('run', ...common, '--steps', '2', ...flags, '--out', out), message);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('custom task files are checked, not coerced', () => {
  const task = (file: string) => ['--model', fixtureDir('llama'), '--task-file', file, '--batch-size', '4', '--steps', '2'];
  test('--train-size beyond the file is refused (it used to be ignored)', async () => {
    const out = path.join(tmp('custom'), 'run');
    expectOneLineError(
      await zo('run', ...task(writeCustomTask()), '--train-size', '50', '--out', out),
      'train.jsonl: has 10 rows, fewer than the 50 that --train-size asks for',
    );
    expect(fs.existsSync(out)).toBe(false);
  });
  test('duplicate candidates and a stray brace are refused', async () => {
    expectOneLineError(
      await zo('eval', ...task(writeCustomTask({ candidates: ['great', 'great'] })).slice(0, 4)),
      'candidates: "great" appears twice',
    );
    expectOneLineError(
      await zo('eval', ...task(writeCustomTask({ template: '{text It was' })).slice(0, 4)),
      'template: a stray "{" at character 1',
    );
  });
  test('a JSONL file with a byte-order mark runs', async () => {
    const bom =
      '\ufeff' + Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `r${i}`, label: i % 2 ? 'great' : 'terrible' })).join('\n');
    const r = await zo('run', ...task(writeCustomTask({}, { train: bom })), '--out', path.join(tmp('bom'), 'run'));
    expect(r.code).toBe(0);
  });
});
