import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { fsError } from './folder.js';

/** The lock file of a run folder: who holds it, so a second process can say who and tell a dead holder. */
export const LOCK_FILE = 'zo.lock';
/** The holder touches the lock this often, so a holder on another machine (a shared volume) can be judged by age. */
const HEARTBEAT_MS = 30_000;
/** A lock not touched for this long is stale, whatever its holder claims. */
const STALE_MS = 5 * HEARTBEAT_MS;

export interface Holder {
  pid: number;
  host: string;
  started: string;
}

export interface RunLock {
  release(): void;
}

/**
 * Takes `dir`'s lock (an O_EXCL create), or refuses naming the live holder. A lock whose holder died
 * (same host and no such process, or no heartbeat for STALE_MS) is taken over. Released on release()
 * and on process exit; the CLI turns SIGINT/SIGTERM into an exit, so Ctrl-C releases it too.
 */
export function lockRunFolder(dir: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(
        fd,
        JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() } satisfies Holder) + '\n',
      );
      fs.closeSync(fd);
      return hold(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(dir, 'cannot lock the run folder', e);
    }
    const holder = readHolder(file);
    if (holder && isLive(holder, file)) throw heldError(dir, holder);
    fs.rmSync(file, { force: true }); // its holder is gone
  }
  throw new ZoError(`${dir}: cannot lock the run folder: other processes keep taking its ${LOCK_FILE}`);
}

/** The one line for a folder another live zo process holds. */
function heldError(dir: string, holder: Holder): ZoError {
  return new ZoError(
    `${dir}: another zo process (pid ${holder.pid} on ${holder.host}, since ${holder.started}) is using this run folder; wait for it, or choose another --out`,
  );
}

/** Refuses `dir` while a live process holds its lock (what lockRunFolder would say), without taking it. */
export function refuseIfLocked(dir: string): void {
  const h = lockHolder(dir);
  if (h) throw heldError(dir, h);
}

/** Who holds `dir`'s lock, if a live process does (on this host, or with a recent heartbeat on another). */
export function lockHolder(dir: string): Holder | undefined {
  const file = path.join(dir, LOCK_FILE);
  const h = readHolder(file);
  return h && isLive(h, file) ? h : undefined;
}

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : undefined;
  } catch {
    // Unreadable or torn (its writer died between create and write): no one can be holding it.
    return undefined;
  }
}

function isLive(h: Holder, file: string): boolean {
  let age: number;
  try {
    age = Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return false;
  }
  if (age > STALE_MS) return false;
  if (h.host !== os.hostname()) return true;
  if (h.pid === process.pid) return false; // a lock left by an earlier process that had our pid
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function hold(file: string): RunLock {
  const beat = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(file, now, now);
    } catch {
      // The folder went away; nothing to keep alive.
    }
  }, HEARTBEAT_MS);
  beat.unref();
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    clearInterval(beat);
    process.off('exit', release);
    if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { release };
}
