import path from 'node:path';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { DEFAULT_NOISE, NOISE_HELP, NOISE_KINDS, type NoiseKind } from '../core/noise.js';
import type { GenerateBench } from '../bench/generate.js';
import type { MemoryBench } from '../bench/memory.js';
import type { EvalBench } from '../bench/evaluate.js';
import type { StepBench } from '../bench/step.js';
import { deviceOption, jsonOption, printJson, threadsOption, wholeNumberFlag, type Device } from './common.js';
import { LORA_DEFAULTS } from '../models/lora.js';
import { PREFIX_DEFAULTS } from '../models/prefix.js';

type Suite = 'forward' | 'step' | 'zoo' | 'generate' | 'memory' | 'eval' | 'peft' | 'all';
const SUITES: readonly Suite[] = ['forward', 'step', 'zoo', 'generate', 'memory', 'eval', 'peft', 'all'];

interface Args {
  json: boolean;
  threads?: number;
  device?: Device;
  seconds?: number;
  suite: Suite;
  optimizers?: string;
  noise?: NoiseKind;
  model?: string;
  steps?: number;
  memorySteps?: number;
  memoryTaskSteps?: number;
}

const ms = (x: { median: number; p10: number; p90: number }) =>
  `${x.median.toFixed(1)} ms (p10 ${x.p10.toFixed(1)}, p90 ${x.p90.toFixed(1)})`;

/**
 * `zo bench`: speed measured as ratios within one run, never asserted in tests (docs/architecture.md#conventions).
 * The forward suite compares zo's traced ORT graph with a hand-written graph of the same model; the
 * step suite compares a MeZO step with two plain forwards, and every optimizer's step with MeZO's; the
 * generate suite compares greedy generation, with and without the KV cache, with one forward pass; the
 * memory suite compares the peak RSS of a MeZO and a zo-ft run with zo's inference on the same batch;
 * the eval suite reports evaluation examples per second per task type; the peft suite times a LoRA
 * and a prefix MeZO step against a full one.
 */
