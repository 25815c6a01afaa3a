/* The bad-input matrix of issue 7, through the public API (wsd.h) and the CLI
 * as a user meets them. Every case must end in a specific status (or CLI exit
 * code) and a message naming the problem, and nothing may crash (this test
 * also runs under ASan/UBSan, tests/sanitizers.sh).
 *
 * The cases of test_bad_inputs.c (issue 2: fixed truncation points, header
 * length past the end, malformed header JSON, unknown dtype, bytes past the
 * end, missing tensor, wrong shape, nonsense config values, missing
 * component, no tokenizer, directories and unreadable paths for model files)
 * are not repeated here; this file adds:
 *   A. weights truncated at random offsets (all three weight files and the
 *      text files), loaded through wsd_model_load
 *   B. header length 2^64-1 and exactly the file size (overflow edges)
 *   C. overlapping tensors, data_offsets that end before they begin, negative
 *      or non-integer offsets
 *   D. a dtype the shape does not fit (F32 data declared F16 / I64)
 *   E. components of different architectures: an SD 2.x-style text encoder
 *      (wider, gelu) with an SD 1.x UNet; a tokenizer larger than the text
 *      encoder's vocabulary; an inpainting UNet (9 input channels)
 *   F. NaN / Inf in UNet, text encoder and VAE weights: the run stops with
 *      "non-finite values after step k" (or in the decoded image) and the
 *      CLI writes no PNG
 *   G. steps, size, guidance, strength, sampler out of range (library), seed
 *      out of range (CLI)
 *   H. init images: wrong size, truncated, bad CRC, empty, a directory
 *   I. prompts: empty (an image), 1 MB of words and 1 MB without a space
 *      (an image, in bounded time, truncated to 75 tokens), invalid UTF-8,
 *      NULL
 *   J. paths: an empty folder as a model, a file path through a file, the
 *      output or --latents path a directory; unreadable files (chmod 000, read
 *      as uid 65534 when the test runs as root, since root reads anything);
 *      FIFOs with no writer (which used to block open(2) forever), a socket and
 *      a character device where files are expected; a file whose read fails
 *      (/proc/self/mem: EIO at offset 0)
 *   K. a missing component (vae/ folder, UNet weights) and a model folder
 *      without a tokenizer, through the public API
 * and then A-D, F and J once more with weight files opened lazily
 * (WSD_LAZY_WEIGHTS=1: header only, tensors read on demand), which is how the
 * browser build loads them.
 *
 * tests/bad_input_matrix.md maps each item of the issue to its cases. */
#include "io/file.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "testutil.h"
#include "wsd.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tiny[PATH_MAX], cli[1200];
static wsd_context *ctx;
static const char *pass_tag = ""; /* "[lazy weights] " in the second pass */

static const char *const model_files[] = {
    "model_index.json", "scheduler/scheduler_config.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "text_encoder/config.json", "text_encoder/model.safetensors",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
};
#define N_FILES (sizeof model_files / sizeof *model_files)
#define UNET_W "unet/diffusion_pytorch_model.safetensors"
#define TE_W "text_encoder/model.safetensors"
#define VAE_W "vae/diffusion_pytorch_model.safetensors"

/* ------------------------------------------------------------------ helpers */

static char *fmt(const char *f, ...)
{
    static char bufs[16][1400];
    static int slot;
    char *b = bufs[slot++ % 16];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 1400, f, ap);
    va_end(ap);
    return b;
}

/* tmp/<name>: tiny-sd15 with every file symlinked (replace files with put()). */
static const char *copy_model(const char *name)
{
    const char *dir = fmt("%s/%s", tu_tmpdir(), name);
    static char keep[64][1400];
    static int k;
    char *d = keep[k++ % 64];
    snprintf(d, 1400, "%s", dir);
    mkdir(d, 0755);
    for (size_t i = 0; i < N_FILES; i++) {
        const char *slash = strchr(model_files[i], '/');
        if (slash) mkdir(fmt("%s/%.*s", d, (int)(slash - model_files[i]), model_files[i]), 0755);
        const char *dst = fmt("%s/%s", d, model_files[i]);
        unlink(dst);
        CHECKF(symlink(fmt("%s/%s", tiny, model_files[i]), dst) == 0, "symlink %s: %s", dst, strerror(errno));
    }
    return d;
}

