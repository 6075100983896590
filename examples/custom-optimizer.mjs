// A custom optimizer written outside zo, as an ablation script would: MeZO (two-point SPSA) whose
// projected gradient g is clipped to ±gClip before the update — a guard against the rare huge g of
// a bad probe. It runs through the same harness, run folder and checkpoints as the built-ins:
//
//   node examples/custom-optimizer.mjs                     # through the API (below)
//   npx zo run --plugin examples/custom-optimizer.mjs --optimizer clipped-spsa --task tiny-sentiment ...
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { registerOptimizer, scalarProbe, spsaSchema, startRun, z, zooModelDir } from 'zo-finetune';

/** The optimizer: an object with a name, a zod schema of its hyperparameters, init and step. */
export const clippedSpsa = {
  name: 'clipped-spsa',
  summary: 'MeZO with its projected gradient clipped to ±gClip',
  hyperparameters: z.object({ ...spsaSchema, gClip: z.number().positive().default(1).describe('|g| bound') }).strict(),
  memoryFactor: () => 0, // no model-sized state: z is regenerated from its key
  forwardPasses: () => 2,
  scalarProbes: true, // every probe is θ ± ε·z on every block: evaluation shares the probes' graph
  init: () => ({ slots: new Map(), scalars: {} }),
  async step(ctx, _state, h) {
    const lPlus = await ctx.loss(scalarProbe(ctx, 0, h.eps)); // ℓ⁺ at θ + ε·z (θ is not written)
    const lMinus = await ctx.loss(scalarProbe(ctx, 0, -h.eps));
    const g = (lPlus - lMinus) / (2 * h.eps);
    const clipped = Math.max(-h.gClip, Math.min(h.gClip, g));
    ctx.params.names.forEach((name, b) => {
      const theta = ctx.params.get(name);
      const z = ctx.z(0, b); // the same z the probes used
      for (let i = 0; i < theta.length; i++) theta[i] -= ctx.lr * clipped * z[i];
    });
    return { loss: lPlus, projectedGrad: g };
  },
};
export default clippedSpsa;

// Run as a script: register it and fine-tune the tiny zoo model on the tiny sentiment task.
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  registerOptimizer(clippedSpsa);
  const out = path.join(os.tmpdir(), `zo-example-clipped-${process.pid}`);
  const summary = await startRun(out, {
    model: zooModelDir('tiny-llama-s'),
    task: 'tiny-sentiment',
    sizes: { train: 64, dev: 32, test: 32 },
    optimizer: 'clipped-spsa',
    hyperparameters: { lr: 1e-4, gClip: 5 },
    steps: 20,
    batchSize: 8,
    evalEvery: 10,
  });
  console.log(`clipped-spsa: ${summary.steps} steps, dev loss ${summary.initialLoss.toFixed(4)} -> ${summary.finalLoss.toFixed(4)}, test accuracy ${summary.test.toFixed(3)}`);
  console.log(`run folder: ${out}`);
}
