/* GPU faults during a run, injected through the GPU interface (gpu.h), and
 * run-to-run determinism on the native WebGPU backend, on the embedded tiny
 * model (64x64, 1 Euler step without CFG: SwiftShader in CI is slow).
 *
 * The seam: this test is linked with -Wl,--wrap for the gpu.h functions the
 * backend calls (tests/CMakeLists.txt), so every call from the WebGPU backend
 * lands in a __wrap_gpu_* below, which passes it to the real Dawn
 * implementation (__real_gpu_*) or fails it the way a GPU does:
 *   - allocation failure: gpu_buffer_create returns 0 with
 *     WSD_ERR_OUT_OF_MEMORY (an arena, or a weight pool of a new model);
 *   - lost device: from the chosen gpu_submit / gpu_buffer_read /
 *     gpu_buffer_write on, every call on that device fails with
 *     WSD_ERR_DEVICE "device lost", as gpu.h specifies for a lost device.
 * No source file of the engine changes for this.
 *
 * Checks: a faulty run returns that error with a message (no crash, no hang,
 * out zeroed); after allocation failures (arena, scratch, parameters, a
 * weight pool) the same context runs again and gives the same image; after a
 * lost device the same context keeps failing with WSD_ERR_DEVICE and a fresh
 * context (a fresh device) gives the same image as before. Images are
 * compared bit for bit: the same seed and settings on the same backend give
 * identical bytes, cold, warm, or on a fresh device. */
#include "backends/webgpu/gpu.h"
#include "testutil.h"
#include "wsd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the fault injector ---------------------------------------------------- */

wsd_status __real_gpu_open(const gpu_open_options *opt, gpu_device **out, wsd_err *err);
gpu_buf __real_gpu_buffer_create(gpu_device *dev, uint64_t size, uint32_t usage, const char *label, wsd_err *err);
wsd_status __real_gpu_buffer_write(gpu_device *dev, gpu_buf buf, uint64_t offset, const void *data, uint64_t size, wsd_err *err);
wsd_status __real_gpu_buffer_read(gpu_device *dev, gpu_buf buf, uint64_t offset, void *dst, uint64_t size, wsd_err *err);
wsd_status __real_gpu_submit(gpu_device *dev, const gpu_cmd *cmds, uint32_t n, wsd_err *err);
wsd_status __real_gpu_wait(gpu_device *dev, wsd_err *err);

static struct {
    long creates, submits, reads, writes, opens; /* calls seen since the last reset */
    long weight_creates;                         /* creates of weight pools ("weights N") among them */
    const char *fail_label_prefix;              /* creates whose label starts so are counted for fail_create */
    long fail_create;                            /* fail the n-th such create (1-based; 0 = off) */
    long lose_submit, lose_read, lose_write;     /* lose the device at the n-th call (0 = off) */
    gpu_device *lost[16];                        /* devices lost so far */
    int n_lost;
    long injected;
} fx;

static void fx_reset(void)
{
    fx.creates = fx.submits = fx.reads = fx.writes = fx.weight_creates = 0;
    fx.fail_label_prefix = NULL;
    fx.fail_create = fx.lose_submit = fx.lose_read = fx.lose_write = 0;
    fx.injected = 0;
}

static int is_lost(gpu_device *d)
{
    for (int i = 0; i < fx.n_lost; i++)
        if (fx.lost[i] == d) return 1;
    return 0;
}

static wsd_status lost_error(wsd_err *err)
{
    return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU device lost (injected by test_gpu_faults)");
}

static wsd_status lose(gpu_device *d, wsd_err *err)
{
    if (fx.n_lost < 16) fx.lost[fx.n_lost++] = d;
    fx.injected++;
    return lost_error(err);
}

wsd_status __wrap_gpu_open(const gpu_open_options *opt, gpu_device **out, wsd_err *err)
{
    fx.opens++;
    return __real_gpu_open(opt, out, err);
}

gpu_buf __wrap_gpu_buffer_create(gpu_device *dev, uint64_t size, uint32_t usage, const char *label, wsd_err *err)
{
    if (is_lost(dev)) {
        lost_error(err);
        return 0;
    }
    if (label && !strncmp(label, "weights", 7)) fx.weight_creates++;
    if (!fx.fail_label_prefix || (label && !strncmp(label, fx.fail_label_prefix, strlen(fx.fail_label_prefix)))) {
        fx.creates++;
        if (fx.fail_create && fx.creates == fx.fail_create) {
            fx.injected++;
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "WebGPU: out of memory creating buffer \"%s\" of %llu bytes (injected by test_gpu_faults)",
                     label ? label : "", (unsigned long long)size);
            return 0;
        }
    }
    return __real_gpu_buffer_create(dev, size, usage, label, err);
}

