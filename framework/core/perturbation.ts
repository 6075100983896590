/**
 * How one block is perturbed for one forward pass: θ' = θ + c·P(z). Executors compute θ' inside the
 * forward pass; θ itself is never written by a probe, so restoring it is exact by construction.
 */
export type BlockPerturbation =
  /** θ + c·z: MeZO, the ZO-SGD family, ZO-Adam, ZO Fine-tuner (c = ε·nf·σ_i). */
  | { kind: 'scalar'; scale: number; z: Float32Array }
  /** θ + c·s⊙z: HiZOO, with s = 1/√H. */
  | { kind: 'elementwise'; scale: number; z: Float32Array; s: Float32Array }
  /** θ + c·U·Vᵀ for a [rows, cols] block, U [rows, rank], V [cols, rank]: LOZO. */
  | { kind: 'lowrank'; scale: number; u: Float32Array; v: Float32Array; rank: number };

/** Per block name; blocks not in the map are used as they are. */
export type Perturbation = ReadonlyMap<string, BlockPerturbation>;

/** The graph structure a perturbation needs (its values aside): part of the ort graph cache key. */
export function perturbationSignature(p: Perturbation | undefined): string {
  if (!p || p.size === 0) return '';
  let sig = '';
  for (const [name, b] of p) sig += `${name}:${b.kind}${b.kind === 'lowrank' ? b.rank : ''};`;
  return sig;
}

/**
 * θ + c·P(z) written into `out`, in plain JS: the reference the executors are tested against, and the
 * whole perturbation for objectives that live in JS (the toy problems of the optimizer tests).
 */
export function perturbedBlock<O extends Float32Array | Float64Array>(
  theta: Float32Array,
  shape: readonly number[],
  p: BlockPerturbation,
  out: O,
): O {
  const c = p.scale;
  if (p.kind === 'scalar') for (let i = 0; i < theta.length; i++) out[i] = theta[i]! + c * p.z[i]!;
  else if (p.kind === 'elementwise') for (let i = 0; i < theta.length; i++) out[i] = theta[i]! + c * p.s[i]! * p.z[i]!;
  else {
    const [rows, cols] = shape as [number, number];
    const r = p.rank;
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        let uv = 0;
        for (let k = 0; k < r; k++) uv += p.u[i * r + k]! * p.v[j * r + k]!;
        out[i * cols + j] = theta[i * cols + j]! + c * uv;
      }
  }
  return out;
}
