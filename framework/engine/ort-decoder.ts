import ort from 'onnxruntime-node';
import { ZoError } from '../core/errors.js';
import { feedsFor, lmBatch } from './batch.js';
import { BUCKET, type Decoder } from './decoder.js';
import type { BaseConfig, Family } from './model.js';
import { MASKED } from './ops.js';
import { int64, type GraphRunner, type GraphSpec } from './ort-session.js';

/** Prompts and cache capacities are padded to a multiple of BUCKET, so a handful of graphs serve every call. */
const bucket = (n: number): number => Math.ceil(n / BUCKET) * BUCKET;

/**
 * Greedy decoding on the ort executor with a KV cache, in two graphs of the model's one definition:
 *
 * - prefill [B, S]: the prompts, right-padded to S = bucket(longest); returns the next-token logits
 *   and writes every layer's keys and values straight into the cache (zero-padded in the graph to
 *   its T slots, so the cache arrays are the graph's output buffers);
 * - decode [B, 1] against the cache of T = S + bucket(maxNew) slots: one token per row, attending to
 *   the row's filled slots (`past_mask`) and to itself. It returns the logits and the new token's
 *   keys and values, which JS writes into slot `lens[b]` of each row b: rows of different lengths
 *   each write at their own position. The same graph serves every step, and every call with the same
 *   B, prompt bucket and maxNew: two graphs per prompt bucket in all.
 *
 * The cache lives in JS Float32Arrays [B, Hkv, T, D] per layer, fed to ORT as zero-copy inputs, so no
 * step copies it. What leaves the graph per step goes into buffers allocated once: the logits [B, V]
 * and the new keys/values [B, Hkv, 1, D] per layer. For Llama-3.2-1B (16 layers, 8 KV heads of 64, V =
 * 128,256) at B = 32 that is 16.4 MB of logits and 2.1 MB of keys/values a step; the cache itself, at
 * T = 2,048 + 64, is 16 · 2 · 32 · 8 · 2,112 · 64 · 4 B = 4.4 GB.
 */
export class OrtKvDecoder implements Decoder {
  private cache?: KvCache;
  private step?: DecodeStep;
  /** Appends left before the cache is full. */
  private room = 0;

  constructor(
    private readonly exec: GraphRunner,
    private readonly padId: number,
  ) {}

  async start(prompts: readonly (readonly number[])[], maxNew: number): Promise<Float32Array> {
    const { family, config } = this.exec.model;
    const B = prompts.length;
    const longest = Math.max(...prompts.map((p) => p.length));
    if (longest + maxNew > config.maxPositions)
      throw new ZoError(`a prompt of ${longest} tokens and ${maxNew} new ones exceed the model's ${config.maxPositions} positions`);
    const S = bucket(longest);
    const T = S + bucket(maxNew);
    const spec: GraphSpec = { B, S, lastLogits: true, kv: { past: 0, slots: T } };
    const shapes = (await this.exec.session(spec)).outputMetadata.flatMap((m) =>
      m.name.startsWith('present.') && m.isTensor ? [m.shape] : [],
    );
    const [, Hkv, , D] = shapes[0] as number[];
    const cache = new KvCache(
      prompts.map((p) => p.length),
      T,
      Hkv!,
      D!,
      shapes.length / 2,
    );
    const f = feedsFor(family, config, lmBatch(prompts, this.padId, S));
    const data = {
      ids: int64(f.ids),
      positions: int64(f.positions),
      mask: new ort.Tensor('float32', f.mask, [B, 1, S, S]),
      last: int64(f.last),
      // The cache's size, which a prefill graph with symbolic sizes pads the keys and values to.
      slots: int64(Int32Array.of(T)),
    };
    const out = await this.exec.run(spec, data, cache.tensors('present'));
    this.cache = cache;
    this.step = undefined;
    this.room = maxNew;
    return out.last_logits!.data as Float32Array;
  }

