/* The fast CPU backend (the default; WSD_CPU_REFERENCE=1 selects the float32
 * reference backend in cpu_backend.c instead).
 *
 * Compiling a graph turns its nodes into steps, fusing where it saves a pass
 * over memory or the memory itself:
 *   GroupNorm(+SiLU) -> conv    the conv packs the normalised input on the fly
 *   nearest upsample -> conv    the conv reads the small input with the upsampled indexing
 *   conv / linear -> add        the residual (same shape) is added in the GEMM epilogue
 * and a 1x1 convolution whose input dies there (a ResNet shortcut in the
 * batch-1 VAE) runs early and in place over its input, so the 512x512 VAE
 * decoder never holds its largest activation twice. The CPU backend then
 * lays out its own arena over the steps (first fit, largest first, like
 * plan.c, but knowing which tensors the fusions removed and which outputs
 * may overwrite their inputs); the graph's own plan offsets are not used.
 *
 * Weights keep their stored dtype: conv and linear weights (and embedding
 * tables) are read in place and widened while packing; only small ones
 * (biases, norm parameters, position embeddings) get float32 copies, cached
 * per backend by (weights_uid, data pointer). */
#include "backends/backend.h"
#include "backends/cpu/cpu_fast.h"
#include "backends/cpu/fast_ops.h"
#include "backends/cpu/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t uid;
    const void *src;
    float *f32;
} fw_cache;

typedef struct {
    wsd_backend base;
    cpu_ctx *ctx;
    fw_cache *w;
    size_t nw, capw;
} fast_backend;

typedef struct {
    int node;     /* main node */
    int gn, up;   /* GROUP_NORM / UPSAMPLE node fused into a conv's input, or -1 */
    int add;      /* ADD node fused into the epilogue, or -1 */
    int res;      /* its other operand */
    int out;      /* tensor written */
    int flags;    /* GEMM flags */
} step;

struct wsd_exec {
    fast_backend *be;
    const wg_graph *g;
    step *steps;
    int nsteps;
    unsigned char *arena;
    size_t arena_bytes;
    size_t *off;          /* per tensor: offset of its storage, SIZE_MAX if none */
    const void **wdata;   /* per weight: data to use (stored or float32 copy) */
    wsd_dtype *wdt;
    float *gn;            /* tm | ta | tb for fused GroupNorms */
    size_t gn_floats;
    wsd_cpu_profile *prof;
    int prof_steps;       /* WSD_CPU_PROFILE_STEPS: one line per heavy step */
};

#define NO_OFF ((size_t)-1)

/* ---- weights ---- */

static void evict_other_models(fast_backend *be, uint64_t uid)
{
    size_t k = 0;
    for (size_t i = 0; i < be->nw; i++) {
        if (be->w[i].uid == uid) be->w[k++] = be->w[i];
        else free(be->w[i].f32);
    }
    be->nw = k;
}