static void put(const char *model, const char *rel, const void *data, size_t n)
{
    const char *p = fmt("%s/%s", model, rel);
    unlink(p);
    wsd_err err = {0};
    CHECKF(wsd_write_file(p, data, n, &err) == WSD_OK, "%s", err.msg);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    wsd_file_bytes fb;
    wsd_err err = {0};
    if (wsd_read_file(path, 512u << 20, &fb, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        *n = 0;
        return NULL;
    }
    *n = fb.size;
    return fb.data;
}

/* The file `rel` of tiny-sd15 with one textual replacement (NUL-terminated). */
static char *edited(const char *rel, const char *from, const char *to)
{
    size_t n;
    char *text = (char *)slurp(fmt("%s/%s", tiny, rel), &n);
    if (!text) return NULL;
    char *z = malloc(n + 1);
    memcpy(z, text, n);
    z[n] = 0;
    free(text);
    char *hit = strstr(z, from);
    CHECKF(hit != NULL, "%s has no \"%s\"", rel, from);
    if (!hit) { free(z); return NULL; }
    size_t pre = (size_t)(hit - z), lf = strlen(from), lt = strlen(to);
    char *out = malloc(n - lf + lt + 1);
    memcpy(out, z, pre);
    memcpy(out + pre, to, lt);
    memcpy(out + pre + lt, hit + lf, n - pre - lf + 1);
    free(z);
    return out;
}

static int has_all(const char *msg, const char *const *needles)
{
    for (int i = 0; needles[i]; i++)
        if (!strstr(msg, needles[i])) return 0;
    return 1;
}

/* The case's verdict: status `want` and every needle (NULL-terminated) in msg. */
static void verdict(const char *label, wsd_status got, const char *msg, wsd_status want, const char *const *needles)
{
    int ok = got == want && has_all(msg, needles);
    tu_checks++;
    if (ok) {
        printf("ok   %s%-58s %s: %.200s\n", pass_tag, label, wsd_status_name(got), msg);
        return;
    }
    tu_failures++;
    fprintf(stderr, "FAIL %s%s: status %d (%s), want %d (%s); message: %s\n  expected in it:", pass_tag, label, (int)got,
            wsd_status_name(got), (int)want, wsd_status_name(want), msg);
    for (int i = 0; needles[i]; i++) fprintf(stderr, " [%s]", needles[i]);
    fputc('\n', stderr);
}
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* wsd_model_load must fail with `want` and a message holding the needles. */
static void expect_load(const char *label, const char *path, wsd_status want, const char *const *needles)
{
    wsd_model *m = (wsd_model *)1;
    wsd_status st = wsd_model_load(ctx, path, &m);
    verdict(label, st, wsd_last_error(ctx), want, needles);
    CHECKF((st == WSD_OK) == (m != NULL), "%s: *out must be NULL on failure", label);
    if (st == WSD_OK) wsd_model_free(m);
}

static void small_params(wsd_generate_params *p, const char *prompt)
{
    wsd_generate_params_init(p);
    p->prompt = prompt;
    p->width = p->height = 64;
    p->steps = 2;
    p->seed = 7;
    p->sampler = WSD_SAMPLER_EULER;
}

/* wsd_generate must fail with `want`, leave *out empty, and name the problem. */
static void expect_generate(const char *label, const wsd_model *m, const wsd_generate_params *p, wsd_status want,
                            const char *const *needles)
{
    wsd_image img;
    memset(&img, 0x5a, sizeof img);
    wsd_status st = wsd_generate(ctx, m, p, &img);
    verdict(label, st, wsd_last_error(ctx), want, needles);
    if (st != WSD_OK) CHECKF(!img.rgb && !img.latents && !img.image_f32 && !img.width, "%s: out not zeroed", label);
    wsd_image_free(&img);
}

/* Runs `wsd generate -q ARGS`; returns the exit code, stderr in msg. */
static int run_cli(const char *args, char *msg, size_t cap)
{
    const char *errf = fmt("%s/cli_stderr.txt", tu_tmpdir());
    int st = system(fmt("%s generate -q %s > /dev/null 2> %s", cli, args, errf));
    msg[0] = 0;
    FILE *f = fopen(errf, "r");
    if (f) {
        size_t n = fread(msg, 1, cap - 1, f);
        msg[n] = 0;
        fclose(f);
    }
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_cli(const char *label, const char *args, int want_rc, const char *const *needles)
{
    char msg[8192];
    int rc = run_cli(args, msg, sizeof msg);
    int ok = rc == want_rc && has_all(msg, needles);
    tu_checks++;
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n') msg[--l] = 0;
    if (ok) {
        printf("ok   %s%-58s exit %d: %.200s\n", pass_tag, label, rc, msg);
        return;
    }
    tu_failures++;
    fprintf(stderr, "FAIL %s%s: `wsd generate %s` exited %d, want %d; stderr: %s\n  expected in it:", pass_tag, label, args, rc, want_rc,
            msg);
    for (int i = 0; needles[i]; i++) fprintf(stderr, " [%s]", needles[i]);
    fputc('\n', stderr);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---------------------------------------------------- safetensors rewriting */

typedef struct {
    char name[256], dtype[16];
    int ndim;
    int64_t shape[8];
    char begin[32], end[32]; /* as written into the header (may be nonsense) */
} entry;

typedef struct {
    entry *e;
    size_t n;
    uint8_t *file; /* the original bytes */
    size_t size, data_off;
} st_copy;

static int load_copy(const char *rel, st_copy *c)
{
    memset(c, 0, sizeof *c);
    c->file = slurp(fmt("%s/%s", tiny, rel), &c->size);
    if (!c->file) return 0;
    st_file f;
    wsd_err err = {0};
    if (st_open_buffer(c->file, c->size, rel, &f, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return 0;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | c->file[i];
    c->data_off = 8 + (size_t)hlen;
    c->n = f.count;
    c->e = calloc(c->n, sizeof *c->e);
    for (size_t i = 0; i < f.count; i++) {
        const st_tensor *t = &f.tensors[i];
        entry *e = &c->e[i];
        snprintf(e->name, sizeof e->name, "%s", t->name);
        snprintf(e->dtype, sizeof e->dtype, "%s", wsd_dtype_name(t->dtype));
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        size_t b = (size_t)(t->data - (c->file + c->data_off));
        snprintf(e->begin, sizeof e->begin, "%zu", b);
        snprintf(e->end, sizeof e->end, "%zu", b + t->nbytes);
    }
    st_close(&f);
    return 1;
}

static entry *find_entry(st_copy *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].name, name)) return &c->e[i];
    CHECKF(0, "no tensor %s", name);
    return NULL;
}

/* Header from the entries + the original data section. */
static uint8_t *copy_bytes(const st_copy *c, size_t *out_n)
{
    size_t cap = 256 + c->n * 512, n = 0;
    char *h = malloc(cap);
    n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < c->n; i++) {
        const entry *e = &c->e[i];
        n += (size_t)snprintf(h + n, cap - n, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name, e->dtype);
        for (int d = 0; d < e->ndim; d++) n += (size_t)snprintf(h + n, cap - n, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        n += (size_t)snprintf(h + n, cap - n, "],\"data_offsets\":[%s,%s]}", e->begin, e->end);
    }
    n += (size_t)snprintf(h + n, cap - n, "}");
    while (n % 8) h[n++] = ' ';
    size_t data = c->size - c->data_off, total = 8 + n + data;
    uint8_t *b = malloc(total);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, h, n);
    memcpy(b + 8 + n, c->file + c->data_off, data);
    free(h);
    *out_n = total;
    return b;
}

static void free_copy(st_copy *c)
{
    free(c->e);
    free(c->file);
}

/* The tiny model with UNET_W rebuilt from c. */
static const char *model_with(const char *name, const char *rel, const st_copy *c)
{
    const char *m = copy_model(name);
    size_t n;
    uint8_t *b = copy_bytes(c, &n);
    put(m, rel, b, n);
    free(b);
    return m;
}

/* ==================================================================== cases */

/* A. truncated at random offsets */
static void truncated_random(void)
{
    const char *files[] = {UNET_W, TE_W, VAE_W};
    for (size_t k = 0; k < 3; k++) {
        size_t n;
        uint8_t *orig = slurp(fmt("%s/%s", tiny, files[k]), &n);
        if (!orig) continue;
        for (int r = 0; r < 4; r++) {
            /* one cut in the header region, three anywhere */
            uint64_t hlen = 0;
            for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
            size_t cut = r == 0 ? (size_t)(rnd() % (8 + hlen)) : (size_t)(rnd() % n);
            const char *m = copy_model(fmt("trunc_%zu_%d", k, r));
            put(m, files[k], orig, cut);
            const char *path = fmt("%s/%s", m, files[k]);
            char label[160];
            snprintf(label, sizeof label, "%s cut at %zu of %zu", files[k], cut, n);
            const char *what = cut < 8 ? "truncated" : cut < 8 + hlen ? "runs past the end" : "truncated";
            expect_load(label, m, WSD_ERR_FORMAT, NEEDLES(path, what));
        }
        free(orig);
    }
    /* the text files of the folder, cut the same way */
    const char *texts[] = {"unet/config.json", "text_encoder/config.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json",
                           "tokenizer/tokenizer_config.json"};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        size_t n;
        uint8_t *orig = slurp(fmt("%s/%s", tiny, texts[k]), &n);
        if (!orig) continue;
        size_t cut = 1 + (size_t)(rnd() % (n - 2));
        const char *m = copy_model(fmt("trunc_text_%zu", k));
        put(m, texts[k], orig, cut);
        char label[160];
        snprintf(label, sizeof label, "%s cut at %zu of %zu", texts[k], cut, n);
        expect_load(label, m, WSD_ERR_FORMAT, NEEDLES(fmt("trunc_text_%zu/%s", k, texts[k]), "malformed JSON"));
        free(orig);
    }
}

