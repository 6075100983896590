import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type Config, type TopLevelSpec } from 'vega-lite';
import { ZoError } from '../core/errors.js';

export type VegaLiteSpec = TopLevelSpec;

export interface RenderOutput {
  svg?: string;
  png?: string;
  /** PNG zoom factor (2 gives a sharper image at twice the pixel size). */
  scale?: number;
}

// Shared look: larger type than vega's defaults so charts stay legible when shrunk into a report.
const CONFIG: Config = {
  font: 'sans-serif',
  title: { fontSize: 16, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', gridOpacity: 0.6 },
  legend: { labelFontSize: 12, titleFontSize: 12, symbolStrokeWidth: 3, labelLimit: 240 },
  view: { stroke: null },
};

// resvg draws no text without a font, and its system-font default maps `sans-serif` to whatever it
// finds first (a serif here). DejaVu ships with the Debian image (fonts-dejavu-core), so we load it by
// path; elsewhere we fall back to system fonts, and with none at all the PNG just lacks text.
const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf',
  '/Library/Fonts/Arial.ttf',
  'C:\\Windows\\Fonts\\arial.ttf',
];

let fontOptions: ResvgRenderOptions['font'] | undefined;

/** The resvg font options: DejaVu Sans loaded by path when present, otherwise the system fonts. */
export function resvgFontOptions(): NonNullable<ResvgRenderOptions['font']> {
  if (fontOptions) return fontOptions;
  const fontFiles = FONT_CANDIDATES.filter((f) => existsSync(f));
  if (fontFiles.length === 0) {
    fontOptions = { loadSystemFonts: true };
  } else {
    const family = fontFiles[0].includes('DejaVu') ? 'DejaVu Sans' : 'Arial';
    // Skipping the system scan keeps rendering fast and the output the same on every machine.
    fontOptions = { loadSystemFonts: false, fontFiles, defaultFontFamily: family, sansSerifFamily: family };
  }
  return fontOptions;
}

/** Vega-lite spec → SVG string. Throws a ZoError on a spec vega-lite or vega rejects. */
export async function toSvg(spec: VegaLiteSpec): Promise<string> {
  let view: vega.View | undefined;
  try {
    const compiled = compile(spec, { config: CONFIG }).spec;
    view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
    return await view.toSVG();
  } catch (e) {
    throw new ZoError(`cannot render chart: ${(e as Error).message}`);
  } finally {
    view?.finalize();
  }
}

/** SVG string → PNG bytes, drawn with resvg. */
export function svgToPng(svg: string, scale = 1): Buffer {
  if (!(scale > 0)) throw new ZoError(`chart scale must be > 0, got ${scale}`);
  const resvg = new Resvg(svg, { font: resvgFontOptions(), fitTo: { mode: 'zoom', value: scale } });
  return resvg.render().asPng();
}

/**
 * Compiles `spec` and writes the SVG and/or PNG. Both are rendered fully in memory, written to temp
 * files, then renamed, so a reader never sees a half-written chart and an error leaves nothing behind.
 */
export async function renderChart(spec: VegaLiteSpec, out: RenderOutput): Promise<void> {
  if (!out.svg && !out.png) throw new ZoError('renderChart: give an svg and/or png output path');
  const svg = await toSvg(spec);
  const files: [string, string | Buffer][] = [];
  if (out.svg) files.push([out.svg, svg]);
  if (out.png) files.push([out.png, svgToPng(svg, out.scale ?? 1)]);

  const tmps: string[] = [];
  try {
    for (const [path, data] of files) {
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      tmps.push(tmp);
      writeFileSync(tmp, data);
    }
    files.forEach(([path], i) => renameSync(tmps[i], path));
  } finally {
    for (const tmp of tmps) rmSync(tmp, { force: true });
  }
}

export interface Series {
  name: string;
  points: { step: number; value: number }[];
}

export interface LossCurveOptions {
  title: string;
  yTitle?: string;
  xTitle?: string;
  logY?: boolean;
}

