import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';

/** What an --out folder is before a run touches it. */
export type FolderState = 'absent' | 'empty' | 'run';

const WHY: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  ENOENT: 'no such file or folder',
  EISDIR: 'it is a folder',
};

/** A file-system failure as one ZoError line: where, what was being done, and why in words. */
export function fsError(where: string, doing: string, e: unknown): ZoError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (!code) return e instanceof ZoError ? e : new ZoError(`${where}: ${doing}: ${String((e as Error)?.message ?? e)}`);
  return new ZoError(`${where}: ${doing} (${WHY[code] ?? code})`);
}

/**
 * Checks --out before anything is loaded or written: a folder that does not exist yet (its nearest
 * existing parent must be writable), an empty folder, or a zo run folder (it holds spec.json). A file,
 * an unwritable place, or a folder of other files is refused: a run must never write into them.
 */
export function inspectOutFolder(out: string): FolderState {
  if (out.trim() === '') throw new ZoError('--out is empty: name a run folder');
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(`--out ${out}`, 'cannot read it', e);
  }
  if (stat && !stat.isDirectory()) throw new ZoError(`--out ${out}: is a file, not a folder`);
  writable(stat ? out : nearestExisting(out), out);
  if (!stat) return 'absent';
  // The lock is the folder's, not its content: a run that holds it is told apart by spec.json.
  const entries = fs.readdirSync(out).filter((f) => f !== 'zo.lock');
  if (entries.length === 0) return 'empty';
  if (entries.includes('spec.json')) return 'run';
  throw new ZoError(
    `--out ${out}: holds ${entries.length} file(s) but no spec.json, so it is not a zo run folder; choose a new or empty folder`,
  );
}

function nearestExisting(p: string): string {
  let dir = path.resolve(p);
  while (!fs.existsSync(dir)) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (!fs.statSync(dir).isDirectory()) throw new ZoError(`--out ${p}: ${dir} is a file, so no folder can be made under it`);
  return dir;
}

/** W_OK also reports a read-only mount (EROFS), even to root. */
function writable(dir: string, out: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw fsError(`--out ${out}`, `cannot write in ${dir}`, e);
  }
}

/** --out must be a folder that does not exist yet or is empty, somewhere zo may write (exports, new banks). */
export function checkNewFolder(out: string): void {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(out);
  } catch (e) {
    // ENOTDIR: something above it is a file, which the walk up below reports.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new ZoError(`--out ${out}: ${code}`);
  }
  if (stat && !stat.isDirectory()) throw new ZoError(`--out ${out} is a file; give a new or empty folder`);
  if (stat) {
    const held = fs.readdirSync(out);
    if (held.length > 0)
      throw new ZoError(
        `--out ${out} already holds ${held.length} ${held.length === 1 ? 'entry' : 'entries'} (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', …' : ''}); give a new or empty folder`,
      );
  }
  // The nearest folder that exists is where the export's folders get made.
  let dir = path.resolve(out);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  if (!fs.statSync(dir).isDirectory()) throw new ZoError(`--out ${out}: ${dir} is a file, not a folder`);
  writable(dir, out);
}

/** Reads and parses a JSON file of a run folder; a missing or torn file is one line naming it. */
export function readRunJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fsError(file, `cannot read ${what}`, e);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ZoError(
      `${file}: ${what} is not valid JSON (${text.length === 0 ? 'empty' : 'truncated or corrupt'}); the run folder is damaged`,
    );
  }
}
