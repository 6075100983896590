import fs from 'node:fs';
import path from 'node:path';
import { hasCheckpoint, writeJsonAtomic } from '../runs/checkpoint.js';
import { inspectOutFolder, readRunJson } from '../runs/folder.js';
import { resumeRun, startRun, type RunHooks, type RunSpecInput, type RunSummary } from '../runs/run.js';
import type { Cell } from './expand.js';

/** A cell folder's files besides the run's own: the cell's identity, written once the run is done. */
export const CELL_FILE = 'cell.json';

/** A finished cell: its run wrote summary.json, the last file a run writes. */
export const isFinished = (dir: string): boolean => fs.existsSync(path.join(dir, 'summary.json'));

/**
 * Runs a cell in its folder to the end: a new run, or the resume of a killed one from its last
 * checkpoint. A killed run with no checkpoint yet has nothing worth keeping, and starts again.
 */
export async function runCell(dir: string, input: RunSpecInput, hooks: RunHooks = {}): Promise<RunSummary> {
  const state = inspectOutFolder(dir);
  if (state === 'run' && hasCheckpoint(dir))
    return resumeRun(
      dir,
      { given: { threads: input.threads, device: input.device, saveEvery: input.saveEvery, logEvery: input.logEvery } },
      hooks,
    );
  if (state === 'run') fs.rmSync(dir, { recursive: true, force: true });
  return startRun(dir, input, hooks);
}

/** Records what the cell is, beside the run's files, so a report needs nothing but the folder. */
export function writeCellFile(dir: string, cell: Cell): void {
  writeJsonAtomic(path.join(dir, CELL_FILE), cell);
}

export function readCellFile(dir: string): Cell | undefined {
  const file = path.join(dir, CELL_FILE);
  return fs.existsSync(file) ? readRunJson<Cell>(file, 'the cell') : undefined;
}
