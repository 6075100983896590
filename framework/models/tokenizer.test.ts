import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as r50kEncode } from 'gpt-tokenizer/encoding/r50k_base';
import llama3Reference from 'llama3-tokenizer-js';
import { ZoError } from '../core/errors.js';
import { loadTokenizer, tokenizerFromJson, type TextTokenizer } from './tokenizer.js';
import {
  realTokenizerJson,
  truncatedTokenizerJson,
  type TokenizerFamily,
  type TokenizerFiles,
} from '../../scripts/fixture-tokenizers.js';

// Latin with umlaut/ß, CJK, kana, Cyrillic, Arabic, an emoji (4 UTF-8 bytes), digits, a contraction,
// a newline, runs of spaces and a tab: each exercises a different branch of the pre-tokenizer regex.
const TEXT = "Hello world! Grüße, 你好世界, こんにちは, Привет, مرحبا 🤗 1234 don't\n  tabs\tand  spaces";
const FAMILIES: TokenizerFamily[] = ['llama3', 'qwen2', 'gpt2'];
const KEEP = 1000;
// Single merges that are among the first few hundred of every family, checked against the full tokenizers.
const FREQUENT_WORDS = [' the', ' and', ' of', ' in', ' to'];

const noSpecials = { addSpecialTokens: false };

let full: Record<TokenizerFamily, TextTokenizer>;
let truncatedFiles: Record<TokenizerFamily, TokenizerFiles>;
let truncated: Record<TokenizerFamily, TextTokenizer>;
let tmp: string;

