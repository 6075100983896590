import os from 'node:os';
import path from 'node:path';
import { lmBatch } from '../engine/batch.js';
import { recomputeDecoder, type Decoder } from '../engine/decoder.js';
import type { Model } from '../engine/executor.js';
import { OrtExecutor, type Device } from '../engine/ort.js';
import { loadModel } from '../models/load.js';
import { packageRoot } from '../core/paths.js';
import { batchOptions, encodeSplit } from '../tasks/problem.js';
import { taskNamed } from '../../datasets/registry.js';
import { MAX_NEW_TOKENS } from '../tasks/scoring.js';
import { keyOf, uniformAt } from '../core/rng.js';
import { benchModel, timing, type Timing } from './forward.js';

export interface GenerateBenchRow {
  /** Which model and prompts, in words. */
  label: string;
  params: number;
  batch: number;
  /** Shortest and longest prompt, in tokens. */
  promptTokens: [number, number];
  newTokens: number;
  /** Milliseconds per batch: (a) one forward pass over the prompts, (b) greedy generation with the KV cache, (c) the same recomputing every prefix. */
  forwardMs: Timing;
  kvMs: Timing;
  recomputeMs: Timing;
  /** Medians divided by the batch size. */
  perExampleMs: { forward: number; kv: number; recompute: number };
  /** median (b) / median (a): generation's cost in forward passes over the prompt. */
  kvOverForward: number;
  /** median (c) / median (b): the cache's speed-up. */
  recomputeOverKv: number;
  /** Both decoders chose the same tokens. */
  sameTokens: boolean;
  /** The KV cache's size, and what one decode step writes out of the graph (logits + new keys/values). */
  cacheMb: number;
  stepOutputKb: number;
  rounds: number;
}

export interface GenerateBench {
  threads: number;
  rows: GenerateBenchRow[];
  seconds: number;
}

export interface GenerateBenchOptions {
  /** The ort executor's device (default cpu). */
  device?: Device;
  threads?: number;
  /** Minimum timed seconds of the slowest contender (recompute) per model (default 3); at least `minRuns` rounds regardless. */
  minSeconds?: number;
  minRuns?: number;
  /** Tokens generated per row (default MeZO's 50). */
  newTokens?: number;
  /** Other models and prompts (tests use tiny ones); default: tiny-llama-s on tiny-squad, and the bench model. */
  cases?: GenerateCase[];
  onProgress?: (msg: string) => void;
}

export interface GenerateCase {
  label: string;
  model: Model;
  prompts: number[][];
  padId: number;
}

/** Every row's argmax for exactly n tokens (no stopping rule): the tokens chosen at each step. Disposes `dec` unless `keep`. */
async function greedyIds(dec: Decoder, prompts: readonly number[][], n: number, keep = false): Promise<Int32Array[]> {
  const B = prompts.length;
  const out: Int32Array[] = [];
  try {
    let logits = await dec.start(prompts, n);
    const V = logits.length / B;
    for (let t = 0; t < n; t++) {
      const next = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[b * V + v]! > logits[b * V + best]!) best = v;
        next[b] = best;
      }
      out.push(next);
      if (t + 1 < n) logits = await dec.append(next);
    }
  } finally {
    if (!keep) await dec.dispose();
  }
  return out;
}

/** The default cases: a zoo model on its eval chunk of tiny-squad prompts, and the bench model on random prompts. */
export async function defaultCases(): Promise<GenerateCase[]> {
  const zoo = loadModel(path.join(packageRoot(), 'models', 'tiny-llama-s'));
  const task = taskNamed('tiny-squad');
  const o = batchOptions(zoo, 2048);
  const dev = (await task.load({ trainSetSeed: 0 })).dev.slice(0, o.chunk);
  const squad = encodeSplit(task, zoo, dev, 'dev', o.maxLen).map((e) => e.prompt);
  const bench = benchModel();
  const key = keyOf(0, 0x6e4);
  // 16 rows of 34 … 64 tokens: 64 + 50 new stays within the bench model's 128 positions.
  const random = Array.from({ length: 16 }, (_, b) =>
    Array.from({ length: 34 + 2 * b }, (_, s) => Math.floor(uniformAt(key, b * 64 + s) * bench.config.vocabSize)),
  );
  return [
    { label: `tiny-llama-s, ${squad.length} tiny-squad dev prompts`, model: zoo, prompts: squad, padId: o.padId },
    {
      label: `bench model (${bench.config.layers}-layer d=${bench.config.hidden} llama), 16 random prompts`,
      model: bench,
      prompts: random,
      padId: 0,
    },
  ];
}

