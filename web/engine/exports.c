/* The JS bridge of the wasm engine: the functions web/worker.js calls.
 *
 * Everything here is a thin wrapper over the public API in include/wsd.h,
 * shaped for JS: plain integer/float arguments, pointers into wasm memory,
 * no structs to lay out on the JS side. Each export's JS name is given by
 * EXPORT(...) (the C name has a wsdjs_ prefix to stay out of the engine's way).
 *
 * Conventions:
 *  - Strings from JS are NUL-terminated UTF-8 that JS wrote with alloc().
 *  - Calls that fail return 0 (pointers) or a wsd_status (> 0); the reason is
 *    then in last_message() (context-free failures) or last_error(ctx).
 *  - Results too wide for one return value (token ids, the image) stay in
 *    static storage here and are read with the getters below; the worker is
 *    single-threaded and runs one call at a time.
 *
 * The engine's C API grows during development: a wsd_* function that is not
 * defined yet becomes an "env" import, which the loader turns into a
 * "not available in this build" error instead of failing to instantiate. */
#include "wsd.h"
#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name), used))
#define IMPORT(name) __attribute__((import_module("wsd"), import_name(#name)))

/* Progress from the engine to JS (worker.js). Returns non-zero to cancel. */
IMPORT(progress) int wsdjs_import_progress(int step, int total, const uint8_t *preview, int pw, int ph);

static char g_message[1024];
static wsd_status g_status; /* of the last context_create / model_load */

static void set_message(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= sizeof g_message) n = sizeof g_message - 1;
    if (n) memcpy(g_message, s, n);
    g_message[n] = 0;
}

/* ---- memory and strings ------------------------------------------------ */

EXPORT(alloc) void *wsdjs_alloc(size_t n) { return malloc(n ? n : 1); }
EXPORT(release) void wsdjs_release(void *p) { free(p); }
EXPORT(version) const char *wsdjs_version(void) { return WSD_VERSION; }
EXPORT(status_name) const char *wsdjs_status_name(int s) { return wsd_status_name((wsd_status)s); }
EXPORT(last_message) const char *wsdjs_last_message(void) { return g_message; }
EXPORT(abi_version) int wsdjs_abi_version(void) { return 1; }
EXPORT(last_status) int wsdjs_last_status(void) { return (int)g_status; }

/* ---- context --------------------------------------------------------------- */

/* backend: 0 CPU, 1 WebGPU (wsd_backend_kind). Returns the context or 0. */
EXPORT(context_create) wsd_context *wsdjs_context_create(int backend, int threads, int gpu_default_limits)
{
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.backend = (wsd_backend_kind)backend;
    o.threads = threads;
    o.gpu_default_limits = gpu_default_limits;
    wsd_context *ctx = NULL;
    char msg[sizeof g_message];
    msg[0] = 0;
    wsd_status s = wsd_context_create(&o, &ctx, msg, sizeof msg);
    g_status = s;
    if (s != WSD_OK) {
        set_message(msg[0] ? msg : wsd_status_name(s));
        return NULL;
    }
    set_message("");
    return ctx;
}

EXPORT(context_free) void wsdjs_context_free(wsd_context *ctx) { wsd_context_free(ctx); }
EXPORT(last_error) const char *wsdjs_last_error(const wsd_context *ctx) { return ctx ? wsd_last_error(ctx) : g_message; }

/* ---- models ------------------------------------------------------------ */


/* path: a folder or .safetensors in the worker's virtual file system ("" = embedded default). */
EXPORT(model_load) wsd_model *wsdjs_model_load(wsd_context *ctx, const char *path)
{
    wsd_model *m = NULL;
    g_status = wsd_model_load(ctx, path, &m);
    if (g_status != WSD_OK) {
        set_message(wsd_last_error(ctx));
        return NULL;
    }
    return m;
}

EXPORT(model_free) void wsdjs_model_free(wsd_model *m) { wsd_model_free(m); }

/* ---- tokenizer --------------------------------------------------------- */

static int32_t g_ids[WSD_MAX_TOKENS];

/* Returns the number of prompt tokens (before truncation to 75), or -status. */
EXPORT(tokenize) int wsdjs_tokenize(wsd_context *ctx, const wsd_model *model, const char *text)
{
    int n = 0;
    wsd_status s = wsd_tokenize(ctx, model, text, g_ids, &n);
    if (s != WSD_OK) {
        set_message(ctx ? wsd_last_error(ctx) : wsd_status_name(s));
        return -(int)s;
    }
    return n;
}