export const benchCommand: CommandModule<object, Args> = {
  command: 'bench',
  describe:
    "benchmarks on a 4-layer d=256 Llama: the ort executor's forward against a hand-built ONNX graph (forward), " +
    'each optimizer’s step time and extra memory against MeZO and two forwards, with the forwards’ GFLOP/s against one GEMM (step), ' +
    'a MeZO step against two forwards on every zoo model (zoo), and, there and on tiny-llama-s ' +
    'with tiny-squad prompts, greedy generation of 50 tokens with the KV cache and recomputing, against one forward pass (generate), ' +
    'and the peak RSS of a MeZO and a zo-ft run against inference on the same batch of a 23.7M-parameter Llama, each in its own process, ' +
    'and of a MeZO run on a task of varied lengths (memory), evaluation examples/s per task type on tiny-llama-s (eval), and LoRA and prefix steps against a full one (peft)',
  builder: (y) =>
    y
      .option('suite', { choices: SUITES, default: 'all' as Suite, describe: 'which benchmarks to run' })
      .option('seconds', {
        type: 'number',
        describe: 'minimum timed seconds per contender (default: forward 5, step 2, generate 3 per model)',
      })
      .option('optimizers', {
        type: 'string',
        describe: 'step suite: comma-separated optimizers for the per-optimizer table (default: all; "" for none)',
      })
      .option('noise', {
        choices: NOISE_KINDS,
        describe: `step suite: noise source (default: MeZO is reported with each, the optimizer table uses the default, ziggurat). ${NOISE_HELP}`,
      })
      .option('model', {
        type: 'string',
        describe:
          'step suite: a model folder instead of the 4-layer bench model (batch 16 × 64 tokens); zo-ft uses its own finetuner when it has one',
      })
      .option('steps', {
        type: 'number',
        coerce: wholeNumberFlag('steps', 1),
        describe: 'step suite: timed steps per zeroth-order optimizer row, after one warm-up (default 3)',
      })
      .option('memory-steps', {
        type: 'number',
        coerce: wholeNumberFlag('memory-steps', 1),
        describe: 'memory suite: steps of the MeZO and zo-ft runs (default 20)',
      })
      .option('memory-task-steps', {
        type: 'number',
        coerce: wholeNumberFlag('memory-task-steps', 1),
        describe: 'memory suite: steps of the MeZO run on a task of varied lengths (default 100)',
      })
      .option('threads', { ...threadsOption, describe: `${threadsOption.describe}; the memory suite's default is 1` })
      .option('device', { ...deviceOption, describe: `${deviceOption.describe}; the memory suite measures the CPU` })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    const onProgress = argv.json ? undefined : (msg: string) => process.stderr.write(`${msg}\n`);
    const out: Record<string, unknown> = {};
    let optimizers: string[] | undefined;
    if (argv.optimizers !== undefined) {
      optimizers = argv.optimizers
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const { optimizerNamed } = await import('../optimizers/registry.js');
      (await import('../learned/registry.js')).registerLearnedOptimizers();
      for (const o of optimizers) optimizerNamed(o);
    }
    if (argv.seconds !== undefined && !(argv.seconds > 0)) throw new ZoError(`--seconds ${argv.seconds}: must be a positive number`);

    const runs = (suite: Suite) => argv.suite === 'all' || argv.suite === suite;
    let printed = false;
    const section = () => {
      if (printed && !argv.json) console.log('');
      printed = true;
    };

    if (runs('forward')) {
      section();
      const { benchForward } = await import('../bench/forward.js');
      const r = await benchForward({ threads: argv.threads, device: argv.device, minSeconds: argv.seconds ?? 5, onProgress });
      out.forward = r;
      if (!argv.json) {
        console.log(
          `forward: ${r.model.layers}-layer d=${r.model.hidden} llama, ${r.model.params.toLocaleString('en')} params, batch ${r.batch} × seq ${r.seq}, ${r.threads} threads`,
        );
        console.log(`  zo ort executor      ${ms(r.zoMs)}`);
        console.log(`  hand-built ORT graph ${ms(r.handMs)}`);
        console.log(`  ratio zo / hand      ${r.ratio.toFixed(3)}×   (loss ${r.lossZo.toFixed(5)} vs ${r.lossHand.toFixed(5)})`);
      }
    }

    if (runs('step')) {
      section();
      const { benchSteps } = await import('../bench/step.js');
      const model = argv.model === undefined ? undefined : (await import('../models/load.js')).loadModel(argv.model);
      const r = await benchSteps({
        threads: argv.threads,
        device: argv.device,
        minSeconds: argv.seconds,
        optimizers,
        noise: argv.noise,
        steps: argv.steps,
        model,
        modelDir: argv.model,
        seqLen: model ? Math.min(64, model.config.maxPositions) : undefined,
        onProgress,
      });
      out.step = r;
      if (!argv.json) {
        console.log(
          `step: ${r.model.dir ?? `${r.model.layers}-layer d=${r.model.hidden} ${r.model.family}`}, ${r.model.params.toLocaleString('en')} params (P = ${r.model.mb.toFixed(1)} MB), ` +
            `batch ${r.batch} × seq ${r.seq}, ${r.threads} threads, the same batch every step`,
        );
        const { total, discarded, clean } = r.rounds;
        console.log(
          `  ${total - (clean ? discarded : 0)} rounds used of ${total}` +
            (discarded
              ? clean
                ? ` (${discarded} discarded: other processes took CPU)`
                : ` (all, though ${discarded} were disturbed by other processes: too few clean ones in time)`
              : ''),
        );
        console.log(`  2 plain forwards     ${ms(r.twoForwardsMs)}`);
        for (const m of r.mezo)
          console.log(
            `  mezo step, ${m.noise.padEnd(5)} noise ${ms(m.stepMs)}   ratio ${m.ratio.toFixed(3)}× ${m.ratio <= r.target ? '≤' : '>'} ${r.target} target`,
          );
        console.log(
          `  ziggurat noise: fast path in ${r.zigguratWasm ? 'WebAssembly SIMD' : 'JS (this Node has no WebAssembly SIMD)'}; z generated on ${r.noiseThreads} thread${r.noiseThreads === 1 ? '' : 's'}; the update θ − c·z in ${r.axpyWasm ? 'WebAssembly SIMD' : 'JS'}`,
        );
        if (r.table) console.log(`  table noise: ${r.table.summary}`);
        console.log(`  ${flopsLine(r.flops)}`);
        if (r.optimizers.length) {
          console.log(`  per optimizer (${r.optimizerNoise} noise; vs mezo = median step / mezo's; extra = state slots + noise source)`);
          const head = ['optimizer', 'step ms', 'vs mezo', 'passes', 'mem factor', 'extra MB', 'extra ×P'];
          const rows = r.optimizers.map((o) => [
            o.name + (o.firstOrder ? ' (fo)' : '') + ((o.otherCpu ?? 0) > 0.1 ? ' *' : ''),
            o.stepMs.median.toFixed(1),
            `${o.vsMezo.toFixed(2)}×`,
            o.measuredForwardPasses === o.forwardPasses ? `${o.forwardPasses}` : `${o.measuredForwardPasses} (declared ${o.forwardPasses})`,
            `${o.memoryFactor}`,
            o.extraMb.toFixed(1),
            `${o.extraP.toFixed(2)}`,
          ]);
          const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
          const line = (cells: string[]) =>
            '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
          console.log(line(head));
          rows.forEach((row, i) => {
            const err = r.optimizers[i]!.error;
            console.log(err === undefined ? line(row) : `  ${row[0]!.padEnd(widths[0]!)}  failed: ${err}`);
          });
          if (r.tfjsBackend) console.log(`  first-order (fo) gradients through tfjs ${r.tfjsBackend}`);
          for (const p of r.pairs)
            console.log(
              `  ${p.other} against ${p.base}, alternating blocks (${p.rounds} rounds): ${p.otherMs.median.toFixed(1)} vs ${p.baseMs.median.toFixed(1)} ms, ` +
                `ratio ${p.ratio.toFixed(3)}×` +
                (p.target === undefined ? '' : ` ${p.ratio <= p.target ? '≤' : '>'} ${p.target} target`),
            );
          if (r.optimizers.some((o) => (o.otherCpu ?? 0) > 0.1)) console.log('  * timed while other processes took CPU: distorted');
        }
        const others = r.otherCpu
          ? `other processes used ${r.otherCpu.headline.toFixed(2)} of ${r.cores} cores during the mezo-vs-forwards part, ${r.otherCpu.run.toFixed(2)} overall`
          : `1-min load average ${r.loadAvg[0].toFixed(2)} at the start`;
        console.log(`  (${r.seconds.toFixed(1)} s; ${others})`);
      }
    }

    if (runs('generate')) {
      section();
      const { benchGenerate } = await import('../bench/generate.js');
      const r = await benchGenerate({ threads: argv.threads, device: argv.device, minSeconds: argv.seconds, onProgress });
      out.generate = r;
      if (!argv.json) printGenerate(r);
    }

    if (runs('memory')) {
      section();
      const { benchMemory } = await import('../bench/memory.js');
      const r = await benchMemory({ threads: argv.threads, steps: argv.memorySteps, taskSteps: argv.memoryTaskSteps, onProgress });
      out.memory = r;
      if (!argv.json) printMemory(r);
    }
    if (runs('zoo')) {
      section();
      const { benchZoo } = await import('../bench/zoo.js');
      const r = await benchZoo({ threads: argv.threads, device: argv.device, minSeconds: argv.seconds, onProgress });
      out.zoo = r;
      if (!argv.json) {
        console.log(
          `zoo: a MeZO step (${DEFAULT_NOISE} noise) against two plain forwards, batch ${r.batch} × seq ${r.seq}, ${r.threads} threads`,
        );
        const head = ['model', 'params', '2 fwd ms', 'step ms', 'ratio', `≤ ${r.target}×`, 'GFLOP/s', 'GEMM GFLOP/s', 'of GEMM'];
        const body = r.rows.map((x) => [
          x.model,
          x.params.toLocaleString('en'),
          x.twoForwardsMs.toFixed(1),
          x.stepMs.toFixed(1),
          `${x.ratio.toFixed(3)}×`,
          x.holds ? 'holds' : 'does not',
          x.flops.achievedGflops.toFixed(1),
          x.flops.gemm.gflops.toFixed(1),
          `${(100 * x.flops.efficiency).toFixed(0)}%`,
        ]);
        const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
        for (const line of [head, ...body])
          console.log(`  ${line.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}`);
      }
    }
    if (runs('peft')) {
      section();
      const { benchPeft } = await import('../bench/peft.js');
      const model = argv.model === undefined ? undefined : (await import('../models/load.js')).loadModel(argv.model);
      const r = await benchPeft({ threads: argv.threads, device: argv.device, model, minSeconds: argv.seconds, onProgress });
      out.peft = r;
      if (!argv.json) {
        console.log(
          `peft: MeZO with LoRA (r ${LORA_DEFAULTS.r}, α ${LORA_DEFAULTS.alpha}, ${LORA_DEFAULTS.targets.join('/')}: θ ${r.trainable.toLocaleString('en')}) and with a prefix (${PREFIX_DEFAULTS.tokens} slots: θ ${r.prefixTrainable.toLocaleString('en')}) of ${r.params.toLocaleString('en')} params, against full MeZO, batch ${r.batch} × seq ${r.seq}, ${r.threads} threads`,
        );
        console.log(`  full MeZO step        ${ms(r.fullMs)}`);
        console.log(`  LoRA MeZO step        ${ms(r.loraMs)}`);
        console.log(`  prefix MeZO step      ${ms(r.prefixMs)}`);
        console.log(`  ratio LoRA / full     ${r.ratio.toFixed(3)}×`);
        console.log(`  ratio prefix / full   ${r.prefixRatio.toFixed(3)}×`);
      }
    }
    if (runs('eval')) {
      section();
      const { benchEvaluate } = await import('../bench/evaluate.js');
      const r = await benchEvaluate({ threads: argv.threads, device: argv.device, onProgress });
      out.eval = r;
      if (!argv.json) printEval(r);
    }
    if (argv.json) printJson(out);
  },
};

