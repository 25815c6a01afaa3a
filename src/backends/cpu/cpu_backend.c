/* The reference CPU backend: one float32 arena per compiled graph (laid out
 * by the planner), weights widened to float32 once per backend and shared by
 * every graph, and a loop that calls one reference kernel per node. The
 * default CPU backend is the fast one (cpu_fast.c); this one is the oracle,
 * selected with WSD_CPU_REFERENCE=1 or wsd_backend_cpu_ref_create. */
#include "backends/backend.h"
#include "backends/cpu/cpu_fast.h"
#include "backends/cpu/kernels.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t uid;     /* the model (wg_graph.weights_uid) ... */
    const void *src;  /* ... and its stored bytes: the cache key */
    float *f32;
} cpu_weight;

typedef struct {
    wsd_backend base;
    wsd_pool *pool;
    cpu_weight *w;
    size_t nw, capw;
} cpu_backend;

struct wsd_exec {
    cpu_backend *be;
    const wg_graph *g;
    unsigned char *arena;
    float **wptr; /* per tensor: float32 weight data (weights only) */
};

/* Drops cached weights of other models: their memory may be reused by this one. */
static void evict_other_models(cpu_backend *be, uint64_t uid)
{
    size_t k = 0;
    for (size_t i = 0; i < be->nw; i++) {
        if (be->w[i].uid == uid) be->w[k++] = be->w[i];
        else free(be->w[i].f32);
    }
    be->nw = k;
}

static const float *weight_f32(cpu_backend *be, uint64_t uid, const wg_tensor *t, wsd_err *err)
{
    if (!t->data) {
        wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: weight \"%s\" has no data (graph built for planning only)", t->name);
        return NULL;
    }
    for (size_t i = 0; i < be->nw; i++)
        if (be->w[i].src == t->data && be->w[i].uid == uid)
            return be->w[i].f32;
    if (be->nw == be->capw) {
        size_t cap = be->capw ? be->capw * 2 : 256;
        cpu_weight *nw = realloc(be->w, cap * sizeof *nw);
        if (!nw) {
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory for weights");
            return NULL;
        }
        be->w = nw;
        be->capw = cap;
    }
    size_t n = (size_t)wg_numel(t);
    float *f = wsd_malloc_array(n, sizeof(float));
    if (!f) {
        wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory for weight \"%s\" (%zu floats)", t->name, n);
        return NULL;
    }
    wsd_convert_to_f32(t->dtype, t->data, f, n);
    be->w[be->nw].uid = uid;
    be->w[be->nw].src = t->data;
    be->w[be->nw].f32 = f;
    be->nw++;
    return f;
}

static void cpu_exec_free(wsd_exec *ex)
{
    if (!ex)
        return;
    free(ex->arena);
    free(ex->wptr);
    free(ex);
}

static wsd_status cpu_compile(wsd_backend *base, const wg_graph *g, const wg_plan *plan, wsd_exec **out, wsd_err *err)
{
    cpu_backend *be = (cpu_backend *)base;
    *out = NULL;
    wsd_exec *ex = calloc(1, sizeof *ex);
    if (!ex)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    ex->be = be;
    ex->g = g;
    ex->arena = calloc(plan->arena_bytes ? plan->arena_bytes : 1, 1);
    ex->wptr = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *ex->wptr);
    if (!ex->arena || !ex->wptr) {
        cpu_exec_free(ex);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: cannot allocate the %zu-byte activation arena", plan->arena_bytes);
    }
    evict_other_models(be, g->weights_uid);
    for (int i = 0; i < g->n_tensors; i++) {
        if (g->t[i].kind != WG_WEIGHT)
            continue;
        ex->wptr[i] = (float *)weight_f32(be, g->weights_uid, &g->t[i], err);
        if (!ex->wptr[i]) {
            cpu_exec_free(ex);
            return err ? err->code : WSD_ERR_OUT_OF_MEMORY;
        }
    }
    *out = ex;
    return WSD_OK;
}

static float *ptr(wsd_exec *ex, int t)
{
    if (t < 0)
        return NULL;
    const wg_tensor *T = &ex->g->t[t];
    if (T->kind == WG_WEIGHT)
        return ex->wptr[t];
    return (float *)(ex->arena + ex->g->t[wg_root(ex->g, t)].offset);
}

