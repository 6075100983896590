import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import type { Model } from '../engine/executor.js';
import { ParamStore } from '../core/params.js';
import type { BaseConfig } from './family.js';
import { familyFor } from './registry.js';
import { openCheckpoint } from './safetensors.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';

export interface LoadedModel<C extends BaseConfig = BaseConfig> extends Model<C> {
  dir: string;
  tokenizer: TextTokenizer;
}

/** Reads and parses a JSON file; a missing or malformed file is one line naming it. */
export function readJson(file: string, missingHint = ''): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ZoError(code === 'ENOENT' ? `${file}: missing${missingHint ? ` — ${missingHint}` : ''}` : `${file}: cannot read (${code})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ZoError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

/** The config of a Hugging Face model folder, parsed by its family. */
export function loadConfig(dir: string): { family: Model['family']; config: BaseConfig } {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(dir)) throw new ZoError(`${dir}: no such model folder`);
  const raw = readJson(file, 'a model folder needs config.json, model.safetensors and tokenizer.json');
  const family = familyFor((raw as { model_type?: unknown })?.model_type, file);
  return { family, config: family.parseConfig(raw, file) };
}

/**
 * Loads a Hugging Face model folder: config.json, model.safetensors (or a sharded index) and
 * tokenizer.json. fp32, fp16 and bf16 weights all become fp32 blocks. Every tensor is checked against
 * the shape the config implies before any data is read.
 */
export function loadModel(dir: string): LoadedModel {
  const { family, config } = loadConfig(dir);
  const ckpt = openCheckpoint(dir);
  const specs = family.params(config);
  const sources = specs.map((spec) => {
    const candidates = [spec.name, ...(family.aliases?.(spec.name) ?? [])];
    const found = candidates.find((n) => ckpt.info(n));
    if (!found) throw new ZoError(`${ckpt.files.join(', ')}: no tensor ${spec.name}, which config.json implies`);
    const info = ckpt.info(found)!;
    if (info.shape.join(',') !== spec.shape.join(','))
      throw new ZoError(`${info.file}: ${found} has shape [${info.shape}] but config.json implies [${spec.shape}]`);
    return found;
  });
  const params = new ParamStore(specs, (spec) => ckpt.readF32(sources[specs.indexOf(spec)]!));
  specs.forEach((spec, i) => checkFinite(ckpt.info(sources[i]!)!.file, sources[i]!, params.get(spec.name)));
  const tokenizer = loadTokenizer(dir);
  return { dir, family, config, params, tokenizer };
}

/**
 * A NaN or ±Inf weight makes every loss non-finite: refuse the model at load, naming the tensor,
 * rather than let a run skip steps until it aborts.
 */
function checkFinite(file: string, tensor: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) throw new ZoError(`${file}: ${tensor}[${i}] is ${v}: the weights hold a non-finite value, so every loss would be too`);
  }
}
