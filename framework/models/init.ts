import { ParamStore } from '../core/params.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import type { BaseConfig, Family } from './family.js';

/**
 * A fresh θ for `config`, initialised as the family says with N(0, std²) for weight matrices
 * (HF's initializer_range, 0.02), deterministic in `seed`.
 */
export function initParams<C extends BaseConfig>(family: Family<C>, config: C, seed: number, std = 0.02): ParamStore {
  return new ParamStore(family.params(config), (spec) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const how = family.init(config, spec.name);
    if (how === 'ones') return new Float32Array(n).fill(1);
    if (how === 'zeros') return new Float32Array(n);
    const v = fillGaussian(new Float32Array(n), keyOf(seed, hashName(spec.name)));
    for (let i = 0; i < n; i++) v[i]! *= std;
    return v;
  });
}

/** FNV-1a: a block's noise is keyed by its name, so adding a block never shifts another's values. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
