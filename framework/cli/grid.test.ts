import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { fixtureDir } from '../models/fixtures.js';
import { expectOneLineError, writeCustomTask, zo, ZO_BIN } from './testing.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-grid-${tag}-`));
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

/** A 2 × 1 × 2 grid on the fixture models and a 10/4/4-row task: four cells of a second or so. */
function writeGrid(dir: string, extra = ''): string {
  const task = writeCustomTask();
  const file = path.join(dir, 'grid.yaml');
  fs.writeFileSync(
    file,
    `models: [${fixtureDir('llama')}, ${fixtureDir('opt')}]
tasks: [${task}]
optimizers:
  mezo: {lr: 1.0e-3}
  zo-sgd-sign: {lr: 1.0e-4}
seeds: [0]
steps: 120
batchSize: 4
evalEvery: 40
saveEvery: 10
${extra}`,
  );
  return file;
}

const finished = (out: string) =>
  fs.existsSync(path.join(out, 'cells'))
    ? fs.readdirSync(path.join(out, 'cells')).filter((h) => fs.existsSync(path.join(out, 'cells', h, 'summary.json')))
    : [];

/** Runs `zo grid` and SIGKILLs it once one cell has finished and another has a checkpoint (or lets it end). */
async function killMidGrid(args: string[], out: string): Promise<{ atKill: string[]; cut?: string }> {
  const child = spawn(process.execPath, [ZO_BIN, ...args], { stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  let atKill: string[] = [];
  let cut: string | undefined;
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      const done = finished(out);
      const cells = fs.existsSync(path.join(out, 'cells')) ? fs.readdirSync(path.join(out, 'cells')) : [];
      const midway = cells.find((h) => !done.includes(h) && fs.existsSync(path.join(out, 'cells', h, 'checkpoint.json')));
      if (done.length >= 1 && midway) {
        cut = midway;
        clearInterval(poll);
        atKill = done;
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(poll);
      resolve();
    });
  });
  await closed;
  return { atKill, cut };
}

const results = (out: string) =>
  (parse(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'), { columns: true }) as Record<string, string>[]).map((r) => ({
    cell: r.cell,
    loss: r.final_train_loss,
    dev: r.dev_loss,
    test: r.test_metric,
  }));

