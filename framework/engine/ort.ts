import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { ZoError } from '../core/errors.js';
import type { BaseConfig } from './model.js';
import { lastLogits, objective } from './objective.js';
import { feedsFor, type Batch } from './batch.js';
import type { Executor, ForwardOptions, ForwardResult, Model } from './executor.js';
import { OnnxGraph, type ElemType } from './onnx-graph.js';
import { MARKERS, NotSymbolic, TraceDims, type Markers } from './ort-dims.js';
import { OrtKvDecoder } from './ort-decoder.js';
import { int64, type GraphRunner, type GraphSpec } from './ort-session.js';
import type { InputName, Ops, Past, Shape } from './ops.js';
import { perturbationSignature, type BlockPerturbation, type Perturbation } from '../core/perturbation.js';

/** A traced value: its name in the graph, its concrete shape and element type. */
export interface Sym {
  readonly name: string;
  readonly shape: Shape;
  readonly type: ElemType;
}

const INPUT_TYPES: Record<InputName, ElemType> = {
  ids: 'int64',
  positions: 'int64',
  targets: 'int64',
  mask: 'float',
  weights: 'float',
  gold: 'int64',
  last: 'int64',
};

/**
 * Ops that record ONNX nodes instead of computing. Weights become graph inputs named by their HF
 * names, so ORT reads θ's Float32Arrays in place on every run. With `markers`, the trace is symbolic
 * (ort-dims.ts): spec.B, spec.S and the KV slots are the markers, and the graph serves every size.
 */
export class OrtTracer implements Ops<Sym> {
  readonly kind = 'ort' as const;
  readonly usedParams = new Set<string>();
  /** Multiply-adds × 2 of every MatMul and Gemm traced (elementwise work is not counted): a pass's FLOPs. */
  flops = 0;

  constructor(
    readonly g: OnnxGraph,
    private readonly spec: GraphSpec,
    private readonly paramShape: (name: string) => Shape,
    private readonly perturbed: ReadonlyMap<string, { kind: BlockPerturbation['kind']; rank?: number }> = new Map(),
    markers?: Markers,
  ) {
    const mask = () => this.input('mask').name;
    const C = spec.candidates ?? 1;
    this.dims = new TraceDims(g, markers, {
      // mask is [C·E, 1, S, S] in every graph; past_mask [C·E, 1, S, T] in a decode graph, whose
      // prefill is told T by an input of its own.
      E: () => {
        const B = g.op('Shape', [mask()], { start: 0, end: 1 });
        return C === 1 ? B : g.op('Div', [B, g.ints([C])]);
      },
      S: () => g.op('Shape', [mask()], { start: 2, end: 3 }),
      T: () => (spec.kv?.past ? g.op('Shape', [this.pastMaskInput().name], { start: 3, end: 4 }) : g.input('slots', [1], 'int64')),
    });
  }

  /** The trace's dimensions: plain numbers, or symbolic ones computed in the graph. */
  readonly dims: TraceDims;

  private readonly inputs = new Map<string, Sym>();
  /** Each layer's keys and values, in layer order, in a KV-cache graph. */
  readonly presents: { keys: Sym; values: Sym }[] = [];
  private pastMask?: Sym;

  shape(x: Sym): Shape {
    return x.shape;
  }

  /** The value traced last: a perturbed block's θ′ is computed after it (see `param`). */
  private latest?: Sym;

  private node(op: string, ins: readonly Sym[], shape: Shape, attrs = {}, type: ElemType = 'float'): Sym {
    this.latest = {
      name: this.g.op(
        op,
        ins.map((i) => i.name),
        attrs,
      ),
      shape,
      type,
    };
    return this.latest;
  }

