/* Broken models and weight files fail with the right status and a message
 * that names the file and, where there is one, the tensor or config key;
 * nothing crashes. Each case builds a copy of tiny-sd15 in the test's scratch
 * folder (unchanged files as symlinks), breaks one thing, loads it and builds
 * every graph (which is where missing or mis-shaped tensors surface). */
#include "graph/graph.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/models.h"
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const model_files[] = {
    "model_index.json", "scheduler/scheduler_config.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "text_encoder/config.json", "text_encoder/model.safetensors",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
};
#define N_MODEL_FILES (sizeof model_files / sizeof *model_files)
#define UNET_W "unet/diffusion_pytorch_model.safetensors"

static char tiny[PATH_MAX];

/* --------------------------------------------------------------- helpers */

/* tmp/<name>: tiny-sd15 with every file symlinked, except those whose path
 * starts with one of the `omit` prefixes (NULL-terminated list, may be NULL). */
static const char *new_model(const char *name, const char *const *omit)
{
    static char dirs[64][1200];
    static int slot;
    char *dir = dirs[slot++ % 64];
    snprintf(dir, 1200, "%s/%s", tu_tmpdir(), name);
    mkdir(dir, 0755);
    for (size_t i = 0; i < N_MODEL_FILES; i++) {
        int skip = 0;
        for (int k = 0; omit && omit[k] && !skip; k++) skip = !strncmp(model_files[i], omit[k], strlen(omit[k]));
        if (skip) continue;
        char sub[1300], src[PATH_MAX + 200], dst[1300];
        const char *slash = strchr(model_files[i], '/');
        if (slash) {
            snprintf(sub, sizeof sub, "%s/%.*s", dir, (int)(slash - model_files[i]), model_files[i]);
            mkdir(sub, 0755);
        }
        snprintf(src, sizeof src, "%s/%s", tiny, model_files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, model_files[i]);
        unlink(dst);
        if (symlink(src, dst) != 0) CHECKF(0, "symlink %s: %s", dst, strerror(errno));
    }
    return dir;
}

/* Writes (replacing any symlink) model/rel. */
static void put_file(const char *model, const char *rel, const void *data, size_t n)
{
    char p[1300];
    snprintf(p, sizeof p, "%s/%s", model, rel);
    unlink(p);
    wsd_err err = {0};
    CHECKF(wsd_write_file(p, data, n, &err) == WSD_OK, "%s", err.msg);
}

static char *path_in(const char *model, const char *rel)
{
    static char bufs[8][1300];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, 1300, "%s/%s", model, rel);
    return b;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    wsd_file_bytes fb;
    wsd_err err = {0};
    if (wsd_read_file(path, 256u << 20, &fb, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        *n = 0;
        return NULL;
    }
    *n = fb.size;
    return fb.data; /* read, not mapped: free() */
}