  async append(tokens: Int32Array): Promise<Float32Array> {
    const cache = this.cache;
    if (!cache) throw new Error('append before start');
    if (this.room-- <= 0) throw new Error('append: more tokens than the maxNew given to start');
    this.step ??= new DecodeStep(this.exec, cache);
    const logits = await this.step.run(tokens);
    cache.write(this.step.outputs);
    return logits;
  }

  /** Row b's cached keys and values, per layer, as [len, Hkv·D] (slot-major), and Hkv: what a prefix starts from. */
  cached(b: number): { heads: number; layers: { keys: Float32Array; values: Float32Array }[] } {
    const cache = this.cache;
    if (!cache) throw new Error('cached before start');
    const { Hkv, T, D } = cache;
    const len = cache.lens[b]!;
    const rows = (all: Float32Array) => {
      const out = new Float32Array(len * Hkv * D);
      for (let h = 0; h < Hkv; h++)
        for (let t = 0; t < len; t++)
          out.set(all.subarray(((b * Hkv + h) * T + t) * D, ((b * Hkv + h) * T + t + 1) * D), (t * Hkv + h) * D);
      return out;
    };
    return { heads: Hkv, layers: cache.keys.map((k, l) => ({ keys: rows(k), values: rows(cache.values[l]!) })) };
  }

  /**
   * Bytes of the cache, and bytes a decode step writes out of the graph (the logits and the new
   * keys/values), once started.
   */
  footprint(): { cacheBytes: number; stepOutputBytes: number } | undefined {
    const c = this.cache;
    if (!c) return undefined;
    const perSlot = 2 * c.layers * c.B * c.Hkv * c.D * 4;
    return { cacheBytes: perSlot * c.T, stepOutputBytes: perSlot + c.B * this.exec.model.config.vocabSize * 4 };
  }

  async dispose(): Promise<void> {
    this.cache = undefined;
    this.step = undefined;
  }
}

/**
 * Every layer's keys and values for B rows of T slots, and which slots are filled: row b holds its
 * tokens in slots 0 … lens[b]−1; the rest are masked (the prefill leaves its padding's keys there).
 */
class KvCache {
  readonly B: number;
  readonly keys: Float32Array[] = [];
  readonly values: Float32Array[] = [];
  readonly lens: Int32Array;
  /** Additive [B, 1, 1, T]: 0 at filled slots. */
  readonly mask: Float32Array;
  /** 0/1 [B, T], for `Family.positions`. */
  private readonly attention: Uint8Array;

  constructor(
    lens: readonly number[],
    readonly T: number,
    readonly Hkv: number,
    readonly D: number,
    readonly layers: number,
  ) {
    this.B = lens.length;
    this.lens = Int32Array.from(lens);
    for (let l = 0; l < layers; l++) {
      this.keys.push(new Float32Array(this.B * Hkv * T * D));
      this.values.push(new Float32Array(this.B * Hkv * T * D));
    }
    this.mask = new Float32Array(this.B * T).fill(MASKED);
    this.attention = new Uint8Array(this.B * T);
    this.lens.forEach((n, b) => {
      this.mask.fill(0, b * T, b * T + n);
      this.attention.fill(1, b * T, b * T + n);
    });
  }

  /** The cache as zero-copy tensors named `{prefix}.{layer}.key|value`: the prefill's outputs, the decode's inputs. */
  tensors(prefix: 'present' | 'past'): Record<string, ort.Tensor> {
    const dims = [this.B, this.Hkv, this.T, this.D];
    const out: Record<string, ort.Tensor> = {};
    for (let l = 0; l < this.layers; l++) {
      out[`${prefix}.${l}.key`] = new ort.Tensor('float32', this.keys[l]!, dims);
      out[`${prefix}.${l}.value`] = new ort.Tensor('float32', this.values[l]!, dims);
    }
    return out;
  }

