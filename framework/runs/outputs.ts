/**
 * What a finished run leaves for people besides its JSON: metrics.csv (metrics.jsonl for spreadsheets
 * and pandas) and loss.svg/png (the training curve, the dev loss, and the dev metric before and after).
 */
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ZoError } from '../core/errors.js';
import { readMetrics, renderChart, trainLossesOf, type VegaLiteSpec } from '../plots/plot.js';
import { writeFileAtomic } from './checkpoint.js';
import { readRunJson } from './folder.js';
import type { CardSummary } from './export.js';

/** metrics.csv: one row per line of metrics.jsonl, the columns in order of first appearance. */
export function writeMetricsCsv(runDir: string): string {
  const rows = readMetrics(path.join(runDir, 'metrics.jsonl'));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const file = path.join(runDir, 'metrics.csv');
  writeFileAtomic(file, stringify(rows, { header: true, columns, cast: { boolean: (b) => String(b) } }));
  return file;
}

/** A centred moving average over `w` points (fewer at the ends): the trend of a noisy ℓ⁺. */
export function movingAverage(xs: number[], w: number): number[] {
  const h = Math.floor(w / 2);
  return xs.map((_, i) => {
    const win = xs.slice(Math.max(0, i - h), i + h + 1);
    return win.reduce((a, b) => a + b, 0) / win.length;
  });
}

/** The loss plot's spec: losses above (ℓ⁺ smoothed, dev loss), the dev metric below (zero-shot and best). */
export function runPlotSpec(metrics: Record<string, unknown>[], s: CardSummary, title: string): VegaLiteSpec {
  const train = trainLossesOf(metrics);
  const smooth = movingAverage(
    train.map((m) => m.loss),
    Math.max(1, Math.round(train.length / 20)),
  );
  const losses = [
    ...train.map((m, i) => ({ series: 'train loss ℓ⁺, smoothed', step: m.step + 1, value: smooth[i]! })),
    ...metrics
      .filter((m) => typeof m.devLoss === 'number')
      .map((m) => ({ series: 'dev loss', step: (m.step as number) + 1, value: m.devLoss as number })),
  ];
  if (!s.task)
    losses.push({ series: 'held-out loss', step: 0, value: s.initialLoss }, { series: 'held-out loss', step: s.steps, value: s.finalLoss });
  const base = { width: 760, height: 300 } as const;
  const panels: object[] = [
    {
      ...base,
      data: { values: losses },
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'value', type: 'quantitative', title: 'loss', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-right', fillColor: 'white' } },
      },
    },
  ];
  if (s.task)
    panels.push({
      ...base,
      height: 140,
      data: {
        values: [
          { what: 'zero-shot dev', step: 0, value: s.zeroShotDev },
          { what: 'dev, best weights', step: s.bestStep, value: s.devBest },
          { what: 'test, best weights', step: s.bestStep, value: s.test },
        ].filter((p) => typeof p.value === 'number'),
      },
      mark: { type: 'point', filled: true, size: 90 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step', scale: { domain: [0, s.steps] } },
        y: { field: 'value', type: 'quantitative', title: s.metric, scale: { zero: false } },
        shape: { field: 'what', type: 'nominal', title: null },
        color: { field: 'what', type: 'nominal', title: null },
      },
    });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    padding: 12,
    vconcat: panels,
    resolve: { scale: { color: 'independent', shape: 'independent' } },
  } as VegaLiteSpec;
}

/** loss.svg and loss.png in the run folder, from its metrics.jsonl and summary. */
export async function plotRun(runDir: string, summary?: CardSummary): Promise<string[]> {
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(metricsFile)) throw new ZoError(`${runDir}: not a run folder (no metrics.jsonl)`);
  const s = summary ?? readRunJson<CardSummary>(path.join(runDir, 'summary.json'), 'the run summary (is the run finished?)');
  const spec = readRunJson<{ model: string; task?: string; taskFile?: string; textFile?: string }>(
    path.join(runDir, 'spec.json'),
    'the run spec',
  );
  const on = spec.task ?? path.basename(spec.taskFile ?? spec.textFile ?? '');
  const title = `${s.optimizer} on ${path.basename(spec.model)}, ${on} (ℓ⁺: a moving average over 5% of the logged steps)`;
  const svg = path.join(runDir, 'loss.svg');
  const png = path.join(runDir, 'loss.png');
  await renderChart(runPlotSpec(readMetrics(metricsFile), s, title), { svg, png, scale: 2 });
  return [svg, png];
}