  input(name: InputName): Sym {
    const hit = this.inputs.get(name);
    if (hit) return hit;
    const { B, S, candidates } = this.spec;
    const shape = name === 'mask' ? [B, 1, S, S] : name === 'gold' ? [B / (candidates ?? 1)] : name === 'last' ? [B] : [B * S];
    const sym = { name: this.g.input(name, this.dims.dims(shape), INPUT_TYPES[name]), shape, type: INPUT_TYPES[name] };
    this.inputs.set(name, sym);
    return sym;
  }

  private readonly paramSyms = new Map<string, Sym>();

  /**
   * θ as a graph input; for a perturbed block, θ + c·P(z) with z (or s, U, V) and c as further inputs
   * named `<block>|z`, `<block>|c`, …, so ± probes and any per-block scale reuse one graph.
   *
   * θ′ is computed at the block's first use, once the value traced before it exists. θ + c·z reads
   * graph inputs alone, so ORT may run it at any time, and it ran some blocks' early and held their θ′
   * through the pass. Here c (or U, or z for z⊙s) passes through a reshape to its own shape that reads
   * the shape of that last value: the same values, later (`zo bench --suite memory`: a MeZO run's
   * extra over inference fell from 1.74 P to 1.43–1.56 P). The last value's shape is symbolic, so ORT
   * cannot fold it to a constant; in a fixed-shape graph (a kind that does not trace symbolically) it
   * can, and there the wait may be lost. Computing θ′ afresh at each use instead (a tied embedding's
   * head) measured 1.46–1.52 P: the head, where the pass peaks, then holds it all the same.
   */
  param(name: string): Sym {
    const hit = this.paramSyms.get(name);
    if (hit) return hit;
    const shape = this.paramShape(name);
    this.usedParams.add(name);
    const theta: Sym = { name: this.g.input(name, shape), shape, type: 'float' };
    const kind = this.perturbed.get(name);
    let sym = theta;
    if (kind) {
      const inp = (suffix: string, s: Shape): Sym => ({ name: this.g.input(`${name}|${suffix}`, s), shape: s, type: 'float' });
      const after = this.latest;
      // What waits for `after`: the first input of the first block-sized node (U·Vᵀ, z⊙s, or c·z).
      let delta: Sym;
      if (kind.kind === 'lowrank') {
        const [rows, cols] = shape as [number, number];
        delta = this.matmul(this.later(inp('u', [rows, kind.rank!]), after), inp('v', [cols, kind.rank!]), true);
      } else {
        delta = inp('z', shape);
        if (kind.kind === 'elementwise') delta = this.mul(this.later(delta, after), inp('s', shape));
      }
      const c = inp('c', []);
      sym = this.add(theta, this.mul(delta, kind.kind === 'scalar' ? this.later(c, after) : c));
      // θ′'s nodes are not the pass's values: the next block waits for the pass, not for this θ′
      // (whose static shape ORT would fold to a constant, dropping the wait).
      this.latest = after;
    }
    this.paramSyms.set(name, sym);
    return sym;
  }

  /** x, as a value ORT computes only once `after` exists: Reshape(x, Concat(Shape(after)[0:0], Shape(x))). */
  private later(x: Sym, after: Sym | undefined): Sym {
    if (!after) return x;
    const none = this.g.op('Slice', [this.g.op('Shape', [after.name]), this.g.ints([0]), this.g.ints([0])]);
    const shape = this.g.op('Concat', [none, this.g.op('Shape', [x.name])], { axis: 0 });
    return { ...x, name: this.g.op('Reshape', [x.name, shape]) };
  }

  constant(values: Float32Array, shape: Shape): Sym {
    if (shape.some((n) => this.dims.symbolic(n))) throw new NotSymbolic(`a constant of shape [${shape}]`);
    return { name: this.g.constant(values, shape), shape, type: 'float' };
  }

