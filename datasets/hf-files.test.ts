import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { ZoError } from '../framework/core/errors.js';
import { findSplitFile, findSplitFiles, readRows, readSplit } from './hf-files.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'zo-hf-files-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh folder under the temp root. */
function dir(name: string): string {
  const d = path.join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

function write(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** An SST-2-shaped parquet file as the hub has it: label INT64, idx INT32, plus a nested struct. */
function sst2Parquet(file: string, sentences: string[], first = 0): string {
  mkdirSync(path.dirname(file), { recursive: true });
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'sentence', data: sentences, type: 'STRING' },
      { name: 'label', data: sentences.map((_, i) => BigInt((first + i) % 2)), type: 'INT64' },
      { name: 'idx', data: sentences.map((_, i) => first + i), type: 'INT32' },
      { name: 'answers', data: sentences.map((s) => ({ text: [s, s.toUpperCase()], answer_start: [0, 1] })) },
    ],
  });
  return file;
}

describe('readRows', () => {
  test('parquet: rows with their columns; INT64 comes back as a number, structs as objects', async () => {
    const file = sst2Parquet(path.join(dir('pq'), 'train.parquet'), ['good film ', 'bad film ']);
    expect(await readRows(file)).toEqual([
      { sentence: 'good film ', label: 0, idx: 0, answers: { text: ['good film ', 'GOOD FILM '], answer_start: [0, 1] } },
      { sentence: 'bad film ', label: 1, idx: 1, answers: { text: ['bad film ', 'BAD FILM '], answer_start: [0, 1] } },
    ]);
  });

  test('JSONL: one object a line, blank lines skipped', async () => {
    const file = write(path.join(dir('jl'), 'train.jsonl'), '{"a": 1}\n\n{"a": 2, "b": {"c": [1]}}\n');
    expect(await readRows(file)).toEqual([{ a: 1 }, { a: 2, b: { c: [1] } }]);
  });

  test('JSON: an array, {"data": [...]}, or JSON Lines under a .json name (Dataset.to_json)', async () => {
    const d = dir('js');
    expect(await readRows(write(path.join(d, 'a.json'), '[{"a": 1}, {"a": 2}]'))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(await readRows(write(path.join(d, 'b.json'), '{"version": "x", "data": [{"a": 3}]}'))).toEqual([{ a: 3 }]);
    expect(await readRows(write(path.join(d, 'c.json'), '{"a": 4}\n{"a": 5}\n'))).toEqual([{ a: 4 }, { a: 5 }]);
  });

  describe('errors are one-line ZoErrors naming the file', () => {
    test('missing file says to download it there', async () => {
      const file = path.join(root, 'nowhere', 'train.jsonl');
      await expect(readRows(file)).rejects.toThrow(ZoError);
      await expect(readRows(file)).rejects.toThrow(`${file}: no such file; download the split from the Hugging Face hub and save it there`);
    });

    test('empty file', async () => {
      const file = write(path.join(dir('empty'), 'train.jsonl'), '');
      await expect(readRows(file)).rejects.toThrow(`${file}: empty file`);
      const blank = write(path.join(dir('empty'), 'blank.jsonl'), '\n\n');
      await expect(readRows(blank)).rejects.toThrow(`${blank}: no rows`);
    });

    test('malformed JSONL names the line', async () => {
      const file = write(path.join(dir('bad'), 'train.jsonl'), '{"a": 1}\n{"a": oops}\n');
      const err = await readRows(file).catch((e: Error) => e);
      expect(err).toBeInstanceOf(ZoError);
      expect((err as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 2: invalid JSON \\(.+\\)$`));
      expect((err as Error).message).not.toContain('\n');
      const arr = write(path.join(dir('bad'), 'arr.jsonl'), '[1, 2]\n');
      await expect(readRows(arr)).rejects.toThrow(`${arr}: line 1: expected a JSON object, got an array`);
    });

    test('unreadable parquet', async () => {
      const file = write(path.join(dir('bad'), 'train.parquet'), 'this is not parquet at all');
      const err = await readRows(file).catch((e: Error) => e);
      expect(err).toBeInstanceOf(ZoError);
      expect((err as Error).message).toMatch(/train\.parquet: unreadable parquet \(.+\); download it again, or save the split as JSONL$/);
      expect((err as Error).message).not.toContain('\n');
    });

    test('unsupported extension', async () => {
      const file = write(path.join(dir('bad'), 'train.csv'), 'a,b\n');
      await expect(readRows(file)).rejects.toThrow(`${file}: unsupported file type ".csv" (use .parquet, .jsonl or .json)`);
    });
  });
});

describe('findSplitFile / findSplitFiles / readSplit', () => {
  test('plain names in <dataDir>/<task>/', () => {
    const data = dir('plain');
    const train = write(path.join(data, 'rte', 'train.jsonl'), '{"a": 1}\n');
    const valid = sst2Parquet(path.join(data, 'rte', 'validation.parquet'), ['x']);
    expect(findSplitFile(data, 'rte', 'train')).toBe(train);
    expect(findSplitFile(data, 'rte', 'validation')).toBe(valid);
  });

  test("the hub's own names, one folder down, as huggingface-cli --local-dir leaves them", () => {
    const data = dir('hub');
    const f = sst2Parquet(path.join(data, 'sst2', 'sst2', 'train-00000-of-00001.parquet'), ['x']);
    sst2Parquet(path.join(data, 'sst2', 'sst2', 'test-00000-of-00001.parquet'), ['y']);
    write(path.join(data, 'sst2', 'README.md'), '# glue\n');
    expect(findSplitFile(data, 'sst2', 'train')).toBe(f);
    // Older hub repos add a hash to shard names.
    const g = sst2Parquet(path.join(data, 'old', 'validation-00000-of-00001-5a6b7c.parquet'), ['x']);
    expect(findSplitFile(data, 'old', 'validation')).toBe(g);
  });

  test('shards are read in shard order; refs/convert/parquet layout too', async () => {
    const data = dir('shards');
    sst2Parquet(path.join(data, 'record', 'train-00001-of-00002.parquet'), ['c', 'd'], 2);
    sst2Parquet(path.join(data, 'record', 'train-00000-of-00002.parquet'), ['a', 'b'], 0);
    expect(findSplitFiles(data, 'record', 'train').map((f) => path.basename(f))).toEqual([
      'train-00000-of-00002.parquet',
      'train-00001-of-00002.parquet',
    ]);
    expect((await readSplit(data, 'record', 'train')).map((r) => r.idx)).toEqual([0, 1, 2, 3]);
    expect(() => findSplitFile(data, 'record', 'train')).toThrow('record: the train split is in 2 shards');

    sst2Parquet(path.join(data, 'conv', 'default', 'validation', '0010.parquet'), ['z'], 9);
    sst2Parquet(path.join(data, 'conv', 'default', 'validation', '2.parquet'), ['y'], 5);
    expect((await readSplit(data, 'conv', 'validation')).map((r) => r.idx)).toEqual([5, 9]);
  });

  test('a missing shard is an error', () => {
    const data = dir('gap');
    sst2Parquet(path.join(data, 'record', 'train-00000-of-00003.parquet'), ['a']);
    sst2Parquet(path.join(data, 'record', 'train-00002-of-00003.parquet'), ['c']);
    expect(() => findSplitFiles(data, 'record', 'train')).toThrow(/incomplete or mixed train shards/);
  });

  test('a full super_glue download: preferDir picks wsc.fixed over wsc', () => {
    const data = dir('full');
    sst2Parquet(path.join(data, 'wsc', 'wsc', 'train-00000-of-00001.parquet'), ['a']);
    const fixed = sst2Parquet(path.join(data, 'wsc', 'wsc.fixed', 'train-00000-of-00001.parquet'), ['a']);
    expect(() => findSplitFile(data, 'wsc', 'train')).toThrow('train files in several folders (wsc, wsc.fixed); keep one');
    expect(findSplitFile(data, 'wsc', 'train', { preferDir: 'wsc.fixed' })).toBe(fixed);
  });

  test('two formats of one split side by side is an error, not a silent pick', () => {
    const data = dir('both');
    write(path.join(data, 'cb', 'train.jsonl'), '{"a": 1}\n');
    sst2Parquet(path.join(data, 'cb', 'train.parquet'), ['a']);
    expect(() => findSplitFile(data, 'cb', 'train')).toThrow('several train files (train.parquet, train.jsonl); keep one');
  });

  test('nothing there: one line saying what was looked for, where, and the hint', () => {
    const data = dir('none');
    mkdirSync(path.join(data, 'copa'));
    const e1 = (() => {
      try {
        findSplitFile(data, 'copa', 'validation', { hint: 'get aps/super_glue copa' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(e1).toBeInstanceOf(ZoError);
    expect(e1!.message).toBe(
      `copa: no validation file in ${path.join(data, 'copa')} (looked for validation.parquet, validation.jsonl, validation.json, validation-00000-of-0000N.parquet or validation/0000.parquet, there or one folder down); get aps/super_glue copa`,
    );
    expect(() => findSplitFile(data, 'boolq', 'train')).toThrow(`boolq: no folder ${path.join(data, 'boolq')} (looked for train.parquet`);
  });
});
