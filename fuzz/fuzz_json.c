/* libFuzzer target: every JSON reader on arbitrary bytes.
 *
 *  1. json_parse (the reader behind every config, model_index.json,
 *     vocab.json, tokenizer_config.json and safetensors headers): a document
 *     that parses is written back out and parsed again, and the two trees
 *     must be equal (types, numbers bit for bit or both NaN, strings and keys
 *     byte for byte including embedded NULs); json_get must find the last of
 *     duplicate keys; the typed getters never crash.
 *  2. The config readers on that tree: clip_config_parse, unet_config_parse,
 *     vae_config_parse (text_encoder/, unet/, vae/config.json). A config they
 *     accept must hold their promises (sizes in range, channel counts that
 *     split into groups and heads) and must build its network graph without
 *     weights (src/models/) and plan its memory, or fail with a message.
 *  3. The scheduler reader (scheduler_config.json): sched_create with each
 *     sampler, set_timesteps, and, for a schedule it accepts, every step of a
 *     small run and an img2img start: no crash, and finite values out of
 *     finite values in or an error.
 *  4. tok_options_from_config (tokenizer_config.json + special_tokens_map.json).
 * Violations trap (libFuzzer reports a crash). */
#include "graph/graph.h"
#include "io/json.h"
#include "models/models.h"
#include "sched/sched.h"
#include "tokenizer/tokenizer.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)                                                                     \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "fuzz_json: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                          \
        }                                                                              \
    } while (0)

#include "fuzz_graphs.h"

/* ---- a JSON writer for the round trip ---- */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        REQUIRE(q);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put_str(sbuf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            put(b, e, 2);
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, (const char *)&s[i], 1);
        }
    }
    put(b, "\"", 1);
}

static void write_value(sbuf *b, const json_value *v)
{
    char num[64];
    switch (v->type) {
    case JSON_NULL: put(b, "null", 4); break;
    case JSON_TRUE: put(b, "true", 4); break;
    case JSON_FALSE: put(b, "false", 5); break;
    case JSON_NUMBER:
        if (isnan(v->number)) put(b, "NaN", 3);
        else if (isinf(v->number)) put(b, v->number > 0 ? "Infinity" : "-Infinity", v->number > 0 ? 8 : 9);
        else {
            int k = snprintf(num, sizeof num, "%.17g", v->number);
            put(b, num, (size_t)k);
        }
        break;
    case JSON_STRING: put_str(b, v->str, v->len); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        put(b, v->type == JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i) put(b, ",", 1);
            if (v->type == JSON_OBJECT) {
                put_str(b, v->keys[i], v->key_lens[i]);
                put(b, ":", 1);
            }
            write_value(b, v->items[i]);
        }
        put(b, v->type == JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

static int same(const json_value *a, const json_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NUMBER:
        if (isnan(a->number)) return isnan(b->number);
        return memcmp(&a->number, &b->number, sizeof(double)) == 0 || (a->number == 0 && b->number == 0);
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (a->len != b->len) return 0;
        for (size_t i = 0; i < a->len; i++) {
            if (a->type == JSON_OBJECT &&
                (a->key_lens[i] != b->key_lens[i] || memcmp(a->keys[i], b->keys[i], a->key_lens[i]) != 0))
                return 0;
            if (!same(a->items[i], b->items[i])) return 0;
        }
        return 1;
    default: return 1;
    }
}

static void check_tree(const json_value *v, int depth)
{
    REQUIRE(depth <= 257);
    if (v->type == JSON_STRING) REQUIRE(v->str && v->str[v->len] == 0);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        REQUIRE(v->len == 0 || v->items);
        for (size_t i = 0; i < v->len; i++) {
            if (v->type == JSON_OBJECT) {
                REQUIRE(v->keys[i] && v->keys[i][v->key_lens[i]] == 0);
                if (strlen(v->keys[i]) == v->key_lens[i]) {
                    /* json_get returns the last duplicate */
                    const json_value *got = json_get(v, v->keys[i]);
                    size_t last = i;
                    for (size_t k = i + 1; k < v->len; k++)
                        if (v->key_lens[k] == v->key_lens[i] && !memcmp(v->keys[k], v->keys[i], v->key_lens[i])) last = k;
                    REQUIRE(got == v->items[last]);
                    double d;
                    long l;
                    int bo;
                    const char *s;
                    wsd_err err = {0};
                    json_get_num(v, v->keys[i], 0, &d, "fuzz", &err);
                    json_get_int(v, v->keys[i], 0, &l, "fuzz", &err);
                    json_get_bool(v, v->keys[i], 0, &bo, "fuzz", &err);
                    json_get_str(v, v->keys[i], "", &s, "fuzz", &err);
                }
            } else {
                REQUIRE(json_at(v, i) == v->items[i]);
            }
            check_tree(v->items[i], depth + 1);
        }
        REQUIRE(json_at(v, v->len) == NULL);
    }
}

