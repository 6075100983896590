import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../paths.js';

const run = promisify(execFile);
const ZO = path.join(packageRoot(), 'bin', 'zo.js');

/** Runs the real CLI in a child process; never throws on a non-zero exit. */
export async function zo(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return zoWith({}, ...args);
}

/** The same, in another working directory or as another user (root tests of permissions). */
export async function zoWith(opts: { cwd?: string; uid?: number; gid?: number }, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ZO, ...args], { maxBuffer: 64 << 20, ...opts });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}


/** The path of the CLI entry point, for tests that spawn it themselves (signals, concurrency). */
export const ZO_BIN = ZO;
