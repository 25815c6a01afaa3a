/* Graph construction with shape inference. See graph.h. */
#include "graph/graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[WG_OP_COUNT] = {
    [WG_OP_NONE] = "none", [WG_OP_CONV2D] = "conv2d", [WG_OP_LINEAR] = "linear",
    [WG_OP_GROUP_NORM] = "group_norm", [WG_OP_LAYER_NORM] = "layer_norm", [WG_OP_ATTENTION] = "attention",
    [WG_OP_SILU] = "silu", [WG_OP_GELU] = "gelu", [WG_OP_QUICK_GELU] = "quick_gelu", [WG_OP_GEGLU] = "geglu",
    [WG_OP_ADD] = "add", [WG_OP_MUL] = "mul", [WG_OP_SCALE] = "scale", [WG_OP_CLAMP] = "clamp",
    [WG_OP_CONCAT] = "concat", [WG_OP_SLICE] = "slice", [WG_OP_UPSAMPLE_NEAREST] = "upsample_nearest",
    [WG_OP_EMBEDDING] = "embedding", [WG_OP_TIMESTEP_EMBED] = "timestep_embed", [WG_OP_TRANSPOSE] = "transpose",
    [WG_OP_RESHAPE] = "reshape", [WG_OP_SOFTMAX] = "softmax", [WG_OP_LINPROG] = "linprog",
};

const char *wg_op_name(wg_op op) { return (unsigned)op < WG_OP_COUNT && op_names[op] ? op_names[op] : "?"; }

wg_graph *wg_new(wg_weight_fn weight_fn, void *weight_user)
{
    wg_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->weight_fn = weight_fn;
    g->weight_user = weight_user;
    return g;
}

void wg_free(wg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_tensors; i++)
        free((char *)g->t[i].name);
    free(g->t);
    free(g->nodes);
    free(g);
}

int wg_failed(const wg_graph *g) { return g->failed; }

wsd_status wg_status(const wg_graph *g, wsd_err *err)
{
    if (!g->failed)
        return WSD_OK;
    if (err)
        *err = g->err;
    return g->err.code;
}

static int gfail(wg_graph *g, wsd_status code, const char *fmt, ...)
{
    if (!g->failed) {
        g->failed = 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err.msg, sizeof g->err.msg, fmt, ap);
        va_end(ap);
        g->err.code = code;
    }
    return -1;
}

int64_t wg_numel(const wg_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static int new_tensor(wg_graph *g, wg_kind kind, wsd_dtype dt, int ndim, const int64_t *shape)
{
    if (g->failed)
        return -1;
    if (ndim < 1 || ndim > WG_MAX_DIMS)
        return gfail(g, WSD_ERR_INTERNAL, "graph: tensor with %d dims", ndim);
    /* `shape` often points into g->t (an operand's shape), which the realloc
     * below may move: copy it first. */
    int64_t dims[WG_MAX_DIMS];
    memcpy(dims, shape, (size_t)ndim * sizeof *dims);
    shape = dims;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || shape[i] > (1ll << 31))
            return gfail(g, WSD_ERR_INVALID_ARGUMENT, "graph: bad dimension %lld", (long long)shape[i]);
        numel *= shape[i];
        if (numel > (1ll << 40))
            return gfail(g, WSD_ERR_INVALID_ARGUMENT, "graph: tensor too large");
    }
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? 2 * g->cap_tensors : 256;
        wg_tensor *nt = realloc(g->t, (size_t)cap * sizeof *nt);
        if (!nt)
            return gfail(g, WSD_ERR_OUT_OF_MEMORY, "graph: out of memory");
        g->t = nt;
        g->cap_tensors = cap;
    }
    int id = g->n_tensors++;
    wg_tensor *t = &g->t[id];
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->dtype = dt;
    t->kind = kind;
    t->producer = -1;
    t->view_of = -1;
    t->first_use = t->last_use = -1;
    return id;
}

static int set_name(wg_graph *g, int t, const char *name)
{
    free((char *)g->t[t].name);
    g->t[t].name = wsd_strdup(name);
    if (!g->t[t].name)
        return gfail(g, WSD_ERR_OUT_OF_MEMORY, "graph: out of memory");
    return t;
}

static int valid(wg_graph *g, int t) { return !g->failed && t >= 0 && t < g->n_tensors; }

