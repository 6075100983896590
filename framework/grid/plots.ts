import path from 'node:path';
import { loadFinetuner } from '../learned/finetuner.js';
import { byRole, referenceSigmas } from '../learned/show.js';
import { BLOCK_ROLES } from '../models/roles.js';
import { loadModel } from '../models/load.js';
import { renderChart, type VegaLiteSpec } from '../plots/plot.js';
import { readRunJson } from '../runs/folder.js';
import type { RunSpec, RunSummary } from '../runs/run.js';
import { trainLosses, type Row } from './results.js';
import { mean, type Aggregate } from './winrate.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const ROBUST = new Set(['every seed', '> 2 SE']);

/** ℓ⁺ at each logged step, as a rolling mean over an eighth of the run: ZO's per-step loss is noisy. */
function smoothedCurve(row: Row): { step: number; value: number }[] {
  const pts = trainLosses(path.join(row.dir, 'metrics.jsonl')).map((l) => ({ step: l.step + 1, value: l.loss }));
  const w = Math.max(1, Math.round(pts.length / 8));
  return pts.map((p, i) => {
    const win = pts.slice(Math.max(0, i - w + 1), i + 1);
    return { step: p.step, value: mean(win.map((x) => x.value)) };
  });
}

/** Loss curves per (model, task): a line per optimizer (mean over seeds at the chosen LR), a band from min to max. */
export function lossCurvesSpec(r: Aggregate): VegaLiteSpec {
  const values = r.choices.flatMap((c) => {
    const bySeed = c.rows.map(smoothedCurve);
    const steps = bySeed[0]?.map((p) => p.step) ?? [];
    return steps.flatMap((step, i) => {
      const v = bySeed.map((s) => s[i]?.value).filter((x): x is number => x !== undefined);
      if (v.length === 0) return [];
      return [
        {
          model: c.model,
          task: c.task,
          optimizer: c.method,
          step,
          mean: mean(v),
          lo: Math.min(...v),
          hi: Math.max(...v),
        },
      ];
    });
  });
  return {
    $schema: SCHEMA,
    title: {
      text: 'Train loss ℓ⁺ (smoothed) per model and task',
      subtitle: 'each optimizer at its chosen hyperparameters; line: mean over seeds, band: min to max',
    },
    data: { values },
    facet: { row: { field: 'model', type: 'nominal', title: null }, column: { field: 'task', type: 'nominal', title: null } },
    spec: {
      width: 170,
      height: 110,
      layer: [
        {
          mark: { type: 'area', opacity: 0.2 },
          encoding: {
            x: { field: 'step', type: 'quantitative' },
            y: { field: 'lo', type: 'quantitative', scale: { zero: false }, title: 'loss' },
            y2: { field: 'hi' },
            color: { field: 'optimizer', type: 'nominal' },
          },
        },
        {
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: {
            x: { field: 'step', type: 'quantitative' },
            y: { field: 'mean', type: 'quantitative' },
            color: { field: 'optimizer', type: 'nominal', title: 'optimizer' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as VegaLiteSpec;
}

/** The winner of each (model, task) by final train loss; ✓ marks a win outside the seed noise. */
export function winnerHeatmapSpec(r: Aggregate): VegaLiteSpec {
  const values = r.loss.pairs.map((p) => ({
    model: p.model,
    task: p.task,
    winner: p.winners.join(' = '),
    label: `${p.winners.join(' = ')}${ROBUST.has(p.verdict) ? ' ✓' : ''}`,
  }));
  const x = { field: 'task', type: 'nominal', title: null, axis: { orient: 'top', labelAngle: 0 } } as const;
  const y = { field: 'model', type: 'nominal', title: null } as const;
  return {
    $schema: SCHEMA,
    title: {
      text: 'Lowest final train loss per (model, task)',
      subtitle: '✓: ahead of the runner-up on every seed, or by more than 2 standard errors',
    },
    padding: 12,
    data: { values },
    width: { step: 96 },
    height: { step: 40 },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: { x, y, color: { field: 'winner', type: 'nominal', title: 'winner' } },
      },
      { mark: { type: 'text', fontSize: 12 }, encoding: { x, y, text: { field: 'label', type: 'nominal' } } },
    ],
  } as VegaLiteSpec;
}

/** Test metric per (model, task, optimizer) at the chosen hyperparameters: the mean, and a rule from min to max over seeds. */
export function testBarsSpec(r: Aggregate): VegaLiteSpec {
  const values = r.choices.map((c) => {
    const v = c.rows.map((x) => x.test_metric);
    return {
      model: c.model,
      task: c.task,
      optimizer: c.method,
      mean: mean(v),
      lo: Math.min(...v),
      hi: Math.max(...v),
    };
  });
  const enc = {
    x: { field: 'task', type: 'nominal', title: null },
    xOffset: { field: 'optimizer', type: 'nominal' },
    color: { field: 'optimizer', type: 'nominal' },
  };
  return {
    $schema: SCHEMA,
    title: { text: 'Test metric of the best-dev weights', subtitle: 'bar: mean over seeds; line: min to max' },
    data: { values },
    facet: { row: { field: 'model', type: 'nominal', title: null } },
    spec: {
      width: { step: 14 },
      height: 140,
      layer: [
        { mark: 'bar', encoding: { ...enc, y: { field: 'mean', type: 'quantitative', title: 'test metric' } } },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: { ...enc, color: undefined, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
        },
      ],
    },
  } as VegaLiteSpec;
}

/** nf·σ by block role for each model's finetuner, at θ₀ and its zero-shot dev loss: what the policy perturbs more. */
export function sigmaByRoleSpec(r: Aggregate): VegaLiteSpec | undefined {
  const seen = new Map<string, Row>();
  for (const row of r.rows) if (row.optimizer === 'zo-ft' && !seen.has(row.model)) seen.set(row.model, row);
  const values = [...seen.values()].flatMap((row) => {
    const spec = readRunJson<RunSpec>(path.join(row.dir, 'spec.json'), 'the run spec');
    if (!spec.finetuner) return [];
    const s = readRunJson<RunSummary>(path.join(row.dir, 'summary.json'), 'the run summary');
    const ref = referenceSigmas(loadFinetuner(spec.finetuner), loadModel(spec.model).params, s.initialLoss, spec.batchSize);
    return byRole(ref).map((x) => ({ model: row.model, ...x }));
  });
  if (values.length === 0) return undefined;
  return {
    $schema: SCHEMA,
    title: {
      text: "ZO-FT's perturbation scale by block role",
      subtitle: "nf·σ at the base weights and the zero-shot dev loss; bar: mean over the role's blocks, line: min to max",
    },
    data: { values },
    facet: { column: { field: 'model', type: 'nominal', title: null } },
    spec: {
      width: 200,
      height: 160,
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'role', type: 'nominal', sort: [...BLOCK_ROLES], title: null },
            y: { field: 'mean', type: 'quantitative', title: 'nf·σ' },
            color: { field: 'role', type: 'nominal', sort: [...BLOCK_ROLES], legend: null },
          },
        },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: {
            x: { field: 'role', type: 'nominal', sort: [...BLOCK_ROLES] },
            y: { field: 'min', type: 'quantitative' },
            y2: { field: 'max' },
          },
        },
      ],
    },
  } as VegaLiteSpec;
}

/** Renders every plot of a report as SVG and PNG in `dir`; returns the file names. */
export async function renderGridPlots(dir: string, r: Aggregate): Promise<string[]> {
  const charts: [string, VegaLiteSpec | undefined][] = [
    ['loss-curves', lossCurvesSpec(r)],
    ['winners', r.loss.pairs.length ? winnerHeatmapSpec(r) : undefined],
    ['test-metric', testBarsSpec(r)],
    ['sigma-by-role', sigmaByRoleSpec(r)],
  ];
  const files: string[] = [];
  for (const [name, spec] of charts) {
    if (!spec) continue;
    // The faceted curves are large already; the small charts get a sharper PNG.
    const scale = name === 'loss-curves' ? 1 : 1.5;
    await renderChart(spec, { svg: path.join(dir, `${name}.svg`), png: path.join(dir, `${name}.png`), scale });
    files.push(`${name}.svg`, `${name}.png`);
  }
  return files;
}
