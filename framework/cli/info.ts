import os from 'node:os';
import ort from 'onnxruntime-node';
import type { CommandModule } from 'yargs';
import { packageVersion } from '../core/paths.js';
import { jsonOption, printJson, threadsOption } from './common.js';

export const infoCommand: CommandModule<object, { json: boolean; threads?: number }> = {
  command: 'info',
  describe: 'version, executors, the tfjs backend chosen, ORT version and threads',
  builder: (y) =>
    y.option('json', jsonOption).option('threads', { ...threadsOption, describe: 'ORT threads to report (default: all cores)' }),
  handler: async (argv) => {
    const { tfjsBackend, tfjsVersion } = await import('../engine/tfjs.js');
    const info = {
      zo: packageVersion(),
      node: process.versions.node,
      executors: {
        ort: {
          version: ort.env.versions.node ?? ort.env.versions.common,
          threads: argv.threads ?? os.availableParallelism(),
          backends: ['cpu'],
        },
        tfjs: { version: tfjsVersion(), backend: await tfjsBackend() },
      },
      cpus: os.cpus().length,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
    };
    if (argv.json) return printJson(info);
    console.log(`zo ${info.zo} (node ${info.node})`);
    console.log(`executor ort   onnxruntime-node ${info.executors.ort.version}, cpu, ${info.executors.ort.threads} threads`);
    console.log(`executor tfjs  tfjs ${info.executors.tfjs.version}, backend ${info.executors.tfjs.backend}`);
    console.log(`machine        ${info.cpus} cpus, ${info.memoryGb} GB`);
  },
};
