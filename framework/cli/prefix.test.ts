/** zo run --peft prefix with two optimizers, the prefix in PEFT layout, zo eval --adapter, zo replay --out. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../core/paths.js';
import { loadModel } from '../models/load.js';
import { attentionModules, prefixBlocksOf } from '../models/prefix.js';
import { openSafetensors, writeSafetensors } from '../models/safetensors.js';
import { writeAdapterFolder } from '../runs/export.js';
import { withPeft } from '../runs/peft.js';
import { expectOneLineError, zo, smallCopaArgs } from './testing.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-prefix-${tag}-`));
const MODEL = path.join(packageRoot(), 'models', 'tiny-llama-s');
const SMALL = smallCopaArgs(10);
// tiny-llama-s: 4 layers, 2 KV heads of 16.
const [LAYERS, WIDTH, N] = [4, 32, 5];

async function prefixRun(optimizer: string, ...extra: string[]) {
  const out = path.join(tmp(optimizer), 'r');
  // MeZO's prefix settings (paper.md §3.2): lr 1e-2, ε 1e-1.
  const args = ['--model', MODEL, ...SMALL, '--optimizer', optimizer, '--lr', '1e-2', '--eps', '0.1', '--steps', '20'];
  const r = await zo('run', ...args, '--peft', 'prefix', '--no-plots', '--out', out, '--json', ...extra);
  expect(r.code).toBe(0);
  return { out, summary: JSON.parse(r.stdout) };
}
const evalLoss = async (...args: string[]) =>
  JSON.parse((await zo('eval', '--task', 'tiny-copa', '--split', 'dev', '--dev-size', '20', '--json', ...args)).stdout).loss as number;
const promptEmbeddings = (dir: string) => openSafetensors(path.join(dir, 'adapter_model.safetensors')).readF32('prompt_embeddings');

describe('zo run --peft prefix', () => {
  let finetuner: string;
  beforeAll(async () => {
    finetuner = path.join(tmp('ft'), 'bank');
    const r = await zo('finetuner', 'init', '--model', MODEL, '--peft', 'prefix', '--out', finetuner);
    expect(r.stdout).toContain(`random finetuner for ${2 * LAYERS} blocks`);
  });

  test.each([['mezo'], ['zo-ft']])(
    '%s: θ is the prefix, saved as PEFT’s prompt_embeddings; zo eval --adapter scores the run’s best dev loss; the run replays',
    async (optimizer) => {
      const { out, summary } = await prefixRun(optimizer, ...(optimizer === 'zo-ft' ? ['--finetuner', finetuner] : []));
      expect(summary.peft).toBe('prefix');
      expect(summary.trainableParameters).toBe(LAYERS * 2 * N * WIDTH);
      const adapter = path.join(out, 'adapter');
      expect(JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8'))).toMatchObject({
        peft_type: 'PREFIX_TUNING',
        task_type: 'CAUSAL_LM',
        num_virtual_tokens: N,
        num_layers: LAYERS,
        token_dim: WIDTH,
        num_attention_heads: 2,
        prefix_projection: false,
      });
      const st = openSafetensors(path.join(adapter, 'adapter_model.safetensors'));
      expect(st.names()).toEqual(['prompt_embeddings']);
      expect(st.info('prompt_embeddings')!.shape).toEqual([N, LAYERS * 2 * WIDTH]);
      // The checkpoints hold θ alone: the prefix blocks, MeZO-named.
      const ck = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).dir;
      const final = openSafetensors(path.join(out, ck, 'model.safetensors'));
      expect(final.names()).toHaveLength(2 * LAYERS);
      for (const n of final.names()) expect(n).toMatch(/^model\.layers\.\d\.self_attn\.prefix_(keys|values)$/);
      // The saved (best) prefix on the base model scores the run's best dev loss; the bare model does not.
      expect(await evalLoss('--model', MODEL, '--adapter', adapter)).toBeCloseTo(summary.devBestLoss, 6);
      expect(await evalLoss('--model', MODEL)).not.toBeCloseTo(summary.devBestLoss, 3);
      // The run replays from its losses, the real-activation init included, and zo replay --out writes
      // the final prefix as an adapter folder: the final checkpoint's blocks.
      const replayed = path.join(path.dirname(out), 'replayed');
      const r = JSON.parse((await zo('replay', out, '--out', replayed, '--json')).stdout);
      expect(r.weightsSha256).toBe(summary.weightsSha256);
      const blocks = prefixBlocksOf(promptEmbeddings(replayed), attentionModules(loadModel(MODEL).params.specs()), N);
      for (const n of final.names()) expect(blocks.get(n)).toEqual(final.readF32(n));
    },
  );

  test('the prefix trains: best dev loss below the step-0 dev loss, which is the init’s, and the slots moved off the init', async () => {
    const { out, summary } = await prefixRun('mezo', '--steps', '60', '--eval-every', '20');
    expect(summary.devBestLoss).toBeLessThan(summary.initialLoss);
    // The init, rebuilt here from the seed (0) and saved as an adapter: its dev loss is the run's step-0 one.
    const spec = JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8'));
    const init = await withPeft(loadModel(MODEL), { peft: 'prefix', seed: 0 });
    const initDir = path.join(path.dirname(out), 'init');
    writeAdapterFolder(initDir, { spec, adapter: init.adapter!, weights: init.theta });
    expect(await evalLoss('--model', MODEL, '--adapter', initDir)).toBeCloseTo(summary.initialLoss, 6);
    const [a, b] = [promptEmbeddings(path.join(out, 'adapter')), promptEmbeddings(initDir)];
    expect(a.some((x, i) => x !== b[i])).toBe(true);
  });

  test('replay reads θ₀ from the run folder (prefix-init.safetensors), and recomputes it where the file is gone', async () => {
    const { out, summary } = await prefixRun('mezo', '--steps', '4');
    const file = path.join(out, 'prefix-init.safetensors');
    const init = openSafetensors(file);
    const blocks = init.names().map((n) => ({ name: n, shape: init.info(n)!.shape, data: init.readF32(n) }));
    const replaySha = async () => JSON.parse((await zo('replay', out, '--json')).stdout).weightsSha256 as string;
    expect(await replaySha()).toBe(summary.weightsSha256);
    // Another θ₀ in the file: the replay follows the file, not a recomputation, so its weights are not
    // the run's, and replay says so against summary.json.
    blocks[0]!.data[0] = blocks[0]!.data[0]! + 1;
    writeSafetensors(file, blocks, init.metadata());
    expectOneLineError(await zo('replay', out, '--json'), 'the replayed weights', "are not the run's");
    fs.rmSync(file);
    expect(await replaySha()).toBe(summary.weightsSha256);
  });

  test('a resume takes the default --prefix-tokens as no change and refuses another; tfjs and first-order optimizers train a prefix too', async () => {
    const { out, summary } = await prefixRun('mezo', '--steps', '4');
    const resume = (...extra: string[]) => zo('run', '--resume', '--out', out, '--steps', '6', '--json', ...extra);
    expectOneLineError(await resume('--peft', 'prefix', '--prefix-tokens', '3'), '--prefix-tokens 3 (the run has 5)');
    expect((await resume('--peft', 'prefix', '--prefix-tokens', '5')).code).toBe(0);
    // The tfjs executor reads the same prefix: the same step-0 dev loss to 1e-5; fo-adam trains it by autodiff.
    const tfjs = path.join(tmp('tfjs'), 'r');
    const args = ['--model', MODEL, ...SMALL, '--optimizer', 'fo-adam', '--lr', '1e-3', '--steps', '4', '--peft', 'prefix'];
    const r = await zo('run', ...args, '--executor', 'tfjs', '--no-plots', '--out', tfjs, '--json');
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout);
    expect(Math.abs(t.initialLoss - summary.initialLoss)).toBeLessThanOrEqual(1e-5);
    expect(t.devBestLoss).toBeLessThan(t.initialLoss);
  });

  test('an adapter for another model is one line: other widths, or a config that disagrees with its tensor', async () => {
    const { out } = await prefixRun('mezo', '--steps', '2');
    const adapter = path.join(out, 'adapter');
    const other = path.join(packageRoot(), 'models', 'tiny-llama-m');
    expectOneLineError(await zo('eval', '--model', other, '--task', 'tiny-copa', '--adapter', adapter), 'a prefix for another model');
    const copy = path.join(path.dirname(out), 'adapter-copy');
    fs.cpSync(adapter, copy, { recursive: true });
    const file = path.join(copy, 'adapter_config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...config, token_dim: 16, num_attention_heads: 1 }));
    expectOneLineError(await zo('eval', '--model', MODEL, '--task', 'tiny-copa', '--adapter', copy), 'prompt_embeddings holds');
    fs.writeFileSync(file, JSON.stringify({ ...config, num_layers: 2 }));
    expectOneLineError(await zo('eval', '--model', MODEL, '--task', 'tiny-copa', '--adapter', copy), 'num_layers 2');
  });

  test('bad input is one line, and no run folder is left', async () => {
    const out = path.join(tmp('bad'), 'r');
    expectOneLineError(
      await zo('run', '--model', MODEL, ...SMALL, '--prefix-tokens', '4', '--out', out),
      '--prefix-tokens',
      'go',
      '--peft prefix',
    );
    expectOneLineError(
      await zo('run', '--model', MODEL, ...SMALL, '--peft', 'prefix', '--prefix-tokens', '0', '--out', out),
      '--prefix-tokens 0',
    );
    // zo-ft needs a bank made for the prefix blocks, not the model's own.
    expectOneLineError(
      await zo('run', '--model', MODEL, ...SMALL, '--optimizer', 'zo-ft', '--peft', 'prefix', '--out', out),
      "the finetuner is for the model's own blocks (full fine-tuning), and this run trains adapter blocks",
      'prefix_keys',
    );
    expectOneLineError(await zo('meta-train', '--model', MODEL, '--prefix-tokens', '3', '--out', out), '--prefix-tokens', '--peft prefix');
    expect(fs.existsSync(out)).toBe(false);
  });

  test('zo export refuses a prefix run in one line: a prefix is not weights', async () => {
    const { out } = await prefixRun('mezo', '--steps', '2');
    expectOneLineError(await zo('export', out, '--out', path.join(path.dirname(out), 'x')), 'a prefix run', 'adapter');
    expectOneLineError(await zo('export', out, '--merge', '--out', path.join(path.dirname(out), 'x')), 'a prefix run');
  });
});
