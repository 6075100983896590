import os from 'node:os';
import ort from 'onnxruntime-node';
import { feedsFor, type Batch } from '../engine/batch.js';
import type { Model } from '../engine/executor.js';
import { int64, OrtExecutor, sessionOptions, type Device } from '../engine/ort.js';
import { initParams } from '../models/init.js';
import { llama, type LlamaConfig } from '../models/llama.js';
import { keyOf, uniformAt } from '../core/rng.js';
import { handBuiltLlamaGraph } from './handbuilt-llama.js';

export interface Timing {
  median: number;
  p10: number;
  p90: number;
}

export interface ForwardBench {
  model: { layers: number; hidden: number; heads: number; vocab: number; params: number };
  batch: number;
  seq: number;
  threads: number;
  /** Milliseconds per `OrtExecutor.forward` call. */
  zoMs: Timing;
  /** Milliseconds per call of the hand-built graph, feeds built per call the same way. */
  handMs: Timing;
  /** median zo / median hand: above 1 means the traced graph is slower. */
  ratio: number;
  lossZo: number;
  lossHand: number;
}

export interface ForwardBenchOptions {
  /** Intra-op threads for both sessions; defaults to the machine's available parallelism. */
  /** The ort executor's device (default cpu). */
  device?: Device;
  threads?: number;
  /** Untimed runs of each before timing (default 3). */
  warmup?: number;
  /** Minimum timed seconds per contender (default 5); at least 10 runs each regardless. */
  minSeconds?: number;
  onProgress?: (msg: string) => void;
}

const BATCH = 16;
const SEQ = 64;
const MIN_RUNS = 10;
/**
 * The contenders alternate in short blocks rather than call by call. Each session owns an ORT
 * intra-op pool whose workers spin-wait for tens of ms after a run; on a machine where both pools
 * want every core, a run that starts right after the other session's run shares the CPU with those
 * spinning threads (measured on 2 cores: 55 ms alone, ~90 ms each when alternating call by call).
 * So each block first lets the other pool go idle (SETTLE_MS), then makes one untimed switch-in run,
 * then BLOCK timed ones: steady-state timings, as a training loop calling one session sees, with
 * drift still cancelled at block granularity.
 */
const BLOCK = 4;
const SETTLE_MS = 50;

/** The bench model: a 4-layer d=256 Llama, MHA, tied embeddings, N(0, 0.02²) init with seed 0. */
export function benchModel(): Model<LlamaConfig> {
  const config = llama.parseConfig(
    {
      model_type: 'llama',
      vocab_size: 512,
      hidden_size: 256,
      intermediate_size: 688,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      max_position_embeddings: 128,
      tie_word_embeddings: true,
    },
    'bench',
  );
  return { family: llama, config, params: initParams(llama, config, 0, 0.02) };
}

/** B full rows of S random token ids (every slot but the last of a row predicts the next). */
export function benchBatch(vocab: number, B = BATCH, S = SEQ, seed = 0): Batch {
  const N = B * S;
  const key = keyOf(seed, 0xbe7c);
  const ids = Int32Array.from({ length: N }, (_, n) => Math.floor(uniformAt(key, n) * vocab));
  const targets = new Int32Array(N);
  const weights = new Float32Array(N);
  for (let b = 0; b < B; b++)
    for (let s = 0; s + 1 < S; s++) {
      targets[b * S + s] = ids[b * S + s + 1]!;
      weights[b * S + s] = 1;
    }
  return { B, S, ids, attention: new Uint8Array(N).fill(1), targets, weights };
}

/** Median and p10/p90 of samples, by linear interpolation. */
export function timing(samples: readonly number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => {
    const x = p * (s.length - 1);
    const lo = Math.floor(x);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (x - lo);
  };
  return { median: at(0.5), p10: at(0.1), p90: at(0.9) };
}

/**
 * Times `OrtExecutor.forward` against the hand-built ONNX graph of the same model and batch, in one
 * process, alternating zo, hand, zo, hand… (in blocks, see BLOCK) so drift (thermal, other load)
 * hits both equally.
 */