int wg_input(wg_graph *g, const char *name, wsd_dtype dt, int ndim, const int64_t *shape)
{
    int t = new_tensor(g, WG_INPUT, dt, ndim, shape);
    if (t < 0)
        return -1;
    return set_name(g, t, name);
}

int wg_weight(wg_graph *g, const char *name, int ndim, const int64_t *shape)
{
    if (g->failed)
        return -1;
    char full[512];
    snprintf(full, sizeof full, "%s%s", g->prefix ? g->prefix : "", name);
    const void *data = NULL;
    wsd_dtype dt = WSD_DT_F32;
    if (g->weight_fn) {
        wsd_err e = {0};
        if (g->weight_fn(g->weight_user, full, ndim, shape, &data, &dt, &e) != WSD_OK) {
            if (!g->failed) {
                g->failed = 1;
                g->err = e;
            }
            return -1;
        }
    }
    int t = new_tensor(g, WG_WEIGHT, dt, ndim, shape);
    if (t < 0)
        return -1;
    g->t[t].data = data;
    g->n_params += wg_numel(&g->t[t]);
    return set_name(g, t, full);
}

wsd_status wg_weight_read(const wg_graph *g, int t, size_t offset, void *dst, size_t n, wsd_err *err)
{
    if (t < 0 || t >= g->n_tensors || g->t[t].kind != WG_WEIGHT)
        return wsd_fail(err, WSD_ERR_INTERNAL, "wg_weight_read: tensor %d is not a weight", t);
    const wg_tensor *T = &g->t[t];
    if (!T->data)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "weight \"%s\" has no data (graph built for planning only)",
                        T->name ? T->name : "?");
    if (g->weight_read)
        return g->weight_read(g->weight_user, T->data, offset, dst, n, err);
    size_t total = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (offset > total || n > total - offset)
        return wsd_fail(err, WSD_ERR_INTERNAL, "weight \"%s\": bytes %zu..%zu asked for, it has %zu", T->name ? T->name : "?",
                        offset, offset + n, total);
    if (n) memcpy(dst, (const unsigned char *)T->data + offset, n);
    return WSD_OK;
}

void wg_output(wg_graph *g, int t, const char *name)
{
    if (!valid(g, t))
        return;
    g->t[t].is_output = 1;
    set_name(g, t, name);
}

int wg_find(const wg_graph *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (g->t[i].kind != WG_WEIGHT && g->t[i].name && strcmp(g->t[i].name, name) == 0)
            return i;
    return -1;
}

void wg_held_nodes(const wg_graph *g, char *held)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const wg_node *n = &g->nodes[i];
        int any = 0, all = n->n_in > 0;
        for (int k = 0; k < n->n_in && all; k++) {
            int t = n->in[k];
            if (t < 0 || g->t[t].kind == WG_WEIGHT) continue;
            const wg_tensor *T = &g->t[t];
            /* nodes come in execution order, so a producer is decided before its readers */
            int h = T->kind == WG_INPUT ? T->held : (T->producer >= 0 && T->producer < i && held[T->producer]);
            any |= h;
            all &= h;
        }
        held[i] = (char)(all && any);
    }
}

int wg_root(const wg_graph *g, int t)
{
    while (g->t[t].view_of >= 0)
        t = g->t[t].view_of;
    return t;
}

static int add_node(wg_graph *g, wg_op op, int out, const int *in, int n_in)
{
    if (g->failed)
        return -1;
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 256;
        wg_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn)
            return gfail(g, WSD_ERR_OUT_OF_MEMORY, "graph: out of memory");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    int id = g->n_nodes++;
    wg_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < WG_MAX_INPUTS; i++)
        n->in[i] = i < n_in ? in[i] : -1;
    g->t[out].producer = id;
    return id;
}

/* Creates the output tensor and its node in one go; returns the node or NULL. */
static wg_node *op_node(wg_graph *g, wg_op op, int ndim, const int64_t *shape, const int *in, int n_in, int *out)
{
    *out = -1;
    if (g->failed)
        return NULL;
    int t = new_tensor(g, WG_VALUE, WSD_DT_F32, ndim, shape);
    if (t < 0)
        return NULL;
    int n = add_node(g, op, t, in, n_in);
    if (n < 0)
        return NULL;
    *out = t;
    return &g->nodes[n];
}

#define T(i) (&g->t[(i)])