/* A tokenizer on its own, for the page's live "n/75" count: it needs only a
 * model's tokenizer/ files, not its weights. dir: a tokenizer folder or a
 * diffusers model folder (tok_load_dir). Returns the tokenizer or 0. */
EXPORT(tokenizer_load) tok_tokenizer *wsdjs_tokenizer_load(const char *dir)
{
    wsd_err err;
    memset(&err, 0, sizeof err);
    tok_tokenizer *tok = NULL;
    if (tok_load_dir(dir, &tok, &err) != WSD_OK) {
        set_message(err.msg[0] ? err.msg : wsd_status_name(err.code));
        return NULL;
    }
    return tok;
}

EXPORT(tokenizer_free) void wsdjs_tokenizer_free(tok_tokenizer *tok) { tok_free(tok); }

/* Like tokenize(), with a tokenizer from tokenizer_load. len: bytes of text. */
EXPORT(tokenizer_encode) int wsdjs_tokenizer_encode(const tok_tokenizer *tok, const char *text, size_t len)
{
    wsd_err err;
    memset(&err, 0, sizeof err);
    int n = 0;
    wsd_status s = tok_encode(tok, text, len, g_ids, &n, &err);
    if (s != WSD_OK) {
        set_message(err.msg);
        return -(int)s;
    }
    return n;
}

/* The 77 ids of the last tokenize() (BOS, tokens, EOS, padding). */
EXPORT(token_ids) const int32_t *wsdjs_token_ids(void) { return g_ids; }

/* ---- generation -------------------------------------------------------- */

static wsd_image g_image;

static int progress_trampoline(void *user, int step, int total, const uint8_t *preview, int pw, int ph)
{
    (void)user;
    return wsdjs_import_progress(step, total, preview, pw, ph);
}

/* Runs one generation. seed: < 0 for random (a double, so every JS integer
 * up to 2^53 passes exactly). sampler: wsd_sampler. init_image: RGB of
 * width x height or 0. latents_init: the initial noise, float32
 * [1,4,height/8,width/8], or 0 for the seed's (an exact-testing hook).
 * Returns a wsd_status; on WSD_OK the image is read with image_*() and
 * released with image_free(). */
EXPORT(generate) int wsdjs_generate(wsd_context *ctx, const wsd_model *model,
                                    const char *prompt, const char *negative,
                                    int width, int height, int steps, float guidance,
                                    double seed, int sampler,
                                    const uint8_t *init_image, float strength, int preview_every,
                                    const float *latents_init)
{
    wsd_image_free(&g_image);
    memset(&g_image, 0, sizeof g_image);
    wsd_generate_params p;
    wsd_generate_params_init(&p);
    p.prompt = prompt;
    p.negative_prompt = negative;
    p.width = width;
    p.height = height;
    p.steps = steps;
    p.guidance = guidance;
    p.seed = (int64_t)seed;
    p.sampler = (wsd_sampler)sampler;
    p.init_image = init_image;
    p.strength = strength;
    p.progress = progress_trampoline;
    p.progress_user = NULL;
    p.preview_every = preview_every;
    p.latents_init = latents_init; /* testing: given initial noise [1,4,h/8,w/8] instead of the seed's */
    wsd_status s = wsd_generate(ctx, model, &p, &g_image);
    if (s != WSD_OK)
        set_message(wsd_last_error(ctx));
    return (int)s;
}

EXPORT(image_rgb) const uint8_t *wsdjs_image_rgb(void) { return g_image.rgb; }
EXPORT(image_width) int wsdjs_image_width(void) { return g_image.width; }
EXPORT(image_height) int wsdjs_image_height(void) { return g_image.height; }
/* The last image's final latents [1,4,h/8,w/8] and float image [h,w,3] in [0,1] (for exact tests). */
EXPORT(image_latents) const float *wsdjs_image_latents(void) { return g_image.latents; }
EXPORT(image_f32) const float *wsdjs_image_f32(void) { return g_image.image_f32; }
EXPORT(image_seed) double wsdjs_image_seed(void) { return (double)g_image.seed; }
EXPORT(image_free) void wsdjs_image_free(void)
{
    wsd_image_free(&g_image);
    memset(&g_image, 0, sizeof g_image);
}
