/* Determinism on the CPU backend: the same seed and settings give
 * bit-identical images (RGB bytes, final latents and the float image), run to
 * run in one context, in a fresh context, and across thread counts (1, 2, 3,
 * 4 and "all cores"). Covers text-to-image with CFG and an ancestral sampler
 * (noise drawn every step), img2img, and a random seed (-1) made again from
 * the seed the run reports. (The WebGPU backend's run-to-run check is in
 * test_gpu_faults.c, on the same tiny model.) */
#include "testutil.h"
#include "wsd.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *label;
    wsd_sampler sampler;
    float guidance;
    int img2img;
} setting;

static wsd_context *ctx_threads(int threads)
{
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.threads = threads;
    wsd_context *c = NULL;
    char msg[512];
    CHECKF(wsd_context_create(&o, &c, msg, sizeof msg) == WSD_OK, "context: %s", msg);
    return c;
}

static uint8_t init_rgb[64 * 64 * 3];

static wsd_status run(wsd_context *ctx, const wsd_model *m, const setting *s, int64_t seed, wsd_image *img)
{
    wsd_generate_params p;
    wsd_generate_params_init(&p);
    p.prompt = "a red circle on a blue background";
    p.negative_prompt = "blurry";
    p.width = p.height = 64;
    p.steps = 3;
    p.seed = seed;
    p.sampler = s->sampler;
    p.guidance = s->guidance;
    if (s->img2img) {
        p.init_image = init_rgb;
        p.strength = 0.7f;
    }
    wsd_status st = wsd_generate(ctx, m, &p, img);
    CHECKF(st == WSD_OK, "%s: %s", s->label, wsd_last_error(ctx));
    return st;
}

static int identical(const wsd_image *a, const wsd_image *b)
{
    size_t n = (size_t)a->width * a->height;
    return a->rgb && b->rgb && a->width == b->width && a->height == b->height && a->seed == b->seed &&
           !memcmp(a->rgb, b->rgb, 3 * n) && !memcmp(a->image_f32, b->image_f32, 3 * n * sizeof(float)) &&
           !memcmp(a->latents, b->latents, (size_t)4 * (a->width / 8) * (a->height / 8) * sizeof(float));
}

static void compare(const char *what, const setting *s, const wsd_image *a, const wsd_image *b)
{
    int ok = identical(a, b);
    tu_checks++;
    if (!ok) tu_failures++;
    printf("%-4s %-34s %s\n", ok ? "ok" : "FAIL", s->label, what);
}

int main(void)
{
    for (size_t i = 0; i < sizeof init_rgb; i++) init_rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
    static const setting settings[] = {
        {"euler a, cfg 7.5", WSD_SAMPLER_EULER_A, 7.5f, 0},
        {"dpm++ 2m karras, no cfg", WSD_SAMPLER_DPMPP_2M_KARRAS, 1.0f, 0},
        {"img2img, pndm, cfg 5", WSD_SAMPLER_PNDM, 5.0f, 1},
    };
    static const int threads[] = {1, 2, 3, 4, 0};
    wsd_context *ref_ctx = ctx_threads(1);
    if (!ref_ctx) return tu_finish();
    wsd_model *m = NULL;
    if (wsd_model_load(ref_ctx, NULL, &m) != WSD_OK) {
        CHECKF(0, "embedded model: %s", wsd_last_error(ref_ctx));
        return tu_finish();
    }
    for (size_t k = 0; k < sizeof settings / sizeof *settings; k++) {
        const setting *s = &settings[k];
        wsd_image ref, again;
        if (run(ref_ctx, m, s, 31337, &ref) != WSD_OK) continue;
        if (run(ref_ctx, m, s, 31337, &again) == WSD_OK) compare("run to run, same context", s, &ref, &again);
        wsd_image_free(&again);
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            wsd_context *c = ctx_threads(threads[t]);
            if (!c) continue;
            wsd_image img;
            char what[64];
            snprintf(what, sizeof what, threads[t] ? "fresh context, %d threads" : "fresh context, all cores", threads[t]);
            if (run(c, m, s, 31337, &img) == WSD_OK) compare(what, s, &ref, &img);
            wsd_image_free(&img);
            wsd_context_free(c);
        }
        /* a different seed must give a different image (the check above is not vacuous) */
        if (run(ref_ctx, m, s, 31338, &again) == WSD_OK) {
            int differs = memcmp(ref.latents, again.latents, 4 * 8 * 8 * sizeof(float)) != 0;
            CHECKF(differs, "%s: seeds 31337 and 31338 gave the same latents", s->label);
        }
        wsd_image_free(&again);
        wsd_image_free(&ref);
    }
    /* seed -1: random, reported back, and that seed makes the same image again */
    wsd_image r1, r2;
    if (run(ref_ctx, m, &settings[0], -1, &r1) == WSD_OK) {
        CHECKF(r1.seed >= 0, "random seed reported as %lld", (long long)r1.seed);
        if (run(ref_ctx, m, &settings[0], r1.seed, &r2) == WSD_OK) compare("seed -1, then the reported seed", &settings[0], &r1, &r2);
        wsd_image_free(&r2);
    }
    wsd_image_free(&r1);
    wsd_model_free(m);
    wsd_context_free(ref_ctx);
    return tu_finish();
}