/* ---- configs ---- */

static void configs(const json_value *root)
{
    wsd_err err = {0};
    clip_config cc;
    if (clip_config_parse(root, "fuzz", &cc, &err) == WSD_OK) {
        REQUIRE(cc.hidden >= 8 && cc.layers >= 1 && cc.heads >= 1 && cc.hidden % cc.heads == 0);
        REQUIRE(cc.max_positions == 77 && cc.vocab >= 256 && cc.intermediate >= 8);
        /* a deep or wide encoder costs time, not correctness: build the small ones */
        if ((int64_t)cc.layers * cc.hidden * (cc.hidden + cc.intermediate) < ((int64_t)1 << 26)) {
            wg_graph *g = wg_new(NULL, NULL);
            if (g) clip_build(g, &cc, 1, NULL);
            fuzz_check_graph(g);
        }
    } else {
        REQUIRE(err.msg[0]);
    }
    unet_config uc;
    memset(&err, 0, sizeof err);
    if (unet_config_parse(root, "fuzz", &uc, &err) == WSD_OK) {
        REQUIRE(uc.levels >= 1 && uc.levels <= WSD_MAX_LEVELS && uc.groups >= 1);
        for (int i = 0; i < uc.levels; i++)
            REQUIRE(uc.block_out[i] >= 1 && uc.block_out[i] % uc.groups == 0 && uc.block_out[i] % uc.heads[i] == 0);
        int64_t work = 0;
        for (int i = 0; i < uc.levels; i++) work += (int64_t)uc.block_out[i] * uc.block_out[i];
        work *= (int64_t)uc.layers_per_block * uc.transformer_depth;
        if (work < ((int64_t)1 << 24)) {
            int side = 1 << (uc.levels - 1);
            wg_graph *g = wg_new(NULL, NULL);
            if (g) unet_build(g, &uc, 2, side, side, 77, NULL);
            fuzz_check_graph(g);
        }
    } else {
        REQUIRE(err.msg[0]);
    }
    vae_config vc;
    memset(&err, 0, sizeof err);
    if (vae_config_parse(root, "fuzz", &vc, &err) == WSD_OK) {
        REQUIRE(vc.levels == 4 && vc.latent_channels >= 1 && vc.scaling_factor > 0);
        for (int i = 0; i < vc.levels; i++) REQUIRE(vc.block_out[i] >= 1 && vc.block_out[i] % vc.groups == 0);
        int64_t work = 0;
        for (int i = 0; i < vc.levels; i++) work += (int64_t)vc.block_out[i] * vc.block_out[i];
        work *= vc.layers_per_block;
        if (work < ((int64_t)1 << 24)) {
            wg_graph *g = wg_new(NULL, NULL);
            if (g) vae_decoder_build(g, &vc, 1, 2, 2, NULL);
            fuzz_check_graph(g);
            g = wg_new(NULL, NULL);
            if (g) vae_encoder_build(g, &vc, 1, 16, 16, NULL);
            fuzz_check_graph(g);
        }
    } else {
        REQUIRE(err.msg[0]);
    }
}

