/* `wsd generate` end to end, as a user runs it: the default model draws what
 * the prompt says, the exact-testing flags reproduce the goldens, --seed alone
 * reproduces diffusers' CPU-generator noise, and bad parameters exit with
 * code 2 and a message naming the problem. */
#include "io/png.h"
#include "io/safetensors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char cli[1024], tmp[1024];

/* Runs the CLI with `args`; returns its exit code and keeps stderr in *err_text. */
static int run_cli(const char *args, char *err_text, size_t cap)
{
    char cmd[8192], errf[1200];
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmp);
    snprintf(cmd, sizeof cmd, "%s generate -q %s > /dev/null 2> %s", cli, args, errf);
    int st = system(cmd);
    if (err_text) {
        err_text[0] = 0;
        FILE *f = fopen(errf, "r");
        if (f) {
            size_t n = fread(err_text, 1, cap - 1, f);
            err_text[n] = 0;
            fclose(f);
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void mean_rgb(const pngio_image *im, int x0, int y0, int size, float rgb[3])
{
    double s[3] = {0, 0, 0};
    for (int y = y0; y < y0 + size; y++)
        for (int x = x0; x < x0 + size; x++)
            for (int c = 0; c < 3; c++) s[c] += im->rgb[3 * (y * im->width + x) + c];
    for (int c = 0; c < 3; c++) rgb[c] = (float)(s[c] / (size * size) / 255.0);
}

static void compare_raw(const char *raw, const char *golden, const char *label)
{
    wsd_err err = {0};
    st_file a, b;
    if (st_open(raw, &a, &err) != WSD_OK || st_open(tu_shared(golden), &b, &err) != WSD_OK) {
        CHECKF(0, "%s: %s", label, err.msg);
        return;
    }
    float *la, *lb, *ia, *ib;
    const st_tensor *t = st_find(&b, "latents_final"), *ti = st_find(&b, "image");
    CHECK(st_read_f32(&a, "latents_final", t->ndim, t->shape, &la, &err) == WSD_OK);
    CHECK(st_read_f32(&b, "latents_final", t->ndim, t->shape, &lb, &err) == WSD_OK);
    CHECK(st_read_f32(&a, "image", ti->ndim, ti->shape, &ia, &err) == WSD_OK);
    CHECK(st_read_f32(&b, "image", ti->ndim, ti->shape, &ib, &err) == WSD_OK);
    char l[256];
    snprintf(l, sizeof l, "%s: final latents", label);
    if (la && lb) tu_check_close(l, la, lb, (size_t)t->numel, 1e-4, 1e9);
    snprintf(l, sizeof l, "%s: image", label);
    if (ia && ib) tu_check_close(l, ia, ib, (size_t)ti->numel, 1e9, 1e-3);
    free(la), free(lb), free(ia), free(ib);
    st_close(&a);
    st_close(&b);
}

int main(void)
{
    snprintf(cli, sizeof cli, "%s/wsd", WSD_BINARY_DIR);
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    char args[4096], msg[8192];
    wsd_err err = {0};

    /* 1. The default model, no flags but the prompt, sampler and seed: a white
     * triangle on green. (A fixed seed: about 1 seed in 12 draws a triangle
     * whose centre is not bright enough for the check, and without --seed
     * the seed comes from the clock; the run without one is 1b.) */
    snprintf(args, sizeof args, "-p \"a white triangle on a green background\" --sampler dpmpp_2m --seed 7 -o %s/tri.png",
             tmp);
    CHECKF(run_cli(args, msg, sizeof msg) == 0, "default generate failed: %s", msg);
    pngio_image im;
    snprintf(args, sizeof args, "%s/tri.png", tmp);
    if (pngio_read_rgb(args, &im, &err) == WSD_OK) {
        CHECK(im.width == 64 && im.height == 64);
        float centre[3], corner[3];
        mean_rgb(&im, 30, 30, 4, centre);
        mean_rgb(&im, 0, 0, 6, corner);
        printf("triangle: centre %.2f %.2f %.2f, corner %.2f %.2f %.2f\n", centre[0], centre[1], centre[2], corner[0], corner[1], corner[2]);
        CHECKF(centre[0] > 0.8f && centre[1] > 0.8f && centre[2] > 0.8f, "centre is not bright");
        CHECKF(corner[1] > corner[0] + 0.2f && corner[1] > corner[2] + 0.2f, "corner is not green");
        const char *params = pngio_image_text(&im, "parameters");
        CHECKF(params && strstr(params, "a white triangle on a green background") && strstr(params, "Sampler: DPM++ 2M") &&
                   strstr(params, "Steps: 20") && strstr(params, "Size: 64x64") && strstr(params, "Seed: "),
               "parameters chunk: %s", params ? params : "(none)");
        pngio_image_free(&im);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    /* 1b. Without --seed: a seed is drawn and recorded */
    snprintf(args, sizeof args, "-p \"a white triangle on a green background\" -o %s/tri_noseed.png", tmp);
    CHECKF(run_cli(args, msg, sizeof msg) == 0, "generate without --seed failed: %s", msg);
    snprintf(args, sizeof args, "%s/tri_noseed.png", tmp);
    if (pngio_read_rgb(args, &im, &err) == WSD_OK) {
        const char *params = pngio_image_text(&im, "parameters");
        CHECKF(params && strstr(params, "Seed: ") && strstr(params, "Steps: 20"), "parameters without --seed: %s",
               params ? params : "(none)");
        pngio_image_free(&im);
    } else {
        CHECKF(0, "%s", err.msg);
    }

    /* 2. --latents / --save-raw reproduce the DPM++ 2M golden; --seed alone the PNDM one. */
    const char *tiny = tu_shared("reference/tiny-sd15");
    snprintf(args, sizeof args, "-m %s -p \"a photograph of an astronaut riding a horse\" -n blurry --steps 4 --cfg-scale 7.5 "
             "--sampler dpmpp_2m -W 128 -H 128 --latents %s -o %s/a.png --save-raw %s/a.safetensors",
             tiny, tu_shared("reference/golden/pipeline_dpmpp2m_cfg.safetensors"), tmp, tmp);
    CHECKF(run_cli(args, msg, sizeof msg) == 0, "%s", msg);
    snprintf(args, sizeof args, "%s/a.safetensors", tmp);
    compare_raw(args, "reference/golden/pipeline_dpmpp2m_cfg.safetensors", "cli dpm++ 2m --latents");
    snprintf(args, sizeof args, "-m %s -p \"a photograph of an astronaut riding a horse\" -n blurry --steps 4 --guidance 7.5 "
             "-W 128 -H 128 --seed 110 -o %s/b.png --save-raw %s/b.safetensors", tiny, tmp, tmp);
    CHECKF(run_cli(args, msg, sizeof msg) == 0, "%s", msg);
    snprintf(args, sizeof args, "%s/b.safetensors", tmp);
    compare_raw(args, "reference/golden/pipeline_pndm_cfg.safetensors", "cli pndm --seed 110 only");
    snprintf(args, sizeof args, "-m %s -p \"a photograph of an astronaut riding a horse\" --steps 4 --cfg-scale 1 "
             "-W 128 -H 128 --seed 112 -o %s/c.png --save-raw %s/c.safetensors", tiny, tmp, tmp);
    CHECKF(run_cli(args, msg, sizeof msg) == 0, "%s", msg);
    snprintf(args, sizeof args, "%s/c.safetensors", tmp);
    compare_raw(args, "reference/golden/pipeline_pndm_nocfg.safetensors", "cli pndm no cfg --seed 112 only");

    /* 3. img2img through --init-image PNG + --noise. */
    st_file g;
    if (st_open(tu_shared("reference/golden/img2img_pndm.safetensors"), &g, &err) == WSD_OK) {
        const st_tensor *t = st_find(&g, "init_image_uint8");
        snprintf(args, sizeof args, "%s/init.png", tmp);
        CHECK(pngio_write_rgb(args, t->data, 128, 128, NULL, 0, &err) == WSD_OK);
        st_close(&g);
        snprintf(args, sizeof args, "-m %s -p \"a photograph of an astronaut riding a horse\" -n blurry --steps 8 -W 128 -H 128 "
                 "-i %s/init.png --strength 0.75 --noise %s -o %s/d.png --save-raw %s/d.safetensors",
                 tiny, tmp, tu_shared("reference/golden/img2img_pndm.safetensors"), tmp, tmp);
        CHECKF(run_cli(args, msg, sizeof msg) == 0, "%s", msg);
        snprintf(args, sizeof args, "%s/d.safetensors", tmp);
        compare_raw(args, "reference/golden/img2img_pndm.safetensors", "cli img2img --init-image --noise");
    }

    /* 4. Bad parameters: exit code 2 and a message that names the problem. */
    snprintf(args, sizeof args, "%s/notpng.png", tmp);
    FILE *f = fopen(args, "w");
    if (f) { fputs("this is not a png", f); fclose(f); }
    struct { const char *args, *needle; } bad[] = {
        {"-p x --steps 0", "--steps"},
        {"-p x -W 100", "multiple of 8"},
        {"-p x --cfg-scale nan", "--cfg-scale"},
        {"-p x --guidance inf", "--guidance"},
        {"-p x --sampler nope", "unknown sampler"},
        {"-p x -i /nonexistent/init.png", "/nonexistent/init.png"},
        {"-p x -i NOTPNG", "notpng.png"},
        {"-p x -i NOTPNG --strength 1.5", "--strength"},
        {"-p x -i NOTPNG --strength 0", "--strength"},
        {"-p x --seed abc", "--seed"},
        {"--steps 4", "-p PROMPT"},
        {"-p x --bogus", "--bogus"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char a2[2048];
        const char *np = strstr(bad[i].args, "NOTPNG");
        if (np) snprintf(a2, sizeof a2, "%.*s%s/notpng.png%s", (int)(np - bad[i].args), bad[i].args, tmp, np + 6);
        else snprintf(a2, sizeof a2, "%s", bad[i].args);
        int rc = run_cli(a2, msg, sizeof msg);
        CHECKF(rc == 2, "`wsd generate %s` exited %d, want 2 (%s)", a2, rc, msg);
        CHECKF(strstr(msg, bad[i].needle) != NULL, "`wsd generate %s`: message \"%s\" does not mention \"%s\"", a2, msg, bad[i].needle);
    }
    return tu_finish();
}
