/**
 * LoRA as a model transform: W′ = W + (α/r)·B·A for each target linear layer, inside the forward pass
 * (both executors), with A [r, in] and B [out, r] as blocks of their own. θ, what ZO perturbs and
 * updates, is the set of A and B blocks; the base weights are read, never written. Block names are
 * Hugging Face PEFT's (`base_model.model.<module>.lora_A.weight`), so saving the adapter is writing θ.
 */
import { ZoError } from '../core/errors.js';
import { ParamStore, type ParamSpec } from '../core/params.js';
import { keyOf, uniformAt } from '../core/rng.js';
import type { BaseConfig, Family, Model } from '../engine/model.js';
import type { Ops } from '../engine/ops.js';

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Module names whose `.weight` gets an adapter (matched on the last path component): MeZO's q_proj, v_proj. */
  targets: string[];
}

export const LORA_DEFAULTS: LoraConfig = { r: 8, alpha: 16, targets: ['q_proj', 'v_proj'] };

/** A LoRA config with MeZO's defaults where `partial` says nothing. */
export const completeLora = (partial?: Partial<LoraConfig>): LoraConfig => ({ ...LORA_DEFAULTS, ...partial });

/** One adapted linear layer: its base weight block and its two adapter blocks. */
export interface LoraPair {
  module: string;
  weight: string;
  a: string;
  b: string;
  rows: number;
  cols: number;
}

const PREFIX = 'base_model.model.';

/** The adapted layers of a model: every `<module>.weight` [out, in] whose last component is a target. */
export function loraPairs(base: readonly ParamSpec[], cfg: LoraConfig, family: string): LoraPair[] {
  if (family === 'gpt2') throw new ZoError('--peft lora: GPT-2 fuses q, k and v into one Conv1D (c_attn); zo adapts llama, qwen2 and opt');
  const pairs = base
    .filter((s) => s.name.endsWith('.weight') && s.shape.length === 2)
    .map((s) => ({ spec: s, module: s.name.slice(0, -'.weight'.length) }))
    .filter(({ module }) => cfg.targets.includes(module.split('.').at(-1)!))
    .map(({ spec, module }) => ({
      module,
      weight: spec.name,
      a: `${PREFIX}${module}.lora_A.weight`,
      b: `${PREFIX}${module}.lora_B.weight`,
      rows: spec.shape[0]!,
      cols: spec.shape[1]!,
    }));
  if (!pairs.length) throw new ZoError(`--lora-targets ${cfg.targets.join(',')}: no linear layer of this model has that name`);
  // Each name must match somewhere: a typo among good names would otherwise adapt fewer layers unseen.
  const found = new Set(pairs.map((p) => p.module.split('.').at(-1)!));
  const missing = cfg.targets.filter((t) => !found.has(t));
  if (missing.length)
    throw new ZoError(
      `--lora-targets: no linear layer of this model is named ${missing.join(', ')} (it has ${[...new Set(base.filter((s) => s.name.endsWith('.weight') && s.shape.length === 2).map((s) => s.name.split('.').at(-2)!))].join(', ')})`,
    );
  return pairs;
}

/** The family, with each target weight replaced by W + (α/r)·B·A wherever the model reads it. */
function loraFamily<C extends BaseConfig>(base: Family<C>, pairs: LoraPair[], cfg: LoraConfig): Family<C> {
  const byWeight = new Map(pairs.map((p) => [p.weight, p]));
  const s = cfg.alpha / cfg.r;
  const adapted = <T>(ops: Ops<T>): Ops<T> =>
    new Proxy(ops, {
      get(target, key) {
        if (key === 'param')
          return (name: string) => {
            const p = byWeight.get(name);
            const w = target.param(name);
            return p ? target.add(w, target.scale(target.matmul(target.param(p.b), target.param(p.a)), s)) : w;
          };
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  return {
    ...base,
    params: (c) => [...base.params(c), ...pairs.flatMap((p) => [{ name: p.a, shape: [cfg.r, p.cols] }, { name: p.b, shape: [p.rows, cfg.r] }])],
    logits: (ops, c, B, S) => base.logits(adapted(ops), c, B, S),
  };
}

/**
 * PEFT's initialisation: A from kaiming_uniform(a = √5), i.e. U(−1/√in, 1/√in), keyed by the seed and
 * the block; B = 0, so the adapted model starts as the base model exactly.
 */
function initA(name: string, rows: number, cols: number, seed: number): Float32Array {
  const bound = 1 / Math.sqrt(cols);
  let h = 0x811c9dc5; // FNV-1a over the whole name: every block its own key
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const key = keyOf(seed, 0x10ba, h >>> 0);
  return Float32Array.from({ length: rows * cols }, (_, i) => (2 * uniformAt(key, i) - 1) * bound);
}

export interface LoraModel<M extends Model> {
  /** The model with the adapters: every block (base and adapter), and a family that applies them. */
  model: M;
  /** θ for the optimizer: the adapter blocks only (the same arrays as the model's). */
  trainable: ParamStore;
  pairs: LoraPair[];
  config: LoraConfig;
}

/** Adds LoRA adapters to a loaded model: `adapter` fills A and B from a saved adapter instead of the init. */
export function withLora<M extends Model>(m: M, cfg: LoraConfig, seed: number, adapter?: (name: string) => Float32Array): LoraModel<M> {
  if (!Number.isInteger(cfg.r) || cfg.r < 1) throw new ZoError(`--lora-r ${cfg.r}: must be a whole number ≥ 1`);
  if (!(cfg.alpha > 0)) throw new ZoError(`--lora-alpha ${cfg.alpha}: must be > 0`);
  const pairs = loraPairs(m.params.specs(), cfg, m.family.name);
  const family = loraFamily(m.family, pairs, cfg);
  const fill = (spec: ParamSpec): Float32Array => {
    if (m.params.names.includes(spec.name)) return m.params.get(spec.name);
    if (adapter) {
      const v = adapter(spec.name);
      if (v.length !== spec.shape[0]! * spec.shape[1]!)
        throw new ZoError(`the adapter's ${spec.name} has ${v.length} values, but this model's layer needs [${spec.shape.join(', ')}]: an adapter for another model or rank`);
      return v;
    }
    const p = pairs.find((x) => x.a === spec.name);
    return p ? initA(spec.name, cfg.r, p.cols, seed) : new Float32Array(spec.shape[0]! * spec.shape[1]!);
  };
  const params = new ParamStore(family.params(m.config), fill);
  const trainable = new ParamStore(
    pairs.flatMap((p) => [
      { name: p.a, shape: params.shape(p.a) },
      { name: p.b, shape: params.shape(p.b) },
    ]),
    (spec) => params.get(spec.name),
  );
  return { model: { ...m, family, params } as M, trainable, pairs, config: cfg };
}

/** W + (α/r)·B·A for every adapted layer, in plain JS: the merged weights (zo export --merge). */
export function mergedWeight(l: LoraModel<Model>, pair: LoraPair): Float32Array {
  const { r, alpha } = l.config;
  const s = alpha / r;
  const w = l.model.params.get(pair.weight);
  const a = l.model.params.get(pair.a);
  const b = l.model.params.get(pair.b);
  const out = Float32Array.from(w);
  for (let i = 0; i < pair.rows; i++)
    for (let k = 0; k < r; k++) {
      const bik = b[i * r + k]!;
      if (bik === 0) continue;
      for (let j = 0; j < pair.cols; j++) out[i * pair.cols + j]! += s * bik * a[k * pair.cols + j]!;
    }
  return out;
}