export async function benchForward(opts: ForwardBenchOptions = {}): Promise<ForwardBench> {
  const threads = opts.threads ?? os.availableParallelism();
  const warmup = opts.warmup ?? 3;
  const minMs = (opts.minSeconds ?? 5) * 1000;
  const progress = opts.onProgress ?? (() => {});

  const model = benchModel();
  const { config, params } = model;
  const batch = benchBatch(config.vocabSize);
  const { B, S } = batch;

  const exec = new OrtExecutor(model, { threads, device: opts.device });
  // The options OrtExecutor uses, so only the graphs differ.
  const hand = await ort.InferenceSession.create(handBuiltLlamaGraph(config, B, S), sessionOptions(threads, opts.device ?? 'cpu'));
  // θ as zero-copy tensors, created once, as OrtExecutor does.
  const weightTensors = params.names.map((name) => [name, new ort.Tensor('float32', params.get(name), [...params.shape(name)])] as const);

  const zoRun = async (): Promise<number> => (await exec.forward(batch)).loss;
  // Fairness: the data feeds are rebuilt on every call exactly as OrtExecutor.forward does
  // (feedsFor, then BigInt64 tensors for the int inputs), because that JS work is part of each
  // zo forward's real cost. Building them once outside the loop would credit the hand-built side
  // with work zo cannot skip, so the ratio would no longer measure the graphs alone.
  const handRun = async (): Promise<number> => {
    const f = feedsFor(model.family, config, batch);
    const feeds: Record<string, ort.Tensor> = {
      ids: int64(f.ids),
      positions: int64(f.positions),
      targets: int64(f.targets),
      mask: new ort.Tensor('float32', f.mask, [B, 1, S, S]),
      weights: new ort.Tensor('float32', f.weights, [B * S]),
    };
    for (const [name, t] of weightTensors) feeds[name] = t;
    const out = await hand.run(feeds);
    return (out.loss!.data as Float32Array)[0]!;
  };

  try {
    progress(
      `forward bench: ${config.layers}-layer d=${config.hidden} llama, batch ${B} × seq ${S}, ${threads} threads; building sessions`,
    );
    let lossZo = NaN;
    let lossHand = NaN;
    for (let i = 0; i < warmup; i++) {
      lossZo = await zoRun();
      lossHand = await handRun();
    }
    const zoMs: number[] = [];
    const handMs: number[] = [];
    let zoTotal = 0;
    let handTotal = 0;
    let lastReport = performance.now();
    /** One block of one contender: settle, an untimed switch-in run, then BLOCK timed runs. */
    const block = async (run: () => Promise<number>, samples: number[]): Promise<[number, number]> => {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      let loss = await run();
      let total = 0;
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        loss = await run();
        const ms = performance.now() - t;
        samples.push(ms);
        total += ms;
      }
      return [loss, total];
    };
    while (zoMs.length < MIN_RUNS || handMs.length < MIN_RUNS || zoTotal < minMs || handTotal < minMs) {
      let ms: number;
      [lossZo, ms] = await block(zoRun, zoMs);
      zoTotal += ms;
      [lossHand, ms] = await block(handRun, handMs);
      handTotal += ms;
      if (performance.now() - lastReport > 1000) {
        lastReport = performance.now();
        progress(`  ${zoMs.length} runs each: zo ${timing(zoMs).median.toFixed(1)} ms, hand ${timing(handMs).median.toFixed(1)} ms`);
      }
    }
    const zo = timing(zoMs);
    const hd = timing(handMs);
    return {
      model: { layers: config.layers, hidden: config.hidden, heads: config.heads, vocab: config.vocabSize, params: params.size },
      batch: B,
      seq: S,
      threads,
      zoMs: zo,
      handMs: hd,
      ratio: zo.median / hd.median,
      lossZo,
      lossHand,
    };
  } finally {
    await exec.dispose();
    await hand.release();
  }
}
