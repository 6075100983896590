import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import type { Batch } from '../engine/batch.js';
import type { Model } from '../engine/executor.js';
import { forwardFlops, OrtExecutor, type Device } from '../engine/ort.js';
import type { ParamStore } from '../core/params.js';
import type { TfjsExecutor } from '../engine/tfjs.js';
import { probesPerStep, type Optimizer, type OptimizerState } from '../optimizers/optimizer.js';
import { allOptimizers, optimizerNamed, parseHyperparameters } from '../optimizers/registry.js';
import { FINETUNER_FILES, randomFinetuner, saveFinetuner } from '../learned/finetuner.js';
import { registerLearnedOptimizers } from '../learned/registry.js';
import { train, type StepRecord } from '../harness/harness.js';
import type { Problem } from '../core/problem.js';
import { DEFAULT_NOISE, makeNoise, NOISE_KINDS, TableNoise, type NoiseKind, type NoiseSource } from '../core/noise.js';
import type { Perturbation } from '../core/perturbation.js';
import { benchBatch, benchModel, timing, type Timing } from './forward.js';
import { gemmReference, type GemmReference } from './gemm.js';
import { zigguratInWasm } from '../core/ziggurat.js';
import { axpyInWasm } from '../core/axpy.js';
import { fillThreads } from '../core/fill-pool.js';

/** The target for median MeZO step / median (two plain forwards). */
export const STEP_RATIO_TARGET = 1.15;

export interface MezoStepRow {
  noise: NoiseKind;
  /** Milliseconds per MeZO step through `train` (two perturbed forwards + noise + update + harness). */
  stepMs: Timing;
  /** median step / median of two plain forwards. */
  ratio: number;
  steps: number;
}

export interface OptimizerStepRow {
  name: string;
  firstOrder: boolean;
  noise: NoiseKind;
  /** Timed steps. */
  steps: number;
  stepMs: Timing;
  /** median step / median MeZO step (same noise source, from the headline measurement). */
  vsMezo: number;
  /** Declared passes per step at default hyperparameters. */
  forwardPasses: number;
  /** Passes the harness counted on the last timed step. */
  measuredForwardPasses: number;
  /** Declared extra model-sized buffers. */
  memoryFactor: number;
  /** Bytes of the optimizer's state slots. */
  stateBytes: number;
  /** Bytes held by the noise source (0 when the optimizer never draws z, e.g. first-order). */
  noiseBytes: number;
  /** (stateBytes + noiseBytes) in MB (10⁶ bytes). */
  extraMb: number;
  /** (stateBytes + noiseBytes) / (4·P): extra memory as a multiple of θ. */
  extraP: number;
  loss: number;
  /** Cores' worth of CPU other processes used while this row was timed (Linux only). */
  otherCpu?: number;
  /** Set when the row's steps threw: its timings are NaN. */
  error?: string;
}

/** Two optimizers' steps timed in alternating blocks: a ratio that drift between rows cannot fake. */
export interface PairedStepRow {
  base: string;
  other: string;
  baseMs: Timing;
  otherMs: Timing;
  /** median other / median base. */
  ratio: number;
  /** The target for `other` against `base`, when the issues set one. */
  target?: number;
  rounds: number;
}

/** Pairs timed head to head when both are in the optimizer list, with their targets (zo-ft: issue #10). */
export const PAIRS: readonly { base: string; other: string; target: number }[] = [{ base: 'mezo', other: 'zo-ft', target: 1.05 }];
const PAIR_ROUNDS = 10;

