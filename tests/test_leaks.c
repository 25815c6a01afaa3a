/* Leak check: 20 generations in one process (the embedded tiny model, 64x64,
 * 2 steps, CPU) with memory in use flat after the first, then a mixed round
 * (img2img, previews, every sampler, a cancelled run, failing runs, a model
 * loaded and freed again), and after everything is freed memory in use back
 * where it was before the first context.
 *
 * "Memory in use" is the allocator's own count: under AddressSanitizer
 * __sanitizer_get_current_allocated_bytes (tests/sanitizers.sh runs this test
 * there, and LeakSanitizer checks the whole process at exit), otherwise
 * glibc's mallinfo2 (bytes in use, arena and mmapped chunks). */
#include "testutil.h"
#include "wsd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define WSD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSD_ASAN 1
#endif
#endif

#ifdef WSD_ASAN
/* from <sanitizer/allocator_interface.h>, which gcc does not install */
size_t __sanitizer_get_current_allocated_bytes(void);
static long long in_use(void) { return (long long)__sanitizer_get_current_allocated_bytes(); }
#define COUNTER "ASan allocator"
#define SLACK 0 /* requested bytes: exact */
#define MIXED_SLACK 0
#else
#include <malloc.h>
static long long in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long long)mi.uordblks + (long long)mi.hblkhd;
}
#define COUNTER "glibc mallinfo2"
/* chunk sizes: a realloc done in place may keep up to a minimum chunk (16
 * bytes on x86-64) more than asked, so allow one such per comparison */
#define SLACK 16
#define MIXED_SLACK 64
#endif

static uint8_t init_rgb[64 * 64 * 3];

static int on_progress(void *user, int step, int total, const uint8_t *preview, int pw, int ph)
{
    int *cancel_at = user;
    (void)total, (void)preview, (void)pw, (void)ph;
    return *cancel_at && step >= *cancel_at;
}

static void params(wsd_generate_params *p, int64_t seed)
{
    wsd_generate_params_init(p);
    p->prompt = "a white triangle on a green background";
    p->negative_prompt = "blurry";
    p->width = p->height = 64;
    p->steps = 2;
    p->seed = seed;
    p->sampler = WSD_SAMPLER_DPMPP_2M;
}

