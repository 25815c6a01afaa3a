/* Text-to-image and image-to-image, step for step as diffusers'
 * StableDiffusionPipeline / StableDiffusionImg2ImgPipeline:
 *
 *   ids = tokenize([negative, prompt])             (CFG; [prompt] without)
 *   emb = text_encoder(ids)                        [B,77,D]
 *   x   = randn(seed) * init_noise_sigma           [1,4,h,w]
 *         (img2img: x = add_noise(sf * (mean + std * eps), noise, t_start))
 *   for each timestep t:
 *       out = unet(scale_model_input(x, t) for each batch row, t, emb)
 *       eps = out[0] + g * (out[1] - out[0])       (CFG)
 *       x   = scheduler.step(eps, t, x)
 *   image = clamp(vae_decoder(x / sf) / 2 + 0.5, 0, 1)
 */
#include "core/rng.h"
#include "pipeline/pipeline.h"
#include "sched/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wsd_generate_params_init(wsd_generate_params *p)
{
    memset(p, 0, sizeof *p);
    p->guidance = 7.5f;
    p->steps = 20;
    p->seed = -1;
    p->strength = 0.8f;
}

void wsd_image_free(wsd_image *img)
{
    if (!img) return;
    free(img->rgb);
    free(img->latents);
    free(img->image_f32);
    memset(img, 0, sizeof *img);
}

/* A graph compiled on the context's backend. */
typedef struct {
    wg_graph *g;
    wsd_exec *ex;
} runner;

static void runner_free(wsd_context *ctx, runner *r)
{
    if (r->ex) ctx->backend->iface->exec_free(r->ex);
    wg_free(r->g);
    memset(r, 0, sizeof *r);
}

static wsd_status runner_compile(wsd_context *ctx, runner *r)
{
    WSD_TRY(wg_status(r->g, &ctx->err));
    wg_plan plan = {0};
    WSD_TRY(wg_plan_memory(r->g, &plan, &ctx->err));
    return ctx->backend->iface->compile(ctx->backend, r->g, &plan, &r->ex, &ctx->err);
}

static wsd_status runner_set(wsd_context *ctx, runner *r, const char *name, const void *data, size_t bytes)
{
    int t = wg_find(r->g, name);
    if (t < 0) return ctx_fail(ctx, WSD_ERR_INTERNAL, "graph has no input \"%s\"", name);
    return ctx->backend->iface->set_input(r->ex, t, data, bytes, &ctx->err);
}

static wsd_status runner_get(wsd_context *ctx, runner *r, const char *name, void *data, size_t bytes)
{
    int t = wg_find(r->g, name);
    if (t < 0) return ctx_fail(ctx, WSD_ERR_INTERNAL, "graph has no output \"%s\"", name);
    return ctx->backend->iface->get_output(r->ex, t, data, bytes, &ctx->err);
}

typedef struct {
    const wsd_generate_params *p;
    int step, total;
} cancel_state;

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Checks the parameters a person can get wrong; messages name the parameter. */
static wsd_status validate(wsd_context *ctx, const wsd_model *m, const wsd_generate_params *p, int *W, int *H)
{
    if (!p->prompt) return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "prompt is NULL");
    *W = p->width ? p->width : m->unet.sample_size * 8;
    *H = p->height ? p->height : m->unet.sample_size * 8;
    if (*W < 8 || *H < 8 || *W > 4096 || *H > 4096 || *W % 8 || *H % 8)
        return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "size %dx%d: width and height must be multiples of 8 between 8 and 4096", *W, *H);
    if (p->steps < 1 || p->steps > 1000)
        return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "steps %d: must be between 1 and 1000", p->steps);
    if (!isfinite(p->guidance) || p->guidance < 0 || p->guidance > 100)
        return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "guidance %g: must be a number between 0 and 100", (double)p->guidance);
    if (p->init_image && !(p->strength > 0 && p->strength <= 1))
        return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "strength %g: must be in (0, 1]", (double)p->strength);
    if ((unsigned)p->sampler > WSD_SAMPLER_LCM)
        return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "unknown sampler %d", (int)p->sampler);
    return WSD_OK;
}

