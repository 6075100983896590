import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Problem } from '../core/problem.js';
import { readReplay, ReplayRecorder, type ReplayHeader } from './replay.js';

const header = (steps: number): ReplayHeader => ({
  model: '/m',
  optimizer: 'mezo',
  hyperparameters: { lr: 1e-3 },
  seed: 0,
  steps,
  batchSize: 4,
  noise: 'ziggurat',
  schedule: 'constant',
});

/** A problem whose step s returns the losses `values[s]` in turn. */
const scripted = (values: number[][]): Problem =>
  ({
    params: undefined,
    at: (step: number) => {
      let i = 0;
      return { loss: async () => values[step]![i++]!, lossAndGrads: async () => ({ loss: 0, grads: new Map() }) };
    },
  }) as unknown as Problem;

async function record(file: string, h: ReplayHeader, values: number[][], from = 0): Promise<void> {
  const r = new ReplayRecorder(file, h, from);
  const p = r.wrap(scripted(values));
  for (let s = from; s < values.length; s++) {
    const o = p.at(s);
    for (let i = 0; i < values[s]!.length; i++) await o.loss();
    r.endStep();
  }
  r.close();
}

describe('replay.bin', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zo-replay-unit-')), 'replay.bin');

  test('every loss comes back exactly: float32 values (NaN too) in 4 bytes, any other double in 8', async () => {
    const values = [
      [Math.fround(2.5), Math.fround(0.1)],
      [1 / 3, 2],
      [NaN],
      [Math.fround(7), Math.fround(1), Math.fround(3), Math.fround(4), Math.fround(5)],
    ];
    await record(file, header(4), values);
    const r = readReplay(file);
    expect(r.header).toEqual(header(4));
    expect(r.steps).toEqual(values);
    const headerBytes = 'ZOREPLAY1\n'.length + 4 + Buffer.byteLength(JSON.stringify(header(4)));
    expect(r.bytes).toBe(headerBytes + (1 + 2 * 4) + (1 + 2 * 8) + (1 + 4) + (1 + 5 * 4));
  });

  test('a resume keeps exactly the steps before its checkpoint, under the new header, and appends after them', async () => {
    const first = [[1], [2], [3], [4], [5]].map((s) => s.map(Math.fround));
    await record(file, header(5), first);
    // Resumed at step 3 and extended to 6 steps: steps 3.. are run again (here with other values).
    const again = [...first.slice(0, 3), [30], [40], [50]].map((s) => s.map(Math.fround));
    await record(file, header(6), again, 3);
    const r = readReplay(file);
    expect(r.header.steps).toBe(6);
    expect(r.steps).toEqual(again);
  });

  test('a torn last record (a kill mid-write) is left out', async () => {
    await record(file, header(2), [[Math.fround(1)], [Math.fround(2)]]);
    fs.truncateSync(file, fs.statSync(file).size - 2);
    expect(readReplay(file).steps).toEqual([[1]]);
  });
});