/**
 * Times, per model, in rounds (a), (b), (c), (a), (b), (c)… so drift hits all three alike:
 * (a) one forward pass over the prompt batch (what scoring the loss costs), (b) greedy generation of
 * `newTokens` tokens with the ort executor's KV cache, (c) the same through `recomputeDecoder`.
 * One executor serves all three, so their graphs are compiled once, in an untimed warm-up round.
 */
export async function benchGenerate(opts: GenerateBenchOptions = {}): Promise<GenerateBench> {
  const threads = opts.threads ?? os.availableParallelism();
  const minMs = (opts.minSeconds ?? 3) * 1000;
  const minRuns = opts.minRuns ?? 3;
  const n = opts.newTokens ?? MAX_NEW_TOKENS;
  const progress = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  const rows: GenerateBenchRow[] = [];
  for (const c of opts.cases ?? (await defaultCases())) {
    const exec = new OrtExecutor(c.model, { threads, device: opts.device });
    const lens = c.prompts.map((p) => p.length);
    const longest = Math.max(...lens);
    const batch = lmBatch(c.prompts, c.padId, Math.ceil(longest / 16) * 16);
    const B = c.prompts.length;
    try {
      progress(`generate bench: ${c.label}, ${n} new tokens, ${threads} threads; compiling`);
      const forward = async () => (await exec.forward(batch)).loss;
      const kvDecoder = exec.decoder(c.padId);
      const kv = () => greedyIds(kvDecoder, c.prompts, n);
      const recompute = () => greedyIds(recomputeDecoder(exec, c.padId), c.prompts, n);
      await forward();
      const kvIds = await greedyIds(kvDecoder, c.prompts, n, true);
      const footprint = kvDecoder.footprint()!;
      await kvDecoder.dispose();
      const refIds = await recompute();
      const sameTokens = kvIds.every((row, t) => row.every((id, b) => id === refIds[t]![b]));
      const samples = { forward: [] as number[], kv: [] as number[], recompute: [] as number[] };
      const time = async (what: keyof typeof samples, run: () => Promise<unknown>) => {
        const t = performance.now();
        await run();
        samples[what].push(performance.now() - t);
      };
      let spent = 0;
      while (samples.recompute.length < minRuns || spent < minMs) {
        await time('forward', forward);
        await time('kv', kv);
        await time('recompute', recompute);
        spent += samples.recompute.at(-1)!;
        progress(
          `  round ${samples.recompute.length}: forward ${samples.forward.at(-1)!.toFixed(1)} ms, kv ${samples.kv.at(-1)!.toFixed(1)} ms, recompute ${samples.recompute.at(-1)!.toFixed(1)} ms`,
        );
      }
      const [forwardMs, kvMs, recomputeMs] = [timing(samples.forward), timing(samples.kv), timing(samples.recompute)];
      rows.push({
        label: c.label,
        params: c.model.params.size,
        batch: B,
        promptTokens: [Math.min(...lens), longest],
        newTokens: n,
        forwardMs,
        kvMs,
        recomputeMs,
        perExampleMs: { forward: forwardMs.median / B, kv: kvMs.median / B, recompute: recomputeMs.median / B },
        kvOverForward: kvMs.median / forwardMs.median,
        recomputeOverKv: recomputeMs.median / kvMs.median,
        sameTokens,
        cacheMb: footprint.cacheBytes / 1e6,
        stepOutputKb: footprint.stepOutputBytes / 1e3,
        rounds: samples.recompute.length,
      });
    } finally {
      await exec.dispose();
    }
  }
  return { threads, rows, seconds: (performance.now() - t0) / 1000 };
}
