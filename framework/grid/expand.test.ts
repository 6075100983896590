import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../core/paths.js';
import { canonicalJson, cellHash, expandConfigs, mainCells, methodLabel, pilotCells, runInput, type Cell } from './expand.js';
import { loadGrid, parseGrid } from './file.js';

const MINIMAL = `
models: [models/tiny-llama-s, models/tiny-qwen2]   # HF folders
tasks: [tiny-copa, tiny-sentiment]                 # names, or task files
optimizers:                                        # name -> lists of hyperparameter values (the grid)
  mezo: {lr: [1.0e-4, 3.0e-4]}
  zo-ft: {lr: [1.0e-4, 3.0e-4]}
seeds: [0, 1, 2]
steps: 1000
`;

const cellsOf = (yaml: string): Cell[] => {
  const grid = parseGrid(YAML.parse(yaml), 'g.yaml');
  return mainCells(grid, expandConfigs(grid, 'g.yaml'));
};

describe('grid files', () => {
  test("the issue's minimal form expands to models × tasks × methods × LRs × seeds, deterministically", () => {
    const cells = cellsOf(MINIMAL);
    expect(cells).toHaveLength(2 * 2 * 2 * 2 * 3);
    expect(new Set(cells.map((c) => c.hash)).size).toBe(cells.length);
    // The file's order: model slowest, then task, method, LR, seed fastest.
    expect(cells.slice(0, 4).map((c) => [c.model, c.task, c.method, c.hyperparameters.lr, c.seed])).toEqual([
      ['models/tiny-llama-s', 'tiny-copa', 'mezo', 1e-4, 0],
      ['models/tiny-llama-s', 'tiny-copa', 'mezo', 1e-4, 1],
      ['models/tiny-llama-s', 'tiny-copa', 'mezo', 1e-4, 2],
      ['models/tiny-llama-s', 'tiny-copa', 'mezo', 3e-4, 0],
    ]);
    expect(cellsOf(MINIMAL).map((c) => c.hash)).toEqual(cells.map((c) => c.hash));
    // Complete: the optimizer's defaults are filled in, and the run's (evalEvery = steps / 5).
    expect(cells[0]).toMatchObject({ hyperparameters: { lr: 1e-4, eps: 1e-3, q: 1 }, batchSize: 16, evalEvery: 200, noise: 'ziggurat' });
  });

  test("a cell's hash is SHA-256 over its canonical identity: key order and defaults written out do not change it", () => {
    const [c] = cellsOf(MINIMAL);
    const { hash, stage, ...id } = c!;
    expect(stage).toBe('main');
    expect(hash).toBe(cellHash(id));
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: undefined } })).toBe('{"a":{"d":[1,{"e":3,"f":2}]},"b":1}');
    const explicit = cellsOf(
      MINIMAL.replace('mezo: {lr: [1.0e-4, 3.0e-4]}', 'mezo: {eps: 1.0e-3, lr: [1.0e-4, 3.0e-4]}').replace(
        'steps: 1000',
        'steps: 1000\nbatchSize: 16',
      ),
    );
    expect(explicit.map((x) => x.hash)).toEqual(cellsOf(MINIMAL).map((x) => x.hash));
    const other = cellsOf(MINIMAL.replace('1.0e-4, 3.0e-4]}\n  zo-ft', '2.0e-4, 3.0e-4]}\n  zo-ft'));
    expect(other[0]!.hash).not.toBe(c!.hash);
    expect(other[3]!.hash).toBe(cellsOf(MINIMAL)[3]!.hash); // lr 3e-4 cells are the same cells
  });

  test("the grid's settings reach every cell and its run: batch size, cadence, split sizes, length, noise", () => {
    const cells = cellsOf(
      MINIMAL.replace(
        'steps: 1000',
        'steps: 1000\nbatchSize: 8\nevalEvery: 50\ntrainSize: 40\ntestSize: 30\nmaxLen: 128\nnoise: exact\ntrainSetSeed: 3',
      ),
    );
    const settings = { batchSize: 8, evalEvery: 50, sizes: { train: 40, test: 30 }, maxLen: 128, noise: 'exact', trainSetSeed: 3 };
    expect(cells[0]).toMatchObject(settings);
    expect(runInput(cells[0]!, { threads: 2 })).toMatchObject({ ...settings, threads: 2 });
  });

  test('overrides apply per model, task or method; the pilot runs every combination on its seeds', () => {
    const yaml = `${MINIMAL}
overrides:
  - task: tiny-sentiment
    optimizer: mezo
    steps: 500
    optimizers: {mezo: {lr: [1.0e-5]}}
pilot: {seeds: [0], steps: 200}
`;
    const grid = parseGrid(YAML.parse(yaml), 'g.yaml');
    const configs = expandConfigs(grid, 'g.yaml');
    const sentimentMezo = configs.filter((c) => c.task === 'tiny-sentiment' && c.method === 'mezo');
    expect(sentimentMezo.map((c) => [c.settings.steps, c.combos.map((h) => h.lr)])).toEqual([
      [500, [1e-5]],
      [500, [1e-5]],
    ]);
    const pilot = pilotCells(grid, configs);
    // Configs with one combination need no pilot: 2 models × (copa mezo, copa zo-ft, sentiment zo-ft) × 2 LRs.
    expect(pilot).toHaveLength(2 * 3 * 2);
    expect(pilot.every((c) => c.stage === 'pilot' && c.seed === 0 && c.steps === 200 && c.evalEvery === 40)).toBe(true);
    // The main stage: the single-combination configs now, the others once their pilot has chosen.
    expect(mainCells(grid, configs, () => undefined)).toHaveLength(2 * 1 * 3);
    const chosen = mainCells(grid, configs, (_c, p) => p.at(-1)!.hyperparameters);
    expect(chosen).toHaveLength(2 * 4 * 3);
    expect(chosen.filter((c) => c.method === 'zo-ft').every((c) => c.hyperparameters.lr === 3e-4)).toBe(true);
  });

  test('a bad grid file is one line naming the file and the field', () => {
    const bad = (yaml: string) => () => cellsOf(yaml);
    expect(bad(MINIMAL.replace('steps: 1000', 'steps: 10.5'))).toThrow(/^g\.yaml: steps: steps must be a whole number$/);
    expect(bad(MINIMAL + 'stepz: 3\n')).toThrow(/^g\.yaml: \(grid\): unknown field\(s\) stepz$/);
    // An override naming what the grid does not list would match no cell.
    expect(bad(MINIMAL + 'overrides:\n  - {optimizer: nope, steps: 5}\n')).toThrow(
      /^g\.yaml: overrides\.0\.optimizer: "nope" is not one of the grid's optimizers \(mezo, zo-ft\)$/,
    );
    expect(bad(MINIMAL + 'overrides:\n  - {task: tiny-cpoa, steps: 5}\n')).toThrow(
      /overrides\.0\.task: "tiny-cpoa" is not one of the grid's tasks/,
    );
    expect(bad(MINIMAL + 'overrides:\n  - {model: [models/tiny-llama-s, tiny-opt], steps: 5}\n')).toThrow(
      /overrides\.0\.model: "tiny-opt" is not one of the grid's models/,
    );
    expect(bad(MINIMAL + 'overrides:\n  - {optimizers: {hizoo: {lr: [1.0e-3]}}}\n')).toThrow(
      /overrides\.0\.optimizers\.hizoo: not one of the grid's optimizers/,
    );
    expect(bad(MINIMAL.replace('seeds: [0, 1, 2]', 'seeds: [0, 0]'))).toThrow(/seeds: 0 appears twice/);
    expect(bad(MINIMAL.replace('[1.0e-4, 3.0e-4]}\n  zo-ft', '[1.0e-4, 1.0e-4]}\n  zo-ft'))).toThrow(
      /optimizers\.mezo\.lr: a value appears twice/,
    );
    expect(bad(MINIMAL.replace('tiny-copa, tiny-sentiment', 'tiny-copa, tiny-copa'))).toThrow(/^g\.yaml: tasks: "tiny-copa" appears twice/);
    expect(bad(MINIMAL.replace('mezo: {lr', 'mezzo: {lr'))).toThrow(/^g\.yaml: optimizers\.mezzo: unknown optimizer "mezzo"/);
    expect(bad(MINIMAL.replace('mezo: {lr: [1.0e-4', 'mezo: {lr: [-1'))).toThrow(
      /^g\.yaml: optimizers\.mezo \(models\/tiny-llama-s, tiny-copa\): mezo: hyperparameter lr/,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-grid-file-'));
    expect(() => loadGrid(path.join(dir, 'none.yaml'))).toThrow(/none\.yaml: no such grid file/);
    fs.writeFileSync(path.join(dir, 'torn.yaml'), 'models: [a\n');
    expect(() => loadGrid(path.join(dir, 'torn.yaml'))).toThrow(/torn\.yaml: cannot parse/);
    fs.rmSync(dir, { recursive: true });
  });

  test('experiments/paper-peft.yaml: the same pairs in LoRA and prefix modes, at MeZO’s LoRA and prefix LRs', () => {
    const file = path.join(packageRoot(), 'experiments', 'paper-peft.yaml');
    const grid = loadGrid(file);
    const cells = mainCells(grid, expandConfigs(grid, file));
    // 4 models × 7 tasks × 4 methods × 2 modes × 2 LRs.
    expect(cells).toHaveLength(4 * 7 * 4 * 2 * 2);
    const grids = (peft: string) =>
      new Set(cells.filter((c) => c.peft === peft).map((c) => `${c.hyperparameters.lr}/${c.hyperparameters.eps}`));
    expect(grids('lora')).toEqual(new Set([`${1e-4}/${1e-2}`, `${5e-5}/${1e-2}`]));
    expect(grids('prefix')).toEqual(new Set([`${1e-2}/${1e-1}`, `${1e-3}/${1e-1}`]));
  });

  test("experiments/paper.yaml is the paper's grid: 4 models × 7 tasks × the five ZO methods (and FO-Adam as a reference)", () => {
    const file = path.join(packageRoot(), 'experiments', 'paper.yaml');
    const grid = loadGrid(file);
    const cells = mainCells(grid, expandConfigs(grid, file));
    const models = ['Llama-3.2-1B', 'Llama-3.1-8B', 'Qwen2.5-14B', 'opt-30b'];
    const tasks = ['copa', 'sst2', 'cb', 'squad', 'wsc', 'boolq', 'drop'];
    const zo = ['mezo', 'zo-adam', 'hizoo', 'lozo', 'zo-ft'];
    expect(new Set(cells.map((c) => c.model))).toEqual(new Set(models));
    expect(new Set(cells.map((c) => c.task))).toEqual(new Set(tasks));
    expect(new Set(cells.map((c) => c.method))).toEqual(new Set([...zo, 'fo-adam']));
    for (const m of models)
      for (const t of tasks)
        for (const o of zo) {
          const here = cells.filter((c) => c.model === m && c.task === t && c.method === o);
          expect(here.length).toBeGreaterThanOrEqual(2); // an LR grid for every ZO method in every pair
          expect(here.every((c) => c.steps === 20000 && c.evalEvery === 2000 && c.batchSize === 16)).toBe(true);
        }
    // WSC's MeZO LRs are MeZO's smaller ones.
    expect(cells.filter((c) => c.task === 'wsc' && c.method === 'mezo').map((c) => c.hyperparameters.lr)).toEqual([
      1e-7, 1e-8, 1e-7, 1e-8, 1e-7, 1e-8, 1e-7, 1e-8,
    ]);
  });
});

