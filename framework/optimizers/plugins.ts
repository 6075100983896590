import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ZoError } from '../core/errors.js';
import type { Optimizer } from './optimizer.js';
import { registerOptimizer } from './registry.js';

/**
 * Imports an ES module and registers the optimizers it exports: its default export, and any named
 * export that is an optimizer or a list of them. Returns their names. A file that is missing, does not
 * load, or exports no optimizer is one ZoError line.
 */
export async function loadPlugin(file: string): Promise<string[]> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new ZoError(`--plugin ${file}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ZoError(`--plugin ${file}: cannot load it (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  const candidates = Object.entries(mod).flatMap(([k, v]) =>
    Array.isArray(v) ? v.map((x, i) => [`${k}[${i}]`, x] as const) : [[k, v] as const],
  );
  const optimizers = candidates.filter(([, v]) => looksLikeOptimizer(v));
  if (optimizers.length === 0)
    throw new ZoError(`--plugin ${file}: exports no optimizer (export default { name, hyperparameters, init, step, … })`);
  return optimizers.map(([k, v]) => registerOptimizer(v, `--plugin ${file}: export ${k}`).name);
}

/** An export that means to be an optimizer (has a name and a step); registerOptimizer checks the rest. */
function looksLikeOptimizer(v: unknown): v is Optimizer {
  return typeof v === 'object' && v !== null && 'step' in v && 'name' in v;
}
