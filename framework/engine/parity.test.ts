import { lmBatch } from './batch.js';
import { checkParity } from './parity.js';
import { OrtExecutor } from './ort.js';
import { parityOf } from '../cli/parity.js';
import { FIXTURE_NAMES, fixtureDir } from '../models/fixtures.js';
import { MODEL_VARIANTS } from '../models/testing.js';
import { initParams } from '../models/init.js';
import { gpt2 } from '../models/gpt2.js';
import { llama } from '../models/llama.js';
import { opt } from '../models/opt.js';
import type { BaseConfig, Family } from './model.js';

const TOL = 1e-4;

describe('ort and tfjs executors agree', () => {
  test.each(FIXTURE_NAMES)('fixture %s: max |Δlogit| and |Δloss| ≤ 1e-4', async (name) => {
    const r = await parityOf(fixtureDir(name));
    expect(r.family).toBe(name);
    expect(r.maxAbsLogitDiff).toBeLessThanOrEqual(TOL);
    expect(r.lossDiff).toBeLessThanOrEqual(TOL);
    // Teeth: the fixtures' logits are O(1), so a wrong op would show far above 1e-4.
    expect(r.ortLoss).toBeGreaterThan(1);
  });

  // Options the fixtures do not cover, on in-memory models with O(1) weights.
  test.each(MODEL_VARIANTS)('%s', async (_label, family, raw) => {
    const config = family.parseConfig(raw, 'test');
    const params = initParams(family, config, 7, 0.3);
    const batch = lmBatch([
      [1, 5, 7, 9, 11, 13, 2, 3, 40],
      [4, 6, 8, 10],
      [60, 59, 58, 1, 2, 3, 4],
    ]);
    const r = await checkParity({ family, config, params }, batch);
    expect(r.maxAbsLogitDiff).toBeLessThanOrEqual(TOL);
    expect(r.lossDiff).toBeLessThanOrEqual(TOL);
  });
});

describe('padding and batching', () => {
  // A row's score must not depend on what it is batched with: this holds only if the attention mask
  // hides padding keys and OPT's positions skip them.
  const models: [string, Family<any>, Record<string, unknown>][] = [
    [
      'llama',
      llama,
      { model_type: 'llama', vocab_size: 61, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2 },
    ],
    [
      'opt',
      opt,
      {
        model_type: 'opt',
        vocab_size: 61,
        hidden_size: 16,
        ffn_dim: 24,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        max_position_embeddings: 32,
      },
    ],
    ['gpt2', gpt2, { model_type: 'gpt2', vocab_size: 61, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 32 }],
  ];
  test.each(models)('%s: a short row scores the same alone and padded in a batch', async (_n, family, raw) => {
    const config: BaseConfig = family.parseConfig(raw, 'test');
    const exec = new OrtExecutor({ family, config, params: initParams(family, config, 3, 0.3) });
    const short = [3, 14, 15, 9, 26];
    const alone = await exec.forward(lmBatch([short]));
    const padded = await exec.forward(lmBatch([[2, 7, 18, 28, 18, 28, 4, 5, 9, 0, 45], short], 17));
    expect(padded.seqCount[1]).toBe(4);
    expect(Math.abs(padded.seqLogProb[1]! - alone.seqLogProb[0]!)).toBeLessThan(1e-5);
    await exec.dispose();
  });
});
