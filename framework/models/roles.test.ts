import { FIXTURE_NAMES, fixtureDir } from './fixtures.js';
import { loadModel } from './load.js';
import { blockRole, isAdapterBlock } from './roles.js';

test('every block of the four fixture families has the role its name says', () => {
  const byRole: Record<string, string[]> = {};
  for (const f of FIXTURE_NAMES)
    for (const name of loadModel(fixtureDir(f)).params.names) (byRole[blockRole(name)] ??= []).push(`${f}:${name.replace(/layers\.\d+|h\.\d+/, 'L')}`);
  const uniq = (xs: string[] = []) => [...new Set(xs)].sort();
  expect(uniq(byRole.embedding)).toEqual(['gpt2:transformer.wpe.weight', 'gpt2:transformer.wte.weight', 'llama:model.embed_tokens.weight', 'opt:model.decoder.embed_positions.weight', 'opt:model.decoder.embed_tokens.weight', 'qwen2:model.embed_tokens.weight']);
  expect(uniq(byRole.head)).toEqual(uniq(byRole.head).filter((n) => n.endsWith('lm_head.weight')));
  expect(uniq(byRole.norm).every((n) => /norm|ln_/.test(n))).toBe(true);
  expect(uniq(byRole.attention).every((n) => /attn/.test(n))).toBe(true);
  expect(uniq(byRole.mlp).every((n) => /mlp|fc1|fc2/.test(n))).toBe(true);
  expect(byRole.other ?? []).toEqual([]);
  expect(uniq(byRole.norm)).toContain('opt:model.decoder.L.self_attn_layer_norm.weight');
});

test("adapter blocks are told from the model's own by their names: every LoRA and prefix block, no base block", async () => {
  const { withPeft } = await import('../runs/peft.js');
  const base = loadModel(fixtureDir('llama'));
  expect(base.params.names.filter(isAdapterBlock)).toEqual([]);
  for (const peft of ['lora', 'prefix'] as const) {
    const { theta } = await withPeft(loadModel(fixtureDir('llama')), { peft, seed: 0 });
    expect(theta.names.length).toBeGreaterThan(0);
    expect(theta.names.filter((n) => !isAdapterBlock(n))).toEqual([]);
  }
});
