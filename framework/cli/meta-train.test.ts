import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { standardization } from '../learned/features.js';
import { loadFinetuner } from '../learned/finetuner.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { killAfterCheckpoint, readJsonl, zo } from './testing.js';

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
    const lines = readJsonl(path.join(out, 'metrics.jsonl'));
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

  test.each([
    ['lora', /\.lora_[AB]\.weight$/],
    ['prefix', /\.self_attn\.prefix_(keys|values)$/],
  ])(
    '--peft %s: a bank for the adapter blocks, meta-trained on them through a reset, that a zo-ft --peft run uses',
    async (peft, names) => {
      const out = path.join(tmp(), 'ft');
      const r = await zo('meta-train', ...args, '--epochs', '2', '--peft', peft, '--out', out);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.code).toBe(0);
      expect(
        readJsonl(path.join(out, 'metrics.jsonl'))
          .filter((l) => l.reset)
          .map((l) => l.step),
      ).toEqual([8]);
      const ft = loadFinetuner(out);
      expect(ft.manifest.blocks.length).toBeGreaterThan(0);
      for (const b of ft.manifest.blocks) expect(b.name).toMatch(names);
      const run = await zo(
        'run',
        '--model',
        fixtureDir('llama'),
        ...args.slice(2, 10),
        '--optimizer',
        'zo-ft',
        '--finetuner',
        out,
        '--peft',
        peft,
        '--steps',
        '3',
        '--no-plots',
        '--out',
        path.join(tmp(), 'run'),
      );
      expect(run.code).toBe(0);
    },
  );

  test('forward-only meta-training (spsa meta-gradient, MeZO trajectory) runs too', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--steps', '6', '--meta-gradient', 'spsa', '--trajectory', 'zo', '--out', out);
    expect(r.code).toBe(0);
    expect(loadFinetuner(out).manifest.training).toMatchObject({ metaGradient: 'spsa', trajectory: 'zo', steps: 6 });
  });

  test('--no-normalization keeps nf at 1 in every step, and the bank says so', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--steps', '3', '--no-normalization', '--out', out);
    expect(r.code).toBe(0);
    expect(loadFinetuner(out).manifest.normalization.enabled).toBe(false);
    expect(readJson(path.join(out, 'spec.json')).normalization).toBe(false);
    expect(readJsonl(path.join(out, 'metrics.jsonl')).map((l) => l.nf)).toEqual([1, 1, 1]);
  });

  test('a run killed after a checkpoint resumes to the same bank, byte for byte', async () => {
    const straight = path.join(tmp(), 'ft');
    expect((await zo('meta-train', ...args, '--out', straight)).code).toBe(0);
    const killed = path.join(tmp(), 'ft');
    await killAfterCheckpoint(['meta-train', ...args, '--out', killed], killed, 8);
    expect(fs.existsSync(path.join(killed, 'summary.json'))).toBe(false);
    // A resume told to change the run is refused, every such flag named, and the run is untouched.
    const changed = await zo(
      'meta-train',
      '--resume',
      '--out',
      killed,
      '--task',
      'tiny-cb',
      '--alpha=1e-3',
      '--no-reset',
      '--threads',
      '1',
    );
    expect([changed.code, changed.stderr.trim()]).toEqual([
      2,
      'zo: --resume continues the run as its spec.json says: --task, --alpha, --reset cannot change it (only --threads and --save-every may)',
    ]);
    expect(fs.existsSync(path.join(killed, 'summary.json'))).toBe(false);
    expect((await zo('meta-train', '--resume', '--out', killed, '--threads', '1')).code).toBe(0);
    expect(fs.readFileSync(path.join(killed, 'finetuner.safetensors'))).toEqual(
      fs.readFileSync(path.join(straight, 'finetuner.safetensors')),
    );
    const steps = (d: string) => readJsonl(path.join(d, 'metrics.jsonl')).map((l) => [l.step, l.metaLoss]);
    expect(steps(killed)).toEqual(steps(straight));
  });

  test('two tasks, layer sharing, standardised features: both recorded, a net per layer, the map fixed at θ₀; resumes byte for byte', async () => {
    const two = [
      '--model',
      fixtureDir('llama'),
      '--task',
      'tiny-copa',
      '--task',
      'tiny-sentiment',
      '--train-size',
      '16',
      '--dev-size',
      '4',
      '--test-size',
      '4',
      '--batch-size',
      '4',
      '--steps',
      '4',
      '--save-every',
      '2',
      '--threads',
      '1',
      '--sharing',
      'layer',
      '--features',
      'standardized',
    ];
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...two, '--out', out);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const lines = readJsonl(path.join(out, 'metrics.jsonl'));
    for (const round of [0, 1])
      expect(
        lines
          .slice(2 * round, 2 * round + 2)
          .map((l) => l.task)
          .sort(),
      ).toEqual(['tiny-copa', 'tiny-sentiment']);
    const ft = loadFinetuner(out);
    expect(ft.manifest.training).toMatchObject({ tasks: ['tiny-copa', 'tiny-sentiment'], steps: 4 });
    expect(ft.manifest.sharing).toBe('layer');
    expect(ft.nets).toHaveLength(5); // embedding, layers 0 and 1, final norm, lm_head
    expect(readJson(path.join(out, 'spec.json'))).toMatchObject({ sharing: 'layer', features: 'standardized' });
    // Block statistics across θ₀'s blocks; ℓ± scaled by the loss at θ₀ on step 0's batch, which the
    // trajectory's step 0 also measured (there by tfjs, here by ORT).
    const { shift, scale } = ft.manifest.featureTransform;
    const base = standardization(loadModel(fixtureDir('llama')).params);
    expect([ft.manifest.featureTransform.mode, shift.slice(0, 2), scale.slice(0, 2)]).toEqual([
      'standardized',
      base.shift.slice(0, 2),
      base.scale.slice(0, 2),
    ]);
    expect(scale[2]).toBeCloseTo(lines[0].trainLoss, 4);
    expect([shift.slice(2), scale[3], scale[4]]).toEqual([[0, 0, 0], scale[2], 1]);
    const show = await zo('finetuner', 'show', out, '--model', fixtureDir('llama'), '--json');
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout).blocks).toHaveLength(21);
    const killed = path.join(tmp(), 'ft');
    await killAfterCheckpoint(['meta-train', ...two, '--out', killed], killed, 2);
    expect(fs.existsSync(path.join(killed, 'summary.json'))).toBe(false);
    expect((await zo('meta-train', '--resume', '--out', killed)).code).toBe(0);
    expect(fs.readFileSync(path.join(killed, 'finetuner.safetensors'))).toEqual(fs.readFileSync(path.join(out, 'finetuner.safetensors')));
    expect(loadFinetuner(killed).manifest.featureTransform).toEqual(ft.manifest.featureTransform);
  });

  test('bad input is one line, and nothing is written', async () => {
    const out = path.join(tmp(), 'ft');
    const r = await zo('meta-train', ...args, '--alpha', '-1', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('zo: --alpha -1: must be a positive number');
    const none = await zo('meta-train', '--model', fixtureDir('llama'), '--task', 'no-such-task', '--out', out);
    expect(none.stderr.trim()).toMatch(/^zo: unknown task "no-such-task"/);
    const sharing = await zo('meta-train', ...args, '--sharing', 'row', '--out', out);
    expect([sharing.code, sharing.stderr.trim()]).toEqual([
      2,
      expect.stringMatching(/^zo: Invalid values: Argument: sharing, Given: "row"/),
    ]);
    expect(fs.existsSync(out)).toBe(false);
    expect((await zo('meta-train', ...args, '--out', '/sys/zo-meta')).stderr.trim()).toMatch(
      /^zo: --out \/sys\/zo-meta: cannot (create the run folder|write in \/sys) \(/,
    );
  });
});
