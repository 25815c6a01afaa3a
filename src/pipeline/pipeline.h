/* Internals behind the public API: the context and helpers shared by
 * api.c and generate.c. */
#ifndef WSD_PIPELINE_PIPELINE_H
#define WSD_PIPELINE_PIPELINE_H

#include "backends/backend.h"
#include "models/model.h"
#include "sched/sched.h"
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

/* The denoising step as one graph (generate.c). Registers of its program
 * (wg_linprog): the graph state "sched_state" [ns, C, h, w] holds rows 0
 * sample, 1 pred_x0, 2.. the scheduler's history slots, ns-1 the next UNet
 * input; then come the UNet output rows (B), the noise row (r_noise) and
 * one scratch row for the guided model output (r_model). */
typedef struct {
    int ns, r_next, r_out, r_noise, r_model;
} step_regs;
step_regs step_layout(const sched *s, int B);
/* The register holding scheduler buffer `buf` (SCHED_BUF_*). */
int step_reg(const step_regs *r, int buf);
/* One step's program (WG_LINPROG_LEN floats): guidance (cfg: uncond +
 * guidance * (cond - uncond); else a copy of the one output), the
 * scheduler's plan, then the next UNet input = sample / next_divisor. */
void step_program(const step_regs *r, const sched_plan *plan, int cfg, float guidance, float next_divisor, float *prog);

#endif
