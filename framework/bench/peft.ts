/**
 * `zo bench --suite peft`: a MeZO step with LoRA adapters (MeZO's r 8, α 16 on q and v) against a full
 * MeZO step on the same model and batch, interleaved so that both see the same machine.
 */
import os from 'node:os';
import type { Model } from '../engine/executor.js';
import { OrtExecutor, type Device } from '../engine/ort.js';
import { DEFAULT_NOISE, makeNoise } from '../core/noise.js';
import { LORA_DEFAULTS, withLora } from '../models/lora.js';
import { optimizerNamed } from '../optimizers/registry.js';
import { benchBatch, benchModel, timing, type Timing } from './forward.js';
import { FixedBatchProblem, stepper } from './step.js';

export interface PeftBench {
  params: number;
  /** LoRA's θ: the adapter blocks' scalars. */
  trainable: number;
  batch: number;
  seq: number;
  threads: number;
  fullMs: Timing;
  loraMs: Timing;
  /** median LoRA step / median full step. */
  ratio: number;
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
  // The adapters share no array with `full`'s θ that a step writes: a full step writes W, a LoRA step A and B.
  const lora = withLora(full, LORA_DEFAULTS, 0);
  const batch = benchBatch(full.config.vocabSize);
  const execs = [new OrtExecutor(full, { threads, device: opts.device }), new OrtExecutor(lora.model, { threads, device: opts.device })];
  const mezo = optimizerNamed('mezo');
  const steppers = [
    stepper(mezo, new FixedBatchProblem(full, execs[0]!, batch), makeNoise(DEFAULT_NOISE, 0, full.params.sizes())),
    stepper(mezo, new FixedBatchProblem(lora.model, execs[1]!, batch, lora.trainable), makeNoise(DEFAULT_NOISE, 0, lora.trainable.sizes())),
  ];
  try {
    opts.onProgress?.(
      `peft bench: ${full.params.size.toLocaleString('en')} params, LoRA θ ${lora.trainable.size.toLocaleString('en')}; warming up`,
    );
    for (const s of steppers) await s.run(2);
    const samples: [number[], number[]] = [[], []];
    const end = performance.now() + (opts.minSeconds ?? 10) * 1000;
    for (let round = 0; round < 10 || performance.now() < end; round++)
      for (const [i, s] of steppers.entries()) {
        const t0 = performance.now();
        await s.run(1);
        samples[i]!.push(performance.now() - t0);
      }
    const [fullMs, loraMs] = [timing(samples[0]), timing(samples[1])];
    return {
      params: full.params.size,
      trainable: lora.trainable.size,
      batch: batch.B,
      seq: batch.S,
      threads,
      fullMs,
      loraMs,
      ratio: loraMs.median / fullMs.median,
    };
  } finally {
    for (const e of execs) await e.dispose();
  }
}