static float *ptr_of(void *ex, int t) { return ptr(ex, t); }

static wsd_status cpu_set_input(wsd_exec *ex, int t, const void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t want = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (T->kind != WG_INPUT || nbytes != want)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: input \"%s\" takes %zu bytes, got %zu", T->name ? T->name : "?", want, nbytes);
    memcpy(ptr(ex, t), data, nbytes);
    return WSD_OK;
}

static wsd_status cpu_get_output(wsd_exec *ex, int t, void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t have = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (!T->is_output || nbytes != have)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: output \"%s\" has %zu bytes, asked for %zu", T->name ? T->name : "?", have, nbytes);
    memcpy(data, ptr(ex, t), nbytes);
    return WSD_OK;
}

static int64_t prod(const int64_t *s, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= s[i];
    return p;
}

static wsd_status run_node(wsd_exec *ex, const wg_node *n, wsd_err *err)
{
    const wg_graph *g = ex->g;
    wsd_pool *pool = ex->be->pool;
    const wg_tensor *o = &g->t[n->out], *x = &g->t[n->in[0]];
    float *y = ptr(ex, n->out);
    const float *a = ptr(ex, n->in[0]), *b = n->n_in > 1 ? ptr(ex, n->in[1]) : NULL, *c = n->n_in > 2 ? ptr(ex, n->in[2]) : NULL;
    int64_t on = wg_numel(o);
    switch (n->op) {
    case WG_OP_CONV2D: {
        const wg_tensor *w = &g->t[n->in[1]];
        ref_conv2d(pool, a, b, c, y, x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                   n->ip[0], n->ip[1], n->ip[2], o->shape[2], o->shape[3]);
        break;
    }
    case WG_OP_LINEAR: {
        const wg_tensor *w = &g->t[n->in[1]];
        ref_linear(pool, a, b, c, y, wg_numel(x) / w->shape[1], w->shape[1], w->shape[0]);
        break;
    }
    case WG_OP_GROUP_NORM:
        ref_group_norm(pool, a, b, c, y, x->shape[0], x->shape[1], prod(x->shape, 2, x->ndim), n->ip[0], n->fp[0], n->ip[1]);
        break;
    case WG_OP_LAYER_NORM: {
        int64_t C = x->shape[x->ndim - 1];
        ref_layer_norm(pool, a, b, c, y, wg_numel(x) / C, C, n->fp[0]);
        break;
    }
    case WG_OP_ATTENTION: {
        const wg_tensor *q = x, *k = &g->t[n->in[1]], *v = &g->t[n->in[2]];
        int64_t H = n->ip[0];
        ref_attention(pool, a, b, c, y, q->shape[0], q->shape[1], k->shape[1], H, q->shape[2] / H, v->shape[2] / H, n->fp[0], n->ip[1]);
        break;
    }
    case WG_OP_SILU: ref_silu(pool, a, y, on); break;
    case WG_OP_GELU: ref_gelu(pool, a, y, on); break;
    case WG_OP_QUICK_GELU: ref_quick_gelu(pool, a, y, on); break;
    case WG_OP_GEGLU: {
        int64_t F = o->shape[o->ndim - 1];
        ref_geglu(pool, a, y, on / F, F);
        break;
    }
    case WG_OP_SOFTMAX: {
        int64_t C = o->shape[o->ndim - 1];
        ref_softmax(pool, a, y, on / C, C);
        break;
    }
    case WG_OP_ADD: case WG_OP_MUL: {
        const wg_tensor *bt = &g->t[n->in[1]];
        ref_binary(pool, n->op == WG_OP_MUL, a, b, y, x->ndim, x->shape, bt->ndim, bt->shape);
        break;
    }
    case WG_OP_SCALE: ref_scale(pool, a, y, on, n->fp[0], n->fp[1]); break;
    case WG_OP_CLAMP: ref_clamp(pool, a, y, on, n->fp[0], n->fp[1]); break;
    case WG_OP_CONCAT: {
        int d = n->ip[0];
        const wg_tensor *bt = &g->t[n->in[1]];
        int64_t outer = prod(o->shape, 0, d), inner = prod(o->shape, d + 1, o->ndim);
        int64_t la = x->shape[d] * inner, lb = bt->shape[d] * inner;
        ref_copy_blocks(y, la + lb, a, la, outer, la);
        ref_copy_blocks(y + la, la + lb, b, lb, outer, lb);
        break;
    }
    case WG_OP_SLICE: {
        int d = n->ip[0];
        int64_t outer = prod(o->shape, 0, d), inner = prod(o->shape, d + 1, o->ndim);
        ref_copy_blocks(y, o->shape[d] * inner, a + (int64_t)n->ip[1] * inner, x->shape[d] * inner, outer, o->shape[d] * inner);
        break;
    }
    case WG_OP_UPSAMPLE_NEAREST:
        ref_upsample_nearest(pool, a, y, x->shape[0], x->shape[1], x->shape[2], x->shape[3], o->shape[2], o->shape[3]);
        break;
    case WG_OP_EMBEDDING: {
        const wg_tensor *tab = &g->t[n->in[1]];
        int64_t bad = ref_embedding((const int32_t *)a, b, y, wg_numel(x), tab->shape[0], tab->shape[1]);
        if (bad >= 0)
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "token id %d at position %lld is outside the vocabulary (0..%lld)",
                            ((const int32_t *)a)[bad], (long long)bad, (long long)tab->shape[0] - 1);
        break;
    }
    case WG_OP_TIMESTEP_EMBED:
        ref_timestep_embed(a, y, o->shape[0], o->shape[1], n->ip[1], n->fp[0]);
        break;
    case WG_OP_TRANSPOSE:
        ref_transpose(pool, a, y, x->shape[0], x->shape[1], x->shape[2]);
        break;
    case WG_OP_LINPROG:
        return wg_linprog_node(g, n, a, b, c, n->n_in > 3 ? ptr(ex, n->in[3]) : NULL, y, err);
    case WG_OP_RESHAPE:
        break; /* a view: same bytes */
    default:
        return wsd_fail(err, WSD_ERR_INTERNAL, "cpu: no kernel for %s", wg_op_name(n->op));
    }
    return WSD_OK;
}

