import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURE_NAMES, fixtureDir } from './fixtures.js';
import { loadModel } from './load.js';
import { bf16ToF32, f32ToBf16Bits, openCheckpoint } from './safetensors.js';
import { FIXTURES, writeFixture } from '../../scripts/make-fixtures.js';

describe('loading Hugging Face model folders', () => {
  test.each(FIXTURE_NAMES)('the %s fixture loads every block the config implies, under 1 MB', (name) => {
    const m = loadModel(fixtureDir(name));
    expect(m.family.name).toBe(name);
    expect(m.params.names).toEqual(m.family.params(m.config).map((p) => p.name));
    expect(fs.statSync(path.join(fixtureDir(name), 'model.safetensors')).size).toBeLessThan(1 << 20);
    // Real checkpoints pad the embedding past the tokenizer; ours do too.
    expect(m.config.vocabSize).toBeGreaterThanOrEqual(m.tokenizer.vocabSize);
  });

  test('bf16 weights load into fp32 exactly (qwen2 fixture is stored as BF16)', () => {
    const m = loadModel(fixtureDir('qwen2'));
    const ckpt = openCheckpoint(fixtureDir('qwen2'));
    expect(ckpt.info('model.embed_tokens.weight')!.dtype).toBe('BF16');
    const w = m.params.get('model.layers.0.self_attn.q_proj.bias');
    for (const v of w) expect(bf16ToF32(f32ToBf16Bits(v))).toBe(v);
    expect(new Set(w).size).toBeGreaterThan(1);
  });

  test('tied embeddings come from config.json: a tied model has no lm_head block', () => {
    expect(loadModel(fixtureDir('qwen2')).params.names).not.toContain('lm_head.weight');
    expect(loadModel(fixtureDir('llama')).params.names).toContain('lm_head.weight');
  });

  test('GPT-2 files saved without the transformer. prefix load too', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-gpt2-noprefix-'));
    fs.cpSync(fixtureDir('gpt2'), dir, { recursive: true });
    const ref = loadModel(fixtureDir('gpt2'));
    // Rewrite the checkpoint with openai-community/gpt2's naming.
    return import('./safetensors.js').then(({ writeSafetensors }) => {
      writeSafetensors(
        path.join(dir, 'model.safetensors'),
        ref.params.names.map((n) => ({ name: n.replace(/^transformer\./, ''), shape: [...ref.params.shape(n)], data: ref.params.get(n) })),
      );
      const m = loadModel(dir);
      expect(m.params.get('transformer.h.1.mlp.c_fc.weight')).toEqual(ref.params.get('transformer.h.1.mlp.c_fc.weight'));
    });
  });

  test('the fixture script is deterministic and the committed fixtures are current', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-fixtures-'));
    for (const spec of FIXTURES) {
      writeFixture(spec, out);
      for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
        const fresh = fs.readFileSync(path.join(out, spec.name, file));
        expect(fresh.equals(fs.readFileSync(path.join(fixtureDir(spec.name as never), file)))).toBe(true);
      }
    }
  });
});
