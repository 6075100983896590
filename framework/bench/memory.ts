import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../core/paths.js';
import { saveFinetuner, randomFinetuner } from '../learned/finetuner.js';
import { initParams } from '../models/init.js';
import { llama } from '../models/llama.js';
import { loadModel } from '../models/load.js';
import { tensorsOf, writeSafetensors } from '../models/safetensors.js';
import { zooModelDir } from '../models/zoo.js';
import { loadCorpus } from '../pretrain/corpus.js';

/** The goal: a run's peak RSS over inference's, on the same batch, at most this many P. */
export const MEMORY_GOAL_P = 0.1;

/**
 * The bench model's config.json: a random-init Llama of 23.7 M parameters (d 512, 8 layers, GQA 8/4
 * heads, tied embeddings; 94.9 MB of fp32 weights), over the zoo's 1,024-token tokenizer.
 */
export const MEMORY_MODEL: Record<string, unknown> = {
  model_type: 'llama',
  hidden_size: 512,
  intermediate_size: 1376,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  max_position_embeddings: 256,
  rope_theta: 500000,
  tie_word_embeddings: true,
  vocab_size: 1024,
  bos_token_id: 1023,
  eos_token_id: 1023,
  torch_dtype: 'float32',
};
/** The zoo model whose tokenizer (1,024 ids) the bench model uses. */
const TOKENIZER_FROM = 'tiny-llama-s';

export interface MemoryCommand {
  /** The child's arguments after `zo` (paths into the bench's temporary folder, removed afterwards). */
  args: string[];
  /** The child's peak RSS in MB (10⁶ bytes), as it reported it at its end. */
  peakMb: number;
  seconds: number;
}

export interface MemoryRun extends MemoryCommand {
  optimizer: string;
  steps: number;
  /** peakMb − the inference peak, in MB and as a multiple of P. */
  extraMb: number;
  extraP: number;
  /** extraP ≤ MEMORY_GOAL_P. */
  holds: boolean;
}

export interface MemoryBench {
  model: { family: string; layers: number; hidden: number; vocab: number; params: number; mb: number };
  batch: number;
  seq: number;
  threads: number;
  goalP: number;
  /** `zo forward --text-file` on one batch: zo's inference peak. */
  inference: MemoryCommand & { loss: number };
  /** `zo run --text-file` with MeZO and with zo-ft (a random bank), on batches of the same shape. */
  runs: MemoryRun[];
  /** A MeZO run on a task of varied lengths, on a zoo model: its peak against its weights. */
  varied: MemoryCommand & {
    model: string;
    task: string;
    steps: number;
    params: number;
    mb: number;
    /** peakMb / mb. */
    peakP: number;
  };
  seconds: number;
  cores: number;
  /** 1-minute load average at the start and the end: other processes share the machine's memory too. */
  loadAvg: [number, number];
}

export interface MemoryBenchOptions {
  /** Intra-op threads of every child (default 1). */
  threads?: number;
  /** Steps of the MeZO and zo-ft runs (default 20). */
  steps?: number;
  /** Steps of the variable-length task run (default 100). */
  taskSteps?: number;
  /** The batch shape of all three measurements on the bench model (default 8 × 64). */
  batchSize?: number;
  seqLen?: number;
  /** config.json fields over MEMORY_MODEL (tests shrink it; vocab_size must stay the tokenizer's 1,024). */
  model?: Record<string, unknown>;
  /** The variable-length run's model folder and task (default the zoo's tiny-llama-m, tiny-sentiment). */
  taskModel?: string;
  task?: string;
  onProgress?: (msg: string) => void;
}

const run = promisify(execFile);

/**
 * Runs `zo ARGS --json` in its own process and returns its JSON and its time. Each measurement is a
 * separate process so each peak is that command's alone.
 */
async function zoChild(args: string[]): Promise<{ out: Record<string, unknown>; seconds: number }> {
  const t0 = performance.now();
  try {
    const { stdout } = await run(process.execPath, [path.join(packageRoot(), 'bin', 'zo.js'), ...args, '--json'], { maxBuffer: 64 << 20 });
    return { out: JSON.parse(stdout) as Record<string, unknown>, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    const err = e as { code?: number; stderr?: string; message: string };
    throw new Error(`zo ${args.join(' ')}: exit ${err.code ?? '?'}: ${(err.stderr ?? err.message).trim()}`, { cause: e });
  }
}

/**
 * The child's peak RSS, as it read `process.resourceUsage().maxRSS` itself after its last forward pass
 * (zo run's summary, zo forward --json; core/rss.ts). Chosen over the parent reading
 * /proc/<pid>/status VmHWM: that can only be polled while the child lives, so a peak in its last
 * moments (a run's final evaluation) could be missed, and it is Linux only; the child's own counter is
 * the kernel's high-water mark, exact, and the same for every row.
 */
function peakOf(out: Record<string, unknown>, args: string[]): number {
  const mb = out.peakRssMb;
  if (typeof mb !== 'number' || !(mb > 0)) throw new Error(`zo ${args.join(' ')}: no peakRssMb in its --json output`);
  return mb;
}

/** The bench model folder in `dir`: config.json, model.safetensors (seed 0) and the zoo's tokenizer. */
function writeBenchModel(dir: string, raw: Record<string, unknown>) {
  fs.mkdirSync(dir, { recursive: true });
  const config = llama.parseConfig(raw, path.join(dir, 'config.json'));
  const params = initParams(llama, config, 0, 0.02);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensorsOf(params));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(zooModelDir(TOKENIZER_FROM), f), path.join(dir, f));
  return { config, params };
}