/* A config file of tiny-sd15 with one textual replacement. */
static char *edited_config(const char *rel, const char *from, const char *to)
{
    char p[PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/%s", tiny, rel);
    size_t n;
    char *text = (char *)read_all(p, &n);
    if (!text) return NULL;
    char *hit = NULL;
    for (size_t i = 0; !hit && i + strlen(from) <= n; i++)
        if (!memcmp(text + i, from, strlen(from))) hit = text + i;
    CHECKF(hit != NULL, "%s has no \"%s\"", rel, from);
    if (!hit) { free(text); return NULL; }
    size_t pre = (size_t)(hit - text), lf = strlen(from), lt = strlen(to);
    char *out = malloc(n - lf + lt + 1);
    memcpy(out, text, pre);
    memcpy(out + pre, to, lt);
    memcpy(out + pre + lt, hit + lf, n - pre - lf);
    out[n - lf + lt] = 0;
    free(text);
    return out;
}

/* Loads the model and builds all four graphs (small sizes) with its weights:
 * the first failure's status, WSD_OK if everything builds. */
static wsd_status load_and_build(const char *path, wsd_err *err)
{
    wsd_model *m = NULL;
    memset(err, 0, sizeof *err);
    wsd_status st = model_load_path(path, &m, err);
    for (int k = 0; st == WSD_OK && k < 4; k++) {
        model_component c = k == 0 ? COMP_TEXT_ENCODER : k == 1 ? COMP_UNET : COMP_VAE;
        wg_graph *g = wg_new(model_weight_fn, &m->w[c]);
        if (!g) { st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        if (k == 0) clip_build(g, &m->clip, 1, NULL);
        else if (k == 1) unet_build(g, &m->unet, 1, 16, 16, m->clip.max_positions, NULL);
        else if (k == 2) vae_decoder_build(g, &m->vae, 1, 8, 8, NULL);
        else vae_encoder_build(g, &m->vae, 1, 64, 64, NULL);
        st = wg_status(g, err);
        wg_free(g);
    }
    model_free(m);
    return st;
}

/* The case's result: status `want` and a message holding every needle. */
static void expect(const char *label, wsd_status got, const wsd_err *err, wsd_status want, const char *n1, const char *n2, const char *n3)
{
    const char *needles[3] = {n1, n2, n3};
    int ok = got == want;
    for (int i = 0; i < 3; i++) ok = ok && (!needles[i] || strstr(err->msg, needles[i]));
    tu_checks++;
    if (!ok) {
        tu_failures++;
        fprintf(stderr, "FAIL %s: status %d (%s), want %d (%s); message: %s\n  expected in it:", label, (int)got, wsd_status_name(got), (int)want,
                wsd_status_name(want), err->msg);
        for (int i = 0; i < 3; i++)
            if (needles[i]) fprintf(stderr, " [%s]", needles[i]);
        fputc('\n', stderr);
    } else {
        printf("ok   %-44s %s: %s\n", label, wsd_status_name(got), err->msg);
    }
}

/* ------------------------------------------------- safetensors rewriting */

typedef struct {
    char name[256];
    char dtype[16];
    int ndim;
    int64_t shape[8];
    uint64_t begin, end;
} st_entry_spec;

typedef struct {
    st_entry_spec *e;
    size_t n;
    const uint8_t *data; /* the original data section */
    size_t data_size;
} st_spec;

/* The tiny UNet file as an editable list of header entries. */
static int unet_spec(st_spec *s, st_file *f)
{
    wsd_err err = {0};
    char p[PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/%s", tiny, UNET_W);
    if (st_open(p, f, &err) != WSD_OK) { CHECKF(0, "%s", err.msg); return 0; }
    s->n = f->count;
    s->e = calloc(s->n, sizeof *s->e);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->bytes.data[i];
    s->data = f->bytes.data + 8 + hlen;
    s->data_size = f->bytes.size - 8 - (size_t)hlen;
    for (size_t i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        st_entry_spec *e = &s->e[i];
        snprintf(e->name, sizeof e->name, "%s", t->name);
        snprintf(e->dtype, sizeof e->dtype, "%s", wsd_dtype_name(t->dtype));
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        e->begin = (uint64_t)(t->data - s->data);
        e->end = e->begin + t->nbytes;
    }
    return 1;
}

/* Serialises spec (all entries but `skip`) with the original data section
 * (cut to data_size), header length prefix `hlen_override` when non-zero,
 * and the header text cut to `header_cut` bytes when non-zero. */
static uint8_t *st_bytes(const st_spec *s, long skip, size_t data_size, uint64_t hlen_override, size_t header_cut, size_t *out_n)
{
    size_t cap = 256 + s->n * 512;
    char *h = malloc(cap);
    size_t n = 0;
    n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < s->n; i++) {
        if ((long)i == skip) continue;
        const st_entry_spec *e = &s->e[i];
        n += (size_t)snprintf(h + n, cap - n, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name, e->dtype);
        for (int d = 0; d < e->ndim; d++) n += (size_t)snprintf(h + n, cap - n, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        n += (size_t)snprintf(h + n, cap - n, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e->begin, (unsigned long long)e->end);
    }
    n += (size_t)snprintf(h + n, cap - n, "}");
    while (n % 8) h[n++] = ' ';
    size_t hl = header_cut ? header_cut : n;
    uint64_t prefix = hlen_override ? hlen_override : hl;
    size_t total = 8 + hl + data_size;
    uint8_t *b = malloc(total);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(prefix >> (8 * i));
    memcpy(b + 8, h, hl);
    memcpy(b + 8 + hl, s->data, data_size);
    free(h);
    *out_n = total;
    return b;
}

static long spec_find(const st_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].name, name)) return (long)i;
    CHECKF(0, "no tensor %s in the tiny UNet", name);
    return -1;
}

