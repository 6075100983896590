import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { pretrainCommand } from '../cli/pretrain.js';
import { lmBatch } from '../engine/batch.js';
import { TfjsExecutor, tfjsBackend } from '../engine/tfjs.js';
import { ZoError } from '../core/errors.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../models/tokenizer.js';
import { loadCheckpoint, writeJsonAtomic } from '../runs/checkpoint.js';
import { bpeEncoder, END_OF_TEXT, tokenizerFiles, trainBpe, type BpeModel } from './bpe.js';
import { corpusChars, encodeDocs, loadCorpus, unigramEntropy } from './corpus.js';
import { ParamStore } from '../core/params.js';
import { train } from '../harness/harness.js';
import { adamw } from '../optimizers/first-order.js';
import { parseHyperparameters } from '../optimizers/registry.js';
import { learningRate, PRETRAIN_DEFAULTS, pretrain, trainWindows, type PretrainSpec } from './trainer.js';

const MULTILINGUAL = "Hello world! Grüße, 你好世界, こんにちは, Привет, مرحبا 🤗 1234 don't\n  tabs\tand  spaces";

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-pretrain-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes a trained BPE as a model folder's tokenizer files and loads it back through loadTokenizer. */
function writeAndLoad(model: BpeModel, name: string) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const files = tokenizerFiles(model);
  writeJsonAtomic(path.join(dir, 'tokenizer.json'), files.tokenizer);
  writeJsonAtomic(path.join(dir, 'tokenizer_config.json'), files.config);
  return { dir, tok: loadTokenizer(dir) };
}

describe('byte-level BPE', () => {
  test('learns the merges one can predict by hand, and the HF loader applies them', () => {
    // Pre-tokens "ab", " ab", " ab", " abc": (a,b) occurs 4×, then (Ġ,ab) 3×, then only once-pairs remain.
    const model = trainBpe(['ab ab ab abc'], { vocabSize: 300 });
    expect(model.merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
    ]);
    expect(model.tokens.slice(256)).toEqual(['ab', 'Ġab', END_OF_TEXT]);
    const { tok } = writeAndLoad(model, 'hand');
    expect(tok.vocabSize).toBe(259);
    expect(tok.bosId).toBe(258);
    expect(tok.eosId).toBe(258);
    expect(tok.padId).toBeNull();
    expect(tok.encode(' ab abc abab', { addSpecialTokens: false })).toEqual([257, 257, 99, 257, 256]);
    expect(tok.encode(`ab${END_OF_TEXT}`)).toEqual([256, 258]);
  });

  test('ties go to the smaller (left, right) id pair', () => {
    // (Ġ,c), (a,b) and (c,d) all occur twice; byte ids: Ġ = 32 < a = 97 < c = 99.
    expect(trainBpe(['ab cd ab cd'], { vocabSize: 300 }).merges[0]).toEqual(['Ġ', 'c']);
  });

  const corpus = loadCorpus({ maxChars: 300_000 });
  const texts = corpus.train.map((d) => d.text);

  test('frequent words become single tokens; multilingual text round-trips by byte fallback; HF ids = ours', () => {
    const model = trainBpe(texts, { vocabSize: 1024 });
    expect(model.tokens).toHaveLength(1024);
    const { tok } = writeAndLoad(model, 'bpe1024');
    expect(tok.vocabSize).toBe(1024);
    for (const w of [' the', ' of', ' and', ' to', ' that']) expect(tok.encode(w, { addSpecialTokens: false })).toHaveLength(1);
    const ours = bpeEncoder(model);
    for (const text of [MULTILINGUAL, corpus.val[0]!.text.slice(0, 20_000)]) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(ids).toEqual(ours(text));
      expect(tok.decode(ids)).toBe(text);
    }
    // Characters never seen in training still encode, as their UTF-8 bytes.
    expect(tok.encode('你', { addSpecialTokens: false })).toEqual([...Buffer.from('你', 'utf8')]);
  });

  test('is deterministic: the same texts give a byte-identical tokenizer.json', () => {
    const a = writeAndLoad(trainBpe(texts.slice(0, 2), { vocabSize: 500 }), 'det-a').dir;
    const b = writeAndLoad(trainBpe(texts.slice(0, 2), { vocabSize: 500 }), 'det-b').dir;
    expect(fs.readFileSync(path.join(a, 'tokenizer.json'))).toEqual(fs.readFileSync(path.join(b, 'tokenizer.json')));
  });
});