/**
 * Peak resident memory of zo's inference, of a MeZO run and of a zo-ft run on the same batch shape of
 * a ≥ 20 M-parameter model, each in its own `zo` process, and of a MeZO run on a task of varied
 * lengths (issue #11). The bench model and its text (the pretraining corpus's held-out documents,
 * 64·B·S characters: eight full eval batches for `zo run`) are written to a temporary folder, removed
 * at the end.
 */
export async function benchMemory(opts: MemoryBenchOptions = {}): Promise<MemoryBench> {
  const t0 = performance.now();
  const load0 = os.loadavg()[0]!;
  const threads = opts.threads ?? 1;
  const steps = opts.steps ?? 20;
  const taskSteps = opts.taskSteps ?? 100;
  const B = opts.batchSize ?? 8;
  const S = opts.seqLen ?? 64;
  const progress = opts.onProgress ?? (() => {});
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-bench-memory-'));
  try {
    const modelDir = path.join(tmp, 'model');
    const { config, params } = writeBenchModel(modelDir, { ...MEMORY_MODEL, ...opts.model });
    const P = params.size;
    const Pmb = (4 * P) / 1e6;
    const textFile = path.join(tmp, 'text.txt');
    fs.writeFileSync(
      textFile,
      loadCorpus()
        .val.map((d) => d.text)
        .join('\n\n')
        .slice(0, 64 * B * S),
    );
    const bankDir = path.join(tmp, 'finetuner');
    saveFinetuner(bankDir, randomFinetuner(params, config, 0));
    progress(
      `memory bench: ${config.layers}-layer d=${config.hidden} llama, ${P.toLocaleString('en')} params (P = ${Pmb.toFixed(1)} MB), ` +
        `batch ${B} × seq ${S}, ${threads} thread${threads === 1 ? '' : 's'}; each measurement in its own zo process`,
    );
    const shape = ['--batch-size', `${B}`, '--seq-len', `${S}`, '--threads', `${threads}`];

    const measure = async (label: string, args: string[]) => {
      progress(`  ${label}: zo ${args.join(' ')}`);
      const { out, seconds } = await zoChild(args);
      const peakMb = peakOf(out, args);
      progress(`    peak ${peakMb.toFixed(1)} MB (${seconds.toFixed(1)} s)`);
      return { out, cmd: { args, peakMb, seconds } };
    };

    const inf = await measure('inference', ['forward', '--model', modelDir, '--text-file', textFile, ...shape]);
    const inference = { ...inf.cmd, loss: inf.out.loss as number };

    const runs: MemoryRun[] = [];
    for (const [optimizer, extra] of [
      ['mezo', []],
      ['zo-ft', ['--finetuner', bankDir]],
    ] as const) {
      const args = [
        'run',
        '--model',
        modelDir,
        '--text-file',
        textFile,
        '--optimizer',
        optimizer,
        ...extra,
        '--steps',
        `${steps}`,
        ...shape,
        '--out',
        path.join(tmp, `run-${optimizer}`),
      ];
      const { cmd } = await measure(`${optimizer}, ${steps} steps`, args);
      const extraMb = cmd.peakMb - inference.peakMb;
      const extraP = extraMb / Pmb;
      runs.push({ ...cmd, optimizer, steps, extraMb, extraP, holds: extraP <= MEMORY_GOAL_P });
    }

    const taskModel = opts.taskModel ?? zooModelDir('tiny-llama-m');
    const task = opts.task ?? 'tiny-sentiment';
    const tP = loadModel(taskModel).params.size;
    const { cmd: v } = await measure(`varied lengths, ${taskSteps} steps`, [
      'run',
      '--model',
      taskModel,
      '--task',
      task,
      '--optimizer',
      'mezo',
      '--steps',
      `${taskSteps}`,
      '--threads',
      `${threads}`,
      '--out',
      path.join(tmp, 'run-varied'),
    ]);
    const tMb = (4 * tP) / 1e6;
    return {
      model: { family: 'llama', layers: config.layers, hidden: config.hidden, vocab: config.vocabSize, params: P, mb: Pmb },
      batch: B,
      seq: S,
      threads,
      goalP: MEMORY_GOAL_P,
      inference,
      runs,
      varied: { ...v, model: taskModel, task, steps: taskSteps, params: tP, mb: tMb, peakP: v.peakMb / tMb },
      seconds: (performance.now() - t0) / 1000,
      cores: os.availableParallelism(),
      loadAvg: [load0, os.loadavg()[0]!],
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
