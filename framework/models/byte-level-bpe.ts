/**
 * The GPT-2 byte-level BPE format shared by every tokenizer zo writes (the fixtures' GPT-2 tokenizer,
 * the zoo's trained ones), so they all go through the loader real checkpoints use.
 */

/** GPT-2's byte → printable-character table: the spelling of byte-level BPE tokens. */
export function byteToUnicode(): string[] {
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return chars;
}

/**
 * tokenizer.json and tokenizer_config.json of a byte-level BPE with GPT-2's settings and one special
 * token, `endOfText` (bos = eos = unk, as GPT-2). `config` adds tokenizer_config.json fields.
 */
export function byteLevelBpeFiles(
  vocab: Record<string, number>,
  merges: readonly string[],
  endOfText: string,
  config: Record<string, unknown> = {},
): { tokenizer: object; config: object } {
  // The same ByteLevel settings as the tokenizer.json of Hugging Face's gpt2 repository.
  const byteLevel = (add_prefix_space: boolean, trim_offsets: boolean) => ({ type: 'ByteLevel', add_prefix_space, trim_offsets, use_regex: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: vocab[endOfText], content: endOfText, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      // "a b" strings, the format every tokenizers version reads (byte-level tokens never hold a space).
      merges: [...merges],
    },
  };
  return {
    tokenizer,
    config: {
      tokenizer_class: 'GPT2Tokenizer',
      bos_token: endOfText,
      eos_token: endOfText,
      unk_token: endOfText,
      ...config,
      add_prefix_space: false,
      clean_up_tokenization_spaces: false,
    },
  };
}