static const float *weight_f32(fast_backend *be, uint64_t uid, const wg_tensor *t, wsd_err *err)
{
    for (size_t i = 0; i < be->nw; i++)
        if (be->w[i].src == t->data && be->w[i].uid == uid) return be->w[i].f32;
    if (be->nw == be->capw) {
        size_t cap = be->capw ? be->capw * 2 : 256;
        fw_cache *nw = realloc(be->w, cap * sizeof *nw);
        if (!nw) {
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory for weights");
            return NULL;
        }
        be->w = nw;
        be->capw = cap;
    }
    size_t n = (size_t)wg_numel(t);
    float *f = wsd_malloc_array(n ? n : 1, sizeof(float));
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

/* ---- compile ---- */

static int same_shape(const wg_tensor *a, const wg_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

typedef struct {
    const wg_graph *g;
    int *uses;        /* node inputs referring to each tensor */
    int *host;        /* per node: node whose step runs it (itself when not fused) */
    int *order;       /* step order: host nodes */
    int norder;
} analysis;

static int is_value(const wg_graph *g, int t) { return t >= 0 && g->t[t].kind == WG_VALUE; }

/* A conv or linear output that only feeds `add` can take the add into its epilogue. */
static int epilogue_candidate(const analysis *an, int t)
{
    const wg_graph *g = an->g;
    if (!is_value(g, t) || g->t[t].is_output || an->uses[t] != 1) return 0;
    int p = g->t[t].producer;
    if (p < 0 || an->host[p] != p) return 0;
    wg_op op = g->nodes[p].op;
    return op == WG_OP_CONV2D || op == WG_OP_LINEAR;
}

static wsd_status analyse(wsd_exec *ex, analysis *an, wsd_err *err)
{
    const wg_graph *g = ex->g;
    int nt = g->n_tensors, nn = g->n_nodes;
    an->g = g;
    an->uses = calloc((size_t)(nt ? nt : 1), sizeof(int));
    an->host = malloc((size_t)(nn ? nn : 1) * sizeof(int));
    an->order = malloc((size_t)(nn ? nn : 1) * sizeof(int));
    ex->steps = calloc((size_t)(nn ? nn : 1), sizeof *ex->steps);
    if (!an->uses || !an->host || !an->order || !ex->steps)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    for (int i = 0; i < nn; i++) {
        an->host[i] = i;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int t = g->nodes[i].in[k];
            if (t >= 0) an->uses[t]++;
        }
    }
    /* per node fusion records, indexed by node */
    int *gn = malloc((size_t)(nn ? nn : 1) * sizeof(int)), *up = malloc((size_t)(nn ? nn : 1) * sizeof(int));
    int *addn = malloc((size_t)(nn ? nn : 1) * sizeof(int)), *res = malloc((size_t)(nn ? nn : 1) * sizeof(int));
    if (!gn || !up || !addn || !res) {
        free(gn); free(up); free(addn); free(res);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    for (int i = 0; i < nn; i++) gn[i] = up[i] = addn[i] = res[i] = -1;

    /* (a) input fusions into convolutions */
    for (int i = 0; i < nn; i++) {
        const wg_node *n = &g->nodes[i];
        if (n->op != WG_OP_CONV2D) continue;
        int x = n->in[0];
        if (!is_value(g, x) || g->t[x].is_output || an->uses[x] != 1 || g->t[x].producer < 0) continue;
        int p = g->t[x].producer;
        const wg_node *pn = &g->nodes[p];
        if (pn->op == WG_OP_GROUP_NORM && g->t[pn->in[0]].ndim == 4) {
            gn[i] = p;
            an->host[p] = i;
        } else if (pn->op == WG_OP_UPSAMPLE_NEAREST) {
            const wg_tensor *s = &g->t[pn->in[0]], *o = &g->t[x];
            int64_t f = s->shape[2] ? o->shape[2] / s->shape[2] : 0;
            if (f >= 1 && f <= 8 && o->shape[2] == f * s->shape[2] && o->shape[3] == f * s->shape[3]) {
                up[i] = p;
                an->host[p] = i;
            }
        }
    }
    /* step order: hosts in node order */
    int no = 0;
    for (int i = 0; i < nn; i++)
        if (an->host[i] == i) an->order[no++] = i;
    an->norder = no;
    int *pos = malloc((size_t)(nn ? nn : 1) * sizeof(int));
    if (!pos) {
        free(gn); free(up); free(addn); free(res);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    /* (b) a 1x1 conv that is the last reader of its (batch-1) input moves up to
     * right after the input's previous reader, so it can run in place there */
    for (int oi = 0; oi < an->norder; oi++) {
        int c = an->order[oi];
        const wg_node *n = &g->nodes[c];
        if (n->op != WG_OP_CONV2D || gn[c] >= 0 || up[c] >= 0) continue;
        const wg_tensor *w = &g->t[n->in[1]], *x = &g->t[n->in[0]], *o = &g->t[n->out];
        if (w->shape[2] != 1 || w->shape[3] != 1 || n->ip[0] != 1 || n->ip[1] || n->ip[2] || n->ip[3] || n->ip[4]) continue;
        if (x->shape[0] != 1 || o->shape[1] > x->shape[1] || !is_value(g, n->in[0]) || x->is_output || x->view_of >= 0) continue;
        for (int k = 0; k < an->norder; k++) pos[an->order[k]] = k;
        int xt = n->in[0], prev = -1, later = 0;
        for (int i = 0; i < nn; i++)
            for (int k = 0; k < g->nodes[i].n_in; k++)
                if (g->nodes[i].in[k] == xt && i != c) {
                    int hp = pos[an->host[i]];
                    if (hp > oi) later = 1;
                    if (hp > prev) prev = hp;
                }
        if (g->t[xt].producer >= 0 && pos[an->host[g->t[xt].producer]] > prev) prev = pos[an->host[g->t[xt].producer]];
        if (later || prev < 0 || prev + 1 >= oi) continue;
        memmove(an->order + prev + 2, an->order + prev + 1, (size_t)(oi - prev - 1) * sizeof(int));
        an->order[prev + 1] = c;
    }
    for (int k = 0; k < an->norder; k++) pos[an->order[k]] = k;
    /* (c) residual adds into the later of their conv / linear producers */
    for (int i = 0; i < nn; i++) {
        const wg_node *n = &g->nodes[i];
        if (n->op != WG_OP_ADD || an->host[i] != i || n->in[0] == n->in[1]) continue;
        const wg_tensor *a = &g->t[n->in[0]], *b = &g->t[n->in[1]];
        if (!same_shape(a, b)) continue;
        int best = -1, other = -1, bestpos = -1;
        for (int s = 0; s < 2; s++) {
            int t = n->in[s], r = n->in[1 - s];
            if (!epilogue_candidate(an, t)) continue;
            int p = g->t[t].producer;
            int rp = g->t[r].producer >= 0 ? pos[an->host[g->t[r].producer]] : -1;
            if (rp >= pos[p]) continue; /* the residual must exist when the producer runs */
            if (addn[p] >= 0) continue;
            if (pos[p] > bestpos) {
                best = p;
                other = r;
                bestpos = pos[p];
            }
        }
        if (best < 0) continue;
        addn[best] = i;
        res[best] = other;
        an->host[i] = best;
    }
    /* steps in the final order, dropping hosts that were folded away */
    int ns = 0;
    for (int k = 0; k < an->norder; k++) {
        int c = an->order[k];
        if (an->host[c] != c) continue;
        step *s = &ex->steps[ns++];
        s->node = c;
        s->gn = gn[c];
        s->up = up[c];
        s->add = addn[c];
        s->res = res[c];
        s->out = addn[c] >= 0 ? g->nodes[addn[c]].out : g->nodes[c].out;
        s->flags = 0;
    }
    ex->nsteps = ns;
    free(gn); free(up); free(addn); free(res); free(pos);
    return WSD_OK;
}

/* ---- arena layout ---- */

typedef struct { int id; size_t size; } root_ref;
typedef struct { size_t off, end; } span;

static int cmp_root(const void *a, const void *b)
{
    const root_ref *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->id - y->id;
}
static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static size_t tbytes(const wg_tensor *t) { return ((size_t)wg_numel(t) * wsd_dtype_size(t->dtype) + 63) & ~(size_t)63; }

/* Tensors a step reads (at most 8). */
static int step_reads(const wsd_exec *ex, const step *s, int *r)
{
    const wg_graph *g = ex->g;
    const wg_node *n = &g->nodes[s->node];
    int k = 0;
    for (int i = 0; i < n->n_in; i++) {
        int t = n->in[i];
        if (t < 0) continue;
        if (i == 0 && s->gn >= 0) t = g->nodes[s->gn].in[0];
        if (i == 0 && s->up >= 0) t = g->nodes[s->up].in[0];
        r[k++] = t;
    }
    if (s->gn >= 0)
        for (int i = 1; i < g->nodes[s->gn].n_in; i++) r[k++] = g->nodes[s->gn].in[i];
    if (s->res >= 0) r[k++] = s->res;
    return k;
}

static int elementwise(wg_op op)
{
    return op == WG_OP_SILU || op == WG_OP_GELU || op == WG_OP_QUICK_GELU || op == WG_OP_ADD || op == WG_OP_MUL ||
           op == WG_OP_SCALE || op == WG_OP_CLAMP;
}

static wsd_status layout(wsd_exec *ex, wsd_err *err)
{
    const wg_graph *g = ex->g;
    int nt = g->n_tensors, ns = ex->nsteps;
    int *first = malloc((size_t)(nt ? nt : 1) * sizeof(int)), *last = malloc((size_t)(nt ? nt : 1) * sizeof(int));
    int *root = malloc((size_t)(nt ? nt : 1) * sizeof(int));
    char *used = calloc((size_t)(nt ? nt : 1), 1);
    root_ref *roots = malloc((size_t)(nt ? nt : 1) * sizeof *roots);
    span *busy = malloc((size_t)(nt ? nt : 1) * sizeof *busy);
    ex->off = malloc((size_t)(nt ? nt : 1) * sizeof(size_t));
    if (!first || !last || !root || !used || !roots || !busy || !ex->off) {
        free(first); free(last); free(root); free(used); free(roots); free(busy);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    for (int i = 0; i < nt; i++) {
        root[i] = i;
        ex->off[i] = NO_OFF;
        first[i] = g->t[i].kind == WG_INPUT ? 0 : ns;
        last[i] = (g->t[i].kind == WG_INPUT || g->t[i].is_output) ? ns : -1;
        if (g->t[i].kind == WG_INPUT || g->t[i].is_output) used[i] = 1;
    }
    /* lifetimes of every materialised tensor, in step time */
    for (int si = 0; si < ns; si++) {
        step *s = &ex->steps[si];
        int r[16], k = step_reads(ex, s, r);
        for (int i = 0; i < k; i++) {
            if (g->t[r[i]].kind == WG_WEIGHT) continue;
            used[r[i]] = 1;
            if (last[r[i]] < si) last[r[i]] = si;
        }
        used[s->out] = 1;
        if (first[s->out] > si) first[s->out] = si;
        if (last[s->out] < si) last[s->out] = si;
    }
    /* aliases, decided in step order: reshape views; element-wise in place;
     * residual epilogues over their residual; in-place 1x1 convolutions */
    for (int si = 0; si < ns; si++) {
        step *s = &ex->steps[si];
        const wg_node *n = &g->nodes[s->node];
        int out = s->out, cand = -1;
        if (n->op == WG_OP_RESHAPE) {
            int rr = root[n->in[0]];
            root[out] = rr;
            if (last[out] > last[rr]) last[rr] = last[out];
            if (g->t[out].is_output) last[rr] = ns;
            continue;
        }
        int r[16], k = step_reads(ex, s, r);
        if (s->add >= 0) {
            cand = s->res;
        } else if (elementwise(n->op)) {
            cand = n->in[0];
            if (n->op == WG_OP_ADD && n->in[1] >= 0 && same_shape(&g->t[n->in[0]], &g->t[n->in[1]])) {
                int r0 = root[n->in[0]];
                if (!(g->t[r0].kind == WG_VALUE && last[r0] == si)) cand = n->in[1];
            }
        } else if (n->op == WG_OP_CONV2D && n->n_in >= 2) {
            const wg_tensor *w = &g->t[n->in[1]], *x = &g->t[r[0]], *o = &g->t[out];
            if (w->shape[2] == 1 && w->shape[3] == 1 && n->ip[0] == 1 && !n->ip[1] && !n->ip[2] && !n->ip[3] && !n->ip[4] &&
                x->shape[0] == 1 && s->up < 0 && o->shape[1] <= x->shape[1]) {
                cand = r[0];
            }
        }
        if (cand < 0) continue;
        int rr = root[cand];
        const wg_tensor *R = &g->t[rr];
        /* a 1x1 conv may write fewer channels than it reads, and a residual may
         * be a view at the start of a larger root: the output then takes that prefix */
        int shrink_ok = (n->op == WG_OP_CONV2D && s->add < 0) || s->add >= 0;
        size_t rb = tbytes(R), ob = tbytes(&g->t[out]);
        if (R->kind != WG_VALUE || R->is_output || last[rr] != si || rb < ob || (!shrink_ok && rb != ob)) continue;
        /* no other operand may share that storage (an in-place GEMM would overwrite what it still reads) */
        int clash = 0;
        for (int i = 0; i < k; i++)
            if (r[i] != cand && g->t[r[i]].kind != WG_WEIGHT && root[r[i]] == rr) clash = 1;
        if (clash) continue;
        if (n->op == WG_OP_CONV2D && s->add < 0) s->flags |= GEMM_ONE_KBLOCK;
        root[out] = rr;
        if (last[out] > last[rr]) last[rr] = last[out];
        if (g->t[out].is_output) last[rr] = ns;
    }
    /* place roots */
    int nr = 0;
    for (int i = 0; i < nt; i++) {
        if (!used[i] || g->t[i].kind == WG_WEIGHT || root[i] != i) continue;
        if (first[i] > last[i]) first[i] = last[i];
        roots[nr].id = i;
        roots[nr].size = tbytes(&g->t[i]);
        nr++;
    }
    /* a root's lifetime covers its aliases */
    for (int i = 0; i < nt; i++)
        if (used[i] && root[i] != i && g->t[i].kind != WG_WEIGHT) {
            int rr = root[i];
            if (first[i] < first[rr]) first[rr] = first[i];
            if (last[i] > last[rr]) last[rr] = last[i];
        }
    qsort(roots, (size_t)nr, sizeof *roots, cmp_root);
    size_t total = 0;
    for (int a = 0; a < nr; a++) {
        int t = roots[a].id;
        int nb = 0;
        for (int b = 0; b < a; b++) {
            int u = roots[b].id;
            if (first[t] <= last[u] && first[u] <= last[t]) busy[nb++] = (span){ex->off[u], ex->off[u] + roots[b].size};
        }
        qsort(busy, (size_t)nb, sizeof *busy, cmp_span);
        size_t off = 0;
        for (int b = 0; b < nb; b++) {
            if (busy[b].off >= off + roots[a].size) break;
            if (busy[b].end > off) off = busy[b].end;
        }
        ex->off[t] = off;
        if (off + roots[a].size > total) total = off + roots[a].size;
    }
    for (int i = 0; i < nt; i++)
        if (used[i] && root[i] != i && g->t[i].kind != WG_WEIGHT) ex->off[i] = ex->off[root[i]];
    ex->arena_bytes = total;
    free(first); free(last); free(root); free(used); free(roots); free(busy);
    return WSD_OK;
}

static void fast_exec_free(wsd_exec *ex)
{
    if (!ex) return;
    cpu_ctx_release_shared(ex->be->ctx);
    free(ex->steps);
    free(ex->arena);
    free(ex->off);
    free((void *)ex->wdata);
    free(ex->wdt);
    free(ex->gn);
    free(ex);
}

/* Weights only read as conv / linear weights or embedding tables stay in their stored dtype. */
static int weight_raw_ok(const wg_graph *g, int t)
{
    const wg_tensor *T = &g->t[t];
    if (((uintptr_t)T->data) % wsd_dtype_size(T->dtype)) return 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const wg_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] != t) continue;
            if (k == 1 && (n->op == WG_OP_CONV2D || n->op == WG_OP_LINEAR || n->op == WG_OP_EMBEDDING)) continue;
            return 0;
        }
    }
    return 1;
}

