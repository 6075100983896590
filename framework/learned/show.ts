import type { ParamStore } from '../core/params.js';
import { BLOCK_ROLES, type BlockRole } from '../models/roles.js';
import type { VegaLiteSpec } from '../plots/plot.js';
import { blockStats, features } from './features.js';
import { blockNets, type Finetuner } from './finetuner.js';
import { effectiveSize, normalizer } from './normalization.js';
import { pertnnForward } from './pertnn.js';

/** One block's σ at a reference state, and the scale nf·σ its perturbation would get. */
export interface BlockSigma {
  name: string;
  role: BlockRole;
  sigma: number;
  scale: number;
}

/** σ at a reference state: the base model's θ, ℓ⁺ = ℓ⁻ = `loss`, and each σ at its own fixed point. */
export interface Reference {
  blocks: BlockSigma[];
  nf: number;
  loss: number;
  /** Fixed-point iterations taken (σ fed back as its own feature), at most FIXED_POINT_STEPS. */
  iterations: number;
}

/** σ_prev is a feature, so a steady state is σ = f(…, σ): iterate from σ = 1 (step 0's) until it settles. */
const FIXED_POINT_STEPS = 100;

export function referenceSigmas(ft: Finetuner, params: ParamStore, loss: number, batchSize: number): Reference {
  const stats = params.names.map((n) => blockStats(params.get(n)));
  const nets = blockNets(ft);
  let sigma = params.names.map(() => 1);
  let iterations = 0;
  for (; iterations < FIXED_POINT_STEPS; iterations++) {
    const next = sigma.map((s, i) => pertnnForward(nets[i]!, features(stats[i]!, loss, loss, s, ft.manifest.featureTransform)).sigma);
    const moved = Math.max(...next.map((v, i) => Math.abs(v - sigma[i]!) / Math.max(1e-12, Math.abs(v))));
    sigma = next;
    if (moved < 1e-9) break;
  }
  const blocks = ft.manifest.blocks;
  const sizes = params.names.map((n, i) => effectiveSize(params.shape(n), blocks[i]!.role, batchSize, ft.manifest.normalization));
  const nf = normalizer(sizes, sigma, ft.manifest.normalization);
  return {
    blocks: params.names.map((name, i) => ({ name, role: blocks[i]!.role, sigma: sigma[i]!, scale: nf * sigma[i]! })),
    nf,
    loss,
    iterations,
  };
}

/** Per role: how many blocks, and the mean, min and max of nf·σ over them. */
export function byRole(r: Reference): { role: BlockRole; blocks: number; mean: number; min: number; max: number }[] {
  return BLOCK_ROLES.flatMap((role) => {
    const s = r.blocks.filter((b) => b.role === role).map((b) => b.scale);
    return s.length
      ? [{ role, blocks: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, min: Math.min(...s), max: Math.max(...s) }]
      : [];
  });
}

/** A bar per block in model order, coloured by role: which blocks the policy perturbs more. */
export function sigmaBarSpec(r: Reference, title: string): VegaLiteSpec {
  const values = r.blocks.map((b, i) => ({ index: i, name: b.name, role: b.role, scale: b.scale }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: `nf·σ per block at θ₀ with ℓ⁺ = ℓ⁻ = ${r.loss}; nf = ${r.nf.toPrecision(4)}` },
    padding: 12,
    data: { values },
    width: Math.max(480, values.length * 6),
    height: 240,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'index', type: 'ordinal', title: 'block (model order)', axis: { labels: false, ticks: false } },
      y: { field: 'scale', type: 'quantitative', title: 'nf·σ' },
      color: { field: 'role', type: 'nominal', sort: [...BLOCK_ROLES], title: 'role' },
      tooltip: [{ field: 'name' }, { field: 'scale', format: '.4f' }],
    },
  };
}