static int shape_str_fail(wg_graph *g, const char *op, const char *what, int a, int b)
{
    char sa[96] = "", sb[96] = "";
    size_t n = 0;
    for (int i = 0; i < T(a)->ndim; i++) n += (size_t)snprintf(sa + n, sizeof sa - n, "%s%lld", i ? "x" : "", (long long)T(a)->shape[i]);
    n = 0;
    if (b >= 0)
        for (int i = 0; i < T(b)->ndim; i++) n += (size_t)snprintf(sb + n, sizeof sb - n, "%s%lld", i ? "x" : "", (long long)T(b)->shape[i]);
    return gfail(g, WSD_ERR_FORMAT, "%s: %s (shapes %s and %s%s%s)", op, what, sa, sb,
                 (b >= 0 && T(b)->name) ? " of " : "", (b >= 0 && T(b)->name) ? T(b)->name : "");
}

int wg_conv2d(wg_graph *g, int x, int w, int b, int stride, int pad_t, int pad_l, int pad_b, int pad_r)
{
    if (!valid(g, x) || !valid(g, w) || (b != -1 && !valid(g, b)))
        return -1;
    const wg_tensor *X = T(x), *W = T(w);
    if (X->ndim != 4 || W->ndim != 4 || X->shape[1] != W->shape[1])
        return shape_str_fail(g, "conv2d", "input channels do not match the weight", x, w);
    if (b >= 0 && (T(b)->ndim != 1 || T(b)->shape[0] != W->shape[0]))
        return shape_str_fail(g, "conv2d", "bias size does not match the weight", w, b);
    int64_t H = X->shape[2] + pad_t + pad_b, Wd = X->shape[3] + pad_l + pad_r;
    if (stride < 1 || H < W->shape[2] || Wd < W->shape[3])
        return shape_str_fail(g, "conv2d", "kernel larger than the padded input", x, w);
    int64_t shape[4] = {X->shape[0], W->shape[0], (H - W->shape[2]) / stride + 1, (Wd - W->shape[3]) / stride + 1};
    int in[3] = {x, w, b}, out;
    wg_node *n = op_node(g, WG_OP_CONV2D, 4, shape, in, b >= 0 ? 3 : 2, &out);
    if (!n)
        return -1;
    n->ip[0] = stride;
    n->ip[1] = pad_t;
    n->ip[2] = pad_l;
    n->ip[3] = pad_b;
    n->ip[4] = pad_r;
    return out;
}

int wg_linear(wg_graph *g, int x, int w, int b)
{
    if (!valid(g, x) || !valid(g, w) || (b != -1 && !valid(g, b)))
        return -1;
    const wg_tensor *X = T(x), *W = T(w);
    if (W->ndim != 2 || X->shape[X->ndim - 1] != W->shape[1])
        return shape_str_fail(g, "linear", "input features do not match the weight", x, w);
    if (b >= 0 && (T(b)->ndim != 1 || T(b)->shape[0] != W->shape[0]))
        return shape_str_fail(g, "linear", "bias size does not match the weight", w, b);
    int64_t shape[WG_MAX_DIMS];
    memcpy(shape, X->shape, sizeof shape);
    shape[X->ndim - 1] = W->shape[0];
    int in[3] = {x, w, b}, out;
    return op_node(g, WG_OP_LINEAR, X->ndim, shape, in, b >= 0 ? 3 : 2, &out) ? out : -1;
}

int wg_group_norm(wg_graph *g, int x, int gamma, int beta, int groups, float eps, int fuse_silu)
{
    if (!valid(g, x) || !valid(g, gamma) || !valid(g, beta))
        return -1;
    const wg_tensor *X = T(x);
    int64_t C = X->ndim >= 2 ? X->shape[1] : 0;
    if (X->ndim < 3 || groups <= 0 || C % groups)
        return gfail(g, WSD_ERR_FORMAT, "group_norm: %lld channels do not split into %d groups", (long long)C, groups);
    if (wg_numel(T(gamma)) != C || wg_numel(T(beta)) != C)
        return shape_str_fail(g, "group_norm", "affine size does not match the channels", x, gamma);
    int in[3] = {x, gamma, beta}, out;
    wg_node *n = op_node(g, WG_OP_GROUP_NORM, X->ndim, X->shape, in, 3, &out);
    if (!n)
        return -1;
    n->ip[0] = groups;
    n->ip[1] = fuse_silu;
    n->fp[0] = eps;
    return out;
}

