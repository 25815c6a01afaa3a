/* `wsd generate` argument parsing (see gen_args.h). */
#include "gen_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A finite number that is also finite as a float. */
static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || fabs(v) > 3.0e38) return 0;
    *out = (float)v;
    return 1;
}

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return 2;
}

int generate_parse_args(int argc, char **argv, gen_args *g, char *err, size_t cap)
{
    memset(g, 0, sizeof *g);
    g->out_path = "output.png";
    wsd_generate_params_init(&g->p);
    if (err && cap) err[0] = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long n;
        /* every option but the flags takes the next argument as its value */
        int flag = !strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-q") || !strcmp(a, "--quiet");
        int known = flag;
        static const char *const valued[] = {"-m", "--model", "-p", "--prompt", "-n", "--negative", "--negative-prompt", "--steps",
                                             "--cfg-scale", "--guidance", "-s", "--seed", "--sampler", "-W", "--width", "-H",
                                             "--height", "-i", "--init-image", "--strength", "--backend", "-t", "--threads",
                                             "-o", "--output", "--latents", "--noise", "--save-raw"};
        for (size_t k = 0; !known && k < sizeof valued / sizeof *valued; k++) known = !strcmp(a, valued[k]);
        if (!known) return fail(err, cap, "unknown option \"%s\" (see wsd generate --help)", a);
        if (!flag) {
            if (i + 1 >= argc) return fail(err, cap, "%s needs a value", a);
            v = argv[++i];
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { g->help = 1; return 0; }
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) g->quiet = 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) g->model_path = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) g->p.prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative") || !strcmp(a, "--negative-prompt")) g->p.negative_prompt = v;
        else if (!strcmp(a, "--steps")) {
            if (!parse_int(v, -1000000, 1000000, &n)) return fail(err, cap, "--steps \"%s\" is not an integer", v);
            if (n < 1 || n > 1000) return fail(err, cap, "--steps %ld: must be between 1 and 1000", n);
            g->p.steps = (int)n;
        } else if (!strcmp(a, "--cfg-scale") || !strcmp(a, "--guidance")) {
            if (!parse_float(v, &g->p.guidance) || g->p.guidance < 0 || g->p.guidance > 100)
                return fail(err, cap, "%s \"%s\": must be a number between 0 and 100", a, v);
        } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            long long s = strtoll(v, &end, 10);
            if (errno || end == v || *end || s < -1)
                return fail(err, cap, "--seed \"%s\": must be an integer from 0 to 9223372036854775807 (or -1 for random)", v);
            g->p.seed = s;
        } else if (!strcmp(a, "--sampler")) {
            size_t k;
            for (k = 0; k < sizeof samplers / sizeof *samplers; k++)
                if (!strcmp(v, samplers[k].name)) break;
            if (k == sizeof samplers / sizeof *samplers)
                return fail(err, cap, "unknown sampler \"%s\" (pndm ddim euler euler_a dpmpp_2m dpmpp_2m_karras lms lcm)", v);
            g->p.sampler = samplers[k].s;
            g->sampler_label = samplers[k].label;
        } else if (!strcmp(a, "-W") || !strcmp(a, "--width") || !strcmp(a, "-H") || !strcmp(a, "--height")) {
            if (!parse_int(v, 8, 4096, &n) || n % 8) return fail(err, cap, "%s \"%s\": must be a multiple of 8 between 8 and 4096", a, v);
            if (a[1] == 'W' || a[2] == 'w') g->p.width = (int)n;
            else g->p.height = (int)n;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--init-image")) g->init_path = v;
        else if (!strcmp(a, "--strength")) {
            if (!parse_float(v, &g->p.strength) || !(g->p.strength > 0 && g->p.strength <= 1))
                return fail(err, cap, "--strength \"%s\": must be in (0, 1]", v);
            g->have_strength = 1;
        } else if (!strcmp(a, "--backend")) {
            if (strcmp(v, "cpu") && strcmp(v, "webgpu")) return fail(err, cap, "--backend \"%s\": cpu or webgpu", v);
            g->backend_webgpu = !strcmp(v, "webgpu");
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!parse_int(v, 0, 1024, &n)) return fail(err, cap, "--threads \"%s\": 0..1024", v);
            g->threads = (int)n;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) g->out_path = v;
        else if (!strcmp(a, "--latents")) g->latents_path = v;
        else if (!strcmp(a, "--noise")) g->noise_path = v;
        else if (!strcmp(a, "--save-raw")) g->raw_path = v;
    }
    if (!g->p.prompt) return fail(err, cap, "-p PROMPT is required");
    if (g->have_strength && !g->init_path) return fail(err, cap, "--strength needs --init-image");
    return 0;
}
