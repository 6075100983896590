import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { exportRun, mergedWeights, writeAdapterFolder, writeModelFolder, type ExportWeights } from '../runs/export.js';
import { checkNewFolder, readRunJson } from '../runs/folder.js';
import { plotRun } from '../runs/outputs.js';
import { replay, replayFile } from '../runs/replay.js';
import { weightsSha256 } from '../runs/run.js';
import { completeSpec } from '../runs/spec.js';
import { jsonOption, printJson } from './common.js';

export const exportCommand: CommandModule<object, { rundir: string; out: string; weights?: ExportWeights; merge: boolean; json: boolean }> =
  {
    command: 'export <rundir>',
    describe: "write a finished run's weights as a Hugging Face model folder (config, tokenizer, model.safetensors, model card)",
    builder: (y) =>
      y
        .positional('rundir', { type: 'string', demandOption: true, describe: 'a finished run folder (zo run, or a grid cell)' })
        .option('out', { type: 'string', demandOption: true, describe: 'the model folder to write (new, or empty)' })
        .option('weights', {
          choices: ['best', 'final'] as const,
          describe: 'best: the lowest dev loss (the default for tasks); final: after the last step (the default for text files)',
        })
        .option('merge', {
          type: 'boolean',
          default: false,
          describe: 'a --peft lora run: the base model with the adapter merged in (W + (α/r)·B·A), a full Hugging Face model folder',
        })
        .option('json', jsonOption) as never,
    handler: (argv) => {
      const r = exportRun(argv.rundir, argv.out, argv.weights, argv.merge);
      if (argv.json) return printJson({ out: argv.out, weights: r.which, files: r.files });
      console.log(`${argv.out}: the ${r.which} weights of ${argv.rundir} as a Hugging Face model folder (${r.files.join(', ')})`);
    },
  };

export const plotCommand: CommandModule<object, { rundir: string }> = {
  command: 'plot <rundir>',
  describe: "draw a finished run's loss.svg and loss.png: train ℓ⁺ smoothed, the dev loss, and the dev metric",
  builder: (y) => y.positional('rundir', { type: 'string', demandOption: true, describe: 'a finished run folder' }) as never,
  handler: async (argv) => {
    const files = await plotRun(argv.rundir);
    console.log(files.join('\n'));
  },
};

interface ReplayArgs {
  source: string;
  out?: string;
  model?: string;
  json: boolean;
}

/** A run folder's replay.bin, or the file itself. */
const replaySource = (p: string) => (fs.existsSync(p) && fs.statSync(p).isDirectory() ? replayFile(p) : p);

/**
 * Where the run's summary.json lies beside the replay file, the rebuilt weights must be the ones it
 * recorded: a damaged replay.bin, or a --model other than the run's base, replays without error but to
 * other weights, and nothing of those may be written.
 */
function checkAgainstSummary(file: string, sha: string): void {
  const summaryFile = path.join(path.dirname(file), 'summary.json');
  if (!fs.existsSync(summaryFile)) return;
  const want = readRunJson<{ weightsSha256?: string }>(summaryFile, 'the run summary').weightsSha256;
  if (want !== undefined && want !== sha)
    throw new ZoError(
      `${file}: the replayed weights (SHA-256 ${sha.slice(0, 16)}…) are not the run's (${summaryFile}: ${want.slice(0, 16)}…): the replay file is damaged, or --model is not the run's base model`,
    );
}

export const replayCommand: CommandModule<object, ReplayArgs> = {
  command: 'replay <source>',
  describe: "rebuild a ZO run's final weights, bit for bit, from the base model and its replay.bin (the run's losses) alone",
  builder: (y) =>
    y
      .positional('source', { type: 'string', demandOption: true, describe: 'a run folder, or its replay.bin' })
      .option('out', { type: 'string', describe: 'write the rebuilt weights as a Hugging Face model folder here' })
      .option('model', { type: 'string', describe: 'the base model folder (default: the one the replay file names)' })
      .option('json', { type: 'boolean', default: false, describe: 'print {weightsSha256, steps, bytes}' }) as never,
  handler: async (argv) => {
    const file = replaySource(argv.source);
    if (argv.out) checkNewFolder(argv.out);
    const r = await replay(file, { model: argv.model });
    const sha = weightsSha256(r.model.params);
    checkAgainstSummary(file, sha);
    if (argv.out) {
      const h = r.header;
      const spec = completeSpec({ ...h, model: r.model.dir, hyperparameters: h.hyperparameters });
      const summary = { optimizer: h.optimizer, steps: h.steps, initialLoss: NaN, finalLoss: NaN, weightsSha256: sha };
      // A LoRA run's weights are written as the merged model, which any loader reads as the fine-tune;
      // a prefix is not weights, so a prefix run's are its adapter folder.
      if (r.adapter?.type === 'prefix') writeAdapterFolder(argv.out, { spec, adapter: r.adapter, weights: r.theta });
      else
        writeModelFolder(argv.out, {
          spec,
          summary,
          weights: h.peft === 'lora' ? mergedWeights(spec, r.model.params) : r.model.params,
          which: 'final',
        });
    }
    if (argv.json) return printJson({ weightsSha256: sha, steps: r.header.steps, bytes: r.bytes, ...(argv.out ? { out: argv.out } : {}) });
    const weights = r.model.params.size * 4;
    console.log(
      `${file}: ${r.header.steps} steps of ${r.header.optimizer} replayed from ${r.bytes.toLocaleString('en')} bytes (${((100 * r.bytes) / weights).toFixed(3)}% of the ${(weights / 1e6).toFixed(1)} MB of fp32 weights)`,
    );
    console.log(`weights SHA-256 ${sha}${argv.out ? `, written to ${argv.out}` : ''}`);
  },
};
