import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { standardization } from '../learned/features.js';
import { loadFinetuner } from '../learned/finetuner.js';
import { referenceSigmas } from '../learned/show.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { zo } from './testing.js';

describe('zo finetuner', () => {
  test('init writes a random bank; show prints nf·σ per role at the reference state and draws the bars', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ftcli-')), 'ft');
    expect((await zo('finetuner', 'init', '--model', fixtureDir('llama'), '--out', dir, '--seed', '4')).code).toBe(0);
    const r = await zo('finetuner', 'show', dir, '--model', fixtureDir('llama'), '--loss', '2', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    // The same numbers as the library computes for the same bank and state.
    const ref = referenceSigmas(loadFinetuner(dir), loadModel(fixtureDir('llama')).params, 2, 16);
    expect(out.nf).toBeCloseTo(ref.nf, 10);
    expect(out.roles.map((x: { role: string }) => x.role)).toEqual(['embedding', 'attention', 'mlp', 'norm', 'head']); // an untied lm_head
    // nf makes the d̂-weighted mean square of nf·σ exactly 1: some blocks above 1, some below.
    const scales = out.blocks.map((b: { scale: number }) => b.scale);
    expect(Math.max(...scales)).toBeGreaterThan(1);
    expect(Math.min(...scales)).toBeLessThan(1);
    // init never writes over a bank (nor into a model folder, whose bank it would replace).
    const before = fs.readFileSync(path.join(dir, 'finetuner.safetensors'));
    const again = await zo('finetuner', 'init', '--model', fixtureDir('llama'), '--out', dir, '--seed', '5');
    expect([again.code, again.stderr.trim()]).toEqual([
      2,
      `zo: --out ${dir}: already holds a finetuner (finetuner.safetensors, finetuner.json); give another folder`,
    ]);
    expect(fs.readFileSync(path.join(dir, 'finetuner.safetensors'))).toEqual(before);
    // Nothing is written beside the bank it read; --plot writes the bars where it says.
    expect(out.plot).toBeNull();
    expect(fs.readdirSync(dir).sort()).toEqual(['finetuner.json', 'finetuner.safetensors']);
    const base = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ftplot-')), 'sigma');
    const p = await zo('finetuner', 'show', dir, '--model', fixtureDir('llama'), '--loss', '2', '--plot', base);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`plot: ${base}.svg, ${base}.png`);
    for (const f of [`${base}.svg`, `${base}.png`]) expect(fs.statSync(f).size).toBeGreaterThan(1000);
  });

  test('init --sharing global --features standardized: one net, the map from θ₀’s blocks with ℓ± unscaled; show reads it', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ftcli-')), 'ft');
    const r = await zo(
      'finetuner',
      'init',
      '--model',
      fixtureDir('llama'),
      '--out',
      dir,
      '--sharing',
      'global',
      '--features',
      'standardized',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 PertNNs, global sharing, standardized features; ℓ± unscaled/);
    const ft = loadFinetuner(dir);
    expect([ft.manifest.sharing, ft.nets.length]).toEqual(['global', 1]);
    expect(ft.manifest.featureTransform).toEqual(standardization(loadModel(fixtureDir('llama')).params));
    expect(ft.manifest.featureTransform.scale.slice(2)).toEqual([1, 1, 1]);
    const show = await zo('finetuner', 'show', dir, '--model', fixtureDir('llama'), '--loss', '2', '--json');
    expect(show.code).toBe(0);
    const ref = referenceSigmas(ft, loadModel(fixtureDir('llama')).params, 2, 16);
    expect(JSON.parse(show.stdout).nf).toBeCloseTo(ref.nf, 10);
  });

  test('a bank shown against another model is one line naming the first block that differs', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ftcli-')), 'ft');
    await zo('finetuner', 'init', '--model', fixtureDir('llama'), '--out', dir);
    const r = await zo('finetuner', 'show', dir, '--model', fixtureDir('qwen2'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^zo: .*the finetuner was made for another model: block 3 is model\.layers\.0\.self_attn\.k_proj\.weight/,
    );
  });
});