/* B. header length edges */
static void header_lengths(void)
{
    size_t n;
    uint8_t *orig = slurp(fmt("%s/%s", tiny, UNET_W), &n);
    if (!orig) return;
    const uint64_t lens[] = {UINT64_MAX, (uint64_t)n, (uint64_t)n - 8 + 1};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++) orig[i] = (uint8_t)(lens[k] >> (8 * i));
        const char *m = copy_model(fmt("hlen_%d", k));
        put(m, UNET_W, orig, n);
        char label[96];
        snprintf(label, sizeof label, "header length %llu (file %zu bytes)", (unsigned long long)lens[k], n);
        expect_load(label, m, WSD_ERR_FORMAT, NEEDLES(fmt("%s/%s", m, UNET_W), fmt("header length %llu", (unsigned long long)lens[k]), "runs past the end"));
    }
    free(orig);
}

/* C. overlapping and out-of-range offsets */
static void bad_offsets(void)
{
    st_copy c;
    if (!load_copy(UNET_W, &c)) return;
    entry *w = find_entry(&c, "conv_in.weight"), *b = find_entry(&c, "conv_in.bias");
    if (!w || !b) { free_copy(&c); return; }
    entry sw = *w, sb = *b;
    const char *m;

    /* conv_in.bias moved onto the first bytes of conv_in.weight (right size) */
    long long wb = atoll(w->begin), bl = atoll(b->end) - atoll(b->begin);
    snprintf(b->begin, sizeof b->begin, "%lld", wb);
    snprintf(b->end, sizeof b->end, "%lld", wb + bl);
    m = model_with("overlap", UNET_W, &c);
    expect_load("two tensors share bytes", m, WSD_ERR_FORMAT, NEEDLES(fmt("%s/%s", m, UNET_W), "overlap", "conv_in."));
    *b = sb;

    /* end before begin */
    snprintf(w->begin, sizeof w->begin, "%s", sw.end);
    snprintf(w->end, sizeof w->end, "%s", sw.begin);
    m = model_with("end_before_begin", UNET_W, &c);
    expect_load("data_offsets end before they begin", m, WSD_ERR_FORMAT, NEEDLES("\"conv_in.weight\"", "end before they begin"));
    *w = sw;

    const char *bogus[][2] = {{"-4", "100"}, {"0.5", "8"}, {"9007199254740993", "9007199254740997"}, {"\"0\"", "4"}};
    for (int k = 0; k < 4; k++) {
        snprintf(w->begin, sizeof w->begin, "%s", bogus[k][0]);
        snprintf(w->end, sizeof w->end, "%s", bogus[k][1]);
        m = model_with(fmt("bogus_offsets_%d", k), UNET_W, &c);
        expect_load(fmt("data_offsets [%s, %s]", bogus[k][0], bogus[k][1]), m, WSD_ERR_FORMAT, NEEDLES("\"conv_in.weight\"", "bad data_offsets"));
        *w = sw;
    }
    free_copy(&c);
}

/* D. a dtype the shape does not fit */
static void dtype_mismatch(void)
{
    st_copy c;
    if (!load_copy(UNET_W, &c)) return;
    entry *w = find_entry(&c, "conv_in.weight");
    if (!w) { free_copy(&c); return; }
    const char *types[] = {"F16", "I64", "BF16"};
    for (int k = 0; k < 3; k++) {
        char saved[16];
        snprintf(saved, sizeof saved, "%s", w->dtype);
        snprintf(w->dtype, sizeof w->dtype, "%s", types[k]);
        const char *m = model_with(fmt("dtype_%s", types[k]), UNET_W, &c);
        snprintf(w->dtype, sizeof w->dtype, "%s", saved);
        expect_load(fmt("F32 data of conv_in.weight declared %s", types[k]), m, WSD_ERR_FORMAT,
                    NEEDLES(fmt("%s/%s", m, UNET_W), "\"conv_in.weight\"", fmt("bytes of %s but data_offsets span", types[k])));
    }
    free_copy(&c);
}

