/**
 * First-order LM pretraining from scratch through the tfjs executor's autodiff: the base models of
 * the zoo. The step loop is the harness's `train()`, the one `zo run` uses, with the `adamw` optimizer
 * composed from the shared transforms (global-norm clipping, Adam, decoupled decay on ≥ 2-D blocks)
 * and a warm-up + cosine schedule; around it: keyed random windows of the corpus' token stream,
 * periodic validation, atomic resumable checkpoints, and at the end a Hugging Face model folder that
 * `loadModel` reads like any downloaded checkpoint.
 *
 * The run folder `out` is also the model folder:
 *   pretrain.json            the spec (what --resume reads back)
 *   tokenizer.json, tokenizer_config.json   trained here (or copied from --tokenizer) before step 1
 *   metrics.jsonl            {step, loss, lr, gradNorm, ms} per step, {step, valLoss} per validation
 *   checkpoint.json + checkpoint-<step>/    θ, AdamW m and v, step (removed once the run finishes)
 *   config.json, model.safetensors, training.json   written at the end
 */
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { lmBatch } from '../engine/batch.js';
import type { Executor } from '../engine/executor.js';
import type { ParamStore } from '../core/params.js';
import type { BaseConfig, Family } from '../models/family.js';
import { initParams } from '../models/init.js';
import { readJson } from '../models/load.js';
import { FAMILIES } from '../models/registry.js';
import { tensorsOf, writeSafetensors } from '../models/safetensors.js';
import { loadTokenizer, type TextTokenizer } from '../models/tokenizer.js';
import type { Problem } from '../core/problem.js';
import { train, warmupCosine } from '../harness/harness.js';
import { adamw } from '../optimizers/first-order.js';
import { parseHyperparameters } from '../optimizers/registry.js';
import { packageVersion } from '../core/paths.js';
import { meanLoss } from '../tasks/lm-problem.js';
import { truncateMetrics, hasCheckpoint, loadCheckpoint, saveCheckpoint, writeJsonAtomic } from '../runs/checkpoint.js';
import { checkNewFolder, fsError } from '../runs/folder.js';
import { keyOf, uniformAt } from '../core/rng.js';
import { tokenizerFiles, trainBpe } from './bpe.js';
import { CORPUS_SOURCES, corpusChars, encodeDocs, loadCorpus, unigramEntropy } from './corpus.js';

// Module-scope copies: Math lookups are slow under jest's vm realm (see framework/core/rng.ts).
const { min, floor } = Math;

/** Everything that determines a pretraining run; saved as pretrain.json and read back by resume. */
export interface PretrainSpec {
  /** A family name or model_type from the registry: llama, qwen2, opt, gpt2. */
  family: string;
  /** The architecture's Hugging Face config.json fields; model_type and vocab_size are filled in. */
  config: Record<string, unknown>;
  /** A folder whose tokenizer.json (+ tokenizer_config.json) to reuse instead of training one. */
  tokenizer?: string;
  /** BPE vocabulary size, `<|endoftext|>` included, when training the tokenizer. */
  vocabSize: number;
  /** Limit of the training text in characters (validation gets 1/19 of it); undefined: all of it. */
  corpusChars?: number;
  steps: number;
  batchSize: number;
  /** Tokens per training window; every token after the first is predicted. */
  seqLen: number;
  /** Peak learning rate, reached after `warmup` steps, then cosine-decayed to `minLr` at `steps`. */
  lr: number;
  minLr: number;
  warmup: number;
  /** AdamW's decoupled decay λ, applied to ≥ 2-D blocks only (nanoGPT): matrices and embeddings. */
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** Max global L2 norm of the gradient (0: no clipping). */
  clip: number;
  /** Keys the initial weights and every batch. */
  seed: number;
  /** Validation every N steps (and before step 1 and after the last). */
  valEvery: number;
  /** Validation windows: evenly spaced, non-overlapping windows of the validation stream. */
  valWindows: number;
  /** Checkpoint every N steps (0: never before the end). */
  saveEvery: number;
  /** The command line that started the run, for training.json. */
  command: string;
}

