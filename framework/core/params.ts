/**
 * θ: an ordered list of named weight blocks (HF names), one Float32Array each. A block is the unit of
 * perturbation and of ZO Fine-tuner's per-block σ (docs/methods/zo-finetuner.md#blocks). Executors read these arrays in
 * place (ORT inputs are zero-copy views), so only an optimizer's update ever writes them.
 */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export class ParamStore {
  private readonly data = new Map<string, Float32Array>();
  private readonly shapes = new Map<string, readonly number[]>();
  readonly names: string[] = [];

  constructor(specs: readonly ParamSpec[], fill?: (spec: ParamSpec) => Float32Array) {
    for (const spec of specs) {
      const n = numel(spec.shape);
      const values = fill ? fill(spec) : new Float32Array(n);
      if (values.length !== n) throw new Error(`${spec.name}: expected ${n} values, got ${values.length}`);
      this.names.push(spec.name);
      this.data.set(spec.name, values);
      this.shapes.set(spec.name, spec.shape);
    }
  }

  get(name: string): Float32Array {
    const v = this.data.get(name);
    if (!v) throw new Error(`no parameter block named ${name}`);
    return v;
  }

  shape(name: string): readonly number[] {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`no parameter block named ${name}`);
    return s;
  }

  /** Each block's number of scalars, in order (what a noise source is laid out by). */
  sizes(): number[] {
    return this.names.map((n) => this.get(n).length);
  }

  specs(): ParamSpec[] {
    return this.names.map((name) => ({ name, shape: this.shape(name) }));
  }

  /** Total number of scalars in θ. */
  get size(): number {
    let n = 0;
    for (const v of this.data.values()) n += v.length;
    return n;
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
