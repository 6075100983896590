import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { lmBatch } from './batch.js';
import { ParamStore } from '../core/params.js';
import { OrtExecutor, sessionOptions, traceSymbolic } from './ort.js';
import { TfjsExecutor } from './tfjs.js';
import { fixtureDir } from '../models/fixtures.js';
import { loadModel } from '../models/load.js';
import { fillGaussian, keyOf } from '../core/rng.js';
import { perturbedBlock, type BlockPerturbation, type Perturbation } from '../core/perturbation.js';

const { onnx } = onnxProto;

/** Deterministic N(0,1) values of length n. */
const gauss = (n: number, k: number) => fillGaussian(new Float32Array(n), keyOf(99, k));

/** For each perturbed block: whether every node reading its θ, z or s waits for the token ids, in the graph ORT runs (after its optimizations, which fold static shapes). */
async function waitsForThePass(m: ReturnType<typeof loadModel>, pert: Perturbation): Promise<[string, boolean][]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-optimized-'));
  let nodes: onnxProto.onnx.INodeProto[];
  try {
    const file = path.join(dir, 'model.onnx');
    const session = await ort.InferenceSession.create(traceSymbolic(m, { B: 2, S: 12 }, pert)!, {
      ...sessionOptions(1, 'cpu', true),
      optimizedModelFilePath: file,
    });
    await session.release();
    nodes = onnx.ModelProto.decode(fs.readFileSync(file)).graph!.node!;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const producer = new Map(nodes.flatMap((node) => node.output!.map((o) => [o, node] as const)));
  // Whether value v is computed from the token ids (the pass's own data), through any chain of nodes.
  const memo = new Map<string, boolean>();
  const fromIds = (v: string): boolean => {
    if (v === 'ids') return true;
    if (!memo.has(v)) memo.set(v, producer.get(v)?.input!.some(fromIds) ?? false);
    return memo.get(v)!;
  };
  return [...pert.keys()].map((name) => {
    const readers = nodes.filter((node) => node.input!.some((i) => [name, `${name}|z`, `${name}|s`].includes(i)));
    return [name, readers.length > 0 && readers.every((node) => node.output!.every(fromIds))];
  });
}