int wg_layer_norm(wg_graph *g, int x, int gamma, int beta, float eps)
{
    if (!valid(g, x) || !valid(g, gamma) || !valid(g, beta))
        return -1;
    const wg_tensor *X = T(x);
    int64_t C = X->shape[X->ndim - 1];
    if (wg_numel(T(gamma)) != C || wg_numel(T(beta)) != C)
        return shape_str_fail(g, "layer_norm", "affine size does not match the features", x, gamma);
    int in[3] = {x, gamma, beta}, out;
    wg_node *n = op_node(g, WG_OP_LAYER_NORM, X->ndim, X->shape, in, 3, &out);
    if (!n)
        return -1;
    n->fp[0] = eps;
    return out;
}

int wg_attention(wg_graph *g, int q, int k, int v, int heads, int causal, float scale)
{
    if (!valid(g, q) || !valid(g, k) || !valid(g, v))
        return -1;
    const wg_tensor *Q = T(q), *K = T(k), *V = T(v);
    if (Q->ndim != 3 || K->ndim != 3 || V->ndim != 3 || Q->shape[0] != K->shape[0] || K->shape[0] != V->shape[0] ||
        Q->shape[2] != K->shape[2] || K->shape[1] != V->shape[1])
        return shape_str_fail(g, "attention", "q/k/v shapes disagree", q, k);
    if (heads <= 0 || Q->shape[2] % heads || V->shape[2] % heads)
        return gfail(g, WSD_ERR_FORMAT, "attention: %lld channels do not split into %d heads", (long long)Q->shape[2], heads);
    int64_t shape[3] = {Q->shape[0], Q->shape[1], V->shape[2]};
    int in[3] = {q, k, v}, out;
    wg_node *n = op_node(g, WG_OP_ATTENTION, 3, shape, in, 3, &out);
    if (!n)
        return -1;
    n->ip[0] = heads;
    n->ip[1] = causal;
    n->fp[0] = scale;
    return out;
}

int wg_unary(wg_graph *g, wg_op op, int x)
{
    if (!valid(g, x))
        return -1;
    int64_t shape[WG_MAX_DIMS];
    memcpy(shape, T(x)->shape, sizeof shape);
    if (op == WG_OP_GEGLU) {
        if (shape[T(x)->ndim - 1] % 2)
            return gfail(g, WSD_ERR_FORMAT, "geglu: odd feature count");
        shape[T(x)->ndim - 1] /= 2;
    } else if (op != WG_OP_SILU && op != WG_OP_GELU && op != WG_OP_QUICK_GELU && op != WG_OP_SOFTMAX) {
        return gfail(g, WSD_ERR_INTERNAL, "wg_unary: %s is not unary", wg_op_name(op));
    }
    int out;
    return op_node(g, op, T(x)->ndim, shape, &x, 1, &out) ? out : -1;
}

static int binary(wg_graph *g, wg_op op, int a, int b)
{
    if (!valid(g, a) || !valid(g, b))
        return -1;
    const wg_tensor *A = T(a), *B = T(b);
    if (B->ndim > A->ndim)
        return shape_str_fail(g, wg_op_name(op), "cannot broadcast", a, b);
    for (int i = 0; i < B->ndim; i++) {
        int64_t da = A->shape[A->ndim - B->ndim + i], db = B->shape[i];
        if (db != 1 && db != da)
            return shape_str_fail(g, wg_op_name(op), "cannot broadcast", a, b);
    }
    int in[2] = {a, b}, out;
    return op_node(g, op, A->ndim, A->shape, in, 2, &out) ? out : -1;
}

int wg_add(wg_graph *g, int a, int b) { return binary(g, WG_OP_ADD, a, b); }
int wg_mul(wg_graph *g, int a, int b) { return binary(g, WG_OP_MUL, a, b); }

int wg_scale(wg_graph *g, int x, float mul, float add)
{
    if (!valid(g, x))
        return -1;
    int out;
    wg_node *n = op_node(g, WG_OP_SCALE, T(x)->ndim, T(x)->shape, &x, 1, &out);
    if (!n)
        return -1;
    n->fp[0] = mul;
    n->fp[1] = add;
    return out;
}

int wg_clamp(wg_graph *g, int x, float lo, float hi)
{
    if (!valid(g, x))
        return -1;
    int out;
    wg_node *n = op_node(g, WG_OP_CLAMP, T(x)->ndim, T(x)->shape, &x, 1, &out);
    if (!n)
        return -1;
    n->fp[0] = lo;
    n->fp[1] = hi;
    return out;
}

