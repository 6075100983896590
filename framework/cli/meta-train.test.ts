import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadFinetuner } from '../learned/finetuner.js';
import { fixtureDir } from '../models/fixtures.js';
import { killAfterCheckpoint, zo } from './testing.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'zo-meta-'));
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
const args = [
  '--model',
  fixtureDir('llama'),
  '--task',
  'tiny-copa',
  '--train-size',
  '32',
  '--dev-size',
  '8',
  '--test-size',
  '8',
  '--batch-size',
  '4',
  '--epochs',
  '3',
  '--epochs-per-restart',
  '1',
  '--save-every',
  '4',
  '--threads',
  '1',
];

describe('zo meta-train', () => {
  test('runs end to end: metrics per step, resets every cycle, a finetuner zo-ft can use', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--out', out);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const lines = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // 32 examples / batch 4 = 8 steps an epoch, 3 epochs; θ reset at the start of epochs 2 and 3.
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(lines.filter((l) => l.reset).map((l) => l.step)).toEqual([8, 16]);
    expect(lines[0].lrModel).toBe(1e-2);
    expect(lines[4].lrModel).toBeCloseTo(1e-2 * (1 - 4 / 8), 12);
    for (const k of ['metaLoss', 'nf', 'trainLoss']) expect(lines.every((l) => Number.isFinite(l[k]))).toBe(true);
    const ft = loadFinetuner(out);
    expect(ft.manifest.training).toMatchObject({
      tasks: ['tiny-copa'],
      epochs: 3,
      epochsPerRestart: 1,
      steps: 24,
      metaGradient: 'backprop',
      trajectory: 'fo',
    });
    expect(ft.manifest.finalMetaLoss).toBeCloseTo(readJson(path.join(out, 'summary.json')).finalMetaLoss, 12);
    for (const f of ['meta-loss.svg', 'meta-loss.png']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    // The bank moved: meta-training wrote the PertNNs.
    const init = path.join(tmp(), 'init');
    await zo('finetuner', 'init', '--model', fixtureDir('llama'), '--out', init, '--seed', '0');
    expect(loadFinetuner(init).nets[0]!.b2).not.toEqual(ft.nets[0]!.b2);
    const run = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      '--text-file',
      path.join(path.dirname(fixtureDir('llama')), 'text', 'moby-dick-opening.txt'),
      '--optimizer',
      'zo-ft',
      '--finetuner',
      out,
      '--steps',
      '3',
      '--seq-len',
      '16',
      '--batch-size',
      '4',
      '--out',
      path.join(tmp(), 'run'),
    );
    expect(run.code).toBe(0);
  });

  test('forward-only meta-training (spsa meta-gradient, MeZO trajectory) runs too', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--steps', '6', '--meta-gradient', 'spsa', '--trajectory', 'zo', '--out', out);
    expect(r.code).toBe(0);
    expect(loadFinetuner(out).manifest.training).toMatchObject({ metaGradient: 'spsa', trajectory: 'zo', steps: 6 });
  });

  test('a run killed after a checkpoint resumes to the same bank, byte for byte', async () => {
    const straight = path.join(tmp(), 'ft');
    expect((await zo('meta-train', ...args, '--out', straight)).code).toBe(0);
    const killed = path.join(tmp(), 'ft');
    await killAfterCheckpoint(['meta-train', ...args, '--out', killed], killed, 8);
    expect(fs.existsSync(path.join(killed, 'summary.json'))).toBe(false);
    expect((await zo('meta-train', '--resume', '--out', killed)).code).toBe(0);
    expect(fs.readFileSync(path.join(killed, 'finetuner.safetensors'))).toEqual(
      fs.readFileSync(path.join(straight, 'finetuner.safetensors')),
    );
    const steps = (d: string) =>
      fs
        .readFileSync(path.join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((l) => [l.step, l.metaLoss]);
    expect(steps(killed)).toEqual(steps(straight));
  });

  test('bad input is one line, and nothing is written', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--alpha', '-1', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('zo: --alpha -1: must be a positive number');
    const none = await zo('meta-train', '--model', fixtureDir('llama'), '--task', 'no-such-task', '--out', out);
    expect(none.stderr.trim()).toMatch(/^zo: unknown task "no-such-task"/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
