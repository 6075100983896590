/**
 * MeZO's eleven tasks (docs/tasks.md): prompts from mezo-templates.ts, splits drawn from
 * the user's own copies of the HF train and validation splits by MeZO's protocol (sampling.ts).
 * Nothing is downloaded: files go under `<dataDir>/<task>/` (datasets/mezo/README.md), with
 * `dataDir` = LoadOptions.dataDir, else $ZO_DATA, else `data` (relative to the working directory).
 */
import { readSplit } from './hf-files.js';
import { ZoError } from '../framework/core/errors.js';
import { MEZO_RENDERERS, type MezoRender, type MezoTaskName } from '../framework/tasks/mezo-templates.js';
import { MEZO_DEFAULT_SIZES, effectiveSizes, mezoSplitIndices } from '../framework/tasks/sampling.js';
import type { LoadOptions, LossKind, Metric, Row, Splits, SplitSizes, Task, TaskType } from '../framework/tasks/task.js';

interface Spec {
  name: MezoTaskName;
  /** HF dataset id and config, as MeZO's `load_dataset` call names it. */
  hf: string;
  /** The folder of the hub repo holding this config's parquet files (picked when a full repo is there). */
  hfDir: string;
  type: TaskType;
  loss: LossKind;
  metric: Metric;
  sizes: SplitSizes;
  /** What MeZO ends up with on the standard HF splits (README table). */
  effective: string;
  what: string;
  note?: string;
}

// mezo.sh: TRAIN=1000 DEV=500 EVAL=1000, DEV=100 for CB and Copa. These are the REQUESTED sizes;
// small splits shrink them exactly as MeZO's slicing does (sampling.ts), e.g. WSC's 54 train.
const D = MEZO_DEFAULT_SIZES;
const DEV100: SplitSizes = { train: 1000, dev: 100, test: 1000 };

const SPECS: readonly Spec[] = [
  {
    name: 'sst2',
    hf: 'nyu-mll/glue sst2',
    hfDir: 'sst2',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/872',
    what: 'SST-2 sentiment',
  },
  {
    name: 'rte',
    hf: 'aps/super_glue rte',
    hfDir: 'rte',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/277',
    what: 'RTE entailment',
  },
  {
    name: 'cb',
    hf: 'aps/super_glue cb',
    hfDir: 'cb',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: DEV100,
    effective: '150/100/56',
    what: 'CommitmentBank 3-way entailment',
  },
  {
    name: 'boolq',
    hf: 'google/boolq',
    hfDir: 'data',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/1000',
    what: 'BoolQ yes/no questions',
  },
  {
    name: 'wsc',
    hf: 'aps/super_glue wsc.fixed',
    hfDir: 'wsc.fixed',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '54/500/104',
    what: 'Winograd schemas',
    note: ' (MeZO quirk: dev keeps 500 of the 554 train rows)',
  },
  {
    name: 'wic',
    hf: 'aps/super_glue wic',
    hfDir: 'wic',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/638',
    what: 'Words in context',
  },
  {
    name: 'multirc',
    hf: 'aps/super_glue multirc',
    hfDir: 'multirc',
    type: 'classification',
    loss: 'classification',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/1000',
    what: 'MultiRC answer checking',
  },
  {
    name: 'copa',
    hf: 'aps/super_glue copa',
    hfDir: 'copa',
    type: 'multiple-choice',
    loss: 'lm',
    metric: 'accuracy',
    sizes: DEV100,
    effective: '300/100/100',
    what: 'COPA cause/effect',
  },
  {
    name: 'record',
    hf: 'aps/super_glue record',
    hfDir: 'record',
    type: 'multiple-choice',
    loss: 'lm',
    metric: 'accuracy',
    sizes: D,
    effective: '1000/500/1000',
    what: 'ReCoRD cloze over entities',
  },
  {
    name: 'squad',
    hf: 'rajpurkar/squad',
    hfDir: 'plain_text',
    type: 'generation',
    loss: 'lm',
    metric: 'f1',
    sizes: D,
    effective: '1000/500/1000',
    what: 'SQuAD v1.1 extractive QA',
  },
  {
    name: 'drop',
    hf: 'ucinlp/drop',
    hfDir: 'data',
    type: 'generation',
    loss: 'lm',
    metric: 'f1',
    sizes: D,
    effective: '1000/500/1000',
    what: 'DROP discrete reasoning QA',
  },
];

/** Where the user's files are: the option, else $ZO_DATA, else ./data. */
export function mezoDataDir(dataDir?: string): string {
  return dataDir ?? process.env.ZO_DATA ?? 'data';
}

class MezoTask implements Task {
  readonly suite = 'mezo' as const;
  readonly name: MezoTaskName;
  readonly type: TaskType;
  readonly metric: Metric;
  readonly loss: LossKind;
  readonly description: string;
  readonly sizes: SplitSizes;
  private readonly renderAt: MezoRender;

  constructor(private readonly spec: Spec) {
    this.name = spec.name;
    this.type = spec.type;
    this.metric = spec.metric;
    this.loss = spec.loss;
    this.sizes = { ...spec.sizes };
    this.description = `${spec.what} (HF ${spec.hf}): ${spec.effective} train/dev/test${spec.note ?? ''}`;
    this.renderAt = MEZO_RENDERERS[spec.name];
  }

  render(row: Row) {
    return this.renderAt(row);
  }

  async load(opts: LoadOptions): Promise<Splits> {
    const dataDir = mezoDataDir(opts.dataDir);
    const sizes: SplitSizes = { ...this.sizes, ...opts.sizes };
    const { name, hf, hfDir } = this.spec;
    const hint = `download the train and validation splits of ${hf} from https://huggingface.co/datasets/${hf.split(' ')[0]} into ${dataDir}/${name}/ (datasets/mezo/README.md)`;
    const train = await readSplit(dataDir, name, 'train', { preferDir: hfDir, hint });
    const valid = await readSplit(dataDir, name, 'validation', { preferDir: hfDir, hint });
    const idx = mezoSplitIndices(train.length, valid.length, sizes, opts.trainSetSeed);
    if (idx.train.length === 0 && sizes.train > 0) {
      const e = effectiveSizes(train.length, valid.length, sizes);
      throw new ZoError(
        `${name}: the train split has ${train.length} rows and dev takes ${e.dev} of them, leaving none to train on; ask for a smaller dev size`,
      );
    }
    // Render every drawn row once now, so bad data fails here naming the split and the HF row index.
    const pick = (rows: Row[], ids: number[], split: string): Row[] =>
      ids.map((i) => {
        this.renderAt(rows[i]!, `${name} ${split} row ${i}`);
        return rows[i]!;
      });
    return { train: pick(train, idx.train, 'train'), dev: pick(train, idx.dev, 'train'), test: pick(valid, idx.test, 'validation') };
  }
}

/** One Task per MeZO task, in MeZO's README order. */
export const MEZO_TASKS: Task[] = SPECS.map((s) => new MezoTask(s));
