/* wsd run: runs one network of a model on named tensors from a safetensors
 * file and writes its outputs to another (the golden harness). */
#include "commands.h"

#include "backends/backend.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsd run COMPONENT --model DIR|FILE --in IN.safetensors --out OUT.safetensors\n"
            "               [--backend cpu|webgpu] [--threads N] [--debug]\n"
            "\n"
            "Runs one network on the tensors of IN and writes its outputs (float32) to OUT.\n"
            "\n"
            "  COMPONENT      reads                                  writes\n"
            "  text_encoder   input_ids [B,77] (int64 or int32)      last_hidden_state [B,77,D]\n"
            "  unet           sample [B,4,h,w], timestep [B] or [],  out [B,4,h,w]\n"
            "                 encoder_hidden_states [B,77,D]\n"
            "  vae_decoder    latents [B,4,h,w] (already / scaling)  image [B,3,8h,8w] (raw, about [-1,1])\n"
            "  vae_encoder    image [B,3,H,W] in [-1,1]              mean, logvar [B,4,H/8,W/8]\n"
            "\n"
            "  --model P      a diffusers model folder or a single-file SD 1.x .safetensors\n"
            "  --backend B    cpu (default) or webgpu\n"
            "  --threads N    CPU threads (default: all cores)\n"
            "  --debug        also write intermediate activations, under the golden names\n"
            "                 (\"down_blocks.0\", \"decoder.mid_block\", \"hidden_states.3\", ...)\n");
}

int cmd_run(int argc, char **argv)
{
    const char *component = NULL, *model_path = NULL, *in_path = NULL, *out_path = NULL, *backend = "cpu";
    int debug = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--debug")) {
            debug = 1;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--in") || !strcmp(a, "--out") || !strcmp(a, "--backend") ||
                   !strcmp(a, "--threads")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wsd run: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--in")) in_path = v;
            else if (!strcmp(a, "--out")) out_path = v;
            else if (!strcmp(a, "--backend")) backend = v;
            else {
                char *end;
                long t = strtol(v, &end, 10);
                if (!*v || *end || t < 0 || t > 1024) {
                    fprintf(stderr, "wsd run: --threads must be a number from 0 to 1024, got \"%s\"\n", v);
                    return 2;
                }
                threads = (int)t;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "wsd run: unknown option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        } else if (component) {
            fprintf(stderr, "wsd run: more than one component given (\"%s\" and \"%s\")\n", component, a);
            return 2;
        } else {
            component = a;
        }
    }
    if (!component) {
        fprintf(stderr, "wsd run: no component given (text_encoder, unet, vae_decoder or vae_encoder)\n\n");
        usage(stderr);
        return 2;
    }
    int c = run_component_parse(component);
    if (c < 0) {
        fprintf(stderr, "wsd run: unknown component \"%s\" (text_encoder, unet, vae_decoder, vae_encoder)\n", component);
        return 2;
    }
    if (!model_path || !in_path || !out_path) {
        fprintf(stderr, "wsd run: %s is required\n", !model_path ? "--model DIR|FILE" : !in_path ? "--in IN.safetensors" : "--out OUT.safetensors");
        return 2;
    }
    if (strcmp(backend, "cpu") && strcmp(backend, "webgpu")) {
        fprintf(stderr, "wsd run: unknown backend \"%s\" (cpu, webgpu)\n", backend);
        return 2;
    }

    wsd_err err = {0};
    wsd_model *m = NULL;
    wsd_backend *be = NULL;
    st_writer *w = NULL;
    st_file in;
    int in_open = 0, rc = 1;
    if (model_load_path(model_path, &m, &err) != WSD_OK) goto fail;
    if (st_open(in_path, &in, &err) != WSD_OK) goto fail;
    in_open = 1;
    wsd_backend_options bo = {threads, 0};
    if (wsd_backend_create(backend, &bo, &be, &err) != WSD_OK) goto fail;
    w = st_writer_new();
    if (!w) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        goto fail;
    }
    build_opts opts = {debug, 0};
    if (run_component_exec(be, m, (run_component)c, &in, &opts, w, &err) != WSD_OK) goto fail;
    if (st_writer_save(w, out_path, &err) != WSD_OK) goto fail;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "wsd run %s: %s\n", component, err.msg);
done:
    st_writer_free(w);
    wsd_backend_destroy(be);
    if (in_open) st_close(&in);
    model_free(m);
    return rc;
}
