/**
 * The examples run as a user's scripts would: copied outside the package, importing it by its name
 * (node_modules/zo-finetune, a link to this checkout, as `npm link` or an install makes it).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot, PACKAGE_NAME } from '../core/paths.js';
import YAML from 'yaml';
import { expectOneLineError, zoWith } from './testing.js';

const exec = promisify(execFile);
let consumer: string;

beforeAll(() => {
  consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-consumer-'));
  fs.mkdirSync(path.join(consumer, 'node_modules'));
  fs.symlinkSync(packageRoot(), path.join(consumer, 'node_modules', PACKAGE_NAME), 'dir');
  fs.cpSync(path.join(packageRoot(), 'examples'), consumer, { recursive: true });
});

const node = (script: string) => exec(process.execPath, [script], { cwd: consumer });

describe('examples, run from outside the package by its name', () => {
  test('custom-optimizer.mjs defines an optimizer and fine-tunes a zoo model with it through the API', async () => {
    const { stdout } = await node('custom-optimizer.mjs');
    expect(stdout).toMatch(/^clipped-spsa: 20 steps, dev loss \d\.\d{4} -> \d\.\d{4}, test accuracy \d\.\d{3}$/m);
    const out = /run folder: (.*)$/m.exec(stdout)![1]!;
    expect(JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8'))).toMatchObject({
      optimizer: 'clipped-spsa',
      hyperparameters: { lr: 1e-4, gClip: 5, eps: 1e-3 },
    });
  });

  test('the same optimizer through `zo run --plugin`, validated by its own schema, and resumed', async () => {
    const out = path.join(consumer, 'cli-run');
    const args = [
      '--model',
      path.join(packageRoot(), 'models', 'tiny-llama-s'),
      '--task',
      'tiny-sentiment',
      '--train-size',
      '32',
      '--dev-size',
      '16',
      '--test-size',
      '16',
    ];
    const run = await zoWith(
      { cwd: consumer },
      'run',
      '--plugin',
      'custom-optimizer.mjs',
      '--optimizer',
      'clipped-spsa',
      '--hp',
      'gClip=5',
      ...args,
      '--steps',
      '6',
      '--batch-size',
      '4',
      '--save-every',
      '3',
      '--out',
      out,
    );
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8')).plugins).toEqual([
      path.join(fs.realpathSync(consumer), 'custom-optimizer.mjs'),
    ]);
    // The resume loads the plugin again from spec.json, from another working directory.
    expect((await zoWith({ cwd: os.tmpdir() }, 'run', '--resume', '--out', out, '--steps', '8')).code).toBe(0);
    const bad = await zoWith(
      { cwd: consumer },
      'run',
      '--plugin',
      'custom-optimizer.mjs',
      '--optimizer',
      'clipped-spsa',
      '--hp',
      'gClip=-1',
      ...args,
      '--out',
      path.join(consumer, 'bad'),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^zo: clipped-spsa: hyperparameter gClip: .*>0/);
    const list = await zoWith({ cwd: consumer }, 'optimizers', '--plugin', 'custom-optimizer.mjs', '--json');
    const row = (JSON.parse(list.stdout) as { name: string; hyperparameters: Record<string, { default: unknown }> }[]).find(
      (r) => r.name === 'clipped-spsa',
    );
    expect(row?.hyperparameters.gClip?.default).toBe(1);
  });

  test('a plugin that is not an optimizer is one line saying what is missing', async () => {
    fs.writeFileSync(path.join(consumer, 'broken.mjs'), "export default { name: 'broken', summary: 'x', step() {} };\n");
    const r = await zoWith({ cwd: consumer }, 'optimizers', '--plugin', 'broken.mjs');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'zo: --plugin broken.mjs: export default: not an optimizer: "broken": hyperparameters must be a zod schema (import { z } from \'zo-finetune\')',
    );
    const src = fs.readFileSync(path.join(consumer, 'custom-optimizer.mjs'), 'utf8').replace('scalarProbes: true', "scalarProbes: 'yes'");
    expect(src).toContain("scalarProbes: 'yes'");
    fs.writeFileSync(path.join(consumer, 'yes.mjs'), src);
    const yes = await zoWith({ cwd: consumer }, 'optimizers', '--plugin', 'yes.mjs');
    expect(yes.code).toBe(2);
    expect(yes.stderr.trim()).toBe(
      'zo: --plugin yes.mjs: export clippedSpsa: not an optimizer: "clipped-spsa": scalarProbes must be true or false, got "yes"',
    );
  });

  test('lr-sweep.mjs runs MeZO at three learning rates and prints a table', async () => {
    const { stdout } = await node('lr-sweep.mjs');
    const rows = stdout.split('\n').filter((l) => /^\de-\d /.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['1e-5', '1e-4', '1e-3']);
  });

  test('the package a user installs holds the typed entry point, the CLI, the zoo and the examples, and no tests', async () => {
    const { stdout } = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot() });
    const files = new Set((JSON.parse(stdout)[0].files as { path: string }[]).map((f) => f.path));
    for (const f of [
      'package.json',
      'bin/zo.js',
      'dist/framework/index.js',
      'dist/framework/index.d.ts',
      'dist/framework/cli/main.js',
      'models/tiny-llama-s/model.safetensors',
      'examples/custom-optimizer.mjs',
    ])
      expect(files).toContain(f);
    expect([...files].filter((f) => /\.test\.|testing\.js/.test(f))).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'));
    expect(pkg.exports['.']).toEqual({ types: './dist/framework/index.d.ts', import: './dist/framework/index.js' });
  });

  test.each(['github-actions.yml', 'gitlab-ci.yml'])('ci/%s runs a `zo check` command line that zo accepts', async (file) => {
    const text = fs.readFileSync(path.join(consumer, 'ci', file), 'utf8');
    const commands: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string' && v.startsWith('npx zo check')) commands.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(YAML.parse(text));
    expect(commands).toHaveLength(1);
    const args = commands[0]!.trim().split(/\s+/).slice(2);
    // Every flag parses and every value is valid; what stops it is the baseline the user has yet to record.
    expectOneLineError(await zoWith({ cwd: consumer }, ...args), 'results/regression/results.csv', 'no such file', '--update');
  });
});