/* Encodes [negative, prompt] (or [prompt]) into embeddings [B,77,D]. */
static wsd_status encode_prompts(wsd_context *ctx, wsd_model *m, const wsd_generate_params *p, int cfg, float *emb)
{
    tok_tokenizer *tok;
    WSD_TRY(pipeline_tokenizer(m, &tok, &ctx->err));
    int B = cfg ? 2 : 1, T = m->clip.max_positions;
    int32_t ids[2 * 77];
    const char *texts[2] = {p->negative_prompt ? p->negative_prompt : "", p->prompt};
    for (int b = 0; b < B; b++) {
        const char *s = texts[cfg ? b : 1];
        wsd_status st = tok_encode(tok, s, strlen(s), ids + b * T, NULL, &ctx->err);
        /* the tokenizer's messages start "prompt: " */
        if (st != WSD_OK) return cfg && b == 0 ? wsd_fail_prefix(&ctx->err, "negative ") : st;
    }
    runner r = {pipeline_graph_new(ctx, m, COMP_TEXT_ENCODER), NULL};
    if (!r.g) return ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    clip_build(r.g, &m->clip, B, NULL);
    wsd_status st = runner_compile(ctx, &r);
    if (st == WSD_OK) st = runner_set(ctx, &r, "input_ids", ids, (size_t)B * T * sizeof(int32_t));
    if (st == WSD_OK) st = ctx->backend->iface->run(r.ex, NULL, NULL, &ctx->err);
    if (st == WSD_OK) st = runner_get(ctx, &r, "last_hidden_state", emb, (size_t)B * T * m->clip.hidden * sizeof(float));
    runner_free(ctx, &r);
    return st;
}

/* img2img start: latents = sf * (mean + std * eps0), then add_noise at the first call. */
static wsd_status encode_init_image(wsd_context *ctx, wsd_model *m, const wsd_generate_params *p, int W, int H,
                                    wsd_rng *rng, float *init_latents)
{
    int h = H / 8, w = W / 8, C = m->vae.latent_channels;
    size_t n = (size_t)C * h * w, npix = (size_t)W * H;
    float *img = malloc(3 * npix * sizeof *img), *mean = malloc(n * sizeof *mean), *logvar = malloc(n * sizeof *logvar);
    float *eps = malloc(n * sizeof *eps);
    runner r = {pipeline_graph_new(ctx, m, COMP_VAE), NULL};
    wsd_status st = WSD_OK;
    if (!img || !mean || !logvar || !eps || !r.g) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == WSD_OK) {
        for (size_t i = 0; i < npix; i++) /* HWC uint8 -> NCHW in [-1, 1] */
            for (int c = 0; c < 3; c++) img[c * npix + i] = (float)p->init_image[3 * i + c] / 255.0f * 2.0f - 1.0f;
        vae_encoder_build(r.g, &m->vae, 1, H, W, NULL);
        st = runner_compile(ctx, &r);
    }
    if (st == WSD_OK) st = runner_set(ctx, &r, "image", img, 3 * npix * sizeof *img);
    if (st == WSD_OK) st = ctx->backend->iface->run(r.ex, NULL, NULL, &ctx->err);
    if (st == WSD_OK) st = runner_get(ctx, &r, "mean", mean, n * sizeof *mean);
    if (st == WSD_OK) st = runner_get(ctx, &r, "logvar", logvar, n * sizeof *logvar);
    if (st == WSD_OK) {
        if (p->noise_draws) memcpy(eps, p->noise_draws, n * sizeof *eps);
        else rng_randn(rng, eps, n);
        float sf = m->vae.scaling_factor;
        for (size_t i = 0; i < n; i++) init_latents[i] = sf * (mean[i] + expf(0.5f * logvar[i]) * eps[i]);
    }
    runner_free(ctx, &r);
    free(img);
    free(mean);
    free(logvar);
    free(eps);
    return st;
}

