import type { CommandModule } from 'yargs';
import { jsonOption, printJson, threadsOption } from './common.js';

interface Args {
  json: boolean;
  threads?: number;
  seconds: number;
}

/**
 * `zo bench`: speed measured as ratios within one run, never asserted in tests (DESIGN §4).
 * The forward suite compares zo's traced ORT graph with a hand-written graph of the same model.
 */
export const benchCommand: CommandModule<object, Args> = {
  command: 'bench',
  describe: "benchmarks: the ort executor's forward against a hand-built ONNX graph of the same 4-layer d=256 Llama",
  builder: (y) =>
    y
      .option('seconds', { type: 'number', default: 5, describe: 'minimum timed seconds per contender' })
      .option('threads', threadsOption)
      .option('json', jsonOption) as never,
  handler: async (argv) => {
    const { benchForward } = await import('../bench/forward.js');
    const r = await benchForward({
      threads: argv.threads,
      minSeconds: argv.seconds,
      onProgress: argv.json ? undefined : (msg: string) => process.stderr.write(`${msg}\n`),
    });
    if (argv.json) return printJson({ forward: r });
    const ms = (x: { median: number; p10: number; p90: number }) => `${x.median.toFixed(1)} ms (p10 ${x.p10.toFixed(1)}, p90 ${x.p90.toFixed(1)})`;
    console.log(`forward: ${r.model.layers}-layer d=${r.model.hidden} llama, ${r.model.params.toLocaleString('en')} params, batch ${r.batch} × seq ${r.seq}, ${r.threads} threads`);
    console.log(`  zo ort executor      ${ms(r.zoMs)}`);
    console.log(`  hand-built ORT graph ${ms(r.handMs)}`);
    console.log(`  ratio zo / hand      ${r.ratio.toFixed(3)}×   (loss ${r.lossZo.toFixed(5)} vs ${r.lossHand.toFixed(5)})`);
  },
};
