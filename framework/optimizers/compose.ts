import type { z } from 'zod';
import type { ParamStore } from '../core/params.js';
import type { GradientEstimator, Part } from './estimators.js';
import type { Optimizer, OptimizerState } from './optimizer.js';
import type { UpdateTransform } from './transforms.js';
import { applyUpdate, type Update } from './update.js';

/** An optimizer's parts for given hyperparameters: its estimator, then its transforms in order. */
export type Parts = readonly [GradientEstimator, ...UpdateTransform[]];

export interface Composition<H extends { lr: number }> {
  readonly name: string;
  /** One line for `zo optimizers` and --help. */
  readonly summary: string;
  /** zod schema of the hyperparameters, with defaults; strict, so a typo is an error. */
  readonly hyperparameters: z.ZodType<H>;
  parts(h: H): Parts;
}

/**
 * An optimizer from parts, optax's `chain`: each step runs the estimator, passes its update through the
 * transforms, and writes the result into θ block by block. State is the union of the parts' slots and
 * scalars; memory and forward passes are their sums.
 */
export function compose<H extends { lr: number }>(c: Composition<H>): Optimizer<H> {
  const sum = (h: H, f: (p: Part) => number | undefined) => c.parts(h).reduce((n, p) => n + (f(p) ?? 0), 0);
  const estimator = c.parts(c.hyperparameters.parse({}))[0];
  return {
    name: c.name,
    summary: c.summary,
    hyperparameters: c.hyperparameters,
    firstOrder: estimator.firstOrder ?? false,
    scalarProbes: estimator.scalarProbes ?? false,
    memoryFactor: (h) => sum(h, (p) => p.memoryFactor),
    forwardPasses: (h) => sum(h, (p) => p.forwardPasses),
    probes: (h) => c.parts(h)[0].probes ?? 1,
    init: (params, h) => initState(params, c.parts(h)),
    async step(ctx, state, h) {
      const [estimator, ...transforms] = c.parts(h);
      const estimate = await estimator.estimate(ctx, state);
      let u: Update = estimate;
      for (const t of transforms) u = await t.update(u, ctx, state);
      applyUpdate(ctx.params, u, estimate.stats);
      return { loss: estimate.loss, projectedGrad: estimate.projectedGrad };
    },
  };
}

function initState(params: ParamStore, parts: Parts): OptimizerState {
  const state: OptimizerState = { slots: new Map(), scalars: {} };
  for (const p of parts) {
    const s = p.init?.(params);
    for (const [k, v] of s?.slots ?? []) state.slots.set(k, v);
    Object.assign(state.scalars, s?.scalars);
  }
  return state;
}
