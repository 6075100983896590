import ort from 'onnxruntime-node';

/** An int64 ORT tensor from int32 ids (ORT's Gather and GatherElements take int64 indices). */
export function int64(values: Int32Array): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), [values.length]);
}
