import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BaseConfig } from './model.js';
import { lastLogits, objective } from './objective.js';
import { feedsFor, type Batch, type Feeds } from './batch.js';
import type { Executor, ForwardOptions, ForwardResult, Model } from './executor.js';
import type { InputName, Ops, Shape } from './ops.js';
import { registerWasmKernels } from './wasm-kernels.js';
import type { Perturbation } from '../core/perturbation.js';

const require = createRequire(import.meta.url);

/** The tfjs version in use. */
export function tfjsVersion(): string {
  return tf.version.tfjs;
}

export type TfBackend = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
let chosen: Promise<TfBackend> | undefined;

/**
 * Picks the fastest tfjs backend present: tfjs-node-gpu, then tfjs-node (both optional: their install
 * downloads libtensorflow), then wasm, then the pure-JS cpu backend. Resolved once per process.
 */
export function tfjsBackend(prefer?: TfBackend): Promise<TfBackend> {
  chosen ??= pickBackend(prefer);
  return chosen;
}

async function pickBackend(prefer?: TfBackend): Promise<TfBackend> {
  const order: TfBackend[] = prefer ? [prefer] : ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  for (const b of order) {
    try {
      if (b === 'tensorflow-gpu') await import('@tensorflow/tfjs-node-gpu' as string);
      else if (b === 'tensorflow') await import('@tensorflow/tfjs-node' as string);
      else if (b === 'wasm') {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
        registerWasmKernels();
      }
      const name = b === 'tensorflow-gpu' ? 'tensorflow' : b;
      if (await tf.setBackend(name)) {
        await tf.ready();
        return b;
      }
    } catch {
      // not installed here (tfjs-node needs libtensorflow); try the next one
    }
  }
  throw new Error('no tfjs backend could be initialised');
}

/** The same Ops, computed eagerly on tfjs tensors; everything is differentiable. */
export class TfOps implements Ops<tf.Tensor> {
  readonly kind = 'tfjs' as const;
  private readonly inputs: Record<InputName, tf.Tensor>;

  constructor(
    feeds: Feeds,
    B: number,
    S: number,
    private readonly weights: (name: string) => tf.Tensor,
  ) {
    this.inputs = {
      ids: tf.tensor1d(feeds.ids, 'int32'),
      positions: tf.tensor1d(feeds.positions, 'int32'),
      targets: tf.tensor1d(feeds.targets, 'int32'),
      mask: tf.tensor4d(feeds.mask, [B, 1, S, S]),
      weights: tf.tensor1d(feeds.weights),
      gold: tf.tensor1d(feeds.gold, 'int32'),
      last: tf.tensor1d(feeds.last, 'int32'),
    };
  }

  shape(x: tf.Tensor): Shape {
    return x.shape;
  }
  input(name: InputName): tf.Tensor {
    return this.inputs[name];
  }
  param(name: string): tf.Tensor {
    return this.weights(name);
  }
  constant(values: Float32Array, shape: Shape): tf.Tensor {
    return tf.tensor(values, [...shape]);
  }
  add(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.add(a, b);
  }
  sub(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.sub(a, b);
  }
  mul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.mul(a, b);
  }
  div(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.div(a, b);
  }
  scale(x: tf.Tensor, s: number): tf.Tensor {
    return s === 1 ? x : tf.mul(x, tf.scalar(s));
  }
  neg(x: tf.Tensor): tf.Tensor {
    return tf.neg(x);
  }
  matmul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
    return tf.matMul(a, b, false, transposeB);
  }
  linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor, layout: 'out_in' | 'in_out' = 'out_in'): tf.Tensor {
    const y = tf.matMul(x, w, false, layout === 'out_in');
    return b ? tf.add(y, b) : y;
  }
  gather(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
    return tf.gather(table, ids);
  }
  reshape(x: tf.Tensor, shape: Shape): tf.Tensor {
    return tf.reshape(x, [...shape]);
  }
  transpose(x: tf.Tensor, perm: readonly number[]): tf.Tensor {
    return tf.transpose(x, [...perm]);
  }
  slice(x: tf.Tensor, axis: number, start: number, end: number): tf.Tensor {
    const begin = x.shape.map((_, i) => (i === axis ? start : 0));
    const size = x.shape.map((d, i) => (i === axis ? end - start : d));
    return tf.slice(x, begin, size);
  }
  concat(xs: readonly tf.Tensor[], axis: number): tf.Tensor {
    return tf.concat([...xs], axis);
  }
  expand(x: tf.Tensor, shape: Shape): tf.Tensor {
    return tf.broadcastTo(x, [...shape]);
  }
  castFloat(x: tf.Tensor): tf.Tensor {
    return tf.cast(x, 'float32');
  }
  layerNorm(x: tf.Tensor, g: tf.Tensor | undefined, b: tf.Tensor | undefined, eps: number): tf.Tensor {
    const axis = x.rank - 1;
    const centred = tf.sub(x, tf.mean(x, axis, true));
    let y = tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), axis, true), tf.scalar(eps))));
    if (g) y = tf.mul(y, g);
    return b ? tf.add(y, b) : y;
  }
  rmsNorm(x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
    const ms = tf.mean(tf.square(x), x.rank - 1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, tf.scalar(eps)))), g);
  }
  relu(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
  silu(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, tf.sigmoid(x));
  }
  geluTanh(x: tf.Tensor): tf.Tensor {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, tf.scalar(3)), tf.scalar(0.044715))), tf.scalar(Math.sqrt(2 / Math.PI)));
    return tf.mul(tf.mul(x, tf.scalar(0.5)), tf.add(tf.tanh(inner), tf.scalar(1)));
  }
  cos(x: tf.Tensor): tf.Tensor {
    return tf.cos(x);
  }
  sin(x: tf.Tensor): tf.Tensor {
    return tf.sin(x);
  }
  softmax(x: tf.Tensor): tf.Tensor {
    return tf.softmax(x);
  }
  logSoftmax(x: tf.Tensor): tf.Tensor {
    return tf.logSoftmax(x);
  }
  pick(x: tf.Tensor, targets: tf.Tensor): tf.Tensor {
    // Flat indices n·V + t: one gather, whose gradient is a segment sum rather than an N×V one-hot.
    const [N, V] = x.shape as [number, number];
    const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), targets);
    return tf.gather(tf.reshape(x, [N * V]), flat);
  }
  sum(x: tf.Tensor, axis: number, keepDims = false): tf.Tensor {
    return tf.sum(x, axis, keepDims);
  }
}