  add(a: Sym, b: Sym): Sym {
    return this.node('Add', [a, b], broadcast(a.shape, b.shape));
  }
  sub(a: Sym, b: Sym): Sym {
    return this.node('Sub', [a, b], broadcast(a.shape, b.shape));
  }
  mul(a: Sym, b: Sym): Sym {
    return this.node('Mul', [a, b], broadcast(a.shape, b.shape));
  }
  div(a: Sym, b: Sym): Sym {
    return this.node('Div', [a, b], broadcast(a.shape, b.shape));
  }
  scale(x: Sym, s: number): Sym {
    if (s === 1) return x;
    // 1/(a size), e.g. the mean over E examples: in a symbolic graph computed from that size.
    const n = this.dims.reciprocalOf(s);
    if (n !== undefined) return this.mul(x, { name: this.dims.reciprocal(n), shape: [], type: 'float' });
    return this.mul(x, this.constant(Float32Array.of(s), []));
  }
  neg(x: Sym): Sym {
    return this.node('Neg', [x], x.shape);
  }

  matmul(a: Sym, b: Sym, transposeB = false): Sym {
    const r = b.shape.length;
    const bt = transposeB
      ? this.transpose(
          b,
          [...b.shape.keys()].map((i) => (i < r - 2 ? i : i === r - 2 ? r - 1 : r - 2)),
        )
      : b;
    const batch = broadcast(a.shape.slice(0, -2), bt.shape.slice(0, -2));
    this.flops += 2 * batch.reduce((x, y) => x * y, 1) * a.shape.at(-2)! * a.shape.at(-1)! * bt.shape.at(-1)!;
    return this.node('MatMul', [a, bt], [...batch, a.shape.at(-2)!, bt.shape.at(-1)!]);
  }

  linear(x: Sym, w: Sym, b?: Sym, layout: 'out_in' | 'in_out' = 'out_in'): Sym {
    // Gemm reads a [out, in] weight with transB=1 directly: no transposed copy of θ per run.
    const out = layout === 'out_in' ? w.shape[0]! : w.shape[1]!;
    this.flops += 2 * x.shape[0]! * x.shape[1]! * out;
    const ins = b ? [x, w, b] : [x, w];
    return this.node('Gemm', ins, [x.shape[0]!, out], { transB: layout === 'out_in' ? 1 : 0 });
  }

  gather(table: Sym, ids: Sym): Sym {
    return this.node('Gather', [table, ids], [...ids.shape, ...table.shape.slice(1)], { axis: 0 });
  }

  reshape(x: Sym, shape: Shape): Sym {
    return { name: this.g.op('Reshape', [x.name, this.dims.value(shape)]), shape, type: x.type };
  }
  transpose(x: Sym, perm: readonly number[]): Sym {
    return this.node(
      'Transpose',
      [x],
      perm.map((p) => x.shape[p]!),
      { perm: [...perm] },
    );
  }
  slice(x: Sym, axis: number, start: number, end: number): Sym {
    const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
    // A slice to a symbolic end says so (INT64_MAX clamps to the end): that end may be a sum of sizes.
    // A plain end stays as it is, so ORT still fuses sibling slices into one Split.
    const toEnd = end === x.shape[axis] && !this.dims.plain(end);
    const to = toEnd ? this.g.ints([Number.MAX_SAFE_INTEGER]) : this.dims.value([end]);
    const ins = [x.name, this.dims.value([start]), to, this.g.ints([axis])];
    return { name: this.g.op('Slice', ins), shape, type: x.type };
  }
  concat(xs: readonly Sym[], axis: number): Sym {
    const shape = xs[0]!.shape.map((d, i) => (i === axis ? xs.reduce((n, x) => n + x.shape[i]!, 0) : d));
    return this.node('Concat', xs, shape, { axis });
  }
  expand(x: Sym, shape: Shape): Sym {
    return { name: this.g.op('Expand', [x.name, this.dims.value(shape)]), shape, type: x.type };
  }
  castFloat(x: Sym): Sym {
    return this.node('Cast', [x], x.shape, { to: 1 });
  }

