import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ZoError } from '../core/errors.js';
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  openCheckpoint,
  openSafetensors,
  writeSafetensors,
} from './safetensors.js';

let root: string;
let n = 0;
/** A fresh sub-folder per test so tests never see each other's files. */
function freshDir(): string {
  const d = path.join(root, `t${n++}`);
  fs.mkdirSync(d);
  return d;
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-safetensors-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Hand-builds a safetensors file: u64 LE header length, header text as given, then data bytes. */
function craft(file: string, header: string, data: Uint8Array = new Uint8Array(0)): void {
  const h = Buffer.from(header, 'utf8');
  const buf = new Uint8Array(8 + h.length + data.length);
  new DataView(buf.buffer).setBigUint64(0, BigInt(h.length), true);
  buf.set(h, 8);
  buf.set(data, 8 + h.length);
  fs.writeFileSync(file, buf);
}

/** Runs fn and returns the ZoError it throws; fails the test otherwise. */
function zoError(fn: () => unknown): ZoError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ZoError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return err as ZoError;
  }
  throw new Error('expected a ZoError, nothing was thrown');
}

function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('scalar conversions', () => {
  test('f16ToF32 on hand-computed bit patterns', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x2e66)).toBe(0.0999755859375);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x7c01)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(Object.is(f16ToF32(0x0000), 0)).toBe(true);
  });

  test('bf16ToF32 on hand-computed bit patterns', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0x4049)).toBe(3.140625);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // subnormal: fp32 bits 0x00010000
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
  });

  test('f32ToF16Bits rounds to nearest, ties to even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(0.1)).toBe(0x2e66);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 and 0x3c01: even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02: even
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below the tie with 65536
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie with "65536": even is infinity
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    // subnormals
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24: even
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps: even
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie rounds up into the smallest normal
    expect(f32ToF16Bits(1e-10)).toBe(0x0000);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f32ToF16Bits(NaN)).toBe(0x7e00);
  });

  test('f32ToBf16Bits rounds to nearest, ties to even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(Math.PI)).toBe(0x4049); // fp32 pi is 0x40490fdb
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie: even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie: even
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // max fp32 rounds up to infinity
    expect(f32ToBf16Bits(2 ** -133)).toBe(0x0001);
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
    expect(f32ToBf16Bits(NaN)).toBe(0x7fc0);
  });

  test('every non-NaN half and bfloat16 pattern survives decode then encode', () => {
    for (let b = 0; b < 65536; b++) {
      if ((b & 0x7c00) === 0x7c00 && b & 0x3ff) continue; // NaN payloads are not preserved
      if (f32ToF16Bits(f16ToF32(b)) !== b) throw new Error(`f16 0x${b.toString(16)}`);
    }
    for (let b = 0; b < 65536; b++) {
      if ((b & 0x7f80) === 0x7f80 && b & 0x7f) continue;
      if (f32ToBf16Bits(bf16ToF32(b)) !== b) throw new Error(`bf16 0x${b.toString(16)}`);
    }
  });

  test('f32ToF16Bits agrees with a brute-force nearest-even search on random inputs', () => {
    // Independent reference: sorted finite non-negative halves, nearest by distance, ties to even bits.
    const values: number[] = [];
    for (let b = 0; b <= 0x7bff; b++) values.push(f16ToF32(b));
    const ref = (x: number): number => {
      const ax = Math.abs(x);
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      if (ax >= 65520) return sign | 0x7c00;
      let lo = 0;
      let hi = values.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (values[mid] <= ax) lo = mid;
        else hi = mid;
      }
      const dlo = ax - values[lo];
      const dhi = values[hi] - ax;
      const pick = dlo < dhi ? lo : dhi < dlo ? hi : lo % 2 === 0 ? lo : hi;
      return sign | pick;
    };
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const mismatches: string[] = [];
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rand() - 0.5) * 2 ** (rand() * 44 - 28));
      if (f32ToF16Bits(x) !== ref(x)) mismatches.push(`${x}: got ${f32ToF16Bits(x)}, want ${ref(x)}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

describe('writeSafetensors / openSafetensors', () => {
  test('F32 round trip is bit-exact and keeps metadata, order and shapes', () => {
    const dir = freshDir();
    const file = path.join(dir, 'a.safetensors');
    const w = new Float32Array([1, -0, 3.5, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, Math.fround(0.1)]);
    const b = new Float32Array([7]);
    const c = new Float32Array([]);
    writeSafetensors(
      file,
      [
        { name: 'z.weight', shape: [3, 3], data: w },
        { name: '10', shape: [], data: b }, // integer-like name: must keep its place
        { name: 'empty', shape: [0, 4], data: c },
      ],
      { format: 'pt', note: 'hello "zo"' },
    );
    const ck = openSafetensors(file);
    expect(ck.files).toEqual([file]);
    expect(ck.names()).toEqual(['z.weight', '10', 'empty']);
    expect(ck.info('z.weight')).toEqual({ name: 'z.weight', dtype: 'F32', shape: [3, 3], file });
    expect(ck.info('10')).toEqual({ name: '10', dtype: 'F32', shape: [], file });
    expect(ck.info('nope')).toBeUndefined();
    expect(bitsOf(ck.readF32('z.weight'))).toEqual(bitsOf(w));
    expect(Array.from(ck.readF32('10'))).toEqual([7]);
    expect(ck.readF32('empty').length).toBe(0);
    expect(ck.metadata()).toEqual({ format: 'pt', note: 'hello "zo"' });
  });

  test('header is space-padded so the data starts 8-byte aligned', () => {
    const dir = freshDir();
    for (let len = 1; len <= 9; len++) {
      const file = path.join(dir, `p${len}.safetensors`);
      writeSafetensors(file, [{ name: 'x'.repeat(len), shape: [1], data: new Float32Array([len]) }]);
      const bytes = fs.readFileSync(file);
      const hlen = Number(bytes.readBigUInt64LE(0));
      expect((8 + hlen) % 8).toBe(0);
      expect(bytes.length).toBe(8 + hlen + 4);
      const text = bytes.subarray(8, 8 + hlen).toString('utf8');
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
      expect(bytes.readFloatLE(8 + hlen)).toBe(len);
    }
  });

  test('F16 and BF16 writes store the rounded bit patterns', () => {
    const dir = freshDir();
    const file = path.join(dir, 'h.safetensors');
    const data = new Float32Array([1, -2, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -24]);
    const bdata = new Float32Array([1, Math.PI, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
    writeSafetensors(file, [
      { name: 'h', shape: [2, 3], data, dtype: 'F16' },
      { name: 'b', shape: [4], data: bdata, dtype: 'BF16' },
    ]);
    const bytes = fs.readFileSync(file);
    const start = 8 + Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, start).toString('utf8'));
    expect(header.h).toEqual({ dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] });
    expect(header.b).toEqual({ dtype: 'BF16', shape: [4], data_offsets: [12, 20] });
    const u16 = (i: number) => bytes.readUInt16LE(start + 2 * i);
    expect([0, 1, 2, 3, 4, 5].map(u16)).toEqual([0x3c00, 0xc000, 0x3c00, 0x3c02, 0x7c00, 0x0001]);
    expect([6, 7, 8, 9].map(u16)).toEqual([0x3f80, 0x4049, 0x3f80, 0x3f82]);

    const ck = openSafetensors(file);
    expect(Array.from(ck.readF32('h'))).toEqual([1, -2, 1, 1 + 2 ** -9, Infinity, 2 ** -24]);
    expect(Array.from(ck.readF32('b'))).toEqual([1, 3.140625, 1, 1 + 2 ** -6]);
  });

  test('readF32 fills a given output buffer in place and rejects a wrong length', () => {
    const dir = freshDir();
    const file = path.join(dir, 'o.safetensors');
    writeSafetensors(file, [
      { name: 'f', shape: [3], data: new Float32Array([1, 2, 3]) },
      { name: 'h', shape: [3], data: new Float32Array([4, 5, 6]), dtype: 'F16' },
    ]);
    const ck = openSafetensors(file);
    const out = new Float32Array(3);
    expect(ck.readF32('f', out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    // A view into a larger buffer at an offset must be filled exactly there.
    const big = new Float32Array(5);
    const view = big.subarray(1, 4);
    expect(ck.readF32('h', view)).toBe(view);
    expect(Array.from(big)).toEqual([0, 4, 5, 6, 0]);
    const e = zoError(() => ck.readF32('f', new Float32Array(2)));
    expect(e.message).toContain(file);
    expect(zoError(() => ck.readF32('missing')).message).toContain(file);
  });

  test('tensors larger than one read chunk are read correctly', () => {
    const dir = freshDir();
    const file = path.join(dir, 'big.safetensors');
    const count = 5_000_000; // 20 MB as F32, 10 MB as BF16: several 8 MB chunks each
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = (i % 256) - 128; // exact in bf16
    writeSafetensors(file, [
      { name: 'f', shape: [count], data },
      { name: 'b', shape: [count / 1000, 1000], data, dtype: 'BF16' },
    ]);
    const ck = openSafetensors(file);
    const f = ck.readF32('f');
    const b = ck.readF32('b');
    for (const i of [0, 1, 2_097_151, 2_097_152, 4_194_303, 4_194_304, count - 1]) {
      expect(f[i]).toBe((i % 256) - 128);
      expect(b[i]).toBe((i % 256) - 128);
    }
    expect(Buffer.compare(Buffer.from(f.buffer), Buffer.from(data.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(b.buffer), Buffer.from(data.buffer))).toBe(0);
  });

  test('a hand-crafted file (independent of the writer) is read correctly', () => {
    const dir = freshDir();
    const file = path.join(dir, 'crafted.safetensors');
    // Data layout (bytes): F64 [0,16) | F16 [16,22) | BF16 [22,26) | F32 [26,34) | I64 [34,42)
    const data = new Uint8Array(42);
    const dv = new DataView(data.buffer);
    dv.setFloat64(0, 0.5, true);
    dv.setFloat64(8, -1e300, true); // overflows fp32
    dv.setUint16(16, 0x3c00, true); // 1
    dv.setUint16(18, 0x0001, true); // 2^-24
    dv.setUint16(20, 0x7c00, true); // inf
    dv.setUint16(22, 0x4049, true); // 3.140625
    dv.setUint16(24, 0xbf80, true); // -1
    dv.setFloat32(26, 1.25, true); // unaligned on purpose
    dv.setFloat32(30, -3, true);
    dv.setBigInt64(34, 42n, true);
    // Keys deliberately not in data order; no padding; metadata last.
    const header = JSON.stringify({
      f32: { dtype: 'F32', shape: [2], data_offsets: [26, 34] },
      bf: { dtype: 'BF16', shape: [1, 2], data_offsets: [22, 26] },
      ids: { dtype: 'I64', shape: [1], data_offsets: [34, 42] },
      half: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
      dbl: { dtype: 'F64', shape: [2, 1], data_offsets: [0, 16] },
      __metadata__: { format: 'pt' },
    });
    craft(file, header, data);
    const ck = openSafetensors(file);
    expect(ck.names()).toEqual(['dbl', 'half', 'bf', 'f32', 'ids']);
    expect(ck.info('ids')).toEqual({ name: 'ids', dtype: 'I64', shape: [1], file });
    expect(Array.from(ck.readF32('dbl'))).toEqual([0.5, -Infinity]);
    expect(Array.from(ck.readF32('half'))).toEqual([1, 2 ** -24, Infinity]);
    expect(Array.from(ck.readF32('bf'))).toEqual([3.140625, -1]);
    expect(Array.from(ck.readF32('f32'))).toEqual([1.25, -3]);
    expect(ck.metadata()).toEqual({ format: 'pt' });
    const e = zoError(() => ck.readF32('ids'));
    expect(e.message).toContain(file);
    expect(e.message).toContain('I64');
  });

  test('every F16 bit pattern in a file decodes like f16ToF32', () => {
    const dir = freshDir();
    const file = path.join(dir, 'allhalf.safetensors');
    const data = new Uint8Array(65536 * 2);
    const dv = new DataView(data.buffer);
    for (let b = 0; b < 65536; b++) dv.setUint16(2 * b, b, true);
    craft(file, JSON.stringify({ all: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } }), data);
    const got = openSafetensors(file).readF32('all');
    for (let b = 0; b < 65536; b++) {
      const want = f16ToF32(b);
      if (!(Object.is(got[b], want) || (Number.isNaN(got[b]) && Number.isNaN(want)))) throw new Error(`0x${b.toString(16)}`);
    }
    expect(got[0x3c00]).toBe(1);
  });
});

describe('atomic writes', () => {
  test('no temporary file remains and an existing file is replaced', () => {
    const dir = freshDir();
    const file = path.join(dir, 'm.safetensors');
    writeSafetensors(file, [{ name: 'a', shape: [2], data: new Float32Array([1, 2]) }]);
    writeSafetensors(file, [{ name: 'b', shape: [3], data: new Float32Array([4, 5, 6]) }], { v: '2' });
    expect(fs.readdirSync(dir)).toEqual(['m.safetensors']);
    const ck = openSafetensors(file);
    expect(ck.names()).toEqual(['b']);
    expect(Array.from(ck.readF32('b'))).toEqual([4, 5, 6]);
    expect(ck.metadata()).toEqual({ v: '2' });
  });

  test('a failed write leaves the existing file untouched and no temporary file', () => {
    const dir = freshDir();
    const file = path.join(dir, 'm.safetensors');
    writeSafetensors(file, [{ name: 'a', shape: [2], data: new Float32Array([1, 2]) }]);
    const before = fs.readFileSync(file);
    const e = zoError(() => writeSafetensors(file, [{ name: 'a', shape: [3], data: new Float32Array([1, 2]) }]));
    expect(e.message).toContain(file);
    expect(zoError(() =>
      writeSafetensors(file, [
        { name: 'a', shape: [1], data: new Float32Array([1]) },
        { name: 'a', shape: [1], data: new Float32Array([1]) },
      ]),
    ).message).toContain(file);
    expect(fs.readdirSync(dir)).toEqual(['m.safetensors']);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // Target in a missing folder: a ZoError naming the file, nothing left behind.
    const nowhere = path.join(dir, 'no-such-dir', 'x.safetensors');
    expect(zoError(() => writeSafetensors(nowhere, [])).message).toContain(nowhere);
  });
});

describe('openCheckpoint', () => {
  test('a folder with model.safetensors', () => {
    const dir = freshDir();
    writeSafetensors(path.join(dir, 'model.safetensors'), [{ name: 'w', shape: [1], data: new Float32Array([9]) }]);
    const ck = openCheckpoint(dir);
    expect(ck.files).toEqual([path.join(dir, 'model.safetensors')]);
    expect(Array.from(ck.readF32('w'))).toEqual([9]);
  });

  test('a sharded checkpoint merges names and reads each tensor from its shard', () => {
    const dir = freshDir();
    const s1 = 'model-00001-of-00002.safetensors';
    const s2 = 'model-00002-of-00002.safetensors';
    writeSafetensors(path.join(dir, s1), [
      { name: 'embed', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'layer0', shape: [2], data: new Float32Array([5, 6]), dtype: 'BF16' },
    ], { format: 'pt' });
    writeSafetensors(path.join(dir, s2), [
      { name: 'layer1', shape: [3], data: new Float32Array([7, 8, 9]), dtype: 'F16' },
      { name: 'head', shape: [1], data: new Float32Array([10]) },
    ]);
    fs.writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 40 },
        weight_map: { embed: s1, head: s2, layer0: s1, layer1: s2 },
      }),
    );
    const ck = openCheckpoint(dir);
    expect(ck.files).toEqual([path.join(dir, s1), path.join(dir, s2)]);
    expect(ck.names()).toEqual(['embed', 'layer0', 'layer1', 'head']);
    expect(ck.info('head')!.file).toBe(path.join(dir, s2));
    expect(ck.info('layer0')).toEqual({ name: 'layer0', dtype: 'BF16', shape: [2], file: path.join(dir, s1) });
    expect(Array.from(ck.readF32('embed'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(ck.readF32('layer0'))).toEqual([5, 6]);
    expect(Array.from(ck.readF32('layer1'))).toEqual([7, 8, 9]);
    expect(Array.from(ck.readF32('head'))).toEqual([10]);
    expect(ck.metadata()).toEqual({ format: 'pt' });
  });

  test('a folder with neither file', () => {
    const dir = freshDir();
    const e = zoError(() => openCheckpoint(dir));
    expect(e.message).toBe(`${dir}: no model.safetensors or model.safetensors.index.json`);
  });
});

describe('errors name the file and the problem', () => {
  test('missing file', () => {
    const file = path.join(freshDir(), 'absent.safetensors');
    expect(zoError(() => openSafetensors(file)).message).toContain(file);
  });

  test('file shorter than 8 bytes', () => {
    const file = path.join(freshDir(), 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    const e = zoError(() => openSafetensors(file));
    expect(e.message.startsWith(file)).toBe(true);
    expect(e.message).toContain('truncated or corrupt safetensors header');
  });

  test('header length larger than the file', () => {
    const file = path.join(freshDir(), 'trunc.safetensors');
    const buf = Buffer.alloc(20);
    buf.writeBigUInt64LE(1000n, 0);
    fs.writeFileSync(file, buf);
    const e = zoError(() => openSafetensors(file));
    expect(e.message).toBe(`${file}: truncated or corrupt safetensors header: header length 1000 exceeds file size 20`);
    // A huge (u64) length must fail the same way, not try to allocate it.
    buf.writeBigUInt64LE(0xffffffffffffffffn, 0);
    fs.writeFileSync(file, buf);
    expect(zoError(() => openSafetensors(file)).message).toContain('header length 18446744073709551615 exceeds file size 20');
  });

  test('header not valid JSON, or not an object', () => {
    const dir = freshDir();
    const bad = path.join(dir, 'bad.safetensors');
    craft(bad, '{"a": ');
    const e1 = zoError(() => openSafetensors(bad));
    expect(e1.message.startsWith(bad)).toBe(true);
    expect(e1.message).toContain('not valid JSON');
    for (const text of ['[1, 2]', '42', 'null']) {
      craft(bad, text);
      const e = zoError(() => openSafetensors(bad));
      expect(e.message.startsWith(bad)).toBe(true);
      expect(e.message).toContain('not a JSON object');
    }
  });

  test('data_offsets outside the data buffer', () => {
    const file = path.join(freshDir(), 'oob.safetensors');
    craft(file, JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), new Uint8Array(8));
    const e = zoError(() => openSafetensors(file));
    expect(e.message.startsWith(file)).toBe(true);
    expect(e.message).toContain('"w"');
    expect(e.message).toContain('outside the data buffer');
    craft(file, JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }), new Uint8Array(8));
    expect(zoError(() => openSafetensors(file)).message).toContain('outside the data buffer');
    craft(file, JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }), new Uint8Array(8));
    expect(zoError(() => openSafetensors(file)).message).toContain(file);
  });

  test('byte length that disagrees with dtype x shape', () => {
    const file = path.join(freshDir(), 'len.safetensors');
    craft(file, JSON.stringify({ w: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 16] } }), new Uint8Array(16));
    const e = zoError(() => openSafetensors(file));
    expect(e.message.startsWith(file)).toBe(true);
    expect(e.message).toContain('disagrees');
    // Also checked for dtypes we cannot convert.
    craft(file, JSON.stringify({ w: { dtype: 'I64', shape: [3], data_offsets: [0, 16] } }), new Uint8Array(16));
    expect(zoError(() => openSafetensors(file)).message).toContain('disagrees');
  });

  test('unknown or unsupported dtype when reading as fp32', () => {
    const file = path.join(freshDir(), 'dt.safetensors');
    craft(
      file,
      JSON.stringify({
        q: { dtype: 'Q4_K', shape: [3], data_offsets: [0, 5] },
        u: { dtype: 'U8', shape: [3], data_offsets: [5, 8] },
      }),
      new Uint8Array(8),
    );
    const ck = openSafetensors(file); // listing is fine
    expect(ck.names()).toEqual(['q', 'u']);
    for (const name of ['q', 'u']) {
      const e = zoError(() => ck.readF32(name));
      expect(e.message.startsWith(file)).toBe(true);
      expect(e.message).toContain(ck.info(name)!.dtype);
    }
  });

  test('sharded index: invalid JSON, missing weight_map, missing shard', () => {
    const dir = freshDir();
    const index = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(index, '{ nope');
    let e = zoError(() => openCheckpoint(dir));
    expect(e.message.startsWith(index)).toBe(true);
    expect(e.message).toContain('invalid JSON');

    fs.writeFileSync(index, JSON.stringify({ metadata: {} }));
    e = zoError(() => openCheckpoint(dir));
    expect(e.message.startsWith(index)).toBe(true);
    expect(e.message).toContain('weight_map');

    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [{ name: 'a', shape: [1], data: new Float32Array([1]) }]);
    fs.writeFileSync(index, JSON.stringify({
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    }));
    e = zoError(() => openCheckpoint(dir));
    expect(e.message.startsWith(index)).toBe(true);
    expect(e.message).toContain('model-00002-of-00002.safetensors');
    expect(e.message).toContain('missing');

    // A tensor the index assigns to a shard that does not hold it.
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } }));
    e = zoError(() => openCheckpoint(dir));
    expect(e.message).toContain('model-00001-of-00002.safetensors');
    expect(e.message).toContain('"c"');
  });
});
