/**
 * A run's weights as a Hugging Face model folder, loadable by transformers unchanged: the base
 * model's config and tokenizer files, model.safetensors ({format: "pt"}, the dtype config.json says)
 * and a model card. Every `zo run` writes one in RUNDIR/model/; `zo export` writes one anywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { openSafetensors, tensorsOf, writeSafetensors, type Weights } from '../models/safetensors.js';
import { checkpointDir, checkpointStep, writeFolderAtomic } from './checkpoint.js';
import { checkNewFolder, readRunJson } from './folder.js';
import { loadModel, readJson, type LoadedModel } from '../models/load.js';
import { mergedWeight, withLora } from '../models/lora.js';
import { attentionModules, prefixBlocksOf, promptEmbeddings } from '../models/prefix.js';
import { loraConfig, type Adapter, type SavedAdapter } from './peft.js';
import type { RunSpec } from './spec.js';

/** The summary fields a model card reports (a RunSummary, without importing run.ts). */
export interface CardSummary {
  optimizer: string;
  steps: number;
  initialLoss: number;
  finalLoss: number;
  weightsSha256: string;
  task?: string;
  metric?: string;
  zeroShotDev?: number;
  devBest?: number;
  devBestLoss?: number;
  test?: number;
  bestStep?: number;
}

export type ExportWeights = 'best' | 'final';

/** The tokenizer and generation files a model folder carries besides config.json, copied as they are. */
const SIDE_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'vocab.json',
  'merges.txt',
];

/** transformers' class per model_type, for a config.json that does not name one. */
const ARCHITECTURES: Record<string, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  opt: 'OPTForCausalLM',
  gpt2: 'GPT2LMHeadModel',
};

const DTYPES: Record<string, 'F32' | 'F16' | 'BF16'> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

function fileWeights(file: string): Weights {
  const f = openSafetensors(file);
  return { names: f.names(), shape: (n) => f.info(n)!.shape, get: (n) => f.readF32(n) };
}