export const PRETRAIN_DEFAULTS = {
  vocabSize: 1024,
  steps: 2000,
  batchSize: 16,
  seqLen: 128,
  lr: 1e-3,
  minLr: 1e-4,
  warmup: 100,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  adamEps: 1e-8,
  clip: 1,
  seed: 0,
  valEvery: 200,
  valWindows: 128,
  saveEvery: 500,
} satisfies Partial<PretrainSpec>;

export interface StepLine {
  step: number;
  loss: number;
  lr: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  ms: number;
}

export interface PretrainHooks {
  log?: (msg: string) => void;
  onStep?: (r: StepLine, spec: PretrainSpec) => void;
  onVal?: (step: number, valLoss: number) => void;
  /** Stop right after this step without finishing, as a crash would (tests of resume). */
  haltAfter?: number;
}

export interface PretrainSummary {
  out: string;
  family: string;
  parameters: number;
  steps: number;
  initialValLoss: number;
  finalValLoss: number;
  finalTrainLoss: number;
  unigramEntropy: number;
  wallSeconds: number;
  /** False when `haltAfter` stopped the run. */
  finished: boolean;
}

const SPEC_FILE = 'pretrain.json';

export function familyNamed(name: string): Family<BaseConfig> {
  const f = FAMILIES.find((x) => x.name === name || x.modelTypes.includes(name));
  if (!f) throw new ZoError(`--family ${name}: unknown (choose ${FAMILIES.map((x) => x.name).join(', ')})`);
  return f;
}

/** Keys a run owns in config.json: a given model_type must agree; the rest follow the tokenizer. */
function modelConfig(
  family: Family<BaseConfig>,
  spec: PretrainSpec,
  vocab: { size: number; bos: number | null; eos: number | null },
): Record<string, unknown> {
  const given = spec.config;
  const modelType = family.modelTypes[0]!;
  if (given.model_type !== undefined && given.model_type !== modelType && !family.modelTypes.includes(String(given.model_type)))
    throw new ZoError(`--config: model_type ${JSON.stringify(given.model_type)} is not the ${family.name} family`);
  if (given.vocab_size !== undefined && given.vocab_size !== vocab.size)
    throw new ZoError(
      `--config: vocab_size ${given.vocab_size} differs from the tokenizer's ${vocab.size}; leave it out, it follows the tokenizer`,
    );
  return {
    model_type: modelType,
    ...given,
    vocab_size: vocab.size,
    bos_token_id: vocab.bos,
    eos_token_id: vocab.eos,
    torch_dtype: 'float32',
  };
}

/** The learning rate of 1-based pretraining step `step`: linear warm-up to `lr` over `warmup` steps, then cosine decay to `minLr`. */
export function learningRate(spec: Pick<PretrainSpec, 'lr' | 'minLr' | 'warmup' | 'steps'>, step: number): number {
  return warmupCosine(spec)(step - 1);
}

/** Row r of step t's batch is a window at a keyed offset: any step's batch is known without replay. */
export function trainWindows(tokens: Int32Array, seqLen: number, batchSize: number, seed: number, step: number): number[][] {
  const key = keyOf(seed, step, 0x9e7a);
  const span = tokens.length - seqLen;
  return Array.from({ length: batchSize }, (_, r) => {
    const off = floor(uniformAt(key, r) * (span + 1));
    return Array.from(tokens.subarray(off, off + seqLen));
  });
}

/** Up to `count` non-overlapping windows spread evenly over the stream: a fixed evaluation set. */
export function evenWindows(tokens: Int32Array, seqLen: number, count: number): number[][] {
  const n = min(count, floor(tokens.length / seqLen));
  return Array.from({ length: n }, (_, i) => {
    const off = floor((i * tokens.length) / n);
    return Array.from(tokens.subarray(off, off + seqLen));
  });
}