/** A multi-series line chart (one line per series), 800×450 overall, legend only with 2+ series. */
export function lossCurveSpec(series: Series[], opts: LossCurveOptions): VegaLiteSpec {
  const values = series.flatMap((s) =>
    s.points
      // Diverged runs log NaN/null, and a log axis cannot place values ≤ 0: drop those points.
      .filter((p) => Number.isFinite(p.step) && Number.isFinite(p.value) && (!opts.logY || p.value > 0))
      .map((p) => ({ series: s.name, step: p.step, value: p.value })),
  );
  const multi = series.length > 1;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: 800,
    height: 450,
    // `fit` + `padding` makes 800×450 the size of the whole image, axes and legend included.
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    data: { values },
    mark: { type: 'line', strokeWidth: 2, interpolate: 'linear' },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: opts.xTitle ?? 'step', axis: { tickMinStep: 1 } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: opts.yTitle ?? 'loss',
        scale: opts.logY ? { type: 'log' } : { zero: false },
      },
      color: {
        field: 'series',
        type: 'nominal',
        // Keep the caller's order (e.g. train before validation) rather than alphabetical.
        scale: { domain: series.map((s) => s.name) },
        legend: multi ? { title: null, orient: 'top-right', fillColor: 'white', padding: 6 } : null,
      },
      order: { field: 'step', type: 'quantitative' },
    },
  };
}

export interface HeatCell {
  row: string;
  col: string;
  value: number;
  label?: string;
}

export interface HeatmapOptions {
  title: string;
  rowTitle?: string;
  colTitle?: string;
}

/**
 * A heatmap with each cell's label (or value to 2 decimals) printed on it. Values inside [0,1] get a
 * red-blue scale centred on 0.5, the natural reading for win rates; others span their own range.
 */
export function heatmapSpec(cells: HeatCell[], opts: HeatmapOptions): VegaLiteSpec {
  const rows = [...new Set(cells.map((c) => c.row))];
  const cols = [...new Set(cells.map((c) => c.col))];
  const finite = cells.map((c) => c.value).filter(Number.isFinite);
  const rate = finite.every((v) => v >= 0 && v <= 1);
  const lo = rate ? 0 : Math.min(...finite);
  const hi = rate ? 1 : Math.max(...finite, lo + 1e-9);
  const mid = (lo + hi) / 2;
  // Dark ends of the diverging scale need white text; the pale middle needs black.
  const darkBeyond = (hi - lo) * 0.3;
  const values = cells.map((c) => ({
    row: c.row,
    col: c.col,
    value: c.value,
    label: c.label ?? (Number.isFinite(c.value) ? c.value.toFixed(2) : '–'),
  }));
  const x = { field: 'col', type: 'nominal', sort: cols, title: opts.colTitle ?? null, axis: { orient: 'top', labelAngle: 0 } } as const;
  const y = { field: 'row', type: 'nominal', sort: rows, title: opts.rowTitle ?? null } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    padding: 12,
    data: { values },
    width: { step: Math.max(64, ...cols.map((c) => c.length * 8 + 16)) },
    height: { step: 40 },
    // Cells without a finite value (e.g. the diagonal) are dropped by the colour scale; grey shows them as empty.
    view: { fill: '#eeeeee', stroke: null },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x,
          y,
          color: {
            field: 'value',
            type: 'quantitative',
            scale: { scheme: 'redblue', domain: [lo, hi], domainMid: mid },
            legend: { title: null, gradientLength: Math.max(80, rows.length * 40 - 20) },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 13 },
        encoding: {
          x,
          y,
          text: { field: 'label', type: 'nominal' },
          color: {
            condition: { test: `abs(datum.value - ${mid}) > ${darkBeyond}`, value: 'white' },
            value: 'black',
          },
        },
      },
    ],
  };
}

/** The logged ℓ⁺ of a run's steps (step from 0) among metrics.jsonl's rows; a step skipped for a non-finite loss is left out. */
export function trainLossesOf(rows: readonly Record<string, unknown>[]): { step: number; loss: number }[] {
  return rows
    .filter((l) => typeof l.loss === 'number' && Number.isFinite(l.loss) && !l.skipped)
    .map((l) => ({ step: l.step as number, loss: l.loss as number }));
}

/** Reads a metrics.jsonl: one JSON object per line, blank lines skipped. */
export function readMetrics(file: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ZoError(`cannot read metrics file ${file}: ${(e as Error).message}`);
  }
  const rows: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new ZoError(`${file}:${i + 1}: bad JSON (${(e as Error).message})`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new ZoError(`${file}:${i + 1}: expected a JSON object per line`);
    }
    rows.push(row as Record<string, unknown>);
  });
  return rows;
}