/* WSD_CPU_PLAN_DEBUG=1: the steps, their fusions and storage, on stderr. */
static void dump_plan(const wsd_exec *ex)
{
    const wg_graph *g = ex->g;
    fprintf(stderr, "cpu plan: %d nodes -> %d steps, arena %.1f MB\n", g->n_nodes, ex->nsteps, (double)ex->arena_bytes / 1e6);
    for (int i = 0; i < ex->nsteps; i++) {
        const step *s = &ex->steps[i];
        const wg_node *n = &g->nodes[s->node];
        int in0 = n->in[0];
        if (s->gn >= 0) in0 = g->nodes[s->gn].in[0];
        if (s->up >= 0) in0 = g->nodes[s->up].in[0];
        fprintf(stderr, "%4d %-16s%s%s%s%s in t%d@%zu out t%d@%zu (%.1f MB)\n", i, wg_op_name(n->op), s->gn >= 0 ? " +gn" : "",
                s->up >= 0 ? " +up" : "", s->add >= 0 ? " +add" : "", s->flags & GEMM_ONE_KBLOCK ? " in-place" : "", in0,
                ex->off[in0] == NO_OFF ? (size_t)0 : ex->off[in0], s->out, ex->off[s->out], (double)tbytes(&g->t[s->out]) / 1e6);
    }
}