/** A command line that reproduces the run (the flags spec.json implies). */
export function runCommand(spec: RunSpec): string {
  const q = (s: string) => (/^[\w./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const args = ['zo', 'run', '--model', q(spec.model)];
  if (spec.task) args.push('--task', q(spec.task));
  if (spec.taskFile) args.push('--task-file', q(spec.taskFile));
  if (spec.textFile) args.push('--text-file', q(spec.textFile));
  args.push('--optimizer', spec.optimizer);
  if (spec.finetuner) args.push('--finetuner', q(spec.finetuner));
  // lr, eps and weightDecay have flags of their own; every other hyperparameter goes through --hp.
  const flagged: Record<string, string> = { lr: '--lr', eps: '--eps', weightDecay: '--weight-decay' };
  for (const [k, v] of Object.entries(spec.hyperparameters))
    args.push(...(flagged[k] ? [flagged[k], String(v)] : ['--hp', q(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)]));
  args.push('--steps', String(spec.steps), '--batch-size', String(spec.batchSize), '--seed', String(spec.seed));
  for (const [k, v] of Object.entries(spec.sizes ?? {})) if (v !== undefined) args.push(`--${k}-size`, String(v));
  if (!spec.textFile) args.push('--max-len', String(spec.maxLen), '--train-set-seed', String(spec.trainSetSeed));
  if (spec.textFile) args.push('--seq-len', String(spec.seqLen));
  else args.push('--eval-every', String(spec.evalEvery));
  args.push('--noise', spec.noise, '--schedule', spec.schedule, '--executor', spec.executor);
  return args.join(' ');
}

const fmt = (x: number | undefined, d = 4) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

function modelCard(spec: RunSpec, s: CardSummary, weights: ExportWeights, dtype: string): string {
  const base = path.basename(spec.model);
  const objective =
    spec.task ??
    (spec.taskFile ? path.basename(spec.taskFile) : spec.textFile ? `LM loss on ${path.basename(spec.textFile)}` : '(not recorded)');
  const rows: [string, string][] = [
    ['base model', base],
    ['objective', objective],
    ['optimizer', s.optimizer],
    [
      'hyperparameters',
      Object.entries(spec.hyperparameters)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    ],
    ['steps', `${s.steps} × batch ${spec.batchSize}, seed ${spec.seed}, ${spec.schedule} schedule`],
    ['weights', weights === 'best' ? `the lowest dev loss, at step ${s.bestStep}` : `after the last step (${s.steps})`],
    ['dtype', dtype],
  ];
  if (s.task)
    rows.push(
      ['dev loss', `${fmt(s.initialLoss)} → ${fmt(s.devBestLoss)}`],
      [`${s.metric}`, `zero-shot dev ${fmt(s.zeroShotDev)}, dev ${fmt(s.devBest)}, test ${fmt(s.test)}`],
    );
  else rows.push(['held-out loss', `${fmt(s.initialLoss)} → ${fmt(s.finalLoss)}`]);
  return [
    '---',
    `base_model: ${base}`,
    'library_name: transformers',
    'tags: [zo, zeroth-order, fine-tuned]',
    '---',
    '',
    `# ${base}, fine-tuned with ${s.optimizer}`,
    '',
    `Fine-tuned by [zo](https://www.npmjs.com/package/zo-finetune) with forward passes only (${s.optimizer}).`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    'Made by a command equivalent to:',
    '',
    '```bash',
    runCommand(spec),
    '```',
    '',
    `Weights SHA-256 (zo's, over the fp32 blocks in order, after the last step): \`${s.weightsSha256}\`.`,
    '',
  ].join('\n');
}

/** Writes (or replaces) the model folder `dest`, atomically (writeFolderAtomic). */
export function writeModelFolder(
  dest: string,
  o: { spec: RunSpec; summary: CardSummary; weights: Weights; which: ExportWeights },
): string[] {
  const config = readJson(path.join(o.spec.model, 'config.json')) as Record<string, unknown>;
  const dtypeName = typeof config.torch_dtype === 'string' ? config.torch_dtype : 'float32';
  const dtype = DTYPES[dtypeName];
  if (!dtype) throw new ZoError(`${o.spec.model}/config.json: torch_dtype ${dtypeName} is not one zo writes (float32, float16, bfloat16)`);
  writeFolderAtomic(dest, 'model folder', (tmp) => {
    const arch = ARCHITECTURES[String(config.model_type)];
    const out = { ...config, ...(config.architectures || !arch ? {} : { architectures: [arch] }), torch_dtype: dtypeName };
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(out, null, 2) + '\n');
    for (const f of SIDE_FILES)
      if (fs.existsSync(path.join(o.spec.model, f))) fs.copyFileSync(path.join(o.spec.model, f), path.join(tmp, f));
    writeSafetensors(path.join(tmp, 'model.safetensors'), tensorsOf(o.weights, dtype), { format: 'pt' });
    fs.writeFileSync(path.join(tmp, 'README.md'), modelCard(o.spec, o.summary, o.which, dtypeName));
  });
  return fs.readdirSync(dest).sort();
}

/** adapter_config.json for a LoRA run (PEFT's LoraConfig) or a prefix run (its PrefixTuningConfig, no projection). */
function adapterConfig(spec: RunSpec, a: Adapter): Record<string, unknown> {
  const common = { task_type: 'CAUSAL_LM', base_model_name_or_path: spec.model, inference_mode: true };
  if (a.type === 'lora')
    return {
      peft_type: 'LORA',
      ...common,
      r: a.lora.r,
      lora_alpha: a.lora.alpha,
      target_modules: a.lora.targets,
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: false,
      init_lora_weights: true,
      modules_to_save: null,
    };
  // PEFT views prompt_embeddings as [n, 2L, heads, token_dim / heads]: with the KV heads and their
  // width, that is the KV cache's own shape, GQA included.
  return {
    peft_type: 'PREFIX_TUNING',
    ...common,
    num_virtual_tokens: a.tokens,
    token_dim: a.width,
    num_attention_heads: a.heads,
    num_layers: a.modules.length,
    num_transformer_submodules: 1,
    encoder_hidden_size: a.width,
    prefix_projection: false,
  };
}

/**
 * A PEFT run's adapter in Hugging Face PEFT's layout: adapter_config.json and adapter_model.safetensors,
 * with PEFT's tensor names (LoRA: θ's block names already are; prefix: one prompt_embeddings tensor).
 */
export function writeAdapterFolder(dest: string, o: { spec: RunSpec; adapter: Adapter; weights: Weights }): void {
  const a = o.adapter;
  const tensors =
    a.type === 'lora'
      ? tensorsOf(o.weights)
      : [{ name: 'prompt_embeddings', shape: [a.tokens, a.modules.length * 2 * a.width], data: promptEmbeddings(a, o.weights) }];
  writeFolderAtomic(dest, 'adapter folder', (tmp) => {
    fs.writeFileSync(path.join(tmp, 'adapter_config.json'), JSON.stringify(adapterConfig(o.spec, a), null, 2) + '\n');
    writeSafetensors(path.join(tmp, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  });
}

/** A saved adapter: what a run's spec would say about it, and its blocks (zo eval --adapter, zo export --merge). */
export function readAdapterFolder(
  dir: string,
  model: LoadedModel,
): { spec: Pick<RunSpec, 'peft' | 'lora' | 'prefix'>; saved: SavedAdapter } {
  const c = readJson(
    path.join(dir, 'adapter_config.json'),
    'a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors',
  ) as Record<string, unknown>;
  const where = `${dir}/adapter_config.json`;
  const f = openSafetensors(path.join(dir, 'adapter_model.safetensors'));
  const tensor = (name: string) => {
    if (!f.info(name)) throw new ZoError(`${dir}/adapter_model.safetensors: no tensor ${name}, which its adapter_config.json implies`);
    return f.readF32(name);
  };
  if (c.peft_type === 'PREFIX_TUNING')
    return { spec: { peft: 'prefix', prefix: { tokens: Number(c.num_virtual_tokens) } }, saved: prefixSaved(c, where, model, tensor) };
  if (c.peft_type !== 'LORA') throw new ZoError(`${where}: peft_type ${String(c.peft_type)}; zo reads LORA and PREFIX_TUNING adapters`);
  // What zo's LoRA does not implement is refused, not ignored: it would change the scaling or the layout.
  if (c.use_rslora === true) throw new ZoError(`${where}: use_rslora (α/√r scaling) is not supported`);
  if (c.fan_in_fan_out === true) throw new ZoError(`${where}: fan_in_fan_out (Conv1D layers) is not supported`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (c[k] && Object.keys(c[k] as object).length) throw new ZoError(`${where}: ${k} (per-layer r or α) is not supported`);
  if (!Array.isArray(c.target_modules))
    throw new ZoError(`${where}: target_modules must be a list of module names (a regex is not supported)`);
  const lora = { r: Number(c.r), alpha: Number(c.lora_alpha), targets: c.target_modules as string[] };
  return { spec: { peft: 'lora', lora }, saved: { block: tensor } };
}

/** A PREFIX_TUNING adapter's blocks, checked against the model it is for. */
function prefixSaved(c: Record<string, unknown>, where: string, model: LoadedModel, tensor: (name: string) => Float32Array): SavedAdapter {
  if (c.prefix_projection === true) throw new ZoError(`${where}: prefix_projection (a reparameterised prefix) is not supported`);
  if ((c.num_transformer_submodules ?? 1) !== 1) throw new ZoError(`${where}: num_transformer_submodules must be 1 (a decoder-only model)`);
  const n = Number(c.num_virtual_tokens);
  const heads = Number(c.num_attention_heads);
  const modules = attentionModules(model.params.specs());
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(heads) || heads < 1)
    throw new ZoError(`${where}: num_virtual_tokens and num_attention_heads must be whole numbers ≥ 1`);
  if (c.num_layers !== modules.length)
    throw new ZoError(
      `${where}: num_layers ${String(c.num_layers)}, but the model has ${modules.length} layers: a prefix for another model`,
    );
  const width = Number(c.token_dim);
  if (!Number.isInteger(width) || width < 1 || width % heads !== 0)
    throw new ZoError(`${where}: token_dim ${String(c.token_dim)} is not a whole number of num_attention_heads ${heads}`);
  const embeddings = tensor('prompt_embeddings');
  if (embeddings.length !== n * modules.length * 2 * width)
    throw new ZoError(
      `${where}: prompt_embeddings holds ${embeddings.length} values, not [${n}, ${modules.length}·2·${width}] as the config says`,
    );
  const blocks = prefixBlocksOf(embeddings, modules, n);
  return { heads, block: (name) => blocks.get(name)! };
}

/** The base model's weights with a LoRA run's adapter blocks (`adapter`) merged in: W + (α/r)·B·A. */
export function mergedWeights(spec: RunSpec, adapter: Weights): Weights {
  const l = withLora(loadModel(spec.model), loraConfig(spec), spec.seed, (n) => adapter.get(n));
  const base = l.model.params.names.filter((n) => !l.trainable.names.includes(n));
  const merged = new Map(l.pairs.map((p) => [p.weight, mergedWeight(l, p)]));
  return { names: base, shape: (n) => l.model.params.shape(n), get: (n) => merged.get(n) ?? l.model.params.get(n) };
}

/** Which weights a finished run folder holds: the best-dev-loss ones (tasks), and the final ones (its last checkpoint). */
function weightsFile(runDir: string, spec: RunSpec, which: ExportWeights): string {
  if (which === 'best') {
    const f = path.join(runDir, 'best.safetensors');
    if (!fs.existsSync(f))
      throw new ZoError(
        `${runDir}: no best.safetensors (${spec.textFile ? 'an LM run has no dev split: use --weights final' : 'the run kept none'})`,
      );
    return f;
  }
  const step = checkpointStep(runDir);
  if (step === undefined) throw new ZoError(`${runDir}: no checkpoint holds its final weights`);
  if (step !== spec.steps)
    throw new ZoError(`${runDir}: its last checkpoint is at step ${step} of ${spec.steps}; the final weights are not saved`);
  return path.join(checkpointDir(runDir), 'model.safetensors');
}

/** `zo export`: a finished run folder's best (default for tasks) or final weights as a model folder; a LoRA run's merged into the base. */
export function exportRun(runDir: string, dest: string, which?: ExportWeights, merge = false): { which: ExportWeights; files: string[] } {
  const specFile = path.join(runDir, 'spec.json');
  if (!fs.existsSync(specFile)) throw new ZoError(`${runDir}: not a run folder (no spec.json)`);
  const spec = readRunJson<RunSpec>(specFile, 'the run spec');
  const summaryFile = path.join(runDir, 'summary.json');
  if (!fs.existsSync(summaryFile)) throw new ZoError(`${runDir}: the run is not finished (no summary.json); resume it first`);
  const summary = readRunJson<CardSummary>(summaryFile, 'the run summary');
  const w = which ?? (spec.textFile ? 'final' : 'best');
  if (spec.peft === 'prefix')
    throw new ZoError(
      `${runDir}: a prefix run; a prefix is extra attention slots, not weights, so there is no merged model. Its adapter is ${path.join(runDir, 'adapter')} (PEFT layout; zo eval --adapter reads it)`,
    );
  if ((spec.peft === 'lora') !== merge)
    throw new ZoError(
      merge
        ? `${runDir}: not a LoRA run; --merge is for --peft lora runs`
        : `${runDir}: a LoRA run; add --merge to write the base model with its adapter merged in`,
    );
  checkNewFolder(dest);
  const weights = fileWeights(weightsFile(runDir, spec, w));
  const files = writeModelFolder(dest, { spec, summary, weights: merge ? mergedWeights(spec, weights) : weights, which: w });
  return { which: w, files };
}
