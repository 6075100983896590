import type { ParamStore } from '../core/params.js';
import { numel } from '../core/params.js';
import type { BlockPerturbation } from '../core/perturbation.js';
import { subtractScaled, subtractScaledSums } from '../core/axpy.js';

/**
 * What flows from a gradient estimator through the update transforms into θ, one block at a time.
 *
 * A zeroth-order estimate is ĝ = Σ_j c_j·d_j over the step's probes, where d_j is the direction probe j
 * moved along (z, s⊙z or U·Vᵀ) and c_j a scalar (g_j, the projected gradient). It is never written
 * out: a block's update holds the c_j and a way to fetch d_j again (regenerated from its key, or a view
 * into the noise table). Transforms that are linear in ĝ (the learning rate, the sign of g) change the
 * c_j alone: MeZO's update is then θ ← θ − (η·g)·z written in place, with no buffer at all. Coupled
 * weight decay and the learning rate after it stay symbolic too (u = η·(ĝ + λθ)), so LOZO's or HiZOO's
 * update is still one pass over θ. Transforms that need ĝ element by element (momentum, Adam) evaluate
 * it a chunk at a time into a small scratch: no step holds a model-sized copy of anything beyond the
 * state those transforms keep.
 */

/** A probe direction: a perturbation without its scale. */
export type Direction =
  | { readonly kind: 'scalar'; readonly z: Float32Array }
  | { readonly kind: 'elementwise'; readonly z: Float32Array; readonly s: Float32Array }
  /** U [rows, rank] and V [cols, rank] of a [rows, cols] block (a block of more axes counts as rows × the rest). */
  | { readonly kind: 'lowrank'; readonly u: Float32Array; readonly v: Float32Array; readonly rank: number };

/** c·d for one block. `direction` is called when the term is used: a noise source's z view lasts only until its next call for that block. */
export interface Term {
  readonly coef: number;
  direction(): Direction;
}

/** Writes g[start + k] into out[k] for every k < out.length. */
export type Fill = (out: Float64Array, start: number) => void;

/**
 * One block's update u = scale·(g + λθ), applied as θ ← θ − u, and with decoupled weight decay
 * (`decay` = ηλ′) as θ ← θ − u − ηλ′θ. g is implicit (probe terms Σ c_j·d_j) or explicit (a fill);
 * λθ is coupled weight decay (`lambda` absent: none). While an update is bare (no θ term, scale 1), a
 * scalar folds into the probe coefficients: MeZO's (η·g)·z. Once it has a θ term, scalars scale the
 * sum, η·(g·z + λθ), as torch's SGD writes it. The affine part stays symbolic until a transform needs
 * u's elements, so θ − η·(g·z + λθ) is written in one pass.
 */
export type BlockUpdate = ImplicitUpdate | ExplicitUpdate;
interface Affine {
  readonly lambda?: number;
  readonly scale: number;
  readonly decay: number;
}
export interface ImplicitUpdate extends Affine {
  readonly kind: 'implicit';
  readonly terms: readonly Term[];
}
export interface ExplicitUpdate extends Affine {
  readonly kind: 'explicit';
  readonly fill: Fill;
}

/**
 * A step's update. `block(b)` is asked exactly once per block, in block order, while the update is
 * applied; stateful transforms (momentum, Adam, HiZOO's Hessian) advance their state for block b then.
 */
export interface Update {
  block(b: number): BlockUpdate;
  /** ‖u‖₂ over all blocks, when it is known without evaluating the blocks (autodiff gradients). */
  globalNorm?(): number;
}

/** A block as transforms see it. */
export interface BlockRef {
  readonly b: number;
  readonly name: string;
  readonly shape: readonly number[];
  readonly theta: Float32Array;
}

/** Elements per chunk of an explicit update: the only scratch a step needs (32 KB). */
export const CHUNK = 4096;

/** The same update with every block passed through `f`. */
export function mapBlocks(u: Update, params: ParamStore, f: (bu: BlockUpdate, blk: BlockRef) => BlockUpdate): Update {
  return {
    block: (b) => {
      const name = params.names[b]!;
      return f(u.block(b), { b, name, shape: params.shape(name), theta: params.get(name) });
    },
  };
}

/** u = Σ terms, a zeroth-order estimate as its estimator leaves it. */
export function implicit(terms: readonly Term[]): ImplicitUpdate {
  return { kind: 'implicit', terms, scale: 1, decay: 0 };
}

/** u = g element by element. */
export function explicit(fill: Fill, decay = 0): ExplicitUpdate {
  return { kind: 'explicit', fill, scale: 1, decay };
}

/** No θ term and scale 1: u is g itself. */
export function isBare(bu: BlockUpdate): boolean {
  return bu.lambda === undefined && bu.scale === 1;
}

