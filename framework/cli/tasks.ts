import type { CommandModule } from 'yargs';
import { TASKS } from '../tasks/registry.js';
import { jsonOption, printJson } from './common.js';

export const tasksCommand: CommandModule<object, { json: boolean }> = {
  command: 'tasks',
  describe: "list the tasks: MeZO's 11 (your downloaded files) and the offline tiny suite",
  builder: (y) => y.option('json', jsonOption),
  handler: (argv) => {
    const rows = TASKS.map((t) => ({ name: t.name, suite: t.suite, type: t.type, metric: t.metric, loss: t.loss, trainSize: t.sizes.train, devSize: t.sizes.dev, testSize: t.sizes.test, description: t.description }));
    if (argv.json) return printJson(rows);
    console.log('task              suite  type             loss            metric    train   dev  test');
    for (const r of rows)
      console.log(
        `${r.name.padEnd(17)} ${r.suite.padEnd(6)} ${r.type.padEnd(16)} ${r.loss.padEnd(15)} ${r.metric.padEnd(8)} ${String(r.trainSize).padStart(6)} ${String(r.devSize).padStart(5)} ${String(r.testSize).padStart(5)}`,
      );
  },
};
