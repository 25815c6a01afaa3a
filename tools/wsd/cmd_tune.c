/* wsd tune: times the kernel variants of every hot operator (conv2d, linear,
 * attention, group norm) that the text encoder, UNet (batch 2), VAE decoder
 * and VAE encoder contain at one image size, on the current WebGPU adapter,
 * and writes the fastest into the tuning database (see
 * src/backends/webgpu/tune.h). Needs no weights: the graphs are built from
 * the model's configuration, each operator is re-created alone with random
 * data. */
#include "commands.h"

#include "backends/webgpu/tuner.h"
#include "models/model.h"
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsd tune (--model DIR|FILE | --sd15) [--width W --height H] [--out FILE]\n"
            "                [--gpu-limits default] [--weights f16|f32] [--keep] [--time-ms T]\n"
            "\n"
            "Times every kernel variant of each conv2d / linear / attention / group-norm shape\n"
            "of the model at W x H on this WebGPU adapter (each checked against the reference\n"
            "variant) and writes the fastest to the tuning database. Existing entries of\n"
            "FILE (and of the database built into wsd) are kept unless re-tuned.\n"
            "\n"
            "  --model P       a diffusers folder or single-file SD 1.x checkpoint (its config)\n"
            "  --sd15          the real SD 1.5 configuration, no files needed\n"
            "  --width/--height image size, multiples of 8 (default 512)\n"
            "  --out FILE      database to write (default: $WSD_TUNE_DB, else\n"
            "                  src/backends/webgpu/wgsl/tuning.txt when run from the checkout)\n"
            "  --gpu-limits default   tune under the WebGPU spec-default limits\n"
            "  --weights f16|f32      weight storage the engine will use (default f16)\n"
            "  --keep          skip shapes the database already has for this adapter\n"
            "  --time-ms T     time each variant for about T ms (default 30)\n");
}

int cmd_tune(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL;
    int sd15 = 0, width = 512, height = 512, default_limits = 0, keep = 0;
    double time_ms = 30;
    wsd_gpu_weights wts = WSD_GPU_WEIGHTS_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model") && more) model_path = argv[++i];
        else if (!strcmp(a, "--sd15")) sd15 = 1;
        else if (!strcmp(a, "--width") && more) width = atoi(argv[++i]);
        else if (!strcmp(a, "--height") && more) height = atoi(argv[++i]);
        else if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--gpu-limits") && more) {
            const char *v = argv[++i];
            if (strcmp(v, "default") && strcmp(v, "adapter")) {
                fprintf(stderr, "wsd tune: --gpu-limits takes \"default\" or \"adapter\", not \"%s\"\n", v);
                return 2;
            }
            default_limits = !strcmp(v, "default");
        } else if (!strcmp(a, "--weights") && more) {
            const char *v = argv[++i];
            if (!strcmp(v, "f16")) wts = WSD_GPU_WEIGHTS_F16;
            else if (!strcmp(v, "f32")) wts = WSD_GPU_WEIGHTS_F32;
            else {
                fprintf(stderr, "wsd tune: --weights takes f16 or f32, not \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--keep")) keep = 1;
        else if (!strcmp(a, "--time-ms") && more) time_ms = atof(argv[++i]);
        else {
            fprintf(stderr, "wsd tune: unknown or incomplete option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if ((!model_path && !sd15) || width <= 0 || height <= 0 || width % 8 || height % 8 || time_ms <= 0) {
        usage(stderr);
        return 2;
    }
    if (!out) out = getenv("WSD_TUNE_DB");
    if (!out || !*out)
        out = access("src/backends/webgpu/wgsl", F_OK) == 0 ? "src/backends/webgpu/wgsl/tuning.txt" : "tuning.txt";

    wsd_err err = {0};
    clip_config cc;
    unet_config uc;
    vae_config vc;
    wsd_model *model = NULL;
    if (sd15) {
        clip_config_sd15(&cc);
        unet_config_sd15(&uc);
        vae_config_sd15(&vc);
    } else {
        if (model_load_path(model_path, &model, &err) != WSD_OK) {
            fprintf(stderr, "wsd tune: %s\n", err.msg);
            return 1;
        }
        cc = model->clip;
        uc = model->unet;
        vc = model->vae;
    }
    wsd_backend_options bo = {0, default_limits};
    wsd_webgpu_options wo = {0};
    wo.weights = wts;
    wo.verbose = 1;
    wsd_backend *be = NULL;
    if (wsd_backend_webgpu_create_ex(&bo, &wo, &be, &err) != WSD_OK) {
        fprintf(stderr, "wsd tune: %s\n", err.msg);
        model_free(model);
        return 1;
    }
    /* the database to extend: the built-in one, then FILE's own entries */
    setenv("WSD_TUNE_DB", out, 1);
    wsd_tune_db *db = wsd_tune_db_load(NULL, 0);
    build_opts o = {0, 0};
    int lh = height / 8, lw = width / 8, rc = 0, total = 0;
    wg_graph *graphs[4];
    const char *labels[4] = {"text encoder", "UNet", "VAE decoder", "VAE encoder"};
    for (int k = 0; k < 4; k++) graphs[k] = wg_new(NULL, NULL);
    clip_build(graphs[0], &cc, 2, &o);
    unet_build(graphs[1], &uc, 2, lh, lw, cc.max_positions, &o);
    vae_decoder_build(graphs[2], &vc, 1, lh, lw, &o);
    vae_encoder_build(graphs[3], &vc, 1, height, width, &o);
    wsd_tune_opts to = {time_ms, keep, stdout, NULL, NULL};
    for (int k = 0; k < 4 && !rc; k++) {
        if (wg_failed(graphs[k])) {
            fprintf(stderr, "wsd tune: building the %s: %s\n", labels[k], graphs[k]->err.msg);
            rc = 1;
            break;
        }
        int n = 0;
        printf("tuning the %s ...\n", labels[k]);
        if (wsd_webgpu_tune_graph(be, graphs[k], db, &to, &n, &err) != WSD_OK) {
            fprintf(stderr, "wsd tune: %s: %s\n", labels[k], err.msg);
            rc = 1;
        }
        total += n;
    }
    if (!rc) {
        if (wsd_tune_db_write(db, out) != 0) {
            fprintf(stderr, "wsd tune: cannot write %s\n", out);
            rc = 1;
        } else {
            printf("wsd tune: %d operator shapes tuned; %d entries in %s\n", total, wsd_tune_db_count(db), out);
        }
    }
    for (int k = 0; k < 4; k++) wg_free(graphs[k]);
    wsd_tune_db_free(db);
    wsd_backend_destroy(be);
    model_free(model);
    return rc;
}
