#include "commands.h"
#include "wsd.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"generate", cmd_generate, "text-to-image / img2img to a PNG"},
    {"run", cmd_run, "run one model component on tensors from a safetensors file (golden harness)"},
    {"info", cmd_info, "parameter counts and planned memory of a model"},
    {"tokenize", cmd_tokenize, "print the CLIP token ids of a prompt"},
    {"tune", cmd_tune, "time WebGPU kernel variants on this adapter, write the tuning database"},
};

static void usage(FILE *f)
{
    fprintf(f, "wsd %s: Stable Diffusion in C\n\nusage: wsd <command> [options]   (wsd <command> --help)\n\ncommands:\n", WSD_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("wsd %s\n", WSD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "wsd: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
