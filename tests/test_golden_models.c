/* Text encoder, UNet and VAE against the diffusers/transformers goldens of
 * shared/reference (tiny-sd15), outputs and intermediates, on the CPU backend
 * (or the backend named by WSD_TEST_BACKEND). Bounds from shared/reference/README.md:
 * rel L2 <= 1e-5 and max abs <= 1e-4 * max(1, max|ref|). */
#include "backends/backend.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/run.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define REL 1e-5
#define ABS 1e-4

static wsd_backend *be;
static wsd_model *model;

/* Copies tensors from the golden file into an input file under new names. */
static void make_input(const st_file *gold, const char *const *pairs, int n, const char *path)
{
    wsd_err err = {0};
    st_writer *w = st_writer_new();
    for (int i = 0; i < n; i++) {
        const st_tensor *t = st_find(gold, pairs[2 * i]);
        if (!t) { CHECKF(0, "golden tensor %s missing", pairs[2 * i]); continue; }
        CHECK(st_writer_add(w, pairs[2 * i + 1], t->dtype, t->ndim, t->shape, t->data, &err) == WSD_OK);
    }
    CHECK(st_writer_save(w, path, &err) == WSD_OK);
    st_writer_free(w);
}

/* Runs the component on `in_path`; returns the outputs (caller closes). */
static int run(run_component c, const char *in_path, int clip_skip, st_file *out)
{
    wsd_err err = {0};
    st_file in;
    if (st_open(in_path, &in, &err) != WSD_OK) { CHECKF(0, "%s", err.msg); return 0; }
    st_writer *w = st_writer_new();
    build_opts o = {1, clip_skip};
    wsd_status s = run_component_exec(be, model, c, &in, &o, w, &err);
    CHECKF(s == WSD_OK, "%s: %s", run_component_name(c), err.msg);
    char path[1200];
    snprintf(path, sizeof path, "%s/out_%s.safetensors", tu_tmpdir(), run_component_name(c));
    if (s == WSD_OK) s = st_writer_save(w, path, &err);
    st_writer_free(w);
    st_close(&in);
    return s == WSD_OK && st_open(path, out, &err) == WSD_OK;
}

/* Compares output `ours` (optionally one batch row) with golden `ref`. */
static void compare(const st_file *got, const char *ours, int row, const st_file *gold, const char *ref, const char *label)
{
    wsd_err err = {0};
    const st_tensor *a = st_find(got, ours), *b = st_find(gold, ref);
    if (!a || !b) { CHECKF(0, "%s: missing %s / %s", label, ours, ref); return; }
    float *fa, *fb;
    CHECK(st_read_f32(got, ours, a->ndim, a->shape, &fa, &err) == WSD_OK);
    CHECK(st_read_f32(gold, ref, b->ndim, b->shape, &fb, &err) == WSD_OK);
    size_t n = (size_t)b->numel, off = 0;
    if (row >= 0) off = (size_t)row * n;
    if (off + n > (size_t)a->numel) CHECKF(0, "%s: sizes differ", label);
    else tu_check_close(label, fa + off, fb, n, REL, ABS);
    free(fa);
    free(fb);
}

