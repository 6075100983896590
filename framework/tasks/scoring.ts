import { ZoError } from '../core/errors.js';
import { paddedBatch, type Batch } from '../engine/batch.js';
import { recomputeDecoder, type Decoder } from '../engine/decoder.js';
import type { Executor } from '../engine/executor.js';
import type { TextTokenizer } from '../models/tokenizer.js';
import type { Perturbation } from '../core/perturbation.js';
import { maxF1 } from './metrics.js';
import type { Rendered, Task } from './task.js';

/** One example, tokenized once: rows to score or train on, and what counts as right. */
export interface Encoded {
  /** prompt + option per candidate (classification, multiple choice). */
  options: { ids: number[]; optionTokens: number }[];
  label: number;
  /** Options scored as correct (MeZO counts any gold ReCoRD entity). */
  correct: number[];
  /** prompt + target, with the number of target tokens (LM loss). */
  lm?: { ids: number[]; targetTokens: number };
  /** The prompt alone (generation). */
  prompt: number[];
  answers: string[];
}

/** How examples become batches: the pad id, rows per forward pass, and tokens per row. */
export interface BatchOptions {
  padId: number;
  chunk: number;
  /** Tokens per row (never more than the model's positions): bucketed lengths stop here. */
  maxLen: number;
}

/** Slot lengths are padded up to a multiple of this, so ORT traces a handful of graphs, not one per length. */
const SEQ_BUCKET = 16;
/** MeZO's greedy decoding budget. */
export const MAX_NEW_TOKENS = 50;

/**
 * Left truncation as MeZO's encode_prompt does it: keep the last `maxLen` tokens, but when the
 * tokenizer adds a BOS keep it in front (the model was trained to see it first).
 */
export function truncateLeft(ids: readonly number[], maxLen: number, keepBos: boolean): number[] {
  if (ids.length <= maxLen) return [...ids];
  return keepBos ? [ids[0]!, ...ids.slice(ids.length - maxLen + 1)] : ids.slice(ids.length - maxLen);
}

/** Whether two sequences are the same ids. */
const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && sharedPrefix(a, b) === a.length;

/** How many leading ids two sequences share. */
function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * prompt + continuation as ids, and how many trailing tokens belong to the continuation: those after
 * the tokens the prompt's own encoding shares. That is MeZO's option length,
 * len(encode(prompt + continuation)) − len(encode(prompt)), except when the continuation's first piece
 * merges with the prompt's last token (a template ending in a space: "It was " + "great" encodes
 * " great" where the prompt had " "); then the merged token is the continuation's, not lost.
 */
function withContinuation(
  tok: TextTokenizer,
  prompt: string,
  promptIds: readonly number[],
  continuation: string,
  maxLen: number,
  where: string,
) {
  // A continuation's first token is predicted from the one before it: at least two must fit.
  if (maxLen < 2) throw new ZoError(`${where}: a max length of ${maxLen} token leaves no room for a prompt token before the answer`);
  const full = tok.encode(prompt + continuation);
  const n = full.length - sharedPrefix(promptIds, full);
  if (n <= 0) throw new ZoError(`${where}: ${JSON.stringify(continuation)} tokenizes to nothing after the prompt`);
  return { ids: truncateLeft(full, maxLen, tok.addsBos), tokens: Math.min(n, maxLen - 1), context: full.slice(0, full.length - n) };
}

export function encodeExample(task: Task, r: Rendered, tok: TextTokenizer, maxLen: number, where: string): Encoded {
  const prompt = tok.encode(r.prompt);
  const options = (r.options ?? []).map((o, i) => {
    const c = withContinuation(tok, r.prompt, prompt, o, maxLen, `${where}: candidate ${i}`);
    return { ids: c.ids, optionTokens: c.tokens };
  });
  const target = r.target ?? (r.options && r.label !== undefined ? r.options[r.label] : undefined);
  const lm = target !== undefined ? withContinuation(tok, r.prompt, prompt, target, maxLen, `${where}: target`) : undefined;
  if (task.loss === 'lm' && !lm) throw new ZoError(`${where}: task ${task.name} trains with the LM loss but the example has no target`);
  // MeZO truncates a generation prompt to max_length − 50, so the 50 new tokens always fit.
  const promptRoom = maxLen - MAX_NEW_TOKENS;
  if (task.metric === 'f1' && promptRoom < 1)
    throw new ZoError(`${where}: a max length of ${maxLen} tokens leaves no room for a prompt and ${MAX_NEW_TOKENS} generated tokens`);
  return {
    options,
    label: r.label ?? -1,
    correct: r.labels ?? (r.label !== undefined ? [r.label] : []),
    lm: lm && { ids: lm.ids, targetTokens: lm.tokens },
    // Generation continues from where the trained target starts, merged tokens included.
    prompt: truncateLeft(lm?.context ?? prompt, Math.max(promptRoom, 1), tok.addsBos),
    answers: r.answers ?? [],
  };
}