static wsd_status fast_compile(wsd_backend *base, const wg_graph *g, const wg_plan *plan, wsd_exec **out, wsd_err *err)
{
    fast_backend *be = (fast_backend *)base;
    (void)plan;
    *out = NULL;
    wsd_exec *ex = calloc(1, sizeof *ex);
    if (!ex) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    ex->be = be;
    ex->g = g;
    analysis an = {0};
    wsd_status st = analyse(ex, &an, err);
    free(an.uses);
    free(an.host);
    free(an.order);
    if (st == WSD_OK) st = layout(ex, err);
    if (st != WSD_OK) {
        fast_exec_free(ex);
        return st;
    }
    ex->arena = calloc(ex->arena_bytes ? ex->arena_bytes : 1, 1);
    ex->wdata = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *ex->wdata);
    ex->wdt = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *ex->wdt);
    size_t gnf = 0;
    for (int si = 0; si < ex->nsteps; si++)
        if (ex->steps[si].gn >= 0) {
            size_t nc = (size_t)(g->t[g->nodes[ex->steps[si].gn].in[0]].shape[0] * g->t[g->nodes[ex->steps[si].gn].in[0]].shape[1]);
            if (nc > gnf) gnf = nc;
        }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == WG_OP_GROUP_NORM) {
            size_t nc = (size_t)(g->t[g->nodes[i].in[0]].shape[0] * g->t[g->nodes[i].in[0]].shape[1]);
            if (nc > gnf) gnf = nc;
        }
    ex->gn_floats = gnf;
    ex->gn = malloc((3 * gnf + 1) * sizeof(float));
    if (!ex->arena || !ex->wdata || !ex->wdt || !ex->gn) {
        size_t bytes = ex->arena_bytes;
        fast_exec_free(ex);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: cannot allocate the %zu-byte activation arena", bytes);
    }
    evict_other_models(be, g->weights_uid);
    for (int i = 0; i < g->n_tensors; i++) {
        const wg_tensor *T = &g->t[i];
        if (T->kind != WG_WEIGHT) continue;
        if (!T->data) {
            fast_exec_free(ex);
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: weight \"%s\" has no data (graph built for planning only)", T->name);
        }
        if (T->dtype == WSD_DT_F32 && ((uintptr_t)T->data) % 4 == 0) {
            ex->wdata[i] = T->data;
            ex->wdt[i] = WSD_DT_F32;
        } else if (weight_raw_ok(g, i)) {
            ex->wdata[i] = T->data;
            ex->wdt[i] = T->dtype;
        } else {
            ex->wdata[i] = weight_f32(be, g->weights_uid, T, err);
            ex->wdt[i] = WSD_DT_F32;
            if (!ex->wdata[i]) {
                fast_exec_free(ex);
                return err ? err->code : WSD_ERR_OUT_OF_MEMORY;
            }
        }
    }
    if (getenv("WSD_CPU_PLAN_DEBUG")) dump_plan(ex);
    *out = ex;
    return WSD_OK;
}