describe('corpus', () => {
  test('a fixed split: disjoint, ~5% validation, Loomings held out; limits respected', () => {
    const full = loadCorpus();
    expect(full.train.length + full.val.length).toBe(372);
    const trainTitles = new Set(full.train.map((d) => d.title));
    expect(full.val.every((d) => !trainTitles.has(d.title))).toBe(true);
    expect(full.val.map((d) => d.title)).toContain('chapter 1 Loomings.');
    const share = corpusChars(full.val) / (corpusChars(full.val) + corpusChars(full.train));
    expect(share).toBeGreaterThan(0.03);
    expect(share).toBeLessThan(0.1);
    const small = loadCorpus({ maxChars: 50_000 });
    expect(corpusChars(small.train)).toBe(50_000);
    expect(corpusChars(small.val)).toBe(Math.ceil(50_000 / 19));
    expect(small.train[0]).toEqual(full.train[0]);
  });

  test('unigram entropy is the add-one-smoothed cross-entropy', () => {
    // p(0) = (2+1)/(3+3), p(2) = (0+1)/(3+3)
    expect(unigramEntropy([0, 0, 1], [0, 2], 3)).toBeCloseTo((Math.log(2) + Math.log(6)) / 2, 12);
  });
});

describe('optimizer pieces', () => {
  test('AdamW: clipping, the bias-corrected Adam step, decoupled decay on matrices only (torch.optim.AdamW), through train()', async () => {
    const params = new ParamStore(
      [
        { name: 'w', shape: [1, 2] },
        { name: 'b', shape: [1] },
      ],
      (p) => (p.name === 'w' ? Float32Array.of(1, -2) : Float32Array.of(3)),
    );
    const grads = new Map([
      ['w', Float32Array.of(0.5, 4)],
      ['b', Float32Array.of(-1)],
    ]);
    const norm = Math.sqrt(0.25 + 16 + 1);
    // clip = ½(‖g‖ + 1e-6), so clip_grad_norm_ halves g.
    const h = parseHyperparameters(adamw, {
      lr: 0.1,
      weightDecay: 0.1,
      beta1: 0.9,
      beta2: 0.95,
      adamEps: 1e-300,
      clip: 0.5 * (norm + 1e-6),
    });
    const state = adamw.init(params, h);
    const lossAndGrads = async () => ({ loss: 1, grads });
    const problem = { params, at: () => ({ loss: async () => 1, lossAndGrads }) };
    const lines: number[] = [];
    await train({
      optimizer: adamw,
      hyperparameters: h,
      problem,
      state,
      seed: 0,
      steps: 1,
      schedule: 'constant',
      onStep: (r) => void lines.push(r.projectedGrad),
    });
    // Step 1: m̂/√v̂ = sign(g), so the matrix goes θ(1 − 0.01) − 0.1·sign(g) and the vector θ − 0.1·sign(g).
    expect(params.get('w')[0]).toBeCloseTo(0.99 - 0.1, 6);
    expect(params.get('w')[1]).toBeCloseTo(-1.98 - 0.1, 6);
    expect(params.get('b')[0]).toBeCloseTo(3 + 0.1, 6);
    expect(state.slots.get('w/exp_avg')![0]).toBeCloseTo(0.1 * 0.25, 7); // (1 − β₁)·g·½
    expect(state.slots.get('b/exp_avg_sq')![0]).toBeCloseTo(0.05 * 0.25, 7); // (1 − β₂)·(g·½)²
    expect(state.scalars.t).toBe(1);
    expect(lines).toEqual([norm]); // the norm before clipping is what metrics.jsonl logs
  });

  test('warmup rises linearly to lr, cosine falls to minLr at the last step', () => {
    const s = { lr: 1e-3, minLr: 1e-4, warmup: 10, steps: 110 };
    expect(learningRate(s, 1)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 12);
  });

  test('the wasm matmul shortcut computes transposed products exactly as asked', async () => {
    await tfjsBackend();
    const rand = (shape: [number, number, number], k: number) =>
      tf.tensor3d(
        Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => Math.sin(k * i + 1)),
        shape,
      );
    // Reference: out[n][i][j] = Σ_k op(x)[n][i][k] · op(y)[n][k][j], op transposing the last two axes.
    const reference = (x: tf.Tensor3D, y: tf.Tensor3D, tx: boolean, ty: boolean): number[] => {
      const X = x.arraySync();
      const Y = y.arraySync();
      const at = (M: number[][][], n: number, r: number, c: number, t: boolean) => (t ? M[n]![c]![r]! : M[n]![r]![c]!);
      const [N, I, K] = tx ? [x.shape[0], x.shape[2], x.shape[1]] : x.shape;
      const J = ty ? y.shape[1] : y.shape[2];
      const out: number[] = [];
      for (let n = 0; n < N; n++)
        for (let i = 0; i < I; i++)
          for (let j = 0; j < J; j++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += at(X, n, i, k, tx) * at(Y, n, k, j, ty);
            out.push(s);
          }
      return out;
    };
    const cases: [tf.Tensor3D, tf.Tensor3D, boolean, boolean][] = [
      [rand([2, 3, 4], 1), rand([2, 5, 4], 2), false, true],
      [rand([2, 3, 4], 3), rand([2, 3, 5], 4), true, false],
      [rand([1, 4, 3], 5), rand([1, 5, 4], 6), true, true],
      [rand([1, 3, 4], 7), rand([1, 4, 5], 8), false, false],
    ];
    for (const [x, y, tx, ty] of cases) {
      const got = (await tf.matMul(x, y, tx, ty).data()) as Float32Array;
      const want = reference(x, y, tx, ty);
      expect(got.length).toBe(want.length);
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
      tf.dispose([x, y]);
    }
  });
});

