import { fixtureDir } from '../models/fixtures.js';
import type { LlamaConfig } from '../models/llama.js';
import { loadModel } from '../models/load.js';
import { forwardFlops } from './ort.js';

describe('forwardFlops', () => {
  test.each(['llama', 'qwen2'] as const)('%s: the traced MatMul/Gemm FLOPs are the hand count of a decoder forward pass', (fixture) => {
    const model = loadModel(fixtureDir(fixture));
    const c = model.config as LlamaConfig;
    const [B, S] = [3, 10];
    const N = B * S;
    const [d, qd, kvd, I, V] = [c.hidden, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediate, c.vocabSize];
    // Per layer: q, k, v, o and the three MLP projections; the scores and their weighting of the values.
    const linears = 2 * N * (d * qd + 2 * d * kvd + qd * d + 3 * d * I);
    const attention = 2 * (2 * B * c.heads * S * S * c.headDim);
    // Once: the RoPE angles (positions [N, 1] × inv_freq [1, D/2]) and the LM head.
    const once = 2 * N * (c.headDim / 2) + 2 * N * d * V;
    expect(forwardFlops(model, B, S)).toBe(c.layers * (linears + attention) + once);
  });
});
