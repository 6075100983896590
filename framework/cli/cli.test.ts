import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureDir } from '../models/fixtures.js';
import { expectOneLineError, zo } from './testing.js';

/** A scratch copy of a fixture model to break in one way. */
function brokenCopy(name: 'llama' | 'gpt2', breakIt: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `zo-bad-${name}-`));
  fs.cpSync(fixtureDir(name), dir, { recursive: true });
  breakIt(dir);
  return dir;
}

describe('zo CLI', () => {
  test('info --json names the executors, the tfjs backend and ORT threads', async () => {
    const r = await zo('info', '--json', '--threads', '1');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.executors.ort.version).toMatch(/^\d+\.\d+/);
    expect(info.executors.ort.threads).toBe(1);
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(info.executors.tfjs.backend);
  });

  test('bench --suite step --model times the optimizers on that model folder', async () => {
    const dir = fixtureDir('llama');
    const r = await zo(
      'bench',
      '--suite',
      'step',
      '--model',
      dir,
      '--optimizers',
      'mezo,zo-ft',
      '--steps',
      '1',
      '--seconds',
      '0.01',
      '--threads',
      '1',
      '--json',
    );
    expect(r.code).toBe(0);
    const { step } = JSON.parse(r.stdout);
    expect(step.model.dir).toBe(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(step.model.vocab).toBe(config.vocab_size);
    expect(step.seq).toBe(Math.min(64, config.max_position_embeddings));
    expect(step.optimizers.map((o: { name: string; error?: string }) => [o.name, o.error])).toEqual([
      ['mezo', undefined],
      ['zo-ft', undefined],
    ]);
  });

  test.each(['llama', 'gpt2'] as const)('forward --json on the %s fixture agrees across executors', async (name) => {
    const text = 'The quick brown fox jumps over the lazy dog';
    const a = JSON.parse((await zo('forward', '--model', fixtureDir(name), '--text', text, '--json')).stdout);
    const b = JSON.parse((await zo('forward', '--model', fixtureDir(name), '--text', text, '--json', '--executor', 'tfjs')).stdout);
    expect(a.ids.length).toBeGreaterThan(5);
    expect(b.ids).toEqual(a.ids);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-4);
    expect(a.top5).toHaveLength(5);
    expect(b.top5.map((t: { id: number }) => t.id)).toEqual(a.top5.map((t: { id: number }) => t.id));
    for (let i = 1; i < 5; i++) expect(a.top5[i].prob).toBeLessThanOrEqual(a.top5[i - 1].prob);
  });

  test('parity --json covers the four fixture families within 1e-4', async () => {
    const r = await zo('parity', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { family: string; maxAbsLogitDiff: number; lossDiff: number }[];
    expect(rows.map((x) => x.family)).toEqual(['llama', 'qwen2', 'opt', 'gpt2']);
    for (const row of rows) {
      expect(row.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);
      expect(row.lossDiff).toBeLessThanOrEqual(1e-4);
    }
  });

  describe('bad input: one clear line, exit 2', () => {
    const text = ['--text', 'hello there'];
    test('missing config.json', async () => {
      const dir = brokenCopy('llama', (d) => fs.rmSync(path.join(d, 'config.json')));
      expectOneLineError(await zo('forward', '--model', dir, ...text), path.join(dir, 'config.json'), 'missing');
    });
    test('unknown model_type', async () => {
      const dir = brokenCopy('llama', (d) => {
        const f = path.join(d, 'config.json');
        fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), model_type: 'mamba' }));
      });
      expectOneLineError(await zo('forward', '--model', dir, ...text), 'config.json', 'unknown model_type "mamba"');
    });
    test('truncated safetensors header', async () => {
      const dir = brokenCopy('llama', (d) => {
        const f = path.join(d, 'model.safetensors');
        fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 100));
      });
      expectOneLineError(await zo('forward', '--model', dir, ...text), 'model.safetensors', 'truncated or corrupt safetensors header');
    });
    test('corrupt safetensors header JSON', async () => {
      const dir = brokenCopy('gpt2', (d) => {
        const f = path.join(d, 'model.safetensors');
        const bytes = fs.readFileSync(f);
        bytes.write('#', 8); // first header byte: '{' becomes '#'
        fs.writeFileSync(f, bytes);
      });
      expectOneLineError(await zo('forward', '--model', dir, ...text), 'model.safetensors');
    });
    test('a weight shape that disagrees with the config', async () => {
      const dir = brokenCopy('llama', (d) => {
        const f = path.join(d, 'config.json');
        fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), intermediate_size: 48 }));
      });
      expectOneLineError(
        await zo('forward', '--model', dir, ...text),
        'model.safetensors',
        'mlp.gate_proj.weight has shape [64,32] but config.json implies [48,32]',
      );
    });
    test('missing tokenizer', async () => {
      const dir = brokenCopy('gpt2', (d) => fs.rmSync(path.join(d, 'tokenizer.json')));
      expectOneLineError(await zo('forward', '--model', dir, ...text), path.join(dir, 'tokenizer.json'), 'missing');
    });
    test('an invalid config field', async () => {
      const dir = brokenCopy('gpt2', (d) => {
        const f = path.join(d, 'config.json');
        fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), n_head: 'four' }));
      });
      expectOneLineError(await zo('forward', '--model', dir, ...text), 'config.json', 'n_head');
    });
    test('an unknown executor', async () => {
      expectOneLineError(await zo('forward', '--model', fixtureDir('gpt2'), ...text, '--executor', 'torch'), 'torch');
    });
  });
});
