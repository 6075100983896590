import fs from 'node:fs';
import path from 'node:path';
import { OrtExecutor } from '../engine/ort.js';
import { loadModel } from '../models/load.js';
import { packageRoot } from '../core/paths.js';
import { encodeDocs, loadCorpus } from './corpus.js';
import { evenWindows, windowsLoss } from './trainer.js';

/** The committed tiny zoo (issue: four pretrained base models mirroring the paper's). */
const ZOO = ['tiny-llama-s', 'tiny-llama-m', 'tiny-qwen2', 'tiny-opt'];
const dir = (name: string) => path.join(packageRoot(), 'models', name);

describe('the tiny model zoo', () => {
  const corpus = loadCorpus();

  test('models/ holds the four models, under 40 MB of weights in all', () => {
    let bytes = 0;
    for (const name of ZOO) bytes += fs.statSync(path.join(dir(name), 'model.safetensors')).size;
    expect(bytes).toBeLessThan(40 << 20);
  });

  test.each(ZOO)(
    '%s loads as a Hugging Face checkpoint; its card numbers are real: validation loss re-measured here, well below the unigram entropy',
    async (name) => {
      const model = loadModel(dir(name)); // exactly the path a real checkpoint takes
      const t = JSON.parse(fs.readFileSync(path.join(dir(name), 'training.json'), 'utf8'));
      expect(model.params.size).toBe(t.parameters);
      // Re-measure the validation loss with the ort executor (training measured it with tfjs).
      const windows = evenWindows(encodeDocs(model.tokenizer, corpus.val), t.seqLen, 128);
      const exec = new OrtExecutor(model);
      const val = await windowsLoss(exec, windows, 32);
      await exec.dispose();
      expect(Math.abs(val - t.finalValLoss)).toBeLessThan(1e-3);
      expect(val).toBeLessThan(t.unigramEntropy - 0.5);
      const card = fs.readFileSync(path.join(dir(name), 'README.md'), 'utf8');
      expect(card).toContain(t.finalValLoss.toFixed(3));
      expect(card).toContain(t.unigramEntropy.toFixed(3));
    },
  );
});