int main(void)
{
    wsd_err err = {0};
    const char *backend = getenv("WSD_TEST_BACKEND");
    wsd_backend_options bo = {0, 0};
    wsd_status s = wsd_backend_create(backend, &bo, &be, &err);
    printf("backend: %s\n", backend ? backend : "cpu");
    CHECKF(s == WSD_OK, "backend: %s", err.msg);
    CHECKF(model_load_path(tu_shared("reference/tiny-sd15"), &model, &err) == WSD_OK, "%s", err.msg);
    if (!be || !model) return tu_finish();
    char in_path[1200];
    snprintf(in_path, sizeof in_path, "%s/in.safetensors", tu_tmpdir());
    st_file gold, out;

    /* text encoder */
    CHECK(st_open(tu_shared("reference/golden/text_encoder.safetensors"), &gold, &err) == WSD_OK);
    make_input(&gold, (const char *const[]){"input_ids", "input_ids"}, 1, in_path);
    if (run(RUN_TEXT_ENCODER, in_path, 0, &out)) {
        compare(&out, "last_hidden_state", -1, &gold, "last_hidden_state", "text_encoder last_hidden_state");
        compare(&out, "embeddings_token", 0, &gold, "embeddings_token_row0", "text_encoder token embeddings row 0");
        for (int l = 0; l <= model->clip.layers; l++) {
            /* hidden_states_row0 is [layers+1, 77, D]: row 0 of every hidden state */
            char name[64], label[96];
            snprintf(name, sizeof name, "hidden_states.%d", l);
            snprintf(label, sizeof label, "text_encoder hidden_states[%d] row 0", l);
            const st_tensor *ref = st_find(&gold, "hidden_states_row0"), *got = st_find(&out, name);
            if (!ref || !got) { CHECKF(0, "missing %s", name); continue; }
            float *fr, *fg;
            st_read_f32(&gold, "hidden_states_row0", ref->ndim, ref->shape, &fr, &err);
            st_read_f32(&out, name, got->ndim, got->shape, &fg, &err);
            size_t per = (size_t)(ref->shape[1] * ref->shape[2]);
            tu_check_close(label, fg, fr + (size_t)l * per, per, REL, ABS);
            free(fr);
            free(fg);
        }
        st_close(&out);
    }
    if (run(RUN_TEXT_ENCODER, in_path, 1, &out)) {
        compare(&out, "last_hidden_state", -1, &gold, "clip_skip1_row_all", "text_encoder clip_skip=1");
        st_close(&out);
    }
    st_close(&gold);

    /* UNet at t=981 (with intermediates), t=1 and per-sample timesteps */
    CHECK(st_open(tu_shared("reference/golden/unet.safetensors"), &gold, &err) == WSD_OK);
    st_writer *w = st_writer_new();
    const st_tensor *smp = st_find(&gold, "sample"), *ehs = st_find(&gold, "encoder_hidden_states");
    float t981 = 981.0f;
    st_writer_add(w, "sample", smp->dtype, smp->ndim, smp->shape, smp->data, &err);
    st_writer_add(w, "encoder_hidden_states", ehs->dtype, ehs->ndim, ehs->shape, ehs->data, &err);
    st_writer_add(w, "timestep", WSD_DT_F32, 0, NULL, &t981, &err);
    st_writer_save(w, in_path, &err);
    st_writer_free(w);
    if (run(RUN_UNET, in_path, 0, &out)) {
        compare(&out, "out", -1, &gold, "out_t981", "unet out t=981");
        for (size_t i = 0; i < gold.count; i++) {
            const char *nm = gold.tensors[i].name;
            if (strncmp(nm, "t981/", 5)) continue;
            char label[256];
            snprintf(label, sizeof label, "unet %s", nm);
            compare(&out, nm + 5, -1, &gold, nm, label);
        }
        st_close(&out);
    }
    make_input(&gold, (const char *const[]){"sample", "sample", "encoder_hidden_states", "encoder_hidden_states", "timesteps_mixed", "timestep"}, 3, in_path);
    if (run(RUN_UNET, in_path, 0, &out)) {
        compare(&out, "out", -1, &gold, "out_t_mixed", "unet out per-sample timesteps");
        st_close(&out);
    }
    w = st_writer_new();
    float t1 = 1.0f;
    st_writer_add(w, "sample", smp->dtype, smp->ndim, smp->shape, smp->data, &err);
    st_writer_add(w, "encoder_hidden_states", ehs->dtype, ehs->ndim, ehs->shape, ehs->data, &err);
    st_writer_add(w, "timestep", WSD_DT_F32, 1, (const int64_t[]){1}, &t1, &err);
    st_writer_save(w, in_path, &err);
    st_writer_free(w);
    if (run(RUN_UNET, in_path, 0, &out)) {
        compare(&out, "out", -1, &gold, "out_t1", "unet out t=1");
        st_close(&out);
    }
    st_close(&gold);

    /* VAE decode and encode, with intermediates */
    CHECK(st_open(tu_shared("reference/golden/vae.safetensors"), &gold, &err) == WSD_OK);
    make_input(&gold, (const char *const[]){"dec_input", "latents"}, 1, in_path);
    if (run(RUN_VAE_DECODER, in_path, 0, &out)) {
        compare(&out, "image", -1, &gold, "dec_output", "vae decoder output");
        for (size_t i = 0; i < gold.count; i++) {
            const char *nm = gold.tensors[i].name;
            if (strncmp(nm, "dec/", 4)) continue;
            char label[256];
            snprintf(label, sizeof label, "vae %s", nm);
            compare(&out, nm + 4, -1, &gold, nm, label);
        }
        st_close(&out);
    }
    make_input(&gold, (const char *const[]){"enc_input", "image"}, 1, in_path);
    if (run(RUN_VAE_ENCODER, in_path, 0, &out)) {
        compare(&out, "mean", -1, &gold, "enc_mean", "vae encoder mean");
        compare(&out, "logvar", -1, &gold, "enc_logvar", "vae encoder logvar");
        for (size_t i = 0; i < gold.count; i++) {
            const char *nm = gold.tensors[i].name;
            if (strncmp(nm, "enc/", 4)) continue;
            char label[256];
            snprintf(label, sizeof label, "vae %s", nm);
            compare(&out, nm + 4, -1, &gold, nm, label);
        }
        st_close(&out);
    }
    st_close(&gold);
    model_free(model);
    wsd_backend_destroy(be);
    return tu_finish();
}
