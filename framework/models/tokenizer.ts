import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import { ZoError } from '../core/errors.js';

// The library's .d.ts files import each other without extensions, which NodeNext resolution cannot follow,
// so its class types as `any`. These are the parts we use (see its types/core/Tokenizer.d.ts).
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, { content: string }>;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
const Tokenizer = HfTokenizerClass as new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;

/** Text <-> token ids for a language model; our own interface so the library behind it can change. */
export interface TextTokenizer {
  /** Max id + 1 over the model vocab and the added tokens. */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** The pad_token of tokenizer_config.json, else null. */
  readonly padId: number | null;
  /** True when encoding with special tokens puts BOS first (Llama-3 does; GPT-2 and Qwen do not). */
  readonly addsBos: boolean;
  /** addSpecialTokens (default true) runs the post-processor, e.g. Llama-3 prepends <|begin_of_text|>. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** The decoded text of one id, for printing; ids with no token give a placeholder instead of throwing. */
  tokenText(id: number): string;
}

// Used only when there is no tokenizer_config.json (or it does not mention the token).
const WELL_KNOWN_BOS = ['<|begin_of_text|>', '<s>', '<|endoftext|>'];
const WELL_KNOWN_EOS = ['<|end_of_text|>', '</s>', '<|endoftext|>'];

/** Reads dir/tokenizer.json and, if present, dir/tokenizer_config.json. */
export function loadTokenizer(dir: string): TextTokenizer {
  const jsonPath = join(dir, 'tokenizer.json');
  if (!existsSync(jsonPath)) {
    throw new ZoError(`${jsonPath}: missing — a model folder needs the tokenizer.json of its tokenizer`);
  }
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJsonObject(configPath) : undefined;
  return build(readJsonObject(jsonPath), config, jsonPath, configPath);
}

export function tokenizerFromJson(tokenizerJson: object, tokenizerConfig?: object): TextTokenizer {
  return build(tokenizerJson, tokenizerConfig, 'tokenizer.json', 'tokenizer_config.json');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function readJsonObject(path: string): object {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ZoError(`${path}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ZoError(`${path}: expected a JSON object`);
  }
  return value;
}

function build(json: object, config: object | undefined, where: string, configWhere: string): TextTokenizer {
  let tok: HfTokenizer;
  try {
    tok = new Tokenizer(json, config ?? {});
  } catch (e) {
    throw new ZoError(`${where}: cannot build the tokenizer: ${oneLine(String((e as Error)?.message ?? e))}`);
  }

  let maxId = -1;
  for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
  if (maxId < 0) throw new ZoError(`${where}: the tokenizer has an empty vocabulary`);
  const vocabSize = maxId + 1;

  const added = new Map<string, number>();
  for (const [id, t] of tok.get_added_tokens_decoder()) added.set(t.content, id);

  const specialId = (key: string, wellKnown: string[]): number | null => {
    const cfg = config as Record<string, unknown> | undefined;
    if (cfg !== undefined && key in cfg) {
      const v = cfg[key];
      if (v === null || v === undefined) return null; // explicitly none, e.g. Qwen's bos_token
      const content =
        typeof v === 'string' ? v : typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string'
          ? (v as { content: string }).content : undefined;
      if (content === undefined) throw new ZoError(`${configWhere}: ${key} must be a token string or {content}`);
      const id = tok.token_to_id(content);
      if (id === undefined) throw new ZoError(`${configWhere}: ${key} ${JSON.stringify(content)} is not in the vocabulary`);
      return id;
    }
    for (const name of wellKnown) {
      const id = added.get(name);
      if (id !== undefined) return id;
    }
    return null;
  };

  const known = (id: number): boolean => Number.isInteger(id) && tok.id_to_token(id) !== undefined;
  // Clean-up of tokenization spaces (" ." -> ".", " n't" -> "n't") is a lossy legacy heuristic that the
  // library turns on when the config does not say; we always want decode(encode(s)) === s.
  const decodeOpts = (skip: boolean) => ({ skip_special_tokens: skip, clean_up_tokenization_spaces: false });

  const bosId = specialId('bos_token', WELL_KNOWN_BOS);
  const probe = (special: boolean) => tok.encode('a', { add_special_tokens: special }).ids[0];
  return {
    vocabSize,
    bosId,
    addsBos: bosId !== null && probe(true) === bosId && probe(false) !== bosId,
    eosId: specialId('eos_token', WELL_KNOWN_EOS),
    padId: specialId('pad_token', []),
    encode(text, opts) {
      const ids = tok.encode(text, { add_special_tokens: opts?.addSpecialTokens ?? true }).ids;
      // The library yields undefined for a piece missing from the vocab (no unk token); never pass that on.
      const bad = ids.findIndex((id) => id === undefined);
      if (bad >= 0) throw new ZoError(`${where}: cannot encode ${JSON.stringify(text.slice(0, 40))}: a piece has no token`);
      return ids;
    },
    decode(ids, opts) {
      if (ids.length === 0) return ''; // the library throws on an empty list
      for (const id of ids) {
        if (!known(id)) throw new ZoError(`${where}: cannot decode token id ${id}: not in the vocabulary (size ${vocabSize})`);
      }
      return tok.decode([...ids], decodeOpts(opts?.skipSpecialTokens ?? false));
    },
    tokenText(id) {
      // A model's output layer can be wider than its tokenizer (Qwen pads to 151936), so say which id it was.
      return known(id) ? tok.decode([id], decodeOpts(false)) : `<no token: id ${id}>`;
    },
  };
}
