/**
 * Prefix tuning as a model transform (MeZO's `--prefix_tuning`, no reparameterisation): each attention
 * layer also attends to n trainable key/value slots that sit before the sequence. The slots are blocks
 * `<attention module>.prefix_keys` and `.prefix_values` [n, Hkv·D] (MeZO's names); θ, what ZO perturbs
 * and updates, is those blocks alone, and the base weights are read, never written.
 *
 * The keys are used as they are, after RoPE, like a KV cache's (and like PEFT's prefix). The sequence's
 * own tokens sit at positions n … n+S−1, as with Hugging Face PEFT: so with the real-activation init
 * the model at step 0 is exactly the base model reading the n init tokens before every sequence.
 * (MeZO's hook leaves the sequence at positions 0 … S−1; that is the one difference from it.)
 */
import { ZoError } from '../core/errors.js';
import { ParamStore, type ParamSpec } from '../core/params.js';
import { keyOf, uniformAt } from '../core/rng.js';
import type { BaseConfig, Family, Model } from '../engine/model.js';
import type { Ops, Past } from '../engine/ops.js';
import { OrtExecutor } from '../engine/ort.js';

export interface PrefixConfig {
  /** Slots per layer: MeZO's 5. */
  tokens: number;
}

export const PREFIX_DEFAULTS: PrefixConfig = { tokens: 5 };

/** A prefix config with MeZO's defaults where `partial` says nothing. */
export const completePrefix = (partial?: Partial<PrefixConfig>): PrefixConfig => ({ ...PREFIX_DEFAULTS, ...partial });

/** Where a prefix's slots come from: its KV heads (PEFT's num_attention_heads) and its blocks by name. */
export interface PrefixSource {
  heads: number;
  block: (name: string) => Float32Array;
}

/** Each layer's attention module (`model.layers.3.self_attn`, `transformer.h.3.attn`), in layer order. */
export function attentionModules(base: readonly ParamSpec[]): string[] {
  const modules: string[] = [];
  for (const s of base) {
    const m = /^(.*?\.(?:self_attn|attn))\./.exec(s.name)?.[1];
    if (m && !modules.includes(m)) modules.push(m);
  }
  return modules;
}

export const prefixBlockNames = (module: string): { keys: string; values: string } => ({
  keys: `${module}.prefix_keys`,
  values: `${module}.prefix_values`,
});

/**
 * Attention's cache hook, extended: layer l's queries also see the prefix slots, before any cached
 * past of the executor's own (a KV-cache decoder's), which still gets the layer's keys and values.
 */