/** An empty update (θ stays as it is). */
export const NO_UPDATE: BlockUpdate = implicit([]);

/** k·u. */
export function scaled(bu: BlockUpdate, k: number, blk: BlockRef): BlockUpdate {
  if (bu.kind === 'implicit' && isBare(bu)) return { ...bu, terms: bu.terms.map((t) => ({ coef: k * t.coef, direction: t.direction })) };
  return bu.scale === 1 ? { ...bu, scale: k } : { ...explicit(fillOf(bu, blk), bu.decay), scale: k };
}

/** u + λθ, coupled weight decay. */
export function withDecayedWeights(bu: BlockUpdate, lambda: number, blk: BlockRef): BlockUpdate {
  return isBare(bu) ? { ...bu, lambda } : { ...explicit(fillOf(bu, blk), bu.decay), lambda };
}

/**
 * u element by element (its decoupled decay aside). An implicit update must be one term here: the q
 * directions of a q-probe estimate share their block's noise scratch, so they can be summed only term
 * by term into θ, never side by side.
 */
export function fillOf(bu: BlockUpdate, blk: BlockRef): Fill {
  const { theta } = blk;
  const [lam, s] = [bu.lambda ?? 0, bu.scale];
  const plain = lam === 0 && s === 1;
  let g: Fill;
  if (bu.kind === 'explicit') g = bu.fill;
  else if (bu.terms.length > 1)
    throw new Error(`a transform that needs ĝ element by element got a ${bu.terms.length}-probe estimate; use one probe`);
  else if (bu.terms.length === 0) g = (out) => out.fill(0);
  else {
    const [c, d] = [bu.terms[0]!.coef, bu.terms[0]!.direction()];
    if (d.kind === 'scalar' && !plain) {
      // The common case in one pass: s·(c·z + λθ).
      const z = d.z;
      return (out, start) => {
        if (s === 1) for (let k = 0; k < out.length; k++) out[k] = c * z[start + k]! + lam * theta[start + k]!;
        else for (let k = 0; k < out.length; k++) out[k] = s * (c * z[start + k]! + lam * theta[start + k]!);
      };
    }
    g = termFill(c, d, blk.shape);
  }
  if (plain) return g;
  return (out, start) => {
    g(out, start);
    if (s === 1) for (let k = 0; k < out.length; k++) out[k] = out[k]! + lam * theta[start + k]!;
    else for (let k = 0; k < out.length; k++) out[k] = s * (out[k]! + lam * theta[start + k]!);
  };
}

/** c·d element by element: c·z, c·z⊙s, c·(U·Vᵀ). */
export function termFill(c: number, d: Direction, shape: readonly number[]): Fill {
  if (d.kind === 'scalar') {
    const z = d.z;
    return (out, start) => {
      for (let k = 0; k < out.length; k++) out[k] = c * z[start + k]!;
    };
  }
  if (d.kind === 'elementwise') {
    const { z, s } = d;
    return (out, start) => {
      for (let k = 0; k < out.length; k++) out[k] = c * z[start + k]! * s[start + k]!;
    };
  }
  const { u, v, rank: r } = d;
  const cols = numel(shape.slice(1));
  return (out, start) => {
    const end = start + out.length;
    // Row by row: element (i, j) is Σ_q U[i, q]·V[j, q].
    for (let idx = start; idx < end;) {
      const i = Math.floor(idx / cols);
      const rowEnd = Math.min(end, (i + 1) * cols);
      for (let j = idx - i * cols; idx < rowEnd; j++, idx++) {
        let dot = 0;
        for (let q = 0; q < r; q++) dot += u[i * r + q]! * v[j * r + q]!;
        out[idx - start] = c * dot;
      }
    }
  };
}

/** θ + scale·u for a bare implicit update of at most one term, as a perturbation the executors apply inside the forward pass. */
export function asPerturbation(bu: BlockUpdate, scale: number): BlockPerturbation | undefined {
  if (bu.kind !== 'implicit' || !isBare(bu) || bu.terms.length > 1) throw new Error('only a bare one-term implicit update can be probed');
  const t = bu.terms[0];
  return t && { ...t.direction(), scale: scale * t.coef };
}

/** Writes the update into θ in place, block by block. */
export function applyUpdate(params: ParamStore, u: Update, stats?: BlockStatsSink): void {
  let scratch: Float64Array | undefined; // only explicit updates need one
  params.names.forEach((name, b) => {
    const theta = params.get(name);
    const bu = u.block(b);
    const fused = bu.kind === 'implicit' ? applyTerms(theta, params.shape(name), bu, !!stats) : undefined;
    if (bu.kind === 'explicit') applyExplicit(theta, bu, (scratch ??= new Float64Array(CHUNK)));
    if (stats) {
      const [sum, sumSq] = fused ?? sums(theta);
      stats(b, sum, sumSq, theta);
    }
  });
}