export interface TfjsOptions {
  backend?: TfBackend;
}

/**
 * Runs a model eagerly in tfjs. θ lives in tf.Variables created from the ParamStore; `refresh`
 * re-reads them after the Float32Arrays change.
 */
export class TfjsExecutor<C extends BaseConfig = BaseConfig> implements Executor {
  readonly name = 'tfjs' as const;
  private readonly vars = new Map<string, tf.Variable>();

  private constructor(
    readonly model: Model<C>,
    readonly backend: TfBackend,
  ) {
    this.refresh();
  }

  static async create<C extends BaseConfig>(model: Model<C>, opts: TfjsOptions = {}): Promise<TfjsExecutor<C>> {
    return new TfjsExecutor(model, await tfjsBackend(opts.backend));
  }

  describe(): string {
    return `tfjs ${tf.version.tfjs} ${this.backend}`;
  }

  /** Copies θ's Float32Arrays into the variables (creating them the first time). */
  refresh(): void {
    const { params } = this.model;
    for (const name of params.names) {
      const value = tf.tensor(params.get(name), [...params.shape(name)]);
      const v = this.vars.get(name);
      if (v) v.assign(value);
      else this.vars.set(name, tf.variable(value, true));
      value.dispose();
    }
  }

  /** Builds the objective for a batch inside the caller's tidy scope. */
  private objective(batch: Batch, perturbation?: Perturbation) {
    const feeds = feedsFor(this.model.family, this.model.config, batch);
    const perturbed = new Map<string, tf.Tensor>();
    const weight = (name: string): tf.Tensor => {
      const p = perturbation?.get(name);
      if (!p) return this.vars.get(name)!;
      let w = perturbed.get(name);
      if (!w) {
        const shape = [...this.model.params.shape(name)];
        const delta =
          p.kind === 'lowrank'
            ? tf.matMul(tf.tensor2d(p.u, [shape[0]!, p.rank]), tf.tensor2d(p.v, [shape[1]!, p.rank]), false, true)
            : p.kind === 'elementwise'
              ? tf.mul(tf.tensor(p.z, shape), tf.tensor(p.s, shape))
              : tf.tensor(p.z, shape);
        w = tf.add(this.vars.get(name)!, tf.mul(delta, tf.scalar(p.scale)));
        perturbed.set(name, w);
      }
      return w;
    };
    const ops = new TfOps(feeds, batch.B, batch.S, weight);
    const logits = this.model.family.logits(ops, this.model.config, batch.B, batch.S);
    return { logits, ops, ...objective(ops, logits, batch.B, batch.S, batch.candidates) };
  }

  async forward(batch: Batch, opts: ForwardOptions = {}): Promise<ForwardResult> {
    const outs = tf.tidy(() => {
      const o = this.objective(batch, opts.perturbation);
      return [
        o.loss,
        o.seqLogProb,
        o.seqCount,
        opts.logits ? o.logits : tf.zeros([0]),
        opts.lastLogits ? lastLogits(o.ops, o.logits) : tf.zeros([0]),
        o.slotLogProb,
      ];
    });
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(outs);
    const result: ForwardResult = { loss: data[0]![0]!, seqLogProb: data[1]!, seqCount: data[2]!, slotLogProb: data[5]! };
    if (opts.logits) result.logits = data[3]!;
    if (opts.lastLogits) result.lastLogits = data[4]!;
    return result;
  }

  /**
   * The loss and ∂loss/∂θ for every block, by tfjs autodiff; with a perturbation, at θ' = θ + c·P(z)
   * built inside the graph (∂θ'/∂θ = I, so these are the gradients at θ', and θ is never written).
   */
  async lossAndGrads(batch: Batch, perturbation?: Perturbation): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const { value, grads } = tf.variableGrads(() => this.objective(batch, perturbation).loss as tf.Scalar, [...this.vars.values()]);
    const names = [...this.vars.entries()];
    const out = new Map<string, Float32Array>();
    for (const [name, v] of names) {
      const g = grads[v.name];
      out.set(name, g ? ((await g.data()) as Float32Array) : new Float32Array(this.model.params.get(name).length));
    }
    const loss = (await value.data())[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, grads: out };
  }

  async dispose(): Promise<void> {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
