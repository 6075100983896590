import { int64 } from './ort-session.js';

describe('int64', () => {
  test('widens every int32, negatives and both extremes included, as BigInt does', () => {
    const values = Int32Array.of(
      0,
      1,
      -1,
      7,
      -5,
      50_256,
      2 ** 31 - 1,
      -(2 ** 31),
      ...Array.from({ length: 997 }, (_, i) => ((i * 7919) % 65_536) - 30_000),
    );
    const t = int64(values);
    expect(t.type).toBe('int64');
    expect(t.dims).toEqual([values.length]);
    expect([...(t.data as BigInt64Array)]).toEqual(Array.from(values, (v) => BigInt(v)));
  });

  test('an empty array gives an empty tensor', () => {
    expect(int64(new Int32Array(0)).data).toHaveLength(0);
  });
});
