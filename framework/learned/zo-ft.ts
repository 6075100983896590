import { z } from 'zod';
import type { Optimizer, OptimizerState, StepContext } from '../optimizers/optimizer.js';
import { compose } from '../optimizers/compose.js';
import { spsa, type BlockScales } from '../optimizers/estimators.js';
import { scaleByLearningRate } from '../optimizers/transforms.js';
import { blockStats, features, statsFromSums } from './features.js';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { blockNets, checkFinetunerFits, FINETUNER_FILES, loadFinetuner, type Finetuner } from './finetuner.js';
import { effectiveSize, normalizer } from './normalization.js';
import { pertnnForward } from './pertnn.js';

const schema = z
  .object({
    lr: z.number().positive().default(1e-6).describe('learning rate η'),
    eps: z.number().positive().default(1e-3).describe('perturbation scale ε'),
  })
  .strict();
export type ZoFtHyperparameters = z.infer<typeof schema>;

const sigmaKey = (name: string) => `sigma/${name}`;

/** Each block's σ_i for this step, from its (possibly shared) PertNN and its own features of θ and the previous step. */
export function sigmas(
  ft: Finetuner,
  ctx: Pick<StepContext, 'params'>,
  state: OptimizerState,
  stats: (block: number) => { mean: number; variance: number } = (b) => blockStats(ctx.params.get(ctx.params.names[b]!)),
): number[] {
  const { lossPlus, lossMinus } = state.scalars;
  const nets = blockNets(ft);
  return ctx.params.names.map((name, i) => {
    const x = features(stats(i), lossPlus!, lossMinus!, state.scalars[sigmaKey(name)]!, ft.manifest.featureTransform);
    return pertnnForward(nets[i]!, x).sigma;
  });
}

/**
 * The learned part of the ZO Fine-tuner: per-block SPSA scales s_i = nf·σ_i, σ_i from block i's
 * frozen PertNN, nf keeping the d̂-weighted mean square of nf·σ at 1. Its state is the history the
 * next step's features read: ℓ⁺, ℓ⁻ and each σ (at step 0: 0, 0 and 1). `batchSize` is the run's, for
 * the embedding rule.
 */
export function pertnnScales(ft: Finetuner, opts: { batchSize: number }): BlockScales {
  let sizes: number[] | undefined;
  // σ of the step in flight, from scales() to observe(): history is written only once every probe succeeded.
  let sigma: number[] = [];
  let names: readonly string[] = [];
  // Σθ and Σθ² of each block after the last update, summed in the update's own pass, and the step they
  // are θ's statistics for: that step skips its own pass over θ (bit for bit the same sums).
  // A few of θ's values, read when the sums were taken, guard against θ written in between (a script
  // that restores θ): every element moves at every step, so a changed θ shows in them.
  let summed: { step: number; sum: Float64Array; sumSq: Float64Array; blocks: number; probes: number[] } | undefined;
  const probe = (t: Float32Array) => [t[0]!, t[t.length >> 1]!, t[t.length - 1]!];
  return {
    init: (params) => {
      checkFinetunerFits(ft, params, 'zo-ft');
      return { scalars: { lossPlus: 0, lossMinus: 0, ...Object.fromEntries(params.names.map((n) => [sigmaKey(n), 1])) } };
    },
    scales(ctx, state) {
      sizes ??= ctx.params.names.map((n, i) =>
        effectiveSize(ctx.params.shape(n), ft.manifest.blocks[i]!.role, opts.batchSize, ft.manifest.normalization),
      );
      const fresh =
        summed?.step === ctx.step &&
        summed.blocks === ctx.params.names.length &&
        ctx.params.names.every((n, b) => probe(ctx.params.get(n)).every((v, k) => Object.is(v, summed!.probes[3 * b + k])))
          ? summed
          : undefined;
      sigma = fresh
        ? sigmas(ft, ctx, state, (b) => statsFromSums(fresh.sum[b]!, fresh.sumSq[b]!, ctx.params.get(ctx.params.names[b]!).length))
        : sigmas(ft, ctx, state);
      names = ctx.params.names;
      const nf = normalizer(sizes, sigma, ft.manifest.normalization);
      return sigma.map((v) => nf * v);
    },
    updated(step, b, sum, sumSq, theta) {
      if (b === 0)
        summed = { step: step + 1, sum: new Float64Array(names.length), sumSq: new Float64Array(names.length), blocks: 0, probes: [] };
      if (summed?.step !== step + 1) return;
      summed.sum[b] = sum;
      summed.sumSq[b] = sumSq;
      summed.probes.push(...probe(theta));
      summed.blocks++;
    },
    observe(state, step) {
      names.forEach((n, b) => (state.scalars[sigmaKey(n)] = sigma[b]!));
      state.scalars.lossPlus = step.lossPlus[0]!;
      state.scalars.lossMinus = step.lossMinus[0]!;
    },
  };
}

/**
 * The ZO Fine-tuner at deployment (docs/methods/zo-finetuner.md): MeZO whose probe of block i is
 * scaled by nf·σ_i. θ ± ε·nf·σ_i·z_i gives g = (ℓ⁺ − ℓ⁻)/2ε (the official /20ε·10 cancels), then
 * θ_i −= η·nf·σ_i·g·z_i: no momentum, no decay. The meta-parameters make an ordinary optimizer,
 * MeZO's own parts with learned scales.
 */
export function zoFt(ft: Finetuner, opts: { batchSize: number }): Optimizer<ZoFtHyperparameters> {
  const scales = pertnnScales(ft, opts);
  return compose({
    name: 'zo-ft',
    summary: 'ZO Fine-tuner: MeZO with a learned per-block perturbation scale nf·σ_i from a frozen PertNN bank',
    hyperparameters: schema,
    parts: (h) => [spsa({ eps: h.eps, scales }), scaleByLearningRate()],
  });
}

/** Where a run's finetuner comes from: `--finetuner`, else the model folder's own (the zoo ships one per model). */
export function finetunerFor(modelDir: string, given?: string): string {
  if (given) return given;
  if (fs.existsSync(path.join(modelDir, FINETUNER_FILES.manifest))) return modelDir;
  throw new ZoError(
    `zo-ft needs a finetuner: ${modelDir} has none (${FINETUNER_FILES.manifest}); pass --finetuner PATH (zo finetuner init makes a random-init one)`,
  );
}

const unbound = () => {
  throw new ZoError('zo-ft is bound to a finetuner when a run starts: use it through zo run, startRun or zoFt(finetuner, …)');
};

/**
 * The registry's zo-ft: the learned optimizer before its meta-parameters are known. A run binds it to
 * the finetuner it names (or the model's own), which makes the ordinary optimizer `zoFt` returns.
 */
export const zoFtOptimizer: Optimizer<ZoFtHyperparameters> = {
  name: 'zo-ft',
  summary: 'ZO Fine-tuner: MeZO with a learned per-block perturbation scale nf·σ_i (--finetuner, or the model folder’s own)',
  hyperparameters: schema,
  memoryFactor: () => 0,
  forwardPasses: () => 2,
  init: unbound,
  step: unbound,
  bind: (ctx) => {
    const where = finetunerFor(ctx.modelDir, ctx.finetuner);
    const ft = loadFinetuner(where);
    checkFinetunerFits(ft, ctx.params, where);
    return { ...zoFt(ft, { batchSize: ctx.batchSize }), boundTo: path.resolve(where) };
  },
};
