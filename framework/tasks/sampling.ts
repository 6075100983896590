/**
 * MeZO's sampling protocol (princeton-nlp/MeZO large_models/tasks.py `sample_subset`, run.py `main`),
 * reproduced bit for bit so the same HF rows are drawn as in MeZO:
 *
 * - train + dev: `np.random.seed(train_set_seed); np.random.permutation(len(train)).tolist()[:TRAIN+DEV]`;
 *   the LAST `DEV` of those are dev and the rest (in permutation order) train
 *   (`dev = drawn[-DEV:]; train = drawn[:-DEV]`).
 * - test: `np.random.seed(train_set_seed); np.random.permutation(len(validation))[:EVAL]` — the same
 *   seed as train, on the HF validation split. When EVAL ≥ len(validation) that is the whole split,
 *   permuted (SST-2: all 872).
 * - Sizes of mezo.sh: TRAIN=1000, DEV=500, EVAL=1000; DEV=100 for CB and COPA. When TRAIN+DEV exceeds
 *   the split, every row is drawn and dev still takes the last DEV, so train gets what is left:
 *   COPA (400 rows) → 300/100, CB (250) → 150/100, and WSC (554 rows, DEV kept at 500) → only 54 train.
 *   That WSC quirk is MeZO's, inherited by the ZO Fine-tuner paper (docs/tasks.md#wsc-quirk); we keep it.
 *
 * One deliberate difference: with DEV=0 Python's `drawn[-0:]` makes EVERY drawn row dev and leaves
 * train empty; here DEV=0 means no dev rows.
 */
import { ZoError } from '../core/errors.js';
import type { SplitSizes } from './task.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

/**
 * numpy's legacy `np.random.RandomState(seed)` (MT19937), limited to what MeZO's sampling calls:
 * `nextUint32`, `randomInterval` and `permutation`. Seeded exactly as `RandomState.seed(int)` is
 * (Matsumoto–Nishimura init_genrand), so `permutation(n)` equals numpy's.
 */
export class NumpyRandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  constructor(seed: number) {
    checkSeed(seed);
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < N; k++) {
      const y = (mt[k]! & UPPER) | (mt[(k + 1) % N]! & LOWER);
      mt[k] = mt[(k + M) % N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.pos = 0;
  }

  /** The next raw 32-bit output (numpy's `mt19937_next32`). */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** numpy's `random_interval(max)`: uniform on [0, max] by masked rejection sampling (max < 2^32). */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0;
    while (value > max);
    return value;
  }

  /** `RandomState.permutation(n)`: arange(n) shuffled by the legacy Fisher–Yates (i from n−1 down to 1). */
  permutation(n: number): number[] {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ZoError(`permutation: n must be an integer in [0, 2^32) (got ${n})`);
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.randomInterval(i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

function checkSeed(seed: number): void {
  // numpy's legacy seeding accepts exactly these; anything else would not reproduce MeZO's draw.
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ZoError(`train set seed must be an integer in [0, 4294967295] (got ${seed})`);
  }
}

/** `np.random.seed(seed); np.random.permutation(n)` — MeZO's `sample_subset` order. */
export function mezoPermutation(n: number, seed: number): number[] {
  return new NumpyRandomState(seed).permutation(n);
}

/** mezo.sh's sizes: TRAIN=1000, DEV=500, EVAL=1000 (CB and COPA override DEV=100). */
export const MEZO_DEFAULT_SIZES: Readonly<SplitSizes> = Object.freeze({ train: 1000, dev: 500, test: 1000 });

/** Row indices (into the HF train and validation splits) of each split, in MeZO's order. */
export interface SplitIndices {
  train: number[];
  dev: number[];
  test: number[];
}

function checkSizes(sizes: SplitSizes): void {
  for (const key of ['train', 'dev', 'test'] as const) {
    const v = sizes[key];
    if (!Number.isInteger(v) || v < 0) throw new ZoError(`${key} size must be a non-negative integer (got ${v})`);
  }
}

/**
 * Which rows MeZO draws: `nTrain`/`nValid` are the lengths of the HF train/validation splits,
 * `sizes` the requested TRAIN/DEV/EVAL, `seed` MeZO's train_set_seed.
 */
export function mezoSplitIndices(nTrain: number, nValid: number, sizes: SplitSizes, seed: number): SplitIndices {
  checkSeed(seed);
  checkSizes(sizes);
  const drawn = mezoPermutation(nTrain, seed).slice(0, sizes.train + sizes.dev);
  // Python's drawn[-DEV:] / drawn[:-DEV], clamped the same way when DEV > len(drawn).
  const cut = Math.max(0, drawn.length - sizes.dev);
  return {
    train: drawn.slice(0, cut),
    dev: drawn.slice(cut),
    test: mezoPermutation(nValid, seed).slice(0, sizes.test),
  };
}

/** The sizes MeZO actually ends up with for splits of `nTrain`/`nValid` rows (e.g. WSC: 54/500/104). */
export function effectiveSizes(nTrain: number, nValid: number, sizes: SplitSizes): SplitSizes {
  const drawn = Math.min(nTrain, sizes.train + sizes.dev);
  const dev = Math.min(sizes.dev, drawn);
  return { train: drawn - dev, dev, test: Math.min(nValid, sizes.test) };
}

/** Applies `mezoSplitIndices` to the rows themselves. */
export function sampleMezoSplits<T>(
  train: readonly T[],
  valid: readonly T[],
  sizes: SplitSizes,
  seed: number,
): { train: T[]; dev: T[]; test: T[] } {
  const idx = mezoSplitIndices(train.length, valid.length, sizes, seed);
  return {
    train: idx.train.map((i) => train[i]!),
    dev: idx.dev.map((i) => train[i]!),
    test: idx.test.map((i) => valid[i]!),
  };
}