function prefixed<T>(ops: Ops<T>, layers: { keys: string; values: string }[], n: number, width: number): Ops<T> {
  let layer = 0;
  const cache = (keys: T, values: T): Past<T> => {
    const inner = ops.cache?.(keys, values);
    const names = layers[layer++]!;
    const [B, Hkv, S, D] = ops.shape(keys) as [number, number, number, number];
    // A prefix's width is read from its blocks; the model's layers say what it must be.
    if (Hkv * D !== width)
      throw new ZoError(`the prefix's slots are ${width} wide, but this model's keys are ${Hkv} heads × ${D} = ${Hkv * D}: a prefix for another model`);
    const slots = (name: string) => ops.expand(ops.transpose(ops.reshape(ops.param(name), [1, n, Hkv, D]), [0, 2, 1, 3]), [B, Hkv, n, D]);
    // Every query sees every slot: a zero [B, 1, S, n], made from the mask input so that its batch and
    // sequence sizes stay those of the graph.
    const visible = ops.expand(ops.scale(ops.slice(ops.input('mask'), 3, 0, 1), 0), [B, 1, S, n]);
    const own = { keys: slots(names.keys), values: slots(names.values), mask: visible };
    if (!inner) return own;
    return {
      keys: ops.concat([own.keys, inner.keys], 2),
      values: ops.concat([own.values, inner.values], 2),
      mask: ops.concat([own.mask, inner.mask], 3),
    };
  };
  return new Proxy(ops, {
    get(target, key) {
      if (key === 'cache') return cache;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * The family with n prefix slots in every layer. The base config `c0` is kept for the base's own
 * blocks and graph; the model's config says n fewer positions, since the sequence starts at n.
 */
function prefixFamily<C extends BaseConfig>(
  base: Family<C>,
  c0: C,
  layers: { keys: string; values: string }[],
  specs: ParamSpec[],
  n: number,
  width: number,
): Family<C> {
  return {
    ...base,
    params: () => [...base.params(c0), ...specs],
    positions: (_c, attention, B, S) => Int32Array.from(base.positions(c0, attention, B, S), (p) => p + n),
    logits: (ops, _c, B, S) => base.logits(prefixed(ops, layers, n, width), c0, B, S),
  };
}

export interface PrefixModel<M extends Model> {
  /** The model with the prefix: every block (base and prefix), and a family that reads the prefix. */
  model: M;
  /** θ for the optimizer: the prefix blocks only (the same arrays as the model's). */
  trainable: ParamStore;
  modules: string[];
  tokens: number;
  heads: number;
  /** Hkv·D: the width of one slot's keys (and values). */
  width: number;
}

/** Adds n prefix slots to every attention layer, their keys and values read from `source` by name. */
export function withPrefix<M extends Model>(m: M, n: number, source: PrefixSource): PrefixModel<M> {
  const { block } = source;
  const modules = attentionModules(m.params.specs());
  if (!modules.length) throw new ZoError('--peft prefix: this model has no attention layers zo can find');
  const layers = modules.map(prefixBlockNames);
  const width = block(layers[0]!.keys).length / n;
  if (!Number.isInteger(width) || width < 1) throw new ZoError(`the prefix's keys do not hold ${n} slots`);
  // θ, and the blocks the family appends to the base's: per layer, its keys then its values.
  const specs = layers.flatMap((l) => [l.keys, l.values].map((name) => ({ name, shape: [n, width] })));
  const family = prefixFamily(m.family, m.config, layers, specs, n, width);
  const config = { ...m.config, maxPositions: m.config.maxPositions - n };
  const trainable = new ParamStore(specs, (spec) => {
    const v = block(spec.name);
    if (v.length !== n * width)
      throw new ZoError(`the prefix's ${spec.name} has ${v.length} values, but this model's layers need [${n}, ${width}]: a prefix for another model`);
    return v;
  });
  const params = new ParamStore(family.params(config), (spec) => (trainable.names.includes(spec.name) ? trainable : m.params).get(spec.name));
  return { model: { ...m, family, config, params } as M, trainable, modules, tokens: n, heads: source.heads, width };
}

/** The n random tokens whose activations start the prefix (MeZO: torch.randint over the vocabulary), keyed by the seed. */
export function prefixInitTokens(n: number, vocabSize: number, seed: number): number[] {
  const key = keyOf(seed, 0x9ef1);
  return Array.from({ length: n }, (_, i) => Math.min(vocabSize - 1, Math.floor(uniformAt(key, i) * vocabSize)));
}

/**
 * MeZO's `init_by_real_act`: every layer's keys and values when the base model reads n random tokens
 * (positions 0 … n−1, through the KV-cache prefill graph on ONNX Runtime, one thread so that the
 * init does not depend on the machine), as the source `withPrefix` reads.
 */
export async function realActivations(m: Model, n: number, seed: number): Promise<PrefixSource> {
  if (!Number.isInteger(n) || n < 1) throw new ZoError(`--prefix-tokens ${n}: must be a whole number ≥ 1`);
  if (n >= m.config.maxPositions) throw new ZoError(`--prefix-tokens ${n}: the model has only ${m.config.maxPositions} positions`);
  const modules = attentionModules(m.params.specs());
  const exec = new OrtExecutor(m, { threads: 1 });
  try {
    const decoder = exec.decoder(0);
    await decoder.start([prefixInitTokens(n, m.config.vocabSize, seed)], 0);
    const { heads, layers } = decoder.cached(0);
    if (layers.length !== modules.length)
      throw new Error(`prefix init: ${layers.length} cached layers for ${modules.length} attention modules`);
    const blocks = new Map<string, Float32Array>();
    layers.forEach((l, i) => {
      const names = prefixBlockNames(modules[i]!);
      blocks.set(names.keys, l.keys);
      blocks.set(names.values, l.values);
    });
    return { heads, block: (name) => blocks.get(name)! };
  } finally {
    await exec.dispose();
  }
}

/**
 * PEFT's `prompt_embeddings` layout [n, L·2·W], visited slot by slot: row t holds slot t's layer-0 keys,
 * layer-0 values, layer-1 keys, …, each W = Hkv·D wide (PEFT views it as [n, 2L, Hkv, D]); `at` is where
 * block `name`'s slot t starts in it.
 */
function eachEmbeddingSlot(modules: readonly string[], n: number, W: number, visit: (name: string, t: number, at: number) => void): void {
  modules.forEach((m, l) => {
    const names = prefixBlockNames(m);
    [names.keys, names.values].forEach((name, kv) => {
      for (let t = 0; t < n; t++) visit(name, t, (t * modules.length * 2 + 2 * l + kv) * W);
    });
  });
}

/** θ in PEFT's layout: the `prompt_embeddings` tensor of the prefix's blocks. */
export function promptEmbeddings(p: Pick<PrefixModel<Model>, 'modules' | 'tokens' | 'width'>, theta: { get(name: string): Float32Array }): Float32Array {
  const { modules, tokens: n, width: W } = p;
  const out = new Float32Array(n * modules.length * 2 * W);
  eachEmbeddingSlot(modules, n, W, (name, t, at) => out.set(theta.get(name).subarray(t * W, (t + 1) * W), at));
  return out;
}

/** The blocks of a `prompt_embeddings` tensor, by name: the inverse of `promptEmbeddings`. */
export function prefixBlocksOf(embeddings: Float32Array, modules: readonly string[], n: number): Map<string, Float32Array> {
  const W = embeddings.length / (n * modules.length * 2);
  const out = new Map<string, Float32Array>();
  eachEmbeddingSlot(modules, n, W, (name, t, at) => {
    if (!out.has(name)) out.set(name, new Float32Array(n * W));
    out.get(name)!.set(embeddings.subarray(at, at + W), t * W);
  });
  return out;
}
