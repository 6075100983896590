/**
 * `zo bench --suite peft`: a MeZO step with LoRA adapters (MeZO's r 8, α 16 on q and v), and one with a
 * prefix (MeZO's 5 slots), against a full MeZO step on the same model and batch, interleaved so that
 * all three see the same machine.
 */
import os from 'node:os';
import type { Model } from '../engine/executor.js';
import { OrtExecutor, type Device } from '../engine/ort.js';
import { DEFAULT_NOISE, makeNoise } from '../core/noise.js';
import { LORA_DEFAULTS, withLora } from '../models/lora.js';
import { PREFIX_DEFAULTS, realActivations, withPrefix } from '../models/prefix.js';
import { optimizerNamed } from '../optimizers/registry.js';
import { benchBatch, benchModel, timing, type Timing } from './forward.js';
import { FixedBatchProblem, stepper } from './step.js';

export interface PeftBench {
  params: number;
  /** LoRA's θ: the adapter blocks' scalars. */
  trainable: number;
  /** The prefix's θ: its slots' scalars (MeZO's 5 per layer). */
  prefixTrainable: number;
  batch: number;
  seq: number;
  threads: number;
  fullMs: Timing;
  loraMs: Timing;
  prefixMs: Timing;
  /** median LoRA step / median full step. */
  ratio: number;
  /** median prefix step / median full step. */
  prefixRatio: number;
}

export interface PeftBenchOptions {
  threads?: number;
  device?: Device;
  model?: Model;
  /** Minimum timed seconds in all (default 10); at least 10 rounds. */
  minSeconds?: number;
  onProgress?: (msg: string) => void;
}

export async function benchPeft(opts: PeftBenchOptions = {}): Promise<PeftBench> {
  const threads = opts.threads ?? os.availableParallelism();
  const full = opts.model ?? benchModel();
  // The adapters share no array with `full`'s θ that a step writes: a full step writes W, the others
  // their own blocks.
  const lora = withLora(full, LORA_DEFAULTS, 0);
  const prefix = withPrefix(full, PREFIX_DEFAULTS.tokens, await realActivations(full, PREFIX_DEFAULTS.tokens, 0));
  const batch = benchBatch(full.config.vocabSize);
  const trainees = [
    { model: full, theta: full.params },
    { model: lora.model, theta: lora.trainable },
    { model: prefix.model, theta: prefix.trainable },
  ];
  const execs = trainees.map((t) => new OrtExecutor(t.model, { threads, device: opts.device }));
  const mezo = optimizerNamed('mezo');
  const steppers = trainees.map((t, i) =>
    stepper(mezo, new FixedBatchProblem(t.model, execs[i]!, batch, t.theta), makeNoise(DEFAULT_NOISE, 0, t.theta.sizes(), 1, threads)),
  );
  try {
    opts.onProgress?.(
      `peft bench: ${full.params.size.toLocaleString('en')} params, LoRA θ ${lora.trainable.size.toLocaleString('en')}, prefix θ ${prefix.trainable.size.toLocaleString('en')}; warming up`,
    );
    for (const s of steppers) await s.run(2);
    const samples: number[][] = steppers.map(() => []);
    const end = performance.now() + (opts.minSeconds ?? 10) * 1000;
    for (let round = 0; round < 10 || performance.now() < end; round++)
      for (const [i, s] of steppers.entries()) {
        const t0 = performance.now();
        await s.run(1);
        samples[i]!.push(performance.now() - t0);
      }
    const [fullMs, loraMs, prefixMs] = samples.map(timing) as [Timing, Timing, Timing];
    return {
      params: full.params.size,
      trainable: lora.trainable.size,
      prefixTrainable: prefix.trainable.size,
      batch: batch.B,
      seq: batch.S,
      threads,
      fullMs,
      loraMs,
      prefixMs,
      ratio: loraMs.median / fullMs.median,
      prefixRatio: prefixMs.median / fullMs.median,
    };
  } finally {
    for (const e of execs) await e.dispose();
  }
}