  layerNorm(x: Sym, g: Sym | undefined, b: Sym | undefined, eps: number): Sym {
    const d = x.shape.at(-1)!;
    const gain = g ?? this.constant(new Float32Array(d).fill(1), [d]);
    const ins = b ? [x, gain, b] : [x, gain];
    return this.node('LayerNormalization', ins, x.shape, { axis: -1, epsilon: { f: eps } });
  }
  rmsNorm(x: Sym, g: Sym, eps: number): Sym {
    // Written as Pow → ReduceMean → Add → Sqrt → Div → Mul: the pattern ORT fuses into one kernel.
    const sq = this.node('Pow', [x, this.constant(Float32Array.of(2), [])], x.shape);
    const ms = this.node('ReduceMean', [sq], [...x.shape.slice(0, -1), 1], { axes: [-1], keepdims: 1 });
    const rms = this.node('Sqrt', [this.add(ms, this.constant(Float32Array.of(eps), []))], ms.shape);
    return this.mul(this.div(x, rms), g);
  }

  relu(x: Sym): Sym {
    return this.node('Relu', [x], x.shape);
  }
  silu(x: Sym): Sym {
    return this.mul(x, this.node('Sigmoid', [x], x.shape));
  }
  geluTanh(x: Sym): Sym {
    const cube = this.mul(this.mul(x, x), x);
    const inner = this.scale(this.add(x, this.scale(cube, 0.044715)), Math.sqrt(2 / Math.PI));
    const t = this.node('Tanh', [inner], x.shape);
    return this.mul(this.scale(x, 0.5), this.add(t, this.constant(Float32Array.of(1), [])));
  }
  cos(x: Sym): Sym {
    return this.node('Cos', [x], x.shape);
  }
  sin(x: Sym): Sym {
    return this.node('Sin', [x], x.shape);
  }

  softmax(x: Sym): Sym {
    return this.node('Softmax', [x], x.shape, { axis: -1 });
  }
  logSoftmax(x: Sym): Sym {
    return this.node('LogSoftmax', [x], x.shape, { axis: -1 });
  }
  pick(x: Sym, targets: Sym): Sym {
    const idx = this.reshape(targets, [targets.shape[0]!, 1]);
    const picked = this.node('GatherElements', [x, idx], [x.shape[0]!, 1], { axis: 1 });
    return this.reshape(picked, [x.shape[0]!]);
  }
  sum(x: Sym, axis: number, keepDims = false): Sym {
    const shape = keepDims ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
    const out = this.g.op('ReduceSum', [x.name, this.g.ints([axis])], { keepdims: keepDims ? 1 : 0 });
    return { name: out, shape, type: x.type };
  }

  cache(keys: Sym, values: Sym): Past<Sym> | undefined {
    const kv = this.spec.kv;
    if (!kv) return undefined;
    const [B, Hkv, S, D] = keys.shape as [number, number, number, number];
    const pad = (x: Sym): Sym => {
      if (!kv.slots || kv.slots === S) return x;
      let by: string;
      if (this.dims.markers) {
        // T − S slots of padding, T from the `slots` input.
        const n = this.g.op('Sub', [this.dims.size(kv.slots), this.dims.size(S)]);
        by = this.g.op('Concat', [this.g.ints([0, 0, 0, 0, 0, 0]), n, this.g.ints([0])], { axis: 0 });
      } else by = this.g.ints([0, 0, 0, 0, 0, 0, kv.slots - S, 0]);
      return { name: this.g.op('Pad', [x.name, by]), shape: [B, Hkv, kv.slots, D], type: 'float' };
    };
    const layer = this.presents.length;
    this.presents.push({ keys: pad(keys), values: pad(values) });
    if (!kv.past) return undefined;
    const input = (name: string, shape: Shape): Sym => ({ name: this.g.input(name, this.dims.dims(shape)), shape, type: 'float' });
    const mask = this.pastMaskInput();
    return {
      keys: input(`past.${layer}.key`, [B, Hkv, kv.past, D]),
      values: input(`past.${layer}.value`, [B, Hkv, kv.past, D]),
      mask,
    };
  }

