import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZoError } from '../core/errors.js';
import { type HeatCell, heatmapSpec, lossCurveSpec, readMetrics, renderChart, type VegaLiteSpec } from './plot.js';

/** Width and height from the IHDR chunk, after checking the 8-byte PNG signature. */
function pngSize(buf: Buffer): { width: number; height: number } {
  expect([...buf.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(buf.toString('ascii', 12, 16)).toBe('IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** The <path> elements inside each line-mark group of a vega SVG (vega draws one group per series). */
function linePaths(svg: string): number {
  const groups = svg.match(/<g class="mark-line role-mark[^"]*"[^>]*>.*?<\/g>/g) ?? [];
  return groups.reduce((n, g) => n + (g.match(/<path /g)?.length ?? 0), 0);
}

const curve = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ step: i * 10, value: f(i) }));

describe('plots', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zo-plots-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a loss curve renders to SVG and PNG with its title and one line per series', async () => {
    const spec = lossCurveSpec(
      [
        { name: 'train', points: curve(50, (i) => 3 * Math.exp(-i / 15) + 0.5) },
        { name: 'validation', points: curve(10, (i) => 3.2 * Math.exp(-i / 4) + 0.7).map((p) => ({ ...p, step: p.step * 5 })) },
      ],
      { title: 'MeZO on SST-2: loss', logY: true },
    );
    const svgFile = join(dir, 'loss.svg');
    const pngFile = join(dir, 'sub', 'loss.png');
    await renderChart(spec, { svg: svgFile, png: pngFile });

    const svg = readFileSync(svgFile, 'utf8');
    expect(svg).toContain('MeZO on SST-2: loss');
    expect(svg).toContain('validation'); // legend entry
    expect(linePaths(svg)).toBe(2);

    const { width, height } = pngSize(readFileSync(pngFile));
    expect(width).toBeGreaterThanOrEqual(780);
    expect(width).toBeLessThanOrEqual(820);
    expect(height).toBeGreaterThanOrEqual(430);
    expect(height).toBeLessThanOrEqual(470);

    expect(readdirSync(dir).sort()).toEqual(['loss.svg', 'sub']);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['loss.png']);
  });

  test('a single series has no legend, and scale multiplies the PNG size', async () => {
    const spec = lossCurveSpec([{ name: 'only', points: curve(5, (i) => 5 - i) }], { title: 'one line' });
    const a = join(dir, 'one1.png');
    const b = join(dir, 'one2.png');
    await renderChart(spec, { png: a });
    await renderChart(spec, { png: b, scale: 2 });
    const s1 = pngSize(readFileSync(a));
    const s2 = pngSize(readFileSync(b));
    expect(Math.abs(s2.width - 2 * s1.width)).toBeLessThanOrEqual(1);
    expect(Math.abs(s2.height - 2 * s1.height)).toBeLessThanOrEqual(1);

    const svg = join(dir, 'one.svg');
    await renderChart(spec, { svg });
    expect(readFileSync(svg, 'utf8')).not.toContain('role-legend');
  });

  test('a heatmap prints a value in every cell', async () => {
    const opts = ['MeZO', 'ZO-Adam', 'HiZOO'];
    const cells: HeatCell[] = opts.flatMap((r, i) =>
      opts.filter((c) => c !== r).map((c, j) => ({ row: r, col: c, value: (i + j + 1) / 5 })),
    );
    cells.push({ row: 'MeZO', col: 'MeZO', value: Number.NaN, label: '—' });
    const svgFile = join(dir, 'win.svg');
    const pngFile = join(dir, 'win.png');
    await renderChart(heatmapSpec(cells, { title: 'Pairwise win rate', rowTitle: 'optimizer', colTitle: 'vs' }), {
      svg: svgFile,
      png: pngFile,
    });
    const svg = readFileSync(svgFile, 'utf8');
    expect(svg).toContain('Pairwise win rate');
    const rects = svg.match(/<g class="mark-rect role-mark[^"]*"[^>]*>.*?<\/g>/)?.[0] ?? '';
    expect(rects.match(/<path /g)?.length).toBe(cells.length - 1); // the NaN cell has a label but no colour
    for (const c of cells) expect(svg).toContain(`>${c.label ?? c.value.toFixed(2)}</text>`);
    const { width, height } = pngSize(readFileSync(pngFile));
    expect(width).toBeGreaterThan(150);
    expect(height).toBeGreaterThan(100);
  });

  test('a bad spec throws a ZoError and writes nothing', async () => {
    const bad = join(dir, 'bad');
    const spec = { data: { values: [] }, mark: 'no-such-mark' } as unknown as VegaLiteSpec;
    await expect(renderChart(spec, { svg: join(bad, 'x.svg'), png: join(bad, 'x.png') })).rejects.toThrow(ZoError);
    expect(readdirSync(dir)).not.toContain('bad');
    await expect(renderChart(lossCurveSpec([], { title: 't' }), {})).rejects.toThrow(ZoError);
  });

  test('readMetrics reads JSON lines and names the bad line', () => {
    const good = join(dir, 'metrics.jsonl');
    writeFileSync(good, '{"step":0,"loss":2.5}\n\n{"step":10,"loss":2.1}\n');
    expect(readMetrics(good)).toEqual([
      { step: 0, loss: 2.5 },
      { step: 10, loss: 2.1 },
    ]);

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"step":0}\n{"step":1,\n');
    expect(() => readMetrics(bad)).toThrow(ZoError);
    expect(() => readMetrics(bad)).toThrow(`${bad}:2: bad JSON`);

    writeFileSync(bad, '{"step":0}\n[1,2]\n');
    expect(() => readMetrics(bad)).toThrow(`${bad}:2: expected a JSON object`);
    expect(() => readMetrics(join(dir, 'missing.jsonl'))).toThrow(ZoError);
  });
});