  /**
   * The position id of slot lens[b] of each row: the family's rule (`Family.positions`) on the row's
   * mask with that slot filled, so every row gets what the recompute path would give it.
   */
  nextPositions<C extends BaseConfig>(family: Family<C>, config: C): Int32Array {
    const { B, T, lens } = this;
    for (let b = 0; b < B; b++) this.attention[b * T + lens[b]!] = 1;
    const all = family.positions(config, this.attention, B, T);
    return Int32Array.from(lens, (n, b) => all[b * T + n]!);
  }

  /** Writes one new token's keys and values (`present.{layer}.key|value` [B, Hkv, 1, D]) into slot lens[b] of each row b. */
  write(presents: Readonly<Record<string, ort.Tensor>>): void {
    const { B, Hkv, D, T, lens } = this;
    for (let l = 0; l < this.layers; l++)
      for (const [dst, src] of [
        [this.keys[l]!, presents[`present.${l}.key`]!.data as Float32Array],
        [this.values[l]!, presents[`present.${l}.value`]!.data as Float32Array],
      ] as const)
        for (let row = 0; row < B * Hkv; row++) dst.set(src.subarray(row * D, row * D + D), (row * T + lens[Math.floor(row / Hkv)]!) * D);
    for (let b = 0; b < B; b++) this.mask[b * T + lens[b]!] = 0;
    for (let b = 0; b < B; b++) lens[b]!++;
  }
}

/**
 * The decode graph's feeds and outputs for one cache, built once: every tensor wraps a buffer that
 * the steps rewrite in place (ids, positions, the cache and its mask) or ORT writes into (outputs).
 */
class DecodeStep {
  private readonly ids: BigInt64Array;
  private readonly positions: BigInt64Array;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly logits: Float32Array;
  /** The graph's outputs: the logits [B, V] and the new token's `present.{layer}.key|value` [B, Hkv, 1, D]. */
  readonly outputs: Record<string, ort.Tensor>;

  constructor(
    private readonly exec: GraphRunner,
    private readonly cache: KvCache,
  ) {
    const { B, Hkv, D, T } = cache;
    this.ids = new BigInt64Array(B);
    this.positions = new BigInt64Array(B);
    this.feeds = {
      ids: new ort.Tensor('int64', this.ids, [B]),
      positions: new ort.Tensor('int64', this.positions, [B]),
      // A new token always sees itself; which cached slots it sees is past_mask's business.
      mask: new ort.Tensor('float32', new Float32Array(B), [B, 1, 1, 1]),
      last: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: B }, (_, b) => BigInt(b)),
        [B],
      ),
      past_mask: new ort.Tensor('float32', cache.mask, [B, 1, 1, T]),
      ...cache.tensors('past'),
    };
    const V = exec.model.config.vocabSize;
    this.logits = new Float32Array(B * V);
    this.outputs = { last_logits: new ort.Tensor('float32', this.logits, [B, V]) };
    for (let l = 0; l < cache.layers; l++)
      for (const kind of ['key', 'value'])
        this.outputs[`present.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(B * Hkv * D), [B, Hkv, 1, D]);
  }

  /** One token per row, for slot lens[b]; returns the logits in the buffer every step reuses. */
  async run(tokens: Int32Array): Promise<Float32Array> {
    const { family, config } = this.exec.model;
    const { B, T } = this.cache;
    if (tokens.length !== B) throw new Error(`append: ${tokens.length} tokens for ${B} rows`);
    const positions = this.cache.nextPositions(family, config);
    for (let b = 0; b < B; b++) {
      const id = tokens[b]!;
      if (id < 0 || id >= config.vocabSize) throw new ZoError(`token id ${id} is outside the model's vocabulary of ${config.vocabSize}`);
      this.ids[b] = BigInt(id);
      this.positions[b] = BigInt(positions[b]!);
    }
    await this.exec.run({ B, S: 1, lastLogits: true, kv: { past: T } }, this.feeds, this.outputs);
    return this.logits;
  }
}
