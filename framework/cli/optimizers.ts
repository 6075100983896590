import type { CommandModule } from 'yargs';
import { z } from 'zod';
import { OPTIMIZERS, parseHyperparameters } from '../optimizers/registry.js';
import { jsonOption, printJson } from './common.js';

/** The registry as data: name, memory (extra model-sized buffers), passes per step, hyperparameters. */
export function optimizerTable() {
  return OPTIMIZERS.map((o) => {
    const defaults = parseHyperparameters(o, {});
    const schema = z.toJSONSchema(o.hyperparameters as z.ZodType, { io: 'input' }) as {
      properties?: Record<string, { type?: string; default?: unknown; description?: string }>;
    };
    const hyperparameters = Object.fromEntries(
      Object.entries(schema.properties ?? {}).map(([k, v]) => [k, { type: v.type, default: v.default, description: v.description }]),
    );
    return {
      name: o.name,
      summary: o.summary,
      firstOrder: !!o.firstOrder,
      memoryFactor: o.memoryFactor(defaults),
      forwardPasses: o.forwardPasses(defaults),
      hyperparameters,
    };
  });
}

export const optimizersCommand: CommandModule<object, { json: boolean }> = {
  command: 'optimizers',
  describe: 'list the optimizers: memory factor, forward passes per step, hyperparameters and defaults',
  builder: (y) => y.option('json', jsonOption),
  handler: (argv) => {
    const rows = optimizerTable();
    if (argv.json) return printJson(rows);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(20)} +${r.memoryFactor}P memory, ${r.forwardPasses} pass${r.forwardPasses === 1 ? '' : 'es'}/step${r.firstOrder ? ' (first-order)' : ''}`,
      );
      console.log(`  ${r.summary}`);
      console.log(
        `  ${Object.entries(r.hyperparameters)
          .map(([k, v]) => `${k}=${v.default}`)
          .join('  ')}`,
      );
    }
  },
};
