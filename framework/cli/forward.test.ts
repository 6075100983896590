import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lmBatch } from '../engine/batch.js';
import { OrtExecutor } from '../engine/ort.js';
import { fixtureDir, fixturesDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { expectOneLineError, zo } from './testing.js';

const TEXT = path.join(fixturesDir(), 'text', 'moby-dick-opening.txt');

describe('zo forward --text-file', () => {
  test('the loss of B consecutive windows of S tokens from the start, as OrtExecutor.forward scores them', async () => {
    const [B, S] = [3, 24];
    const r = await zo(
      'forward',
      '--model',
      fixtureDir('llama'),
      '--text-file',
      TEXT,
      '--batch-size',
      `${B}`,
      '--seq-len',
      `${S}`,
      '--threads',
      '1',
      '--json',
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);

    // The same windows, built here from the tokenizer and scored by the graph's own mean.
    const model = loadModel(fixtureDir('llama'));
    const tokens = model.tokenizer.encode(fs.readFileSync(TEXT, 'utf8'), { addSpecialTokens: false });
    const windows = Array.from({ length: B }, (_, b) => tokens.slice(b * S, (b + 1) * S));
    const exec = new OrtExecutor(model, { threads: 1 });
    const expected = (await exec.forward(lmBatch(windows))).loss;
    await exec.dispose();

    expect(out.loss).toBeCloseTo(expected, 5);
    expect(out).toMatchObject({ batch: B, seqLen: S, tokens: tokens.length, predictions: B * (S - 1) });
    expect(out.peakRssMb).toBeGreaterThan(0);
  });

  test('the text output names the batch and the loss', async () => {
    const r = await zo(
      'forward',
      '--model',
      fixtureDir('llama'),
      '--text-file',
      TEXT,
      '--batch-size',
      '2',
      '--seq-len',
      '8',
      '--threads',
      '1',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 consecutive windows × 8 tokens');
    expect(r.stdout).toMatch(/loss {6}\d+\.\d{4} \(mean over 14 next-token predictions\)/);
  });

  describe('bad input: one clear line, exit 2', () => {
    const model = ['--model', fixtureDir('llama')];
    test('a missing file', async () => {
      const missing = path.join(os.tmpdir(), 'zo-no-such-text.txt');
      expectOneLineError(await zo('forward', ...model, '--text-file', missing), missing, 'cannot read');
    });
    test('a text too short for the batch names its tokens and the need', async () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-short-')), 'short.txt');
      fs.writeFileSync(file, 'Call me Ishmael. Some years ago.');
      const n = loadModel(fixtureDir('llama')).tokenizer.encode(fs.readFileSync(file, 'utf8'), { addSpecialTokens: false }).length;
      expectOneLineError(
        await zo('forward', ...model, '--text-file', file, '--batch-size', '4', '--seq-len', '16'),
        file,
        `${n} tokens`,
        'needs 64',
      );
    });
    test.each([
      [['--batch-size', '0'], '--batch-size 0'],
      [['--batch-size', '2.5'], '--batch-size 2.5'],
      [['--seq-len', 'abc'], '--seq-len'],
      [['--seq-len', '1'], '--seq-len 1'],
    ])('%j', async (flags, fragment) => {
      expectOneLineError(await zo('forward', ...model, '--text-file', TEXT, ...flags), fragment);
    });
    test('a --seq-len beyond max_position_embeddings', async () => {
      const positions = JSON.parse(fs.readFileSync(path.join(fixtureDir('llama'), 'config.json'), 'utf8')).max_position_embeddings;
      expectOneLineError(
        await zo('forward', ...model, '--text-file', TEXT, '--seq-len', `${positions + 1}`),
        `--seq-len ${positions + 1}`,
        `${positions} positions`,
      );
    });
    test('--text and --text-file together, or neither', async () => {
      expectOneLineError(
        await zo('forward', ...model, '--text', 'hi there', '--text-file', TEXT),
        'text',
        'text-file',
        'mutually exclusive',
      );
      expectOneLineError(await zo('forward', ...model), '--text', '--text-file');
    });
    test('--batch-size without --text-file', async () => {
      expectOneLineError(await zo('forward', ...model, '--text', 'hi there', '--batch-size', '2'), '--batch-size', '--text-file');
    });
  });
});
