/**
 * Symbolic batch and sequence dimensions for the ort tracer: one graph per kind of forward pass, not
 * one per batch shape (docs/architecture.md#executors).
 *
 * Model definitions compute with concrete numbers (`ops.shape(x)`, `B * S`), so the tracer runs them
 * with the sizes set to markers: primes that no model dimension holds as a factor. Every traced
 * dimension then factors as r·E^e·S^s·T^t, r a plain number: E the examples (B = C·E rows with C
 * candidates per example), S the slots of a row, T the slots of a KV cache. A dimension with a marker
 * factor is a dim_param of the graph's inputs and outputs, and where a node reads it as data (Reshape
 * targets, Expand shapes, slice bounds) it is computed in the graph from the inputs' shapes.
 */
import type { Dim, OnnxGraph } from './onnx-graph.js';
import type { Shape } from './ops.js';

export interface Markers {
  readonly E: number;
  readonly S: number;
  readonly T: number;
}

/**
 * Two marker sets: a graph traced with each must serialise to the same bytes, or some use of a size
 * escaped the symbolic dimensions (a float constant computed from S, a size added to another, …).
 */
export const MARKERS: readonly [Markers, Markers] = [
  { E: 1_000_003, S: 1_000_033, T: 1_000_037 },
  { E: 1_000_039, S: 1_000_081, T: 1_000_099 },
];

/** Plain dimensions stay below this, the smallest marker; a larger remainder means the trace is not symbolic. */
const PLAIN_LIMIT = 1_000_000;

/** Thrown while tracing when a size is used in a way the graph cannot derive from its inputs' shapes. */
export class NotSymbolic extends Error {}

/** A dimension r·E^e·S^s·T^t. */
export interface Monomial {
  r: number;
  e: number;
  s: number;
  t: number;
}

const SYMBOLS = ['E', 'S', 'T'] as const;
type Size = (typeof SYMBOLS)[number];
const exponent = (m: Monomial, x: Size): number => (x === 'E' ? m.e : x === 'S' ? m.s : m.t);

/** The sizes a symbolic graph reads at run time, each a 1-D int64 [1] value, made on first use. */
export type DimSources = Record<Size, () => string>;

/**
 * Dimensions of one trace: plain numbers in a fixed-shape trace (no markers), monomials in a symbolic
 * one. `value` gives a node input holding a shape: an initializer, or computed from `sources`.
 */
export class TraceDims {
  private readonly values = new Map<string, string>();

  constructor(
    private readonly g: OnnxGraph,
    readonly markers: Markers | undefined,
    private readonly sources: DimSources,
  ) {}

  factor(n: number): Monomial {
    const m = this.markers;
    if (!m) return { r: n, e: 0, s: 0, t: 0 };
    if (!Number.isSafeInteger(n)) throw new NotSymbolic(`dimension ${n}`);
    const out = { r: n, e: 0, s: 0, t: 0 };
    for (const [k, p] of [
      ['e', m.E],
      ['s', m.S],
      ['t', m.T],
    ] as const)
      while (out.r !== 0 && out.r % p === 0) {
        out.r /= p;
        out[k]++;
      }
    if (Math.abs(out.r) >= PLAIN_LIMIT) throw new NotSymbolic(`dimension ${n} is not a product of sizes and plain numbers`);
    return out;
  }

  /** Whether `n` is a plain number (no marker factor, not a sum of sizes): it may be written as it is. */
  plain(n: number): boolean {
    try {
      return !this.symbolic(n);
    } catch (e) {
      if (e instanceof NotSymbolic) return false;
      throw e;
    }
  }

  symbolic(n: number): boolean {
    const { e, s, t } = this.factor(n);
    return e + s + t > 0;
  }

  /** An input's or output's dimensions: numbers, or dim_params such as "2*E" or "E*S". */
  dims(shape: Shape): Dim[] {
    return shape.map((n) => {
      const m = this.factor(n);
      if (m.e + m.s + m.t === 0) return n;
      const names = SYMBOLS.flatMap((x) => Array<string>(exponent(m, x)).fill(x));
      return (m.r === 1 ? names : [String(m.r), ...names]).join('*');
    });
  }

  private readonly made = new Map<Size, string>();
  private source(x: Size): string {
    let v = this.made.get(x);
    if (v === undefined) this.made.set(x, (v = this.sources[x]()));
    return v;
  }

  /** A 1-D int64 [1] value holding the dimension `n`: computed from the sources where it is symbolic. */
  size(n: number): string {
    if (!this.symbolic(n)) return this.g.ints([n]);
    const m = this.factor(n);
    const key = `${m.r}:${m.e}:${m.s}:${m.t}`;
    const hit = this.values.get(key);
    if (hit) return hit;
    let out: string | undefined;
    const times = (x: string) => (out = out === undefined ? x : this.g.op('Mul', [out, x]));
    for (const x of SYMBOLS) for (let i = 0; i < exponent(m, x); i++) times(this.source(x));
    if (m.r !== 1) times(this.g.ints([m.r]));
    this.values.set(key, out!);
    return out!;
  }

  /** A 1-D int64 node input holding `shape`: an initializer where every entry is plain, else computed. */
  value(shape: Shape): string {
    if (!shape.some((n) => this.symbolic(n))) return this.g.ints(shape);
    const key = `[${shape.join(',')}]`;
    const hit = this.values.get(key);
    if (hit) return hit;
    const parts = shape.map((n) => (this.symbolic(n) ? this.size(n) : this.g.ints([n])));
    const out = parts.length === 1 ? parts[0]! : this.g.op('Concat', parts, { axis: 0 });
    this.values.set(key, out);
    return out;
  }

  /** A float scalar 1/n for a symbolic n, computed as JS computes `1 / n` (in double, then rounded to float). */
  reciprocal(n: number): string {
    const dbl = this.g.op('Cast', [this.size(n)], { to: DOUBLE });
    const inv = this.g.op('Cast', [this.g.op('Reciprocal', [dbl])], { to: FLOAT });
    return this.g.op('Reshape', [inv, this.g.ints([])]);
  }

  /** Whether `s` is 1/n for a symbolic dimension n; then `n`, else undefined. */
  reciprocalOf(s: number): number | undefined {
    if (!this.markers || s === 0) return undefined;
    const n = Math.round(1 / s);
    if (Math.abs(n) < PLAIN_LIMIT || 1 / n !== s) return undefined;
    try {
      return this.symbolic(n) ? n : undefined;
    } catch (e) {
      // A small constant that merely looks like one over a large number: the trace keeps it as it is.
      if (e instanceof NotSymbolic) return undefined;
      throw e;
    }
  }
}

/** ONNX TensorProto data types, for Cast. */
const FLOAT = 1;
const DOUBLE = 11;