describe('perturbation inside the forward pass', () => {
  const model = loadModel(fixtureDir('llama'));
  const batch = lmBatch([
    model.tokenizer.encode('Call me Ishmael. Some years ago, never mind how long'),
    model.tokenizer.encode('It was the best of times'),
  ]);
  const shape = (n: string) => model.params.shape(n);
  const size = (n: string) => model.params.get(n).length;

  const emb = 'model.embed_tokens.weight';
  const q = 'model.layers.0.self_attn.q_proj.weight';
  const norm = 'model.layers.1.post_attention_layernorm.weight';
  const head = 'lm_head.weight';
  const cases: [string, Perturbation][] = [
    [
      'scalar on every block',
      new Map(model.params.names.map((n, i) => [n, { kind: 'scalar', scale: 0.05, z: gauss(size(n), i) } as BlockPerturbation])),
    ],
    [
      'scalar, negative, on the tied-to-nothing lm_head and a norm',
      new Map<string, BlockPerturbation>([
        [head, { kind: 'scalar', scale: -0.1, z: gauss(size(head), 1) }],
        [norm, { kind: 'scalar', scale: -0.1, z: gauss(size(norm), 2) }],
      ]),
    ],
    [
      'elementwise (HiZOO)',
      new Map<string, BlockPerturbation>([
        [q, { kind: 'elementwise', scale: 0.1, z: gauss(size(q), 3), s: gauss(size(q), 4).map(Math.abs) }],
        [emb, { kind: 'elementwise', scale: 0.1, z: gauss(size(emb), 5), s: gauss(size(emb), 6).map(Math.abs) }],
      ]),
    ],
    [
      'low-rank U·Vᵀ (LOZO)',
      new Map<string, BlockPerturbation>([
        [q, { kind: 'lowrank', scale: 0.1, rank: 2, u: gauss(shape(q)[0]! * 2, 7), v: gauss(shape(q)[1]! * 2, 8) }],
        [head, { kind: 'lowrank', scale: 0.1, rank: 1, u: gauss(shape(head)[0]!, 9), v: gauss(shape(head)[1]!, 10) }],
      ]),
    ],
  ];

  test.each(cases)('%s: both executors equal a forward on θ + c·P(z) written out, and θ is untouched', async (_label, pert) => {
    const before = model.params.names.map((n) => model.params.get(n).slice());
    // The independent path: θ' materialised in JS, run unperturbed.
    const written = new ParamStore(model.params.specs(), (spec) => {
      const p = pert.get(spec.name);
      return p
        ? perturbedBlock(model.params.get(spec.name), spec.shape, p, new Float32Array(spec.shape.reduce((a, b) => a * b, 1)))
        : model.params.get(spec.name).slice();
    });
    const ref = await new OrtExecutor({ ...model, params: written }).forward(batch);
    const base = await new OrtExecutor(model).forward(batch);
    const ortx = new OrtExecutor(model);
    const tfx = await TfjsExecutor.create(model);
    const viaOrt = await ortx.forward(batch, { perturbation: pert });
    const viaTf = await tfx.forward(batch, { perturbation: pert });
    expect(Math.abs(viaOrt.loss - base.loss)).toBeGreaterThan(1e-3); // the perturbation does something
    expect(Math.abs(viaOrt.loss - ref.loss)).toBeLessThan(1e-5);
    expect(Math.abs(viaTf.loss - ref.loss)).toBeLessThan(1e-4);
    // Unperturbed again, through the same executor: bit-identical to before.
    expect((await ortx.forward(batch)).loss).toBe(base.loss);
    model.params.names.forEach((n, i) => expect(Buffer.from(model.params.get(n).buffer).equals(Buffer.from(before[i]!.buffer))).toBe(true));
    await ortx.dispose();
    await tfx.dispose();
  });

  // ORT may run a node as soon as its inputs exist, and θ + c·P(z) reads graph inputs alone: left so,
  // it computed some blocks' θ′ long before their use and held them (the memory bench's +0.3 P). Read
  // in the graph ORT runs, after its optimizations (which fold a static shape to a constant).
  // ORT may run a node as soon as its inputs exist, and θ + c·P(z) reads graph inputs alone: left so,
  // it computed some blocks' θ′ long before their use and held them (the memory bench's +0.3 P). The
  // embedding is read first, before any activation.
  test.each(cases)('%s: each block-sized perturbation node but the first block’s waits for the pass to reach it', async (_label, pert) => {
    expect(await waitsForThePass(model, pert)).toEqual([...pert.keys()].map((name) => [name, name !== emb]));
  });

  test('qwen2, whose q, k and v biases are read right after their weights: each waits for the pass, not for the θ′ before it', async () => {
    const qwen = loadModel(fixtureDir('qwen2'));
    const all = new Map<string, BlockPerturbation>(
      qwen.params.names.map((n, i) => [n, { kind: 'scalar', scale: 0.05, z: gauss(qwen.params.get(n).length, i) }]),
    );
    expect(qwen.params.names.filter((n) => n.endsWith('proj.bias'))).not.toHaveLength(0);
    expect(await waitsForThePass(qwen, all)).toEqual(qwen.params.names.map((n) => [n, n !== emb]));
  });

  // A run evaluates between probes: one session for both is one arena, not two (zo bench --suite memory).
  test.each(['llama', 'gpt2'] as const)(
    '%s: with probed blocks, a plain loss pass runs through their θ + c·z graph with c = 0: bit-identical, and no second session',
    async (family) => {
      const m = loadModel(fixtureDir(family));
      const b = lmBatch([m.tokenizer.encode('Call me Ishmael. Some years ago'), m.tokenizer.encode('It was the best of times')]);
      const plain = new OrtExecutor(m, { threads: 1 });
      const shared = new OrtExecutor(m, { threads: 1, probed: m.params.names });
      const probe = new Map(
        m.params.names.map((n, i) => [n, { kind: 'scalar', scale: 0.05, z: gauss(m.params.get(n).length, i) } as BlockPerturbation]),
      );
      const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
      const want = await plain.forward(b);
      const before = await shared.forward(b);
      const probed = await shared.forward(b, { perturbation: probe });
      const after = await shared.forward(b);
      expect(shared.sessionCount).toBe(1);
      for (const got of [before, after]) {
        expect(got.loss).toBe(want.loss);
        expect(bits(got.seqLogProb)).toBe(bits(want.seqLogProb));
      }
      expect(probed.loss).toBe((await plain.forward(b, { perturbation: probe })).loss);
      // A pass that asks for logits is not a training graph: it keeps its own, unperturbed.
      const logits = await shared.forward(b, { logits: true });
      expect(shared.sessionCount).toBe(2);
      await shared.session({ B: b.B, S: b.S, candidates: b.candidates, logits: true, lastLogits: undefined }); // the plain logits graph: already there
      expect(shared.sessionCount).toBe(2);
      expect(bits(logits.logits!)).toBe(bits((await plain.forward(b, { logits: true })).logits!));
      // With a graph per batch shape nothing is shared (and a fixed shape may lose θ′'s wait): plain stays plain.
      const fixed = new OrtExecutor(m, { threads: 1, shapes: 'fixed', probed: m.params.names });
      await fixed.forward(b, { perturbation: probe });
      expect((await fixed.forward(b)).loss).toBe(want.loss);
      expect(fixed.sessionCount).toBe(2);
      await Promise.all([plain.dispose(), shared.dispose(), fixed.dispose()]);
    },
  );
});