describe('the peft axis', () => {
  const PEFT = `${MINIMAL}peft: [full, lora]
lora: {r: 4}
overrides:
  - peft: lora
    optimizers:
      mezo: {lr: [1.0e-4, 5.0e-5], eps: 1.0e-2}
`;

  test('full cells keep the hashes they had without the axis; LoRA cells are methods of their own with their own LR lists', () => {
    const plain = cellsOf(MINIMAL);
    const both = cellsOf(PEFT);
    const full = both.filter((c) => c.peft === undefined);
    expect(full.map((c) => c.hash)).toEqual(plain.map((c) => c.hash));
    const lora = both.filter((c) => c.peft === 'lora');
    expect(lora).toHaveLength(plain.length);
    expect(new Set(both.map((c) => c.hash)).size).toBe(both.length);
    const mezo = lora.filter((c) => c.method === 'mezo');
    expect([...new Set(mezo.map((c) => c.hyperparameters.lr))]).toEqual([1e-4, 5e-5]);
    expect(mezo.every((c) => c.hyperparameters.eps === 1e-2)).toBe(true);
    // zo-ft is not overridden: its LoRA cells run its full-FT LRs.
    expect([...new Set(lora.filter((c) => c.method === 'zo-ft').map((c) => c.hyperparameters.lr))]).toEqual([1e-4, 3e-4]);
    // MeZO's defaults fill what the file leaves out, and the run gets them.
    expect(mezo[0]).toMatchObject({ peft: 'lora', lora: { r: 4, alpha: 16, targets: ['q_proj', 'v_proj'] } });
    expect(runInput(mezo[0]!, {})).toMatchObject({ peft: 'lora', lora: { r: 4, alpha: 16, targets: ['q_proj', 'v_proj'] } });
    expect(runInput(full[0]!, {}).peft).toBeUndefined();
  });

  test('prefix cells: their own LR lists, MeZO’s 5 slots unless the file says, and a label of their own', () => {
    const cells = cellsOf(`${MINIMAL}peft: [full, lora, prefix]
prefix: {tokens: 3}
overrides:
  - peft: prefix
    optimizers:
      mezo: {lr: [1.0e-2, 1.0e-3], eps: 1.0e-1}
`);
    const plain = cellsOf(MINIMAL);
    expect(cells.filter((c) => c.peft === undefined).map((c) => c.hash)).toEqual(plain.map((c) => c.hash));
    const loraOnly = cellsOf(`${MINIMAL}peft: [full, lora]\n`).filter((c) => c.peft === 'lora');
    expect(cells.filter((c) => c.peft === 'lora').map((c) => c.hash)).toEqual(loraOnly.map((c) => c.hash));
    // Pinned: the first full and LoRA cells' hashes as zo computed them before prefix existed (8834be6).
    expect([plain[0]!.hash, loraOnly[0]!.hash]).toEqual(['66e1672184933bb3', '9362f97a9a31f00e']);
    const prefix = cells.filter((c) => c.peft === 'prefix');
    expect(prefix).toHaveLength(plain.length);
    const mezo = prefix.filter((c) => c.method === 'mezo');
    expect([...new Set(mezo.map((c) => c.hyperparameters.lr))]).toEqual([1e-2, 1e-3]);
    expect(mezo.every((c) => c.hyperparameters.eps === 1e-1)).toBe(true);
    expect(runInput(mezo[0]!, {})).toMatchObject({ peft: 'prefix', prefix: { tokens: 3 } });
    expect(methodLabel(mezo[0]!)).toBe('mezo+prefix');
    expect(cellsOf(`${MINIMAL}peft: [prefix]\n`)[0]).toMatchObject({ peft: 'prefix', prefix: { tokens: 5 } });
  });

  test('a pilot chooses each peft mode its own LR', () => {
    const grid = parseGrid(YAML.parse(`${PEFT}pilot: {seeds: [0]}\n`), 'g.yaml');
    const configs = expandConfigs(grid, 'g.yaml');
    const seen: string[] = [];
    mainCells(grid, configs, (c, pilot) => {
      seen.push(`${c.peft} ${c.method} ${pilot.length}`);
      expect(pilot.every((p) => (p.peft ?? 'full') === c.peft && p.method === c.method)).toBe(true);
      return pilot[0]!.hyperparameters;
    });
    expect(seen.slice(0, 4)).toEqual(['full mezo 2', 'full zo-ft 2', 'lora mezo 2', 'lora zo-ft 2']);
  });
});
