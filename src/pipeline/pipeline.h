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
