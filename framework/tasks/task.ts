/**
 * A task: how rows of a dataset become prompts and candidates for a causal LM, how it trains and how
 * it is scored (docs/tasks.md). Templates render strings; tokenizing, batching and scoring
 * are shared by every task (framework/tasks/scoring.ts).
 */
export type TaskType = 'classification' | 'multiple-choice' | 'generation';
/**
 * classification: cross-entropy over the candidates' mean option-token log-probs (MeZO's
 * train_as_classification); lm: next-token loss on the gold continuation only.
 */
export type LossKind = 'classification' | 'lm';
export type Metric = 'accuracy' | 'f1';
export type Suite = 'mezo' | 'tiny' | 'custom';

/** A raw dataset row, with the dataset's own (HF) column names. */
export type Row = Record<string, unknown>;

/** One example rendered as text. The model sees `prompt + continuation` for every continuation. */
export interface Rendered {
  /** The context, without the answer. Left-truncated when too long, as MeZO does. */
  prompt: string;
  /**
   * Classification and multiple choice: each candidate's continuation, exactly as appended to the
   * prompt (e.g. " great" for SST-2, "Yes" after RTE's trailing newline). Its tokens are the option
   * tokens: those of prompt+option beyond those of prompt.
   */
  options?: string[];
  /** Index of the correct option: the one trained on. */
  label?: number;
  /** Every option that counts as correct when scoring, if more than `label` (ReCoRD's gold entities). */
  labels?: number[];
  /** Generation: the gold answers; the metric takes the max over them. */
  answers?: string[];
  /**
   * The continuation trained on with the LM loss: the gold option for multiple choice (COPA), the
   * first gold answer plus "\n" for generation (SQuAD, DROP).
   */
  target?: string;
}

export interface Splits {
  train: Row[];
  dev: Row[];
  test: Row[];
}

export interface SplitSizes {
  train: number;
  dev: number;
  test: number;
}

export interface LoadOptions {
  /** Where the user's downloaded dataset files are (MeZO tasks), or the custom task's folder. */
  dataDir?: string;
  /** MeZO's train_set_seed: which train/dev examples are drawn from the train split. */
  trainSetSeed: number;
  /** Requested sizes; a task may document its own defaults (COPA, CB, WSC: docs/tasks.md#sampling). */
  sizes?: Partial<SplitSizes>;
}

export interface Task {
  readonly name: string;
  readonly suite: Suite;
  readonly type: TaskType;
  readonly metric: Metric;
  readonly loss: LossKind;
  /** One line for `zo tasks`. */
  readonly description: string;
  /** Default split sizes (before the data's own limits). */
  readonly sizes: SplitSizes;
  /** Renders one row; bad data is a ZoError naming the row and field. */
  render(row: Row): Rendered;
  /** Loads and samples the splits. Missing files are a ZoError saying where to put what. */
  load(opts: LoadOptions): Promise<Splits>;
}