export interface StepBench {
  model: { dir?: string; family: string; layers?: number; hidden?: number; vocab: number; params: number; mb: number };
  batch: number;
  seq: number;
  threads: number;
  /** Milliseconds for two plain `OrtExecutor.forward` calls back to back (the baseline). */
  twoForwardsMs: Timing;
  /**
   * Rounds of the MeZO-vs-forwards part (one block of each contender) and how many were discarded
   * because other processes took CPU meanwhile; `clean` is false when too few clean rounds came
   * within the time limit and every round was used.
   */
  rounds: { total: number; discarded: number; clean: boolean };
  target: number;
  /** MeZO (default hyperparameters, lr 1e-7) per noise source, interleaved with the baseline. */
  mezo: MezoStepRow[];
  /**
   * A forward pass's matrix-product FLOPs (traced), the GFLOP/s two plain forwards achieved, and one
   * GEMM of the same FLOPs timed in the same run: `efficiency` is the first speed over the second.
   */
  flops: { forward: number; achievedGflops: number; gemm: GemmReference; efficiency: number };
  /**
   * The table behind MeZO's 'table' row (one probe per step), when it ran: its size and its reuse
   * bound (TableNoise.describe). Rows with more probes hold proportionally larger tables (noiseBytes).
   */
  table?: { floats: number; mb: number; timesP: number; lanes: number; summary: string };
  /** Whether the ziggurat's fast path ran in WebAssembly (core/ziggurat.ts), or in JS where WebAssembly SIMD is missing. */
  zigguratWasm: boolean;
  /** Threads that generate z (core/fill-pool.ts: --threads, at most the cores). */
  noiseThreads: number;
  /** Whether the update's θ − c·z ran in WebAssembly (core/axpy.ts). */
  axpyWasm: boolean;
  /** Noise source of the per-optimizer rows. */
  optimizerNoise: NoiseKind;
  optimizers: OptimizerStepRow[];
  /** PAIRS present in the optimizer list, timed in alternating blocks of BLOCK steps. */
  pairs: PairedStepRow[];
  /** The tfjs backend first-order gradients ran on, when any first-order optimizer ran. */
  tfjsBackend?: string;
  seconds: number;
  cores: number;
  /**
   * Cores' worth of CPU that other processes used on average (Linux: /proc/stat's busy time less this
   * process's), over the MeZO-vs-forwards part and over the whole run: anything well above 0 distorts
   * the timings. Undefined off Linux.
   */
  otherCpu?: { headline: number; run: number };
  /** 1-minute load average at the start and the end (includes this process). */
  loadAvg: [number, number];
}

export interface StepBenchOptions {
  /** Intra-op threads; defaults to the machine's available parallelism. */
  /** The ort executor's device (default cpu). */
  device?: Device;
  threads?: number;
  /** Minimum timed seconds per contender of the MeZO-vs-forwards measurement (default 2). */
  minSeconds?: number;
  /** Optimizers for the per-optimizer table (default: the whole registry; [] skips it). */
  optimizers?: string[];
  /**
   * Noise source. Unset: the headline reports every source and the optimizer rows use the default (ziggurat)
   * (`zo run`'s default). Set: only that source, for both.
   */
  noise?: NoiseKind;
  /**
   * Timed steps per zeroth-order optimizer row, after one warm-up step (default 3), and per
   * first-order row, without warm-up (default 1: a tfjs-wasm step takes seconds).
   */
  steps?: number;
  foSteps?: number;
  /** Minimum timed runs per headline contender (default 10). */
  minRuns?: number;
  /**
   * Time limit of the MeZO-vs-forwards part while waiting for rounds undisturbed by other processes
   * (default 10 × minSeconds); past it, disturbed rounds count too.
   */
  maxSeconds?: number;
  /** Another model and batch shape (tests use a tiny one); defaults to forward.ts's bench model, 16 × 64. */
  model?: Model;
  /** The folder `model` was loaded from: zo-ft binds to its own finetuner when it ships one. */
  modelDir?: string;
  batchSize?: number;
  seqLen?: number;
  onProgress?: (msg: string) => void;
}

const LR = 1e-7;
const SEED = 0;
/** As in forward.ts: blocks of BLOCK timed runs after a settle and an untimed switch-in run. */
const BLOCK = 4;
const SETTLE_MS = 50;

/** Seconds of CPU the whole machine has spent busy, from /proc/stat (USER_HZ = 100); undefined off Linux. */
function machineBusySeconds(): number | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return Number.isFinite(busy) ? busy / 100 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Cores' worth of CPU other processes may use during a timed block before it is discarded (the
 * machine's own background is ~0.02 here). The ORT pools' spinning threads are this process's own.
 */