wsd_status __wrap_gpu_buffer_write(gpu_device *dev, gpu_buf buf, uint64_t offset, const void *data, uint64_t size, wsd_err *err)
{
    if (is_lost(dev)) return lost_error(err);
    if (fx.lose_write && ++fx.writes == fx.lose_write) return lose(dev, err);
    return __real_gpu_buffer_write(dev, buf, offset, data, size, err);
}

wsd_status __wrap_gpu_buffer_read(gpu_device *dev, gpu_buf buf, uint64_t offset, void *dst, uint64_t size, wsd_err *err)
{
    if (is_lost(dev)) return lost_error(err);
    fx.reads++;
    if (fx.lose_read && fx.reads == fx.lose_read) return lose(dev, err);
    return __real_gpu_buffer_read(dev, buf, offset, dst, size, err);
}

wsd_status __wrap_gpu_submit(gpu_device *dev, const gpu_cmd *cmds, uint32_t n, wsd_err *err)
{
    if (is_lost(dev)) return lost_error(err);
    fx.submits++;
    if (fx.lose_submit && fx.submits == fx.lose_submit) return lose(dev, err);
    return __real_gpu_submit(dev, cmds, n, err);
}

wsd_status __wrap_gpu_wait(gpu_device *dev, wsd_err *err)
{
    if (is_lost(dev)) return lost_error(err);
    return __real_gpu_wait(dev, err);
}

/* ---- runs ------------------------------------------------------------------------ */

static wsd_image base;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static wsd_context *new_ctx(void)
{
    wsd_context_options o;
    wsd_context_options_init(&o);
    o.backend = WSD_BACKEND_WEBGPU;
    wsd_context *ctx = NULL;
    char msg[1024];
    if (wsd_context_create(&o, &ctx, msg, sizeof msg) != WSD_OK) {
        CHECKF(0, "WebGPU context: %s (CI needs Dawn and SwiftShader: scripts/deps.sh)", msg);
        return NULL;
    }
    return ctx;
}

static wsd_status gen(wsd_context *ctx, const wsd_model *m, wsd_image *img, const char *label)
{
    wsd_generate_params p;
    wsd_generate_params_init(&p);
    p.prompt = "a white triangle on a green background";
    p.negative_prompt = "blurry";
    p.width = p.height = 64;
    p.steps = 1;
    p.guidance = 1.0f;
    p.seed = 424242;
    p.sampler = WSD_SAMPLER_EULER;
    double t0 = now();
    wsd_status st = wsd_generate(ctx, m, &p, img);
    printf("     %-52s %s in %.1f s%s%s\n", label, wsd_status_name(st), now() - t0, st ? ": " : "", st ? wsd_last_error(ctx) : "");
    return st;
}

static int same_image(const wsd_image *a, const wsd_image *b)
{
    size_t n = (size_t)a->width * a->height;
    return a->width == b->width && a->height == b->height && a->rgb && b->rgb && !memcmp(a->rgb, b->rgb, 3 * n) &&
           !memcmp(a->latents, b->latents, 4 * (size_t)(a->width / 8) * (a->height / 8) * sizeof(float)) &&
           !memcmp(a->image_f32, b->image_f32, 3 * n * sizeof(float));
}

/* A run that must succeed and give the baseline image. */
static void run_ok(wsd_context *ctx, const wsd_model *m, const char *label)
{
    wsd_image img;
    wsd_status st = gen(ctx, m, &img, label);
    CHECKF(st == WSD_OK, "%s: %s", label, wsd_last_error(ctx));
    if (st == WSD_OK) CHECKF(same_image(&img, &base), "%s: the image differs from the first run (same seed, same backend)", label);
    wsd_image_free(&img);
}