/* E. components of different architectures */
static void write_text_encoder(const char *model, int D, int layers, int inter, int vocab)
{
    st_writer *w = st_writer_new();
    wsd_err err = {0};
    size_t big = (size_t)vocab * D > (size_t)inter * D ? (size_t)vocab * D : (size_t)inter * D;
    uint16_t *z = calloc(big + 77 * (size_t)D, sizeof *z); /* F16 zeros */
    uint16_t *ones = malloc(sizeof *ones * (size_t)(D > inter ? D : inter));
    for (int i = 0; i < (D > inter ? D : inter); i++) ones[i] = 0x3c00;
#define ADD(name, data, ...)                                                                     \
    do {                                                                                         \
        int64_t sh_[] = {__VA_ARGS__};                                                           \
        CHECK(st_writer_add(w, name, WSD_DT_F16, (int)(sizeof sh_ / sizeof *sh_), sh_, data, &err) == WSD_OK); \
    } while (0)
    ADD("text_model.embeddings.token_embedding.weight", z, vocab, D);
    ADD("text_model.embeddings.position_embedding.weight", z, 77, D);
    for (int l = 0; l < layers; l++) {
        const char *p = fmt("text_model.encoder.layers.%d", l);
        char nm[256];
        const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"};
        for (int k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "%s.%s.weight", p, lin[k]);
            ADD(nm, z, D, D);
            snprintf(nm, sizeof nm, "%s.%s.bias", p, lin[k]);
            ADD(nm, z, D);
        }
        for (int k = 1; k <= 2; k++) {
            snprintf(nm, sizeof nm, "%s.layer_norm%d.weight", p, k);
            ADD(nm, ones, D);
            snprintf(nm, sizeof nm, "%s.layer_norm%d.bias", p, k);
            ADD(nm, z, D);
        }
        snprintf(nm, sizeof nm, "%s.mlp.fc1.weight", p);
        ADD(nm, z, inter, D);
        snprintf(nm, sizeof nm, "%s.mlp.fc1.bias", p);
        ADD(nm, z, inter);
        snprintf(nm, sizeof nm, "%s.mlp.fc2.weight", p);
        ADD(nm, z, D, inter);
        snprintf(nm, sizeof nm, "%s.mlp.fc2.bias", p);
        ADD(nm, z, D);
    }
    ADD("text_model.final_layer_norm.weight", ones, D);
    ADD("text_model.final_layer_norm.bias", z, D);
#undef ADD
    const char *path = fmt("%s/%s", model, TE_W);
    unlink(path);
    CHECKF(st_writer_save(w, path, &err) == WSD_OK, "%s", err.msg);
    st_writer_free(w);
    free(z);
    free(ones);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"CLIPTextModel\"], \"hidden_act\": \"gelu\", \"hidden_size\": %d, \"intermediate_size\": %d,"
             " \"max_position_embeddings\": 77, \"num_attention_heads\": %d, \"num_hidden_layers\": %d, \"vocab_size\": %d,"
             " \"layer_norm_eps\": 1e-05, \"projection_dim\": %d}",
             D, inter, D / 32, layers, vocab, D);
    put(model, "text_encoder/config.json", cfg, strlen(cfg));
}

static void architectures(void)
{
    /* the text encoder of an SD 2.x-like model (96 wide here; 1024 in SD 2.x), the UNet of SD 1.x (64 here; 768) */
    const char *m = copy_model("sd2_text_encoder");
    write_text_encoder(m, 96, 1, 384, 49408);
    expect_load("SD 2.x-style text encoder with an SD 1.x UNet", m, WSD_ERR_FORMAT,
                NEEDLES("text encoder is 96 wide", "cross_attention_dim is 64", "different architectures"));
    /* the same file set with a matching width loads: the writer above is sound */
    m = copy_model("text_encoder_64");
    write_text_encoder(m, 64, 1, 256, 49408);
    wsd_model *ok = NULL;
    CHECKF(wsd_model_load(ctx, m, &ok) == WSD_OK, "a rewritten 64-wide text encoder should load: %s", wsd_last_error(ctx));
    wsd_model_free(ok);
    /* a text encoder whose embedding has fewer rows than the tokenizer has ids */
    m = copy_model("small_vocab");
    write_text_encoder(m, 64, 1, 256, 1000);
    expect_load("tokenizer larger than the text encoder's vocabulary", m, WSD_ERR_FORMAT,
                NEEDLES("tokenizer has 49408 tokens", "vocab_size is 1000"));
    /* an inpainting UNet (9 input channels) */
    m = copy_model("inpainting");
    char *cfg = edited("unet/config.json", "\"in_channels\": 4", "\"in_channels\": 9");
    if (cfg) {
        put(m, "unet/config.json", cfg, strlen(cfg));
        free(cfg);
        expect_load("inpainting UNet (9 input channels)", m, WSD_ERR_UNSUPPORTED, NEEDLES("takes 9", "latents have 4", "inpainting"));
    }
}

