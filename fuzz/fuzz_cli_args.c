/* libFuzzer target: the `wsd generate` argument parser
 * (generate_parse_args, tools/wsd/gen_args.c).
 *
 * The input is split into arguments at NUL bytes (argv[0] is "generate").
 * Whatever they say, the parser returns 0 or 2 without a crash or leak; on 2
 * the message is non-empty and NUL-terminated inside its buffer (also when
 * the buffer is tiny); on 0 (and no --help) every value is inside the ranges
 * wsd_generate accepts, and every string points into argv. */
#include "gen_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)                                                                          \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "fuzz_cli_args: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                               \
        }                                                                                   \
    } while (0)

/* The fuzz library leaves out src/pipeline/ (it would drag in the backends);
 * this is generate.c's wsd_generate_params_init, which the parser calls for
 * its defaults. The invariants below check ranges, not these values. */
void wsd_generate_params_init(wsd_generate_params *p)
{
    memset(p, 0, sizeof *p);
    p->guidance = 7.5f;
    p->steps = 20;
    p->seed = -1;
    p->strength = 0.8f;
}

static int in_argv(const char *p, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (p == argv[i]) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int argc = 1;
    for (size_t i = 0; i < size; i++) argc += text[i] == 0;
    argc += 1;
    char **argv = malloc(sizeof(char *) * (size_t)(argc + 1));
    argc = 0;
    argv[argc++] = "generate";
    for (char *p = text; p <= text + size; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;

    gen_args g;
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = generate_parse_args(argc, argv, &g, err, sizeof err);
    REQUIRE(rc == 0 || rc == 2);
    if (rc == 2) {
        REQUIRE(memchr(err, 0, sizeof err) != NULL && err[0] != 0);
        char tiny[4];
        gen_args g2;
        REQUIRE(generate_parse_args(argc, argv, &g2, tiny, sizeof tiny) == 2 && memchr(tiny, 0, sizeof tiny));
    } else if (!g.help) {
        const wsd_generate_params *p = &g.p;
        REQUIRE(p->prompt && in_argv(p->prompt, argc, argv));
        REQUIRE(!p->negative_prompt || in_argv(p->negative_prompt, argc, argv));
        REQUIRE(p->steps >= 1 && p->steps <= 1000);
        REQUIRE(isfinite(p->guidance) && p->guidance >= 0 && p->guidance <= 100);
        REQUIRE(p->width == 0 || (p->width >= 8 && p->width <= 4096 && p->width % 8 == 0));
        REQUIRE(p->height == 0 || (p->height >= 8 && p->height <= 4096 && p->height % 8 == 0));
        REQUIRE(p->strength > 0 && p->strength <= 1);
        REQUIRE(p->seed >= -1);
        REQUIRE((unsigned)p->sampler <= WSD_SAMPLER_LCM);
        REQUIRE((p->sampler == WSD_SAMPLER_DEFAULT) == (g.sampler_label == NULL));
        REQUIRE(g.threads >= 0 && g.threads <= 1024);
        REQUIRE(!g.have_strength || g.init_path);
        REQUIRE(g.out_path && (!strcmp(g.out_path, "output.png") || in_argv(g.out_path, argc, argv)));
        const char *paths[] = {g.model_path, g.init_path, g.latents_path, g.noise_path, g.raw_path};
        for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) REQUIRE(!paths[i] || in_argv(paths[i], argc, argv));
        REQUIRE(p->progress == NULL && p->init_image == NULL && p->latents_init == NULL);
    }
    free(argv);
    free(text);
    return 0;
}