/**
 * Rows right-padded to a bucketed length (at most `maxS`); each row's last `predict` tokens are the
 * targets, so the weights sit on the slots that predict them.
 */
export function rowsBatch(rows: readonly { ids: number[]; predict: number }[], padId: number, maxS = Infinity): Batch {
  return layOut(
    rows.map((r) => ({ parts: [{ ids: r.ids, from: 0, predict: r.predict }] })),
    padId,
    maxS,
    false,
  ).batch;
}

/** The training batch of a task's loss: C rows per example with gold labels, or one LM row per example. */
export function trainingBatch(task: Task, examples: readonly Encoded[], o: BatchOptions): Batch {
  if (task.loss === 'lm')
    return rowsBatch(
      examples.map((e) => ({ ids: e.lm!.ids, predict: e.lm!.targetTokens })),
      o.padId,
      o.maxLen,
    );
  const C = examples[0]!.options.length;
  if (examples.some((e) => e.options.length !== C))
    throw new ZoError(`task ${task.name}: classification needs the same number of candidates in every example`);
  const batch = rowsBatch(
    examples.flatMap((e) => e.options.map((opt) => ({ ids: opt.ids, predict: opt.optionTokens }))),
    o.padId,
    o.maxLen,
  );
  batch.candidates = C;
  batch.gold = Int32Array.from(examples, (e) => e.label);
  return batch;
}

/** The task's training loss on `examples`, averaged per example, in chunks of `chunk`. */
export async function taskLoss(
  exec: Executor,
  task: Task,
  examples: readonly Encoded[],
  o: BatchOptions,
  perturbation?: Perturbation,
): Promise<number> {
  let sum = 0;
  for (let i = 0; i < examples.length; i += o.chunk) {
    const part = examples.slice(i, i + o.chunk);
    sum += (await exec.forward(trainingBatch(task, part, o), { perturbation })).loss * part.length;
  }
  return sum / examples.length;
}

/** Index of the largest value; ties go to the first, as numpy's argmax does. */
function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** Each example's argmax over its candidate rows' mean option-token log-prob, rows in example order. */
function optionArgmax(part: readonly Encoded[], r: { seqLogProb: Float32Array; seqCount: Float32Array }): number[] {
  let row = 0;
  return part.map((e) => {
    const scores = e.options.map((_, c) => r.seqLogProb[row + c]! / r.seqCount[row + c]!);
    row += e.options.length;
    return argmax(scores);
  });
}

/** One packed row: its sequences (the shared prefix first, if any), and where each starts in the row it stands for. */
export interface PackedRow {
  parts: { ids: readonly number[]; from: number; predict: number }[];
}

/**
 * An example's candidates as one row: their shared prefix once, then each candidate's tail, led by a
 * copy of the prefix's last token so that each tail's first token is predicted by a slot of its own.
 * The prefix stops before any candidate's first predicted token. When the candidates share no token
 * before it, or the row would be longer than `maxS`, each candidate gets a row of its own instead.
 */
export function packOptions(e: Encoded, maxS: number): PackedRow[] {
  const opts = e.options;
  let k = Math.min(...opts.map((o) => o.ids.length - o.optionTokens));
  for (const o of opts) k = Math.min(k, sharedPrefix(opts[0]!.ids, o.ids));
  const s = Math.max(k - 1, 0);
  const tails = opts.map((o) => ({ ids: o.ids.slice(s), from: s, predict: o.optionTokens }));
  const length = s + tails.reduce((n, t) => n + t.ids.length, 0);
  // Nothing shared: one row of all the candidates would only lengthen each one's attention.
  if (opts.length > 1 && s > 0 && length <= maxS) return [{ parts: [{ ids: opts[0]!.ids.slice(0, s), from: 0, predict: 0 }, ...tails] }];
  return opts.map((o) => ({ parts: [{ ids: o.ids, from: 0, predict: o.optionTokens }] }));
}

