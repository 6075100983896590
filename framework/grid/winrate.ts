import { canonicalJson } from './expand.js';
import type { Row } from './results.js';

/** The paper compares ZO methods; first-order rows (fo-*) are references, outside the rule. */
export const isZo = (method: string): boolean => !method.startsWith('fo-');

/** A method's chosen hyperparameters in one (model, task), and its cells there, by seed. */
export interface Choice {
  model: string;
  task: string;
  method: string;
  hyperparameters: Record<string, unknown>;
  /** Mean best-dev loss over seeds: what chose this combination. */
  devLoss: number;
  /** The hyperparameters whose values differ between the method's combinations in this pair (the choice made). */
  varied: string[];
  rows: Row[];
}

/** lr and eps, then the others by name: the same order whether a row came from a folder or a CSV. */
const hpOf = (r: Row): Record<string, unknown> => ({
  lr: r.lr,
  eps: r.eps,
  ...Object.fromEntries(Object.entries(r.hp).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
});
export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const groupBy = <T>(xs: T[], key: (x: T) => string) => {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
};

/**
 * Step 1 of the rule: per (model, task, method), the hyperparameters with the lowest mean dev loss over
 * seeds. Equal means keep the first combination in sorted order, so the choice never depends on file order.
 */
export function chooseByDev(rows: Row[]): Choice[] {
  const out: Choice[] = [];
  for (const group of groupBy(rows, (r) => `${r.model}\u0000${r.task}\u0000${r.optimizer}`).values()) {
    const combos = [...groupBy(group, (r) => canonicalJson(hpOf(r))).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const all = combos.map(([, cells]) => hpOf(cells[0]!));
    const varied = Object.keys(all[0]!).filter((k) => new Set(all.map((h) => JSON.stringify(h[k]))).size > 1);
    let best: Choice | undefined;
    for (const [, unordered] of combos) {
      // By seed: a mean's last bits depend on the order of its terms, and ties must not depend on file order.
      const cells = [...unordered].sort((a, b) => a.seed - b.seed);
      const devLoss = mean(cells.map((r) => r.dev_loss));
      if (!best || devLoss < best.devLoss)
        best = {
          model: cells[0]!.model,
          task: cells[0]!.task,
          method: cells[0]!.optimizer,
          hyperparameters: hpOf(cells[0]!),
          devLoss,
          varied,
          rows: cells,
        };
    }
    out.push(best!);
  }
  return out.sort((a, b) => a.model.localeCompare(b.model) || a.task.localeCompare(b.task) || a.method.localeCompare(b.method));
}

export type Criterion = 'final_train_loss' | 'test_metric';
export const LOWER_IS_BETTER: Record<Criterion, boolean> = { final_train_loss: true, test_metric: false };

export interface Scored {
  method: string;
  /** Mean over seeds of the criterion, at the chosen hyperparameters. */
  score: number;
  /** Standard error of that mean (sample sd / √n; NaN for one seed). */
  se: number;
  bySeed: Map<number, number>;
  rank: number;
}

/** Whether a pair's winner is outside the seed noise against the runner-up. */
export type Verdict = 'every seed' | '> 2 SE' | 'within noise' | 'one seed' | 'tie' | 'unopposed';

export interface PairResult {
  model: string;
  task: string;
  /** Best first. */
  ranking: Scored[];
  /** Every method at the best score (more than one on a tie: each counts the pair as a win). */
  winners: string[];
  runnerUp?: Scored;
  verdict: Verdict;
}

export interface MethodStat {
  method: string;
  wins: number;
  /** Pairs in which it met at least one other ZO method. */
  pairs: number;
  meanRank: number;
}

export interface WinTable {
  criterion: Criterion;
  pairs: PairResult[];
  methods: MethodStat[];
  /** matrix[a][b]: pairs in which a scored strictly better than b. */
  matrix: Record<string, Record<string, number>>;
}

function scored(c: Choice, criterion: Criterion): Omit<Scored, 'rank'> {
  const bySeed = new Map(c.rows.map((r) => [r.seed, r[criterion]]));
  const xs = [...bySeed.values()];
  const m = mean(xs);
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) : NaN;
  return { method: c.method, score: m, se: sd / Math.sqrt(xs.length), bySeed };
}

/** The seed-robust verdict: the winner beats the runner-up on every shared seed, or by more than 2 SE. */
export function verdict(w: Scored, r: Scored | undefined, lowerBetter: boolean, tie: boolean): Verdict {
  if (tie) return 'tie';
  if (!r) return 'unopposed';
  const better = (a: number, b: number) => (lowerBetter ? a < b : a > b);
  const shared = [...w.bySeed.keys()].filter((s) => r.bySeed.has(s));
  if (shared.length >= 2 && shared.every((s) => better(w.bySeed.get(s)!, r.bySeed.get(s)!))) return 'every seed';
  if (w.bySeed.size < 2 || r.bySeed.size < 2) return 'one seed';
  return Math.abs(w.score - r.score) > 2 * Math.hypot(w.se, r.se) ? '> 2 SE' : 'within noise';
}

/** Ranks 1…n, best first; tied scores share the mean of their ranks. */
function rankAll(xs: Omit<Scored, 'rank'>[], lowerBetter: boolean): Scored[] {
  const sorted = [...xs].sort((a, b) => (lowerBetter ? a.score - b.score : b.score - a.score) || a.method.localeCompare(b.method));
  return sorted.map((x) => {
    const first = sorted.findIndex((y) => y.score === x.score);
    const count = sorted.filter((y) => y.score === x.score).length;
    return { ...x, rank: first + (count + 1) / 2 };
  });
}

/**
 * Steps 2 and 3 of the rule: each ZO method's score is its mean `criterion` over seeds at the choice,
 * and the best score wins the pair; plus pairwise wins, mean ranks and the seed-robust verdict.
 */
export function winTable(choices: Choice[], criterion: Criterion): WinTable {
  const lowerBetter = LOWER_IS_BETTER[criterion];
  const zo = choices.filter((c) => isZo(c.method));
  const methods = [...new Set(zo.map((c) => c.method))].sort();
  const matrix = Object.fromEntries(methods.map((a) => [a, Object.fromEntries(methods.filter((b) => b !== a).map((b) => [b, 0]))]));
  const pairs: PairResult[] = [];
  for (const group of groupBy(zo, (c) => `${c.model}\u0000${c.task}`).values()) {
    const ranking = rankAll(
      group.map((c) => scored(c, criterion)).filter((s) => Number.isFinite(s.score)),
      lowerBetter,
    );
    if (ranking.length === 0) continue;
    const best = ranking[0]!.score;
    const winners = ranking.filter((s) => s.score === best).map((s) => s.method);
    const runnerUp = ranking.find((s) => s.score !== best);
    for (const a of ranking)
      for (const b of ranking) if (a !== b && (lowerBetter ? a.score < b.score : a.score > b.score)) matrix[a.method]![b.method]!++;
    pairs.push({
      model: group[0]!.model,
      task: group[0]!.task,
      ranking,
      winners,
      runnerUp,
      verdict: verdict(ranking[0]!, winners.length > 1 ? ranking[1] : runnerUp, lowerBetter, winners.length > 1),
    });
  }
  pairs.sort((a, b) => a.model.localeCompare(b.model) || a.task.localeCompare(b.task));
  const stats = methods.map((m) => {
    const mine = pairs.filter((p) => p.ranking.length > 1 && p.ranking.some((s) => s.method === m));
    const ranks = mine.map((p) => p.ranking.find((s) => s.method === m)!.rank);
    return {
      method: m,
      wins: mine.filter((p) => p.winners.includes(m)).length,
      pairs: mine.length,
      meanRank: ranks.length ? mean(ranks) : NaN,
    };
  });
  return { criterion, pairs, methods: stats, matrix };
}

/** A method's scored entry in one (model, task) of a table, and that pair's result. */
export function scoreOf(t: WinTable, model: string, task: string, method: string): { pair?: PairResult; scored?: Scored } {
  const pair = t.pairs.find((p) => p.model === model && p.task === task);
  return { pair, scored: pair?.ranking.find((s) => s.method === method) };
}

/** "zo-ft: 23/28 pairs (82.1%)", the paper's headline form. */
export const headline = (s: MethodStat): string =>
  `${s.method}: ${s.wins}/${s.pairs} pairs (${s.pairs ? ((100 * s.wins) / s.pairs).toFixed(1) : '–'}%)`;

/** A set of finished cells, aggregated: the choices by dev loss and both win tables. */
export interface Aggregate {
  rows: Row[];
  /** How many cells the grid planned, when the aggregate is a grid's. */
  planned?: number;
  choices: Choice[];
  loss: WinTable;
  test: WinTable;
}

export function aggregate(rows: Row[], planned?: number): Aggregate {
  const choices = chooseByDev(rows);
  return { rows, planned, choices, loss: winTable(choices, 'final_train_loss'), test: winTable(choices, 'test_metric') };
}