int main(int argc, char **argv)
{
    (void)argc;
#ifndef WSD_ASAN
    /* glibc's per-thread caches (tcache, fastbins) count freed chunks as in
     * use, and its moving mmap threshold moves chunks between the heap and
     * mmap (counted differently); without both, mallinfo2 is exact. Tunables
     * are read at start-up, hence the re-exec. */
    if (!getenv("WSD_LEAKS_REEXEC")) {
        setenv("WSD_LEAKS_REEXEC", "1", 1);
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0:glibc.malloc.mmap_threshold=131072", 1);
        execv("/proc/self/exe", argv);
        perror("test_leaks: re-exec without malloc caches");
    }
#else
    (void)argv;
#endif
    for (size_t i = 0; i < sizeof init_rgb; i++) init_rgb[i] = (uint8_t)(i * 7);
    /* warm what the C library keeps for the process before the baseline:
     * stdio buffers, and the thread stacks glibc caches (with their TLS
     * vectors) after a context's worker threads exit */
    printf("memory in use counted by the %s\n", COUNTER);
    fflush(stdout);
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.threads = 2;
    wsd_context *ctx = NULL;
    char msg[512];
    if (wsd_context_create(&o, &ctx, msg, sizeof msg) == WSD_OK) wsd_context_free(ctx);
    long long base = in_use();
    if (wsd_context_create(&o, &ctx, msg, sizeof msg) != WSD_OK) {
        CHECKF(0, "context: %s", msg);
        return tu_finish();
    }
    wsd_model *m = NULL;
    if (wsd_model_load(ctx, NULL, &m) != WSD_OK) {
        CHECKF(0, "model: %s", wsd_last_error(ctx));
        return tu_finish();
    }

    /* 1. twenty identical generations but for the seed */
    long long after[21] = {0};
    for (int i = 1; i <= 20; i++) {
        wsd_generate_params p;
        params(&p, 1000 + i);
        wsd_image img;
        wsd_status st = wsd_generate(ctx, m, &p, &img);
        CHECKF(st == WSD_OK, "generation %d: %s", i, wsd_last_error(ctx));
        wsd_image_free(&img);
        after[i] = in_use();
    }
    printf("in use: before %lld, after run 1 %lld, run 2 %lld, run 10 %lld, run 20 %lld bytes\n", base, after[1], after[2],
           after[10], after[20]);
    long long worst = 0;
    for (int i = 2; i <= 20; i++) {
        long long d = after[i] - after[1];
        if (d > worst) worst = d;
    }
    CHECKF(worst <= SLACK, "memory in use grew by up to %lld bytes after the first of 20 generations", worst);
    printf("%-4s 20 generations: memory in use flat after the first (largest growth %lld bytes)\n", worst <= SLACK ? "ok" : "FAIL", worst);

    /* 2. a mixed round, twice: the second must end where the first did */
    long long round_end[3] = {0};
    static const wsd_sampler samplers[] = {WSD_SAMPLER_DEFAULT, WSD_SAMPLER_PNDM, WSD_SAMPLER_DDIM, WSD_SAMPLER_EULER,
                                           WSD_SAMPLER_EULER_A, WSD_SAMPLER_DPMPP_2M, WSD_SAMPLER_DPMPP_2M_KARRAS,
                                           WSD_SAMPLER_LMS, WSD_SAMPLER_LCM};
    for (int r = 0; r < 3; r++) {
        wsd_generate_params p;
        wsd_image img;
        for (size_t k = 0; k < sizeof samplers / sizeof *samplers; k++) {
            params(&p, 7);
            p.sampler = samplers[k];
            CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_OK, "sampler %d: %s", (int)samplers[k], wsd_last_error(ctx));
            wsd_image_free(&img);
        }
        params(&p, 8); /* img2img */
        p.init_image = init_rgb;
        p.strength = 0.6f;
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_OK, "img2img: %s", wsd_last_error(ctx));
        wsd_image_free(&img);
        int cancel_at = 0; /* previews on every step */
        params(&p, 9);
        p.progress = on_progress;
        p.progress_user = &cancel_at;
        p.preview_every = 1;
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_OK, "previews: %s", wsd_last_error(ctx));
        wsd_image_free(&img);
        cancel_at = 1; /* cancelled after the first step */
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_ERR_CANCELLED, "cancel: %s", wsd_last_error(ctx));
        wsd_image_free(&img);
        params(&p, 10); /* failing runs */
        p.steps = 0;
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_ERR_INVALID_ARGUMENT, "bad steps accepted");
        params(&p, 10);
        p.prompt = "\xff";
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_ERR_INVALID_ARGUMENT, "bad UTF-8 accepted");
        int32_t ids[WSD_MAX_TOKENS];
        CHECK(wsd_tokenize(ctx, m, "a photo of a cat", ids, NULL) == WSD_OK);
        wsd_model *m2 = NULL; /* another model loaded, used and freed */
        CHECK(wsd_model_load(ctx, NULL, &m2) == WSD_OK);
        params(&p, 11);
        CHECKF(wsd_generate(ctx, m2, &p, &img) == WSD_OK, "second model: %s", wsd_last_error(ctx));
        wsd_image_free(&img);
        wsd_model_free(m2);
        wsd_model *bad = NULL;
        CHECK(wsd_model_load(ctx, "/nonexistent/model", &bad) == WSD_ERR_IO && !bad);
        /* back to the first model (its weights are compiled again) */
        params(&p, 12);
        CHECKF(wsd_generate(ctx, m, &p, &img) == WSD_OK, "first model again: %s", wsd_last_error(ctx));
        wsd_image_free(&img);
        round_end[r] = in_use();
    }
    printf("in use after mixed rounds 1, 2, 3: %lld, %lld, %lld bytes\n", round_end[0], round_end[1], round_end[2]);
    /* glibc's count moves by a chunk or two between identical rounds (where
     * in-place reallocs land), up and down (seen: +32, then -16): allow
     * MIXED_SLACK there; a leak grows every round and the ASan count is exact. */
    for (int r = 1; r < 3; r++)
        CHECKF(llabs(round_end[r] - round_end[0]) <= MIXED_SLACK, "mixed round %d changed memory in use by %lld bytes", r + 1, round_end[r] - round_end[0]);

    /* 3. everything freed: back to the start */
    wsd_model_free(m);
    wsd_context_free(ctx);
    long long end = in_use();
    printf("%-4s all freed: %lld bytes in use, %lld before the first context\n", llabs(end - base) <= SLACK ? "ok" : "FAIL", end, base);
    CHECKF(llabs(end - base) <= SLACK, "%lld bytes still in use after freeing every context and model", end - base);
    return tu_finish();
}
