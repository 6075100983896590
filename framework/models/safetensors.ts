/**
 * Reader and writer for the safetensors format: an 8-byte little-endian u64 header length N, N bytes
 * of UTF-8 JSON describing each tensor (dtype, shape, data_offsets relative to the data buffer) plus
 * optional "__metadata__", then the raw little-endian row-major data.
 *
 * Reading is lazy: opening parses only the header, and each tensor is read on demand with positioned
 * reads in bounded chunks, so a large sharded checkpoint is never held in memory twice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ZoError } from '../core/errors.js';

/** Dtypes that readF32 can convert to fp32. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
}

export interface Checkpoint {
  readonly files: string[];
  /** Tensor names in file order (shard order, then data offset within a shard). */
  names(): string[];
  info(name: string): TensorInfo | undefined;
  /** Reads a tensor as fp32 (F16/BF16/F64 converted); fills `out` in place when given. */
  readF32(name: string, out?: Float32Array): Float32Array;
  metadata(): Record<string, string>;
}

// Bytes per element of every dtype the format defines; used to validate byte lengths on open even
// for dtypes we cannot convert to fp32.
const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

// The reference implementation refuses headers above 100 MB; a corrupt length must not make us
// allocate gigabytes before failing.
const MAX_HEADER_BYTES = 100_000_000;
// Chunk size for reads and writes: large enough to be fast, small enough to bound extra memory.
const CHUNK_BYTES = 8 << 20;
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

// ---------------------------------------------------------------------------------------------
// Scalar conversions

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits (0..0xFFFF) to a number. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits (0..0xFFFF) to a number: bf16 is the top half of an fp32. */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** Rounds x to fp32, then to half-precision bits with round-to-nearest-even. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00); // NaN (kept quiet) or infinity
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // |x| >= 2^16 overflows
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000; // restore the implicit bit
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && r & 1)) r++; // a carry into the exponent is still correct
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // carry may reach infinity, as it should
  return sign | r;
}