/* ------------------------------------------------------------------ cases */

static void truncated_weights(void)
{
    char p[PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/%s", tiny, UNET_W);
    size_t n;
    uint8_t *orig = read_all(p, &n);
    if (!orig) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
    st_spec s = {0};
    st_file f;
    if (!unet_spec(&s, &f)) { free(orig); return; }
    const size_t cuts[] = {0, 4, 8 + 1, 8 + (size_t)hlen / 2, 8 + (size_t)hlen - 1, 8 + (size_t)hlen + 100, 8 + (size_t)hlen + (n - 8 - (size_t)hlen) / 2, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        char name[64], label[96];
        snprintf(name, sizeof name, "truncated_%zu", cuts[k]);
        const char *m = new_model(name, NULL);
        put_file(m, UNET_W, orig, cuts[k]);
        wsd_err err;
        wsd_status st = load_and_build(m, &err);
        const char *file = path_in(m, UNET_W);
        if (cuts[k] < 8) {
            snprintf(label, sizeof label, "truncated in the length prefix (%zu bytes)", cuts[k]);
            expect(label, st, &err, WSD_ERR_FORMAT, file, "truncated", NULL);
        } else if (cuts[k] < 8 + hlen) {
            snprintf(label, sizeof label, "truncated in the header (%zu bytes)", cuts[k]);
            expect(label, st, &err, WSD_ERR_FORMAT, file, "header length", "runs past the end");
        } else {
            snprintf(label, sizeof label, "truncated in the data (%zu of %zu bytes)", cuts[k], n);
            expect(label, st, &err, WSD_ERR_FORMAT, file, "run past the end", "truncated");
            /* the named tensor is one that really lost bytes */
            const char *q = strstr(err.msg, "tensor \"");
            int real = 0;
            if (q) {
                char tn[256];
                if (sscanf(q + 8, "%255[^\"]", tn) == 1) {
                    long i = spec_find(&s, tn);
                    real = i >= 0 && s.e[i].end > cuts[k] - 8 - hlen;
                }
            }
            CHECKF(real, "%s: the message names no tensor cut by the truncation: %s", label, err.msg);
        }
    }
    free(orig);
    free(s.e);
    st_close(&f);
}

static void broken_headers(void)
{
    st_spec s = {0};
    st_file f;
    if (!unet_spec(&s, &f)) return;
    wsd_err err;
    size_t n;
    uint8_t *b;
    const char *m;

    /* sanity: the rewriter itself produces a loadable file */
    m = new_model("rewritten", NULL);
    b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
    put_file(m, UNET_W, b, n);
    free(b);
    CHECKF(load_and_build(m, &err) == WSD_OK, "rewritten UNet file: %s", err.msg);

    /* header length beyond the end of the file */
    m = new_model("header_too_long", NULL);
    b = st_bytes(&s, -1, s.data_size, (uint64_t)1 << 40, 0, &n);
    put_file(m, UNET_W, b, n);
    free(b);
    expect("header length beyond the file", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "header length 1099511627776", "runs past the end");
    m = new_model("header_len_file_size", NULL);
    b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)(n - 7) >> (8 * i)); /* one byte too many */
    put_file(m, UNET_W, b, n);
    free(b);
    expect("header length one past the file", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "header length", NULL);

    /* malformed JSON: the header cut short (length prefix consistent) */
    m = new_model("bad_json", NULL);
    b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
    size_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    free(b);
    b = st_bytes(&s, -1, s.data_size, 0, hl / 2, &n);
    put_file(m, UNET_W, b, n);
    free(b);
    expect("malformed JSON header", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "safetensors header", NULL);
    m = new_model("bad_json2", NULL);
    b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
    b[8 + 1] = '\'';  /* {'__metadata__" ... */
    put_file(m, UNET_W, b, n);
    free(b);
    expect("malformed JSON header (quote)", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "safetensors header", NULL);

    /* unknown dtype */
    long k = spec_find(&s, "mid_block.resnets.0.conv1.weight");
    if (k >= 0) {
        m = new_model("unknown_dtype", NULL);
        snprintf(s.e[k].dtype, sizeof s.e[k].dtype, "F33");
        b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
        snprintf(s.e[k].dtype, sizeof s.e[k].dtype, "F32");
        put_file(m, UNET_W, b, n);
        free(b);
        expect("unknown dtype", load_and_build(m, &err), &err, WSD_ERR_UNSUPPORTED, path_in(m, UNET_W), "\"mid_block.resnets.0.conv1.weight\"", "\"F33\"");
    }

    /* a tensor whose bytes run past the end of the data */
    k = spec_find(&s, "conv_in.bias");
    if (k >= 0) {
        m = new_model("bytes_past_end", NULL);
        st_entry_spec saved = s.e[k];
        s.e[k].begin = s.data_size - 64;
        s.e[k].end = s.e[k].begin + (saved.end - saved.begin); /* the right size, in the wrong place */
        b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
        s.e[k] = saved;
        put_file(m, UNET_W, b, n);
        free(b);
        expect("tensor bytes past the end of the file", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "\"conv_in.bias\"", "run past the end");
    }

    /* shape and data_offsets that disagree */
    k = spec_find(&s, "conv_in.weight");
    if (k >= 0) {
        m = new_model("span_mismatch", NULL);
        s.e[k].shape[0] += 1;
        b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
        s.e[k].shape[0] -= 1;
        put_file(m, UNET_W, b, n);
        free(b);
        expect("shape disagrees with data_offsets", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "\"conv_in.weight\"", "data_offsets");
    }

    /* a missing tensor: loads, fails when the UNet graph asks for it */
    const char *gone = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    k = spec_find(&s, gone);
    if (k >= 0) {
        m = new_model("missing_tensor", NULL);
        b = st_bytes(&s, k, s.data_size, 0, 0, &n);
        put_file(m, UNET_W, b, n);
        free(b);
        wsd_model *mm = NULL;
        CHECKF(model_load_path(m, &mm, &err) == WSD_OK, "a file with a tensor missing should still load: %s", err.msg);
        model_free(mm);
        expect("missing tensor", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "missing tensor \"down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight\"", NULL);
    }

    /* a tensor with the wrong shape for the config (consistent within the file) */
    k = spec_find(&s, "conv_in.weight");
    if (k >= 0) {
        m = new_model("wrong_shape", NULL);
        st_entry_spec saved = s.e[k];
        s.e[k].shape[2] = s.e[k].shape[3] = 1; /* [32, 4, 1, 1]: a 1x1 conv where the config says 3x3 */
        s.e[k].end = s.e[k].begin + 4 * (uint64_t)(s.e[k].shape[0] * s.e[k].shape[1]);
        b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
        s.e[k] = saved;
        put_file(m, UNET_W, b, n);
        free(b);
        expect("tensor with the wrong shape for the config", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "\"conv_in.weight\" has shape [32, 4, 1, 1]",
               "needs [32, 4, 3, 3]");
    }
    /* non-float weights */
    k = spec_find(&s, "conv_out.bias");
    if (k >= 0) {
        m = new_model("int_weights", NULL);
        snprintf(s.e[k].dtype, sizeof s.e[k].dtype, "I32");
        b = st_bytes(&s, -1, s.data_size, 0, 0, &n);
        snprintf(s.e[k].dtype, sizeof s.e[k].dtype, "F32");
        put_file(m, UNET_W, b, n);
        free(b);
        expect("integer weights", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "\"conv_out.bias\"", "I32");
    }
    free(s.e);
    st_close(&f);
}