/* F. non-finite weights */
static void nonfinite_weights(void)
{
    static const struct { const char *file, *tensor, *label, *needle; float value; int cli; } cases[] = {
        {UNET_W, "conv_out.bias", "NaN in a UNet bias", "non-finite values after step 1 of 2", NAN, 1},
        {UNET_W, "conv_in.weight", "+Inf in a UNet kernel", "non-finite values after step 1 of 2", INFINITY, 0},
        {TE_W, "text_model.final_layer_norm.bias", "-Inf in the text encoder", "non-finite values after step 1 of 2", -INFINITY, 0},
        {VAE_W, "decoder.conv_out.bias", "NaN in the VAE decoder", "non-finite values in the decoded image", NAN, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n;
        uint8_t *b = slurp(fmt("%s/%s", tiny, cases[k].file), &n);
        if (!b) continue;
        st_file f;
        wsd_err err = {0};
        if (st_open_buffer(b, n, cases[k].file, &f, &err) != WSD_OK) { CHECKF(0, "%s", err.msg); free(b); continue; }
        const st_tensor *t = st_find(&f, cases[k].tensor);
        CHECKF(t && t->dtype == WSD_DT_F32, "tiny-sd15 has no F32 %s", cases[k].tensor);
        if (t) memcpy((uint8_t *)t->data, &cases[k].value, 4); /* the buffer is ours */
        st_close(&f);
        const char *m = copy_model(fmt("nonfinite_%zu", k));
        put(m, cases[k].file, b, n);
        free(b);
        wsd_model *model = NULL;
        if (wsd_model_load(ctx, m, &model) != WSD_OK) { CHECKF(0, "%s", wsd_last_error(ctx)); continue; }
        wsd_generate_params p;
        small_params(&p, "a photo");
        expect_generate(cases[k].label, model, &p, WSD_ERR_NUMERIC, NEEDLES(cases[k].needle));
        wsd_model_free(model);
        if (cases[k].cli) {
            const char *png = fmt("%s/nonfinite.png", tu_tmpdir());
            unlink(png);
            expect_cli("CLI on NaN weights: exit 1, no black PNG", fmt("-m %s -p x --steps 2 --sampler euler -W 64 -H 64 -o %s", m, png), 1,
                       NEEDLES("non-finite values after step 1 of 2"));
            CHECKF(access(png, F_OK) != 0, "the CLI wrote %s from non-finite latents", png);
        }
    }
}

/* G. parameters out of range */
static void parameters(const wsd_model *m)
{
    wsd_generate_params p;
    static const int steps[] = {0, -5, 1001, INT_MAX};
    for (int k = 0; k < 4; k++) {
        small_params(&p, "x");
        p.steps = steps[k];
        expect_generate(fmt("steps %d", steps[k]), m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES(fmt("steps %d", steps[k]), "between 1 and 1000"));
    }
    static const int sizes[][2] = {{7, 64}, {64, 12}, {4104, 64}, {64, -8}, {INT_MIN, 64}, {64, 4096 + 8}};
    for (int k = 0; k < 6; k++) {
        small_params(&p, "x");
        p.width = sizes[k][0];
        p.height = sizes[k][1];
        expect_generate(fmt("size %dx%d", sizes[k][0], sizes[k][1]), m, &p, WSD_ERR_INVALID_ARGUMENT,
                        NEEDLES(fmt("size %dx%d", sizes[k][0], sizes[k][1]), "multiples of 8 between 8 and 4096"));
    }
    static const float guid[] = {NAN, -0.5f, 100.5f, INFINITY, -INFINITY};
    for (int k = 0; k < 5; k++) {
        small_params(&p, "x");
        p.guidance = guid[k];
        expect_generate(fmt("guidance %g", (double)guid[k]), m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("guidance", "between 0 and 100"));
    }
    uint8_t *rgb = calloc(64 * 64 * 3, 1);
    static const float str[] = {0.0f, -0.1f, 1.01f, NAN, INFINITY};
    for (int k = 0; k < 5; k++) {
        small_params(&p, "x");
        p.init_image = rgb;
        p.strength = str[k];
        expect_generate(fmt("img2img strength %g", (double)str[k]), m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("strength", "(0, 1]"));
    }
    free(rgb);
    small_params(&p, "x");
    p.sampler = (wsd_sampler)99;
    expect_generate("sampler 99", m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("unknown sampler 99"));
    small_params(&p, "x");
    p.sampler = (wsd_sampler)-1;
    expect_generate("sampler -1", m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("unknown sampler -1"));
    /* seeds: every int64 is valid in the library (< 0 = random); the CLI takes -1..2^63-1 */
    expect_cli("--seed -2", "-p x --seed -2", 2, NEEDLES("--seed \"-2\"", "-1 for random"));
    expect_cli("--seed 2^63", "-p x --seed 9223372036854775808", 2, NEEDLES("--seed \"9223372036854775808\""));
    expect_cli("--seed 1.5", "-p x -s 1.5", 2, NEEDLES("--seed \"1.5\""));
    expect_cli("--steps 1001", "-p x --steps 1001", 2, NEEDLES("--steps 1001", "between 1 and 1000"));
    expect_cli("--width 4104", "-p x -W 4104", 2, NEEDLES("-W \"4104\"", "multiple of 8"));
    expect_cli("--cfg-scale 1e39 (not a float)", "-p x --cfg-scale 1e39", 2, NEEDLES("--cfg-scale \"1e39\""));
    expect_cli("--strength 1.5", "-p x -i x.png --strength 1.5", 2, NEEDLES("--strength \"1.5\""));
    expect_cli("--threads -1", "-p x -t -1", 2, NEEDLES("--threads \"-1\""));
}

/* H. init images */
static void init_images(void)
{
    const char *dir = tu_tmpdir();
    uint8_t *rgb = calloc(64 * 64 * 3, 1);
    wsd_err err = {0};
    const char *p32 = fmt("%s/init32.png", dir), *p64 = fmt("%s/init64.png", dir);
    CHECK(pngio_write_rgb(p32, rgb, 32, 32, NULL, 0, &err) == WSD_OK);
    CHECK(pngio_write_rgb(p64, rgb, 64, 64, NULL, 0, &err) == WSD_OK);
    free(rgb);
    char out[1400]; /* fmt's buffers are reused: keep our own copy */
    snprintf(out, sizeof out, "%s/img2img.png", dir);
    expect_cli("init image 32x32 for a 64x64 output", fmt("-p x -i %s -o %s", p32, out), 2,
               NEEDLES(p32, "is 32x32 but the output is 64x64"));
    expect_cli("init image 64x64 for a 64x128 output", fmt("-p x -i %s -H 128 -o %s", p64, out), 2,
               NEEDLES(p64, "is 64x64 but the output is 64x128"));
    size_t n;
    uint8_t *png = slurp(p64, &n);
    if (png) {
        const char *t = fmt("%s/truncated.png", dir);
        wsd_write_file(t, png, n / 2, &err);
        expect_cli("truncated PNG", fmt("-p x -i %s -o %s", t, out), 2, NEEDLES(t, "truncated"));
        png[n - 20] ^= 0x55; /* inside the IDAT data: its CRC no longer matches */
        const char *c = fmt("%s/badcrc.png", dir);
        wsd_write_file(c, png, n, &err);
        expect_cli("PNG with a bad CRC", fmt("-p x -i %s -o %s", c, out), 2, NEEDLES(c, "corrupt or truncated PNG"));
        free(png);
    }
    char e[1400], j[1400];
    snprintf(e, sizeof e, "%s/empty.png", dir);
    wsd_write_file(e, "", 0, &err);
    expect_cli("empty file as init image", fmt("-p x -i %s -o %s", e, out), 2, NEEDLES(e, "not a PNG"));
    snprintf(j, sizeof j, "%s/photo.jpg", dir);
    wsd_write_file(j, "\xff\xd8\xff\xe0\0\x10JFIF\0", 11, &err);
    expect_cli("a JPEG as init image", fmt("-p x -i %s -o %s", j, out), 2, NEEDLES(j, "not a PNG"));
    expect_cli("a directory as init image", fmt("-p x -i %s -o %s", dir, out), 2, NEEDLES(dir, "is a directory"));
    CHECKF(access(out, F_OK) != 0, "a failed img2img wrote %s", out);
}

/* I. prompts */
static void prompts(const wsd_model *m)
{
    wsd_generate_params p;
    wsd_image img;
    small_params(&p, "");
    p.steps = 1;
    CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_OK && img.rgb, "empty prompt: %s", wsd_last_error(ctx));
    printf("ok   %-58s an image\n", "empty prompt");
    wsd_image_free(&img);

    size_t big = 1u << 20;
    char *words = malloc(big + 1), *one = malloc(big + 1);
    const char *phrase = "a photo of a cat, ";
    for (size_t i = 0; i < big; i++) {
        words[i] = phrase[i % strlen(phrase)];
        one[i] = "ab"[i % 2]; /* one word of a million letters: no spaces, no merges cached */
    }
    words[big] = one[big] = 0;
    const char *texts[] = {words, one}, *labels[] = {"1 MB prompt of words", "1 MB prompt without a space"};
    for (int k = 0; k < 2; k++) {
        int32_t ids[WSD_MAX_TOKENS];
        int nt = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        wsd_status st = wsd_tokenize(ctx, m, texts[k], ids, &nt);
        CHECKF(st == WSD_OK && nt > 75, "%s: tokenize: %s (%d tokens)", labels[k], wsd_last_error(ctx), nt);
        small_params(&p, texts[k]);
        p.steps = 1;
        p.negative_prompt = texts[1 - k];
        st = wsd_generate(ctx, m, &p, &img);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        CHECKF(st == WSD_OK && img.rgb, "%s: %s", labels[k], wsd_last_error(ctx));
        /* a hang shows up as a ctest timeout; this bounds the cost well below that */
        CHECKF(s < 60, "%s took %.1f s", labels[k], s);
        printf("ok   %-58s an image; %d tokens counted, 75 used; %.2f s\n", labels[k], nt, s);
        wsd_image_free(&img);
    }
    free(words);
    free(one);

    /* the CLI: an empty prompt gives an image; a long one (100 KB: one argv
     * string is limited to 128 KiB on Linux, so 1 MB cannot be passed) warns
     * that only 75 tokens are used */
    const char *dir = tu_tmpdir();
    char out[1400], txt[1400];
    snprintf(out, sizeof out, "%s/prompt.png", dir);
    snprintf(txt, sizeof txt, "%s/prompt.txt", dir);
    unlink(out);
    expect_cli("CLI: empty prompt", fmt("-p '' --steps 1 -W 64 -H 64 -o %s", out), 0, NEEDLES(""));
    CHECKF(access(out, F_OK) == 0, "CLI: empty prompt wrote no %s", out);
    size_t cli_big = 100000;
    char *hundred = malloc(cli_big);
    for (size_t i = 0; i < cli_big; i++) hundred[i] = phrase[i % strlen(phrase)];
    wsd_err err = {0};
    CHECK(wsd_write_file(txt, hundred, cli_big, &err) == WSD_OK);
    free(hundred);
    unlink(out);
    expect_cli("CLI: 100 KB prompt", fmt("-p \"$(cat %s)\" --steps 1 -W 64 -H 64 -o %s", txt, out), 0,
               NEEDLES("warning: the prompt is 33333 tokens long; only the first 75 are used"));
    CHECKF(access(out, F_OK) == 0, "CLI: 100 KB prompt wrote no %s", out);

    small_params(&p, "caf\xc3 au lait");
    expect_generate("prompt with invalid UTF-8", m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("prompt", "byte offset 3"));
    small_params(&p, "fine");
    p.negative_prompt = "\xff\xfe";
    expect_generate("negative prompt with invalid UTF-8", m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("negative prompt", "byte offset 0"));
    small_params(&p, NULL);
    expect_generate("NULL prompt", m, &p, WSD_ERR_INVALID_ARGUMENT, NEEDLES("prompt is NULL"));
    expect_generate("NULL params", m, NULL, WSD_ERR_INVALID_ARGUMENT, NEEDLES("required"));
}