int wg_concat(wg_graph *g, int a, int b, int dim)
{
    if (!valid(g, a) || !valid(g, b))
        return -1;
    const wg_tensor *A = T(a), *B = T(b);
    if (A->ndim != B->ndim || dim < 0 || dim >= A->ndim)
        return shape_str_fail(g, "concat", "ranks differ", a, b);
    for (int i = 0; i < A->ndim; i++)
        if (i != dim && A->shape[i] != B->shape[i])
            return shape_str_fail(g, "concat", "shapes differ outside the concat dim", a, b);
    int64_t shape[WG_MAX_DIMS];
    memcpy(shape, A->shape, sizeof shape);
    shape[dim] += B->shape[dim];
    int in[2] = {a, b}, out;
    wg_node *n = op_node(g, WG_OP_CONCAT, A->ndim, shape, in, 2, &out);
    if (!n)
        return -1;
    n->ip[0] = dim;
    return out;
}

int wg_slice(wg_graph *g, int x, int dim, int64_t start, int64_t len)
{
    if (!valid(g, x))
        return -1;
    const wg_tensor *X = T(x);
    if (dim < 0 || dim >= X->ndim || start < 0 || len <= 0 || start + len > X->shape[dim])
        return gfail(g, WSD_ERR_INTERNAL, "slice: range out of bounds");
    int64_t shape[WG_MAX_DIMS];
    memcpy(shape, X->shape, sizeof shape);
    shape[dim] = len;
    int out;
    wg_node *n = op_node(g, WG_OP_SLICE, X->ndim, shape, &x, 1, &out);
    if (!n)
        return -1;
    n->ip[0] = dim;
    n->ip[1] = (int32_t)start;
    n->ip[2] = (int32_t)len;
    return out;
}

int wg_upsample_nearest(wg_graph *g, int x, int64_t out_h, int64_t out_w)
{
    if (!valid(g, x))
        return -1;
    const wg_tensor *X = T(x);
    if (X->ndim != 4)
        return gfail(g, WSD_ERR_INTERNAL, "upsample: expects NCHW");
    int64_t shape[4] = {X->shape[0], X->shape[1], out_h, out_w};
    int out;
    wg_node *n = op_node(g, WG_OP_UPSAMPLE_NEAREST, 4, shape, &x, 1, &out);
    if (!n)
        return -1;
    n->ip[0] = (int32_t)out_h;
    n->ip[1] = (int32_t)out_w;
    return out;
}

int wg_embedding(wg_graph *g, int ids, int table)
{
    if (!valid(g, ids) || !valid(g, table))
        return -1;
    if (T(ids)->dtype != WSD_DT_I32 || T(ids)->ndim != 2 || T(table)->ndim != 2)
        return gfail(g, WSD_ERR_INTERNAL, "embedding: expects int32 ids [B,T] and a [V,C] table");
    int64_t shape[3] = {T(ids)->shape[0], T(ids)->shape[1], T(table)->shape[1]};
    int in[2] = {ids, table}, out;
    return op_node(g, WG_OP_EMBEDDING, 3, shape, in, 2, &out) ? out : -1;
}

int wg_timestep_embed(wg_graph *g, int t, int channels, int flip_sin_to_cos, float freq_shift)
{
    if (!valid(g, t))
        return -1;
    if (T(t)->ndim != 1 || channels <= 0 || channels % 2)
        return gfail(g, WSD_ERR_INTERNAL, "timestep_embed: expects t[B] and an even channel count");
    int64_t shape[2] = {T(t)->shape[0], channels};
    int out;
    wg_node *n = op_node(g, WG_OP_TIMESTEP_EMBED, 2, shape, &t, 1, &out);
    if (!n)
        return -1;
    n->ip[0] = channels;
    n->ip[1] = flip_sin_to_cos;
    n->fp[0] = freq_shift;
    return out;
}

int wg_transpose(wg_graph *g, int x)
{
    if (!valid(g, x))
        return -1;
    const wg_tensor *X = T(x);
    if (X->ndim != 3)
        return gfail(g, WSD_ERR_INTERNAL, "transpose: expects [N,A,B]");
    int64_t shape[3] = {X->shape[0], X->shape[2], X->shape[1]};
    int out;
    return op_node(g, WG_OP_TRANSPOSE, 3, shape, &x, 1, &out) ? out : -1;
}