static wsd_status cpu_run(wsd_exec *ex, int (*cancel)(void *), void *cancel_user, wsd_err *err)
{
    for (int i = 0; i < ex->g->n_nodes; i++) {
        if (cancel && cancel(cancel_user))
            return wsd_fail(err, WSD_ERR_CANCELLED, "cancelled");
        WSD_TRY(run_node(ex, &ex->g->nodes[i], err));
    }
    wg_links_run_host(ex->g, ptr_of, ex);
    return WSD_OK;
}

static wsd_status cpu_copy_tensor(wsd_exec *dst, int dst_t, wsd_exec *src, int src_t, wsd_err *err)
{
    /* from another backend's exec: refused as a copy of nothing */
    return wg_copy_host(dst->g, dst_t, ptr(dst, dst_t), src->g, src_t, dst->be == src->be ? ptr(src, src_t) : NULL, err);
}

wsd_status wsd_cpu_wait(wsd_exec *ex, int in_flight, wsd_err *err)
{
    (void)ex;
    (void)in_flight;
    (void)err;
    return WSD_OK; /* run is synchronous */
}

static void cpu_destroy(wsd_backend *base)
{
    cpu_backend *be = (cpu_backend *)base;
    for (size_t i = 0; i < be->nw; i++)
        free(be->w[i].f32);
    free(be->w);
    wsd_pool_free(be->pool);
    free(be);
}

static const wsd_backend_iface cpu_iface = {
    "cpu", cpu_compile, cpu_set_input, cpu_run, wsd_cpu_wait, cpu_copy_tensor, cpu_get_output, cpu_exec_free, cpu_destroy,
};

/* The fast backend (cpu_fast.c) unless WSD_CPU_REFERENCE is set to something other than 0. */
wsd_status wsd_backend_cpu_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err)
{
    const char *ref = getenv("WSD_CPU_REFERENCE");
    if (ref && *ref && strcmp(ref, "0") != 0)
        return wsd_backend_cpu_ref_create(opts, out, err);
    return wsd_backend_cpu_fast_create(opts, NULL, out, err);
}

wsd_status wsd_backend_cpu_ref_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err)
{
    cpu_backend *be = calloc(1, sizeof *be);
    if (!be)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    be->base.iface = &cpu_iface;
    be->pool = wsd_pool_create(opts ? opts->threads : 0);
    *out = &be->base;
    return WSD_OK;
}
