/* The WebGPU backend against the diffusers goldens of shared/reference on
 * the tiny model (tests/test_golden_models.c, run by test_webgpu_golden.sh
 * with WSD_TEST_BACKEND=webgpu, checks every module and intermediate with
 * float32 weights; this file adds the rest):
 *   1. the f16-storage path (the product path: conv/linear/embedding weights
 *      packed as f16): text encoder, UNet, VAE decoder and encoder outputs
 *      within the fp16 bounds of shared/reference/README.md (rel L2 <= 1e-2,
 *      max abs <= 3e-2 * max(1, max|ref|));
 *   2. a full pipeline through the public API (PNDM, CFG 7.5, 4 steps,
 *      128x128) with float32 weights: final latents rel L2 <= 1e-4, image
 *      max abs <= 1e-3; and with f16 weights: image max abs <= 3e-2.
 *      (--gpu-limits default is covered by test_webgpu_modules.sh and
 *      test_webgpu_ops; SwiftShader is slow, so one configuration here.)
 * The f16 module cases and the f16 pipeline share one context (one device,
 * as the app keeps one backend): the UNet and VAE decoder inputs have the
 * pipeline's shapes, so the pipeline reuses the kernels the module cases
 * compiled instead of compiling them again on a second device.
 * Runs on SwiftShader in CI (VK_ICD_FILENAMES is set to Chromium's
 * SwiftShader ICD when unset) and FAILS if the WebGPU backend cannot start. */
