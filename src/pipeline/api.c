/* The public API (include/wsd.h): contexts, model loading (including the
 * embedded default model) and tokenization. Generation is in generate.c. */
#include "io/file.h"
#include "pipeline/pipeline.h"
#include "tokenizer/tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsd_context_options_init(wsd_context_options *o)
{
    memset(o, 0, sizeof *o);
    o->backend = WSD_BACKEND_CPU;
}

wsd_status wsd_context_create(const wsd_context_options *opts, wsd_context **out, char *err_msg, size_t err_cap)
{
    *out = NULL;
    wsd_context_options o;
    if (opts) o = *opts;
    else wsd_context_options_init(&o);
    wsd_context *ctx = calloc(1, sizeof *ctx);
    wsd_err err = {0};
    wsd_status st = WSD_OK;
    if (!ctx) st = wsd_fail(&err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == WSD_OK) {
        ctx->opts = o;
        wsd_backend_options bo = {o.threads, o.gpu_default_limits};
        st = wsd_backend_create(o.backend == WSD_BACKEND_WEBGPU ? "webgpu" : "cpu", &bo, &ctx->backend, &err);
    }
    if (st != WSD_OK) {
        if (err_msg && err_cap) snprintf(err_msg, err_cap, "%s", err.msg);
        free(ctx);
        return st;
    }
    *out = ctx;
    return WSD_OK;
}

void wsd_context_free(wsd_context *ctx)
{
    if (!ctx) return;
    wsd_backend_destroy(ctx->backend);
    free(ctx);
}

const char *wsd_last_error(const wsd_context *ctx) { return ctx ? ctx->err.msg : "no context"; }

wsd_status ctx_fail(wsd_context *ctx, wsd_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err.msg, sizeof ctx->err.msg, fmt, ap);
    va_end(ap);
    ctx->err.code = code;
    return code;
}

/* ---- models ---- */

#ifdef WSD_HAVE_EMBEDDED_MODEL
/* Generated at build time from assets/shapes-sd15 (assets/CMakeLists.txt). */
const wsd_mem_file *wsd_embedded_model(size_t *count);
#endif

wsd_status pipeline_load_embedded(wsd_model **out, wsd_err *err)
{
#ifdef WSD_HAVE_EMBEDDED_MODEL
#if defined(__wasm__)
    /* The browser build's default model is a folder of the worker's file
     * system (web/engine/embedded.c): loaded as a folder, its weights are read
     * when needed (models/model.c) instead of being held whole in wasm memory. */
    if (wsd_path_is_dir("/models/default")) {
        WSD_TRY(model_load_path("/models/default", out, err));
        char *name = wsd_strdup("shapes-sd15");
        if (name) {
            free((*out)->name);
            (*out)->name = name;
        }
        return WSD_OK;
    }
#endif
    size_t n;
    const wsd_mem_file *files = wsd_embedded_model(&n);
    return model_load_mem(files, n, "shapes-sd15", out, err);
#else
    *out = NULL;
    return wsd_fail(err, WSD_ERR_UNSUPPORTED, "this build has no embedded default model; pass a model path");
#endif
}

/* Single-file checkpoints carry no tokenizer: SD 1.x uses the CLIP
 * vocabulary that the embedded default model also ships. */
static wsd_status borrow_tokenizer_files(wsd_model *m, wsd_err *err)
{
    if (m->vocab_json) return WSD_OK;
    wsd_model *def;
    wsd_status st = pipeline_load_embedded(&def, err);
    if (st != WSD_OK)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: single-file checkpoint has no tokenizer and this build has no default one", m->name);
    m->vocab_json = def->vocab_json;
    m->vocab_len = def->vocab_len;
    m->merges_txt = def->merges_txt;
    m->merges_len = def->merges_len;
    def->vocab_json = def->merges_txt = NULL;
    model_free(def);
    return WSD_OK;
}

