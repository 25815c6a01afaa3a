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
 *
 * The loop body is one graph (step_build): the UNet, the guidance, the
 * scheduler's update and the next step's UNet input, with the latents and
 * the scheduler's history as graph state linked from one run to the next.
 * On a GPU nothing is read back between steps (nor the text embeddings,
 * copied from the text encoder into the step graph); the host sends each step's
 * coefficients (a wg_linprog program from sched_plan_step), its timestep
 * and, for ancestral samplers, its noise (drawn here, in torch's order).
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

/* Encodes [negative, prompt] (or [prompt]) into embeddings [B,77,D]: the
 * output "last_hidden_state" of *r, which stays compiled (the caller copies
 * it into the UNet's input where it lives, then frees r). */
static wsd_status encode_prompts(wsd_context *ctx, wsd_model *m, const wsd_generate_params *p, int cfg, runner *r)
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
    r->g = pipeline_graph_new(ctx, m, COMP_TEXT_ENCODER);
    if (!r->g) return ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    clip_build(r->g, &m->clip, B, NULL);
    wsd_status st = runner_compile(ctx, r);
    if (st == WSD_OK) st = runner_set(ctx, r, "input_ids", ids, (size_t)B * T * sizeof(int32_t));
    if (st == WSD_OK) st = ctx->backend->iface->run(r->ex, NULL, NULL, &ctx->err);
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

step_regs step_layout(const sched *s, int B)
{
    step_regs r;
    r.ns = 2 + sched_history_slots(s) + 1;
    r.r_next = r.ns - 1;
    r.r_out = r.ns;
    r.r_noise = r.ns + B;
    r.r_model = r.ns + B + 1;
    return r;
}

int step_reg(const step_regs *r, int buf)
{
    switch (buf) {
    case SCHED_BUF_SAMPLE: return 0;
    case SCHED_BUF_PRED: return 1;
    case SCHED_BUF_MODEL: return r->r_model;
    case SCHED_BUF_NOISE: return r->r_noise;
    default: return 2 + (buf - SCHED_BUF_HIST);
    }
}

void step_program(const step_regs *r, const sched_plan *plan, int cfg, float guidance, float next_divisor, float *prog)
{
    memset(prog, 0, WG_LINPROG_LEN * sizeof *prog);
    int k = 0;
    float *op = prog + 1 + k++ * WG_LINPROG_OPW;
    op[1] = (float)r->r_model;
    op[4] = (float)r->r_out;
    if (cfg) { /* uncond + g * (cond - uncond) */
        op[0] = 1;
        op[2] = 2;
        op[5] = guidance;
        op[6] = (float)(r->r_out + 1);
    } else {
        op[2] = 1;
        op[5] = 1.0f;
    }
    for (int o = 0; o < plan->n_ops; o++) {
        const sched_op *so = &plan->op[o];
        op = prog + 1 + k++ * WG_LINPROG_OPW;
        op[1] = (float)step_reg(r, so->dst);
        op[2] = (float)so->n_terms;
        op[3] = so->clamp;
        for (int t = 0; t < so->n_terms; t++) {
            op[4 + 2 * t] = (float)step_reg(r, so->src[t]);
            op[5 + 2 * t] = so->coeff[t];
        }
    }
    op = prog + 1 + k++ * WG_LINPROG_OPW;
    op[0] = 2;
    op[1] = (float)r->r_next;
    op[2] = 1;
    op[4] = 0;
    op[5] = next_divisor;
    prog[0] = (float)k;
}

/* The step graph: the UNet on "sample", then "sched_state_out" = the
 * program on (sched_state, out, sched_noise); both link back for the next run. */
static void step_build(wg_graph *g, const wsd_model *m, const step_regs *r, int B, int h, int w, int T)
{
    int C = m->unet.in_channels;
    unet_build(g, &m->unet, B, h, w, T, NULL);
    int state = wg_input(g, "sched_state", WSD_DT_F32, 4, WG_SHAPE(r->ns, C, h, w));
    int noise = wg_input(g, "sched_noise", WSD_DT_F32, 4, WG_SHAPE(1, C, h, w));
    int prog = wg_input(g, "sched_prog", WSD_DT_F32, 1, WG_SHAPE(WG_LINPROG_LEN));
    int next_state = wg_linprog(g, prog, state, wg_find(g, "out"), noise, 1);
    int next_in = wg_slice(g, next_state, 0, r->r_next, 1);
    if (B == 2) next_in = wg_concat(g, next_in, next_in, 0);
    wg_output(g, next_state, "sched_state_out");
    wg_output(g, next_in, "next_sample");
    wg_link(g, next_state, state);
    wg_link(g, next_in, wg_find(g, "sample"));
}

/* Whether outputs are host memory already (reading them costs nothing). */
static int backend_on_host(const wsd_context *ctx) { return strcmp(ctx->backend->iface->name, "cpu") == 0; }

wsd_status wsd_generate(wsd_context *ctx, const wsd_model *cmodel, const wsd_generate_params *p, wsd_image *out)
{
    if (out) memset(out, 0, sizeof *out); /* zeroed on every failure, this one included */
    if (!ctx) return WSD_ERR_INVALID_ARGUMENT;
    if (!cmodel || !p || !out) return ctx_fail(ctx, WSD_ERR_INVALID_ARGUMENT, "wsd_generate: model, params and out are required");
    wsd_model *m = (wsd_model *)cmodel;
    int W = 0, H = 0;
    WSD_TRY(validate(ctx, m, p, &W, &H));
    int cfg = p->guidance > 1.0f, B = cfg ? 2 : 1;
    int h = H / 8, w = W / 8, C = m->unet.in_channels, T = m->clip.max_positions;
    size_t n = (size_t)C * h * w;

    int64_t seed = p->seed;
    if (seed < 0) { /* a random seed, reported back so the image can be made again */
        wsd_rng tmp;
        rng_seed(&tmp, (uint64_t)(uintptr_t)&tmp ^ (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32));
        seed = (int64_t)(rng_u64(&tmp) >> 1) % 4294967296LL;
    }
    wsd_rng rng;
    rng_seed(&rng, (uint64_t)seed);

    float *x = malloc(n * sizeof *x), *in = malloc(B * n * sizeof *in);
    float *eps = malloc(n * sizeof *eps), *ts = malloc(B * sizeof *ts), *prog = malloc(WG_LINPROG_LEN * sizeof *prog);
    float *state = NULL;
    sched *s = NULL;
    runner text = {0}, unet = {0}, dec = {0};
    wsd_status st = WSD_OK;
    if (!x || !in || !eps || !ts || !prog) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");

    if (st == WSD_OK) st = encode_prompts(ctx, m, p, cfg, &text);
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

    /* the step graph and its starting state: sample = x, the rest zeros */
    step_regs regs = {0};
    if (st == WSD_OK) {
        regs = step_layout(s, B);
        state = calloc((size_t)regs.ns * n, sizeof *state);
        unet.g = pipeline_graph_new(ctx, m, COMP_UNET);
        if (!state || !unet.g) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            memcpy(state, x, n * sizeof *x);
            step_build(unet.g, m, &regs, B, h, w, T);
            st = runner_compile(ctx, &unet);
        }
    }
    if (st == WSD_OK) { /* the embeddings stay where they are: no host round trip */
        int dst = wg_find(unet.g, "encoder_hidden_states"), src = wg_find(text.g, "last_hidden_state");
        if (dst < 0 || src < 0) st = ctx_fail(ctx, WSD_ERR_INTERNAL, "text encoder or UNet graph lacks its embeddings");
        else st = ctx->backend->iface->copy_tensor(unet.ex, dst, text.ex, src, &ctx->err);
    }
    if (text.ex) { /* the copy must be done before the text encoder's buffers go */
        wsd_err ignored = {0};
        wsd_status sw = ctx->backend->iface->wait(text.ex, 0, st == WSD_OK ? &ctx->err : &ignored);
        if (st == WSD_OK) st = sw;
    }
    runner_free(ctx, &text);
    if (st == WSD_OK) st = runner_set(ctx, &unet, "sched_state", state, (size_t)regs.ns * n * sizeof *state);
    if (st == WSD_OK) {
        memset(eps, 0, n * sizeof *eps); /* noise stays zero for samplers that draw none */
        st = runner_set(ctx, &unet, "sched_noise", eps, n * sizeof *eps);
    }
    if (st == WSD_OK) {
        for (int b = 0; b < B; b++) sched_scale_model_input(s, first, x, in + b * n, n);
        st = runner_set(ctx, &unet, "sample", in, B * n * sizeof *in);
    }

    /* previews show the scheduler's predicted clean latents where it has them */
    int previews = p->progress && p->preview_every > 0;
    uint8_t *preview_rgb = NULL;
    preview *pv = NULL;
    if (st == WSD_OK && previews) {
        preview_rgb = malloc((size_t)3 * 64 * 64);
        if (!preview_rgb) st = ctx_fail(ctx, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == WSD_OK) st = preview_create(ctx, m, h, w, &pv);
    }
    /* Latents are checked for NaN/Inf whenever they are read: every step
     * where that is free (CPU), else at previews and after the last step. */
    int check_every_step = st == WSD_OK && backend_on_host(ctx);
    int total = s ? sched_num_calls(s) : 0, steps = total - first;
    const wsd_backend_iface *be = ctx->backend->iface;
    size_t state_bytes = (size_t)regs.ns * n * sizeof *state;
    int reported = 0; /* steps given to the progress callback */
    for (int i = first; st == WSD_OK && i < total; i++) {
        sched_plan plan;
        st = sched_plan_step(s, i, &plan, &ctx->err);
        if (st == WSD_OK && plan.draws_noise) {
            rng_randn(&rng, eps, n);
            st = runner_set(ctx, &unet, "sched_noise", eps, n * sizeof *eps);
        }
        for (int b = 0; b < B; b++) ts[b] = sched_timestep(s, i);
        if (st == WSD_OK) st = runner_set(ctx, &unet, "timestep", ts, B * sizeof *ts);
        if (st == WSD_OK) {
            step_program(&regs, &plan, cfg, p->guidance, i + 1 < total ? sched_input_divisor(s, i + 1) : 1.0f, prog);
            st = runner_set(ctx, &unet, "sched_prog", prog, WG_LINPROG_LEN * sizeof *prog);
        }
        if (st == WSD_OK) st = be->run(unet.ex, NULL, NULL, &ctx->err);
        if (st != WSD_OK) break;
        /* Progress reports finished steps. Where nothing is read, wait only
         * for the previous step: this one keeps the GPU busy meanwhile. */
        int step = i - first + 1;
        int show = previews && (step % p->preview_every == 0 || step == steps);
        int read = check_every_step || show || step == steps;
        st = be->wait(unet.ex, read ? 0 : 1, &ctx->err);
        while (st == WSD_OK && reported < step - 1) {
            reported++;
            if (p->progress && p->progress(p->progress_user, reported, steps, NULL, 0, 0))
                st = ctx_fail(ctx, WSD_ERR_CANCELLED, "cancelled at step %d of %d", reported, steps);
        }
        if (st != WSD_OK || !read) continue;
        reported = step;
        st = runner_get(ctx, &unet, "sched_state_out", state, state_bytes);
        if (st == WSD_OK && !all_finite(state, n))
            st = ctx_fail(ctx, WSD_ERR_NUMERIC, "non-finite values after step %d of %d (broken weights or an unstable setting)", step, steps);
        const uint8_t *shown = NULL;
        int pw = 0, ph = 0;
        if (st == WSD_OK && show) {
            const float *pred = plan.pred_buf >= 0 ? state + (size_t)step_reg(&regs, plan.pred_buf) * n : state;
            st = preview_render(ctx, m, pv, pred, preview_rgb, &pw, &ph);
            shown = preview_rgb;
        }
        if (st == WSD_OK && p->progress && p->progress(p->progress_user, step, steps, shown, pw, ph))
            st = ctx_fail(ctx, WSD_ERR_CANCELLED, "cancelled at step %d of %d", step, steps);
    }
    /* a step may still run after a failure or a cancel: let it finish before its buffers go */
    if (st != WSD_OK && unet.ex) {
        wsd_err ignored = {0};
        be->wait(unet.ex, 0, &ignored);
    }
    if (st == WSD_OK) memcpy(x, state, n * sizeof *x); /* read after the last step */
    runner_free(ctx, &unet);
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
    free(x);
    free(in);
    free(eps);
    free(ts);
    free(prog);
    free(state);
    if (st != WSD_OK) wsd_image_free(out);
    return st;
}
