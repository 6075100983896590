import fs from 'node:fs';
import { initParams } from '../models/init.js';
import { llama } from '../models/llama.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { benchMemory, MEMORY_GOAL_P, MEMORY_MODEL } from './memory.js';

// A smoke test of the report on a tiny model, one step a run: memory belongs to `zo bench`, never to
// assertions here. It checks that every row is there with a positive peak and that the ratios are
// computed from the peaks.
describe('benchMemory', () => {
  test('measures inference, a MeZO and a zo-ft run on one batch shape, and a varied-length run', async () => {
    const small = { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 };
    const P = initParams(llama, llama.parseConfig({ ...MEMORY_MODEL, ...small }, 'tiny'), 0).size;
    const Pmb = (4 * P) / 1e6;
    const progress: string[] = [];
    const r = await benchMemory({
      model: small,
      steps: 1,
      taskSteps: 1,
      batchSize: 2,
      seqLen: 8,
      taskModel: fixtureDir('llama'),
      task: 'tiny-sentiment',
      onProgress: (m) => progress.push(m),
    });

    expect(r.model).toEqual({ family: 'llama', layers: 1, hidden: 16, vocab: 1024, params: P, mb: Pmb });
    expect([r.batch, r.seq, r.threads, r.goalP]).toEqual([2, 8, 1, MEMORY_GOAL_P]);
    expect(r.inference.peakMb).toBeGreaterThan(0);
    expect(Number.isFinite(r.inference.loss)).toBe(true);
    expect(r.runs.map((x) => [x.optimizer, x.steps])).toEqual([
      ['mezo', 1],
      ['zo-ft', 1],
    ]);
    for (const x of r.runs) {
      expect(x.peakMb).toBeGreaterThan(0);
      expect(Math.abs(x.extraMb - (x.peakMb - r.inference.peakMb))).toBeLessThan(1e-9);
      expect(Math.abs(x.extraP - (x.peakMb - r.inference.peakMb) / Pmb)).toBeLessThan(1e-9);
      expect(x.holds).toBe(x.extraP <= MEMORY_GOAL_P);
    }
    // Every measurement on the bench model ran on the same batch shape and threads, each its own process.
    for (const c of [r.inference, ...r.runs]) {
      const flag = (f: string) => c.args[c.args.indexOf(f) + 1];
      expect([flag('--batch-size'), flag('--seq-len'), flag('--threads')]).toEqual(['2', '8', '1']);
      expect(c.seconds).toBeGreaterThan(0);
    }
    expect(r.runs[1]!.args).toContain('--finetuner');

    const v = r.varied;
    const tP = loadModel(fixtureDir('llama')).params.size;
    expect([v.task, v.steps, v.params, v.mb]).toEqual(['tiny-sentiment', 1, tP, (4 * tP) / 1e6]);
    expect(v.peakMb).toBeGreaterThan(0);
    expect(Math.abs(v.peakP - v.peakMb / v.mb)).toBeLessThan(1e-9);

    // The temporary folder (model, text, bank, run folders) is gone.
    expect(fs.existsSync(r.inference.args[r.inference.args.indexOf('--model') + 1]!)).toBe(false);
    expect(progress.length).toBeGreaterThanOrEqual(9);
  }, 120_000);
});
