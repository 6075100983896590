import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParamStore } from '../core/params.js';
import { checkpointDir, loadCheckpoint, saveCheckpoint, truncateMetrics } from './checkpoint.js';

const specs = [
  { name: 'a', shape: [3] },
  { name: 'b', shape: [2, 2] },
];
const meta = (step: number) => ({ step, optimizer: 'mezo', hyperparameters: {}, blocks: specs, extra: {} });
const state = () => ({ slots: new Map<string, Float32Array>(), scalars: {} });

describe('checkpoints', () => {
  test('a save that dies midway leaves the previous checkpoint whole and pointed to, even at the same step', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-ck-'));
    const good = new ParamStore(specs, (s) => Float32Array.from({ length: s.shape.reduce((x, y) => x * y) }, (_, i) => i + 1));
    saveCheckpoint(dir, good, state(), meta(6));
    const live = checkpointDir(dir);
    // The same step again (a resume re-saving its final checkpoint), dying after the first tensor.
    const dying = new ParamStore(specs);
    const get = dying.get.bind(dying);
    let calls = 0;
    dying.get = (name: string) => {
      if (++calls > 1) throw new Error('killed');
      return get(name);
    };
    expect(() => saveCheckpoint(dir, dying, state(), meta(6))).toThrow('killed');
    expect(checkpointDir(dir)).toBe(live);
    const back = new ParamStore(specs);
    loadCheckpoint(dir, back, 'mezo');
    expect([...back.get('b')]).toEqual([1, 2, 3, 4]);
    // The next good save replaces it, and removes both the old one and the half-written one.
    saveCheckpoint(dir, good, state(), meta(8));
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint.json', path.basename(checkpointDir(dir))].sort());
  });

  test('truncateMetrics keeps the steps before the checkpoint and drops a torn last line', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-metrics-')), 'metrics.jsonl');
    fs.writeFileSync(file, '{"step":0}\n{"step":1}\n{"step":2}\n{"step":3,"lo');
    truncateMetrics(file, 2);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"step":0}\n{"step":1}\n');
    fs.writeFileSync(file, '{"step":0}\n{"st\n{"step":2}\n');
    expect(() => truncateMetrics(file, 2)).toThrow(`${file}: line 2 is not valid JSON`);
  });
});