/* A run that must fail with `want` and a message holding `needle`. */
static void run_fails(wsd_context *ctx, const wsd_model *m, const char *label, wsd_status want, const char *needle)
{
    wsd_image img;
    wsd_status st = gen(ctx, m, &img, label);
    CHECKF(st == want, "%s: status %s, want %s", label, wsd_status_name(st), wsd_status_name(want));
    CHECKF(strstr(wsd_last_error(ctx), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", label, wsd_last_error(ctx), needle);
    CHECKF(!img.rgb && !img.latents && !img.width, "%s: out not zeroed", label);
    wsd_image_free(&img);
}

int main(void)
{
    if (!getenv("VK_ICD_FILENAMES") && access("/usr/lib/chromium/vk_swiftshader_icd.json", R_OK) == 0)
        setenv("VK_ICD_FILENAMES", "/usr/lib/chromium/vk_swiftshader_icd.json", 1);
    wsd_context *ctx = new_ctx();
    if (!ctx) return tu_finish();
    wsd_model *m = NULL;
    if (wsd_model_load(ctx, NULL, &m) != WSD_OK) {
        CHECKF(0, "embedded model: %s", wsd_last_error(ctx));
        return tu_finish();
    }

    /* The first run (cold: shaders compile, weights upload) is the reference;
     * a warm run after the faults below and a fresh context at the end must
     * give the same bytes. Runs that fail do so early and cost little. */
    fx_reset();
    if (gen(ctx, m, &base, "first run (cold device)") != WSD_OK) {
        CHECKF(0, "%s", wsd_last_error(ctx));
        return tu_finish();
    }
    long creates = fx.creates - fx.weight_creates, submits = fx.submits, reads = fx.reads;
    printf("     a run: %ld buffer creations (and %ld weight pools), %ld submits, %ld reads\n", creates, fx.weight_creates, submits, reads);
    CHECKF(creates >= 3 && submits >= 3 && reads >= 2, "too few GPU calls seen (is --wrap in effect?)");

    printf("-- allocation failures\n");
    long at[] = {1, creates / 2, creates};
    for (int k = 0; k < 3; k++) {
        fx_reset();
        fx.fail_create = at[k] ? at[k] : 1;
        char label[96];
        snprintf(label, sizeof label, "buffer creation %ld of %ld fails", fx.fail_create, creates);
        run_fails(ctx, m, label, WSD_ERR_OUT_OF_MEMORY, "out of memory creating buffer");
        CHECKF(fx.injected == 1, "%s: the fault was not reached", label);
    }
    /* a weight upload that fails: a second copy of the model has new weights to upload */
    wsd_model *m2 = NULL;
    CHECKF(wsd_model_load(ctx, NULL, &m2) == WSD_OK, "%s", wsd_last_error(ctx));
    if (m2) {
        fx_reset();
        fx.fail_label_prefix = "weights";
        fx.fail_create = 1;
        run_fails(ctx, m2, "first weight pool of a new model fails", WSD_ERR_OUT_OF_MEMORY, "\"weights");
        CHECKF(fx.injected == 1, "no weight pool was created");
        fx_reset();
        run_ok(ctx, m2, "then the same context again: bit-identical to the first run");
        wsd_model_free(m2);
    }

    printf("-- lost device\n");
    fx_reset();
    fx.lose_submit = submits / 2 ? submits / 2 : 1;
    char label[96];
    snprintf(label, sizeof label, "device lost at submit %ld of %ld", fx.lose_submit, submits);
    run_fails(ctx, m, label, WSD_ERR_DEVICE, "device lost");
    run_fails(ctx, m, "  the same context again: still lost", WSD_ERR_DEVICE, "device lost");
    wsd_model_free(m);
    wsd_context_free(ctx);

    /* a fresh device: works, same image; then loses itself on the upload of a new model */
    ctx = new_ctx();
    if (!ctx) return tu_finish();
    CHECKF(wsd_model_load(ctx, NULL, &m) == WSD_OK, "%s", wsd_last_error(ctx));
    fx_reset();
    run_ok(ctx, m, "fresh context after the loss: same image");
    CHECKF(wsd_model_load(ctx, NULL, &m2) == WSD_OK, "%s", wsd_last_error(ctx));
    fx_reset();
    fx.lose_write = 1;
    run_fails(ctx, m2, "device lost at the first upload of a new model", WSD_ERR_DEVICE, "device lost");
    fx_reset();
    fx.lose_read = 1;
    run_fails(ctx, m, "  the first model again: still lost", WSD_ERR_DEVICE, "device lost");
    wsd_model_free(m2);
    wsd_model_free(m);
    wsd_context_free(ctx);

    wsd_image_free(&base);
    return tu_finish();
}
