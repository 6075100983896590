import { ZoError } from './errors.js';
import { keyOf, permute } from './rng.js';
import { fillParallel } from './fill-pool.js';

const { floor } = Math; // module scope: jest's realm makes every `Math.x` lookup slow (see rng.ts)

/**
 * Where a probe's z comes from. Every draw is keyed by (runSeed, step, probe, block); nothing is drawn
 * from a shared stream, so replaying step t needs only t (docs/architecture.md#noise).
 */
export type NoiseKind = 'ziggurat' | 'exact' | 'table';
export const NOISE_KINDS: readonly NoiseKind[] = ['ziggurat', 'exact', 'table'];
/** New runs draw with it: counter-based like 'exact', and fast enough that a step is not spent making z. */
export const DEFAULT_NOISE: NoiseKind = 'ziggurat';

/**
 * What each kind generates, by version. spec.json records the version a run drew with, and a resume
 * under another is refused: it could not replay the run bit for bit. table 1 (zo before this layout):
 * one keyed offset per (step, probe) into Σ sizes + max(2^20, P) floats, whose windows overlapped
 * across the probes of a step and across steps.
 */
export const NOISE_VERSIONS: Readonly<Record<NoiseKind, number>> = { ziggurat: 1, exact: 1, table: 2 };

/** Refuses a run whose noise this zo no longer generates; a run that recorded no version drew version 1. */
export function checkNoiseVersion(kind: NoiseKind, recorded: number | undefined, where: string): void {
  const version = recorded ?? 1;
  if (version !== NOISE_VERSIONS[kind])
    throw new ZoError(
      `${where}: the run drew ${kind} noise version ${version}, this zo draws version ${NOISE_VERSIONS[kind]}: it cannot be resumed bit-exactly; start a new run`,
    );
}

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
 * floats in all), never stored across calls. 'exact' draws by Box–Muller (`fillGaussian`), 'ziggurat'
 * by the ziggurat (`fillGaussianZiggurat`'s values, its fast path in WebAssembly: ziggurat.ts): two streams
 * of the same keys. For 3.3M values: Box–Muller 91 ms, the ziggurat's JS loop 25 ms, with WebAssembly 10.5 ms.
 * With `threads` > 1 a block is filled on that many threads (fill-pool.ts), the same values bit for bit.
 */
export class ExactNoise implements NoiseSource {
  private readonly scratch: Float32Array[];
  private readonly filled: string[];
  private readonly fill: (out: Float32Array, key: number) => Float32Array;

  constructor(
    readonly seed: number,
    sizes: readonly number[],
    readonly kind: 'exact' | 'ziggurat' = 'exact',
    readonly threads = 1,
  ) {
    this.scratch = sizes.map((n) => new Float32Array(n));
    this.filled = sizes.map(() => '');
    // On one thread, fillParallel is the generator itself (fill-pool.ts FILLS).
    this.fill = (out, key) => fillParallel(out, key, kind, threads);
  }

  get floats(): number {
    return this.scratch.reduce((n, s) => n + s.length, 0);
  }

  z(step: number, probe: number, block: number): Float32Array {
    const buf = this.scratch[block]!;
    const tag = `${step}/${probe}`;
    // The ± probes and the update of one step ask for the same z: generate it once.
    if (this.filled[block] !== tag) {
      this.fill(buf, keyOf(this.seed, step, probe, block));
      this.filled[block] = tag;
    }
    return buf;
  }
}

/**
 * How many windows of a step the table holds (R ≥ TABLE_DILUTION lanes, plus one of room for the jitter).
 * Cross-step sharing falls as 1/R and memory grows as R: 32 keeps a step's expected overlap with another
 * step of a different round at ≤ 1/32 ≈ 3%, for a table of 33·q·P floats (132 MB for a 1M-parameter
 * model; a 30M one would need 4 GB, where exact noise, 1·P, is the sensible choice anyway).
 */
export const TABLE_DILUTION = 32;
/** Small windows still get a table of at least 2^20 floats, so no step repeats within 2^20 steps. */
const MIN_TABLE_FLOATS = 1 << 20;
const TABLE_TAG = 0x7ab1e;
const LANE_TAG = 0x1a4e;
const JITTER_TAG = 0x717e;

/**
 * A pre-generated N(0,1) table (OpenAI-ES's shared noise table); every z is a zero-copy view, nothing
 * is generated after construction. Layout and guarantees (W = probes·P floats per step, R lanes):
 *
 * - Step t takes one window of W floats: probe j's blocks lie end to end at offset + j·P, so the
 *   windows of all probes and blocks of one step are disjoint.
 * - Steps go in rounds of R. In round e, step t starts at lane·W + jitter_e, with lane a keyed
 *   permutation of t mod R and jitter_e ∈ [0, W) shared by the round: the R windows of a round tile
 *   the table without overlapping, so a step shares no value with the other R − 1 steps of its round,
 *   and every table value is used at most once per round.
 * - Across rounds, a step's W values meet the R windows of another round at most W times in all, so
 *   on average over that round's steps it shares at most W/R values with one, a fraction ≤ 1/R. Lanes
 *   are permuted afresh each round, so this is also the expected share of any one pair of steps in
 *   different rounds (consecutive ones at a round boundary included). A pair that overlaps shares a
 *   shifted run of the table: a lag at which their z correlate perfectly.
 * - jitter_e is a keyed permutation of e mod W, keyed by ⌊e / W⌋: within each block of W rounds no two
 *   steps share an offset, so no step repeats another's whole z within the first R·W ≥ 2^20 steps.
 *
 * The table holds (R + 1)·W floats, R = max(TABLE_DILUTION, ⌈2^20 / W⌉). The number of probes must be
 * known up front (the optimizer declares it: `probesPerStep`); asking for another probe is an error.
 */
export class TableNoise implements NoiseSource {
  readonly kind = 'table' as const;
  /** W: floats of one step's window, every probe's blocks end to end. */
  readonly window: number;
  /** R: windows per round, each round tiling the table once. */
  readonly lanes: number;
  private readonly table: Float32Array;
  private readonly starts: number[];
  private readonly sizes: readonly number[];
  /** P: floats of one probe. */
  private readonly probeFloats: number;
  private current = { step: -1, offset: 0 };

  constructor(
    readonly seed: number,
    sizes: readonly number[],
    readonly probes = 1,
    /** Threads that generate the table (fill-pool.ts): the same table on any number. */
    threads = 1,
  ) {
    if (!Number.isInteger(probes) || probes < 1) throw new RangeError(`table noise: probes = ${probes}, not a positive integer`);
    this.sizes = sizes;
    this.starts = [];
    let P = 0;
    for (const n of sizes) {
      this.starts.push(P);
      P += n;
    }
    this.probeFloats = P;
    this.window = Math.max(1, probes * P);
    this.lanes = Math.max(TABLE_DILUTION, Math.ceil(MIN_TABLE_FLOATS / this.window));
    const floats = (this.lanes + 1) * this.window;
    let table: Float32Array;
    try {
      table = new Float32Array(floats);
    } catch {
      throw new ZoError(
        `table noise needs ${floats.toLocaleString('en')} floats (${((4 * floats) / 1e9).toFixed(1)} GB, ${this.lanes + 1} × ${probes} probe(s) × ${P.toLocaleString('en')} parameters), more than this machine allocates: use --noise exact`,
      );
    }
    this.table = fillParallel(table, keyOf(seed, TABLE_TAG), 'exact', threads);
  }

  get floats(): number {
    return this.table.length;
  }

  /** Where step's window starts: lane·W + jitter (see the class comment). */
  offset(step: number): number {
    const [R, W] = [this.lanes, this.window];
    const round = floor(step / R);
    const lane = permute(step % R, R, keyOf(this.seed, LANE_TAG, round));
    const jitter = permute(round % W, W, keyOf(this.seed, JITTER_TAG, floor(round / W)));
    return lane * W + jitter;
  }

  z(step: number, probe: number, block: number): Float32Array {
    if (!(probe >= 0 && probe < this.probes))
      throw new RangeError(`table noise was sized for ${this.probes} probe(s) per step; probe ${probe} was asked for`);
    // Every block of every pass of a step asks: compute the step's offset once.
    if (this.current.step !== step) this.current = { step, offset: this.offset(step) };
    const start = this.current.offset + probe * this.probeFloats + this.starts[block]!;
    return this.table.subarray(start, start + this.sizes[block]!);
  }

  /** The table's cost and guarantees in one line, with its numbers (zo bench). */
  describe(): string {
    const mb = (4 * this.floats) / 1e6;
    return (
      `${this.floats.toLocaleString('en')} floats (${mb.toFixed(1)} MB, ${(this.lanes + 1).toLocaleString('en')} windows of ${this.probes} probe(s) × P): ` +
      `a step shares no value with the other ${(this.lanes - 1).toLocaleString('en')} steps of its round, on average ≤ 1/${this.lanes.toLocaleString('en')} of its values with any other step, ` +
      `and repeats none within ${(this.lanes * this.window).toLocaleString('en')} steps`
    );
  }
}

/** --noise's help: what each source costs and, for the table, its reuse bound (zo run, zo bench). */
export const NOISE_HELP =
  `ziggurat (the default): counter-based, regenerated every step (1·P floats), by the ziggurat; exact: the same by ` +
  `Box–Muller, ~9× slower to generate (runs before ziggurat existed); table: zero-copy views into a pre-generated N(0,1) table of ` +
  `${TABLE_DILUTION + 1}·q·P floats: no value shared within a step or among the ${TABLE_DILUTION} steps of a round, ` +
  `on average ≤ 1/${TABLE_DILUTION} of a step's values with any other step, no step repeated within ${TABLE_DILUTION}·q·P (≥ 2^20) steps`;

/**
 * A noise source for blocks of `sizes`; table noise lays out `probes` probes per step (the counter-based
 * kinds take any), generated on `threads` threads.
 */
export function makeNoise(kind: NoiseKind, seed: number, sizes: readonly number[], probes = 1, threads = 1): NoiseSource {
  return kind === 'table' ? new TableNoise(seed, sizes, probes, threads) : new ExactNoise(seed, sizes, kind, threads);
}
