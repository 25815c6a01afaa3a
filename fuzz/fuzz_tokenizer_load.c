/* libFuzzer target: tok_create on arbitrary vocab.json / merges.txt bytes and
 * tok_options_from_config on arbitrary config bytes. Whatever they hold,
 * loading either succeeds or fails with a message, without a crash or leak;
 * a tokenizer that loads must then encode to ids inside its vocabulary.
 *
 * Input layout: byte 0 picks options, bytes 1-2 (little endian) the length of
 * the vocab.json part (clamped), then vocab.json, then merges.txt. Byte 0's
 * top bit instead feeds everything after it to tok_options_from_config. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)                                                                        \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "fuzz_tokenizer_load: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                             \
        }                                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    wsd_err err = {0};
    tok_options o;
    tok_options_init(&o);
    uint8_t mode = data[0];
    if (mode & 0x80) {
        size_t half = (size - 1) / 2;
        wsd_status s = tok_options_from_config(&o, (const char *)data + 1, half, (const char *)data + 1 + half,
                                               size - 1 - half, "fuzz", &err);
        REQUIRE(s == WSD_OK || err.msg[0]);
        REQUIRE(o.max_length >= 2 && o.max_length <= TOK_MAX_LENGTH);
        REQUIRE(memchr(o.pad_token, 0, TOK_SPECIAL_MAX) && memchr(o.bos_token, 0, TOK_SPECIAL_MAX));
        return 0;
    }
    size_t vl = (size_t)data[1] | ((size_t)data[2] << 8);
    if (vl > size - 3)
        vl = size - 3;
    const char *vocab = (const char *)data + 3, *merges = vocab + vl;
    size_t ml = size - 3 - vl;
    if (mode & 1)
        strcpy(o.pad_token, "!");
    if (mode & 2)
        o.pad_id = mode >> 4;
    if (mode & 4)
        o.max_length = 2 + (mode >> 3);
    if (mode & 8)
        strcpy(o.unk_token, "");
    o.cache_entries = (mode & 0x40) ? -1 : 2;
    tok_tokenizer *t = (tok_tokenizer *)1;
    wsd_status s = tok_create(vocab, vl, merges, ml, &o, &t, &err);
    if (s != WSD_OK) {
        REQUIRE(t == NULL && err.msg[0]);
        return 0;
    }
    static const char *texts[] = {"a photo of a cat", "", "<|endoftext|>!!'s 12 caf\xc3\xa9 \xf0\x9f\x90\xb1",
                                  "the the the thethethe", "\x00\x01\x02\xff"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t ids[TOK_MAX_LENGTH];
        int n = 0;
        size_t len = i == 4 ? 4 : strlen(texts[i]);
        if (tok_encode(t, texts[i], len, ids, &n, &err) != WSD_OK)
            continue;
        for (int k = 0; k < tok_max_length(t); k++)
            REQUIRE(ids[k] >= 0 && ids[k] < tok_vocab_size(t));
    }
    tok_free(t);
    return 0;
}
