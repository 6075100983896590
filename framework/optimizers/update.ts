import type { ParamStore } from '../core/params.js';
import { numel } from '../core/params.js';
import type { BlockPerturbation } from '../core/perturbation.js';

/**
 * What flows from a gradient estimator through the update transforms into θ, one block at a time.
 *
 * A zeroth-order estimate is ĝ = Σ_j c_j·d_j over the step's probes, where d_j is the direction probe j
 * moved along (z, s⊙z or U·Vᵀ) and c_j a scalar (g_j, the projected gradient). It is never written
 * out: a block's update holds the c_j and a way to fetch d_j again (regenerated from its key, or a view
 * into the noise table). Transforms that are linear in ĝ (the learning rate, the sign of g) change the
 * c_j alone: MeZO's update is then θ ← θ − (η·g)·z written in place, with no buffer at all. Transforms
 * that need ĝ element by element (weight decay, momentum, Adam) evaluate it a chunk at a time into a
 * small scratch, so no step holds a model-sized copy of anything beyond the state they keep.
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

/** Writes u[start + k] into out[k] for every k < out.length. */
export type Fill = (out: Float64Array, start: number) => void;

/**
 * One block's update u, applied as θ ← θ − u, and with decoupled weight decay (`decay` = ηλ) as
 * θ ← θ − u − ηλ·θ. Implicit: u = Σ terms. Explicit: u element by element.
 */
export type BlockUpdate =
  | { readonly kind: 'implicit'; readonly terms: readonly Term[]; readonly decay: number }
  | { readonly kind: 'explicit'; readonly fill: Fill; readonly decay: number };

/**
 * A step's update. `block(b)` is asked exactly once per block, in block order, while the update is
 * applied; stateful transforms (momentum, Adam, HiZOO's Hessian) advance their state for block b then.
 */
export interface Update {
  block(b: number): BlockUpdate;
  /** ‖u‖₂ over all blocks, when it is known without evaluating the blocks (autodiff gradients). */
  globalNorm?(): number;
}

/** Elements per chunk of an explicit update: the only scratch a step needs (32 KB). */
export const CHUNK = 4096;

/** The same update with every block passed through `f` (block index b, and its name and shape). */
export function mapBlocks(
  u: Update,
  params: ParamStore,
  f: (bu: BlockUpdate, name: string, shape: readonly number[], b: number) => BlockUpdate,
): Update {
  return {
    block: (b) => {
      const name = params.names[b]!;
      return f(u.block(b), name, params.shape(name), b);
    },
  };
}

/** k·u: folded into the coefficients when u is implicit, element by element when explicit. */
export function scaled(bu: BlockUpdate, k: number): BlockUpdate {
  if (bu.kind === 'implicit') return { ...bu, terms: bu.terms.map((t) => ({ coef: k * t.coef, direction: t.direction })) };
  const inner = bu.fill;
  return {
    ...bu,
    fill: (out, start) => {
      inner(out, start);
      for (let i = 0; i < out.length; i++) out[i] = k * out[i]!;
    },
  };
}

/** An empty update (θ stays as it is). */
export const NO_UPDATE: BlockUpdate = { kind: 'implicit', terms: [], decay: 0 };

/**
 * u element by element. An implicit update must be one term here: the q directions of a q-probe estimate
 * share their block's noise scratch, so they can be summed only term by term into θ, never side by side.
 */
export function fillOf(bu: BlockUpdate, shape: readonly number[]): Fill {
  if (bu.kind === 'explicit') return bu.fill;
  if (bu.terms.length === 0) return (out) => out.fill(0);
  if (bu.terms.length > 1)
    throw new Error(`a transform that needs ĝ element by element got a ${bu.terms.length}-probe estimate; use one probe`);
  const t = bu.terms[0]!;
  return termFill(t.coef, t.direction(), shape);
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
    let row = Math.floor(start / cols);
    let col = start - row * cols;
    for (let k = 0; k < out.length; k++) {
      let dot = 0;
      for (let q = 0; q < r; q++) dot += u[row * r + q]! * v[col * r + q]!;
      out[k] = c * dot;
      if (++col === cols) {
        col = 0;
        row++;
      }
    }
  };
}

/** θ + scale·u for a one-term implicit update, as a perturbation the executors apply inside the forward pass. */
export function asPerturbation(bu: BlockUpdate, scale: number): BlockPerturbation | undefined {
  if (bu.kind !== 'implicit' || bu.terms.length > 1) throw new Error('only a one-term implicit update can be probed');
  const t = bu.terms[0];
  return t && { ...t.direction(), scale: scale * t.coef };
}

/** Writes the update into θ in place, block by block. */
export function applyUpdate(params: ParamStore, u: Update): void {
  const scratch = new Float64Array(CHUNK);
  params.names.forEach((name, b) => {
    const theta = params.get(name);
    const bu = u.block(b);
    if (bu.kind === 'explicit') applyExplicit(theta, bu.fill, bu.decay, scratch);
    else applyTerms(theta, params.shape(name), bu.terms, bu.decay);
  });
}

/** θ ← θ − u, or θ·(1 − ηλ) − u with decoupled decay (torch's AdamW), a chunk at a time. */
function applyExplicit(theta: Float32Array, fill: Fill, decay: number, scratch: Float64Array): void {
  const keep = 1 - decay;
  for (let start = 0; start < theta.length; start += CHUNK) {
    const out = theta.length - start < CHUNK ? scratch.subarray(0, theta.length - start) : scratch;
    fill(out, start);
    if (decay === 0) for (let k = 0; k < out.length; k++) theta[start + k] = theta[start + k]! - out[k]!;
    else for (let k = 0; k < out.length; k++) theta[start + k] = theta[start + k]! * keep - out[k]!;
  }
}

/**
 * θ ← θ − Σ_j c_j·d_j, one term at a time, in place. Decoupled decay −ηλθ joins the first term, from θ
 * at the start of the step, as in MeZO's single-expression update.
 */
function applyTerms(theta: Float32Array, shape: readonly number[], terms: readonly Term[], decay: number): void {
  if (terms.length === 0 && decay !== 0) for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - decay * theta[i]!;
  terms.forEach((t, j) => {
    const w = j === 0 ? decay : 0;
    const c = t.coef;
    const d = t.direction();
    if (d.kind === 'scalar') {
      const z = d.z;
      if (w === 0) for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - c * z[i]!;
      else for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - c * z[i]! - w * theta[i]!;
    } else if (d.kind === 'elementwise') {
      const { z, s } = d;
      for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - c * z[i]! * s[i]! - w * theta[i]!;
    } else {
      const { u, v, rank: r } = d;
      const [rows, cols] = [shape[0]!, numel(shape.slice(1))];
      for (let i = 0; i < rows; i++)
        for (let j2 = 0; j2 < cols; j2++) {
          let dot = 0;
          for (let q = 0; q < r; q++) dot += u[i * r + q]! * v[j2 * r + q]!;
          const idx = i * cols + j2;
          theta[idx] = theta[idx]! - c * dot - w * theta[idx]!;
        }
    }
  });
}
