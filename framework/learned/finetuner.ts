import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { ParamStore } from '../core/params.js';
import { packageVersion } from '../core/paths.js';
import type { BaseConfig } from '../engine/model.js';
import { blockRole, isAdapterBlock, type BlockRole } from '../models/roles.js';
import { openSafetensors, writeSafetensors } from '../models/safetensors.js';
import { FEATURE_MODES, RAW_FEATURES, type FeatureTransform } from './features.js';
import { DEFAULT_NORMALIZATION, type NormalizationSettings } from './normalization.js';
import { FEATURES, HIDDEN, initPertNN, PERTNN_SHAPES, PERTNN_TENSORS, type PertNN } from './pertnn.js';
import { groupIndex, shareGroup, SHARINGS, type Sharing } from './sharing.js';

export const FINETUNER_FORMAT = 1;
export const FINETUNER_FILES = { weights: 'finetuner.safetensors', manifest: 'finetuner.json' } as const;

/** One block the finetuner was made for, and the group whose net gives its σ. */
export interface FinetunerBlock {
  name: string;
  shape: number[];
  role: BlockRole;
  /** The net's name in finetuner.safetensors; the block's own name under 'block' sharing (and in files before sharing). */
  group: string;
}

/** finetuner.json: what the bank is for, how it is built, and how it was trained. */
export interface FinetunerManifest {
  format: number;
  zo: string;
  baseModel: { modelType: string; configSha256: string };
  blocks: FinetunerBlock[];
  architecture: { features: number; hidden: number; activation: 'tanh'; output: 'abs' };
  features: readonly ['mean', 'variance', 'previous loss+', 'previous loss-', 'previous sigma'];
  /** The affine map on the features (raw: none); absent in files before it, which read as raw. */
  featureTransform: FeatureTransform;
  /** How blocks share nets; the per-block `group` is the mapping itself. Absent in older files: 'block'. */
  sharing: Sharing;
  normalization: NormalizationSettings;
  /** How it was made: meta-training settings (tasks, epochs, α, ε, …), or {init: "random"}. */
  training: Record<string, unknown>;
  finalMetaLoss?: number;
}

/**
 * A PertNN bank for one base model: one net per group (per block under the default sharing), in
 * the order the groups first appear in the model's block order.
 */
export interface Finetuner {
  manifest: FinetunerManifest;
  nets: PertNN[];
}

/** The bank's group names in net order, and for each block the index of its net. */
export function bankGroups(manifest: Pick<FinetunerManifest, 'blocks'>): { names: string[]; index: number[] } {
  return groupIndex(manifest.blocks.map((b) => b.group));
}

/** Each block's net, in block order (shared nets appear once per block that uses them). */
export function blockNets(ft: Finetuner): PertNN[] {
  return bankGroups(ft.manifest).index.map((g) => ft.nets[g]!);
}

/** A hash of config.json's content, so a finetuner can say which base configuration it was made on. */
export function configSha256(config: BaseConfig): string {
  const plain = JSON.stringify(config, (_k, v: unknown) => (v instanceof Float32Array ? [...v] : v));
  return crypto.createHash('sha256').update(plain).digest('hex');
}

/** The switches a fresh bank is made with; each defaults to the paper's choice. */
export interface FinetunerOptions {
  normalization?: NormalizationSettings;
  sharing?: Sharing;
  /** From `standardization(…)` for standardised features; raw by default. */
  featureTransform?: FeatureTransform;
}

/**
 * A fresh bank for a model's blocks, every net at PyTorch's default init from a keyed draw (net k
 * keyed by its index, so a 'block' bank is what it was before sharing existed).
 */
export function randomFinetuner(params: ParamStore, config: BaseConfig, seed: number, opts: FinetunerOptions = {}): Finetuner {
  const sharing = opts.sharing ?? 'block';
  const blocks = params.names.map((name) => ({
    name,
    shape: [...params.shape(name)],
    role: blockRole(name),
    group: shareGroup(name, sharing),
  }));
  const groups = bankGroups({ blocks }).names;
  return {
    manifest: {
      format: FINETUNER_FORMAT,
      zo: packageVersion(),
      baseModel: { modelType: config.modelType, configSha256: configSha256(config) },
      blocks,
      architecture: { features: FEATURES, hidden: HIDDEN, activation: 'tanh', output: 'abs' },
      features: ['mean', 'variance', 'previous loss+', 'previous loss-', 'previous sigma'],
      featureTransform: opts.featureTransform ?? RAW_FEATURES,
      sharing,
      normalization: opts.normalization ?? DEFAULT_NORMALIZATION,
      training: { init: 'random', seed },
    },
    nets: groups.map((_, i) => initPertNN(seed * 0x10000 + i)),
  };
}

/**
 * Writes DIR/finetuner.safetensors (tensors `<group>.<w1|b1|w2|b2>`, the group being the block under
 * 'block' sharing) and DIR/finetuner.json, each atomically.
 */