/* ---- scheduler ---- */

static void scheduler(const json_value *root, unsigned knob)
{
    enum { N = 8 };
    wsd_sampler which = (wsd_sampler)(knob % 9);
    int steps = 1 + (int)((knob >> 4) % 60);
    sched *s = NULL;
    wsd_err err = {0};
    wsd_status st = sched_create(root, which, &s, &err);
    if (st != WSD_OK) {
        REQUIRE(s == NULL && err.msg[0]);
        return;
    }
    REQUIRE(sched_name(s) && sched_class_name(s));
    if (sched_set_timesteps(s, steps, &err) != WSD_OK) {
        REQUIRE(err.msg[0]);
        sched_free(s);
        return;
    }
    int calls = sched_num_calls(s);
    REQUIRE(calls >= 1 && calls <= 4 * steps + 4);
    const float *sig;
    int ns = sched_sigmas(s, &sig);
    REQUIRE(ns >= 0);
    float x[N], eps[N], pred[N];
    wsd_rng rng;
    rng_seed(&rng, knob);
    sched_noise noise;
    sched_noise_from_rng(&noise, &rng);
    int first = 0;
    if (knob & 0x800) {
        float x0[N], nz[N];
        for (int k = 0; k < N; k++) x0[k] = nz[k] = 0.25f * (float)(k - 3);
        double strength = ((knob >> 12) % 100 + 1) / 100.0;
        if (sched_img2img_begin(s, strength, &first, &err) != WSD_OK) {
            REQUIRE(err.msg[0]);
            sched_free(s);
            return;
        }
        REQUIRE(first >= 0 && first < calls);
        sched_add_noise(s, first, x0, nz, x, N);
    } else {
        float sigma = sched_init_noise_sigma(s);
        for (int k = 0; k < N; k++) x[k] = sigma * 0.1f * (float)(k - 3);
        if (sched_begin(s, 0, &err) != WSD_OK) {
            REQUIRE(err.msg[0]);
            sched_free(s);
            return;
        }
    }
    for (int i = first; i < calls; i++) {
        (void)sched_timestep(s, i);
        sched_scale_model_input(s, i, x, eps, N);
        for (int k = 0; k < N; k++) eps[k] = 0.1f * (float)(k % 3 - 1);
        if (sched_step(s, i, eps, x, N, &noise, pred, &err) != WSD_OK) {
            REQUIRE(err.msg[0]);
            break;
        }
    }
    sched_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned knob = data[0] | (unsigned)data[1] << 8;
    const char *text = (const char *)data + 2;
    size_t n = size - 2;
    json_doc *doc = (json_doc *)1;
    wsd_err err = {0};
    wsd_status s = json_parse(text, n, "fuzz", &doc, &err);
    if (s == WSD_OK) {
        const json_value *root = json_root(doc);
        REQUIRE(root);
        check_tree(root, 0);
        sbuf b = {0};
        write_value(&b, root);
        json_doc *again = NULL;
        wsd_err err2 = {0};
        REQUIRE(json_parse(b.p, b.n, "fuzz (rewritten)", &again, &err2) == WSD_OK);
        REQUIRE(same(root, json_root(again)));
        json_free(again);
        free(b.p);
        configs(root);
        scheduler(root, knob);
        json_free(doc);
    } else {
        REQUIRE(doc == NULL && err.msg[0] && (s == WSD_ERR_FORMAT || s == WSD_ERR_OUT_OF_MEMORY));
    }
    /* the tokenizer config reader takes the raw text (first half config, second special map) */
    tok_options o;
    tok_options_init(&o);
    memset(&err, 0, sizeof err);
    size_t half = (knob & 1) ? n : n / 2;
    if (tok_options_from_config(&o, text, half, text + half, n - half, "fuzz", &err) != WSD_OK) REQUIRE(err.msg[0]);
    REQUIRE(o.max_length >= 2 && o.max_length <= TOK_MAX_LENGTH);
    return 0;
}
