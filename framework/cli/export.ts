import type { CommandModule } from 'yargs';
import { exportRun, type ExportWeights } from '../runs/export.js';
import { plotRun } from '../runs/outputs.js';
import { jsonOption, printJson } from './common.js';

export const exportCommand: CommandModule<object, { rundir: string; out: string; weights?: ExportWeights; json: boolean }> = {
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
      .option('json', jsonOption) as never,
  handler: (argv) => {
    const r = exportRun(argv.rundir, argv.out, argv.weights);
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
