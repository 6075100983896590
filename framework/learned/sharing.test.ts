import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { openSafetensors } from '../models/safetensors.js';
import { MODEL_VARIANTS } from '../models/testing.js';
import { blockStats, features, RAW_FEATURES } from './features.js';
import { loadFinetuner, randomFinetuner, saveFinetuner } from './finetuner.js';
import { pertnnForward } from './pertnn.js';
import { GLOBAL_GROUP, groupIndex, shareGroup } from './sharing.js';
import { sigmas, zoFt } from './zo-ft.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'zo-share-'));
const namesOf = (f: 'llama' | 'qwen2' | 'opt' | 'gpt2') => loadModel(fixtureDir(f)).params.names;
const layerGroups = (names: readonly string[]) => groupIndex(names.map((n) => shareGroup(n, 'layer'))).names;

describe('which blocks share a PertNN', () => {
  test('layer sharing on the four fixture families: one net per transformer layer, the rest their own', () => {
    expect(layerGroups(namesOf('llama'))).toEqual([
      'model.embed_tokens.weight',
      'model.layers.0',
      'model.layers.1',
      'model.norm.weight',
      'lm_head.weight',
    ]);
    expect(layerGroups(namesOf('qwen2'))).toEqual(['model.embed_tokens.weight', 'model.layers.0', 'model.layers.1', 'model.norm.weight']);
    expect(layerGroups(namesOf('opt'))).toEqual([
      'model.decoder.embed_tokens.weight',
      'model.decoder.embed_positions.weight',
      'model.decoder.final_layer_norm.weight',
      'model.decoder.final_layer_norm.bias',
      'model.decoder.layers.0',
      'model.decoder.layers.1',
    ]);
    expect(layerGroups(namesOf('gpt2'))).toEqual([
      'transformer.wte.weight',
      'transformer.wpe.weight',
      'transformer.h.0',
      'transformer.h.1',
      'transformer.ln_f.weight',
      'transformer.ln_f.bias',
    ]);
    // A layer's net serves all its blocks: 9 for Llama, 12 for Qwen2 (q/k/v biases), 16 for OPT, 12 for GPT-2.
    const perLayer = (f: 'llama' | 'qwen2' | 'opt' | 'gpt2') => namesOf(f).filter((n) => shareGroup(n, 'layer').endsWith('.0')).length;
    expect([perLayer('llama'), perLayer('qwen2'), perLayer('opt'), perLayer('gpt2')]).toEqual([9, 12, 16, 12]);
  });

  test.each(MODEL_VARIANTS)(
    'layer sharing on %s: as many layer nets as layers, each block of a layer in its net',
    (_label, family, raw) => {
      const names = family.params(family.parseConfig(raw, 'config.json')).map((p) => p.name);
      const layers = (raw.num_hidden_layers ?? raw.n_layer) as number;
      for (const n of names) {
        const g = shareGroup(n, 'layer');
        const index = /\.(?:layers|h)\.(\d+)\./.exec(n)?.[1];
        // In a layer: the name's prefix up to the index; outside (embeddings, project_in/out, final norm, lm_head): itself.
        expect(g).toBe(index === undefined ? n : n.slice(0, n.indexOf(`.${index}.`) + index.length + 1));
      }
      expect(layerGroups(names).filter((g) => !names.includes(g))).toHaveLength(layers);
    },
  );

  test('block sharing is the block itself; global is one net for every block; the first layers.N of a name counts', () => {
    const names = namesOf('opt');
    expect(names.map((n) => shareGroup(n, 'block'))).toEqual(names);
    expect(new Set(names.map((n) => shareGroup(n, 'global')))).toEqual(new Set([GLOBAL_GROUP]));
    expect(shareGroup('model.layers.12.mlp.up_proj.weight', 'layer')).toBe('model.layers.12');
    expect(shareGroup('encoder.layers.2.sub.layers.7.weight', 'layer')).toBe('encoder.layers.2');
    expect(shareGroup('lm_head.weight', 'layer')).toBe('lm_head.weight');
    expect(groupIndex(['a', 'b', 'a', 'c', 'b'])).toEqual({ names: ['a', 'b', 'c'], index: [0, 1, 0, 2, 1] });
  });
});

