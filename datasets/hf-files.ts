/**
 * Reading the dataset files a user downloaded from the Hugging Face hub. Nothing here downloads.
 *
 * Layout (datasets/mezo/README.md): one folder per task, `<dataDir>/<task>/`, holding for each split
 * (`train`, `validation`) one of
 *   - `<split>.parquet`, `<split>.jsonl` or `<split>.json` (a JSON array, `{"data": [...]}`, or JSON
 *     Lines, which is what `Dataset.to_json("x.json")` writes);
 *   - the hub's own shard names: `<split>-00000-of-00001.parquet`, `<split>-00000-of-00002.parquet`, …
 *     (older repos add a hash: `<split>-00000-of-00001-<hash>.parquet`);
 *   - the hub's converted-parquet layout `<split>/0000.parquet`, `<split>/0001.parquet`, ….
 * Files may also sit one folder down, as `huggingface-cli download … --local-dir <dataDir>/<task>` leaves
 * them (`<dataDir>/rte/rte/train-00000-of-00001.parquet`, `<dataDir>/boolq/data/…`).
 * Shards are read in shard order, so row indices are those of the HF split (MeZO's sampling needs that).
 */
import { existsSync, promises as fs, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { ZoError } from '../framework/core/errors.js';
import type { Row } from '../framework/tasks/task.js';

export type SplitName = 'train' | 'validation';

/** Plain values only: parquet INT64 comes back as bigint, which JSON, `===` and arithmetic don't mix with. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(plain);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<unknown>, plain);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

function isRow(v: unknown): v is Row {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseJsonl(file: string, text: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new ZoError(`${file}: line ${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (!isRow(v))
      throw new ZoError(`${file}: line ${i + 1}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
    rows.push(v);
  }
  return rows;
}

function parseJson(file: string, text: string): Row[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // HF's Dataset.to_json writes JSON Lines even to a .json name.
    return parseJsonl(file, text);
  }
  const list = isRow(v) && Array.isArray(v.data) ? v.data : v;
  if (!Array.isArray(list)) throw new ZoError(`${file}: expected a JSON array of rows, {"data": [rows]} or JSON Lines`);
  for (const [i, r] of list.entries()) {
    if (!isRow(r)) throw new ZoError(`${file}: row ${i}: expected a JSON object`);
  }
  return list as Row[];
}

async function parseParquet(file: string, bytes: Buffer): Promise<Row[]> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: buffer });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new ZoError(`${file}: unreadable parquet (${msg}); download it again, or save the split as JSONL`);
  }
  return rows.map((r) => plain(r) as Row);
}

/** All rows of one `.parquet`, `.jsonl` or `.json` file, with the file's own column names. */
export async function readRows(file: string): Promise<Row[]> {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.parquet' && ext !== '.jsonl' && ext !== '.json') {
    throw new ZoError(`${file}: unsupported file type "${ext}" (use .parquet, .jsonl or .json)`);
  }
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ZoError(
        `${file}: no such file; download the split from the Hugging Face hub and save it there (see datasets/mezo/README.md)`,
      );
    throw new ZoError(`${file}: cannot read (${code ?? (e as Error).message})`);
  }
  if (bytes.byteLength === 0) throw new ZoError(`${file}: empty file`);
  const rows =
    ext === '.parquet'
      ? await parseParquet(file, bytes)
      : ext === '.jsonl'
        ? parseJsonl(file, bytes.toString('utf8'))
        : parseJson(file, bytes.toString('utf8'));
  if (rows.length === 0) throw new ZoError(`${file}: no rows`);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Finding a split's files.

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The split's files directly in `dir` (several when sharded), or [] when there are none. */
function splitFilesIn(dir: string, split: SplitName): string[][] {
  const names = listDir(dir);
  const found: string[][] = [];
  for (const ext of ['.parquet', '.jsonl', '.json']) {
    if (names.includes(split + ext) && !isDir(path.join(dir, split + ext))) found.push([path.join(dir, split + ext)]);
  }
  // <split>-00000-of-00002.parquet (optionally -<hash> before .parquet)
  const shard = new RegExp(`^${split}-(\\d+)-of-(\\d+)(-[^.]*)?\\.parquet$`);
  const shards = names.map((n) => ({ n, m: shard.exec(n) })).filter((x) => x.m);
  if (shards.length > 0) {
    const total = Number(shards[0]!.m![2]);
    const byIndex = new Map(shards.map((x) => [Number(x.m![1]), x.n]));
    const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !byIndex.has(i));
    if (shards.some((x) => Number(x.m![2]) !== total) || byIndex.size !== shards.length || missing.length > 0) {
      throw new ZoError(
        `${dir}: incomplete or mixed ${split} shards (${shards.map((x) => x.n).join(', ')}); expected ${split}-00000-of-${String(total).padStart(5, '0')}.parquet … all ${total}`,
      );
    }
    found.push(Array.from({ length: total }, (_, i) => path.join(dir, byIndex.get(i)!)));
  }
  // <split>/0000.parquet, <split>/0001.parquet (the hub's refs/convert/parquet layout)
  const sub = path.join(dir, split);
  if (isDir(sub)) {
    const parts = listDir(sub).filter((n) => /^\d+\.parquet$/.test(n));
    parts.sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    if (parts.length > 0) found.push(parts.map((n) => path.join(sub, n)));
  }
  return found;
}

