import { loadModel } from '../models/load.js';
import { ZOO, zooModelDir } from '../models/zoo.js';
import { configSha256, checkFinetunerFits, loadFinetuner, randomFinetuner } from './finetuner.js';

// Every zoo model ships its own bank, which zo-ft uses by default: it must load, fit its model, say
// what it was meta-trained on, and be more than a random bank (meta-training moved it).
describe.each(ZOO)('the finetuner shipped with %s', (name) => {
  const dir = zooModelDir(name);

  test('loads, fits the model block for block, and was made for its config', () => {
    const model = loadModel(dir);
    const ft = loadFinetuner(dir);
    expect(() => checkFinetunerFits(ft, model.params, dir)).not.toThrow();
    expect(ft.manifest.baseModel).toEqual({ modelType: model.config.modelType, configSha256: configSha256(model.config) });
    expect(ft.manifest.training).toMatchObject({ tasks: ['tiny-copa'], metaGradient: 'backprop', trajectory: 'fo', alpha: 1e-4 });
    expect(Number.isFinite(ft.manifest.finalMetaLoss)).toBe(true);
  });

  test('is meta-trained: its nets differ from the random bank of the same seed', () => {
    const model = loadModel(dir);
    const ft = loadFinetuner(dir);
    const init = randomFinetuner(model.params, model.config, ft.manifest.training.seed as number);
    expect(ft.nets.some((net, i) => net.w2.some((v, k) => v !== init.nets[i]!.w2[k]))).toBe(true);
  });
});