describe('a shared bank', () => {
  test('global: every block gets the σ of the one net given that block’s own features', () => {
    const model = loadModel(fixtureDir('llama'));
    const ft = randomFinetuner(model.params, model.config, 6, { sharing: 'global' });
    expect(ft.nets).toHaveLength(1);
    const state = zoFt(ft, { batchSize: 2 }).init(model.params, { lr: 1e-3, eps: 1e-3 });
    Object.assign(state.scalars, { lossPlus: 2.5, lossMinus: 2.25 });
    model.params.names.forEach((n, i) => (state.scalars[`sigma/${n}`] = 0.5 + 0.1 * i));
    const got = sigmas(ft, { params: model.params }, state);
    const byHand = model.params.names.map((n, i) => {
      const { mean, variance } = blockStats(model.params.get(n));
      return pertnnForward(ft.nets[0]!, [mean, variance, 2.5, 2.25, 0.5 + 0.1 * i]).sigma;
    });
    expect(got).toEqual(byHand);
    expect(new Set(got).size).toBe(got.length); // one net, but every block its own σ
  });

  test('a layer bank saves one tensor set per group and loads back exactly', () => {
    const model = loadModel(fixtureDir('gpt2'));
    const ft = randomFinetuner(model.params, model.config, 3, { sharing: 'layer' });
    expect(ft.nets).toHaveLength(6);
    const dir = tmp();
    saveFinetuner(dir, ft);
    const keys = openSafetensors(path.join(dir, 'finetuner.safetensors')).names();
    expect(keys).toHaveLength(6 * 4);
    expect(keys).toEqual(expect.arrayContaining(['transformer.h.0.w1', 'transformer.h.1.b2', 'transformer.wte.weight.w2']));
    const back = loadFinetuner(dir);
    expect(back.manifest).toEqual(JSON.parse(JSON.stringify(ft.manifest)));
    expect(back.manifest.sharing).toBe('layer');
    expect(back.manifest.blocks.find((b) => b.name === 'transformer.h.1.attn.c_attn.bias')!.group).toBe('transformer.h.1');
    back.nets.forEach((n, i) => expect(n).toEqual(ft.nets[i]));
    const state = zoFt(back, { batchSize: 2 }).init(model.params, { lr: 1e-3, eps: 1e-3 });
    expect(sigmas(back, { params: model.params }, state)).toEqual(sigmas(ft, { params: model.params }, state));
  });

  test('a finetuner.json from before the switches (no sharing, group or featureTransform) loads as per block and raw', () => {
    const model = loadModel(fixtureDir('llama'));
    const ft = randomFinetuner(model.params, model.config, 8);
    const dir = tmp();
    saveFinetuner(dir, ft);
    const file = path.join(dir, 'finetuner.json');
    const old = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete old.sharing;
    delete old.featureTransform;
    for (const b of old.blocks) delete b.group;
    fs.writeFileSync(file, JSON.stringify(old));
    // The tensors of such a file were keyed `<block>.<tensor>`: the 'block' sharing's keys.
    expect(openSafetensors(path.join(dir, 'finetuner.safetensors')).names()).toContain('model.layers.1.mlp.up_proj.weight.w1');
    const back = loadFinetuner(dir);
    expect(back.manifest.sharing).toBe('block');
    expect(back.manifest.featureTransform).toEqual(RAW_FEATURES);
    expect(back.manifest.blocks.every((b) => b.group === b.name)).toBe(true);
    expect(back.nets).toHaveLength(model.params.names.length);
    back.nets.forEach((n, i) => expect(n).toEqual(ft.nets[i]));
    const x = features(blockStats(model.params.get('lm_head.weight')), 0, 0, 1, RAW_FEATURES);
    const state = zoFt(back, { batchSize: 2 }).init(model.params, { lr: 1e-3, eps: 1e-3 });
    expect(sigmas(back, { params: model.params }, state).at(-1)).toBe(pertnnForward(ft.nets.at(-1)!, x).sigma);
  });

  test('an unknown sharing in finetuner.json is one line naming the file', () => {
    const model = loadModel(fixtureDir('llama'));
    const dir = tmp();
    saveFinetuner(dir, randomFinetuner(model.params, model.config, 0));
    const file = path.join(dir, 'finetuner.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), sharing: 'row' }));
    expect(() => loadFinetuner(dir)).toThrow(`${file}: sharing "row", expected one of block, layer, global`);
  });
});
