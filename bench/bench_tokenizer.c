/* Tokenizer throughput: tokens per second of tok_encode (the pipeline's
 * 77-id call) over several prompt sets, with and without the word cache.
 *
 *   bench_tokenizer [TOKENIZER_OR_MODEL_DIR] [--seconds S]
 *
 * Default folder: $WSD_SHARED/reference/tiny-sd15 (the real CLIP vocabulary).
 * Every token is counted, also those past the 75 that are kept. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WSD_SHARED_DEFAULT
#define WSD_SHARED_DEFAULT "../shared"
#endif

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

typedef struct pset {
    const char *name;
    char **text;
    size_t *len;
    size_t n, bytes;
} pset;

static void add(pset *s, const char *t, size_t len)
{
    s->text = realloc(s->text, (s->n + 1) * sizeof *s->text);
    s->len = realloc(s->len, (s->n + 1) * sizeof *s->len);
    s->text[s->n] = malloc(len + 1);
    memcpy(s->text[s->n], t, len);
    s->text[s->n][len] = 0;
    s->len[s->n++] = len;
    s->bytes += len;
}

static const char *fragments[] = {
    "a highly detailed photograph of", "an astronaut riding a horse", "on the surface of mars", "at sunset",
    "dramatic lighting", "volumetric clouds", "cinematic composition", "ultra realistic", "8k resolution",
    "sharp focus", "depth of field", "trending on artstation", "award winning photography", "intricate details",
    "masterpiece", "(best quality:1.2)", "portrait of a woman", "oil painting", "by greg rutkowski",
    "in the style of studio ghibli", "a cozy cabin in the snowy mountains", "golden hour", "bokeh",
    "a futuristic city skyline at night", "neon lights", "cyberpunk", "watercolor", "concept art",
    "a cute corgi wearing sunglasses", "hyperrealistic", "octane render", "unreal engine 5", "soft shadows",
    "a bowl of ramen", "steam rising", "macro shot", "highly detailed fur", "[[blurry]]", "((detailed eyes))",
    "low poly", "isometric view", "a medieval castle on a cliff", "stormy sea", "epic fantasy art",
};

static const char *intl[] = {
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", "\xe4\xb8\x80\xe5\x8f\xaa\xe7\x8c\xab\xe5\x9d\x90\xe5\x9c\xa8",
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xd0\xbd\xd0\xbe\xd1\x87\xd1\x8c\xd1\x8e",
    "\xea\xb3\xa0\xec\x96\x91\xec\x9d\xb4 \xec\x82\xac\xec\xa7\x84", "a cat \xf0\x9f\x90\xb1 \xe2\x9d\xa4\xef\xb8\x8f",
    "e\xcc\x81t\xc3\xa9 \xc3\x85ngstr\xc3\xb6m", "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc",
    "\xce\xb1\xce\xb2\xce\xb3 \xce\xb4\xce\xad\xce\xbb\xcf\x84\xce\xb1", "Z\xc3\xbcrich",
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run(const char *label, tok_tokenizer *tok, const pset *s, double min_s)
{
    wsd_err err = {0};
    int32_t ids[TOK_MAX_LENGTH];
    long long tokens = 0;
    long rounds = 0;
    double t0 = now(), t;
    do {
        for (size_t i = 0; i < s->n; i++) {
            int n = 0;
            if (tok_encode(tok, s->text[i], s->len[i], ids, &n, &err) != WSD_OK) {
                fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
                exit(1);
            }
            tokens += n;
        }
        rounds++;
        t = now() - t0;
    } while (t < min_s);
    printf("| %-22s | %-8s | %7zu | %9.2f | %10.1f | %12.0f | %8.2f | %10.1f |\n", s->name, label, s->n,
           s->bytes / 1e6, (double)tokens / rounds / s->n, tokens / t, s->bytes * (double)rounds / t / 1e6,
           t / rounds / s->n * 1e6);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    double secs = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
        else
            dir = argv[i];
    }
    char path[1024];
    if (!dir) {
        const char *sh = getenv("WSD_SHARED");
        snprintf(path, sizeof path, "%s/reference/tiny-sd15", sh && *sh ? sh : WSD_SHARED_DEFAULT);
        dir = path;
    }
    wsd_err err = {0};
    tok_tokenizer *tok = NULL, *nocache = NULL;
    if (tok_load_dir(dir, &tok, &err) != WSD_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
    }
    /* the same tokenizer without its cache: reload with cache_entries < 0 */
    {
        char v[1100], m[1100];
        snprintf(v, sizeof v, "%s/tokenizer/vocab.json", dir);
        FILE *f = fopen(v, "rb");
        if (!f)
            snprintf(v, sizeof v, "%s/vocab.json", dir);
        else
            fclose(f);
        snprintf(m, sizeof m, "%.*s/merges.txt", (int)(strlen(v) - strlen("/vocab.json")), v);
        char *buf[2] = {NULL, NULL};
        size_t len[2] = {0, 0};
        const char *files[2] = {v, m};
        for (int k = 0; k < 2; k++) {
            f = fopen(files[k], "rb");
            if (!f)
                break;
            fseek(f, 0, SEEK_END);
            len[k] = (size_t)ftell(f);
            fseek(f, 0, SEEK_SET);
            buf[k] = malloc(len[k] + 1);
            if (fread(buf[k], 1, len[k], f) != len[k])
                len[k] = 0;
            fclose(f);
        }
        tok_options o;
        tok_options_init(&o);
        o.cache_entries = -1;
        if (tok_create(buf[0], len[0], buf[1], len[1], &o, &nocache, &err) != WSD_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        free(buf[0]);
        free(buf[1]);
    }

    pset sets[4] = {{"SD prompts (2000)", 0, 0, 0, 0},
                    {"unique words (2000)", 0, 0, 0, 0},
                    {"multilingual (2000)", 0, 0, 0, 0},
                    {"one 100 kB prompt", 0, 0, 0, 0}};
    char buf[4096];
    for (int i = 0; i < 2000; i++) {
        size_t n = 0;
        int parts = 6 + (int)rnd(10);
        for (int k = 0; k < parts; k++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", k ? ", " : "",
                                  fragments[rnd(sizeof fragments / sizeof *fragments)]);
        add(&sets[0], buf, n);
        n = 0;
        for (int w = 0; w < 40; w++) {
            int wl = 3 + (int)rnd(9);
            for (int c = 0; c < wl; c++)
                buf[n++] = (char)('a' + rnd(26));
            buf[n++] = ' ';
        }
        add(&sets[1], buf, n);
        n = 0;
        for (int k = 0; k < 12; k++) {
            const char *p = rnd(2) ? intl[rnd(sizeof intl / sizeof *intl)]
                                   : fragments[rnd(sizeof fragments / sizeof *fragments)];
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s ", p);
        }
        add(&sets[2], buf, n);
    }
    {
        size_t cap = 110000, n = 0;
        char *big = malloc(cap);
        while (n < 100000) {
            const char *p = fragments[rnd(sizeof fragments / sizeof *fragments)];
            n += (size_t)snprintf(big + n, cap - n, "%s, ", p);
        }
        add(&sets[3], big, n);
        free(big);
    }

    printf("CLIP tokenizer throughput (tok_encode, %s; at least %.1f s per row)\n\n", dir, secs);
    printf("| %-22s | %-8s | %7s | %9s | %10s | %12s | %8s | %10s |\n", "prompt set", "cache", "prompts", "MB",
           "tok/prompt", "tokens/s", "MB/s", "us/prompt");
    printf("|------------------------|----------|---------|-----------|------------|--------------|----------|------------|\n");
    for (int k = 0; k < 4; k++) {
        run("on", tok, &sets[k], secs);
        run("off", nocache, &sets[k], secs);
    }
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < sets[k].n; i++)
            free(sets[k].text[i]);
        free(sets[k].text);
        free(sets[k].len);
    }
    tok_free(tok);
    tok_free(nocache);
    return 0;
}
