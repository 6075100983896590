/** zo run --peft lora with two optimizers, the adapter in PEFT layout, zo eval --adapter and zo export --merge. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../core/paths.js';
import { loadModel } from '../models/load.js';
import { openSafetensors } from '../models/safetensors.js';
import { expectOneLineError, zo, smallCopaArgs } from './testing.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-peft-${tag}-`));
const MODEL = path.join(packageRoot(), 'models', 'tiny-llama-s');
const SMALL = smallCopaArgs(10);

async function loraRun(optimizer: string, ...extra: string[]) {
  const out = path.join(tmp(optimizer), 'r');
  const r = await zo(
    'run',
    '--model',
    MODEL,
    ...SMALL,
    '--optimizer',
    optimizer,
    '--lr',
    '1e-3',
    '--steps',
    '20',
    '--peft',
    'lora',
    '--no-plots',
    '--out',
    out,
    '--json',
    ...extra,
  );
  expect(r.code).toBe(0);
  return { out, summary: JSON.parse(r.stdout) };
}
const evalLoss = async (...args: string[]) =>
  JSON.parse((await zo('eval', '--task', 'tiny-copa', '--split', 'dev', '--dev-size', '20', '--json', ...args)).stdout).loss as number;

describe('zo run --peft lora', () => {
  let finetuner: string;
  beforeAll(async () => {
    finetuner = path.join(tmp('ft'), 'bank');
    const r = await zo('finetuner', 'init', '--model', MODEL, '--peft', 'lora', '--out', finetuner);
    expect(r.stdout).toContain('random finetuner for 16 blocks');
  });

  test.each([['mezo'], ['zo-ft']])(
    '%s: only the adapter blocks change, the adapter is saved in PEFT layout, and it round-trips through zo eval --adapter',
    async (optimizer) => {
      const { out, summary } = await loraRun(optimizer, ...(optimizer === 'zo-ft' ? ['--finetuner', finetuner] : []));
      // 4 layers × (q, v) × (A [8, 64] + B [64, 8], or B [32, 8] for the 2 KV heads' v).
      expect(summary.trainableParameters).toBe(4 * (8 * 64 + 64 * 8) + 4 * (8 * 64 + 32 * 8));
      const adapter = path.join(out, 'adapter');
      const config = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8'));
      expect(config).toMatchObject({
        peft_type: 'LORA',
        task_type: 'CAUSAL_LM',
        r: 8,
        lora_alpha: 16,
        target_modules: ['q_proj', 'v_proj'],
      });
      const st = openSafetensors(path.join(adapter, 'adapter_model.safetensors'));
      expect(st.names()).toHaveLength(16);
      for (const n of st.names()) expect(n).toMatch(/^base_model\.model\.model\.layers\.\d\.self_attn\.[qv]_proj\.lora_[AB]\.weight$/);
      // B moved off zero: the run trained the adapters.
      expect(st.readF32('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight').some((x) => x !== 0)).toBe(true);
      // The run's weights hash is over every block: the base model's own, untouched, then the final adapters.
      const ck = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).dir;
      const final = openSafetensors(path.join(out, ck, 'model.safetensors'));
      const base = loadModel(MODEL).params;
      const h = crypto.createHash('sha256');
      for (const n of base.names) h.update(new Uint8Array(base.get(n).buffer));
      for (const n of final.names()) h.update(new Uint8Array(final.readF32(n).buffer));
      expect(h.digest('hex')).toBe(summary.weightsSha256);
      // The saved (best) adapter on the base model scores the run's best dev loss.
      expect(await evalLoss('--model', MODEL, '--adapter', adapter)).toBeCloseTo(summary.devBestLoss, 6);
      expect(await evalLoss('--model', MODEL)).not.toBeCloseTo(summary.devBestLoss, 6);
      // And the run replays from its losses, LoRA init included.
      expect(JSON.parse((await zo('replay', out, '--json')).stdout).weightsSha256).toBe(summary.weightsSha256);
    },
  );

  test('zo export --merge writes a full model folder whose dev loss is the adapter’s to 1e-5', async () => {
    const { out } = await loraRun('mezo');
    const merged = path.join(path.dirname(out), 'merged');
    expect((await zo('export', out, '--merge', '--out', merged)).code).toBe(0);
    const withAdapter = await evalLoss('--model', MODEL, '--adapter', path.join(out, 'adapter'));
    expect(Math.abs((await evalLoss('--model', merged)) - withAdapter)).toBeLessThanOrEqual(1e-5);
    expectOneLineError(await zo('export', out, '--out', path.join(path.dirname(out), 'x')), 'a LoRA run', '--merge');
    // zo replay --out rebuilds the final adapters and writes them merged: zo export --merge --weights final's bytes.
    const [final, replayed] = [path.join(path.dirname(out), 'final'), path.join(path.dirname(out), 'replayed')];
    expect((await zo('export', out, '--merge', '--weights', 'final', '--out', final)).code).toBe(0);
    expect((await zo('replay', out, '--out', replayed)).code).toBe(0);
    const [a, b] = [openSafetensors(path.join(final, 'model.safetensors')), openSafetensors(path.join(replayed, 'model.safetensors'))];
    expect(b.names()).toEqual(a.names());
    for (const n of a.names()) expect(b.readF32(n)).toEqual(a.readF32(n));
  });

  test('an adapter zo cannot apply as saved is one line: rsLoRA scaling, another rank', async () => {
    const { out } = await loraRun('mezo');
    const copy = path.join(path.dirname(out), 'adapter-copy');
    fs.cpSync(path.join(out, 'adapter'), copy, { recursive: true });
    const file = path.join(copy, 'adapter_config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...config, use_rslora: true }));
    expectOneLineError(await zo('eval', '--model', MODEL, '--task', 'tiny-copa', '--adapter', copy), 'use_rslora');
    fs.writeFileSync(file, JSON.stringify({ ...config, r: 4 }));
    expectOneLineError(await zo('eval', '--model', MODEL, '--task', 'tiny-copa', '--adapter', copy), 'another model or rank');
  });

  test('bad input is one line', async () => {
    const out = path.join(tmp('bad'), 'r');
    expectOneLineError(await zo('run', '--model', MODEL, ...SMALL, '--lora-r', '4', '--out', out), '--lora-r', 'go with --peft lora');
    expectOneLineError(
      await zo('run', '--model', MODEL, ...SMALL, '--peft', 'lora', '--lora-targets', 'wq', '--out', out),
      '--lora-targets wq',
    );
    expectOneLineError(await zo('run', '--model', MODEL, ...SMALL, '--peft', 'lora', '--lora-r', '0', '--out', out), '--lora-r 0');
    // zo-ft needs a bank made for the adapter blocks, not the model's own.
    expectOneLineError(
      await zo('run', '--model', MODEL, ...SMALL, '--optimizer', 'zo-ft', '--peft', 'lora', '--out', out),
      "the finetuner is for the model's own blocks (full fine-tuning), and this run trains adapter blocks",
      'lora_A',
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});