/* J. paths */
static void paths(void)
{
    const char *dir = tu_tmpdir();
    const char *empty = fmt("%s/empty_folder", dir);
    mkdir(empty, 0755);
    expect_load("an empty folder as the model", empty, WSD_ERR_FORMAT, NEEDLES(empty, "is this a diffusers model folder?"));
    const char *file = fmt("%s/a_file", dir);
    wsd_err err = {0};
    wsd_write_file(file, "x", 1, &err);
    const char *through = fmt("%s/model", file);
    expect_load("a model path through a file", through, WSD_ERR_IO, NEEDLES(through, "no such file"));
    expect_load("a nonexistent checkpoint", fmt("%s/nope.safetensors", dir), WSD_ERR_IO, NEEDLES("nope.safetensors", "no such file"));
    expect_cli("the output path is a directory", fmt("-p x --steps 1 -o %s", dir), 1, NEEDLES(dir));
    expect_cli("--latents is a directory", fmt("-p x --steps 1 --latents %s -o %s/l.png", dir, dir), 2, NEEDLES(dir, "is a directory"));
    expect_cli("the model path is a directory of junk", fmt("-p x -m %s -o %s/j.png", empty, dir), 1, NEEDLES(empty, "missing"));
}

/* What a child process found: status and message (or why it could not tell). */
typedef struct {
    int status;
    char msg[1024];
} child_result;

