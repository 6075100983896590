import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export type ElemType = 'float' | 'int64';
/** A dimension of a graph input or output: a number, or a name (ONNX dim_param) that stands for one. */
export type Dim = number | string;
const ELEM: Record<ElemType, number> = { float: DT.FLOAT, int64: DT.INT64 };

export type AttrValue = number | number[] | string;
/** Attribute values: a float is written as FLOAT, an integer as INT; wrap in `{f: x}` to force FLOAT. */
export type Attrs = Record<string, AttrValue | { f: number }>;

/**
 * A minimal ONNX graph writer: named values, nodes in topological order (the order they are added),
 * and constants stored as initializers. Opset 17, the newest whose ops ORT's CPU EP covers for us.
 */
export class OnnxGraph {
  static readonly OPSET = 17;
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  fresh(prefix = 't'): string {
    return `${prefix}${this.counter++}`;
  }

  input(name: string, shape: readonly Dim[], type: ElemType = 'float'): string {
    this.inputs.push(valueInfo(name, shape, type));
    return name;
  }

  output(name: string, shape: readonly Dim[], type: ElemType = 'float'): void {
    this.outputs.push(valueInfo(name, shape, type));
  }

  /** A float initializer. */
  constant(values: Float32Array, shape: readonly number[]): string {
    const name = this.fresh('c');
    this.initializers.push({
      name,
      dims: [...shape],
      dataType: DT.FLOAT,
      rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
    });
    return name;
  }

  /** An int64 initializer, deduplicated: shapes, axes and slice bounds repeat across layers. */
  ints(values: readonly number[], shape: readonly number[] = [values.length]): string {
    const key = `${shape.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('i');
    this.initializers.push({ name, dims: [...shape], dataType: DT.INT64, int64Data: [...values] });
    this.constCache.set(key, name);
    return name;
  }

  /** Adds a node with one output and returns that output's name. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, output?: string): string {
    const out = output ?? this.fresh();
    this.nodes.push({
      opType,
      input: [...inputs],
      output: [out],
      name: this.fresh('n'),
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return out;
  }

  /** Serialised ModelProto, ready for `InferenceSession.create`. */
  bytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'zo',
      opsetImport: [{ domain: '', version: OnnxGraph.OPSET }],
      graph: {
        name: 'zo',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, shape: readonly Dim[], type: ElemType): object {
  return {
    name,
    type: {
      tensorType: { elemType: ELEM[type], shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
    },
  };
}

function attribute(name: string, v: AttrValue | { f: number }): object {
  if (typeof v === 'object' && !Array.isArray(v)) return { name, type: AT.FLOAT, f: v.f };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if (Number.isInteger(v)) return { name, type: AT.INT, i: v };
  return { name, type: AT.FLOAT, f: v };
}