int wg_reshape(wg_graph *g, int x, int ndim, const int64_t *shape)
{
    if (!valid(g, x))
        return -1;
    int out;
    wg_node *n = op_node(g, WG_OP_RESHAPE, ndim, shape, &x, 1, &out);
    if (!n)
        return -1;
    if (wg_numel(T(out)) != wg_numel(T(x)))
        return gfail(g, WSD_ERR_INTERNAL, "reshape: element count changes");
    T(out)->dtype = T(x)->dtype;
    T(out)->view_of = x;
    return out;
}

void wg_link(wg_graph *g, int src, int dst)
{
    if (!valid(g, src) || !valid(g, dst))
        return;
    const wg_tensor *S = T(src), *D = T(dst);
    if (!S->is_output || D->kind != WG_INPUT || wg_numel(S) != wg_numel(D) || wsd_dtype_size(S->dtype) != 4 ||
        wsd_dtype_size(D->dtype) != 4) {
        gfail(g, WSD_ERR_INTERNAL, "link: %s -> %s must copy an output into an input of as many 4-byte elements",
              S->name ? S->name : "?", D->name ? D->name : "?");
        return;
    }
    if (g->n_links == WG_MAX_LINKS) {
        gfail(g, WSD_ERR_INTERNAL, "link: more than %d links", WG_MAX_LINKS);
        return;
    }
    g->links[g->n_links].src = src;
    g->links[g->n_links].dst = dst;
    g->n_links++;
}

int wg_linprog(wg_graph *g, int prog, int a, int b, int c, int scratch)
{
    if (!valid(g, prog) || !valid(g, a) || (b >= 0 && !valid(g, b)) || (c >= 0 && !valid(g, c)))
        return -1;
    if (wg_numel(T(prog)) != WG_LINPROG_LEN)
        return gfail(g, WSD_ERR_INTERNAL, "linprog: the program has %lld values, not %d", (long long)wg_numel(T(prog)),
                     WG_LINPROG_LEN);
    int64_t L = wg_numel(T(a)) / T(a)->shape[0];
    int regs = (int)T(a)->shape[0] + scratch, ins[3] = {a, b, c};
    for (int i = 1; i < 3; i++) {
        if (ins[i] < 0) continue;
        if (wg_numel(T(ins[i])) / T(ins[i])->shape[0] != L || wg_numel(T(ins[i])) % L)
            return shape_str_fail(g, "linprog", "rows of different lengths", a, ins[i]);
        regs += (int)T(ins[i])->shape[0];
    }
    if (scratch < 0 || regs > WG_LINPROG_MAX_REGS)
        return gfail(g, WSD_ERR_INTERNAL, "linprog: %d registers (at most %d)", regs, WG_LINPROG_MAX_REGS);
    int in[4] = {prog, a, b, c}, n_in = c >= 0 ? 4 : b >= 0 ? 3 : 2, out;
    if (c >= 0 && b < 0)
        return gfail(g, WSD_ERR_INTERNAL, "linprog: c given without b");
    wg_node *n = op_node(g, WG_OP_LINPROG, T(a)->ndim, T(a)->shape, in, n_in, &out);
    if (!n)
        return -1;
    n->ip[0] = scratch;
    return out;
}

int wg_linprog_check(const float *prog, int regs, char *msg, size_t cap)
{
    float nops = prog[0];
    if (!(nops >= 0 && nops <= WG_LINPROG_MAX_OPS) || nops != (float)(int)nops) {
        snprintf(msg, cap, "linprog: %g ops (0..%d)", (double)nops, WG_LINPROG_MAX_OPS);
        return -1;
    }
    for (int k = 0; k < (int)nops; k++) {
        const float *op = prog + 1 + k * WG_LINPROG_OPW;
        int kind = (int)op[0], dst = (int)op[1], nt = (int)op[2];
        int ok = (op[0] == 0 || op[0] == 1 || op[0] == 2) && op[1] == (float)dst && dst >= 0 && dst < regs &&
                 op[2] == (float)nt && nt >= 1 && nt <= WG_LINPROG_MAX_TERMS && (kind != 1 || nt == 2) &&
                 (kind != 2 || nt == 1) && !(op[3] < 0);
        for (int t = 0; t < nt && ok; t++) {
            int r = (int)op[4 + 2 * t];
            ok = op[4 + 2 * t] == (float)r && r >= 0 && r < regs;
        }
        if (!ok) {
            snprintf(msg, cap, "linprog: op %d is malformed (kind %g, dst %g, %g terms, %d registers)", k, (double)op[0],
                     (double)op[1], (double)op[2], regs);
            return -1;
        }
    }
    return 0;
}

