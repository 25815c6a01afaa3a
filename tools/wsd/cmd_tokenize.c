/* wsd tokenize: prints the CLIP token ids of a prompt as one JSON array. */
#include "commands.h"

#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsd tokenize [--model DIR] [--no-pad | --no-truncate] TEXT\n"
            "\n"
            "Prints the token ids the text encoder reads for TEXT (UTF-8) as one JSON array:\n"
            "BOS, at most 75 tokens, EOS, padded to 77 ids.\n"
            "\n"
            "  --model DIR     a diffusers model folder (its tokenizer/ is used) or a tokenizer\n"
            "                  folder (vocab.json, merges.txt, tokenizer_config.json);\n"
            "                  default: the built-in default model\n"
            "  --no-pad        leave out the padding after EOS\n"
            "  --no-truncate   every token, no truncation and no padding\n"
            "  TEXT            the prompt; \"-\" reads it from standard input\n"
            "\n"
            "The number of prompt tokens before truncation goes to standard error.\n");
}

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap > TOK_MAX_INPUT) /* tok_encode rejects it with a clear message */
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void print_ids(const int32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %d" : "%d", (int)ids[i]);
    printf("]\n");
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    int no_pad = 0, no_truncate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wsd tokenize: --model needs a folder\n");
                return 2;
            }
            model = argv[++i];
        } else if (!strcmp(a, "--no-pad")) {
            no_pad = 1;
        } else if (!strcmp(a, "--no-truncate")) {
            no_truncate = 1;
        } else if (!strcmp(a, "--")) {
            if (i + 2 != argc || text) {
                fprintf(stderr, "wsd tokenize: expected exactly one TEXT (quote the prompt)\n");
                return 2;
            }
            text = argv[++i];
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "wsd tokenize: unknown option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        } else if (text) {
            fprintf(stderr, "wsd tokenize: expected exactly one TEXT (quote the prompt)\n");
            return 2;
        } else {
            text = a;
        }
    }
    if (!text) {
        usage(stderr);
        return 2;
    }
    if (!model) {
#ifdef WSD_DEFAULT_MODEL_DIR
        model = WSD_DEFAULT_MODEL_DIR;
#else
        fprintf(stderr, "wsd tokenize: this build has no default model; pass --model DIR (a diffusers model or "
                        "tokenizer folder)\n");
        return 2;
#endif
    }

    size_t len;
    char *owned = NULL;
    if (!strcmp(text, "-")) {
        owned = read_stdin(&len);
        if (!owned) {
            fprintf(stderr, "wsd tokenize: cannot read standard input\n");
            return 1;
        }
        text = owned;
    } else {
        len = strlen(text);
    }

    wsd_err err = {0};
    tok_tokenizer *tok = NULL;
    int rc = 1;
    if (tok_load_dir(model, &tok, &err) != WSD_OK) {
        fprintf(stderr, "wsd tokenize: %s\n", err.msg);
        goto done;
    }
    if (no_truncate) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode_all(tok, text, len, &ids, &n, &err) != WSD_OK) {
            fprintf(stderr, "wsd tokenize: %s\n", err.msg);
            goto done;
        }
        print_ids(ids, n);
        fprintf(stderr, "%zu tokens\n", n - 2);
        free(ids);
    } else {
        int32_t ids[TOK_MAX_LENGTH];
        int n = 0, max = tok_max_length(tok);
        if (tok_encode(tok, text, len, ids, &n, &err) != WSD_OK) {
            fprintf(stderr, "wsd tokenize: %s\n", err.msg);
            goto done;
        }
        int kept = n < max - 2 ? n : max - 2;
        print_ids(ids, no_pad ? (size_t)kept + 2 : (size_t)max);
        if (n > kept)
            fprintf(stderr, "%d tokens, truncated to %d\n", n, kept);
        else
            fprintf(stderr, "%d/%d tokens\n", n, max - 2);
    }
    rc = 0;
done:
    tok_free(tok);
    free(owned);
    return rc;
}