/**
 * Packed rows as a batch (Batch.packed), bucketed as rowsBatch's, and the slots of each candidate's
 * predicted tokens: a candidate's Σ w·log p is the sum of slotLogProb over its slots.
 */
export function packedBatch(rows: readonly PackedRow[], padId: number, maxS = Infinity): { batch: Batch; slots: number[][] } {
  return layOut(rows, padId, maxS, true);
}

/**
 * The rows right-padded to a bucketed length (at most `maxS`), each part's last `predict` tokens the
 * targets of the slots before them, and those slots per predicting part; with `packed`, each slot's
 * segment and index too (rowsBatch is the case of one part a row).
 */
function layOut(rows: readonly PackedRow[], padId: number, maxS: number, packed: boolean): { batch: Batch; slots: number[][] } {
  const B = rows.length;
  const longest = Math.max(...rows.map((r) => r.parts.reduce((n, p) => n + p.ids.length, 0)));
  const S = Math.max(longest, Math.min(Math.ceil(longest / SEQ_BUCKET) * SEQ_BUCKET, maxS));
  const N = B * S;
  const batch = paddedBatch(B, S, padId);
  const at = packed ? (batch.packed = { segment: new Int32Array(N), index: new Int32Array(N) }) : undefined;
  const slots: number[][] = [];
  rows.forEach((r, b) => {
    let n = b * S;
    r.parts.forEach((part, seg) => {
      const L = part.from + part.ids.length;
      const own: number[] = [];
      for (let t = 0; t < part.ids.length; t++, n++) {
        const i = part.from + t;
        batch.ids[n] = part.ids[t]!;
        batch.attention[n] = 1;
        if (at) [at.segment[n], at.index[n]] = [seg, i];
        if (i >= L - part.predict - 1 && i < L - 1) {
          batch.targets[n] = part.ids[t + 1]!;
          batch.weights[n] = 1;
          own.push(n);
        }
      }
      if (part.predict > 0) slots.push(own);
    });
  });
  return { batch, slots };
}

/**
 * Candidate scoring: argmax over options of the mean option-token log-prob (MeZO, no calibration).
 * An example's candidates share one packed row (packOptions), so its prompt is run once, not once per
 * candidate; the scores are those of a row per candidate up to rounding (tested).
 */
export async function predictOptions(exec: Executor, examples: readonly Encoded[], o: BatchOptions): Promise<number[]> {
  return (await optionScores(exec, examples, o)).map(argmax);
}

/** Each example's mean option-token log-prob per candidate, from packed rows (predictOptions). */
export async function optionScores(exec: Executor, examples: readonly Encoded[], o: BatchOptions): Promise<number[][]> {
  const scores: number[][] = [];
  for (let i = 0; i < examples.length; i += o.chunk) {
    const part = examples.slice(i, i + o.chunk);
    const { batch, slots } = packedBatch(
      part.flatMap((e) => packOptions(e, o.maxLen)),
      o.padId,
      o.maxLen,
    );
    const r = await exec.forward(batch);
    if (!r.slotLogProb)
      throw new ZoError(`the ${exec.describe()} executor returns no slotLogProb (ForwardResult), which candidate scoring reads`);
    // Candidates come in example order, each example's in option order.
    let c = 0;
    for (const e of part) {
      const own = e.options.map(() => {
        const at = slots[c++]!;
        return at.reduce((sum, n) => sum + r.slotLogProb[n]!, 0) / at.length;
      });
      // A candidate that repeats an earlier one takes its score: packed elsewhere in the row, it could
      // differ in the last bit, and argmax must still pick the first copy (ReCoRD's gold is the first).
      scores.push(own.map((x, i) => own[e.options.findIndex((o) => sameIds(o.ids, e.options[i]!.ids))] ?? x));
    }
  }
  return scores;
}

/**
 * A classification task's loss and predictions from the same forward passes: its training batch
 * already holds every candidate row, and each row's Σ w·log p there is what the argmax reads. Half
 * the passes of taskLoss followed by predictOptions, with the same numbers (tested).
 */