const LOOKED_FOR = (split: SplitName): string =>
  `${split}.parquet, ${split}.jsonl, ${split}.json, ${split}-00000-of-0000N.parquet or ${split}/0000.parquet, there or one folder down`;

/**
 * The files holding one split of `<dataDir>/<task>/`, in row order (one file unless sharded).
 * `preferDir` names the HF subfolder to pick when several subfolders hold the split (e.g. "wsc.fixed"
 * next to "wsc" in a full super_glue download); `hint` ends the not-found error (where to get it).
 */
export function findSplitFiles(
  dataDir: string,
  task: string,
  split: SplitName,
  opts: { preferDir?: string; hint?: string } = {},
): string[] {
  const dir = path.join(dataDir, task);
  const notFound = (what: string): ZoError =>
    new ZoError(`${task}: ${what} (looked for ${LOOKED_FOR(split)})${opts.hint ? `; ${opts.hint}` : ''}`);
  if (!existsSync(dir)) throw notFound(`no folder ${dir}`);

  const pick = (where: string, found: string[][]): string[] => {
    if (found.length > 1)
      throw new ZoError(`${where}: several ${split} files (${found.map((f) => path.basename(f[0]!)).join(', ')}); keep one`);
    return found[0]!;
  };
  const here = splitFilesIn(dir, split);
  if (here.length > 0) return pick(dir, here);

  const subs = listDir(dir).filter((n) => n !== split && isDir(path.join(dir, n)));
  const hits = subs.map((n) => ({ n, found: splitFilesIn(path.join(dir, n), split) })).filter((x) => x.found.length > 0);
  if (hits.length === 0) throw notFound(`no ${split} file in ${dir}`);
  const chosen = hits.length === 1 ? hits[0]! : hits.find((x) => x.n === opts.preferDir);
  if (!chosen) throw new ZoError(`${dir}: ${split} files in several folders (${hits.map((x) => x.n).join(', ')}); keep one`);
  return pick(path.join(dir, chosen.n), chosen.found);
}

/** The one file holding a split (see findSplitFiles); a ZoError if it is sharded. */
export function findSplitFile(dataDir: string, task: string, split: SplitName, opts: { preferDir?: string; hint?: string } = {}): string {
  const files = findSplitFiles(dataDir, task, split, opts);
  if (files.length > 1)
    throw new ZoError(`${task}: the ${split} split is in ${files.length} shards (${path.dirname(files[0]!)}); read it with readSplit`);
  return files[0]!;
}

/** All rows of a split, shards concatenated in order. */
export async function readSplit(
  dataDir: string,
  task: string,
  split: SplitName,
  opts: { preferDir?: string; hint?: string } = {},
): Promise<Row[]> {
  let rows: Row[] = [];
  // concat, not push(...): a 100k-row shard would overflow the argument list.
  for (const file of findSplitFiles(dataDir, task, split, opts)) rows = rows.concat(await readRows(file));
  return rows;
}
