import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    for (const f of ['sigma.svg', 'sigma.png']) expect(fs.statSync(path.join(dir, f)).size).toBeGreaterThan(1000);
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
