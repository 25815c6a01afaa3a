/* libFuzzer target: tok_encode / tok_encode_all on arbitrary bytes.
 *
 * Any input must either tokenize or be refused as invalid UTF-8, without a
 * crash, leak or sanitizer report, and every result must hold the invariants:
 * BOS, at most max_length - 2 tokens, EOS, padding; ids in range; the same
 * ids from a second call, from a tokenizer without cache and (as a prefix)
 * from tok_encode_all. A violation traps, which libFuzzer reports as a crash.
 *
 * The vocabulary is the real CLIP one (tiny-sd15's tokenizer folder under
 * shared/, or $WSD_FUZZ_TOKENIZER); without it, a synthetic byte-level one. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WSD_SHARED_DEFAULT
#define WSD_SHARED_DEFAULT "../shared"
#endif

static tok_tokenizer *tok, *tok_nocache, *tok_sd2;

#define REQUIRE(c)                                                                  \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_tokenizer: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                       \
        }                                                                           \
    } while (0)

/* 512 byte symbols (the GPT-2 table), a few merges, the two specials. */
static void synthetic(char **vocab, size_t *vl, char **merges, size_t *ml)
{
    size_t cap = 1 << 16, n = 0;
    char *v = malloc(cap);
    n += (size_t)snprintf(v + n, cap - n, "{");
    int id = 0;
    for (int eow = 0; eow < 2; eow++) {
        unsigned next = 256;
        for (int b = 0; b < 256; b++) {
            int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            unsigned cp = printable ? (unsigned)b : next++;
            char u[4];
            int ul;
            if (cp < 0x80) {
                u[0] = (char)cp;
                ul = 1;
            } else {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
                ul = 2;
            }
            n += (size_t)snprintf(v + n, cap - n, "%s\"%s%.*s%s\":%d", id ? "," : "",
                                  (cp == '"' || cp == '\\') ? "\\" : "", ul, u, eow ? "</w>" : "", id);
            id++;
        }
    }
    n += (size_t)snprintf(v + n, cap - n, ",\"th\":512,\"the</w>\":513,\"<|startoftext|>\":514,\"<|endoftext|>\":515}");
    *vocab = v;
    *vl = n;
    *merges = strdup("#version: 0.2\nt h\nth e</w>\n");
    *ml = strlen(*merges);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    wsd_err err = {0};
    const char *dir = getenv("WSD_FUZZ_TOKENIZER");
    char path[1024];
    if (!dir) {
        snprintf(path, sizeof path, "%s/reference/tiny-sd15/tokenizer", WSD_SHARED_DEFAULT);
        dir = path;
    }
    tok_options o;
    tok_options_init(&o);
    if (tok_load_dir(dir, &tok, &err) == WSD_OK) {
        fprintf(stderr, "fuzz_tokenizer: vocabulary from %s\n", dir);
        /* the same files again without cache, and SD 2.x style with a tiny cache */
        o.cache_entries = -1;
        char *vp = malloc(strlen(dir) + 32), *mp = malloc(strlen(dir) + 32);
        sprintf(vp, "%s/vocab.json", dir);
        sprintf(mp, "%s/merges.txt", dir);
        FILE *fv = fopen(vp, "rb"), *fm = fopen(mp, "rb");
        char *v = NULL, *m = NULL;
        size_t vl = 0, ml = 0;
        if (fv && fm) {
            fseek(fv, 0, SEEK_END);
            vl = (size_t)ftell(fv);
            fseek(fv, 0, SEEK_SET);
            fseek(fm, 0, SEEK_END);
            ml = (size_t)ftell(fm);
            fseek(fm, 0, SEEK_SET);
            v = malloc(vl);
            m = malloc(ml);
            if (fread(v, 1, vl, fv) != vl || fread(m, 1, ml, fm) != ml)
                vl = ml = 0;
        }
        if (fv) fclose(fv);
        if (fm) fclose(fm);
        REQUIRE(tok_create(v, vl, m, ml, &o, &tok_nocache, &err) == WSD_OK);
        tok_options_init(&o);
        strcpy(o.pad_token, "!");
        o.max_length = 12;
        o.cache_entries = 4;
        REQUIRE(tok_create(v, vl, m, ml, &o, &tok_sd2, &err) == WSD_OK);
        free(v);
        free(m);
        free(vp);
        free(mp);
    } else {
        fprintf(stderr, "fuzz_tokenizer: %s; using a synthetic vocabulary\n", err.msg);
        char *v, *m;
        size_t vl, ml;
        synthetic(&v, &vl, &m, &ml);
        REQUIRE(tok_create(v, vl, m, ml, NULL, &tok, &err) == WSD_OK);
        o.cache_entries = -1;
        REQUIRE(tok_create(v, vl, m, ml, &o, &tok_nocache, &err) == WSD_OK);
        tok_options_init(&o);
        strcpy(o.pad_token, "!");
        o.max_length = 12;
        o.cache_entries = 4;
        REQUIRE(tok_create(v, vl, m, ml, &o, &tok_sd2, &err) == WSD_OK);
        free(v);
        free(m);
    }
    return 0;
}

static void check(const tok_tokenizer *t, const tok_tokenizer *again, const char *s, size_t n)
{
    int32_t ids[TOK_MAX_LENGTH], ids2[TOK_MAX_LENGTH];
    int nt = -1, nt2 = -1;
    wsd_err err = {0};
    int L = tok_max_length(t);
    wsd_status st = tok_encode(t, s, n, ids, &nt, &err);
    if (st != WSD_OK) {
        REQUIRE(st == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "byte offset"));
        REQUIRE(nt == 0 && ids[0] == tok_bos_id(t) && ids[1] == tok_eos_id(t));
        int32_t *all = (int32_t *)1;
        size_t na = 1;
        REQUIRE(tok_encode_all(t, s, n, &all, &na, &err) == st && all == NULL && na == 0);
        return;
    }
    int k = nt < L - 2 ? nt : L - 2;
    REQUIRE(nt >= 0 && ids[0] == tok_bos_id(t) && ids[1 + k] == tok_eos_id(t));
    for (int i = 0; i < L; i++)
        REQUIRE(ids[i] >= 0 && ids[i] < tok_vocab_size(t));
    for (int i = 2 + k; i < L; i++)
        REQUIRE(ids[i] == tok_pad_id(t));
    REQUIRE(tok_encode(again, s, n, ids2, &nt2, &err) == WSD_OK && nt2 == nt);
    REQUIRE(memcmp(ids, ids2, (size_t)L * sizeof *ids) == 0);
    REQUIRE(tok_encode(t, s, n, ids2, &nt2, &err) == WSD_OK && nt2 == nt);
    REQUIRE(memcmp(ids, ids2, (size_t)L * sizeof *ids) == 0);
    int32_t *all = NULL;
    size_t na = 0;
    REQUIRE(tok_encode_all(t, s, n, &all, &na, &err) == WSD_OK);
    REQUIRE(na == (size_t)nt + 2 && memcmp(all, ids, (size_t)(k + 1) * sizeof *ids) == 0);
    REQUIRE(all[na - 1] == tok_eos_id(t));
    free(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check(tok, tok_nocache, s, size);
    check(tok_sd2, tok_sd2, s, size);
    return 0;
}