static void bad_configs(void)
{
    static const struct { const char *label, *rel, *from, *to, *key; wsd_status want; } cases[] = {
        {"block_out_channels [-5, ...]", "unet/config.json", "\"block_out_channels\": [\n    32", "\"block_out_channels\": [\n    -5", "\"block_out_channels\"[0]", WSD_ERR_FORMAT},
        {"layers_per_block 1000", "unet/config.json", "\"layers_per_block\": 2", "\"layers_per_block\": 1000", "\"layers_per_block\" = 1000", WSD_ERR_FORMAT},
        {"norm_num_groups 7", "unet/config.json", "\"norm_num_groups\": 32", "\"norm_num_groups\": 7", "norm_num_groups 7", WSD_ERR_FORMAT},
        {"block_out_channels 1.5", "unet/config.json", "\"block_out_channels\": [\n    32", "\"block_out_channels\": [\n    1.5", "\"block_out_channels\"", WSD_ERR_FORMAT},
        {"cross_attention_dim a string", "unet/config.json", "\"cross_attention_dim\": 64", "\"cross_attention_dim\": \"64\"", "\"cross_attention_dim\" must be a number", WSD_ERR_FORMAT},
        {"unknown down block type", "unet/config.json", "\"DownBlock2D\"\n", "\"KDownBlock2D\"\n", "KDownBlock2D", WSD_ERR_UNSUPPORTED},
        {"config.json not JSON", "unet/config.json", "{", "{{", NULL, WSD_ERR_FORMAT},
        {"num_attention_heads 5 at width 64", "text_encoder/config.json", "\"num_attention_heads\": 4", "\"num_attention_heads\": 5", "num_attention_heads 5", WSD_ERR_FORMAT},
        {"num_hidden_layers -1", "text_encoder/config.json", "\"num_hidden_layers\": 4", "\"num_hidden_layers\": -1", "\"num_hidden_layers\" = -1", WSD_ERR_FORMAT},
        {"hidden_act unknown", "text_encoder/config.json", "\"quick_gelu\"", "\"swish\"", "\"swish\"", WSD_ERR_UNSUPPORTED},
        {"vae latent_channels 0", "vae/config.json", "\"latent_channels\": 4", "\"latent_channels\": 0", "\"latent_channels\" = 0", WSD_ERR_FORMAT},
        {"vae norm_num_groups 7", "vae/config.json", "\"norm_num_groups\": 32", "\"norm_num_groups\": 7", "norm_num_groups 7", WSD_ERR_FORMAT},
        {"vae with 3 levels", "vae/config.json", "\"block_out_channels\": [\n    32,", "\"block_out_channels\": [\n", "3 VAE levels", WSD_ERR_UNSUPPORTED},
        {"cross_attention_dim 96 (weights are 64)", "unet/config.json", "\"cross_attention_dim\": 64", "\"cross_attention_dim\": 96", "attn2.to_k.weight\" has shape [32, 64]", WSD_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[32];
        snprintf(name, sizeof name, "config_%zu", i);
        const char *m = new_model(name, NULL);
        char *text = edited_config(cases[i].rel, cases[i].from, cases[i].to);
        if (!text) continue;
        put_file(m, cases[i].rel, text, strlen(text));
        free(text);
        wsd_err err;
        wsd_status st = load_and_build(m, &err);
        /* the weights file is named for shape errors, the config file otherwise */
        const char *file = strstr(cases[i].label, "weights are") ? path_in(m, UNET_W) : path_in(m, cases[i].rel);
        expect(cases[i].label, st, &err, cases[i].want, file, cases[i].key, NULL);
    }
}

static void bad_layouts(void)
{
    wsd_err err;
    const char *m;

    m = new_model("no_vae", (const char *const[]){"vae/", NULL});
    expect("missing component folder (vae/)", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, "vae/config.json"), "missing", NULL);
    m = new_model("no_unet_weights", (const char *const[]){UNET_W, NULL});
    expect("missing weights file", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "missing", "unet weights");
    m = new_model("no_tokenizer", (const char *const[]){"tokenizer/", NULL});
    expect("model folder without a tokenizer", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, "tokenizer"), "no tokenizer", NULL);
    m = new_model("no_merges", (const char *const[]){"tokenizer/merges.txt", NULL});
    expect("tokenizer without merges.txt", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, "tokenizer"), "merges.txt", NULL);

    /* directories where files are expected */
    m = new_model("dir_weights", (const char *const[]){UNET_W, NULL});
    mkdir(path_in(m, UNET_W), 0755);
    expect("weights path is a directory", load_and_build(m, &err), &err, WSD_ERR_IO, path_in(m, UNET_W), "is a directory", NULL);
    m = new_model("dir_config", (const char *const[]){"text_encoder/config.json", NULL});
    mkdir(path_in(m, "text_encoder/config.json"), 0755);
    expect("config.json is a directory", load_and_build(m, &err), &err, WSD_ERR_IO, path_in(m, "text_encoder/config.json"), "is a directory", NULL);
    st_file f;
    memset(&err, 0, sizeof err);
    expect("st_open on a directory", st_open(m, &f, &err), &err, WSD_ERR_IO, m, "is a directory", NULL);
    m = new_model("dir_index", (const char *const[]){"model_index.json", NULL});
    mkdir(path_in(m, "model_index.json"), 0755);
    wsd_status st = load_and_build(m, &err);
    CHECKF(st == WSD_OK || (st != WSD_OK && strstr(err.msg, "model_index.json")), "model_index.json as a directory: %s", err.msg);

    /* nonexistent and unreadable paths */
    char p[1300];
    snprintf(p, sizeof p, "%s/does-not-exist", tu_tmpdir());
    expect("nonexistent model path", load_and_build(p, &err), &err, WSD_ERR_IO, p, "no such file", NULL);
    snprintf(p, sizeof p, "%s/does-not-exist.safetensors", tu_tmpdir());
    memset(&err, 0, sizeof err);
    expect("nonexistent safetensors file", st_open(p, &f, &err), &err, WSD_ERR_IO, p, NULL, NULL);
    m = new_model("dangling_link", (const char *const[]){UNET_W, NULL});
    CHECK(symlink("/nonexistent/weights.safetensors", path_in(m, UNET_W)) == 0);
    expect("weights file is a dangling symlink", load_and_build(m, &err), &err, WSD_ERR_FORMAT, path_in(m, UNET_W), "missing", NULL);

    m = new_model("unreadable", (const char *const[]){UNET_W, NULL});
    const char *wp = path_in(m, UNET_W);
    put_file(m, UNET_W, "x", 1);
    chmod(wp, 0);
    if (access(wp, R_OK) == 0) {
        /* test_bad_input_matrix reads a mode-000 file as uid 65534 instead */
        printf("skip unreadable weights file (running with permission to read anything: see test_bad_input_matrix)\n");
    } else {
        expect("unreadable weights file", load_and_build(m, &err), &err, WSD_ERR_IO, wp, "cannot open", NULL);
    }
    chmod(wp, 0644);
    /* unreadable for anyone, root included: a path through a file */
    snprintf(p, sizeof p, "%s/model.safetensors", wp);
    memset(&err, 0, sizeof err);
    expect("path through a file (not a directory)", st_open(p, &f, &err), &err, WSD_ERR_IO, p, "cannot open", NULL);
    expect("model path through a file", load_and_build(p, &err), &err, WSD_ERR_IO, p, "no such file", NULL);

    /* single files that are not SD checkpoints */
    snprintf(p, sizeof p, "%s", tu_shared("reference/golden/unet.safetensors"));
    expect("a golden file as a checkpoint", load_and_build(p, &err), &err, WSD_ERR_FORMAT, p, "no SD 1.x", NULL);
    snprintf(p, sizeof p, "%s/%s", tiny, "tokenizer/vocab.json");
    expect("vocab.json as a checkpoint", load_and_build(p, &err), &err, WSD_ERR_FORMAT, p, "header length", NULL);
    snprintf(p, sizeof p, "%s/%s", tiny, UNET_W);
    expect("a UNet file as a checkpoint", load_and_build(p, &err), &err, WSD_ERR_FORMAT, p, "no SD 1.x", NULL);
}

int main(void)
{
    const char *t = tu_shared("reference/tiny-sd15");
    if (!realpath(t, tiny)) {
        CHECKF(0, "%s: %s", t, strerror(errno));
        return tu_finish();
    }
    wsd_err err;
    CHECKF(load_and_build(tiny, &err) == WSD_OK, "the unbroken model: %s", err.msg);
    const char *m = new_model("intact", NULL);
    CHECKF(load_and_build(m, &err) == WSD_OK, "the symlinked copy: %s", err.msg);
    truncated_weights();
    broken_headers();
    bad_configs();
    bad_layouts();
    return tu_finish();
}
