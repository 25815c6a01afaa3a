/* The CLIP BPE tokenizer of Stable Diffusion.
 *
 * Produces exactly the ids the diffusers pipeline feeds its text encoder:
 * transformers' CLIPTokenizer (tokenizers backend) on the model's
 * tokenizer/vocab.json and merges.txt, called as
 *   tokenizer(prompt, padding="max_length", max_length=77, truncation=True)
 *
 * Steps (shared/reference/README.md, gotcha 9):
 *  1. normalise: Unicode NFC, every run of white space to one U+0020,
 *     lowercase (per code point, Rust's char::to_lowercase);
 *  2. special-token strings (BOS, EOS, UNK, PAD) in the normalised text
 *     become their ids directly (leftmost, then longest match);
 *  3. split the rest with the pattern
 *       's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *     (white space between matches is dropped);
 *  4. each piece's UTF-8 bytes become the GPT-2 byte symbols, the last one
 *     with "</w>", and are merged pairwise by merge rank (lowest first,
 *     leftmost on ties) until no ranked pair remains;
 *  5. BOS + at most max_length - 2 tokens + EOS, padded with PAD.
 *
 * Ownership (as in SQLite): tok_create / tok_load_dir give the caller a
 * tokenizer to release with tok_free; input buffers are only read during the
 * call. A tokenizer is immutable after creation except for its bounded word
 * cache, which is guarded internally: tok_encode may be called any number of
 * times, also from several threads at once. */
#ifndef WSD_TOKENIZER_TOKENIZER_H
#define WSD_TOKENIZER_TOKENIZER_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

/* Longest sequence the tokenizer produces: the text encoder's 77 positions. */
#define TOK_MAX_LENGTH WSD_MAX_TOKENS
/* Room for a special-token string (UTF-8, NUL-terminated). */
#define TOK_SPECIAL_MAX 64
/* Longest prompt accepted, in bytes. */
#define TOK_MAX_INPUT (1u << 20)

typedef struct tok_tokenizer tok_tokenizer;

typedef struct tok_options {
    /* Special tokens, looked up in the vocabulary. Their strings typed in a
     * prompt are recognised as the special token. "" = no such token (only
     * allowed for unk). */
    char bos_token[TOK_SPECIAL_MAX]; /* default "<|startoftext|>" */
    char eos_token[TOK_SPECIAL_MAX]; /* default "<|endoftext|>" */
    char unk_token[TOK_SPECIAL_MAX]; /* default "<|endoftext|>" */
    char pad_token[TOK_SPECIAL_MAX]; /* default "<|endoftext|>"; SD 2.x: "!" */
    /* >= 0: pad with this id instead (its vocabulary string is then the pad
     * token); -1 (default): use pad_token. */
    int32_t pad_id;
    /* Sequence length, BOS and EOS included: 2..TOK_MAX_LENGTH; 0 = 77. */
    int max_length;
    /* Word-cache entries: 0 = default (2048, about 128 KiB), < 0 = no cache. */
    int cache_entries;
} tok_options;

/* SD 1.x defaults (see the fields). */
void tok_options_init(tok_options *opts);

/* Applies a model's tokenizer_config.json and special_tokens_map.json (either
 * may be NULL) to opts: bos/eos/unk/pad tokens (special_tokens_map.json wins,
 * as in transformers; a token is a string or an object with "content") and
 * model_max_length (values above 77 are clamped to 77). Fields the files do
 * not mention are left as they are. `what` names the source in messages. */
wsd_status tok_options_from_config(tok_options *opts, const char *tokenizer_config, size_t tc_len,
                                   const char *special_tokens_map, size_t stm_len, const char *what,
                                   wsd_err *err);

/* Creates a tokenizer from the bytes of vocab.json (object token -> id) and
 * merges.txt ("#version" line, then one "left right" pair per line, rank =
 * order). opts may be NULL for the SD 1.x defaults. On success *out is owned
 * by the caller (tok_free); on failure it is NULL and err names the problem
 * (file, line, token). The buffers need not outlive the call. */
wsd_status tok_create(const char *vocab_json, size_t vocab_len, const char *merges, size_t merges_len,
                      const tok_options *opts, tok_tokenizer **out, wsd_err *err);

/* Loads a tokenizer folder (vocab.json, merges.txt and, when present,
 * tokenizer_config.json and special_tokens_map.json), or the tokenizer/
 * folder of a diffusers model when `dir` has one. Caller frees *out. */
wsd_status tok_load_dir(const char *dir, tok_tokenizer **out, wsd_err *err);

void tok_free(tok_tokenizer *tok);

/* Encodes `len` bytes of UTF-8 (NULs allowed; len <= TOK_MAX_INPUT).
 * ids[0 .. tok_max_length(tok)) receive BOS, at most max_length - 2 tokens,
 * EOS, then PAD: for SD, `ids` must hold 77 entries. *n_tokens (may be NULL)
 * receives the number of prompt tokens before truncation, without BOS/EOS
 * (for a "n/75" counter; saturates at INT32_MAX). Invalid UTF-8 fails with
 * WSD_ERR_INVALID_ARGUMENT naming the byte offset; on any failure ids hold the
 * encoding of the empty prompt and *n_tokens is 0. */
wsd_status tok_encode(const tok_tokenizer *tok, const char *utf8, size_t len, int32_t *ids, int *n_tokens,
                      wsd_err *err);

/* Encodes without truncation or padding: BOS, every token, EOS (what
 * transformers returns for tokenizer(prompt).input_ids). On success *out_ids
 * (*out_n entries) is owned by the caller, to release with free(). */
wsd_status tok_encode_all(const tok_tokenizer *tok, const char *utf8, size_t len, int32_t **out_ids,
                          size_t *out_n, wsd_err *err);

int tok_max_length(const tok_tokenizer *tok);
int32_t tok_bos_id(const tok_tokenizer *tok);
int32_t tok_eos_id(const tok_tokenizer *tok);
int32_t tok_pad_id(const tok_tokenizer *tok);
/* One more than the largest id in the vocabulary: every id produced is below it. */
int32_t tok_vocab_size(const tok_tokenizer *tok);

/* Testing hook: BPE of one word (its bytes) with the short-word (0) or the
 * heap (1) algorithm, bypassing the cache. Writes at most cap ids and returns
 * the number of tokens, or -1 when out of memory. */
long tok__bpe_word(const tok_tokenizer *tok, const uint8_t *word, size_t n, int use_heap, int32_t *out,
                   size_t cap);

#endif
