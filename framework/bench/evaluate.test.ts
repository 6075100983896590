import { loadModel } from '../models/load.js';
import { fixtureDir } from '../models/fixtures.js';
import { OrtExecutor } from '../engine/ort.js';
import { batchOptions, encodeSplit } from '../tasks/problem.js';
import { scoreTask } from '../tasks/scoring.js';
import { taskNamed } from '../../datasets/registry.js';
import { benchEvaluate, EVAL_BENCH_TASKS } from './evaluate.js';

// The report's shape and its scores; its speeds belong to `zo bench`, never to assertions here.
test('benchEvaluate times one task of each type and reports the score scoreTask gives on the same examples', async () => {
  const dir = fixtureDir('llama');
  const r = await benchEvaluate({ modelDir: dir, examples: 6, threads: 1 });
  expect(r.rows.map((x) => [x.task, x.type, x.examples])).toEqual([
    ['tiny-sentiment', 'classification', 6],
    ['tiny-copa', 'multiple-choice', 6],
    ['tiny-squad', 'generation', 6],
  ]);
  expect(EVAL_BENCH_TASKS).toEqual(r.rows.map((x) => x.task));
  for (const x of r.rows) expect(Math.min(x.lossPerSecond, x.scorePerSecond)).toBeGreaterThan(0);
  const model = loadModel(dir);
  const exec = new OrtExecutor(model, { threads: 1 });
  for (const x of r.rows) {
    const task = taskNamed(x.task);
    const o = batchOptions(model, 2048);
    const dev = encodeSplit(task, model, (await task.load({ trainSetSeed: 0 })).dev.slice(0, 6), 'dev', o.maxLen);
    expect(x.score).toBe((await scoreTask(exec, task, model.tokenizer, dev, o)).score);
  }
  await exec.dispose();
});
