/**
 * `zo bench --suite zoo`: on every zoo model, a default-noise MeZO step against two plain forwards
 * (issue #11's small-model goal: within 1.5×), and the GFLOP/s the forwards achieve against one GEMM
 * of the same FLOPs measured in the same run.
 */
import { DEFAULT_NOISE } from '../core/noise.js';
import type { Device } from '../engine/ort.js';
import { loadModel } from '../models/load.js';
import { ZOO, zooModelDir } from '../models/zoo.js';
import { benchSteps, type StepBench } from './step.js';

/** The small-model target: a default-noise MeZO step over two plain forwards. */
export const ZOO_RATIO_TARGET = 1.5;

export interface ZooRow {
  model: string;
  params: number;
  twoForwardsMs: number;
  stepMs: number;
  ratio: number;
  holds: boolean;
  flops: StepBench['flops'];
}

export async function benchZoo(
  opts: { threads?: number; device?: Device; minSeconds?: number; models?: readonly string[]; onProgress?: (m: string) => void } = {},
): Promise<{ threads: number; batch: number; seq: number; target: number; rows: ZooRow[] }> {
  const rows: ZooRow[] = [];
  let shape = { threads: 0, batch: 0, seq: 0 };
  for (const name of opts.models ?? ZOO) {
    opts.onProgress?.(`zoo bench: ${name}`);
    const dir = zooModelDir(name);
    const r = await benchSteps({
      model: loadModel(dir),
      modelDir: dir,
      optimizers: [],
      noise: DEFAULT_NOISE,
      threads: opts.threads,
      device: opts.device,
      minSeconds: opts.minSeconds,
    });
    shape = { threads: r.threads, batch: r.batch, seq: r.seq };
    const m = r.mezo[0]!;
    rows.push({
      model: name,
      params: r.model.params,
      twoForwardsMs: r.twoForwardsMs.median,
      stepMs: m.stepMs.median,
      ratio: m.ratio,
      holds: m.ratio <= ZOO_RATIO_TARGET,
      flops: r.flops,
    });
  }
  return { ...shape, target: ZOO_RATIO_TARGET, rows };
}
