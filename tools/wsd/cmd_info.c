/* wsd info: parameter counts, weight bytes and planned activation memory of
 * each network of a model (or of the real SD 1.5 configuration, built
 * without weights), at one image size. */
#include "commands.h"

#include "graph/graph.h"
#include "models/model.h"
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBGPU_CHUNK ((size_t)128 << 20) /* WebGPU's default maxStorageBufferBindingSize */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsd info --model DIR|FILE [--width W --height H]\n"
            "       wsd info --sd15 [--width W --height H]\n"
            "\n"
            "Prints, for the text encoder, the UNet (batch 2: classifier-free guidance), the VAE\n"
            "decoder and the VAE encoder: parameter count, weight bytes, graph node count, the\n"
            "activation arena the memory planner lays out against the naive sum of every\n"
            "activation (no reuse), the largest single tensor, and the arena when no tensor may\n"
            "straddle a 128 MiB buffer (WebGPU's default binding limit).\n"
            "\n"
            "  --model P   a diffusers model folder or a single-file SD 1.x .safetensors\n"
            "  --sd15      the real Stable Diffusion 1.5 configuration, without weights\n"
            "              (weights counted as float32)\n"
            "  --width W, --height H\n"
            "              image size in pixels, multiples of 8 (default: the model's\n"
            "              native size, 512x512 for SD 1.5)\n");
}

/* 1234567 -> "1,234,567" */
static const char *group_digits(long long v, char *buf, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v);
    size_t o = 0;
    if (v < 0 && o + 1 < cap) buf[o++] = '-';
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

typedef struct {
    const char *label;
    int batch;
    char shape[64];
    wg_graph *g;
    wg_plan plan, chunked;
    wsd_status chunk_status;
} info_row;