/** A tiny llama run on a 100k-character slice: a few seconds on tfjs-wasm. */
function tinySpec(over: Partial<PretrainSpec> = {}): PretrainSpec {
  return {
    ...PRETRAIN_DEFAULTS,
    family: 'llama',
    config: {
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 64,
    },
    vocabSize: 300,
    corpusChars: 100_000,
    steps: 40,
    batchSize: 8,
    seqLen: 32,
    lr: 3e-3,
    minLr: 3e-4,
    warmup: 5,
    valEvery: 20,
    valWindows: 32,
    saveEvery: 0,
    command: 'test',
    ...over,
  };
}

describe('pretraining', () => {
  test('the loss falls well below its start, and the output folder loads and runs like any checkpoint', async () => {
    const out = path.join(tmp, 'llama');
    const r = await pretrain(out, tinySpec(), false);
    expect(r.finished).toBe(true);
    // Random init starts near ln(300) = 5.70; 40 steps must clearly learn something.
    expect(r.initialValLoss).toBeGreaterThan(5.5);
    expect(r.finalValLoss).toBeLessThan(r.initialValLoss - 1);
    expect(Number.isFinite(r.unigramEntropy)).toBe(true);

    const model = loadModel(out);
    expect(model.config.vocabSize).toBe(300);
    expect(model.params.size).toBe(r.parameters);
    const exec = await TfjsExecutor.create(model);
    const ids = model.tokenizer.encode('Fellow-Citizens of the Senate and House of Representatives', { addSpecialTokens: false });
    const loss = (await exec.forward(lmBatch([ids]))).loss;
    await exec.dispose();
    expect(loss).toBeLessThan(r.initialValLoss - 1);

    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', vocab_size: 300, torch_dtype: 'float32', hidden_size: 32 });
    const training = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8'));
    expect(training).toMatchObject({
      command: 'test',
      steps: 40,
      parameters: r.parameters,
      finalValLoss: r.finalValLoss,
      unigramEntropy: r.unigramEntropy,
    });
    const metrics = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((l) => 'loss' in l)).toHaveLength(40);
    expect(metrics.filter((l) => 'valLoss' in l).map((l) => l.step)).toEqual([0, 20, 40]);
    expect(fs.existsSync(path.join(out, 'checkpoint.json'))).toBe(false); // a finished folder is just the model
  });

  test('resuming after a crash gives bit-identical weights to an uninterrupted run', async () => {
    const tokenizer = path.join(tmp, 'llama');
    const spec = tinySpec({ family: 'qwen2', tokenizer, corpusChars: 40_000, steps: 12, saveEvery: 4, valEvery: 6, valWindows: 8 });
    const whole = path.join(tmp, 'whole');
    const broken = path.join(tmp, 'broken');
    await pretrain(whole, spec, false);
    const halted = await pretrain(broken, spec, false, { haltAfter: 7 }); // last checkpoint at step 4
    expect(halted.finished).toBe(false);
    await expect(pretrain(broken, spec, false)).rejects.toThrow(ZoError); // the folder holds a run

    // Independently: step 5's logged loss is the loss of the batch keyed 5 at the checkpointed θ of step 4,
    // and its lr the schedule's at step 5.
    const model = loadModel(whole);
    loadCheckpoint(broken, model.params, 'adamw');
    const tokens = encodeDocs(model.tokenizer, loadCorpus({ maxChars: spec.corpusChars }).train);
    const exec = await TfjsExecutor.create(model);
    const { loss } = await exec.lossAndGrads(lmBatch(trainWindows(tokens, spec.seqLen, spec.batchSize, spec.seed, 5)));
    await exec.dispose();
    const line5 = fs
      .readFileSync(path.join(broken, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.step === 5 && 'loss' in l);
    expect(line5.loss).toBe(loss);
    expect(line5.lr).toBe(learningRate(spec, 5));
    const stepsRun: number[] = [];
    const resumed = await pretrain(broken, undefined, true, { onStep: (l) => stepsRun.push(l.step) });
    expect(stepsRun[0]).toBe(5); // from the checkpoint, not from scratch (which would agree too)
    expect(resumed.finished).toBe(true);
    const bytes = (dir: string) => fs.readFileSync(path.join(dir, 'model.safetensors'));
    expect(bytes(broken).equals(bytes(whole))).toBe(true);
    const losses = (dir: string) =>
      fs
        .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { ms: _ms, ...rest } = JSON.parse(l);
          return rest;
        });
    expect(losses(broken)).toEqual(losses(whole));
  });
});