describe('zo grid', () => {
  test('--schema prints the JSON Schema; --dry-run --json prints the cells and writes nothing', async () => {
    const dir = tmp('dry');
    const schema = await zo('grid', '--schema');
    expect(schema.code).toBe(0);
    const s = JSON.parse(schema.stdout);
    expect(s.required).toEqual(expect.arrayContaining(['models', 'tasks', 'optimizers', 'seeds', 'steps']));
    const r = await zo('grid', writeGrid(dir), '--dry-run', '--json', '--out', path.join(dir, 'out'));
    expect(r.code).toBe(0);
    const cells = JSON.parse(r.stdout);
    expect(cells).toHaveLength(4);
    expect(Object.keys(cells[0]).sort()).toEqual(['hash', 'hyperparameters', 'model', 'optimizer', 'seed', 'stage', 'task']);
    expect(cells.map((c: { optimizer: string }) => c.optimizer)).toEqual(['mezo', 'zo-sgd-sign', 'mezo', 'zo-sgd-sign']);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  test('bad input is one line, before anything is written', async () => {
    const dir = tmp('bad');
    const out = path.join(dir, 'out');
    const missing = writeGrid(dir).replace('grid.yaml', 'missing.yaml');
    fs.writeFileSync(missing, fs.readFileSync(path.join(dir, 'grid.yaml'), 'utf8').replace(fixtureDir('opt'), path.join(dir, 'no-model')));
    expectOneLineError(await zo('grid', missing, '--out', out), 'missing.yaml: models:', 'no Hugging Face model folder');
    expect(fs.existsSync(out)).toBe(false);
    expectOneLineError(await zo('grid', path.join(dir, 'none.yaml'), '--out', out), 'none.yaml: no such grid file');
    expectOneLineError(await zo('grid', path.join(dir, 'grid.yaml')), '--out is required');
    expectOneLineError(await zo('grid', path.join(dir, 'grid.yaml'), '--out', out, '--workers', '0'), '--workers 0');
    // The paper baseline is read at the report, after every cell: it is checked before the first.
    const paper = path.join(dir, 'paper.json');
    expectOneLineError(
      await zo('grid', path.join(dir, 'grid.yaml'), '--out', out, '--paper', paper),
      `${paper}: cannot read the paper baseline (no such file`,
    );
    fs.writeFileSync(paper, 'models: [a]\n');
    expectOneLineError(
      await zo('grid', path.join(dir, 'grid.yaml'), '--out', out, '--paper', paper),
      `${paper}: the paper baseline is not JSON`,
    );
    expect(fs.existsSync(out)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  test('killed mid-run, a rerun finishes only the missing cells (resuming the one cut off); a third run runs nothing', async () => {
    const dir = tmp('kill');
    const file = writeGrid(dir);
    const args = (out: string) => ['grid', file, '--out', out, '--workers', '1', '--no-plots', '--paper', 'none'];
    // The reference: the same grid, never interrupted.
    const clean = path.join(dir, 'clean');
    const ref = await zo(...args(clean));
    expect(ref.code).toBe(0);
    expect(ref.stderr).toContain('main: 0 cell(s) already finished, 4 to run');

    const out = path.join(dir, 'out');
    const { atKill, cut } = await killMidGrid(args(out), out);
    expect(atKill.length).toBeGreaterThanOrEqual(1);
    expect(atKill.length).toBeLessThan(4);
    // The cell cut off resumes from its checkpoint: its spec.json is not written again.
    const cutSpec = fs.statSync(path.join(out, 'cells', cut!, 'spec.json')).mtimeMs;
    const before = Object.fromEntries(atKill.map((h) => [h, fs.statSync(path.join(out, 'cells', h, 'summary.json')).mtimeMs]));
    const again = await zo(...args(out));
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`main: ${atKill.length} cell(s) already finished, ${4 - atKill.length} to run`);
    for (const h of atKill) expect(fs.statSync(path.join(out, 'cells', h, 'summary.json')).mtimeMs).toBe(before[h]);
    expect(fs.statSync(path.join(out, 'cells', cut!, 'spec.json')).mtimeMs).toBe(cutSpec);
    // Every cell once, with exactly the weights and scores of the uninterrupted grid.
    expect(results(out)).toEqual(results(clean));
    for (const h of finished(clean))
      expect(readJson(path.join(out, 'cells', h, 'summary.json')).weightsSha256).toBe(
        readJson(path.join(clean, 'cells', h, 'summary.json')).weightsSha256,
      );
    const third = await zo(...args(out));
    expect(third.stderr).toContain('main: 4 cell(s) already finished, 0 to run');
    expect(third.stdout).toContain('grid: 4 cells');
    fs.rmSync(dir, { recursive: true });
  }, 120_000);

  test('with a pilot, the main stage runs each method at the LR of the lowest pilot dev loss, copying the pilot seed', async () => {
    const dir = tmp('pilot');
    const file = path.join(dir, 'grid.yaml');
    const task = writeCustomTask();
    fs.writeFileSync(
      file,
      `models: [${fixtureDir('llama')}]\ntasks: [${task}]\noptimizers:\n  mezo: {lr: [1.0e-2, 1.0e-5]}\nseeds: [0, 1]\npilot: {seeds: [0]}\nsteps: 30\nbatchSize: 4\n`,
    );
    const out = path.join(dir, 'out');
    const r = await zo('grid', file, '--out', out, '--workers', '2', '--no-plots', '--paper', 'none');
    expect(r.code).toBe(0);
    const pilot = parse(fs.readFileSync(path.join(out, 'pilot', 'results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(pilot.map((x) => x.lr).sort()).toEqual(['0.00001', '0.01']);
    const best = pilot.reduce((a, b) => (Number(a.dev_loss) <= Number(b.dev_loss) ? a : b));
    const main = parse(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(main.map((x) => [x.seed, x.lr])).toEqual([
      ['0', best.lr],
      ['1', best.lr],
    ]);
    expect(r.stderr).toContain('main: 1 cell(s) already finished, 1 to run'); // seed 0 is the pilot's cell, copied
    expect(main[0]!.cell).toBe(best.cell);
    fs.rmSync(dir, { recursive: true });
  }, 120_000);

  test('a failing cell is recorded with its error, the rest finish, and the next call retries it', async () => {
    const dir = tmp('fail');
    const bad = writeCustomTask({}, { train: '{"text": "x", "label": "great"}\nnot json\n' });
    const file = path.join(dir, 'grid.yaml');
    fs.writeFileSync(file, fs.readFileSync(writeGrid(dir), 'utf8').replace(/tasks: \[.*\]/, `tasks: [${bad}]`));
    const out = path.join(dir, 'out');
    const r = await zo('grid', file, '--out', out, '--workers', '2', '--no-plots', '--paper', 'none');
    expect(r.code).toBe(1);
    const failed = fs.readdirSync(path.join(out, 'failed'));
    expect(failed.length).toBeGreaterThan(0);
    const record = readJson(path.join(out, 'failed', failed[0]!));
    expect(record.error).toMatch(/train\.jsonl/);
    expect(r.stdout).toContain('the next call retries them');
    // Mend the data: the retry runs the failed cells, and their records go.
    fs.writeFileSync(path.join(path.dirname(bad), 'train.jsonl'), fs.readFileSync(path.join(path.dirname(bad), 'dev.jsonl')));
    const retry = await zo('grid', file, '--out', out, '--workers', '2', '--no-plots', '--paper', 'none');
    expect(retry.code).toBe(0);
    expect(fs.readdirSync(path.join(out, 'failed'))).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  }, 120_000);
});

describe('zo report', () => {
  test('aggregates a folder of run folders by itself, and names a folder with none', async () => {
    const dir = tmp('report');
    const out = path.join(dir, 'out');
    expect((await zo('grid', writeGrid(dir), '--out', out, '--no-plots', '--paper', 'none')).code).toBe(0);
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8');
    fs.rmSync(path.join(out, 'results.csv'));
    const r = await zo('report', out, '--no-plots', '--paper', 'none', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).cells).toBe(4);
    expect(fs.readFileSync(path.join(out, 'results.csv'), 'utf8')).toBe(csv);
    expectOneLineError(await zo('report', dir + '-none'), 'no such folder');
    fs.mkdirSync(path.join(dir, 'empty'));
    expectOneLineError(await zo('report', path.join(dir, 'empty')), 'no finished task cells');
    fs.rmSync(dir, { recursive: true });
  }, 120_000);
});
