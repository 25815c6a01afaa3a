/* wsd generate: text-to-image and img2img to a PNG, with the flags a
 * stable-diffusion.cpp user knows. */
#include "commands.h"
#include "gen_args.h"

#include "core/dtype.h"
#include "io/infotext.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "wsd.h"

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

int cmd_generate(int argc, char **argv)
{
    gen_args ga;
    char msg[1024];
    if (generate_parse_args(argc, argv, &ga, msg, sizeof msg) != 0) {
        fprintf(stderr, "wsd generate: %s\n", msg);
        return 2;
    }
    if (ga.help) {
        usage(stdout);
        return 0;
    }
    wsd_generate_params p = ga.p;
    const char *model_path = ga.model_path, *out_path = ga.out_path, *init_path = ga.init_path;
    const char *latents_path = ga.latents_path, *noise_path = ga.noise_path, *raw_path = ga.raw_path;
    const char *sampler_label = ga.sampler_label;
    int quiet = ga.quiet;

    wsd_context_options co;
    wsd_context_options_init(&co);
    co.threads = ga.threads;
    co.backend = ga.backend_webgpu ? WSD_BACKEND_WEBGPU : WSD_BACKEND_CPU;
    wsd_context *ctx;
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
    /* CLIP sees 75 tokens: say so when a prompt is longer than that (an invalid
     * prompt is left for wsd_generate to report) */
    const char *texts[2] = {p.prompt, p.negative_prompt}, *what[2] = {"prompt", "negative prompt"};
    for (int k = 0; k < 2; k++) {
        int32_t ids[WSD_MAX_TOKENS];
        int nt = 0;
        if (texts[k] && wsd_tokenize(ctx, model, texts[k], ids, &nt) == WSD_OK && nt > WSD_MAX_TOKENS - 2)
            fprintf(stderr, "wsd generate: warning: the %s is %d tokens long; only the first %d are used\n", what[k], nt,
                    WSD_MAX_TOKENS - 2);
    }
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
