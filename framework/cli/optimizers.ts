import type { CommandModule } from 'yargs';
import { z } from 'zod';
import { registerLearnedOptimizers } from '../learned/registry.js';
import { loadPlugin } from '../optimizers/plugins.js';
import { allOptimizers, parseHyperparameters } from '../optimizers/registry.js';
import { jsonOption, printJson } from './common.js';

/** The registry as data: name, memory (extra model-sized buffers), passes per step, hyperparameters. */
export function optimizerTable() {
  return allOptimizers().map((o) => {
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

export const optimizersCommand: CommandModule<object, { json: boolean; plugin: string[] }> = {
  command: 'optimizers',
  describe: 'list the optimizers: memory factor, forward passes per step, hyperparameters and defaults',
  builder: (y) =>
    y
      .option('plugin', { type: 'string', array: true, default: [], describe: 'also list the optimizers this ES module exports' })
      .option('json', jsonOption),
  handler: async (argv) => {
    registerLearnedOptimizers();
    for (const p of argv.plugin) await loadPlugin(p);
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