export async function classificationScore(
  exec: Executor,
  task: Task,
  examples: readonly Encoded[],
  o: BatchOptions,
): Promise<{ loss: number; predictions: number[] }> {
  let sum = 0;
  const predictions: number[] = [];
  for (let i = 0; i < examples.length; i += o.chunk) {
    const part = examples.slice(i, i + o.chunk);
    const r = await exec.forward(trainingBatch(task, part, o));
    sum += r.loss * part.length;
    predictions.push(...optionArgmax(part, r));
  }
  return { loss: sum / examples.length, predictions };
}

/**
 * Greedy decoding, MeZO's way: at most 50 new tokens, stopping at EOS or at a token that holds a
 * newline; the text before that newline is kept (MeZO itself stops only at the exact "\n" token and
 * decodes on past a merged one such as ".\n"; docs/tasks.md#generation). Returns the decoded continuations, trimmed.
 */
export async function generate(exec: Executor, tok: TextTokenizer, prompts: readonly number[][], o: BatchOptions): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < prompts.length; i += o.chunk) {
    const chunk = prompts.slice(i, i + o.chunk);
    const decoder = exec.decoder?.(o.padId) ?? recomputeDecoder(exec, o.padId);
    try {
      for (const p of await greedy(decoder, tok, chunk, o.maxLen))
        out.push(tok.decode(p, { skipSpecialTokens: true }).split('\n')[0]!.trim());
    } finally {
      await decoder.dispose();
    }
  }
  return out;
}

/** The greedy continuation of each prompt through `decoder`, as token ids, within `maxLen` tokens a row. */
export async function greedy(decoder: Decoder, tok: TextTokenizer, prompts: readonly number[][], maxLen: number): Promise<number[][]> {
  const budget = Math.min(MAX_NEW_TOKENS, maxLen - Math.max(...prompts.map((p) => p.length)));
  const produced: number[][] = prompts.map(() => []);
  const done = prompts.map(() => budget <= 0);
  const next = new Int32Array(prompts.length);
  let logits = budget > 0 ? await decoder.start(prompts, budget) : new Float32Array(0);
  const V = logits.length / prompts.length;
  // Embedding rows past the tokenizer's vocabulary (padding in real checkpoints) have no text.
  const usable = Math.min(V, tok.vocabSize);
  for (let step = 0; step < budget && done.includes(false); step++) {
    if (step > 0) logits = await decoder.append(next);
    prompts.forEach((_, b) => {
      if (done[b]) return;
      const id = argmax(logits.subarray(b * V, b * V + usable));
      next[b] = id;
      const text = id === tok.eosId ? '' : tok.tokenText(id);
      if (id === tok.eosId || text.includes('\n')) {
        // Keep what precedes a newline inside the stopping token (e.g. "." + "\n" merged).
        if (text.indexOf('\n') > 0) produced[b]!.push(id);
        done[b] = true;
        return;
      }
      produced[b]!.push(id);
    });
  }
  return produced;
}

export interface TaskScore {
  /** accuracy or F1, in [0, 1]. */
  score: number;
  /** The task's training loss on the same examples. */
  loss: number;
  /** Predictions (option indices, or generated text). */
  predictions: (number | string)[];
}

/** The task's metric (and loss) on examples: candidate argmax, or greedy generation scored by F1. */
export async function scoreTask(
  exec: Executor,
  task: Task,
  tok: TextTokenizer,
  examples: readonly Encoded[],
  o: BatchOptions,
): Promise<TaskScore> {
  if (task.loss === 'classification' && task.metric === 'accuracy') {
    const { loss, predictions } = await classificationScore(exec, task, examples, o);
    const correct = predictions.filter((p, i) => examples[i]!.correct.includes(p)).length;
    return { score: correct / examples.length, loss, predictions };
  }
  const loss = await taskLoss(exec, task, examples, o);
  if (task.metric === 'f1') {
    const texts = await generate(
      exec,
      tok,
      examples.map((e) => e.prompt),
      o,
    );
    const f1 = texts.reduce((s, t, i) => s + maxF1(t, examples[i]!.answers), 0) / examples.length;
    return { score: f1, loss, predictions: texts };
  }
  const preds = await predictOptions(exec, examples, o);
  const correct = preds.filter((p, i) => examples[i]!.correct.includes(p)).length;
  return { score: correct / examples.length, loss, predictions: preds };
}