beforeAll(() => {
  // The full tokenizers are 1-11 MB of JSON and take about a second each: build each once.
  const load = (f: TokenizerFamily) => {
    const { tokenizer, config } = realTokenizerJson(f);
    return tokenizerFromJson(tokenizer, config);
  };
  full = { llama3: load('llama3'), qwen2: load('qwen2'), gpt2: load('gpt2') };
  truncatedFiles = {
    llama3: truncatedTokenizerJson('llama3', KEEP),
    qwen2: truncatedTokenizerJson('qwen2', KEEP),
    gpt2: truncatedTokenizerJson('gpt2', KEEP),
  };
  const fromFiles = (f: TokenizerFamily) => tokenizerFromJson(truncatedFiles[f].tokenizer, truncatedFiles[f].config);
  truncated = { llama3: fromFiles('llama3'), qwen2: fromFiles('qwen2'), gpt2: fromFiles('gpt2') };
  tmp = mkdtempSync(join(tmpdir(), 'zo-tokenizer-'));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function expectZoError(fn: () => unknown, ...parts: string[]): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ZoError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  for (const part of parts) expect(message).toContain(part);
}

function writeModelDir(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

describe('full tokenizers', () => {
  test('the test text is NFC, so Qwen\'s NFC normalizer cannot change it', () => {
    expect(TEXT.normalize('NFC')).toBe(TEXT);
  });

  test.each(FAMILIES)('%s round-trips multilingual text', (f) => {
    const ids = full[f].encode(TEXT, noSpecials);
    expect(ids.length).toBeGreaterThan(10);
    expect(full[f].decode(ids)).toBe(TEXT);
  });

  test('GPT-2 ids equal gpt-tokenizer r50k_base', () => {
    expect(full.gpt2.encode(TEXT, noSpecials)).toEqual(r50kEncode(TEXT));
  });

  test('Llama-3 ids equal llama3-tokenizer-js, with and without <|begin_of_text|>', () => {
    expect(full.llama3.encode(TEXT, noSpecials)).toEqual(llama3Reference.encode(TEXT, { bos: false, eos: false }));
    expect(full.llama3.encode(TEXT)).toEqual(llama3Reference.encode(TEXT, { bos: true, eos: false }));
  });

  test('Llama-3 encode with special tokens starts with <|begin_of_text|> (128000)', () => {
    const ids = full.llama3.encode(TEXT);
    expect(ids[0]).toBe(128000);
    expect(full.llama3.tokenText(128000)).toBe('<|begin_of_text|>');
    expect(ids.slice(1)).toEqual(full.llama3.encode(TEXT, noSpecials));
    expect(full.llama3.decode(ids)).toBe('<|begin_of_text|>' + TEXT);
    expect(full.llama3.decode(ids, { skipSpecialTokens: true })).toBe(TEXT);
  });

  test('Qwen and GPT-2 add no special tokens', () => {
    for (const f of ['qwen2', 'gpt2'] as const) expect(full[f].encode(TEXT)).toEqual(full[f].encode(TEXT, noSpecials));
  });

  test('vocab sizes and bos/eos/pad ids', () => {
    expect(full.llama3).toMatchObject({ vocabSize: 128256, bosId: 128000, eosId: 128001, padId: null });
    // Qwen3's config: no bos, eos <|im_end|>, pad <|endoftext|>.
    expect(full.qwen2).toMatchObject({ vocabSize: 151669, bosId: null, eosId: 151645, padId: 151643 });
    expect(full.gpt2).toMatchObject({ vocabSize: 50257, bosId: 50256, eosId: 50256, padId: null });
    expect(full.qwen2.tokenText(151645)).toBe('<|im_end|>');
    expect(full.gpt2.tokenText(50256)).toBe('<|endoftext|>');
  });

  test('tokenText, empty and bad ids', () => {
    expect(full.gpt2.tokenText(262)).toBe(' the');
    expect(full.llama3.tokenText(279)).toBe(' the');
    expect(full.qwen2.tokenText(151700)).toBe('<no token: id 151700>');
    expect(full.gpt2.decode([])).toBe('');
    expectZoError(() => full.gpt2.decode([262, 50257]), 'token id 50257');
    expectZoError(() => full.gpt2.decode([1.5]), 'token id 1.5');
  });
});

describe('truncated fixture tokenizers', () => {
  test.each(FAMILIES)('%s: small vocab, every id below vocabSize, round-trips through byte tokens', (f) => {
    const tok = truncated[f];
    expect(tok.vocabSize).toBeGreaterThan(KEEP);
    expect(tok.vocabSize).toBeLessThanOrEqual(KEEP + 3);
    const ids = tok.encode(TEXT, noSpecials);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < KEEP)).toBe(true);
    // Far fewer merges than the full tokenizer, so more (byte) tokens for the same text.
    expect(ids.length).toBeGreaterThan(full[f].encode(TEXT, noSpecials).length);
    expect(tok.decode(ids)).toBe(TEXT);
    for (const id of tok.encode(TEXT)) expect(id).toBeLessThan(tok.vocabSize);
  });

  test.each(FAMILIES)('%s: frequent words get the same ids as in the full tokenizer', (f) => {
    for (const word of FREQUENT_WORDS) {
      const ids = full[f].encode(word, noSpecials);
      expect(ids).toHaveLength(1);
      expect(ids[0]).toBeLessThan(KEEP);
      expect(truncated[f].encode(word, noSpecials)).toEqual(ids);
    }
  });

  test('the kept vocab is ids 0..keep-1 and special tokens follow it', () => {
    for (const f of FAMILIES) {
      const model = (truncatedFiles[f].tokenizer as { model: { vocab: Record<string, number> } }).model;
      const ids = Object.values(model.vocab).sort((a, b) => a - b);
      expect(ids).toEqual([...Array(KEEP).keys()]);
    }
    expect(truncated.llama3).toMatchObject({ vocabSize: KEEP + 2, bosId: KEEP, eosId: KEEP + 1, padId: null });
    expect(truncated.qwen2).toMatchObject({ vocabSize: KEEP + 2, bosId: null, eosId: KEEP + 1, padId: KEEP });
    expect(truncated.gpt2).toMatchObject({ vocabSize: KEEP + 1, bosId: KEEP, eosId: KEEP, padId: null });
    expect(truncated.llama3.tokenText(KEEP)).toBe('<|begin_of_text|>');
    expect(truncated.qwen2.tokenText(KEEP + 1)).toBe('<|im_end|>');
  });

  test('Llama-3 post-processor prepends the renumbered <|begin_of_text|>', () => {
    const ids = truncated.llama3.encode(TEXT);
    expect(ids[0]).toBe(KEEP);
    expect(ids.slice(1)).toEqual(truncated.llama3.encode(TEXT, noSpecials));
    // The ids in the template are what the Rust tokenizers library uses, so they must be renumbered too.
    expect(JSON.stringify((truncatedFiles.llama3.tokenizer as { post_processor: unknown }).post_processor)).toContain(
      `"ids":[${KEEP}]`,
    );
  });

  test('keep below 256 still keeps every byte token', () => {
    const { tokenizer, config } = truncatedTokenizerJson('gpt2', 100);
    const tok = tokenizerFromJson(tokenizer, config);
    expect(tok.vocabSize).toBe(257);
    expect(tok.decode(tok.encode(TEXT))).toBe(TEXT);
  });

  test('without tokenizer_config.json, bos/eos come from well-known added tokens', () => {
    expect(tokenizerFromJson(truncatedFiles.llama3.tokenizer)).toMatchObject({ bosId: KEEP, eosId: KEEP + 1, padId: null });
    expect(tokenizerFromJson(truncatedFiles.gpt2.tokenizer)).toMatchObject({ bosId: KEEP, eosId: KEEP, padId: null });
  });

  test('written to a folder, loadTokenizer reads them back', () => {
    for (const f of FAMILIES) {
      const dir = writeModelDir(`trunc-${f}`, {
        'tokenizer.json': JSON.stringify(truncatedFiles[f].tokenizer),
        'tokenizer_config.json': JSON.stringify(truncatedFiles[f].config),
      });
      const tok = loadTokenizer(dir);
      expect(tok.encode(TEXT)).toEqual(truncated[f].encode(TEXT));
      expect(tok.eosId).toBe(truncated[f].eosId);
    }
  });
});

describe('errors', () => {
  test('missing tokenizer.json', () => {
    const dir = writeModelDir('empty', {});
    expectZoError(() => loadTokenizer(dir), `${join(dir, 'tokenizer.json')}: missing`);
  });

  test('corrupt tokenizer.json', () => {
    const dir = writeModelDir('corrupt', { 'tokenizer.json': '{"model": {"type": "BPE", ' });
    expectZoError(() => loadTokenizer(dir), join(dir, 'tokenizer.json'), 'invalid JSON');
  });

  test('corrupt tokenizer_config.json', () => {
    const dir = writeModelDir('corrupt-config', {
      'tokenizer.json': JSON.stringify(truncatedFiles.gpt2.tokenizer),
      'tokenizer_config.json': 'not json',
    });
    expectZoError(() => loadTokenizer(dir), join(dir, 'tokenizer_config.json'), 'invalid JSON');
  });

  test('a tokenizer the library cannot build', () => {
    const dir = writeModelDir('unbuildable', { 'tokenizer.json': '{"version": "1.0"}' });
    expectZoError(() => loadTokenizer(dir), join(dir, 'tokenizer.json'), 'cannot build the tokenizer', 'model');
  });

  test('a config bos_token that is not in the vocabulary', () => {
    expectZoError(
      () => tokenizerFromJson(truncatedFiles.gpt2.tokenizer, { bos_token: '<nope>' }),
      'tokenizer_config.json',
      'bos_token "<nope>"',
    );
  });
});