/** Mean next-token loss over windows, `batchSize` windows per forward pass. */
export function windowsLoss(exec: Executor, windows: readonly number[][], batchSize: number): Promise<number> {
  const batches = [];
  for (let i = 0; i < windows.length; i += batchSize) batches.push(lmBatch(windows.slice(i, i + batchSize)));
  return meanLoss(exec, batches);
}

function checkSpec(s: PretrainSpec): void {
  const posInt = (name: string, v: number, zero = false) => {
    if (!(Number.isInteger(v) && (v > 0 || (zero && v === 0))))
      throw new ZoError(`--${name} ${v}: must be a ${zero ? 'non-negative' : 'positive'} integer`);
  };
  posInt('steps', s.steps);
  posInt('batch-size', s.batchSize);
  posInt('val-every', s.valEvery);
  posInt('val-windows', s.valWindows);
  posInt('save-every', s.saveEvery, true);
  posInt('warmup', s.warmup, true);
  posInt('vocab-size', s.vocabSize);
  if (!(Number.isInteger(s.seed) && s.seed >= 0)) throw new ZoError(`--seed ${s.seed}: must be a non-negative integer`);
  if (!(Number.isInteger(s.seqLen) && s.seqLen >= 2))
    throw new ZoError(`--seq-len ${s.seqLen}: must be an integer ≥ 2 (a window predicts its tokens after the first)`);
  if (!(s.lr > 0)) throw new ZoError(`--lr ${s.lr}: must be positive`);
  if (!(s.minLr >= 0 && s.minLr <= s.lr)) throw new ZoError(`--min-lr ${s.minLr}: must be between 0 and --lr ${s.lr}`);
  if (!(s.weightDecay >= 0)) throw new ZoError(`--weight-decay ${s.weightDecay}: must be ≥ 0`);
  if (!(s.clip >= 0)) throw new ZoError(`--clip ${s.clip}: must be ≥ 0 (0: no clipping)`);
  if (!(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1))
    throw new ZoError(`AdamW betas ${s.beta1}/${s.beta2}: must be in [0, 1)`);
  if (s.tokenizer === undefined && s.vocabSize < 257)
    throw new ZoError(`--vocab-size ${s.vocabSize}: must be ≥ 257 (256 bytes + <|endoftext|>)`);
}

/** Validates a spec's family and config before anything is written (the tokenizer is not known yet). */
export function checkModelSpec(spec: PretrainSpec): void {
  checkSpec(spec);
  const family = familyNamed(spec.family);
  // The tokenizer is not built yet: check the config at the vocabulary it asks for (or --vocab-size).
  const size = typeof spec.config.vocab_size === 'number' ? spec.config.vocab_size : spec.vocabSize;
  const config = family.parseConfig(modelConfig(family, spec, { size, bos: null, eos: null }), '--config');
  if (spec.seqLen > config.maxPositions)
    throw new ZoError(`--seq-len ${spec.seqLen} exceeds the config's ${config.maxPositions} positions`);
}

/** Trains (or copies) the tokenizer into `out`. */
function prepareTokenizer(out: string, spec: PretrainSpec, trainTexts: () => string[], log: (m: string) => void): Record<string, unknown> {
  if (spec.tokenizer !== undefined) {
    const tok = loadTokenizer(spec.tokenizer); // validates before copying
    fs.copyFileSync(path.join(spec.tokenizer, 'tokenizer.json'), path.join(out, 'tokenizer.json'));
    const cfg = path.join(spec.tokenizer, 'tokenizer_config.json');
    if (fs.existsSync(cfg)) fs.copyFileSync(cfg, path.join(out, 'tokenizer_config.json'));
    log(`tokenizer: ${tok.vocabSize} tokens, copied from ${spec.tokenizer}`);
    return { from: path.resolve(spec.tokenizer), vocabSize: tok.vocabSize };
  }
  const t0 = performance.now();
  const bpe = trainBpe(trainTexts(), { vocabSize: spec.vocabSize });
  const seconds = (performance.now() - t0) / 1000;
  const files = tokenizerFiles(bpe);
  writeJsonAtomic(path.join(out, 'tokenizer.json'), files.tokenizer);
  writeJsonAtomic(path.join(out, 'tokenizer_config.json'), files.config);
  log(`tokenizer: byte-level BPE, ${bpe.tokens.length} tokens (${bpe.merges.length} merges) trained in ${seconds.toFixed(1)} s`);
  return {
    trained: 'byte-level BPE (GPT-2 pre-tokenizer) on the training split',
    vocabSize: bpe.tokens.length,
    merges: bpe.merges.length,
    seconds,
  };
}