describe('zo run --optimizer zo-ft', () => {
  const TEXT = path.join(path.dirname(fixtureDir('llama')), 'text', 'moby-dick-opening.txt');
  const common = ['--text-file', TEXT, '--batch-size', '4', '--seq-len', '16', '--lr', '1e-3'];
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ftrun-'));

  test('uses the model folder’s own finetuner by default, --finetuner otherwise, and resumes exactly', async () => {
    const model = path.join(tmp(), 'model');
    fs.cpSync(fixtureDir('llama'), model, { recursive: true });
    expect((await zo('finetuner', 'init', '--model', model, '--out', model, '--seed', '1')).code).toBe(0);
    const straight = path.join(tmp(), 'run');
    const a = await zo('run', '--model', model, ...common, '--optimizer', 'zo-ft', '--steps', '6', '--out', straight);
    expect(a.stderr).not.toMatch(/\n\s+at /);
    expect(a.code).toBe(0);
    const killed = path.join(tmp(), 'run');
    expect((await zo('run', '--model', model, ...common, '--optimizer', 'zo-ft', '--steps', '3', '--out', killed)).code).toBe(0);
    expect((await zo('run', '--resume', '--out', killed, '--steps', '6')).code).toBe(0);
    const sha = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8')).weightsSha256;
    expect(sha(killed)).toBe(sha(straight));
    // spec.json names the bank the run used, also when it was the model folder's own.
    expect(JSON.parse(fs.readFileSync(path.join(straight, 'spec.json'), 'utf8')).finetuner).toBe(path.resolve(model));
    // Another bank gives other weights: the finetuner really drives the step.
    const other = path.join(tmp(), 'ft');
    await zo('finetuner', 'init', '--model', model, '--out', other, '--seed', '2');
    const c = path.join(tmp(), 'run');
    expect(
      (
        await zo(
          'run',
          '--model',
          model,
          ...common,
          '--optimizer',
          'zo-ft',
          '--finetuner',
          path.join(other, 'finetuner.json'),
          '--steps',
          '6',
          '--out',
          c,
        )
      ).code,
    ).toBe(0);
    expect(sha(c)).not.toBe(sha(straight));
    expect(JSON.parse(fs.readFileSync(path.join(c, 'spec.json'), 'utf8')).finetuner).toBe(path.join(other, 'finetuner.json'));
  });

  test('no finetuner, or one for another model, is one line before anything is written', async () => {
    const out = path.join(tmp(), 'run');
    const none = await zo('run', '--model', fixtureDir('llama'), ...common, '--optimizer', 'zo-ft', '--steps', '2', '--out', out);
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toMatch(/^zo: zo-ft needs a finetuner: .* has none \(finetuner\.json\); pass --finetuner PATH/);
    const ft = path.join(tmp(), 'ft');
    await zo('finetuner', 'init', '--model', fixtureDir('qwen2'), '--out', ft);
    const wrong = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      ...common,
      '--optimizer',
      'zo-ft',
      '--finetuner',
      ft,
      '--steps',
      '2',
      '--out',
      out,
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toMatch(/^zo: .*the finetuner was made for another model: block \d+ is/);
    // The right model's full-model bank against a LoRA run's adapter blocks: said as such.
    const full = path.join(tmp(), 'full');
    await zo('finetuner', 'init', '--model', fixtureDir('llama'), '--out', full);
    const lora = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      ...common,
      '--optimizer',
      'zo-ft',
      '--finetuner',
      full,
      '--peft',
      'lora',
      '--steps',
      '2',
      '--out',
      out,
    );
    expect([lora.code, lora.stderr.trim()]).toEqual([
      2,
      expect.stringMatching(
        /^zo: .*the finetuner is for the model's own blocks \(full fine-tuning\), and this run trains adapter blocks \(block 0 is model\.embed_tokens\.weight there, .*lora_A.* here\): meta-train one/,
      ),
    ]);
    expect(fs.existsSync(out)).toBe(false);
  });
});
