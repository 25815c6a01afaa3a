/* wsd generate: text-to-image and img2img to a PNG, with the flags a
 * stable-diffusion.cpp user knows. */
#include "commands.h"

#include "core/dtype.h"
#include "io/infotext.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "wsd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsd generate -p PROMPT [options]\n"
            "\n"
            "  -m, --model DIR|FILE     diffusers folder or single-file .safetensors (default: built-in shapes model)\n"
            "  -p, --prompt TEXT        what to draw\n"
            "  -n, --negative TEXT      what to avoid (default: empty)\n"
            "      --steps N            denoising steps, 1..1000 (default 20)\n"
            "      --cfg-scale G        classifier-free guidance (alias --guidance; default 7.5; <= 1 disables)\n"
            "  -s, --seed S             random seed; -1 = random (default), the seed used is printed\n"
            "      --sampler NAME       pndm ddim euler euler_a dpmpp_2m dpmpp_2m_karras lms lcm\n"
            "                           (default: the model's own scheduler)\n"
            "  -W, --width W            image width, a multiple of 8 (default: the model's size)\n"
            "  -H, --height H           image height, a multiple of 8\n"
            "  -i, --init-image PNG     img2img: start from this image (same size as the output)\n"
            "      --strength X         img2img strength in (0, 1] (default 0.8)\n"
            "      --backend cpu|webgpu compute backend (default cpu)\n"
            "  -t, --threads N          CPU threads (default: all cores)\n"
            "  -o, --output FILE        PNG to write (default output.png)\n"
            "  -q, --quiet              no progress bar\n"
            "Exact-testing hooks:\n"
            "      --latents FILE       initial noise: tensor latents_init [1,4,h,w] of a safetensors file\n"
            "      --noise FILE         img2img noise: tensor noise_draws [2,1,4,h,w]\n"
            "      --save-raw FILE      also write latents_final and image [1,H,W,3] float32 to a safetensors file\n");
}

static const struct { const char *name; wsd_sampler s; const char *label; } samplers[] = {
    {"pndm", WSD_SAMPLER_PNDM, "PNDM"}, {"ddim", WSD_SAMPLER_DDIM, "DDIM"}, {"euler", WSD_SAMPLER_EULER, "Euler"},
    {"euler_a", WSD_SAMPLER_EULER_A, "Euler a"}, {"dpmpp_2m", WSD_SAMPLER_DPMPP_2M, "DPM++ 2M"},
    {"dpmpp_2m_karras", WSD_SAMPLER_DPMPP_2M_KARRAS, "DPM++ 2M Karras"}, {"lms", WSD_SAMPLER_LMS, "LMS"},
    {"lcm", WSD_SAMPLER_LCM, "LCM"},
};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return 0;
    *out = (float)v;
    return 1;
}

