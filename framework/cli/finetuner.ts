import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { ZoError } from '../core/errors.js';
import { checkFinetunerFits, FINETUNER_FILES, loadFinetuner, randomFinetuner, saveFinetuner, finetunerDir } from '../learned/finetuner.js';
import { FEATURE_MODES, RAW_FEATURES, standardization, type FeatureMode } from '../learned/features.js';
import { SHARINGS, type Sharing } from '../learned/sharing.js';
import { byRole, referenceSigmas, sigmaBarSpec } from '../learned/show.js';
import { loadModel } from '../models/load.js';
import { withPeft } from '../runs/peft.js';
import { renderChart } from '../plots/plot.js';
import { jsonOption, loraFromArgs, peftOptions, prefixFromArgs, printJson, wholeNumberFlag, type PeftArgs } from './common.js';
import { fsError } from '../runs/folder.js';

interface ShowArgs {
  path: string;
  model?: string;
  loss: number;
  batchSize: number;
  plot?: string;
  json: boolean;
}

interface InitArgs extends PeftArgs {
  model: string;
  out: string;
  seed: number;
  sharing: Sharing;
  features: FeatureMode;
}

const show: CommandModule<object, ShowArgs> = {
  command: 'show <path>',
  describe: 'σ per block role at a reference state (θ of the base model, a given loss), with nf, and a bar plot of σ across blocks',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'a finetuner folder, or its finetuner.json or .safetensors' })
      .option('model', { type: 'string', describe: 'the base model folder (default: the finetuner’s own folder, as the zoo ships them)' })
      .option('loss', { type: 'number', default: 1, describe: 'the ℓ⁺ = ℓ⁻ the features see' })
      .option('batch-size', {
        type: 'number',
        default: 16,
        coerce: wholeNumberFlag('batch-size', 1),
        describe: 'the batch of the embedding rule',
      })
      .option('plot', { type: 'string', describe: 'also write the bar plot of σ across blocks as FILE.svg and FILE.png' })
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    if (!Number.isFinite(argv.loss)) throw new ZoError('--loss: expected a number');
    const ft = loadFinetuner(argv.path);
    const model = loadModel(argv.model ?? finetunerDir(argv.path));
    checkFinetunerFits(ft, model.params, argv.path);
    const r = referenceSigmas(ft, model.params, argv.loss, argv.batchSize);
    const roles = byRole(r);
    // Only where asked: the folder read may be a shipped model's, inside an installed package.
    const base = argv.plot;
    const plot = base === undefined ? null : { svg: `${base}.svg`, png: `${base}.png` };
    if (plot) await renderChart(sigmaBarSpec(r, `ZO-FT σ by block: ${path.basename(path.resolve(finetunerDir(argv.path)))}`), plot);
    if (argv.json)
      return printJson({
        nf: r.nf,
        loss: r.loss,
        iterations: r.iterations,
        roles,
        blocks: r.blocks,
        plot,
      });
    const m = ft.manifest;
    console.log(
      `${m.baseModel.modelType} finetuner (${m.blocks.length} blocks, ${ft.nets.length} PertNNs: ${m.sharing} sharing, ${m.featureTransform.mode} features; ${JSON.stringify(m.training)})`,
    );
    console.log(
      `reference: θ of ${model.dir}, ℓ⁺ = ℓ⁻ = ${r.loss}, σ at its fixed point (${r.iterations} iterations); nf = ${r.nf.toPrecision(4)}`,
    );
    console.log('role        blocks   mean nf·σ    min       max');
    for (const x of roles)
      console.log(
        `${x.role.padEnd(11)} ${String(x.blocks).padStart(6)}  ${x.mean.toFixed(4).padStart(10)}  ${x.min.toFixed(4).padStart(8)}  ${x.max.toFixed(4).padStart(8)}`,
      );
    console.log(plot ? `plot: ${plot.svg}, ${plot.png}` : 'plot: --plot FILE writes the bars as FILE.svg and FILE.png');
  },
};

const init: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: 'a randomly initialised PertNN bank for a model (no meta-training): the ablation baseline',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'the base model folder' })
      .option('out', { type: 'string', demandOption: true, describe: 'the folder for finetuner.safetensors and finetuner.json' })
      .option('seed', { type: 'number', default: 0, coerce: wholeNumberFlag('seed', 0) })
      .option('sharing', {
        choices: SHARINGS,
        default: 'block' as Sharing,
        describe: 'which blocks share one PertNN: block (one each), layer (one per transformer layer), global (one for all)',
      })
      .option('features', {
        choices: FEATURE_MODES,
        default: 'raw' as FeatureMode,
        describe: 'raw, or standardized by θ₀’s block statistics (no loss is known here: ℓ± keep scale 1)',
      })
      .options(peftOptions) as never,
  handler: async (argv) => {
    // Beside a model's weights (where zo-ft looks by default) is fine; over a bank, the model
    // folder's meta-trained one included, is not.
    if (fs.existsSync(argv.out) && !fs.statSync(argv.out).isDirectory()) throw new ZoError(`--out ${argv.out}: is a file, not a folder`);
    const held = Object.values(FINETUNER_FILES).filter((f) => fs.existsSync(path.join(argv.out, f)));
    if (held.length) throw new ZoError(`--out ${argv.out}: already holds a finetuner (${held.join(', ')}); give another folder`);
    // With --peft the bank is for the adapter blocks such a run perturbs (the seed also keys their init).
    const peft = { peft: argv.peft, lora: loraFromArgs(argv), prefix: prefixFromArgs(argv), seed: argv.seed };
    const { model, theta } = await withPeft(loadModel(argv.model), peft);
    // No batch is evaluated here, so a standardised map leaves ℓ± as they are (shift 0, scale 1).
    const featureTransform = argv.features === 'standardized' ? standardization(theta) : RAW_FEATURES;
    const ft = randomFinetuner(theta, model.config, argv.seed, { sharing: argv.sharing, featureTransform });
    try {
      saveFinetuner(argv.out, ft);
    } catch (e) {
      throw fsError(`--out ${argv.out}`, 'cannot write the finetuner', e);
    }
    console.log(
      `random finetuner for ${theta.names.length} blocks (${ft.nets.length} PertNNs, ${argv.sharing} sharing, ${argv.features} features${argv.features === 'standardized' ? '; ℓ± unscaled: no loss at θ₀ is known without a batch' : ''}): ${argv.out}`,
    );
  },
};

export const finetunerCommand: CommandModule = {
  command: 'finetuner <command>',
  describe: 'inspect or create ZO Fine-tuner PertNN banks',
  builder: (y) => y.command(show).command(init).demandCommand(1),
  handler: () => {},
};