/* Runs fn(arg) in a child process in folder `cwd` with the privileges of uid/gid
 * 65534 ("nobody") when this test runs as root: root reads files whatever their
 * mode, so a chmod 000 file is unreadable only to someone else. Paths inside
 * cwd are then reached without needing search permission on its parents.
 * Returns 0 if the child could not drop privileges (res->msg says why). */
static int as_nobody(const char *cwd, void (*fn)(const void *, child_result *), const void *arg, child_result *res)
{
    int fds[2];
    memset(res, 0, sizeof *res);
    if (pipe(fds) != 0) {
        snprintf(res->msg, sizeof res->msg, "pipe: %s", strerror(errno));
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_result r;
        memset(&r, 0, sizeof r);
        r.status = -1;
        if (chdir(cwd) != 0) {
            snprintf(r.msg, sizeof r.msg, "chdir %s: %s", cwd, strerror(errno));
        } else if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
            snprintf(r.msg, sizeof r.msg, "cannot become uid 65534: %s", strerror(errno));
        } else {
            fn(arg, &r);
        }
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1); /* _exit: no atexit handlers (LeakSanitizer) in the child */
    }
    close(fds[1]);
    ssize_t got = pid > 0 ? read(fds[0], res, sizeof *res) : -1;
    close(fds[0]);
    int wst = 0;
    if (pid > 0) waitpid(pid, &wst, 0);
    if (pid < 0 || got != (ssize_t)sizeof *res || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        snprintf(res->msg, sizeof res->msg, "child: %s", pid < 0 ? strerror(errno) : WIFSIGNALED(wst) ? "killed by a signal" : "no result");
        res->status = -2; /* a crash in the child: a failure, not a skip */
        return 1;
    }
    return res->status != -1;
}

static void child_load(const void *arg, child_result *r)
{
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.threads = 1;
    wsd_context *c;
    if (wsd_context_create(&o, &c, r->msg, sizeof r->msg) != WSD_OK) return;
    wsd_model *m = NULL;
    r->status = (int)wsd_model_load(c, (const char *)arg, &m);
    snprintf(r->msg, sizeof r->msg, "%s", wsd_last_error(c));
    wsd_model_free(m);
    wsd_context_free(c);
}

static void child_png(const void *arg, child_result *r)
{
    pngio_image im;
    wsd_err err = {0};
    r->status = (int)pngio_read_rgb((const char *)arg, &im, &err);
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    if (r->status == WSD_OK) pngio_image_free(&im);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = slurp(from, &n);
    if (!b) return;
    unlink(to);
    wsd_err err = {0};
    CHECKF(wsd_write_file(to, b, n, &err) == WSD_OK, "%s", err.msg);
    free(b);
}

/* A FIFO at path (replacing what was there). */
static int make_fifo(const char *path)
{
    unlink(path);
    int ok = mkfifo(path, 0644) == 0;
    CHECKF(ok, "mkfifo %s: %s", path, strerror(errno));
    return ok;
}

/* J, continued: paths that cannot be read */
static void unreadable_paths(void)
{
    const char *dir = tu_tmpdir();
    child_result r;

    /* chmod 000 weights. The folder holds real copies of the files read before
     * them (model_index.json, text_encoder/config.json), so the child reads
     * nothing outside it. */
    const char *m = copy_model("unreadable");
    copy_file(fmt("%s/model_index.json", tiny), fmt("%s/model_index.json", m));
    copy_file(fmt("%s/text_encoder/config.json", tiny), fmt("%s/text_encoder/config.json", m));
    put(m, TE_W, "not read", 8);
    chmod(fmt("%s/%s", m, TE_W), 0);
    chmod(m, 0755);
    if (as_nobody(m, child_load, ".", &r))
        verdict("unreadable weights file (mode 000, read as uid 65534)", (wsd_status)r.status, r.msg, WSD_ERR_IO,
                NEEDLES("./" TE_W, "cannot open", "Permission denied"));
    else
        printf("skip unreadable weights file: %s (the FIFO, socket and EIO cases below still run)\n", r.msg);

    const char *png = fmt("%s/unreadable.png", dir);
    uint8_t rgb[8 * 8 * 3] = {0};
    wsd_err err = {0};
    unlink(png);
    CHECK(pngio_write_rgb(png, rgb, 8, 8, NULL, 0, &err) == WSD_OK);
    chmod(png, 0);
    if (as_nobody(dir, child_png, "unreadable.png", &r))
        verdict("unreadable init image (mode 000, read as uid 65534)", (wsd_status)r.status, r.msg, WSD_ERR_IO,
                NEEDLES("unreadable.png", "cannot open", "Permission denied"));
    else
        printf("skip unreadable init image: %s\n", r.msg);

    /* FIFOs with no writer: open(2) would wait for one forever; a hang here
     * ends in SIGALRM instead of the ctest timeout */
    alarm(60);
    m = copy_model("fifo_weights");
    if (make_fifo(fmt("%s/%s", m, UNET_W)))
        expect_load("UNet weights are a FIFO with no writer", m, WSD_ERR_IO,
                    NEEDLES(fmt("%s/%s", m, UNET_W), "is a FIFO (named pipe), expected a file"));
    m = copy_model("fifo_config");
    if (make_fifo(fmt("%s/unet/config.json", m)))
        expect_load("unet/config.json is a FIFO with no writer", m, WSD_ERR_IO,
                    NEEDLES(fmt("%s/unet/config.json", m), "is a FIFO (named pipe) and nothing was written to it"));
    const char *fifo = fmt("%s/model.fifo", dir);
    if (make_fifo(fifo)) expect_load("the model path is a FIFO", fifo, WSD_ERR_IO, NEEDLES(fifo, "is a FIFO (named pipe), expected a file"));
    char f2[1400];
    snprintf(f2, sizeof f2, "%s/init.fifo", dir);
    if (make_fifo(f2))
        expect_cli("CLI: init image is a FIFO with no writer", fmt("-p x -i %s -o %s/fifo.png", f2, dir), 2,
                   NEEDLES(f2, "is a FIFO (named pipe) and nothing was written to it"));
    alarm(0);

    /* a socket where the weights should be (open(2) fails with ENXIO) */
    m = copy_model("socket_weights");
    const char *sp = fmt("%s/%s", m, VAE_W);
    unlink(sp);
    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* relative to the folder: socket paths are limited to 107 bytes */
    char here[PATH_MAX];
    int bound = 0;
    if (sfd >= 0 && getcwd(here, sizeof here) && chdir(fmt("%s/vae", m)) == 0) {
        snprintf(sa.sun_path, sizeof sa.sun_path, "diffusion_pytorch_model.safetensors");
        bound = bind(sfd, (struct sockaddr *)&sa, sizeof sa) == 0;
        CHECKF(chdir(here) == 0, "chdir back: %s", strerror(errno));
    }
    CHECKF(bound, "cannot bind a socket at %s: %s", sp, strerror(errno));
    if (bound) expect_load("VAE weights are a socket", m, WSD_ERR_IO, NEEDLES(sp, "is a socket, expected a file"));
    if (sfd >= 0) close(sfd);

    /* a device as the model */
    expect_load("the model path is a character device (/dev/null)", "/dev/null", WSD_ERR_IO,
                NEEDLES("/dev/null: is a character device, expected a file"));

    /* a device as the init image: refused at once (it used to be read up to
     * the 1 GiB PNG limit before the size check refused it) */
    expect_cli("CLI: init image is a character device (/dev/zero)", fmt("-p x -i /dev/zero -o %s/zero.png", dir), 2,
               NEEDLES("/dev/zero: is a character device, expected a file"));

    /* a file that opens but whose read fails: /proc/self/mem has nothing mapped at offset 0 */
    if (access("/proc/self/mem", F_OK) == 0)
        expect_cli("CLI: init image whose read fails (/proc/self/mem)", fmt("-p x -i /proc/self/mem -o %s/eio.png", dir), 2,
                   NEEDLES("/proc/self/mem: read error: Input/output error"));
    else
        printf("skip a read that fails: no /proc/self/mem\n");
}

