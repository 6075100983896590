import { z } from 'zod';
import type { Perturbation } from '../core/perturbation.js';
import { decays, emptyState, type Optimizer, type StepContext } from './optimizer.js';

/** Hyperparameters shared by the SPSA family; defaults are MeZO's OPT full-FT settings (paper.md §3.2). */
export const spsaSchema = {
  lr: z.number().positive().default(1e-6).describe('learning rate η'),
  eps: z.number().positive().default(1e-3).describe('perturbation scale ε'),
  weightDecay: z.number().nonnegative().default(0).describe('λ, applied to all but biases and norm gains'),
};

/** θ + scale·z_probe on every block: the MeZO probe. */
export function scalarProbe(ctx: StepContext, probe: number, scale: number): Perturbation {
  return new Map(ctx.params.names.map((name, b) => [name, { kind: 'scalar', scale, z: ctx.z(probe, b) }]));
}

/**
 * The two-point SPSA estimate g = (ℓ⁺ − ℓ⁻)/2ε for one probe, or (ℓ⁺ − ℓ₀)/ε one-sided; returns ℓ⁺ too,
 * which MeZO logs as the step's loss.
 */
export async function spsa(
  ctx: StepContext,
  probe: number,
  eps: number,
  l0?: number,
): Promise<{ g: number; lPlus: number; lMinus: number }> {
  const lPlus = await ctx.loss(scalarProbe(ctx, probe, eps));
  if (l0 !== undefined) return { g: (lPlus - l0) / eps, lPlus, lMinus: l0 };
  const lMinus = await ctx.loss(scalarProbe(ctx, probe, -eps));
  return { g: (lPlus - lMinus) / (2 * eps), lPlus, lMinus };
}

const schema = z
  .object({
    ...spsaSchema,
    q: z.number().int().positive().default(1).describe('probes per step (n-SPSA); their estimates are averaged'),
    oneSided: z.boolean().default(false).describe('(ℓ(θ+εz) − ℓ(θ))/ε: one extra pass instead of one per probe'),
  })
  .strict();
export type MezoHyperparameters = z.infer<typeof schema>;

/**
 * MeZO (paper.md §3.1): two-point SPSA with the seed trick, θ ← θ − η(ḡ·z + λθ) where
 * ḡ·z = (1/q)·Σ_j g_j·z_j.
 */
export const mezo: Optimizer<MezoHyperparameters> = {
  name: 'mezo',
  summary: 'MeZO: two-point SPSA (optionally one-sided or q probes) with in-place SGD, inference memory',
  hyperparameters: schema,
  memoryFactor: () => 0,
  forwardPasses: (h) => (h.oneSided ? h.q + 1 : 2 * h.q),
  probes: (h) => h.q,
  init: () => emptyState(),
  async step(ctx, _state, h) {
    const l0 = h.oneSided ? await ctx.loss() : undefined;
    const gs: number[] = [];
    let logged = NaN;
    for (let j = 0; j < h.q; j++) {
      const { g, lPlus } = await spsa(ctx, j, h.eps, l0);
      gs.push(g);
      if (j === 0) logged = lPlus;
    }
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const wd = decays(name) ? h.weightDecay : 0;
      for (let j = 0; j < h.q; j++) {
        const z = ctx.z(j, b);
        const c = (ctx.lr * gs[j]!) / h.q;
        // Decay once, from θ at the start of the step, as MeZO's single-expression update does.
        const decay = j === 0 ? ctx.lr * wd : 0;
        if (decay === 0) for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - c * z[i]!;
        else for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - c * z[i]! - decay * theta[i]!;
      }
    });
    return { loss: logged, projectedGrad: gs.reduce((a, b) => a + b, 0) / h.q };
  },
};