  /** One mask serves every layer: which cached slots are filled is the same in all of them. */
  private pastMaskInput(): Sym {
    const { B, S, kv } = this.spec;
    const shape = [B, 1, S, kv!.past];
    this.pastMask ??= { name: this.g.input('past_mask', this.dims.dims(shape)), shape, type: 'float' };
    return this.pastMask;
  }
}

export function broadcast(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`cannot broadcast [${a}] with [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/**
 * Traces a model's objective (and optionally its logits) for one batch shape into ONNX bytes; with
 * `markers`, for every batch shape of spec's kind (spec's sizes are then ignored, see traceSymbolic).
 */
export function traceModel<C extends BaseConfig>(
  model: Model<C>,
  spec: GraphSpec,
  perturbation?: Perturbation,
  markers?: Markers,
): { bytes: Uint8Array; params: string[]; flops: number } {
  if (markers) {
    const kv = spec.kv && { past: spec.kv.past ? markers.T : 0, slots: spec.kv.slots ? markers.T : undefined };
    spec = { ...spec, B: (spec.candidates ?? 1) * markers.E, S: markers.S, kv };
  }
  const { B, S } = spec;
  const g = new OnnxGraph();
  const kinds = new Map(
    [...(perturbation ?? [])].map(([name, p]) => [name, { kind: p.kind, rank: p.kind === 'lowrank' ? p.rank : undefined }]),
  );
  const ops = new OrtTracer(g, spec, (name) => model.params.shape(name), kinds, markers);
  const logits = model.family.logits(ops, model.config, B, S);
  const output = (name: string, x: Sym) => {
    g.op('Identity', [x.name], {}, name);
    g.output(name, ops.dims.dims(x.shape));
  };
  if (!spec.kv) {
    const out = objective(ops, logits, B, S, spec.candidates);
    output('loss', out.loss);
    output('seq_logprob', out.seqLogProb);
    output('seq_count', out.seqCount);
    output('slot_logprob', out.slotLogProb);
  }
  if (spec.logits) output('logits', logits);
  if (spec.lastLogits) output('last_logits', lastLogits(ops, logits));
  ops.presents.forEach((p, i) => {
    output(`present.${i}.key`, p.keys);
    output(`present.${i}.value`, p.values);
  });
  return { bytes: g.bytes(), params: [...ops.usedParams], flops: ops.flops };
}

/** The matrix-product FLOPs of one plain forward pass over a B × S batch (as traced: elementwise work aside). */
export const forwardFlops = <C extends BaseConfig>(model: Model<C>, B: number, S: number): number => traceModel(model, { B, S }).flops;

/**
 * The one graph of spec's kind (see `graphKind`) for every batch and sequence size, or undefined
 * where the model's definition uses a size in a way the symbolic dimensions cannot follow. Traced
 * with both marker sets, which must give the same bytes: a use of a size that escaped them (a float
 * constant computed from S, say) would differ between the two.
 */
export function traceSymbolic<C extends BaseConfig>(model: Model<C>, spec: GraphSpec, perturbation?: Perturbation): Uint8Array | undefined {
  try {
    const [a, b] = MARKERS.map((m) => traceModel(model, spec, perturbation, m).bytes);
    return Buffer.from(a!).equals(Buffer.from(b!)) ? a : undefined;
  } catch (e) {
    if (e instanceof NotSymbolic) return undefined;
    throw e;
  }
}

/** What a symbolic graph depends on besides θ: spec without its sizes. */
export function graphKind(spec: GraphSpec): string {
  const kv = spec.kv && { past: spec.kv.past > 0, slots: !!spec.kv.slots };
  return JSON.stringify({ candidates: spec.candidates ?? 0, logits: !!spec.logits, lastLogits: !!spec.lastLogits, kv });
}

export interface OrtOptions {
  /** Intra-op threads; defaults to the machine's available parallelism. */
  threads?: number;
  /** 'cpu' (default) or 'cuda' where an ORT build with the CUDA EP is installed. */
  device?: Device;
  /**
   * 'symbolic' (default): one graph per kind of pass (`graphKind`: candidates, outputs, KV mode and
   * perturbation signature), with symbolic batch, sequence and cache sizes, so one session and one
   * memory arena serve every batch shape; a kind whose model definition does not trace symbolically
   * falls back to 'fixed'. 'fixed': one graph per batch shape, each session with its own arena.
   */
  shapes?: 'symbolic' | 'fixed';
  /**
   * The blocks a run's zeroth-order optimizer probes as θ + c·z (Optimizer.scalarProbes). A plain loss
   * pass then runs through that perturbed graph with c = 0 and z = θ, so evaluation shares training's
   * session and arena instead of holding a second one. θ + (+0)·θ is θ bit for bit for every finite θ,
   * −0 included (+0·(−0) = −0, and −0 + −0 = −0); a zero z would turn −0 into +0.
   */
  probed?: readonly string[];
}

export type Device = 'cpu' | 'cuda';

/** The session options of every graph zo runs (benches that time a graph of their own use them too). */
export function sessionOptions(threads: number, device: Device, perturbs = false): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableMemPattern: !perturbs,
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    // The intra-op pool stops spinning when a run returns: z's generation on the threads between passes
    // (core/fill-pool.ts) took 16 ms with the pool spinning against it, 8 ms without (3.3M values, 2 threads).
    extra: { session: { force_spinning_stop: '1' } },
  };
}

/**
 * The CUDA execution provider's library in this onnxruntime-node, if its install script fetched it
 * (zo's .npmrc skips that download: the CPU build ships in the npm package, CUDA's does not).
 */
export function cudaProviderLibrary(): string | undefined {
  const root = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const want = /^(lib)?onnxruntime_providers_cuda\.(so|dll)$/;
  const walk = (dir: string): string | undefined => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const hit = e.isDirectory() ? walk(p) : want.test(e.name) ? p : undefined;
      if (hit) return hit;
    }
    return undefined;
  };
  return fs.existsSync(path.join(root, 'bin')) ? walk(path.join(root, 'bin')) : undefined;
}

export const CUDA_INSTALL_HINT =
  'reinstall onnxruntime-node with its CUDA 12 provider on a machine with CUDA 12 and cuDNN 9: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node (README "GPU")';

/** Refuses --device cuda, in one line, where the CUDA provider is not installed. */
export function checkDevice(device: Device): void {
  if (device === 'cuda' && !cudaProviderLibrary())
    throw new ZoError(`--device cuda: this onnxruntime-node has no CUDA execution provider; ${CUDA_INSTALL_HINT}`);
}

/**
 * Runs a model in onnxruntime-node. Sessions are cached per kind of pass (or per batch shape, with
 * `shapes: 'fixed'`); weights are zero-copy `ort.Tensor` views of θ's Float32Arrays, created once.
 *
 * Each ORT session keeps its own memory arena, sized by the largest batch it has run, so the number
 * of sessions is what the peak memory grows with: on variable-length task data a graph per batch
 * shape meant a session per (rows, sequence bucket, kind), 3.4 GB peak RSS on tiny-llama-m's 4 MB of
 * weights for tiny-boolq; one graph per kind holds 3 sessions there, 0.8 GB.
 */
export class OrtExecutor<C extends BaseConfig = BaseConfig> implements Executor, GraphRunner {
  readonly name = 'ort' as const;
  readonly threads: number;
  readonly device: Device;
  readonly shapes: 'symbolic' | 'fixed';
  /** Compiled sessions, by graphKind (symbolic) or by batch shape (fixed, and kinds that fell back to it). */
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  /** Kinds that did not trace symbolically: their sessions are per batch shape. */
  private readonly fixedKinds = new Set<string>();
  /** Every (batch shape, kind) run so far. */
  private readonly served = new Set<string>();
  private readonly weightTensors = new Map<string, ort.Tensor>();
  /** θ + 0·θ on the probed blocks: what a plain loss pass runs as, when the run probes them (OrtOptions.probed). */
  private readonly resting?: Perturbation;
  /** Its perturbation signature, computed once rather than on every pass. */
  private readonly restingSig: string;

  constructor(
    readonly model: Model<C>,
    opts: OrtOptions = {},
  ) {
    this.threads = opts.threads ?? os.availableParallelism();
    this.device = opts.device ?? 'cpu';
    checkDevice(this.device);
    this.shapes = opts.shapes ?? 'symbolic';
    const params = model.params;
    if (opts.probed?.length) this.resting = new Map(opts.probed.map((n) => [n, { kind: 'scalar', scale: 0, z: params.get(n) }]));
    this.restingSig = perturbationSignature(this.resting);
  }

  describe(): string {
    return `ort ${ort.env.versions.node ?? ort.env.versions.common} ${this.device}, ${this.threads} thread${this.threads === 1 ? '' : 's'}`;
  }

  /**
   * How many distinct graphs, one per batch shape and kind, this executor has run: what it compiled
   * with `shapes: 'fixed'`. With symbolic shapes they share sessions; `sessionCount` counts those.
   */
  get graphCount(): number {
    return this.served.size;
  }

  /** How many ORT sessions (each with its memory arena) this executor has compiled and holds. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The compiled session of `spec`, traced on first use and cached: one per kind, or per batch shape. */
  session(spec: GraphSpec, perturbation?: Perturbation): Promise<ort.InferenceSession> {
    const sig = perturbationSignature(perturbation);
    const shapeKey = `${JSON.stringify(spec)}|${sig}`;
    this.served.add(shapeKey);
    if (this.shapes === 'symbolic') {
      const kindKey = `${graphKind(spec)}|${sig}`;
      const hit = this.sessions.get(kindKey);
      if (hit) return hit;
      if (!this.fixedKinds.has(kindKey)) {
        let bytes: Uint8Array | undefined;
        try {
          bytes = traceSymbolic(this.model, spec, perturbation);
        } catch (e) {
          return Promise.reject(e as Error);
        }
        if (bytes) return this.compile(kindKey, () => bytes, sig !== '');
        this.fixedKinds.add(kindKey);
      }
    }
    return this.sessions.get(shapeKey) ?? this.compile(shapeKey, () => traceModel(this.model, spec, perturbation).bytes, sig !== '');
  }

  /**
   * A graph that perturbs θ runs without ORT's memory pattern: the pattern pre-plans one buffer for
   * all of a run's intermediates, and with a θ + c·z per block it planned far more than is ever live
   * at once. Off, a MeZO run's peak fell by 0.55 P (23.7M-param bench model, zo bench --suite memory:
   * +2.5 P → +1.9 P over inference), for about 2% of a step's time.
   */
  private compile(key: string, trace: () => Uint8Array, perturbs = false): Promise<ort.InferenceSession> {
    const session = (async () => {
      try {
        return await ort.InferenceSession.create(trace(), sessionOptions(this.threads, this.device, perturbs));
      } catch (e) {
        // The provider's library is there but CUDA itself is not (no GPU, no driver, another CUDA).
        if (this.device === 'cuda')
          throw new ZoError(`--device cuda: ONNX Runtime could not start its CUDA provider (${(e as Error).message.split('\n')[0]})`);
        throw e;
      }
    })();
    this.sessions.set(key, session);
    return session;
  }

  private weight(name: string): ort.Tensor {
    let t = this.weightTensors.get(name);
    if (!t) {
      t = new ort.Tensor('float32', this.model.params.get(name), [...this.model.params.shape(name)]);
      this.weightTensors.set(name, t);
    }
    return t;
  }

  /**
   * Runs the graph of `spec` on the data inputs `data`, θ's blocks fed from the weights, and returns
   * its outputs; those named in `into` are written into those (preallocated) tensors, no copy.
   * Only the inputs the graph declares are fed (e.g. GPT-2 never reads `positions` through RoPE).
   */
  async run(
    spec: GraphSpec,
    data: Readonly<Record<string, ort.Tensor>>,
    into: Readonly<Record<string, ort.Tensor>> = {},
    perturbation?: Perturbation,
  ): Promise<ort.InferenceSession.ReturnType> {
    const session = await this.session(spec, perturbation);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) feeds[name] = data[name] ?? this.weight(name);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const name of session.outputNames) fetches[name] = into[name] ?? null;
    return session.run(feeds, fetches);
  }

  async forward(batch: Batch, opts: ForwardOptions = {}): Promise<ForwardResult> {
    const { B, S } = batch;
    const spec: GraphSpec = { B, S, candidates: batch.candidates, logits: opts.logits, lastLogits: opts.lastLogits };
    const perturbation = opts.perturbation ?? (this.sharesTraining(spec) ? this.resting : undefined);
    const f = feedsFor(this.model.family, this.model.config, batch);
    const data: Record<string, ort.Tensor> = {
      ids: int64(f.ids),
      positions: int64(f.positions),
      targets: int64(f.targets),
      mask: new ort.Tensor('float32', f.mask, [B, 1, S, S]),
      weights: new ort.Tensor('float32', f.weights, [B * S]),
      gold: int64(f.gold),
      last: int64(f.last),
    };
    for (const [name, p] of perturbation ?? []) {
      const shape = [...this.model.params.shape(name)];
      data[`${name}|c`] = new ort.Tensor('float32', Float32Array.of(p.scale), []);
      if (p.kind === 'lowrank') {
        data[`${name}|u`] = new ort.Tensor('float32', p.u, [shape[0]!, p.rank]);
        data[`${name}|v`] = new ort.Tensor('float32', p.v, [shape[1]!, p.rank]);
      } else {
        data[`${name}|z`] = new ort.Tensor('float32', p.z, shape);
        if (p.kind === 'elementwise') data[`${name}|s`] = new ort.Tensor('float32', p.s, shape);
      }
    }
    const out = await this.run(spec, data, undefined, perturbation);
    const result: ForwardResult = {
      loss: (out.loss!.data as Float32Array)[0]!,
      seqLogProb: out.seq_logprob!.data as Float32Array,
      seqCount: out.seq_count!.data as Float32Array,
      slotLogProb: out.slot_logprob!.data as Float32Array,
    };
    if (opts.logits) result.logits = out.logits!.data as Float32Array;
    if (opts.lastLogits) result.lastLogits = out.last_logits!.data as Float32Array;
    return result;
  }

  /**
   * Whether a plain pass of `spec` runs through the probes' graph (OrtOptions.probed): only a loss pass
   * (training never asks for logits), and only where that kind traces symbolically; with a graph per
   * batch shape nothing would be shared, and a fixed shape may fold θ′'s wait away.
   */
  private sharesTraining(spec: GraphSpec): boolean {
    if (!this.resting || spec.logits || spec.lastLogits || this.shapes !== 'symbolic') return false;
    return !this.fixedKinds.has(`${graphKind(spec)}|${this.restingSig}`);
  }

  /** Greedy decoding with a KV cache (see OrtKvDecoder): two graphs per prompt bucket, not one forward per token. */
  decoder(padId: number): OrtKvDecoder {
    return new OrtKvDecoder(this, padId);
  }

  /** Nothing to do: ORT reads θ's arrays in place on every run. */
  refresh(): void {}

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
    this.fixedKinds.clear();
    this.served.clear();
  }
}

export { int64, type GraphSpec } from './ort-session.js';
