import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureDir } from '../models/fixtures.js';
import { packageRoot } from '../core/paths.js';
import { writeSafetensors } from '../models/safetensors.js';
import { loadModel } from '../models/load.js';
import { killAfterCheckpoint, readJsonl, zo, zoWith } from './testing.js';

const TEXT = path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt');
const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-run-${tag}-`));
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
const common = ['--model', fixtureDir('llama'), '--text-file', TEXT, '--batch-size', '4', '--seq-len', '24'];

function expectOneLineError(r: { code: number; stderr: string }, ...fragments: string[]): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trimEnd().split('\n');
  const last = lines.at(-1)!;
  expect(last).toMatch(/^zo: /);
  for (const f of fragments) expect(last).toContain(f);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('zo run', () => {
  test('mezo for 300 steps lowers the LM loss, and writes spec, metrics and summary', async () => {
    const out = path.join(tmp('mezo'), 'run');
    const r = await zo(
      'run',
      ...common,
      '--batch-size',
      '8',
      '--seq-len',
      '32',
      '--optimizer',
      'mezo',
      '--lr',
      '1e-3',
      '--steps',
      '300',
      '--log-every',
      '25',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    const summary = readJson(path.join(out, 'summary.json'));
    expect(summary.optimizer).toBe('mezo');
    expect(summary.steps).toBe(300);
    expect(summary.finalLoss).toBeLessThan(summary.initialLoss - 0.05);
    expect(summary.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.peakRssMb).toBeGreaterThan(0);
    const spec = readJson(path.join(out, 'spec.json'));
    expect(spec.hyperparameters).toEqual({ lr: 1e-3, eps: 1e-3, weightDecay: 0, q: 1, oneSided: false });
    const lines = readJsonl(path.join(out, 'metrics.jsonl'));
    expect(lines.map((l) => l.step)).toEqual([...Array.from({ length: 12 }, (_, i) => i * 25), 299]);
    for (const l of lines) expect(Object.keys(l).sort()).toEqual(['loss', 'lr', 'ms', 'projectedGrad', 'step']);
  });

  test('100 steps straight, or 50 steps killed and --resumed to 100, give the same weights', async () => {
    const args = [...common, '--optimizer', 'zo-adam', '--lr', '1e-3', '--steps', '100', '--save-every', '10', '--log-every', '1'];
    const straight = path.join(tmp('straight'), 'run');
    expect((await zo('run', ...args, '--out', straight)).code).toBe(0);

    // A real SIGKILL once a checkpoint at step ≥ 50 exists, wherever the run then is.
    const killed = path.join(tmp('killed'), 'run');
    await killAfterCheckpoint(['run', ...args, '--out', killed], killed, 50);
    expect(fs.existsSync(path.join(killed, 'summary.json'))).toBe(false); // it really was cut short
    const at = readJson(path.join(killed, 'checkpoint.json')).step;
    expect(at).toBeGreaterThanOrEqual(50);
    expect(at).toBeLessThan(100);

    const resumed = await zo('run', '--resume', '--out', killed);
    expect(resumed.code).toBe(0);
    const a = readJson(path.join(straight, 'summary.json'));
    const b = readJson(path.join(killed, 'summary.json'));
    expect(b.weightsSha256).toBe(a.weightsSha256);
    expect(b.finalLoss).toBe(a.finalLoss);
    // metrics.jsonl is whole again: every step once, with the same losses.
    const steps = (dir: string) => readJsonl(path.join(dir, 'metrics.jsonl'));
    expect(steps(killed).map((l) => [l.step, l.loss])).toEqual(steps(straight).map((l) => [l.step, l.loss]));
  });

  test('a model with a NaN weight is refused at load, naming the tensor, before anything is written', async () => {
    // Weights holding NaN (a bad save, an fp16 overflow) would make every loss NaN.
    const dir = tmp('nan-model');
    fs.cpSync(fixtureDir('llama'), dir, { recursive: true });
    const m = loadModel(dir);
    m.params.get('model.norm.weight')[3] = NaN;
    writeSafetensors(
      path.join(dir, 'model.safetensors'),
      m.params.names.map((n) => ({ name: n, shape: [...m.params.shape(n)], data: m.params.get(n) })),
    );
    const out = path.join(tmp('nan'), 'run');
    expectOneLineError(
      await zo('run', ...common, '--model', dir, '--optimizer', 'mezo', '--steps', '50', '--out', out),
      'model.safetensors: model.norm.weight[3] is NaN',
    );
    expect(fs.existsSync(out)).toBe(false);
    expectOneLineError(await zo('forward', '--model', dir, '--text', 'hello'), 'model.norm.weight[3] is NaN');
  });

  test('non-finite losses are skipped and counted, then the run aborts with a diagnosis', async () => {
    // An absurd learning rate overflows θ after the first update: every later loss is non-finite.
    const out = path.join(tmp('overflow'), 'run');
    const r = await zo('run', ...common, '--optimizer', 'mezo', '--lr', '1e38', '--steps', '50', '--out', out);
    expectOneLineError(r, '5 non-finite losses in a row', 'lower --lr');
    expect(r.code).toBe(2);
    const lines = readJsonl(path.join(out, 'metrics.jsonl'));
    expect(lines.filter((l) => l.skipped)).toHaveLength(5);
    expect(lines.filter((l) => l.skipped).map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.existsSync(path.join(out, 'summary.json'))).toBe(false);
  });

  test('a task run that diverges before its first finite dev loss finishes on its final weights, and says so', async () => {
    // One finite step at lr 1e12 overflows θ: every dev loss after it is NaN, so no weights are ever best.
    const out = path.join(tmp('diverged'), 'run');
    const args = ['--model', fixtureDir('llama'), '--task', 'tiny-copa', '--optimizer', 'mezo', '--lr', '1e12', '--steps', '3'];
    const r = await zo('run', ...args, '--train-size', '8', '--dev-size', '8', '--test-size', '8', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no dev loss was finite, so there are no best weights');
    expect(r.stderr).toContain('the run diverged');
    expect(r.stdout).toContain('(no finite dev loss: the final weights)');
    const s = readJson(path.join(out, 'summary.json'));
    expect([s.bestStep, s.devBestLoss, s.finalLoss]).toEqual([-1, null, null]);
    expect(fs.existsSync(path.join(out, 'best.safetensors'))).toBe(false);
  });

  describe('bad input: one clear line, non-zero exit', () => {
    test('an unknown optimizer lists the known ones', async () => {
      expectOneLineError(
        await zo('run', ...common, '--optimizer', 'adamw', '--out', path.join(tmp('x'), 'r')),
        'unknown optimizer "adamw"',
        'mezo, zo-sgd-momentum',
      );
    });
    test('a hyperparameter of the wrong type', async () => {
      expectOneLineError(await zo('run', ...common, '--hp', 'q=two', '--out', path.join(tmp('x'), 'r')), 'mezo: hyperparameter q');
    });
    test('a hyperparameter out of range', async () => {
      expectOneLineError(await zo('run', ...common, '--lr', '-1', '--out', path.join(tmp('x'), 'r')), 'mezo: hyperparameter lr');
    });
    test('a hyperparameter the optimizer does not have', async () => {
      expectOneLineError(
        await zo('run', ...common, '--optimizer', 'fo-sgd', '--eps', '1e-3', '--out', path.join(tmp('x'), 'r')),
        'fo-sgd: hyperparameter',
        'eps',
      );
    });
    test('--resume without a checkpoint', async () => {
      expectOneLineError(await zo('run', '--resume', '--out', tmp('empty')), '--resume', 'no checkpoint');
    });
    test('a checkpoint from another optimizer or another model', async () => {
      const out = path.join(tmp('ck'), 'run');
      expect((await zo('run', ...common, '--steps', '4', '--out', out)).code).toBe(0);
      const specFile = path.join(out, 'spec.json');
      const spec = readJson(specFile);
      fs.writeFileSync(specFile, JSON.stringify({ ...spec, optimizer: 'zo-adam', hyperparameters: { lr: 1e-5 } }));
      expectOneLineError(await zo('run', '--resume', '--out', out, '--steps', '8'), 'checkpoint is from optimizer "mezo", not "zo-adam"');
      fs.writeFileSync(specFile, JSON.stringify({ ...spec, model: fixtureDir('qwen2') }));
      expectOneLineError(
        await zo('run', '--resume', '--out', out, '--steps', '8'),
        'checkpoint is from another model',
        'block 3 is model.layers.0.self_attn.k_proj.weight [16,32] there, model.layers.0.self_attn.q_proj.bias [32] here',
      );
    });
    test('a run folder that already holds a run', async () => {
      const out = path.join(tmp('twice'), 'run');
      expect((await zo('run', ...common, '--steps', '2', '--out', out)).code).toBe(0);
      expectOneLineError(await zo('run', ...common, '--steps', '2', '--out', out), 'already holds a run');
    });
  });

  test('optimizers --json lists every optimizer with memory, passes and hyperparameters', async () => {
    const r = await zo('optimizers', '--json');
    const rows = JSON.parse(r.stdout) as {
      name: string;
      memoryFactor: number;
      forwardPasses: number;
      hyperparameters: Record<string, { default: unknown }>;
    }[];
    expect(rows.map((x) => x.name)).toContain('hizoo');
    const byName = Object.fromEntries(rows.map((x) => [x.name, x]));
    expect([byName.mezo!.memoryFactor, byName.mezo!.forwardPasses]).toEqual([0, 2]);
    expect([byName['zo-adam']!.memoryFactor, byName['zo-sgd-conservative']!.forwardPasses, byName.hizoo!.forwardPasses]).toEqual([2, 5, 3]);
    expect(byName.mezo!.hyperparameters.eps!.default).toBe(1e-3);
  });
});

describe('the quick start', () => {
  test('`zo run` with no model and no task fine-tunes tiny-llama-s on tiny-copa with zo-ft and the finetuner it ships (fewer steps here)', async () => {
    const out = path.join(tmp('quick'), 'run');
    const r = await zo(
      'run',
      '--steps',
      '6',
      '--eval-every',
      '3',
      '--train-size',
      '48',
      '--dev-size',
      '24',
      '--test-size',
      '24',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('quick start');
    expect(r.stdout).toMatch(/tiny-copa accuracy: zero-shot dev \d+\.\d → dev \d+\.\d \(best dev loss at step \d\), test \d+\.\d/);
    const spec = readJson(path.join(out, 'spec.json'));
    expect(spec.model).toMatch(/models[/\\]tiny-llama-s$/);
    expect([spec.task, spec.optimizer, spec.hyperparameters.lr]).toEqual(['tiny-copa', 'zo-ft', 1e-4]);
    // No --finetuner: the bank is the model folder's own.
    expect(spec.finetuner).toBe(spec.model);
    expect(r.stderr).toContain('with the finetuner the model ships');
  });

  test('with --finetuner, the banner names that bank, and the run uses it', async () => {
    const bank = path.join(tmp('bank'), 'ft');
    expect((await zo('finetuner', 'init', '--model', path.join(packageRoot(), 'models', 'tiny-llama-s'), '--out', bank)).code).toBe(0);
    const out = path.join(tmp('quick-bank'), 'run');
    const r = await zo(
      'run',
      '--finetuner',
      bank,
      '--steps',
      '2',
      '--eval-every',
      '2',
      '--train-size',
      '8',
      '--dev-size',
      '8',
      '--test-size',
      '8',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`with the finetuner in ${bank}`);
    expect(readJson(path.join(out, 'spec.json')).finetuner).toBe(bank);
  });

  test('without --out, the folder is named for the optimizer that runs: runs/zo-ft-<time>', async () => {
    const cwd = tmp('quick-cwd');
    const r = await zoWith({ cwd }, 'run', '--steps', '2', '--eval-every', '2', '--train-size', '8', '--dev-size', '8', '--test-size', '8');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(path.join(cwd, 'runs'))).toEqual([expect.stringMatching(/^zo-ft-\d{8}-\d{6}$/)]);
    // 8 train examples under the default batch of 16: said, since every batch holds each twice.
    expect(r.stderr).toContain('--batch-size 16 is more than the 8 train examples: every batch repeats examples');
  });

  test('--finetuner with an optimizer that takes none is refused, before anything is written', async () => {
    const out = path.join(tmp('ft-mezo'), 'run');
    const r = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      '--task',
      'tiny-copa',
      '--optimizer',
      'mezo',
      '--finetuner',
      'x',
      '--steps',
      '2',
      '--out',
      out,
    );
    expectOneLineError(r, "--finetuner is a learned optimizer's meta-parameters (zo-ft's bank); mezo takes none");
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a task without a model is refused, naming --model', async () => {
    expectOneLineError(await zo('run', '--task', 'tiny-sentiment', '--steps', '2'), '--model is required with a task or text file');
  });
});