/**
 * Told Σθ and Σθ² of each block as updated (float64, in index order): what a learned optimizer's
 * features read next step, so it need not pass over θ again (the ZO Fine-tuner's block statistics).
 */
export type BlockStatsSink = (block: number, sum: number, sumSq: number, theta: Float32Array) => void;

/** Σθ and Σθ² in index order, in float64. */
export function sums(theta: Float32Array): [number, number] {
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < theta.length; i++) {
    const v = theta[i]!;
    sum += v;
    sq += v * v;
  }
  return [sum, sq];
}

/** θ ← θ − s·(g + λθ), or θ·(1 − ηλ′) − s·(g + λθ) with decoupled decay (torch's AdamW), a chunk at a time. */
function applyExplicit(theta: Float32Array, bu: ExplicitUpdate, scratch: Float64Array): void {
  const { fill, scale: s, decay } = bu;
  const [lam, keep] = [bu.lambda ?? 0, 1 - decay];
  for (let start = 0; start < theta.length; start += CHUNK) {
    const out = theta.length - start < CHUNK ? scratch.subarray(0, theta.length - start) : scratch;
    fill(out, start);
    const n = out.length;
    if (lam !== 0 && decay !== 0) for (let k = 0, i = start; k < n; k++, i++) theta[i] = theta[i]! * keep - s * (out[k]! + lam * theta[i]!);
    else if (lam !== 0) for (let k = 0, i = start; k < n; k++, i++) theta[i] = theta[i]! - s * (out[k]! + lam * theta[i]!);
    else if (decay !== 0) for (let k = 0, i = start; k < n; k++, i++) theta[i] = theta[i]! * keep - s * out[k]!;
    else for (let k = 0, i = start; k < n; k++, i++) theta[i] = theta[i]! - s * out[k]!;
  }
}

/**
 * θ ← θ − s·(c_j·d_j + λθ) − ηλ′θ, one term at a time, in place, in one pass each; λθ and the
 * decoupled −ηλ′θ join the first term, from θ at the start of the step, as in MeZO's single-expression
 * update. A bare scalar term is MeZO's θ − (η·g)·z.
 */
function applyTerms(theta: Float32Array, shape: readonly number[], bu: ImplicitUpdate, wantSums = false): [number, number] | undefined {
  const s = bu.scale;
  const n = theta.length;
  // MeZO's bare single term, θ − c·z (in WebAssembly: core/axpy.ts): the one pass also sums the new θ (read back as stored, float32).
  const only = wantSums && bu.terms.length === 1 && bu.lambda === undefined && s === 1 && bu.decay === 0 ? bu.terms[0]! : undefined;
  const d = only?.direction();
  if (only && d?.kind === 'scalar') return subtractScaledSums(theta, only.coef, d.z);
  if (bu.terms.length === 0 && !(bu.lambda === undefined && bu.decay === 0)) {
    const [lam, w] = [bu.lambda ?? 0, bu.decay];
    for (let i = 0; i < n; i++) theta[i] = theta[i]! - s * (lam * theta[i]!) - w * theta[i]!;
  }
  bu.terms.forEach((t, j) => {
    const [c, d] = [t.coef, t.direction()];
    const w = j === 0 ? bu.decay : 0;
    const lam = j === 0 ? (bu.lambda ?? 0) : 0;
    if (d.kind === 'scalar') {
      const z = d.z;
      if (bu.lambda === undefined && s === 1) {
        if (w === 0) subtractScaled(theta, c, z);
        else for (let i = 0; i < n; i++) theta[i] = theta[i]! - c * z[i]! - w * theta[i]!;
      } else for (let i = 0; i < n; i++) theta[i] = theta[i]! - s * (c * z[i]! + lam * theta[i]!) - w * theta[i]!;
    } else if (d.kind === 'elementwise') {
      const { z, s: e } = d;
      for (let i = 0; i < n; i++) theta[i] = theta[i]! - s * (c * z[i]! * e[i]! + lam * theta[i]!) - w * theta[i]!;
    } else {
      const { u, v, rank: r } = d;
      const [rows, cols] = [shape[0]!, numel(shape.slice(1))];
      for (let i = 0; i < rows; i++)
        for (let col = 0; col < cols; col++) {
          let dot = 0;
          for (let q = 0; q < r; q++) dot += u[i * r + q]! * v[col * r + q]!;
          const idx = i * cols + col;
          theta[idx] = theta[idx]! - s * (c * dot + lam * theta[idx]!) - w * theta[idx]!;
        }
    }
  });
  return undefined;
}