wsd_status wsd_generate(wsd_context *ctx, const wsd_model *cmodel, const wsd_generate_params *p, wsd_image *out)
{
    if (out) memset(out, 0, sizeof *out); /* zeroed on every failure, this one included */
    if (!ctx) return WSD_ERR_INVALID_ARGUMENT;
    if (!cmodel || !p || !out) return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "wsd_generate: model, params and out are required");
    wsd_model *m = (wsd_model *)cmodel;
    int W = 0, H = 0;
    WSD_TRY(validate(ctx, m, p, &W, &H));
    int cfg = p->guidance > 1.0f, B = cfg ? 2 : 1;
    int h = H / 8, w = W / 8, C = m->unet.in_channels, T = m->clip.max_positions, D = m->clip.hidden;
    size_t n = (size_t)C * h * w;

    int64_t seed = p->seed;
    if (seed < 0) { /* a random seed, reported back so the image can be made again */
        wsd_rng tmp;
        rng_seed(&tmp, (uint64_t)(uintptr_t)&tmp ^ (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32));
        seed = (int64_t)(rng_u64(&tmp) >> 1) % 4294967296LL;
    }
    wsd_rng rng;
    rng_seed(&rng, (uint64_t)seed);

    float *emb = malloc((size_t)B * T * D * sizeof *emb), *x = malloc(n * sizeof *x), *in = malloc(B * n * sizeof *in);
    float *unet_out = malloc(B * n * sizeof *unet_out), *eps = malloc(n * sizeof *eps), *ts = malloc(B * sizeof *ts);
    sched *s = NULL;
    runner unet = {0}, dec = {0};
    wsd_status st = WSD_OK;
    if (!emb || !x || !in || !unet_out || !eps || !ts) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");

    if (st == WSD_OK) st = encode_prompts(ctx, m, p, cfg, emb);
    if (st == WSD_OK) st = sched_create(m->scheduler_doc ? json_root(m->scheduler_doc) : NULL, p->sampler, &s, &ctx->err);
    if (st == WSD_OK) st = sched_set_timesteps(s, p->steps, &ctx->err);
    int first = 0;
    if (st == WSD_OK && p->init_image) {
        float *init = malloc(n * sizeof *init), *noise = malloc(n * sizeof *noise);
        if (!init || !noise) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == WSD_OK) st = encode_init_image(ctx, m, p, W, H, &rng, init);
        if (st == WSD_OK) st = sched_img2img_begin(s, sched_strength_from_float(p->strength), &first, &ctx->err);
        if (st == WSD_OK) {
            if (p->noise_draws) memcpy(noise, p->noise_draws + n, n * sizeof *noise);
            else rng_randn(&rng, noise, n);
            sched_add_noise(s, first, init, noise, x, n);
        }
        free(init);
        free(noise);
    } else if (st == WSD_OK) {
        if (p->latents_init) memcpy(x, p->latents_init, n * sizeof *x);
        else rng_randn(&rng, x, n);
        float sigma = sched_init_noise_sigma(s);
        for (size_t i = 0; i < n; i++) x[i] *= sigma;
        st = sched_begin(s, 0, &ctx->err);
    }

    if (st == WSD_OK) {
        unet.g = pipeline_graph_new(ctx, m, COMP_UNET);
        if (!unet.g) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            unet_build(unet.g, &m->unet, B, h, w, T, NULL);
            st = runner_compile(ctx, &unet);
        }
    }
    if (st == WSD_OK) st = runner_set(ctx, &unet, "encoder_hidden_states", emb, (size_t)B * T * D * sizeof *emb);

    sched_noise noise_src;
    sched_noise_from_rng(&noise_src, &rng);
    /* previews show the scheduler's predicted clean latents where it has them */
    int previews = p->progress && p->preview_every > 0;
    float *pred = NULL;
    uint8_t *preview_rgb = NULL;
    preview *pv = NULL;
    if (st == WSD_OK && previews) {
        pred = malloc(n * sizeof *pred);
        preview_rgb = malloc((size_t)3 * 64 * 64);
        if (!pred || !preview_rgb) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == WSD_OK) st = preview_create(ctx, m, h, w, &pv);
    }
    int total = s ? sched_num_calls(s) : 0;
    for (int i = first; st == WSD_OK && i < total; i++) {
        float t = sched_timestep(s, i);
        for (int b = 0; b < B; b++) {
            sched_scale_model_input(s, i, x, in + b * n, n);
            ts[b] = t;
        }
        st = runner_set(ctx, &unet, "sample", in, B * n * sizeof *in);
        if (st == WSD_OK) st = runner_set(ctx, &unet, "timestep", ts, B * sizeof *ts);
        if (st == WSD_OK) st = ctx->backend->iface->run(unet.ex, NULL, NULL, &ctx->err);
        if (st == WSD_OK) st = runner_get(ctx, &unet, "out", unet_out, B * n * sizeof *unet_out);
        if (st != WSD_OK) break;
        if (cfg) sched_cfg_combine(eps, unet_out, unet_out + n, p->guidance, n);
        else memcpy(eps, unet_out, n * sizeof *eps);
        if (pred) pred[0] = NAN; /* stays NaN if this scheduler has no prediction */
        st = sched_step(s, i, eps, x, n, &noise_src, pred, &ctx->err);
        if (st == WSD_OK && !all_finite(x, n))
            st = ctx_fail(ctx, WSD_ERR_NUMERIC, "non-finite values after step %d of %d (broken weights or an unstable setting)", i - first + 1, total - first);
        int step = i - first + 1, steps = total - first;
        const uint8_t *shown = NULL;
        int pw = 0, ph = 0;
        if (st == WSD_OK && previews && (step % p->preview_every == 0 || step == steps)) {
            st = preview_render(ctx, m, pv, isnan(pred[0]) ? x : pred, preview_rgb, &pw, &ph);
            shown = preview_rgb;
        }
        if (st == WSD_OK && p->progress && p->progress(p->progress_user, step, steps, shown, pw, ph))
            st = ctx_fail(ctx, WSD_ERR_CANCELLED, "cancelled at step %d of %d", step, steps);
    }
    runner_free(ctx, &unet);
    free(pred);
    free(preview_rgb);
    preview_free(ctx, pv);

    /* decode */
    size_t npix = (size_t)W * H;
    float *img = NULL;
    if (st == WSD_OK) {
        img = malloc(3 * npix * sizeof *img);
        out->rgb = malloc(3 * npix);
        out->image_f32 = malloc(3 * npix * sizeof *out->image_f32);
        out->latents = malloc(n * sizeof *out->latents);
        dec.g = pipeline_graph_new(ctx, m, COMP_VAE);
        if (!img || !out->rgb || !out->image_f32 || !out->latents || !dec.g) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == WSD_OK) {
        memcpy(out->latents, x, n * sizeof *x);
        for (size_t i = 0; i < n; i++) eps[i] = x[i] / m->vae.scaling_factor;
        vae_decoder_build(dec.g, &m->vae, 1, h, w, NULL);
        st = runner_compile(ctx, &dec);
    }
    if (st == WSD_OK) st = runner_set(ctx, &dec, "latents", eps, n * sizeof *eps);
    if (st == WSD_OK) st = ctx->backend->iface->run(dec.ex, NULL, NULL, &ctx->err);
    if (st == WSD_OK) st = runner_get(ctx, &dec, "image", img, 3 * npix * sizeof *img);
    if (st == WSD_OK && !all_finite(img, 3 * npix)) st = ctx_fail(ctx, WSD_ERR_NUMERIC, "non-finite values in the decoded image");
    if (st == WSD_OK) {
        for (size_t i = 0; i < npix; i++)
            for (int c = 0; c < 3; c++) {
                float v = img[c * npix + i] / 2.0f + 0.5f;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                out->image_f32[3 * i + c] = v;
                out->rgb[3 * i + c] = (uint8_t)lrintf(v * 255.0f);
            }
        out->width = W;
        out->height = H;
        out->seed = seed;
    }
    runner_free(ctx, &dec);
    sched_free(s);
    free(img);
    free(emb);
    free(x);
    free(in);
    free(unet_out);
    free(eps);
    free(ts);
    if (st != WSD_OK) wsd_image_free(out);
    return st;
}