/* ---- run ---- */

static float *ptr(wsd_exec *ex, int t)
{
    if (t < 0) return NULL;
    if (ex->g->t[t].kind == WG_WEIGHT) return (float *)ex->wdata[t];
    return ex->off[t] == NO_OFF ? NULL : (float *)(ex->arena + ex->off[t]);
}

static float *ptr_of(void *ex, int t) { return ptr(ex, t); }

static wsd_status fast_set_input(wsd_exec *ex, int t, const void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t want = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (T->kind != WG_INPUT || nbytes != want || !ptr(ex, t))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "cpu: input \"%s\" takes %zu bytes, got %zu", T->name ? T->name : "?", want, nbytes);
    memcpy(ptr(ex, t), data, nbytes);
    return WSD_OK;
}

static wsd_status fast_get_output(wsd_exec *ex, int t, void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t have = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (!T->is_output || nbytes != have || !ptr(ex, t))
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

static wsd_status oom(wsd_err *err, const wg_graph *g, const wg_node *n)
{
    (void)g;
    return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory for %s scratch", wg_op_name(n->op));
}

static wsd_status run_conv(wsd_exec *ex, const step *s, wsd_err *err)
{
    const wg_graph *g = ex->g;
    cpu_ctx *c = ex->be->ctx;
    const wg_node *n = &g->nodes[s->node];
    int xt = s->gn >= 0 ? g->nodes[s->gn].in[0] : s->up >= 0 ? g->nodes[s->up].in[0] : n->in[0];
    const wg_tensor *x = &g->t[xt], *w = &g->t[n->in[1]], *o = &g->t[n->out];
    conv_geom cg;
    memset(&cg, 0, sizeof cg);
    cg.x = ptr(ex, xt);
    cg.Nb = x->shape[0];
    cg.Ci = x->shape[1];
    cg.H = x->shape[2];
    cg.W = x->shape[3];
    cg.up = s->up >= 0 ? (int)(g->t[g->nodes[s->up].out].shape[2] / x->shape[2]) : 1;
    cg.kh = w->shape[2];
    cg.kw = w->shape[3];
    cg.stride = n->ip[0];
    cg.pad_t = n->ip[1];
    cg.pad_l = n->ip[2];
    cg.Ho = o->shape[2];
    cg.Wo = o->shape[3];
    if (s->gn >= 0) {
        const wg_node *gn = &g->nodes[s->gn];
        float *tm = ex->gn, *ta = tm + ex->gn_floats, *tb = ta + ex->gn_floats;
        fast_group_norm_stats(c, cg.x, ptr(ex, gn->in[1]), ptr(ex, gn->in[2]), cg.Nb, cg.Ci, cg.H * cg.W, gn->ip[0], gn->fp[0], tm, ta, tb);
        cg.tm = tm;
        cg.ta = ta;
        cg.tb = tb;
        cg.silu = gn->ip[1];
    }
    const float *bias = n->n_in > 2 ? ptr(ex, n->in[2]) : NULL;
    if (fast_conv2d(c, &cg, ex->wdata[n->in[1]], ex->wdt[n->in[1]], w->shape[0], bias, NULL, ptr(ex, s->res), ptr(ex, s->out), s->flags) != 0)
        return oom(err, g, n);
    return WSD_OK;
}

static wsd_status run_step(wsd_exec *ex, const step *s, wsd_err *err)
{
    const wg_graph *g = ex->g;
    cpu_ctx *c = ex->be->ctx;
    wsd_pool *pool = NULL; /* reference kernels here only do cheap ops: serially */
    const wg_node *n = &g->nodes[s->node];
    const wg_tensor *o = &g->t[n->out], *x = &g->t[n->in[0]];
    float *y = ptr(ex, n->out);
    const float *a = ptr(ex, n->in[0]), *b = n->n_in > 1 ? ptr(ex, n->in[1]) : NULL, *cc = n->n_in > 2 ? ptr(ex, n->in[2]) : NULL;
    int64_t on = wg_numel(o);
    switch (n->op) {
    case WG_OP_CONV2D:
        return run_conv(ex, s, err);
    case WG_OP_LINEAR: {
        const wg_tensor *w = &g->t[n->in[1]];
        if (fast_linear(c, a, ex->wdata[n->in[1]], ex->wdt[n->in[1]], cc, ptr(ex, s->res), ptr(ex, s->out),
                        wg_numel(x) / w->shape[1], w->shape[1], w->shape[0]) != 0)
            return oom(err, g, n);
        break;
    }
    case WG_OP_GROUP_NORM: {
        float *tm = ex->gn, *ta = tm + ex->gn_floats, *tb = ta + ex->gn_floats;
        int64_t S = prod(x->shape, 2, x->ndim);
        fast_group_norm_stats(c, a, b, cc, x->shape[0], x->shape[1], S, n->ip[0], n->fp[0], tm, ta, tb);
        fast_affine_planes(c, a, y, x->shape[0] * x->shape[1], S, tm, ta, tb, n->ip[1]);
        break;
    }
    case WG_OP_LAYER_NORM: {
        int64_t C = x->shape[x->ndim - 1];
        fast_layer_norm(c, a, b, cc, y, wg_numel(x) / C, C, n->fp[0]);
        break;
    }
    case WG_OP_ATTENTION: {
        const wg_tensor *q = x, *k = &g->t[n->in[1]], *v = &g->t[n->in[2]];
        int64_t H = n->ip[0];
        if (fast_attention(c, a, b, cc, y, q->shape[0], q->shape[1], k->shape[1], H, q->shape[2] / H, v->shape[2] / H, n->fp[0], n->ip[1]) != 0)
            return oom(err, g, n);
        break;
    }
    case WG_OP_SILU: fast_unary(c, FAST_SILU, a, y, on); break;
    case WG_OP_GELU: fast_unary(c, FAST_GELU, a, y, on); break;
    case WG_OP_QUICK_GELU: fast_unary(c, FAST_QUICK_GELU, a, y, on); break;
    case WG_OP_GEGLU: {
        int64_t F = o->shape[o->ndim - 1];
        fast_geglu(c, a, y, on / F, F);
        break;
    }
    case WG_OP_SOFTMAX: {
        int64_t C = o->shape[o->ndim - 1];
        fast_softmax(c, a, y, on / C, C);
        break;
    }
    case WG_OP_ADD: case WG_OP_MUL: {
        const wg_tensor *bt = &g->t[n->in[1]];
        int64_t bn = wg_numel(bt);
        int trailing = bt->ndim <= x->ndim;
        for (int d = 0; trailing && d < bt->ndim; d++) trailing = bt->shape[d] == x->shape[x->ndim - bt->ndim + d];
        if (n->op == WG_OP_ADD && same_shape(x, bt)) fast_add(c, a, b, y, on);
        else if (n->op == WG_OP_ADD && trailing && bn > 0) fast_add_bcast(c, a, b, y, on / bn, bn, 0);
        else if (n->op == WG_OP_ADD && x->ndim == 4 && bt->ndim == 4 && bt->shape[0] == x->shape[0] && bt->shape[1] == x->shape[1] &&
                 bt->shape[2] == 1 && bt->shape[3] == 1)
            fast_add_bcast(c, a, b, y, bn, on / bn, 1);
        else ref_binary(pool, n->op == WG_OP_MUL, a, b, y, x->ndim, x->shape, bt->ndim, bt->shape);
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
        int64_t bad = fast_embedding(c->isa, (const int32_t *)(const void *)a, ex->wdata[n->in[1]], ex->wdt[n->in[1]], y, wg_numel(x), tab->shape[0], tab->shape[1]);
        if (bad >= 0)
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "token id %d at position %lld is outside the vocabulary (0..%lld)",
                            ((const int32_t *)(const void *)a)[bad], (long long)bad, (long long)tab->shape[0] - 1);
        break;
    }
    case WG_OP_TIMESTEP_EMBED:
        ref_timestep_embed(a, y, o->shape[0], o->shape[1], n->ip[1], n->fp[0]);
        break;
    case WG_OP_TRANSPOSE:
        fast_transpose(c, a, y, x->shape[0], x->shape[1], x->shape[2]);
        break;
    case WG_OP_LINPROG:
        return wg_linprog_node(g, n, a, b, cc, n->n_in > 3 ? ptr(ex, n->in[3]) : NULL, y, err);
    case WG_OP_RESHAPE:
        break;
    default:
        return wsd_fail(err, WSD_ERR_INTERNAL, "cpu: no kernel for %s", wg_op_name(n->op));
    }
    return WSD_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static wsd_status fast_run(wsd_exec *ex, int (*cancel)(void *), void *cancel_user, wsd_err *err)
{
    for (int i = 0; i < ex->nsteps; i++) {
        if (cancel && cancel(cancel_user)) return wsd_fail(err, WSD_ERR_CANCELLED, "cancelled");
        const step *s = &ex->steps[i];
        double t0 = ex->prof ? now_s() : 0.0, c0 = ex->prof ? cpu_now_s() : 0.0;
        WSD_TRY(run_step(ex, s, err));
        if (ex->prof) {
            const wg_graph *g = ex->g;
            wg_op op = g->nodes[s->node].op;
            double fl = wg_node_flops(g, &g->nodes[s->node]);
            if (s->gn >= 0) fl += wg_node_flops(g, &g->nodes[s->gn]);
            if (s->up >= 0) fl += wg_node_flops(g, &g->nodes[s->up]);
            if (s->add >= 0) fl += wg_node_flops(g, &g->nodes[s->add]);
            double dt = now_s() - t0, dc = cpu_now_s() - c0;
            ex->prof->seconds[op] += dt;
            ex->prof->cpu_seconds[op] += dc;
            if (ex->prof_steps && fl > 1e8) {
                const wg_node *n = &g->nodes[s->node];
                const wg_tensor *o = &g->t[n->out], *x = &g->t[n->in[0]], *w = &g->t[n->in[1]];
                fprintf(stderr, "step %4d %-10s%s%s%s out [%lld,%lld,%lld,%lld] in [%lld,%lld,%lld,%lld] w [%lld,%lld,%lld,%lld] %7.2f ms %6.1f GFLOP/cpu-s\n",
                        i, wg_op_name(op), s->gn >= 0 ? "+gn" : "", s->up >= 0 ? "+up" : "", s->add >= 0 ? "+add" : "",
                        (long long)o->shape[0], (long long)(o->ndim > 1 ? o->shape[1] : 1), (long long)(o->ndim > 2 ? o->shape[2] : 1),
                        (long long)(o->ndim > 3 ? o->shape[3] : 1), (long long)x->shape[0], (long long)(x->ndim > 1 ? x->shape[1] : 1),
                        (long long)(x->ndim > 2 ? x->shape[2] : 1), (long long)(x->ndim > 3 ? x->shape[3] : 1), (long long)w->shape[0],
                        (long long)(w->ndim > 1 ? w->shape[1] : 1), (long long)(w->ndim > 2 ? w->shape[2] : 1),
                        (long long)(w->ndim > 3 ? w->shape[3] : 1), dt * 1e3, fl / dc / 1e9);
            }
            ex->prof->flops[op] += op == WG_OP_RESHAPE ? 0.0 : fl;
            ex->prof->steps[op]++;
        }
    }
    wg_links_run_host(ex->g, ptr_of, ex);
    return WSD_OK;
}

static wsd_status fast_copy_tensor(wsd_exec *dst, int dst_t, wsd_exec *src, int src_t, wsd_err *err)
{
    /* from another backend's exec: refused as a copy of nothing */
    return wg_copy_host(dst->g, dst_t, ptr(dst, dst_t), src->g, src_t, dst->be == src->be ? ptr(src, src_t) : NULL, err);
}

void wsd_cpu_exec_set_profile(wsd_exec *ex, wsd_cpu_profile *p)
{
    ex->prof = p;
    ex->prof_steps = getenv("WSD_CPU_PROFILE_STEPS") != NULL;
}

static void fast_destroy(wsd_backend *base)
{
    fast_backend *be = (fast_backend *)base;
    for (size_t i = 0; i < be->nw; i++) free(be->w[i].f32);
    free(be->w);
    cpu_ctx_free(be->ctx);
    free(be);
}

static const wsd_backend_iface fast_iface = {
    "cpu", fast_compile, fast_set_input, fast_run, wsd_cpu_wait, fast_copy_tensor, fast_get_output, fast_exec_free, fast_destroy,
};

wsd_status wsd_backend_cpu_fast_create(const wsd_backend_options *opts, const char *isa, wsd_backend **out, wsd_err *err)
{
    *out = NULL;
    const cpu_isa *t = NULL;
    if (isa && *isa) {
        t = cpu_isa_by_name(isa);
        if (!t) return wsd_fail(err, WSD_ERR_UNSUPPORTED, "cpu: instruction set \"%s\" is not available on this machine", isa);
    }
    fast_backend *be = calloc(1, sizeof *be);
    if (!be) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    be->base.iface = &fast_iface;
    be->ctx = cpu_ctx_create(opts ? opts->threads : 0, t);
    if (!be->ctx) {
        free(be);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    *out = &be->base;
    return WSD_OK;
}

size_t wsd_cpu_exec_arena_bytes(const wsd_exec *ex) { return ex ? ex->arena_bytes : 0; }
const char *wsd_cpu_backend_isa(const wsd_backend *be)
{
    return be && be->iface == &fast_iface ? ((const fast_backend *)be)->ctx->isa->name : "reference";
}
int wsd_cpu_backend_threads(const wsd_backend *be)
{
    return be && be->iface == &fast_iface ? ((const fast_backend *)be)->ctx->threads : 0;
}