function printEval(r: EvalBench): void {
  console.log(
    `eval: ${r.model} (${r.params.toLocaleString('en')} params), ${r.threads} thread${r.threads === 1 ? '' : 's'}; ` +
      'examples/s of the dev loss and of the whole score (loss + candidates or generation), each on a warm second pass',
  );
  console.log('  task             type              examples   loss ex/s   score ex/s   score');
  for (const x of r.rows)
    console.log(
      `  ${x.task.padEnd(16)} ${x.type.padEnd(16)} ${String(x.examples).padStart(9)} ${x.lossPerSecond.toFixed(1).padStart(11)} ${x.scorePerSecond.toFixed(1).padStart(12)}   ${x.metric} ${(100 * x.score).toFixed(1)}`,
    );
  console.log(`  (${r.seconds.toFixed(1)} s)`);
}

function printMemory(r: MemoryBench): void {
  console.log(
    `memory: ${r.model.layers}-layer d=${r.model.hidden} ${r.model.family}, ${r.model.params.toLocaleString('en')} params (P = ${r.model.mb.toFixed(1)} MB), ` +
      `batch ${r.batch} × seq ${r.seq}, ${r.threads} thread${r.threads === 1 ? '' : 's'}; peak RSS of each command in its own process`,
  );
  const v = r.varied;
  const rows: [string, number, string][] = [
    ['inference (zo forward --text-file)', r.inference.peakMb, ''],
    ...r.runs.map((x): [string, number, string] => [
      `${x.optimizer}, ${x.steps} steps (zo run --text-file)`,
      x.peakMb,
      `extra ${x.extraMb.toFixed(1)} MB = ${x.extraP.toFixed(2)} P, goal ≤ ${r.goalP} P: ${x.holds ? 'holds' : 'does not hold'}`,
    ]),
    [
      `mezo on ${v.task}, ${v.steps} steps (varied lengths)`,
      v.peakMb,
      `= ${v.peakP.toFixed(1)} P of its model (${path.basename(v.model)}, ${v.params.toLocaleString('en')} params, P = ${v.mb.toFixed(1)} MB)`,
    ],
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  const mbW = Math.max(...rows.map(([, x]) => x.toFixed(1).length));
  for (const [l, x, note] of rows) console.log(`  ${l.padEnd(w)}  ${x.toFixed(1).padStart(mbW)} MB${note ? `   ${note}` : ''}`);
  console.log(
    `  (${r.seconds.toFixed(1)} s; 1-min load average ${r.loadAvg[0].toFixed(2)} at the start, ${r.loadAvg[1].toFixed(2)} at the end, ${r.cores} cores)`,
  );
}

function printGenerate(r: GenerateBench): void {
  const n = r.rows[0]?.newTokens ?? 0;
  console.log(`generate: greedy decoding of ${n} tokens a row, ${r.threads} threads; median ms per example, ratios of medians`);
  for (const row of r.rows) {
    const per = (x: number) => `${x.toFixed(2)} ms`.padStart(10);
    console.log(
      `  ${row.label} (${row.promptTokens[0]}–${row.promptTokens[1]} tokens), ${row.params.toLocaleString('en')} params, batch ${row.batch}`,
    );
    console.log(`    (a) one forward pass      ${per(row.perExampleMs.forward)}`);
    console.log(`    (b) generate, KV cache    ${per(row.perExampleMs.kv)}   (b)/(a) ${row.kvOverForward.toFixed(2)}×`);
    console.log(`    (c) generate, recompute   ${per(row.perExampleMs.recompute)}   (c)/(b) ${row.recomputeOverKv.toFixed(2)}×`);
    console.log(
      `    same tokens: ${row.sameTokens ? 'yes' : 'NO'}; KV cache ${row.cacheMb.toFixed(1)} MB, ` +
        `a decode step writes ${row.stepOutputKb.toFixed(1)} kB out of the graph; ${row.rounds} rounds`,
    );
  }
  console.log(`  (${r.seconds.toFixed(1)} s)`);
}

/** A forward's FLOPs and speed against one GEMM of its size (StepBench.flops), in one line. */
function flopsLine(f: StepBench['flops']): string {
  return (
    `forward: ${(f.forward / 1e9).toFixed(3)} GFLOP of matrix products; two forwards ran at ${f.achievedGflops.toFixed(1)} GFLOP/s, ` +
    `${(100 * f.efficiency).toFixed(0)}% of one GEMM [${f.gemm.m} × ${f.gemm.k}] · [${f.gemm.k} × ${f.gemm.n}] of the same FLOPs (${f.gemm.gflops.toFixed(1)} GFLOP/s)`
  );
}