describe('a fresh run checks before it leaves anything', () => {
  test('a check that fails after the tokenizer is trained leaves no folder, and the corrected run then starts', async () => {
    const out = path.join(tmp, 'late');
    // Too little text for one window is known only once the tokenizer exists.
    await expect(pretrain(out, tinySpec({ corpusChars: 50 }), false)).rejects.toThrow(/shorter than one --seq-len 32 window/);
    expect(fs.existsSync(out)).toBe(false);
    // The same in an empty folder the user made: it is left empty.
    fs.mkdirSync(out);
    await expect(pretrain(out, tinySpec({ seqLen: 100 }), false)).rejects.toThrow(/--seq-len 100 exceeds the config's 64 positions/);
    expect(fs.readdirSync(out)).toEqual([]);
    expect((await pretrain(out, tinySpec({ steps: 2, valEvery: 2, valWindows: 2 }), false)).finished).toBe(true);
  });

  test('a folder of other files is refused, whatever they are', async () => {
    const out = path.join(tmp, 'occupied');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), '{"step":1}\n');
    await expect(pretrain(out, tinySpec(), false)).rejects.toThrow(
      `--out ${out} already holds 1 entry (metrics.jsonl); give a new or empty folder`,
    );
    expect(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n');
  });
});

describe('zo pretrain', () => {
  const run = (...args: string[]) =>
    yargs(['pretrain', ...args])
      .command(pretrainCommand)
      .strict()
      .fail((msg, err) => {
        throw err ?? new ZoError(msg);
      })
      .parseAsync();

  test.each([
    [['--family', 'llama', '--out', 'x'], 'give exactly one of --config'],
    [['--family', 'llama', '--config', '{oops', '--out', 'x'], '--config: invalid JSON'],
    [['--family', 'llama', '--config', '{"hidden_size":32}', '--out', 'x'], 'intermediate_size'],
    [['--family', 'gpt2', '--config', '{"n_embd":32,"n_layer":1,"n_head":4}', '--steps', '0', '--out', 'x'], '--steps 0'],
    [['--resume', '--out', 'x', '--lr', '1'], 'drop --lr'],
  ])('%j is one clear line', async (args, fragment) => {
    const e = await run(...args).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ZoError);
    expect((e as Error).message).toContain(fragment);
    expect((e as Error).message).not.toContain('\n');
  });
});