/**
 * Runs (or, with `resume`, continues) a pretraining run in `out`. A fresh run needs `spec` and an
 * `out` that holds no run yet; a resumed one reads out/pretrain.json and the latest checkpoint.
 */
export async function pretrain(
  out: string,
  spec: PretrainSpec | undefined,
  resume: boolean,
  hooks: PretrainHooks = {},
): Promise<PretrainSummary> {
  const log = hooks.log ?? (() => {});
  const specFile = path.join(out, SPEC_FILE);
  if (resume) {
    if (!fs.existsSync(specFile)) throw new ZoError(`${out}: no ${SPEC_FILE}, so no pretraining run to resume`);
    spec = readJson(specFile) as PretrainSpec;
    // No checkpoint: either finished (checkpoints removed) or stopped before the first one (start over).
    if (!hasCheckpoint(out) && fs.existsSync(path.join(out, 'training.json')))
      throw new ZoError(`${out}: the run already finished (training.json); nothing to resume`);
  } else {
    if (!spec) throw new Error('pretrain: a fresh run needs a spec');
    if (fs.existsSync(specFile))
      throw new ZoError(`${out}: already holds a pretraining run; pass --resume to continue it, or another --out`);
    // A new model folder: never beside another run's or model's files.
    checkNewFolder(out);
    checkModelSpec(spec);
    if (spec.tokenizer !== undefined) loadTokenizer(spec.tokenizer); // a bad folder fails before anything is written
  }
  const s = spec!;
  checkSpec(s);
  const family = familyNamed(s.family);

  const t0 = performance.now();
  const corpus = loadCorpus({ maxChars: s.corpusChars });
  const created = !resume && !fs.existsSync(out);
  // What a fresh run writes before pretrain.json (its tokenizer) goes again if a check after it fails,
  // so a corrected command finds the folder as it was.
  const undo = () => {
    if (created) fs.rmSync(out, { recursive: true, force: true });
    else if (!resume) for (const f of fs.readdirSync(out)) fs.rmSync(path.join(out, f), { recursive: true, force: true });
  };
  let tokenizerInfo: Record<string, unknown> | undefined;
  let tokenizer: TextTokenizer;
  let trainTokens: Int32Array;
  let valTokens: Int32Array;
  let rawConfig: Record<string, unknown>;
  let config: ReturnType<typeof family.parseConfig>;
  try {
    if (!resume) {
      try {
        fs.mkdirSync(out, { recursive: true });
      } catch (e) {
        throw fsError(`--out ${out}`, 'cannot create the model folder', e);
      }
      tokenizerInfo = prepareTokenizer(out, s, () => corpus.train.map((d) => d.text), log);
    } else tokenizerInfo = (readJson(specFile) as { tokenizerInfo: Record<string, unknown> }).tokenizerInfo;
    tokenizer = loadTokenizer(out);
    // The same loader a finished model folder goes through, so training and use tokenize alike.
    trainTokens = encodeDocs(tokenizer, corpus.train);
    valTokens = encodeDocs(tokenizer, corpus.val);
    if (trainTokens.length < s.seqLen || valTokens.length < s.seqLen)
      throw new ZoError(
        `the corpus (${trainTokens.length} training, ${valTokens.length} validation tokens) is shorter than one --seq-len ${s.seqLen} window; raise --corpus-chars`,
      );
    rawConfig = modelConfig(family, s, { size: tokenizer.vocabSize, bos: tokenizer.bosId, eos: tokenizer.eosId });
    config = family.parseConfig(rawConfig, '--config');
    if (s.seqLen > config.maxPositions) throw new ZoError(`--seq-len ${s.seqLen} exceeds the config's ${config.maxPositions} positions`);
    if (!resume) writeJsonAtomic(specFile, { ...s, tokenizerInfo });
  } catch (e) {
    undo();
    throw e;
  }
  log(
    `corpus: ${corpus.train.length} training documents (${corpusChars(corpus.train)} chars, ${trainTokens.length} tokens), ${corpus.val.length} validation (${corpusChars(corpus.val)} chars, ${valTokens.length} tokens), encoded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const params = initParams(family, config, s.seed);
  const model = { family, config, params };

  const valSet = evenWindows(valTokens, s.seqLen, s.valWindows);
  const trainEvalSet = evenWindows(trainTokens, s.seqLen, s.valWindows);
  // Over exactly the tokens the validation loss scores: every window's tokens after its first.
  const unigram = unigramEntropy(trainTokens, Int32Array.from(valSet.flatMap((w) => w.slice(1))), config.vocabSize);
  log(
    `model: ${family.name}, ${params.size.toLocaleString('en')} parameters; unigram entropy of the validation tokens ${unigram.toFixed(4)} nats/token`,
  );

  const h = parseHyperparameters(adamw, {
    lr: s.lr,
    weightDecay: s.weightDecay,
    beta1: s.beta1,
    beta2: s.beta2,
    adamEps: s.adamEps,
    clip: s.clip,
  });
  let state = adamw.init(params, h);
  let start = 0;
  let priorWall = 0;
  let initialValLoss: number | undefined;
  const metricsFile = path.join(out, 'metrics.jsonl');
  if (resume && hasCheckpoint(out)) {
    const loaded = loadCheckpoint(out, params, adamw.name);
    state = loaded.state;
    start = loaded.meta.step;
    priorWall = Number(loaded.meta.extra.wallSeconds ?? 0);
    initialValLoss = loaded.meta.extra.initialValLoss as number | undefined;
    // Its lines up to `start` (the validation at `start` included) belong to the checkpoint.
    if (!fs.existsSync(metricsFile)) fs.writeFileSync(metricsFile, '');
    truncateMetrics(metricsFile, start + 1);
    log(`resuming at step ${start} of ${s.steps}`);
  } else fs.writeFileSync(metricsFile, '');
  const metric = (line: object) => fs.appendFileSync(metricsFile, JSON.stringify(line) + '\n');

  const { TfjsExecutor } = await import('../engine/tfjs.js');
  const exec = await TfjsExecutor.create(model);
  const runStart = performance.now();
  const wall = () => priorWall + (performance.now() - runStart) / 1000;
  const validate = async (step: number) => {
    const valLoss = await windowsLoss(exec, valSet, s.batchSize);
    metric({ step, valLoss });
    hooks.onVal?.(step, valLoss);
    return valLoss;
  };
  const save = (step: number) =>
    saveCheckpoint(out, params, state, {
      step,
      optimizer: adamw.name,
      hyperparameters: { ...s },
      blocks: params.specs(),
      extra: { wallSeconds: wall(), initialValLoss },
    });
  // Pretraining counts steps from 1: its step n is the harness's step n − 1, and keys the batch by n.
  const problem: Problem = {
    params,
    at: (step) => {
      const batch = lmBatch(trainWindows(trainTokens, s.seqLen, s.batchSize, s.seed, step + 1));
      return {
        loss: async (perturbation) => (await exec.forward(batch, { perturbation })).loss,
        lossAndGrads: () => exec.lossAndGrads(batch),
      };
    },
  };
  const halt = hooks.haltAfter !== undefined && hooks.haltAfter > start && hooks.haltAfter < s.steps ? hooks.haltAfter : undefined;

  try {
    if (initialValLoss === undefined) initialValLoss = await validate(0);
    let lastVal = initialValLoss;
    await train({
      optimizer: adamw,
      hyperparameters: h,
      problem,
      state,
      seed: s.seed,
      steps: s.steps,
      schedule: warmupCosine(s),
      startStep: start,
      endStep: halt,
      onStep: async (r) => {
        const step = r.step + 1;
        if (r.skipped) throw new ZoError(`the training loss became ${r.loss} at step ${step}; lower --lr or raise --warmup`);
        exec.refresh(); // the update wrote θ's arrays; the tfjs variables re-read them
        const line: StepLine = { step, loss: r.loss, lr: r.lr, gradNorm: r.projectedGrad, ms: r.ms };
        metric(line);
        hooks.onStep?.(line, s);
        if (step % s.valEvery === 0 && step < s.steps) lastVal = await validate(step);
        if (s.saveEvery > 0 && step % s.saveEvery === 0 && step < s.steps) save(step);
      },
    });
    if (halt !== undefined)
      return {
        out,
        family: family.name,
        parameters: params.size,
        steps: halt,
        initialValLoss,
        finalValLoss: lastVal,
        finalTrainLoss: NaN,
        unigramEntropy: unigram,
        wallSeconds: wall(),
        finished: false,
      };
    const finalValLoss = await validate(s.steps);
    const finalTrainLoss = await windowsLoss(exec, trainEvalSet, s.batchSize);
    const wallSeconds = wall();
    writeModelFolder(out, rawConfig, params, {
      command: s.command,
      zoVersion: packageVersion(),
      backend: exec.describe(),
      family: family.name,
      config: rawConfig,
      parameters: params.size,
      data: {
        sources: CORPUS_SOURCES,
        split: 'fixed keyed order of the 372 documents; every 20th is validation, plus Moby-Dick ch. 1 (see framework/pretrain/corpus.ts)',
        corpusChars: s.corpusChars ?? null,
        trainDocuments: corpus.train.length,
        valDocuments: corpus.val.length,
        trainChars: corpusChars(corpus.train),
        valChars: corpusChars(corpus.val),
        trainTokens: trainTokens.length,
        valTokens: valTokens.length,
      },
      tokenizer: tokenizerInfo,
      steps: s.steps,
      batchSize: s.batchSize,
      seqLen: s.seqLen,
      tokensSeen: s.steps * s.batchSize * s.seqLen,
      optimizer: {
        name: 'AdamW (torch semantics; decay on ≥2-D blocks only)',
        lr: s.lr,
        minLr: s.minLr,
        warmup: s.warmup,
        schedule: 'linear warmup, cosine decay',
        weightDecay: s.weightDecay,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.adamEps,
        clip: s.clip,
      },
      seed: s.seed,
      initialValLoss,
      finalValLoss,
      finalTrainLoss,
      evaluation: `mean next-token loss (nats) over ${valSet.length} evenly spaced ${s.seqLen}-token windows of each split`,
      unigramEntropy: unigram,
      unigramEntropyNote: "cross-entropy of the scored validation tokens under the training tokens' unigram distribution, add-one smoothed",
      wallSeconds,
    });
    // A finished run's folder is the model; its optimizer state would triple the size for nothing.
    removeCheckpoints(out);
    return {
      out,
      family: family.name,
      parameters: params.size,
      steps: s.steps,
      initialValLoss,
      finalValLoss,
      finalTrainLoss,
      unigramEntropy: unigram,
      wallSeconds,
      finished: true,
    };
  } finally {
    await exec.dispose();
  }
}

function writeModelFolder(out: string, rawConfig: Record<string, unknown>, params: ParamStore, training: Record<string, unknown>): void {
  writeSafetensors(
    path.join(out, 'model.safetensors'),
    tensorsOf(params),
    { format: 'pt' }, // transformers refuses safetensors files without it
  );
  writeJsonAtomic(path.join(out, 'config.json'), rawConfig);
  writeJsonAtomic(path.join(out, 'training.json'), training);
}

function removeCheckpoints(out: string): void {
  fs.rmSync(path.join(out, 'checkpoint.json'), { force: true });
  for (const e of fs.readdirSync(out)) if (/^checkpoint-\d{8}/.test(e)) fs.rmSync(path.join(out, e), { recursive: true, force: true });
}
