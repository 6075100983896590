import { fillGaussian, keyOf, mix32 } from './rng.js';

/**
 * Where a probe's z comes from. Every draw is keyed by (runSeed, step, probe, block); nothing is drawn
 * from a shared stream, so replaying step t needs only t (DESIGN §3.2).
 */
export type NoiseKind = 'exact' | 'table';
export const NOISE_KINDS: readonly NoiseKind[] = ['exact', 'table'];

export interface NoiseSource {
  readonly kind: NoiseKind;
  /**
   * z ~ N(0, I) for one block at (step, probe), as a Float32Array of the block's size. The view stays
   * valid until the next call for the same block; callers treat it as read-only.
   */
  z(step: number, probe: number, block: number): Float32Array;
  /** Extra floats this source holds (for memory reports). */
  readonly floats: number;
}

/**
 * Counter-based: z is regenerated from its key on every call into one scratch buffer per block (1P
 * floats in all), never stored across calls.
 */
export class ExactNoise implements NoiseSource {
  readonly kind = 'exact' as const;
  private readonly scratch: Float32Array[];
  private readonly filled: string[];

  constructor(
    readonly seed: number,
    sizes: readonly number[],
  ) {
    this.scratch = sizes.map((n) => new Float32Array(n));
    this.filled = sizes.map(() => '');
  }

  get floats(): number {
    return this.scratch.reduce((n, s) => n + s.length, 0);
  }

  z(step: number, probe: number, block: number): Float32Array {
    const buf = this.scratch[block]!;
    const tag = `${step}/${probe}`;
    // The ± probes and the update of one step ask for the same z: generate it once.
    if (this.filled[block] !== tag) {
      fillGaussian(buf, keyOf(this.seed, step, probe, block));
      this.filled[block] = tag;
    }
    return buf;
  }
}

/**
 * A pre-generated N(0,1) table (OpenAI-ES's shared noise table). Each (step, probe) gets one keyed
 * offset; the blocks are laid contiguously from it, so they never overlap within a probe, and every z is
 * a zero-copy view: nothing is generated after construction.
 */
export class TableNoise implements NoiseSource {
  readonly kind = 'table' as const;
  private readonly table: Float32Array;
  private readonly starts: number[];
  private readonly sizes: readonly number[];
  private readonly slack: number;

  /** `slack` is the number of distinct offsets; the table holds Σ sizes + slack floats. */
  constructor(
    readonly seed: number,
    sizes: readonly number[],
    slack = Math.max(1 << 20, sizes.reduce((a, b) => a + b, 0)),
  ) {
    this.sizes = sizes;
    this.starts = [];
    let total = 0;
    for (const n of sizes) {
      this.starts.push(total);
      total += n;
    }
    this.slack = slack;
    this.table = fillGaussian(new Float32Array(total + slack), keyOf(seed, 0x7ab1e));
  }

  get floats(): number {
    return this.table.length;
  }

  /** The keyed offset of (step, probe) in [0, slack). */
  offset(step: number, probe: number): number {
    return mix32(keyOf(this.seed, step, probe)) % this.slack;
  }

  z(step: number, probe: number, block: number): Float32Array {
    const start = this.offset(step, probe) + this.starts[block]!;
    return this.table.subarray(start, start + this.sizes[block]!);
  }
}

export function makeNoise(kind: NoiseKind, seed: number, sizes: readonly number[]): NoiseSource {
  return kind === 'exact' ? new ExactNoise(seed, sizes) : new TableNoise(seed, sizes);
}
