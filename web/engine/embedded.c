/* The "embedded" default model of the browser build.
 *
 * Natively the default model is assembled into the library
 * (assets/CMakeLists.txt). In the browser it is served with the app instead
 * (/models/default/, cached in OPFS), and the worker mounts it in the WASI
 * file system at /models/default. This file gives the engine the same
 * wsd_embedded_model() as the native build, reading those files on first use
 * (then kept for the life of the worker): wsd_model_load(ctx, "") and
 * single-file checkpoints, which borrow its CLIP tokenizer, work as natively.
 * Files that are not mounted are left out; the loader names what is missing. */
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DIR "/models/default/"

static const char *const k_files[] = {
    "model_index.json",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
};
#define N_FILES (sizeof k_files / sizeof *k_files)

static wsd_mem_file g_files[N_FILES];
static size_t g_count;
static int g_loaded;

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
            *size = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

const wsd_mem_file *wsd_embedded_model(size_t *count)
{
    if (!g_loaded) {
        g_loaded = 1;
        char path[256];
        for (size_t i = 0; i < N_FILES; i++) {
            snprintf(path, sizeof path, "%s%s", DEFAULT_DIR, k_files[i]);
            size_t size = 0;
            uint8_t *data = read_all(path, &size);
            if (!data) continue;
            g_files[g_count].path = k_files[i];
            g_files[g_count].data = data;
            g_files[g_count].size = size;
            g_count++;
        }
    }
    *count = g_count;
    return g_files;
}
