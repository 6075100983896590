import { recomputeDecoder } from './decoder.js';
import type { Model } from './executor.js';
import { OrtExecutor } from './ort.js';
import { ZoError } from '../core/errors.js';
import { FIXTURE_NAMES, fixtureDir } from '../models/fixtures.js';
import { MODEL_VARIANTS } from '../models/testing.js';
import { initParams } from '../models/init.js';
import { loadModel } from '../models/load.js';

const TOL = 1e-4;
const PAD = 0;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** Deterministic pseudo-random token ids in [0, vocab), one per row. */
function tokens(rows: number, vocab: number, step: number): Int32Array {
  return Int32Array.from({ length: rows }, (_, b) => (7919 * (step + 1) + 104729 * b + 13 * step * b) % vocab);
}

/**
 * Feeds the same prompts and tokens to the KV decoder and the recompute reference; returns the max
 * |Δlogit| after start and after each append, and how far each step's logits moved from the last
 * (so a tolerance of 1e-4 means something: a decoder stuck on stale logits would be far off).
 */
async function compare(model: Model, prompts: number[][], maxNew: number) {
  const kvExec = new OrtExecutor(model, { threads: 1 });
  const refExec = new OrtExecutor(model, { threads: 1 });
  const kv = kvExec.decoder(PAD);
  const ref = recomputeDecoder(refExec, PAD);
  const diffs: number[] = [];
  const moves: number[] = [];
  try {
    let prev = await ref.start(prompts, maxNew);
    diffs.push(maxAbsDiff((await kv.start(prompts, maxNew)).slice(), prev));
    for (let step = 0; step < maxNew; step++) {
      const next = tokens(prompts.length, model.config.vocabSize, step);
      // Copied before the next call: the KV decoder reuses its logits buffer.
      const got = (await kv.append(next)).slice();
      const want = await ref.append(next);
      diffs.push(maxAbsDiff(got, want));
      moves.push(maxAbsDiff(want, prev));
      prev = want;
    }
    await expect(kv.append(tokens(prompts.length, model.config.vocabSize, maxNew))).rejects.toThrow(/more tokens than the maxNew/);
    return { diffs, moves, kvGraphs: kvExec.graphCount, refGraphs: refExec.graphCount };
  } finally {
    await kv.dispose();
    await ref.dispose();
    await kvExec.dispose();
    await refExec.dispose();
  }
}

/** Prompts of lengths 3, 14, 1 and 16: over maxNew = 18 steps the rows pass the 16 and 32 buckets at different steps. */
const PROMPT_LENGTHS = [3, 14, 1, 16];
const prompts = (vocab: number) => PROMPT_LENGTHS.map((n, b) => Array.from({ length: n }, (_, s) => (31 * s + 17 * b + 5) % vocab));

describe('KV-cache decoder (ort) against the recompute path', () => {
  test.each(FIXTURE_NAMES)('fixture %s: logits after start and each of 18 appends within 1e-4', async (name) => {
    const model = loadModel(fixtureDir(name));
    const r = await compare(model, prompts(model.config.vocabSize), 18);
    expect(r.diffs).toHaveLength(19);
    for (const d of r.diffs) expect(d).toBeLessThanOrEqual(TOL);
    for (const m of r.moves) expect(m).toBeGreaterThan(1e-2);
    // One prefill graph and one decode graph for all 18 steps; the reference needed one per bucket.
    expect(r.kvGraphs).toBe(2);
    expect(r.refGraphs).toBe(3);
  });

  // Options the fixtures do not cover, on in-memory models with O(1) weights (as the parity test).
  test.each(MODEL_VARIANTS)('%s: 12 appends within 1e-4', async (_label, family, raw) => {
    const config = family.parseConfig(raw, 'test');
    const r = await compare({ family, config, params: initParams(family, config, 7, 0.3) }, prompts(config.vocabSize), 12);
    for (const d of r.diffs) expect(d).toBeLessThanOrEqual(TOL);
  });

  test('a prompt and maxNew beyond the model positions are refused', async () => {
    const model = loadModel(fixtureDir('gpt2'));
    const exec = new OrtExecutor(model, { threads: 1 });
    const dec = exec.decoder(PAD);
    await expect(dec.append(Int32Array.of(1))).rejects.toThrow(/before start/);
    // The fixture has 128 positions: 100 + 28 fit exactly, one more does not.
    const prompt = [Array.from({ length: 100 }, () => 1)];
    await expect(dec.start(prompt, 29)).rejects.toThrow(ZoError);
    await expect(dec.start(prompt, 29)).rejects.toThrow(/100 tokens and 29 new ones exceed the model's 128 positions/);
    expect((await dec.start(prompt, 28)).length).toBe(model.config.vocabSize);
    await exec.dispose();
  });
});