/** Rounds x to fp32, then to bfloat16 bits with round-to-nearest-even. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return ((u >>> 16) & 0x8000) | 0x7fc0; // NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;
/** All 65536 half values, built once: bulk F16 reads become a table lookup. */
function f16Lookup(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number; // absolute file offsets
  end: number;
  file: string;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function openFd(file: string, flags: string): number {
  try {
    return fs.openSync(file, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ZoError(`${file}: no such file`);
    throw new ZoError(`${file}: cannot open (${code ?? (err as Error).message})`);
  }
}

/** Reads exactly `length` bytes at `position` into `buf`, looping over short reads. */
function readFully(fd: number, file: string, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new ZoError(`${file}: unexpected end of file at byte ${position + done} (was it changed after opening?)`);
    done += n;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface Parsed {
  entries: Entry[]; // sorted by data offset
  metadata: Record<string, string>;
}

function parseHeader(file: string): Parsed {
  const fd = openFd(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw new ZoError(`${file}: truncated or corrupt safetensors header: file is ${size} bytes, shorter than the 8-byte header length`);
    const lenBuf = new Uint8Array(8);
    readFully(fd, file, lenBuf, 0);
    const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (n > BigInt(size - 8)) throw new ZoError(`${file}: truncated or corrupt safetensors header: header length ${n} exceeds file size ${size}`);
    const headerLen = Number(n);
    if (headerLen > MAX_HEADER_BYTES) throw new ZoError(`${file}: corrupt safetensors header: header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const headerBuf = Buffer.alloc(headerLen);
    readFully(fd, file, headerBuf, 8);

    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new ZoError(`${file}: safetensors header is not valid JSON (${(err as Error).message})`);
    }
    if (!isPlainObject(header)) throw new ZoError(`${file}: safetensors header is not a JSON object`);

    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const entries: Entry[] = [];
    const metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (!isPlainObject(raw)) throw new ZoError(`${file}: "__metadata__" is not a JSON object`);
        // The format says string values; tolerate others rather than refuse an otherwise good file.
        for (const [k, v] of Object.entries(raw)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
        continue;
      }
      const bad = (why: string) => new ZoError(`${file}: tensor "${name}": ${why}`);
      if (!isPlainObject(raw)) throw bad('entry is not a JSON object');
      const { dtype, shape, data_offsets: offs } = raw;
      if (typeof dtype !== 'string') throw bad('missing or non-string "dtype"');
      if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`invalid "shape" ${JSON.stringify(shape)}`);
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) throw bad(`invalid "data_offsets" ${JSON.stringify(offs)}`);
      const [b, e] = offs as number[];
      if (b > e || e > dataLen) throw bad(`data_offsets [${b}, ${e}] fall outside the data buffer (${dataLen} bytes)`);
      const elemBytes = DTYPE_BYTES[dtype];
      if (elemBytes !== undefined) {
        const want = numel(shape as number[]) * elemBytes;
        if (e - b !== want) throw bad(`byte length ${e - b} disagrees with ${dtype} shape [${shape.join(', ')}] (expected ${want})`);
      }
      entries.push({ name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e, file });
    }
    // JSON key order is not file order (and JS moves integer-like keys first), so order by offset.
    entries.sort((x, y) => x.begin - y.begin);
    return { entries, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one tensor's bytes in chunks and converts them into `out`. */
function readEntryF32(e: Entry, out: Float32Array | undefined): Float32Array {
  const n = numel(e.shape);
  const bad = (why: string) => new ZoError(`${e.file}: tensor "${e.name}": ${why}`);
  const elemBytes = DTYPE_BYTES[e.dtype];
  if (!(e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16' || e.dtype === 'F64')) {
    throw bad(`dtype ${e.dtype} cannot be read as fp32 (supported: F32, F16, BF16, F64)`);
  }
  if (out && out.length !== n) throw bad(`output buffer has ${out.length} elements, tensor has ${n}`);
  const dst = out ?? new Float32Array(n);
  if (n === 0) return dst;

  const fd = openFd(e.file, 'r');
  try {
    if (e.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
      // Same layout on disk and in memory: read straight into the destination.
      const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
      for (let off = 0; off < bytes.length; off += CHUNK_BYTES) {
        readFully(fd, e.file, bytes.subarray(off, Math.min(off + CHUNK_BYTES, bytes.length)), e.begin + off);
      }
      return dst;
    }
    const perChunk = Math.floor(CHUNK_BYTES / elemBytes);
    const chunk = new Uint8Array(Math.min(perChunk, n) * elemBytes);
    const view = new DataView(chunk.buffer);
    const table = e.dtype === 'F16' ? f16Lookup() : undefined;
    const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
    for (let i0 = 0; i0 < n; i0 += perChunk) {
      const count = Math.min(perChunk, n - i0);
      const buf = chunk.subarray(0, count * elemBytes);
      readFully(fd, e.file, buf, e.begin + i0 * elemBytes);
      if (e.dtype === 'F16') {
        for (let i = 0; i < count; i++) dst[i0 + i] = table![view.getUint16(2 * i, true)];
      } else if (e.dtype === 'BF16') {
        for (let i = 0; i < count; i++) dstBits[i0 + i] = view.getUint16(2 * i, true) << 16;
      } else if (e.dtype === 'F64') {
        for (let i = 0; i < count; i++) dst[i0 + i] = view.getFloat64(8 * i, true);
      } else {
        for (let i = 0; i < count; i++) dst[i0 + i] = view.getFloat32(4 * i, true);
      }
    }
    return dst;
  } finally {
    fs.closeSync(fd);
  }
}

/** Builds a Checkpoint over entries already validated; `label` names it in lookup errors. */
function makeCheckpoint(label: string, files: string[], entries: Entry[], metadata: Record<string, string>): Checkpoint {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const get = (name: string): Entry => {
    const e = byName.get(name);
    if (!e) throw new ZoError(`${label}: no tensor named "${name}"`);
    return e;
  };
  return {
    files,
    names: () => entries.map((e) => e.name),
    info: (name) => {
      const e = byName.get(name);
      return e && { name: e.name, dtype: e.dtype, shape: [...e.shape], file: e.file };
    },
    readF32: (name, out) => readEntryF32(get(name), out),
    metadata: () => ({ ...metadata }),
  };
}

/** Opens one .safetensors file, reading only its header. */
export function openSafetensors(file: string): Checkpoint {
  const { entries, metadata } = parseHeader(file);
  return makeCheckpoint(file, [file], entries, metadata);
}

/**
 * Opens a checkpoint folder: dir/model.safetensors, or the Hugging Face sharded layout
 * dir/model.safetensors.index.json whose "weight_map" maps each tensor to its shard file.
 * A path to a single .safetensors file is accepted too.
 */
export function openCheckpoint(dir: string): Checkpoint {
  if (fs.existsSync(dir) && fs.statSync(dir).isFile()) return openSafetensors(dir);
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return openSafetensors(single);
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  if (!fs.existsSync(indexPath)) throw new ZoError(`${dir}: no model.safetensors or model.safetensors.index.json`);

  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new ZoError(`${indexPath}: invalid JSON (${(err as Error).message})`);
  }
  const weightMap = isPlainObject(index) ? index.weight_map : undefined;
  if (!isPlainObject(weightMap)) throw new ZoError(`${indexPath}: missing "weight_map" object`);

  // Group tensor names by shard; shards are taken in file-name order (model-00001-of-..., ...).
  const wanted = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') throw new ZoError(`${indexPath}: weight_map entry "${name}" is not a file name`);
    if (!wanted.has(shard)) wanted.set(shard, new Set());
    wanted.get(shard)!.add(name);
  }
  const shards = [...wanted.keys()].sort();
  for (const shard of shards) {
    const p = path.join(dir, shard);
    if (!fs.existsSync(p)) throw new ZoError(`${indexPath}: shard file ${shard} is missing (${p})`);
  }

  const files: string[] = [];
  const entries: Entry[] = [];
  const metadata: Record<string, string> = {};
  for (const shard of shards) {
    const file = path.join(dir, shard);
    const parsed = parseHeader(file);
    const names = wanted.get(shard)!;
    // The weight_map is authoritative: take only the tensors it assigns to this shard.
    const found = parsed.entries.filter((e) => names.has(e.name));
    if (found.length !== names.size) {
      const have = new Set(found.map((e) => e.name));
      const missing = [...names].find((n) => !have.has(n));
      throw new ZoError(`${file}: tensor "${missing}" listed in ${indexPath} is not in this shard`);
    }
    files.push(file);
    entries.push(...found);
    Object.assign(metadata, parsed.metadata);
  }
  return makeCheckpoint(indexPath, files, entries, metadata);
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A tensor source: names in order, each read into a Float32Array (a ParamStore is one). */
export interface Weights {
  names: readonly string[];
  shape(name: string): readonly number[];
  get(name: string): Float32Array;
}

/** Every tensor of `w` in its order, for writeSafetensors (in `dtype` where given). */
export function tensorsOf(w: Weights, dtype?: 'F32' | 'F16' | 'BF16'): { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'F16' | 'BF16' }[] {
  return w.names.map((n) => ({ name: n, shape: [...w.shape(n)], data: w.get(n), ...(dtype && { dtype }) }));
}

/**
 * Writes tensors (in the given order) to a safetensors file, converting to F16/BF16 on request.
 * Atomic: data goes to `${file}.tmp-<pid>` and is renamed over `file` only when complete.
 */
export function writeSafetensors(
  file: string,
  tensors: { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'F16' | 'BF16' }[],
  metadata?: Record<string, string>,
): void {
  const seen = new Set<string>();
  let offset = 0;
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    if (t.name === '__metadata__' || seen.has(t.name)) throw new ZoError(`${file}: invalid or duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!t.shape.every((d) => isCount(d))) throw new ZoError(`${file}: tensor "${t.name}": invalid shape [${t.shape.join(', ')}]`);
    if (numel(t.shape) !== t.data.length) {
      throw new ZoError(`${file}: tensor "${t.name}": shape [${t.shape.join(', ')}] needs ${numel(t.shape)} values, data has ${t.data.length}`);
    }
    const bytes = t.data.length * DTYPE_BYTES[dtype];
    // Built by hand so the header keeps the given order (JSON.stringify would move integer-like keys).
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype, shape: t.shape, data_offsets: [offset, offset + bytes] })}`);
    offset += bytes;
  }
  let header = `{${parts.join(',')}}`;
  // Pad with spaces so the data buffer starts 8-byte aligned, as the reference writer does.
  const rawLen = Buffer.byteLength(header, 'utf8');
  header += ' '.repeat((8 - ((8 + rawLen) % 8)) % 8);
  const headerBuf = Buffer.from(header, 'utf8');

  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openFd(tmp, 'w');
  let closed = false;
  try {
    const lenBuf = Buffer.alloc(8);
    lenBuf.writeBigUInt64LE(BigInt(headerBuf.length));
    writeAll(fd, lenBuf);
    writeAll(fd, headerBuf);
    for (const t of tensors) writeTensor(fd, t.data, t.dtype ?? 'F32');
    fs.fsyncSync(fd);
    closed = true;
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (err) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new ZoError(`${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
}

function writeTensor(fd: number, data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): void {
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let off = 0; off < bytes.length; off += CHUNK_BYTES) writeAll(fd, bytes.subarray(off, Math.min(off + CHUNK_BYTES, bytes.length)));
    return;
  }
  const elemBytes = DTYPE_BYTES[dtype];
  const perChunk = Math.floor(CHUNK_BYTES / elemBytes);
  const chunk = new Uint8Array(Math.min(perChunk, data.length) * elemBytes);
  const view = new DataView(chunk.buffer);
  for (let i0 = 0; i0 < data.length; i0 += perChunk) {
    const count = Math.min(perChunk, data.length - i0);
    for (let i = 0; i < count; i++) {
      const x = data[i0 + i];
      if (dtype === 'F16') view.setUint16(2 * i, f32ToF16Bits(x), true);
      else if (dtype === 'BF16') view.setUint16(2 * i, f32ToBf16Bits(x), true);
      else view.setFloat32(4 * i, x, true);
    }
    writeAll(fd, chunk.subarray(0, count * elemBytes));
  }
}
