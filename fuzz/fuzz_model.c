/* libFuzzer target: loading a whole diffusers model folder (model_load_mem,
 * the path both the CLI and the browser take) with one file replaced by the
 * fuzz input, then building every network on the model's real weights.
 *
 * Byte 0 picks the file; the rest is its new content:
 *   0 model_index.json               4 vae/config.json
 *   1 scheduler/scheduler_config.json 5 tokenizer/tokenizer_config.json
 *   2 text_encoder/config.json       6 the UNet's safetensors header (JSON):
 *   3 unet/config.json                 the file becomes [length][input][the
 *                                      original tensor data], so tensor tables
 *                                      meet the name index and the builders
 *   7 the text encoder's safetensors header, likewise.
 * The rest of the folder is tiny-sd15 (shared/reference/tiny-sd15, or
 * $WSD_FUZZ_MODEL). Loading either fails with a message or gives a model whose
 * networks build (or fail with a message) at small sizes, and whose
 * components agree with each other (text width = UNet cross-attention width,
 * UNet channels = VAE latent channels) exactly when model_check_components
 * (which wsd_model_load applies) says so. */
#include "graph/graph.h"
#include "io/file.h"
#include "models/model.h"
#include "sched/sched.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WSD_SHARED_DEFAULT
#define WSD_SHARED_DEFAULT "../shared"
#endif

#define REQUIRE(c)                                                                      \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "fuzz_model: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                           \
        }                                                                               \
    } while (0)

#include "fuzz_graphs.h"

static const char *const rels[] = {
    "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json", "unet/config.json",
    "vae/config.json", "tokenizer/tokenizer_config.json", "unet/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
};
#define NFILES (sizeof rels / sizeof *rels)
static wsd_mem_file files[NFILES];
static wsd_file_bytes bytes[NFILES];
static int ready;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[1024];
    const char *env = getenv("WSD_FUZZ_MODEL");
    snprintf(dir, sizeof dir, "%s", env ? env : WSD_SHARED_DEFAULT "/reference/tiny-sd15");
    for (size_t i = 0; i < NFILES; i++) {
        char p[1200];
        wsd_err err = {0};
        snprintf(p, sizeof p, "%s/%s", dir, rels[i]);
        if (wsd_read_file(p, 64u << 20, &bytes[i], &err) != WSD_OK) {
            fprintf(stderr, "fuzz_model: %s (set WSD_FUZZ_MODEL to a tiny diffusers folder)\n", err.msg);
            return 0;
        }
        files[i] = (wsd_mem_file){rels[i], bytes[i].data, bytes[i].size};
    }
    ready = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready || size < 1) return 0;
    unsigned which = data[0] % 8;
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    wsd_mem_file fs[NFILES];
    memcpy(fs, files, sizeof fs);
    uint8_t *made = NULL;
    if (which < 6) {
        made = malloc(n ? n : 1); /* exactly n bytes: overreads show */
        if (!made) return 0;
        memcpy(made, body, n);
        fs[which].data = made;
        fs[which].size = n;
    } else {
        /* a new header in front of the original tensor data */
        size_t k = which == 6 ? 6 : 7;
        const uint8_t *orig = files[k].data;
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
        size_t dsize = files[k].size - 8 - (size_t)hlen;
        made = malloc(8 + n + dsize);
        if (!made) return 0;
        for (int i = 0; i < 8; i++) made[i] = (uint8_t)((uint64_t)n >> (8 * i));
        memcpy(made + 8, body, n);
        memcpy(made + 8 + n, orig + 8 + hlen, dsize);
        fs[k].data = made;
        fs[k].size = 8 + n + dsize;
    }
    wsd_model *m = (wsd_model *)1;
    wsd_err err = {0};
    wsd_status s = model_load_mem(fs, NFILES, "fuzz", &m, &err);
    if (s != WSD_OK) {
        REQUIRE(m == NULL && err.msg[0] && err.code == (int)s);
    } else {
        wsd_err e2 = {0};
        if (model_check_components(m, &e2) == WSD_OK) {
            REQUIRE(m->clip.hidden == m->unet.cross_dim);
            REQUIRE(m->unet.in_channels == m->vae.latent_channels && m->unet.out_channels == m->vae.latent_channels);
        } else {
            REQUIRE(e2.msg[0] && (m->clip.hidden != m->unet.cross_dim || m->unet.in_channels != m->vae.latent_channels ||
                                  m->unet.out_channels != m->vae.latent_channels));
        }
        fuzz_build_all(m);
        /* the tokenizer as the pipeline makes it (costly: only when its config is the input) */
        tok_options o;
        tok_options_init(&o);
        if (which != 5) {
        } else if (m->tokenizer_config &&
                   tok_options_from_config(&o, m->tokenizer_config, m->tokenizer_config_len, NULL, 0, "fuzz", &err) != WSD_OK) {
            REQUIRE(err.msg[0]);
        } else {
            tok_tokenizer *t = NULL;
            if (tok_create(m->vocab_json, m->vocab_len, m->merges_txt, m->merges_len, &o, &t, &err) == WSD_OK) {
                int32_t ids[TOK_MAX_LENGTH];
                int nt;
                REQUIRE(tok_encode(t, "a photo of a cat", 16, ids, &nt, &err) == WSD_OK);
                tok_free(t);
            }
        }
        /* the scheduler as the pipeline makes it */
        sched *sc = NULL;
        if (sched_create(m->scheduler_doc ? json_root(m->scheduler_doc) : NULL, WSD_SAMPLER_DEFAULT, &sc, &err) == WSD_OK) {
            if (sched_set_timesteps(sc, 4, &err) != WSD_OK) REQUIRE(err.msg[0]);
            sched_free(sc);
        } else {
            REQUIRE(sc == NULL && err.msg[0]);
        }
        model_free(m);
    }
    free(made);
    return 0;
}