typedef struct {
    int quiet;
    double start, last;
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int on_progress(void *user, int step, int total, const uint8_t *preview, int pw, int ph)
{
    (void)preview, (void)pw, (void)ph;
    progress_state *ps = user;
    if (ps->quiet) return 0;
    double t = now_s(), el = t - ps->start, its = step / (el > 0 ? el : 1e-9), eta = (total - step) / (its > 0 ? its : 1e-9);
    int width = 30, fill = total ? step * width / total : width;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '=' : ' ', stderr);
    fprintf(stderr, "] step %d/%d  %.2f it/s  ETA %.1fs ", step, total, its, eta);
    if (step == total) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

/* Reads tensor `name` of a safetensors file as float32 with exactly n elements. */
static float *read_tensor(const char *path, const char *name, size_t n)
{
    st_file f;
    wsd_err err = {0};
    float *x = NULL;
    if (st_open(path, &f, &err) != WSD_OK) {
        fprintf(stderr, "wsd generate: %s\n", err.msg);
        return NULL;
    }
    const st_tensor *t = st_find(&f, name);
    if (!t) fprintf(stderr, "wsd generate: %s: no tensor \"%s\"\n", path, name);
    else if ((size_t)t->numel != n) fprintf(stderr, "wsd generate: %s: \"%s\" has %lld values, expected %zu\n", path, name, (long long)t->numel, n);
    else if (st_read_f32(&f, name, t->ndim, t->shape, &x, &err) != WSD_OK) fprintf(stderr, "wsd generate: %s\n", err.msg);
    st_close(&f);
    return x;
}

#define NEED_VALUE()                                                              \
    do {                                                                          \
        if (i + 1 >= argc) {                                                      \
            fprintf(stderr, "wsd generate: %s needs a value\n", a);               \
            return 2;                                                             \
        }                                                                         \
        v = argv[++i];                                                            \
    } while (0)

int cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = "output.png", *init_path = NULL, *latents_path = NULL, *noise_path = NULL, *raw_path = NULL;
    const char *backend = "cpu", *sampler_label = NULL;
    wsd_generate_params p;
    wsd_generate_params_init(&p);
    long threads = 0;
    int quiet = 0, have_strength = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); model_path = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEED_VALUE(); p.prompt = v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative") || !strcmp(a, "--negative-prompt")) { NEED_VALUE(); p.negative_prompt = v; }
        else if (!strcmp(a, "--steps")) {
            NEED_VALUE();
            if (!parse_int(v, -1000000, 1000000, &n)) { fprintf(stderr, "wsd generate: --steps \"%s\" is not an integer\n", v); return 2; }
            p.steps = (int)n;
            if (n < 1 || n > 1000) { fprintf(stderr, "wsd generate: --steps %ld: must be between 1 and 1000\n", n); return 2; }
        } else if (!strcmp(a, "--cfg-scale") || !strcmp(a, "--guidance")) {
            NEED_VALUE();
            if (!parse_float(v, &p.guidance) || p.guidance < 0 || p.guidance > 100) { fprintf(stderr, "wsd generate: %s \"%s\": must be a number between 0 and 100\n", a, v); return 2; }
        } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            long long s = strtoll(v, &end, 10);
            if (errno || end == v || *end || s < -1) { fprintf(stderr, "wsd generate: --seed \"%s\": must be an integer >= 0 (or -1 for random)\n", v); return 2; }
            p.seed = s;
        } else if (!strcmp(a, "--sampler")) {
            NEED_VALUE();
            size_t k;
            for (k = 0; k < sizeof samplers / sizeof *samplers; k++)
                if (!strcmp(v, samplers[k].name)) break;
            if (k == sizeof samplers / sizeof *samplers) { fprintf(stderr, "wsd generate: unknown sampler \"%s\" (pndm ddim euler euler_a dpmpp_2m dpmpp_2m_karras lms lcm)\n", v); return 2; }
            p.sampler = samplers[k].s;
            sampler_label = samplers[k].label;
        } else if (!strcmp(a, "-W") || !strcmp(a, "--width") || !strcmp(a, "-H") || !strcmp(a, "--height")) {
            NEED_VALUE();
            if (!parse_int(v, 8, 4096, &n) || n % 8) { fprintf(stderr, "wsd generate: %s \"%s\": must be a multiple of 8 between 8 and 4096\n", a, v); return 2; }
            if (a[1] == 'W' || a[2] == 'w') p.width = (int)n;
            else p.height = (int)n;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--init-image")) { NEED_VALUE(); init_path = v; }
        else if (!strcmp(a, "--strength")) {
            NEED_VALUE();
            if (!parse_float(v, &p.strength) || !(p.strength > 0 && p.strength <= 1)) { fprintf(stderr, "wsd generate: --strength \"%s\": must be in (0, 1]\n", v); return 2; }
            have_strength = 1;
        } else if (!strcmp(a, "--backend")) {
            NEED_VALUE();
            if (strcmp(v, "cpu") && strcmp(v, "webgpu")) { fprintf(stderr, "wsd generate: --backend \"%s\": cpu or webgpu\n", v); return 2; }
            backend = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE();
            if (!parse_int(v, 0, 1024, &threads)) { fprintf(stderr, "wsd generate: --threads \"%s\": 0..1024\n", v); return 2; }
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEED_VALUE(); out_path = v; }
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--latents")) { NEED_VALUE(); latents_path = v; }
        else if (!strcmp(a, "--noise")) { NEED_VALUE(); noise_path = v; }
        else if (!strcmp(a, "--save-raw")) { NEED_VALUE(); raw_path = v; }
        else { fprintf(stderr, "wsd generate: unknown option \"%s\" (see wsd generate --help)\n", a); return 2; }
    }
    if (!p.prompt) { fprintf(stderr, "wsd generate: -p PROMPT is required\n"); return 2; }
    if (have_strength && !init_path) { fprintf(stderr, "wsd generate: --strength needs --init-image\n"); return 2; }

    wsd_context_options co;
    wsd_context_options_init(&co);
    co.threads = (int)threads;
    co.backend = !strcmp(backend, "webgpu") ? WSD_BACKEND_WEBGPU : WSD_BACKEND_CPU;
    wsd_context *ctx;
    char msg[1024];
    if (wsd_context_create(&co, &ctx, msg, sizeof msg) != WSD_OK) {
        fprintf(stderr, "wsd generate: %s\n", msg);
        return 1;
    }
    int rc = 1;
    wsd_model *model = NULL;
    uint8_t *init_rgb = NULL;
    float *latents = NULL, *noise = NULL;
    wsd_image img = {0};
    if (wsd_model_load(ctx, model_path, &model) != WSD_OK) {
        fprintf(stderr, "wsd generate: %s\n", wsd_last_error(ctx));
        goto done;
    }
    /* resolve the default size now so the inputs below can be checked against it */
    wsd_model_info info;
    wsd_model_get_info(model, &info);
    int W = p.width ? p.width : info.default_width, H = p.height ? p.height : info.default_height;
    p.width = W;
    p.height = H;
    size_t nlat = (size_t)4 * (H / 8) * (W / 8);
    if (init_path) {
        wsd_err err = {0};
        pngio_image pi;
        if (pngio_read_rgb(init_path, &pi, &err) != WSD_OK) {
            fprintf(stderr, "wsd generate: %s\n", err.msg);
            rc = 2;
            goto done;
        }
        init_rgb = pi.rgb;
        pi.rgb = NULL;
        int iw = pi.width, ih = pi.height;
        pngio_image_free(&pi);
        if (iw != W || ih != H) {
            fprintf(stderr, "wsd generate: %s is %dx%d but the output is %dx%d (pass -W/-H to match)\n", init_path, iw, ih, W, H);
            rc = 2;
            goto done;
        }
        p.init_image = init_rgb;
    }
    if (latents_path && !(latents = read_tensor(latents_path, "latents_init", nlat))) { rc = 2; goto done; }
    if (noise_path && !(noise = read_tensor(noise_path, "noise_draws", 2 * nlat))) { rc = 2; goto done; }
    p.latents_init = latents;
    p.noise_draws = noise;
    progress_state ps = {quiet, now_s(), 0};
    p.progress = on_progress;
    p.progress_user = &ps;
    wsd_status s = wsd_generate(ctx, model, &p, &img);
    if (s != WSD_OK) {
        if (!quiet) fputc('\n', stderr);
        fprintf(stderr, "wsd generate: %s\n", wsd_last_error(ctx));
        rc = s == WSD_ERR_INVALID_ARGUMENT ? 2 : 1;
        goto done;
    }
    /* generation parameters in AUTOMATIC1111's "parameters" text chunk */
    infotext it = {p.prompt, p.negative_prompt, p.steps, sampler_label ? sampler_label : info.sampler, p.guidance,
                   img.seed, img.width, img.height, NULL, info.name, init_path ? p.strength : 0, 0, "wsd " WSD_VERSION};
    wsd_err err = {0};
    char *params = NULL;
    if (infotext_format(&it, &params, &err) != WSD_OK) {
        fprintf(stderr, "wsd generate: %s\n", err.msg);
        goto done;
    }
    pngio_text text = {"parameters", params};
    wsd_status ws = pngio_write_rgb(out_path, img.rgb, img.width, img.height, &text, 1, &err);
    free(params);
    if (ws != WSD_OK) {
        fprintf(stderr, "wsd generate: %s\n", err.msg);
        goto done;
    }
    if (raw_path) {
        st_writer *w = st_writer_new();
        int64_t ls[4] = {1, 4, H / 8, W / 8}, is[4] = {1, H, W, 3};
        ws = w ? WSD_OK : WSD_ERR_OUT_OF_MEMORY;
        if (ws == WSD_OK) ws = st_writer_add(w, "latents_final", WSD_DT_F32, 4, ls, img.latents, &err);
        if (ws == WSD_OK) ws = st_writer_add(w, "image", WSD_DT_F32, 4, is, img.image_f32, &err);
        if (ws == WSD_OK) ws = st_writer_save(w, raw_path, &err);
        st_writer_free(w);
        if (ws != WSD_OK) {
            fprintf(stderr, "wsd generate: %s\n", err.msg);
            goto done;
        }
    }
    printf("wrote %s (%dx%d, seed %lld)\n", out_path, img.width, img.height, (long long)img.seed);
    rc = 0;
done:
    wsd_image_free(&img);
    free(init_rgb);
    free(latents);
    free(noise);
    wsd_model_free(model);
    wsd_context_free(ctx);
    return rc;
}