const OTHER_CPU_LIMIT = 0.1;

/** Time after the per-optimizer rows start during which a disturbed row may be retried. */
const RETRY_MS = 20_000;

/** Starts a watch; calling the result gives the cores' worth of CPU other processes used since. */
function watchOthers(): () => number | undefined {
  const busy0 = machineBusySeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const busy1 = machineBusySeconds();
    if (busy0 === undefined || busy1 === undefined) return undefined;
    const cpu = process.cpuUsage(cpu0);
    return Math.max(0, (busy1 - busy0 - (cpu.user + cpu.system) / 1e6) / ((performance.now() - t0) / 1000));
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** The objective on one fixed batch: only optimizer + executor cost is measured. */
export class FixedBatchProblem implements Problem {
  private tf?: Promise<TfjsExecutor>;
  constructor(
    readonly model: Model,
    readonly exec: OrtExecutor,
    readonly batch: Batch,
    /** θ, when it is not every block (LoRA's adapters). */
    readonly theta?: ParamStore,
  ) {}

  get params(): ParamStore {
    return this.theta ?? this.model.params;
  }

  tfjs(): Promise<TfjsExecutor> {
    this.tf ??= import('../engine/tfjs.js').then((m) => m.TfjsExecutor.create(this.model));
    return this.tf;
  }

  at() {
    return {
      loss: async (perturbation?: Perturbation) => (await this.exec.forward(this.batch, { perturbation })).loss,
      lossAndGrads: async () => {
        const tf = await this.tfjs();
        // θ changed in place since the last step: re-read it, as LmProblem does.
        tf.refresh();
        return tf.lossAndGrads(this.batch);
      },
    };
  }

  async dispose(): Promise<void> {
    if (this.tf) await (await this.tf).dispose();
  }
}

/** A noise source that remembers whether anything drew from it. */
function tracked(noise: NoiseSource): NoiseSource & { used: boolean } {
  const t = {
    used: false,
    kind: noise.kind,
    floats: noise.floats,
    z(step: number, probe: number, block: number) {
      t.used = true;
      return noise.z(step, probe, block);
    },
  };
  return t;
}

function stateBytes(state: OptimizerState): number {
  let n = 0;
  for (const s of state.slots.values()) n += s.byteLength;
  return n;
}

function tableReport(noise: NoiseSource | undefined, P: number): StepBench['table'] {
  if (!(noise instanceof TableNoise)) return undefined;
  return { floats: noise.floats, mb: (4 * noise.floats) / 1e6, timesP: noise.floats / P, lanes: noise.lanes, summary: noise.describe() };
}

/** One optimizer wired to the problem: `run(n)` runs n steps through `train` and returns their records. */
export function stepper(opt: Optimizer, problem: FixedBatchProblem, noise: NoiseSource) {
  const h = parseHyperparameters(opt, { lr: LR });
  const state = opt.init(problem.params, h);
  let step = 0;
  return {
    h,
    state,
    async run(n: number): Promise<StepRecord[]> {
      const records: StepRecord[] = [];
      await train({
        optimizer: opt,
        hyperparameters: h,
        problem,
        state,
        noise,
        seed: SEED,
        steps: step + n,
        startStep: step,
        schedule: 'constant',
        maxNonFinite: 1,
        onStep: (r) => {
          records.push(r);
        },
      });
      step += n;
      return records;
    },
  };
}

/**
 * Times one `zo` training step per optimizer on forward.ts's bench model and batch (the same batch
 * every step), against two plain forwards. The headline, MeZO / (two forwards), alternates baseline
 * and MeZO blocks as forward.ts does; the per-optimizer rows run a few steps each afterwards, θ restored
 * between them.
 */
export async function benchSteps(opts: StepBenchOptions = {}): Promise<StepBench> {
  const t0 = performance.now();
  const threads = opts.threads ?? os.availableParallelism();
  const minMs = (opts.minSeconds ?? 2) * 1000;
  const minRuns = opts.minRuns ?? 10;
  const maxMs = (opts.maxSeconds ?? 10 * (opts.minSeconds ?? 2)) * 1000;
  const progress = opts.onProgress ?? (() => {});
  const zoSteps = opts.steps ?? 3;
  const foSteps = opts.foSteps ?? 1;
  const load0 = os.loadavg()[0]!;
  const runOthers = watchOthers();
  const headlineNoise: NoiseKind[] = opts.noise ? [opts.noise] : [...NOISE_KINDS];
  const optimizerNoise: NoiseKind = opts.noise ?? DEFAULT_NOISE;
  registerLearnedOptimizers();
  const model: Model = opts.model ?? benchModel();
  // layers/hidden are not on BaseConfig; every decoder family here has them.
  const config = model.config as Model['config'] & { layers?: number; hidden?: number };
  const { params } = model;
  const batch = benchBatch(config.vocabSize, opts.batchSize, opts.seqLen);
  const P = params.size;
  const sizes = params.sizes();
  const exec = new OrtExecutor(model, { threads, device: opts.device });
  const problem = new FixedBatchProblem(model, exec, batch);
  // A learned optimizer is timed with the model's own bank, else a random one: its step costs the same whatever ω is.
  let bankDir = opts.modelDir;
  if (!bankDir || !fs.existsSync(path.join(bankDir, FINETUNER_FILES.manifest))) {
    bankDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-bench-ft-'));
    saveFinetuner(bankDir, randomFinetuner(params, model.config, 0));
  }
  const optimizers = (opts.optimizers ?? allOptimizers().map((o) => o.name))
    .map(optimizerNamed)
    .map((o) => o.bind?.({ params, modelDir: bankDir, batchSize: batch.B }) ?? o);
  // θ at the start: every contender begins from it.
  const theta0 = params.names.map((n) => params.get(n).slice());
  const restore = () => params.names.forEach((n, b) => params.get(n).set(theta0[b]!));
  // One source per (kind, probes), shared by the contenders and rows: a table is generated once. Sharing
  // is sound since every z is a pure function of (step, probe, block).
  const sources = new Map<string, NoiseSource>();
  const noiseFor = (kind: NoiseKind, probes: number): NoiseSource => {
    const key = `${kind}/${probes}`;
    if (!sources.has(key)) sources.set(key, makeNoise(kind, SEED, sizes, probes, threads));
    return sources.get(key)!;
  };

  try {
    progress(
      `step bench: ${config.layers}-layer d=${config.hidden} ${model.family.name}, ${P.toLocaleString('en')} params, ` +
        `batch ${batch.B} × seq ${batch.S}, ${threads} threads; building sessions`,
    );

    // --- Headline: MeZO step vs two plain forwards, interleaved in blocks. -------------------------
    const twoForwards = async () => {
      await exec.forward(batch);
      await exec.forward(batch);
    };
    const mezo = optimizerNamed('mezo');
    const contenders = headlineNoise.map((kind) => ({
      kind,
      s: stepper(mezo, problem, noiseFor(kind, 1)),
      samples: [] as number[],
      total: 0,
    }));
    // Warm-up: builds both graphs (plain and scalar-perturbed) and, for 'table', touches the table.
    await twoForwards();
    for (const c of contenders) await c.s.run(2);
    // Rounds: one block of the baseline, then one of each MeZO contender. A round during which other
    // processes took CPU is discarded whole (see OTHER_CPU_LIMIT), unless clean rounds never suffice
    // within maxMs; then every round counts and `clean` says so.
    interface Round {
      clean: boolean;
      base: number[];
      mezo: number[][];
    }
    const rounds: Round[] = [];
    const enough = (rs: Round[]) => {
      const sets = [rs.flatMap((r) => r.base), ...contenders.map((_, i) => rs.flatMap((r) => r.mezo[i]!))];
      return sets.every((x) => x.length >= minRuns && x.reduce((a, b) => a + b, 0) >= minMs);
    };
    const headStart = performance.now();
    let lastReport = performance.now();
    for (;;) {
      const cleanRounds = rounds.filter((r) => r.clean);
      if (enough(cleanRounds) || (performance.now() - headStart > maxMs && enough(rounds))) break;
      const others = watchOthers();
      const round: Round = { clean: true, base: [], mezo: [] };
      await settle();
      await twoForwards();
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await twoForwards();
        round.base.push(performance.now() - t);
      }
      for (const c of contenders) {
        await settle();
        const records = await c.s.run(1 + BLOCK);
        round.mezo.push(records.slice(1).map((r) => r.ms));
      }
      round.clean = !((others() ?? 0) > OTHER_CPU_LIMIT);
      rounds.push(round);
      if (performance.now() - lastReport > 1000) {
        lastReport = performance.now();
        const use = rounds.filter((r) => r.clean);
        progress(
          `  ${use.length} clean rounds of ${rounds.length}: 2 forwards ${use.length ? timing(use.flatMap((r) => r.base)).median.toFixed(1) : '?'} ms, ` +
            contenders
              .map((c, i) => `mezo/${c.kind} ${use.length ? timing(use.flatMap((r) => r.mezo[i]!)).median.toFixed(1) : '?'} ms`)
              .join(', '),
        );
      }
    }
    const headlineOtherCpu = runOthers();
    const clean = enough(rounds.filter((r) => r.clean));
    const used = clean ? rounds.filter((r) => r.clean) : rounds;
    const twoForwardsMs = timing(used.flatMap((r) => r.base));
    const mezoRows: MezoStepRow[] = contenders.map((c, i) => {
      const samples = used.flatMap((r) => r.mezo[i]!);
      const stepMs = timing(samples);
      return { noise: c.kind, stepMs, ratio: stepMs.median / twoForwardsMs.median, steps: samples.length };
    });
    restore();
    const flops = forwardFlops(model, batch.B, batch.S);
    const achievedGflops = (2 * flops) / (twoForwardsMs.median / 1000) / 1e9;
    progress(`  one GEMM of a forward's ${(flops / 1e9).toFixed(2)} GFLOP, for reference`);
    const gemm = await gemmReference(flops, batch.B * batch.S, threads, minMs / 2, opts.device);

    // --- Per optimizer: a few steps each, θ restored between them. ----------------------------------
    const mezoRef = mezoRows.find((r) => r.noise === optimizerNoise)!.stepMs.median;
    const rows: OptimizerStepRow[] = [];
    let tfjsBackend: string | undefined;
    const rowsStart = performance.now();
    for (const opt of optimizers) {
      const noise = tracked(noiseFor(optimizerNoise, probesPerStep(opt, parseHyperparameters(opt, { lr: LR }))));
      const s = stepper(opt, problem, noise);
      let records: StepRecord[] = [];
      let rowOthers: number | undefined;
      let error: string | undefined;
      try {
        if (opt.firstOrder) {
          // A first-order step is one tfjs forward + backward: seconds on wasm.
          // tfjs is loaded and θ's variables created before timing. No warm-up step: measured here, a
          // first tfjs-wasm lossAndGrads takes as long as the next (14.4 s both), and a warm-up would
          // double the longest rows of the suite. Not retried under load either, for the same reason.
          const tf = await problem.tfjs();
          tfjsBackend = tf.backend;
          progress(`  ${opt.name}: ${foSteps} timed step${foSteps === 1 ? '' : 's'}, gradients through tfjs ${tf.backend}`);
          const others = watchOthers();
          records = await s.run(foSteps);
          rowOthers = others();
        } else {
          // Retried (at most twice, and only within RETRY_MS of the rows' start, so a busy machine
          // cannot stretch the suite) when other processes took CPU meanwhile.
          for (let attempt = 0; attempt < 3 && (attempt === 0 || performance.now() - rowsStart < RETRY_MS); attempt++) {
            progress(`  ${opt.name}: 1 warm-up + ${zoSteps} timed steps${attempt ? ' (again: other processes were busy)' : ''}`);
            await settle();
            await s.run(1);
            const others = watchOthers();
            records = await s.run(zoSteps);
            rowOthers = others();
            if (!((rowOthers ?? 0) > OTHER_CPU_LIMIT)) break;
          }
        }
      } catch (e) {
        // One broken optimizer (or executor path) is reported in its row; the others still run.
        error = e instanceof Error ? e.message : String(e);
        records = [];
        progress(`  ${opt.name}: failed: ${error}`);
      }
      const stepMs = records.length ? timing(records.map((r) => r.ms)) : { median: NaN, p10: NaN, p90: NaN };
      const sb = stateBytes(s.state);
      const nb = noise.used ? noise.floats * 4 : 0;
      const last = records.at(-1);
      rows.push({
        name: opt.name,
        firstOrder: !!opt.firstOrder,
        noise: optimizerNoise,
        steps: records.length,
        stepMs,
        vsMezo: stepMs.median / mezoRef,
        forwardPasses: opt.forwardPasses(s.h),
        measuredForwardPasses: last?.forwardPasses ?? NaN,
        memoryFactor: opt.memoryFactor(s.h),
        stateBytes: sb,
        noiseBytes: nb,
        extraMb: (sb + nb) / 1e6,
        extraP: (sb + nb) / (4 * P),
        loss: last?.loss ?? NaN,
        otherCpu: rowOthers,
        ...(error !== undefined ? { error } : {}),
      });
      restore();
    }

    // --- Pairs: alternating blocks, θ restored before each, so both see the same state and machine. ----
    const pairs: PairedStepRow[] = [];
    for (const pair of PAIRS) {
      const [a, b] = [pair.base, pair.other].map((n) => optimizers.find((o) => o.name === n));
      if (!a || !b || rows.some((r) => (r.name === a.name || r.name === b.name) && r.error)) continue;
      progress(`  ${b.name} against ${a.name}: ${PAIR_ROUNDS} rounds of ${BLOCK} steps each, alternating`);
      const steppers = [a, b].map((o) =>
        stepper(o, problem, noiseFor(optimizerNoise, probesPerStep(o, parseHyperparameters(o, { lr: LR })))),
      );
      const samples: number[][] = [[], []];
      for (let round = -1; round < PAIR_ROUNDS; round++)
        for (const [i, st] of steppers.entries()) {
          restore();
          await settle();
          const records = await st.run(BLOCK);
          // Round −1 is the warm-up of both.
          if (round >= 0) samples[i]!.push(...records.map((r) => r.ms));
        }
      restore();
      const [baseMs, otherMs] = samples.map(timing) as [Timing, Timing];
      pairs.push({
        base: a.name,
        other: b.name,
        baseMs,
        otherMs,
        ratio: otherMs.median / baseMs.median,
        target: pair.target,
        rounds: PAIR_ROUNDS,
      });
    }

    return {
      model: {
        dir: opts.modelDir,
        family: model.family.name,
        layers: config.layers,
        hidden: config.hidden,
        vocab: config.vocabSize,
        params: P,
        mb: (4 * P) / 1e6,
      },
      batch: batch.B,
      seq: batch.S,
      threads,
      twoForwardsMs,
      rounds: { total: rounds.length, discarded: rounds.filter((r) => !r.clean).length, clean },
      target: STEP_RATIO_TARGET,
      mezo: mezoRows,
      flops: { forward: flops, achievedGflops, gemm, efficiency: achievedGflops / gemm.gflops },
      table: tableReport(sources.get('table/1'), P),
      zigguratWasm: zigguratInWasm,
      noiseThreads: fillThreads(threads),
      axpyWasm: axpyInWasm,
      optimizerNoise,
      optimizers: rows,
      pairs,
      tfjsBackend,
      seconds: (performance.now() - t0) / 1000,
      cores: os.availableParallelism(),
      otherCpu: headlineOtherCpu === undefined ? undefined : { headline: headlineOtherCpu, run: runOthers()! },
      loadAvg: [load0, os.loadavg()[0]!],
    };
  } finally {
    restore();
    await exec.dispose();
    await problem.dispose();
  }
}