wsd_status pipeline_tokenizer(wsd_model *m, tok_tokenizer **out, wsd_err *err)
{
    if (!m->tokenizer) {
        tok_options o;
        tok_options_init(&o);
        char what[600]; /* messages name "<model>/tokenizer/<file>" */
        snprintf(what, sizeof what, "%s/tokenizer", m->name ? m->name : "model");
        if (m->tokenizer_config)
            WSD_TRY(tok_options_from_config(&o, m->tokenizer_config, m->tokenizer_config_len, NULL, 0, what, err));
        tok_tokenizer *t;
        if (tok_create(m->vocab_json, m->vocab_len, m->merges_txt, m->merges_len, &o, &t, err) != WSD_OK)
            return wsd_fail_prefix(err, "%s/", what);
        m->tokenizer = t;
    }
    *out = m->tokenizer;
    return WSD_OK;
}

wsd_status wsd_model_load(wsd_context *ctx, const char *path, wsd_model **out)
{
    if (!ctx) return WSD_ERR_INVALID_ARGUMENT;
    if (!out) return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "wsd_model_load: out is NULL");
    *out = NULL;
    wsd_model *m;
    wsd_status st = (!path || !*path) ? pipeline_load_embedded(&m, &ctx->err) : model_load_path(path, &m, &ctx->err);
    if (st == WSD_OK && m->single_file) {
        st = borrow_tokenizer_files(m, &ctx->err);
        if (st != WSD_OK) model_free(m);
    }
    if (st == WSD_OK) {
        st = model_check_components(m, &ctx->err);
        if (st != WSD_OK) model_free(m);
    }
    if (st == WSD_OK) {
        tok_tokenizer *t;
        st = pipeline_tokenizer(m, &t, &ctx->err);
        /* every id the tokenizer can produce must have a row in the embedding */
        if (st == WSD_OK && tok_vocab_size(t) > m->clip.vocab)
            st = ctx_fail(ctx, WSD_ERR_FORMAT, "%s: the tokenizer has %d tokens but the text encoder's vocab_size is %d (tokenizer/ and text_encoder/ of different models?)",
                          m->name ? m->name : "model", (int)tok_vocab_size(t), m->clip.vocab);
        if (st != WSD_OK) wsd_model_free(m);
    }
    if (st != WSD_OK) return st;
    *out = m;
    return WSD_OK;
}

void wsd_model_free(wsd_model *m)
{
    if (!m) return;
    tok_free(m->tokenizer);
    m->tokenizer = NULL;
    model_free(m);
}

static int64_t count_params(const comp_weights *w)
{
    int64_t n = 0;
    for (size_t i = 0; i < w->count; i++) n += w->tensors[i]->numel;
    return n;
}

void wsd_model_get_info(const wsd_model *m, wsd_model_info *info)
{
    memset(info, 0, sizeof *info);
    if (!m) return;
    info->name = m->name;
    info->default_width = info->default_height = m->unet.sample_size * 8;
    static const struct { const char *cls, *a1111; } names[] = {
        {"PNDMScheduler", "PNDM"}, {"DDIMScheduler", "DDIM"}, {"EulerDiscreteScheduler", "Euler"},
        {"EulerAncestralDiscreteScheduler", "Euler a"}, {"DPMSolverMultistepScheduler", "DPM++ 2M"},
        {"LMSDiscreteScheduler", "LMS"}, {"LCMScheduler", "LCM"},
    };
    const char *cls = NULL;
    json_get_str(m->scheduler_doc ? json_root(m->scheduler_doc) : NULL, "_class_name", "PNDMScheduler", &cls, "", NULL);
    info->sampler = "PNDM";
    for (size_t i = 0; cls && i < sizeof names / sizeof *names; i++)
        if (!strcmp(cls, names[i].cls)) info->sampler = names[i].a1111;
    info->params_text_encoder = count_params(&m->w[COMP_TEXT_ENCODER]);
    info->params_unet = count_params(&m->w[COMP_UNET]);
    info->params_vae = count_params(&m->w[COMP_VAE]);
    info->single_file = m->single_file;
}

wsd_status wsd_tokenize(wsd_context *ctx, const wsd_model *model, const char *text, int32_t ids[WSD_MAX_TOKENS], int *n_tokens)
{
    if (!ctx) return WSD_ERR_INVALID_ARGUMENT;
    if (!model || !text || !ids) return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "wsd_tokenize: model, text and ids are required");
    tok_tokenizer *t;
    WSD_TRY(pipeline_tokenizer((wsd_model *)model, &t, &ctx->err));
    return tok_encode(t, text, strlen(text), ids, n_tokens, &ctx->err);
}