#include "backends/backend.h"
#include "backends/webgpu/webgpu_backend.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/run.h"
#include "pipeline/pipeline.h"
#include "testutil.h"
#include "wsd.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs component c on the named golden tensors (pairs: golden name, input name). */
static void module_case(wsd_backend *be, const wsd_model *m, run_component c, const char *gold_file,
                        const char *const *pairs, int npairs, const char *out_name, const char *ref_name,
                        const char *label)
{
    wsd_err err = {0};
    st_file gold, in, out;
    if (st_open(tu_shared(gold_file), &gold, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    char in_path[1200], out_path[1200];
    snprintf(in_path, sizeof in_path, "%s/webgpu_in.safetensors", tu_tmpdir());
    snprintf(out_path, sizeof out_path, "%s/webgpu_out.safetensors", tu_tmpdir());
    st_writer *w = st_writer_new();
    for (int i = 0; i < npairs; i++) {
        const st_tensor *t = st_find(&gold, pairs[2 * i]);
        if (!t) {
            CHECKF(0, "golden tensor %s missing", pairs[2 * i]);
            continue;
        }
        st_writer_add(w, pairs[2 * i + 1], t->dtype, t->ndim, t->shape, t->data, &err);
    }
    if (!strcmp(out_name, "out")) { /* UNet: timestep 981 */
        float t981 = 981.0f;
        st_writer_add(w, "timestep", WSD_DT_F32, 0, NULL, &t981, &err);
    }
    CHECK(st_writer_save(w, in_path, &err) == WSD_OK);
    st_writer_free(w);
    if (st_open(in_path, &in, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        st_close(&gold);
        return;
    }
    w = st_writer_new();
    build_opts o = {0, 0};
    wsd_status s = run_component_exec(be, m, c, &in, &o, w, &err);
    CHECKF(s == WSD_OK, "%s: %s", label, err.msg);
    if (s == WSD_OK && st_writer_save(w, out_path, &err) == WSD_OK && st_open(out_path, &out, &err) == WSD_OK) {
        size_t n1 = 0, n2 = 0;
        float *got = tu_read_f32(&out, out_name, &n1), *ref = tu_read_f32(&gold, ref_name, &n2);
        if (got && ref && n1 == n2) tu_check_close(label, got, ref, n1, 1e-2, 3e-2);
        else CHECKF(0, "%s: output sizes differ", label);
        free(got);
        free(ref);
        st_close(&out);
    }
    st_writer_free(w);
    st_close(&in);
    st_close(&gold);
}

/* A WebGPU context with `weights` ("f16" or "f32"); NULL (a failed check) if it cannot start. */
static wsd_context *webgpu_context(int default_limits, const char *weights)
{
    setenv("WSD_GPU_WEIGHTS", weights, 1);
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.backend = WSD_BACKEND_WEBGPU;
    o.gpu_default_limits = default_limits;
    wsd_context *ctx = NULL;
    char msg[1024];
    wsd_status s = wsd_context_create(&o, &ctx, msg, sizeof msg);
    unsetenv("WSD_GPU_WEIGHTS");
    if (s != WSD_OK) {
        tu_webgpu_unavailable("webgpu context", msg);
        return NULL;
    }
    return ctx;
}

/* Progress as the app sees it: steps reported in order, each once. */
typedef struct {
    int seen[64], n, cancel_at;
} progress_log;

static int log_progress(void *user, int step, int steps, const uint8_t *rgb, int w, int h)
{
    (void)steps, (void)rgb, (void)w, (void)h;
    progress_log *pl = user;
    if (pl->n < 64) pl->seen[pl->n++] = step;
    return pl->cancel_at && step == pl->cancel_at;
}

static void pipeline_case(wsd_context *ctx, int default_limits, const char *weights, double lat_rel, double img_abs)
{
    wsd_model *m = NULL;
    if (wsd_model_load(ctx, tu_shared("reference/tiny-sd15"), &m) != WSD_OK) {
        CHECKF(0, "%s", wsd_last_error(ctx));
        return;
    }
    wsd_err err = {0};
    st_file gold;
    if (st_open(tu_shared("reference/golden/pipeline_pndm_cfg.safetensors"), &gold, &err) == WSD_OK) {
        float *lat = tu_read_f32(&gold, "latents_init", NULL);
        wsd_generate_params p;
        wsd_generate_params_init(&p);
        p.prompt = "a photograph of an astronaut riding a horse";
        p.negative_prompt = "blurry";
        p.guidance = 7.5f;
        p.steps = 4;
        p.width = p.height = 128;
        p.latents_init = lat;
        p.seed = 0;
        progress_log pl = {{0}, 0, 0};
        p.progress = log_progress;
        p.progress_user = &pl;
        wsd_image img;
        uint64_t reads0 = wsd_backend_webgpu_readbacks(ctx->backend);
        wsd_status s = wsd_generate(ctx, m, &p, &img);
        /* steps are reported when done, while the next one runs: each once, in order */
        int in_order = pl.n == 5; /* PNDM: 4 steps are 5 model calls */
        for (int i = 0; i < pl.n && in_order; i++) in_order = pl.seen[i] == i + 1;
        CHECKF(s != WSD_OK || in_order, "pipeline: progress reported %d steps, not 1..5 in order", pl.n);
        /* the final latents and the image: nothing per step, nor the text embeddings */
        uint64_t reads = wsd_backend_webgpu_readbacks(ctx->backend) - reads0;
        CHECKF(reads <= 2, "pipeline: %llu outputs read back for %d steps (at most 2: the final latents, the image)",
               (unsigned long long)reads, p.steps);
        printf("%s pipeline: %llu outputs read back in %d steps\n", reads <= 2 ? "ok  " : "FAIL",
               (unsigned long long)reads, p.steps);
        char label[160];
        snprintf(label, sizeof label, "pipeline pndm cfg, %s weights%s", weights,
                 default_limits ? ", --gpu-limits default" : "");
        CHECKF(s == WSD_OK, "%s: %s", label, wsd_last_error(ctx));
        if (s == WSD_OK) {
            size_t nl, ni;
            float *rl = tu_read_f32(&gold, "latents_final", &nl), *ri = tu_read_f32(&gold, "image", &ni);
            char l2[200];
            snprintf(l2, sizeof l2, "%s: final latents", label);
            if (rl) tu_check_close(l2, img.latents, rl, nl, lat_rel, 1e9);
            snprintf(l2, sizeof l2, "%s: image", label);
            if (ri) tu_check_close(l2, img.image_f32, ri, ni, 1e9, img_abs);
            free(rl);
            free(ri);
            wsd_image_free(&img);
        }
        if (!strcmp(weights, "f16") && !default_limits) {
            /* cancelled from the progress callback while the next step runs */
            progress_log pc = {{0}, 0, 2};
            p.progress_user = &pc;
            wsd_status sc = wsd_generate(ctx, m, &p, &img);
            CHECKF(sc == WSD_ERR_CANCELLED && strstr(wsd_last_error(ctx), "cancelled at step 2 of 5") && pc.n == 2 &&
                       !img.rgb,
                   "pipeline cancel at step 2: status %d, \"%s\", %d steps reported", (int)sc, wsd_last_error(ctx), pc.n);
            printf("%s pipeline cancelled at step 2 of 5: \"%s\"\n", sc == WSD_ERR_CANCELLED ? "ok  " : "FAIL",
                   wsd_last_error(ctx));
        }
        free(lat);
        st_close(&gold);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    wsd_model_free(m);
}

/* pipeline_case on a fresh context. */
static void pipeline_case_fresh(int default_limits, const char *weights, double lat_rel, double img_abs)
{
    wsd_context *ctx = webgpu_context(default_limits, weights);
    if (!ctx) return;
    pipeline_case(ctx, default_limits, weights, lat_rel, img_abs);
    wsd_context_free(ctx);
}

int main(void)
{
    if (!getenv("VK_ICD_FILENAMES") && access("/usr/lib/chromium/vk_swiftshader_icd.json", R_OK) == 0)
        setenv("VK_ICD_FILENAMES", "/usr/lib/chromium/vk_swiftshader_icd.json", 1);
    wsd_err err = {0};
    /* f16 weights (the product path): modules, then the pipeline on the same backend */
    wsd_context *ctx = webgpu_context(0, "f16");
    if (!ctx) return tu_finish();
    wsd_backend *be = ctx->backend;
    printf("adapter: %s\n", gpu_get_caps(wsd_backend_webgpu_device(be))->adapter);
    wsd_model *m = NULL;
    CHECKF(model_load_path(tu_shared("reference/tiny-sd15"), &m, &err) == WSD_OK, "%s", err.msg);
    if (m) {
        module_case(be, m, RUN_TEXT_ENCODER, "reference/golden/text_encoder.safetensors",
                    (const char *const[]){"input_ids", "input_ids"}, 1, "last_hidden_state", "last_hidden_state",
                    "f16 weights: text encoder");
        module_case(be, m, RUN_UNET, "reference/golden/unet.safetensors",
                    (const char *const[]){"sample", "sample", "encoder_hidden_states", "encoder_hidden_states"}, 2,
                    "out", "out_t981", "f16 weights: UNet t=981");
        module_case(be, m, RUN_VAE_DECODER, "reference/golden/vae.safetensors",
                    (const char *const[]){"dec_input", "latents"}, 1, "image", "dec_output", "f16 weights: VAE decoder");
        module_case(be, m, RUN_VAE_ENCODER, "reference/golden/vae.safetensors",
                    (const char *const[]){"enc_input", "image"}, 1, "mean", "enc_mean", "f16 weights: VAE encoder mean");
        model_free(m);
    }
    pipeline_case(ctx, 0, "f16", 1e9, 3e-2);
    wsd_context_free(ctx);
    /* float32 weights: a backend of its own (its kernels differ) */
    pipeline_case_fresh(0, "f32", 1e-4, 1e-3);
    if (getenv("WSD_TEST_SLOW")) pipeline_case_fresh(1, "f32", 1e-4, 1e-3);
    return tu_finish();
}
