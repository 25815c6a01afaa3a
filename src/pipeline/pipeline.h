/* Internals behind the public API: the context and helpers shared by
 * api.c and generate.c. */
#ifndef WSD_PIPELINE_PIPELINE_H
#define WSD_PIPELINE_PIPELINE_H

#include "backends/backend.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "wsd.h"

struct wsd_context {
    wsd_context_options opts;
    wsd_backend *backend;
    wsd_err err;
};

/* Records an error on the context; returns code. */
wsd_status ctx_fail(wsd_context *ctx, wsd_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A graph of component c for the context's backend. The WebGPU backend reads
 * weights piece by piece as it uploads them (streamed graphs; in the browser
 * a model's weights are then never whole in wasm memory: models/model.c);
 * the CPU backend computes from weights in memory. */
static inline wg_graph *pipeline_graph_new(const wsd_context *ctx, const wsd_model *m, model_component c)
{
    return ctx->opts.backend == WSD_BACKEND_WEBGPU ? model_graph_new_streamed(m, c) : model_graph_new(m, c);
}

wsd_status pipeline_load_embedded(wsd_model **out, wsd_err *err);
/* The model's tokenizer, created on first use. */
wsd_status pipeline_tokenizer(wsd_model *m, tok_tokenizer **out, wsd_err *err);

/* Previews (preview.c): a small VAE decode of pooled latents, compiled once per run. */
typedef struct preview preview;
wsd_status preview_create(wsd_context *ctx, const wsd_model *m, int h, int w, preview **out);
/* latents [C,h,w] -> rgb (at most 64x64x3 bytes); *pw, *ph receive the size. */
wsd_status preview_render(wsd_context *ctx, const wsd_model *m, preview *p, const float *latents, uint8_t *rgb, int *pw, int *ph);
void preview_free(wsd_context *ctx, preview *p);

#endif
