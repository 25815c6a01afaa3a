/* Argument parsing of `wsd generate`, apart from running it, so that tests
 * and the fuzz target (fuzz/fuzz_cli_args.c) can call it on any argv. */
#ifndef WSD_CLI_GEN_ARGS_H
#define WSD_CLI_GEN_ARGS_H

#include "wsd.h"

#include <stddef.h>

typedef struct gen_args {
    const char *model_path, *out_path, *init_path; /* point into argv */
    const char *latents_path, *noise_path, *raw_path;
    const char *sampler_label; /* A1111 name of --sampler, NULL for the model's own */
    int backend_webgpu;
    int threads;
    int quiet;
    int have_strength;
    int help;                  /* -h/--help: print usage, run nothing */
    wsd_generate_params p;     /* prompt, sizes, steps, ... (no callbacks) */
} gen_args;

/* Parses argv[1..argc-1] (argv[0] is "generate"). Returns 0 when the
 * arguments are complete and in range (or help was asked for), 2 on a usage
 * error with the reason in err (at most cap bytes, NUL-terminated, without the
 * "wsd generate: " prefix). Every value accepted is within the ranges
 * wsd_generate checks, so a parsed command never fails validation later. */
int generate_parse_args(int argc, char **argv, gen_args *out, char *err, size_t cap);

#endif
