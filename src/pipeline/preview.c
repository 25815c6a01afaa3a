/* Live previews: the model's own VAE decoder on a small copy of the latents.
 *
 * The latents (or the scheduler's predicted clean latents) are area-averaged
 * down to at most PREVIEW_LATENT x PREVIEW_LATENT and decoded, giving a
 * preview of at most 64x64 pixels. Cheap linear latent->RGB maps fit SD 1.5's
 * VAE roughly but get small VAEs (like the built-in model's) badly wrong;
 * decoding is right for every model and costs 1/64 of a full 512x512 decode
 * (1/16 at 256x256; a 64x64 image is decoded at full size). */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_LATENT 8

struct preview {
    wg_graph *g;
    wsd_exec *ex;
    int h, w, factor, ph, pw; /* latent size, pooling factor, pooled size */
    float *pooled, *image;
};

wsd_status preview_create(wsd_context *ctx, const wsd_model *m, int h, int w, preview **out)
{
    *out = NULL;
    preview *p = calloc(1, sizeof *p);
    if (!p) return ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    p->h = h;
    p->w = w;
    p->factor = 1;
    while ((h + p->factor - 1) / p->factor > PREVIEW_LATENT || (w + p->factor - 1) / p->factor > PREVIEW_LATENT) p->factor++;
    p->ph = (h + p->factor - 1) / p->factor;
    p->pw = (w + p->factor - 1) / p->factor;
    int C = m->vae.latent_channels;
    p->pooled = malloc((size_t)C * p->ph * p->pw * sizeof *p->pooled);
    p->image = malloc((size_t)3 * 64 * p->ph * p->pw * sizeof *p->image);
    p->g = pipeline_graph_new(ctx, m, COMP_VAE);
    wsd_status st = (p->pooled && p->image && p->g) ? WSD_OK : ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == WSD_OK) {
        vae_decoder_build(p->g, &m->vae, 1, p->ph, p->pw, NULL);
        st = wg_status(p->g, &ctx->err);
    }
    wg_plan plan = {0};
    if (st == WSD_OK) st = wg_plan_memory(p->g, &plan, &ctx->err);
    if (st == WSD_OK) st = ctx->backend->iface->compile(ctx->backend, p->g, &plan, &p->ex, &ctx->err);
    if (st != WSD_OK) {
        preview_free(ctx, p);
        return st;
    }
    *out = p;
    return WSD_OK;
}

void preview_free(wsd_context *ctx, preview *p)
{
    if (!p) return;
    if (p->ex) ctx->backend->iface->exec_free(p->ex);
    wg_free(p->g);
    free(p->pooled);
    free(p->image);
    free(p);
}

wsd_status preview_render(wsd_context *ctx, const wsd_model *m, preview *p, const float *latents, uint8_t *rgb, int *pw, int *ph)
{
    int C = m->vae.latent_channels, f = p->factor;
    float inv_sf = 1.0f / m->vae.scaling_factor;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < p->ph; y++)
            for (int x = 0; x < p->pw; x++) {
                double s = 0;
                int cnt = 0;
                for (int dy = 0; dy < f && y * f + dy < p->h; dy++)
                    for (int dx = 0; dx < f && x * f + dx < p->w; dx++, cnt++)
                        s += latents[((size_t)c * p->h + y * f + dy) * p->w + x * f + dx];
                p->pooled[((size_t)c * p->ph + y) * p->pw + x] = (float)(s / cnt) * inv_sf;
            }
    size_t nl = (size_t)C * p->ph * p->pw, npix = (size_t)64 * p->ph * p->pw;
    WSD_TRY(ctx->backend->iface->set_input(p->ex, wg_find(p->g, "latents"), p->pooled, nl * sizeof(float), &ctx->err));
    WSD_TRY(ctx->backend->iface->run(p->ex, NULL, NULL, &ctx->err));
    WSD_TRY(ctx->backend->iface->get_output(p->ex, wg_find(p->g, "image"), p->image, 3 * npix * sizeof(float), &ctx->err));
    for (size_t i = 0; i < npix; i++)
        for (int ch = 0; ch < 3; ch++) {
            float v = p->image[ch * npix + i] * 0.5f + 0.5f;
            v = isnan(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
            rgb[3 * i + ch] = (uint8_t)lrintf(v * 255.0f);
        }
    *pw = 8 * p->pw;
    *ph = 8 * p->ph;
    return WSD_OK;
}