void wg_linprog_run(const float *prog, const float *a, int ra, const float *b, int rb, const float *c, int rc,
                    float *y, int64_t L)
{
    int nops = (int)prog[0];
    for (int64_t j = 0; j < L; j++) {
        float r[WG_LINPROG_MAX_REGS] = {0}; /* scratch registers start at zero */
        for (int i = 0; i < ra; i++) r[i] = a[i * L + j];
        for (int i = 0; i < rb; i++) r[ra + i] = b[i * L + j];
        for (int i = 0; i < rc; i++) r[ra + rb + i] = c[i * L + j];
        for (int k = 0; k < nops; k++) {
            const float *op = prog + 1 + k * WG_LINPROG_OPW;
            int nt = (int)op[2];
            float acc;
            if (op[0] == 1) {
                float s0 = r[(int)op[4]], d = r[(int)op[6]] - s0;
                float gd = op[5] * d;
                acc = s0 + gd;
            } else if (op[0] == 2) {
                acc = r[(int)op[4]] / op[5];
            } else {
                acc = op[5] * r[(int)op[4]];
                for (int t = 1; t < nt; t++) {
                    float p = op[5 + 2 * t] * r[(int)op[4 + 2 * t]];
                    acc = acc + p;
                }
            }
            float cl = op[3];
            if (cl > 0) acc = acc < -cl ? -cl : acc > cl ? cl : acc;
            r[(int)op[1]] = acc;
        }
        for (int i = 0; i < ra; i++) y[i * L + j] = r[i];
    }
}

double wg_node_flops(const wg_graph *g, const wg_node *n)
{
    const wg_tensor *o = &g->t[n->out];
    switch (n->op) {
    case WG_OP_CONV2D: {
        const wg_tensor *w = &g->t[n->in[1]];
        return 2.0 * (double)wg_numel(o) * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    }
    case WG_OP_LINEAR: {
        const wg_tensor *w = &g->t[n->in[1]];
        return 2.0 * (double)wg_numel(o) * (double)w->shape[1];
    }
    case WG_OP_ATTENTION: {
        const wg_tensor *q = &g->t[n->in[0]], *k = &g->t[n->in[1]];
        return 2.0 * (double)q->shape[0] * (double)q->shape[1] * (double)k->shape[1] * (double)(q->shape[2] + o->shape[2]);
    }
    default:
        return (double)wg_numel(o);
    }
}

wsd_status wg_linprog_node(const wg_graph *g, const wg_node *n, const float *prog, const float *a, const float *b,
                           const float *c, float *y, wsd_err *err)
{
    const wg_tensor *A = &g->t[n->in[1]];
    int ra = (int)A->shape[0], rb = n->n_in > 2 ? (int)g->t[n->in[2]].shape[0] : 0;
    int rc = n->n_in > 3 ? (int)g->t[n->in[3]].shape[0] : 0;
    char msg[160];
    if (wg_linprog_check(prog, ra + rb + rc + n->ip[0], msg, sizeof msg))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s", msg);
    wg_linprog_run(prog, a, ra, b, rb, c, rc, y, wg_numel(A) / ra);
    return WSD_OK;
}

void wg_links_run_host(const wg_graph *g, float *(*ptr)(void *user, int t), void *user)
{
    for (int i = 0; i < g->n_links; i++) {
        const wg_link_t *k = &g->links[i];
        memcpy(ptr(user, k->dst), ptr(user, k->src), (size_t)wg_numel(&g->t[k->src]) * 4);
    }
}

wsd_status wg_copy_host(const wg_graph *dg, int dst_t, float *dst, const wg_graph *sg, int src_t, const float *src,
                        wsd_err *err)
{
    const wg_tensor *D = &dg->t[dst_t], *S = &sg->t[src_t];
    size_t n = (size_t)wg_numel(D) * wsd_dtype_size(D->dtype);
    if (D->kind != WG_INPUT || n != (size_t)wg_numel(S) * wsd_dtype_size(S->dtype) || !dst || !src)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: cannot copy \"%s\" into input \"%s\"", S->name ? S->name : "?",
                        D->name ? D->name : "?");
    memmove(dst, src, n);
    return WSD_OK;
}
