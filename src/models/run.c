/* Runs one model component on tensors from a safetensors file: the golden
 * harness behind `wsd run`, also used by the tests. */
#include "models/run.h"
#include "core/dtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const component_names[RUN_COUNT] = {"text_encoder", "unet", "vae_decoder", "vae_encoder"};

int run_component_parse(const char *name)
{
    for (int i = 0; i < RUN_COUNT; i++)
        if (!strcmp(name, component_names[i])) return i;
    return -1;
}

const char *run_component_name(run_component c) { return (unsigned)c < RUN_COUNT ? component_names[c] : "?"; }

static wsd_status need(const st_file *in, const char *name, int ndim, const st_tensor **out, wsd_err *err)
{
    *out = st_find(in, name);
    if (!*out) return wsd_fail(err, WSD_ERR_FORMAT, "%s: missing input tensor \"%s\"", in->path, name);
    if (ndim >= 0 && (*out)->ndim != ndim)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: input \"%s\" must have %d dims, has %d", in->path, name, ndim, (*out)->ndim);
    return WSD_OK;
}

wsd_status run_build(const wsd_model *m, run_component c, const st_file *in, const build_opts *opts, wg_graph **out, wsd_err *err)
{
    *out = NULL;
    const st_tensor *t;
    model_component mc = c == RUN_TEXT_ENCODER ? COMP_TEXT_ENCODER : c == RUN_UNET ? COMP_UNET : COMP_VAE;
    wg_graph *g = model_graph_new(m, mc);
    if (!g) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    wsd_status st = WSD_OK;
    switch (c) {
    case RUN_TEXT_ENCODER:
        st = need(in, "input_ids", 2, &t, err);
        if (st == WSD_OK && t->shape[1] != m->clip.max_positions)
            st = wsd_fail(err, WSD_ERR_FORMAT, "%s: input_ids must be [B, %d]", in->path, m->clip.max_positions);
        if (st == WSD_OK) clip_build(g, &m->clip, (int)t->shape[0], opts);
        break;
    case RUN_UNET: {
        const st_tensor *e;
        st = need(in, "sample", 4, &t, err);
        if (st == WSD_OK) st = need(in, "encoder_hidden_states", 3, &e, err);
        if (st == WSD_OK) unet_build(g, &m->unet, (int)t->shape[0], (int)t->shape[2], (int)t->shape[3], (int)e->shape[1], opts);
        break;
    }
    case RUN_VAE_DECODER:
        st = need(in, "latents", 4, &t, err);
        if (st == WSD_OK) vae_decoder_build(g, &m->vae, (int)t->shape[0], (int)t->shape[2], (int)t->shape[3], opts);
        break;
    case RUN_VAE_ENCODER:
        st = need(in, "image", 4, &t, err);
        if (st == WSD_OK && (t->shape[2] % 8 || t->shape[3] % 8))
            st = wsd_fail(err, WSD_ERR_FORMAT, "%s: image sides must be multiples of 8", in->path);
        if (st == WSD_OK) vae_encoder_build(g, &m->vae, (int)t->shape[0], (int)t->shape[2], (int)t->shape[3], opts);
        break;
    default:
        st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "unknown component");
    }
    if (st == WSD_OK) st = wg_status(g, err);
    if (st != WSD_OK) {
        wg_free(g);
        return st;
    }
    *out = g;
    return WSD_OK;
}

/* Reads input tensor `name` into the graph's input, converting dtypes; a
 * scalar (or 1-element) timestep is broadcast to the batch. */
static wsd_status feed(wsd_backend *be, wsd_exec *ex, const wg_graph *g, int id, const st_file *in, wsd_err *err)
{
    const wg_tensor *gt = &g->t[id];
    const st_tensor *t;
    WSD_TRY(need(in, gt->name, -1, &t, err));
    size_t n = (size_t)wg_numel(gt);
    int broadcast = t->numel == 1 && n > 1 && !strcmp(gt->name, "timestep");
    if ((size_t)t->numel != n && !broadcast)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: input \"%s\" has %lld elements, the graph needs %zu", in->path, gt->name, (long long)t->numel, n);
    if (gt->dtype == WSD_DT_I32) {
        int32_t *buf = malloc(n * sizeof *buf);
        if (!buf) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            if (t->dtype == WSD_DT_I64) memcpy(&v, t->data + 8 * i, 8);
            else if (t->dtype == WSD_DT_I32) { int32_t w; memcpy(&w, t->data + 4 * i, 4); v = w; }
            else { free(buf); return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be I64 or I32", in->path, gt->name); }
            buf[i] = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
        }
        wsd_status st = be->iface->set_input(ex, id, buf, n * sizeof *buf, err);
        free(buf);
        return st;
    }
    float *f;
    WSD_TRY(st_read_f32(in, gt->name, t->ndim, t->shape, &f, err));
    if (broadcast) {
        float *b = malloc(n * sizeof *b);
        if (!b) { free(f); return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); }
        for (size_t i = 0; i < n; i++) b[i] = f[0];
        free(f);
        f = b;
    }
    wsd_status st = be->iface->set_input(ex, id, f, n * sizeof *f, err);
    free(f);
    return st;
}

wsd_status run_component_exec(wsd_backend *be, const wsd_model *m, run_component c, const st_file *in, const build_opts *opts, st_writer *out, wsd_err *err)
{
    wg_graph *g;
    WSD_TRY(run_build(m, c, in, opts, &g, err));
    wg_plan plan = {0};
    wsd_exec *ex = NULL;
    wsd_status st = wg_plan_memory(g, &plan, err);
    if (st == WSD_OK) st = be->iface->compile(be, g, &plan, &ex, err);
    for (int i = 0; st == WSD_OK && i < g->n_tensors; i++)
        if (g->t[i].kind == WG_INPUT) st = feed(be, ex, g, i, in, err);
    if (st == WSD_OK) st = be->iface->run(ex, NULL, NULL, err);
    for (int i = 0; st == WSD_OK && i < g->n_tensors; i++) {
        const wg_tensor *t = &g->t[i];
        if (!t->is_output) continue;
        size_t n = (size_t)wg_numel(t);
        float *buf = malloc(n * sizeof *buf);
        if (!buf) { st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        st = be->iface->get_output(ex, i, buf, n * sizeof *buf, err);
        if (st == WSD_OK) st = st_writer_add(out, t->name, WSD_DT_F32, t->ndim, t->shape, buf, err);
        free(buf);
    }
    if (ex) be->iface->exec_free(ex);
    wg_free(g);
    return st;
}