/* K. missing pieces, through the public API */
static void missing_pieces(void)
{
    const char *m = copy_model("no_vae");
    unlink(fmt("%s/vae/config.json", m));
    unlink(fmt("%s/%s", m, VAE_W));
    CHECK(rmdir(fmt("%s/vae", m)) == 0);
    expect_load("missing component (no vae/ folder)", m, WSD_ERR_FORMAT, NEEDLES(fmt("%s/vae/config.json", m), "missing"));
    m = copy_model("no_unet_weights");
    unlink(fmt("%s/%s", m, UNET_W));
    expect_load("missing component (no UNet weights)", m, WSD_ERR_FORMAT, NEEDLES(fmt("%s/%s", m, UNET_W), "missing (the unet weights)"));
    m = copy_model("no_tokenizer");
    for (size_t i = 0; i < N_FILES; i++)
        if (!strncmp(model_files[i], "tokenizer/", 10)) unlink(fmt("%s/%s", m, model_files[i]));
    CHECK(rmdir(fmt("%s/tokenizer", m)) == 0);
    expect_load("model folder without a tokenizer", m, WSD_ERR_FORMAT,
                NEEDLES(fmt("%s/tokenizer", m), "the model has no tokenizer", "vocab.json", "merges.txt"));
}

int main(void)
{
    const char *t = tu_shared("reference/tiny-sd15");
    if (!realpath(t, tiny)) {
        CHECKF(0, "%s: %s", t, strerror(errno));
        return tu_finish();
    }
    snprintf(cli, sizeof cli, "%s/wsd", WSD_BINARY_DIR);
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.threads = 2;
    char msg[512];
    if (wsd_context_create(&o, &ctx, msg, sizeof msg) != WSD_OK) {
        CHECKF(0, "context: %s", msg);
        return tu_finish();
    }
    wsd_model *shapes = NULL;
    CHECKF(wsd_model_load(ctx, NULL, &shapes) == WSD_OK, "embedded model: %s", wsd_last_error(ctx));
    /* fixed by default so CI is reproducible; WSD_MATRIX_SEED=N tries other cut points */
    const char *seed = getenv("WSD_MATRIX_SEED");
    if (seed && strtoull(seed, NULL, 0)) rng_state = strtoull(seed, NULL, 0);
    printf("-- A. truncated at random offsets (xorshift seed %#llx; WSD_MATRIX_SEED overrides)\n", (unsigned long long)rng_state);
    truncated_random();
    printf("-- B. header length\n");
    header_lengths();
    printf("-- C. overlapping and out-of-range offsets\n");
    bad_offsets();
    printf("-- D. dtype vs shape\n");
    dtype_mismatch();
    printf("-- E. architectures\n");
    architectures();
    printf("-- F. non-finite weights\n");
    nonfinite_weights();
    if (shapes) {
        printf("-- G. parameters out of range\n");
        parameters(shapes);
        printf("-- I. prompts\n");
        prompts(shapes);
    }
    printf("-- H. init images\n");
    init_images();
    printf("-- J. paths\n");
    paths();
    unreadable_paths();
    printf("-- K. missing component, no tokenizer\n");
    missing_pieces();
    /* The browser build opens weight files lazily (st_open_lazy: the header
     * only, tensors read with pread when needed); WSD_LAZY_WEIGHTS=1 makes the
     * native loader do the same. The cases that reach the weight files again
     * that way (the CLI children inherit it). */
    printf("-- A-D, F, J again with lazily opened weight files (WSD_LAZY_WEIGHTS=1, as in the browser)\n");
    setenv("WSD_LAZY_WEIGHTS", "1", 1);
    pass_tag = "[lazy] ";
    truncated_random();
    header_lengths();
    bad_offsets();
    dtype_mismatch();
    nonfinite_weights();
    unreadable_paths();
    unsetenv("WSD_LAZY_WEIGHTS");
    pass_tag = "";
    wsd_model_free(shapes);
    wsd_context_free(ctx);
    return tu_finish();
}
