// An LR sweep of MeZO over three values on the tiny sentiment task, printed as a small table: the
// kind of ablation a script does with zo's API. Each run is an ordinary run folder.
import os from 'node:os';
import path from 'node:path';
import { startRun, zooModelDir } from 'zo-finetune';

const root = path.join(os.tmpdir(), `zo-example-sweep-${process.pid}`);
const rows = [];
for (const lr of [1e-5, 1e-4, 1e-3]) {
  const s = await startRun(path.join(root, `lr-${lr}`), {
    model: zooModelDir('tiny-llama-s'),
    task: 'tiny-sentiment',
    sizes: { train: 64, dev: 32, test: 32 },
    optimizer: 'mezo',
    hyperparameters: { lr },
    steps: 30,
    batchSize: 8,
    evalEvery: 10,
  });
  rows.push({ lr, devLoss: s.devBestLoss, dev: s.devBest, test: s.test, seconds: s.wallSeconds });
}
console.log('lr       best dev loss  dev acc  test acc  seconds');
for (const r of rows)
  console.log(`${r.lr.toExponential(0).padEnd(8)} ${r.devLoss.toFixed(4).padStart(13)}  ${r.dev.toFixed(3).padStart(7)}  ${r.test.toFixed(3).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}`);
console.log(`run folders: ${root}`);