export function saveFinetuner(dir: string, ft: Finetuner): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = bankGroups(ft.manifest).names.flatMap((g, i) =>
    PERTNN_TENSORS.map((t) => ({ name: `${g}.${t}`, shape: PERTNN_SHAPES[t], data: ft.nets[i]![t] })),
  );
  writeSafetensors(path.join(dir, FINETUNER_FILES.weights), tensors, { format: 'pt', zo_finetuner: String(FINETUNER_FORMAT) });
  const manifest = path.join(dir, FINETUNER_FILES.manifest);
  fs.writeFileSync(`${manifest}.tmp-${process.pid}`, JSON.stringify(ft.manifest, null, 2) + '\n');
  fs.renameSync(`${manifest}.tmp-${process.pid}`, manifest);
}

/** The folder of a finetuner given as its folder or either of its two files. */
export function finetunerDir(p: string): string {
  const base = path.basename(p);
  return base === FINETUNER_FILES.weights || base === FINETUNER_FILES.manifest ? path.dirname(p) : p;
}

/** Reads a finetuner (folder or either file); a missing or malformed part is one line naming it. */
export function loadFinetuner(p: string): Finetuner {
  const dir = finetunerDir(p);
  const manifestFile = path.join(dir, FINETUNER_FILES.manifest);
  let manifest: FinetunerManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as FinetunerManifest;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ZoError(
      `${manifestFile}: ${missing ? 'missing — a finetuner is finetuner.json next to finetuner.safetensors' : 'not valid JSON'}`,
    );
  }
  if (manifest.format !== FINETUNER_FORMAT)
    throw new ZoError(`${manifestFile}: format ${manifest.format}, this zo reads format ${FINETUNER_FORMAT}`);
  if (manifest.architecture?.features !== FEATURES || manifest.architecture?.hidden !== HIDDEN)
    throw new ZoError(
      `${manifestFile}: a PertNN of ${manifest.architecture?.features}→${manifest.architecture?.hidden}, this zo builds ${FEATURES}→${HIDDEN}`,
    );
  withDefaults(manifest, manifestFile);
  const weights = openSafetensors(path.join(dir, FINETUNER_FILES.weights));
  const nets = bankGroups(manifest).names.map((g) => {
    const read = (t: (typeof PERTNN_TENSORS)[number]) => {
      const name = `${g}.${t}`;
      if (!weights.names().includes(name))
        throw new ZoError(`${path.join(dir, FINETUNER_FILES.weights)}: no tensor ${name}, which finetuner.json lists`);
      return weights.readF32(name);
    };
    return { w1: read('w1'), b1: read('b1'), w2: read('w2'), b2: read('b2') };
  });
  return { manifest, nets };
}

/**
 * Fills what files from before the sharing and feature switches leave out (each block its own net,
 * raw features), so they load unchanged, and refuses switch values this zo does not know. The stored
 * block → group mapping is taken as it is, not re-derived: a file means what it says.
 */
function withDefaults(m: FinetunerManifest, file: string): void {
  m.sharing ??= 'block';
  if (!SHARINGS.includes(m.sharing)) throw new ZoError(`${file}: sharing "${m.sharing}", expected one of ${SHARINGS.join(', ')}`);
  for (const b of m.blocks) b.group ??= b.name;
  m.featureTransform ??= RAW_FEATURES;
  const t = m.featureTransform;
  const numbers = (xs: unknown, ok: (v: number) => boolean) =>
    Array.isArray(xs) && xs.length === FEATURES && xs.every((v) => typeof v === 'number' && ok(v));
  if (!FEATURE_MODES.includes(t.mode) || !numbers(t.shift, Number.isFinite) || !numbers(t.scale, (v) => Number.isFinite(v) && v !== 0))
    throw new ZoError(
      `${file}: featureTransform must be {mode: ${FEATURE_MODES.join('|')}, shift: ${FEATURES} numbers, scale: ${FEATURES} non-zero numbers}`,
    );
}

/**
 * Refuses a finetuner made for other blocks, naming the first one that differs: its PertNNs are
 * indexed by block, so they only mean something on the architecture they were trained for.
 */
export function checkFinetunerFits(ft: Finetuner, params: ParamStore, where: string): void {
  const theirs = ft.manifest.blocks;
  const ours = params.names;
  for (let i = 0; i < Math.max(theirs.length, ours.length); i++) {
    const t = theirs[i];
    const o = ours[i];
    if (!t || !o || t.name !== o || t.shape.join(',') !== params.shape(o).join(',')) {
      // A bank for full fine-tuning against a --peft run's adapter blocks (or back): the same model.
      if (t && o && isAdapterBlock(t.name) !== isAdapterBlock(o))
        throw new ZoError(
          `${where}: the finetuner is for ${isAdapterBlock(t.name) ? "a --peft run's adapter blocks" : "the model's own blocks (full fine-tuning)"}, and this run trains ${isAdapterBlock(o) ? 'adapter blocks' : 'the full model'} (block ${i} is ${t.name} there, ${o} here): meta-train one for it (zo meta-train${isAdapterBlock(o) ? ' --peft …' : ''}) or init one (zo finetuner init${isAdapterBlock(o) ? ' --peft …' : ''})`,
        );
      throw new ZoError(
        `${where}: the finetuner was made for another model: block ${i} is ${t ? `${t.name} [${t.shape}]` : 'absent'} there, ${o ? `${o} [${params.shape(o)}]` : 'absent'} here`,
      );
    }
  }
}
