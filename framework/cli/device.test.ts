/** --device cuda where onnxruntime-node has no CUDA provider (zo's default install): one line, nothing written. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cudaProviderLibrary } from '../engine/ort.js';
import { fixtureDir } from '../models/fixtures.js';
import { expectOneLineError, writeCustomTask, zo } from './testing.js';

const missing = cudaProviderLibrary() === undefined;

(missing ? describe : describe.skip)('--device cuda without the CUDA provider', () => {
  test.each([
    ['run', ['run', '--model', fixtureDir('llama'), '--task-file', writeCustomTask(), '--steps', '2']],
    ['eval', ['eval', '--model', fixtureDir('llama'), '--task-file', writeCustomTask()]],
    ['forward', ['forward', '--model', fixtureDir('llama'), '--text', 'hi']],
    ['bench', ['bench', '--suite', 'forward']],
    ['grid', ['grid', path.join('experiments', 'regression.yaml')]],
    ['worker --grid', ['worker', '--grid', path.join('experiments', 'regression.yaml'), '--index', '0']],
  ])('zo %s refuses it in one line that says how to install it, and writes nothing', async (_, args) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-device-')), 'out');
    const r = await zo(
      ...args,
      '--device',
      'cuda',
      ...(args[0] === 'eval' || args[0] === 'forward' || args[0] === 'bench' ? [] : ['--out', out]),
    );
    expectOneLineError(r, '--device cuda', 'no CUDA execution provider', 'ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(fs.existsSync(out)).toBe(false);
  });
});
