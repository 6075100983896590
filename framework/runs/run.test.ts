import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtureDir } from '../models/fixtures.js';
import { packageRoot } from '../core/paths.js';
import { resumeRun, startRun, type RunSpec } from './run.js';

describe('the run API', () => {
  test('zo run records the version, resumes it, and refuses a table run from before it', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-noise-')), 'run');
    const spec: RunSpec = {
      model: fixtureDir('llama'),
      textFile: path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt'),
      trainSetSeed: 0,
      evalEvery: 0,
      maxLen: 64,
      optimizer: 'mezo',
      hyperparameters: { lr: 1e-3, q: 2 },
      steps: 2,
      batchSize: 2,
      seqLen: 16,
      seed: 0,
      noise: 'table',
      schedule: 'constant',
      executor: 'ort',
      saveEvery: 1,
      logEvery: 1,
    };
    await startRun(out, spec);
    const specFile = path.join(out, 'spec.json');
    const written = JSON.parse(fs.readFileSync(specFile, 'utf8'));
    expect(written.noiseVersion).toBe(2);
    await resumeRun(out, { steps: 3 }); // q = 2 probes of table noise, resumed
    delete written.noiseVersion;
    fs.writeFileSync(specFile, JSON.stringify(written));
    await expect(resumeRun(out, { steps: 4 })).rejects.toThrow(
      /table noise version 1, this zo draws version 2: it cannot be resumed bit-exactly/,
    );
    fs.rmSync(path.dirname(out), { recursive: true });
  });
});