static int parse_side(const char *opt, const char *v, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 8 || x > 16384 || x % 8) {
        fprintf(stderr, "wsd info: %s must be a multiple of 8 between 8 and 16384, got \"%s\"\n", opt, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *model_path = NULL;
    int sd15 = 0, width = 0, height = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--sd15")) {
            sd15 = 1;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--width") || !strcmp(a, "--height")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wsd info: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--model")) model_path = v;
            else if (parse_side(a, v, !strcmp(a, "--width") ? &width : &height) != 0) return 2;
        } else {
            fprintf(stderr, "wsd info: unknown argument \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (sd15 && model_path) {
        fprintf(stderr, "wsd info: give either --model or --sd15, not both\n");
        return 2;
    }
    if (!sd15 && !model_path) {
#ifdef WSD_DEFAULT_MODEL_DIR
        model_path = WSD_DEFAULT_MODEL_DIR;
#else
        fprintf(stderr, "wsd info: pass --model DIR|FILE or --sd15\n\n");
        usage(stderr);
        return 2;
#endif
    }

    wsd_err err = {0};
    wsd_model *m = NULL;
    clip_config clip;
    unet_config unet;
    vae_config vae;
    if (sd15) {
        clip_config_sd15(&clip);
        unet_config_sd15(&unet);
        vae_config_sd15(&vae);
    } else {
        if (model_load_path(model_path, &m, &err) != WSD_OK) {
            fprintf(stderr, "wsd info: %s\n", err.msg);
            return 1;
        }
        clip = m->clip;
        unet = m->unet;
        vae = m->vae;
    }
    if (!width) width = sd15 ? 512 : 8 * unet.sample_size;
    if (!height) height = sd15 ? 512 : 8 * unet.sample_size;
    int h = height / 8, w = width / 8;

    info_row rows[4] = {
        {"text encoder", 1, "", NULL, {0}, {0}, WSD_OK},
        {"unet (CFG)", 2, "", NULL, {0}, {0}, WSD_OK},
        {"vae decoder", 1, "", NULL, {0}, {0}, WSD_OK},
        {"vae encoder", 1, "", NULL, {0}, {0}, WSD_OK},
    };
    snprintf(rows[0].shape, sizeof rows[0].shape, "ids [1,%d]", clip.max_positions);
    snprintf(rows[1].shape, sizeof rows[1].shape, "latents [2,%d,%d,%d]", unet.in_channels, h, w);
    snprintf(rows[2].shape, sizeof rows[2].shape, "latents [1,%d,%d,%d]", vae.latent_channels, h, w);
    snprintf(rows[3].shape, sizeof rows[3].shape, "image [1,%d,%d,%d]", vae.in_channels, height, width);
    int rc = 0;
    for (int r = 0; r < 4 && rc == 0; r++) {
        model_component c = r == 0 ? COMP_TEXT_ENCODER : r == 1 ? COMP_UNET : COMP_VAE;
        wg_graph *g = m ? model_graph_new(m, c) : wg_new(NULL, NULL);
        if (!g) {
            fprintf(stderr, "wsd info: out of memory\n");
            rc = 1;
            break;
        }
        rows[r].g = g;
        switch (r) {
        case 0: clip_build(g, &clip, 1, NULL); break;
        case 1: unet_build(g, &unet, 2, h, w, clip.max_positions, NULL); break;
        case 2: vae_decoder_build(g, &vae, 1, h, w, NULL); break;
        default: vae_encoder_build(g, &vae, 1, height, width, NULL); break;
        }
        if (wg_plan_memory(g, &rows[r].plan, &err) != WSD_OK) {
            fprintf(stderr, "wsd info: %s: %s\n", rows[r].label, err.msg);
            rc = 1;
            break;
        }
        char msg[256];
        if (wg_plan_verify(g, &rows[r].plan, msg, sizeof msg) != 0) {
            fprintf(stderr, "wsd info: %s: the memory plan is invalid: %s\n", rows[r].label, msg);
            rc = 1;
            break;
        }
        rows[r].chunked.chunk_bytes = WEBGPU_CHUNK;
        wsd_err cerr = {0};
        rows[r].chunk_status = wg_plan_memory(g, &rows[r].chunked, &cerr);
    }

    if (rc == 0) {
        if (sd15)
            printf("Stable Diffusion 1.5 configuration (no weights; weights counted as float32)\n");
        else
            printf("model: %s (%s)\n", model_path, m->single_file ? "single-file checkpoint" : "diffusers folder");
        printf("image %dx%d, latents %dx%d; activations float32, 256-byte aligned, one arena per network\n\n", width, height, w, h);
        printf("%-13s %-22s %13s %11s %6s %12s %12s %7s %12s %14s\n", "network", "input", "parameters", "weights", "nodes",
               "arena", "naive", "saving", "largest", "arena/128MiB");
        long long total_params = 0;
        size_t total_weights = 0;
        for (int r = 0; r < 4; r++) {
            const info_row *row = &rows[r];
            char p[32], chunk[32];
            double saving = row->plan.naive_bytes ? 100.0 * (1.0 - (double)row->plan.arena_bytes / (double)row->plan.naive_bytes) : 0;
            if (row->chunk_status == WSD_OK) snprintf(chunk, sizeof chunk, "%.1f MiB", mib(row->chunked.arena_bytes));
            else snprintf(chunk, sizeof chunk, "n/a (>128MiB)");
            printf("%-13s %-22s %13s %7.1f MiB %6d %8.1f MiB %8.1f MiB %6.1f%% %8.1f MiB %14s\n", row->label, row->shape,
                   group_digits((long long)row->g->n_params, p, sizeof p), mib(row->plan.weight_bytes), row->g->n_nodes,
                   mib(row->plan.arena_bytes), mib(row->plan.naive_bytes), saving, mib(row->plan.largest_tensor), chunk);
            total_params += row->g->n_params;
            total_weights += row->plan.weight_bytes;
        }
        char p[32];
        printf("%-13s %-22s %13s %7.1f MiB\n", "total", "", group_digits(total_params, p, sizeof p), mib(total_weights));
        printf("\narena: bytes the planner lays out (tensors alive together never share a byte);\n"
               "naive: the sum of every activation, input and output without reuse;\n"
               "arena/128MiB: the arena when no tensor may straddle a 128 MiB buffer (n/a: a tensor is larger)\n");
    }
    for (int r = 0; r < 4; r++) wg_free(rows[r].g);
    model_free(m);
    return rc;
}
