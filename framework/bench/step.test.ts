import { initParams } from '../models/init.js';
import { llama } from '../models/llama.js';
import { OPTIMIZERS } from '../optimizers/registry.js';
import { forwardFlops } from '../engine/ort.js';
import { benchSteps } from './step.js';
import { benchZoo, ZOO_RATIO_TARGET } from './zoo.js';

// A smoke test of the report's shape on a tiny model, one or two steps each: timings belong to
// `zo bench`, never to assertions here.
describe('benchSteps', () => {
  test('reports every optimizer with its passes and extra memory, and leaves θ as it found it', async () => {
    const config = llama.parseConfig(
      {
        model_type: 'llama',
        vocab_size: 64,
        hidden_size: 16,
        intermediate_size: 32,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 2,
        max_position_embeddings: 16,
        tie_word_embeddings: true,
      },
      'tiny',
    );
    const model = { family: llama, config, params: initParams(llama, config, 0, 0.02) };
    const before = model.params.names.map((n) => model.params.get(n).slice());
    const P = model.params.size;

    const r = await benchSteps({ model, batchSize: 2, seqLen: 8, threads: 1, minSeconds: 0.001, minRuns: 1, steps: 1, foSteps: 1 });

    expect(r.model.params).toBe(P);
    expect([r.batch, r.seq, r.threads]).toEqual([2, 8, 1]);
    expect(r.twoForwardsMs.median).toBeGreaterThan(0);
    expect(r.mezo.map((m) => m.noise)).toEqual(['ziggurat', 'exact', 'table']);
    for (const m of r.mezo) expect(m.ratio).toBeCloseTo(m.stepMs.median / r.twoForwardsMs.median, 10);
    // The forward's FLOPs as traced, its GFLOP/s from the two-forward median, against a GEMM of as many FLOPs.
    expect(r.flops.forward).toBe(forwardFlops(model, 2, 8));
    expect(r.flops.achievedGflops).toBeCloseTo((2 * r.flops.forward) / (r.twoForwardsMs.median / 1000) / 1e9, 9);
    expect(r.flops.gemm.m).toBe(16);
    expect(r.flops.gemm.flops).toBe(2 * 16 * r.flops.gemm.k * r.flops.gemm.n);
    expect(Math.abs(r.flops.gemm.flops / r.flops.forward - 1)).toBeLessThan(0.25);
    expect(r.flops.efficiency).toBeCloseTo(r.flops.achievedGflops / r.flops.gemm.gflops, 12);
    expect(r.optimizerNoise).toBe('ziggurat');
    // The built-ins, then zo-ft (bound to a random bank for timing).
    expect(r.optimizers.map((o) => o.name)).toEqual([...OPTIMIZERS.map((o) => o.name), 'zo-ft']);
    for (const o of r.optimizers) {
      expect([o.name, o.error]).toEqual([o.name, undefined]);
      expect(o.measuredForwardPasses).toBe(o.forwardPasses);
      expect(o.steps).toBe(1);
      expect(Number.isFinite(o.loss)).toBe(true);
      expect(o.vsMezo).toBeGreaterThan(0);
      // State slots match the declared model-sized buffers (LOZO-M's low-rank momentum rounds to 0).
      expect(Math.round(o.stateBytes / (4 * P))).toBe(o.memoryFactor);
      // Exact noise holds one P-sized scratch; first-order optimizers never draw z.
      expect(o.noiseBytes).toBe(o.firstOrder ? 0 : 4 * P);
      expect(o.extraP).toBeCloseTo((o.stateBytes + o.noiseBytes) / (4 * P), 10);
    }
    expect(r.tfjsBackend).toBeDefined();
    // zo-ft against mezo head to head, its ratio from its own medians.
    expect(r.pairs.map((p) => [p.base, p.other, p.target, p.rounds])).toEqual([['mezo', 'zo-ft', 1.05, 10]]);
    for (const p of r.pairs) expect(p.ratio).toBeCloseTo(p.otherMs.median / p.baseMs.median, 10);
    model.params.names.forEach((n, b) => expect(model.params.get(n)).toEqual(before[b]));
  });

  test('--noise and --optimizers narrow the report', async () => {
    const config = llama.parseConfig(
      {
        model_type: 'llama',
        vocab_size: 32,
        hidden_size: 8,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 2,
        max_position_embeddings: 8,
      },
      'tiny',
    );
    const model = { family: llama, config, params: initParams(llama, config, 0, 0.02) };
    const r = await benchSteps({
      model,
      batchSize: 1,
      seqLen: 4,
      threads: 1,
      minSeconds: 0.001,
      minRuns: 1,
      steps: 1,
      noise: 'table',
      optimizers: ['zo-adam'],
    });
    expect(r.mezo.map((m) => m.noise)).toEqual(['table']);
    expect(r.optimizers.map((o) => [o.name, o.noise, o.memoryFactor])).toEqual([['zo-adam', 'table', 2]]);
    // The table holds R + 1 windows of P floats, R = max(32, ⌈2^20 / P⌉) (noise.ts), and the report says so.
    const P = r.model.params;
    const floats = (Math.max(32, Math.ceil(2 ** 20 / P)) + 1) * P;
    expect(r.optimizers[0]!.noiseBytes).toBe(4 * floats);
    expect(r.table).toMatchObject({ floats, timesP: floats / P });
    expect(r.table!.summary).toContain(`${floats.toLocaleString('en')} floats`);
    expect(r.tfjsBackend).toBeUndefined();
    expect(r.zigguratWasm).toBe(true);
    expect([r.noiseThreads, r.axpyWasm]).toEqual([1, true]);
  });

  test('the zoo suite reports each zoo model’s default-noise MeZO step against two forwards, with its GFLOP/s', async () => {
    const r = await benchZoo({ threads: 1, minSeconds: 0.001, models: ['tiny-llama-s'] });
    expect([r.batch, r.seq, r.threads, r.target]).toEqual([16, 64, 1, ZOO_RATIO_TARGET]);
    const [row] = r.rows;
    expect(row!.model).toBe('tiny-llama-s');
    expect(row!.ratio).toBeCloseTo(row!.stepMs / row!.twoForwardsMs, 10);
    expect(row!.holds).toBe(row!.ratio <= 1.5);
    expect(row!.flops.forward).toBeGreaterThan(2 * row!.params * 16 * 64 * 0.9);
  });
});
