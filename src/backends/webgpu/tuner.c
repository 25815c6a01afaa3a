/* Kernel tuning and profiling: see tuner.h. */
#include "backends/webgpu/tuner.h"
#include "backends/webgpu/variants.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

typedef struct rnd_weights {
    uint64_t state;
    void *bufs[8];
    int n;
} rnd_weights;

static float rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static wsd_status rnd_weight_fn(void *user, const char *name, int ndim, const int64_t *shape, const void **data,
                                wsd_dtype *dtype, wsd_err *err)
{
    rnd_weights *w = user;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (w->n == 8) return wsd_fail(err, WSD_ERR_INTERNAL, "tuner: too many weights");
    float *f = wsd_malloc_array((size_t)n, sizeof *f);
    if (!f) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tuner: out of memory");
    float scale = ndim >= 2 ? 1.0f / sqrtf((float)(n / shape[0])) : 0.1f;
    float base = (ndim == 1 && strstr(name, "gamma")) ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; i++) f[i] = base + scale * rnd(&w->state);
    w->bufs[w->n++] = f;
    *data = f;
    *dtype = WSD_DT_F32;
    return WSD_OK;
}

static void rnd_weights_free(rnd_weights *w)
{
    for (int i = 0; i < w->n; i++) free(w->bufs[i]);
    w->n = 0;
}

/* One-node copy of node `n` of `src`, with inputs "x" (and "k", "v"). */
static wg_graph *single_op_graph(const wg_graph *src, const wg_node *n, rnd_weights *w, uint64_t uid)
{
    wg_graph *g = wg_new(rnd_weight_fn, w);
    if (!g) return NULL;
    g->weights_uid = uid;
    const wg_tensor *t0 = &src->t[n->in[0]];
    int x = wg_input(g, "x", WSD_DT_F32, t0->ndim, t0->shape), out = -1;
    switch (n->op) {
    case WG_OP_CONV2D: {
        const wg_tensor *W = &src->t[n->in[1]];
        int wt = wg_weight(g, "w", W->ndim, W->shape);
        int b = (n->n_in > 2 && n->in[2] >= 0) ? wg_weight(g, "b", 1, src->t[n->in[2]].shape) : -1;
        out = wg_conv2d(g, x, wt, b, n->ip[0], n->ip[1], n->ip[2], n->ip[3], n->ip[4]);
        break;
    }
    case WG_OP_LINEAR: {
        const wg_tensor *W = &src->t[n->in[1]];
        int wt = wg_weight(g, "w", W->ndim, W->shape);
        int b = (n->n_in > 2 && n->in[2] >= 0) ? wg_weight(g, "b", 1, src->t[n->in[2]].shape) : -1;
        out = wg_linear(g, x, wt, b);
        break;
    }
    case WG_OP_ATTENTION: {
        const wg_tensor *K = &src->t[n->in[1]], *V = &src->t[n->in[2]];
        int k = wg_input(g, "k", WSD_DT_F32, K->ndim, K->shape), v = wg_input(g, "v", WSD_DT_F32, V->ndim, V->shape);
        out = wg_attention(g, x, k, v, n->ip[0], n->ip[1], n->fp[0]);
        break;
    }
    case WG_OP_GROUP_NORM: {
        int c = (int)t0->shape[1];
        int ga = wg_weight(g, "gamma", 1, (const int64_t[]){c}), be = wg_weight(g, "beta", 1, (const int64_t[]){c});
        out = wg_group_norm(g, x, ga, be, n->ip[0], n->fp[0], n->ip[1]);
        break;
    }
    default:
        break;
    }
    if (out >= 0) wg_output(g, out, "out");
    if (wg_failed(g) || out < 0) {
        wg_free(g);
        return NULL;
    }
    return g;
}

typedef struct inputs {
    int t[3];
    float *d[3];
    size_t bytes[3];
    int n;
} inputs;

static void make_inputs(const wg_graph *g, inputs *in, uint64_t seed)
{
    static const char *const names[3] = {"x", "k", "v"};
    memset(in, 0, sizeof *in);
    uint64_t s = seed | 1;
    for (int i = 0; i < 3; i++) {
        int t = wg_find(g, names[i]);
        if (t < 0) continue;
        size_t n = (size_t)wg_numel(&g->t[t]);
        float *d = malloc(n * sizeof *d);
        if (!d) continue;
        for (size_t k = 0; k < n; k++) d[k] = rnd(&s);
        in->t[in->n] = t;
        in->d[in->n] = d;
        in->bytes[in->n] = n * sizeof *d;
        in->n++;
    }
}

static void free_inputs(inputs *in)
{
    for (int i = 0; i < in->n; i++) free(in->d[i]);
    in->n = 0;
}

/* Mean time of commands [first, first + count) of ex: one warm-up run, then
 * enough repetitions for about target_ms (clamped to [lo, hi]; `fallback`
 * when the warm-up took no measurable time). */
static wsd_status time_cmds(wsd_exec *ex, int first, int count, double target_ms, int lo, int hi, int fallback,
                            double *ms, wsd_err *err)
{
    *ms = 0;
    double t0 = now_ms();
    WSD_TRY(wsd_webgpu_exec_run_range(ex, first, count, 1, err));
    double t1 = now_ms() - t0;
    int reps = t1 > 0 ? (int)(target_ms / t1) : fallback;
    if (reps < lo) reps = lo;
    if (reps > hi) reps = hi;
    t0 = now_ms();
    WSD_TRY(wsd_webgpu_exec_run_range(ex, first, count, reps, err));
    *ms = (now_ms() - t0) / reps;
    return WSD_OK;
}

/* Runs variant `v` on g: output into *out (allocated if NULL), time in *ms. */
static wsd_status time_variant(wsd_backend *be, const wg_graph *g, const char *v, const inputs *in, float **out,
                               double target_ms, double *ms, wsd_err *err)
{
    wsd_backend_webgpu_set_variant(be, v);
    wg_plan plan;
    memset(&plan, 0, sizeof plan);
    wsd_exec *ex = NULL;
    wsd_status st = be->iface->compile(be, g, &plan, &ex, err);
    wsd_backend_webgpu_set_variant(be, NULL);
    if (st != WSD_OK) return st;
    for (int i = 0; i < in->n && st == WSD_OK; i++) st = be->iface->set_input(ex, in->t[i], in->d[i], in->bytes[i], err);
    int o = wg_find(g, "out");
    size_t nout = (size_t)wg_numel(&g->t[o]);
    if (st == WSD_OK && !*out) {
        *out = malloc(nout * sizeof **out);
        if (!*out) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tuner: out of memory");
    }
    if (st == WSD_OK) st = be->iface->run(ex, NULL, NULL, err);
    if (st == WSD_OK) st = be->iface->get_output(ex, o, *out, nout * sizeof **out, err);
    if (st == WSD_OK) st = time_cmds(ex, 0, wsd_webgpu_exec_prog(ex)->n_cmds, target_ms, 2, 200, 100, ms, err);
    be->iface->exec_free(ex);
    return st;
}

static double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
        if (a[i] != a[i]) return INFINITY;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* whether sig contains one of the comma-separated texts of `only` */
static int sig_selected(const char *sig, const char *only)
{
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char tok[64];
        if (n > 0 && n < sizeof tok) {
            memcpy(tok, p, n);
            tok[n] = 0;
            if (strstr(sig, tok)) return 1;
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* What both tuners need of the backend and the options. */
typedef struct tune_env {
    const gpu_caps *caps;
    char key[64]; /* adapter key of the database */
    int f16;      /* weights stored as packed f16 */
    FILE *log;
} tune_env;

static wsd_status tune_env_init(wsd_backend *be, const wsd_tune_opts *o, int *n_tuned, tune_env *te, wsd_err *err)
{
    gpu_device *dev = wsd_backend_webgpu_device(be);
    if (!dev) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tune: not a WebGPU backend");
    te->caps = gpu_get_caps(dev);
    wsd_tune_adapter_key(te->caps, te->key, sizeof te->key);
    te->f16 = wsd_backend_webgpu_weight_type(be) == WGL_F16P;
    te->log = o ? o->log : NULL;
    if (n_tuned) *n_tuned = 0;
    return WSD_OK;
}

/* Whether the options ask to tune signature `sig` (skip_known, only). */
static int sig_wanted(const wsd_tune_db *db, const char *key, const char *sig, const wsd_tune_opts *o)
{
    if (o && o->skip_known && wsd_tune_db_lookup(db, key, sig)) return 0;
    return !(o && o->only && !sig_selected(sig, o->only));
}

/* The kernel variants to try for one hot operator: every variant that fits
 * the device (gemm: with its automatic split-K count too; name[0] is "ref"
 * for gemm and attention), then (cands_splits) the best tile with other
 * split-K counts. */
typedef struct cand_list {
    char name[64][48];
    const char *ptr[64];
    int n;
    uint64_t gm, gn, gb, gk; /* gemm shape */
} cand_list;

static void cands_add(cand_list *c, const char *name, uint32_t split)
{
    if (c->n >= 64) return;
    if (split > 1)
        snprintf(c->name[c->n], sizeof c->name[0], "%s/s%u", name, split);
    else
        snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
    for (int q = 0; q < c->n; q++)
        if (!strcmp(c->name[q], c->name[c->n])) return;
    c->ptr[c->n] = c->name[c->n];
    c->n++;
}

static void cands_first(const wg_graph *g, const wg_node *n, int fam, const gpu_caps *caps, cand_list *c)
{
    memset(c, 0, sizeof *c);
    if (fam == WGL_HOT_GEMM) {
        const wg_tensor *X = &g->t[n->in[0]], *Wt = &g->t[n->in[1]], *Y = &g->t[n->out];
        if (n->op == WG_OP_CONV2D) {
            c->gm = (uint64_t)Wt->shape[0];
            c->gn = (uint64_t)(Y->shape[2] * Y->shape[3]);
            c->gb = (uint64_t)X->shape[0];
            c->gk = (uint64_t)(Wt->shape[1] * Wt->shape[2] * Wt->shape[3]);
        } else {
            c->gk = (uint64_t)Wt->shape[1];
            c->gm = (uint64_t)wg_numel(X) / c->gk;
            c->gn = (uint64_t)Wt->shape[0];
            c->gb = 1;
        }
        int conv3s1 = wgl_conv3s1(g, n);
        for (int v = 0; v < n_gemm_variants && c->n < 46; v++) {
            const gemm_variant *gv = &gemm_variants[v];
            int ok = gv->gemv ? n->op == WG_OP_LINEAR && c->gm <= GEMV_MAX_ROWS : gemm_variant_applies(gv, conv3s1);
            if (!gemm_variant_fits(gv, caps) || !ok) continue;
            cands_add(c, gv->name, 1);
            uint32_t sp = wgl_split_cap(gemm_auto_split(gv, c->gm, c->gn, c->gb, c->gk), c->gm * c->gn * c->gb);
            if (sp > 1) cands_add(c, gv->name, sp);
        }
    } else if (fam == WGL_HOT_ATTN) {
        uint32_t dq = (uint32_t)(g->t[n->in[0]].shape[2] / n->ip[0]), dv = (uint32_t)(g->t[n->in[2]].shape[2] / n->ip[0]);
        for (int v = 0; v < n_attn_variants && c->n < 46; v++)
            if (attn_variant_fits2(&attn_variants[v], dq, dv, caps)) cands_add(c, attn_variants[v].name, 1);
    } else {
        for (int v = 0; v < n_gn_variants && c->n < 46; v++) cands_add(c, gn_variants[v].name, 1);
    }
}

/* whether the tile name of candidate `name` ("m128n64k8v/s3": "m128n64k8v") is in the comma-separated `list` */
static int tile_listed(const char *name, const char *list)
{
    size_t n = strcspn(name, "/");
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

/* Keeps the candidates whose tile is in `variants` (and "ref" in first
 * place, which the in-step tuner skips), then adds `current` (the
 * database's pick, may be NULL) so the new picks are measured against it. */
static void cands_filter(cand_list *c, const char *variants, const char *current)
{
    cand_list f;
    memset(&f, 0, sizeof f);
    f.gm = c->gm, f.gn = c->gn, f.gb = c->gb, f.gk = c->gk;
    for (int i = 0; i < c->n; i++)
        if ((i == 0 && !strcmp(c->name[0], "ref")) || tile_listed(c->name[i], variants)) cands_add(&f, c->name[i], 1);
    if (current && strlen(current) < sizeof f.name[0]) cands_add(&f, current, 1);
    *c = f;
    for (int i = 0; i < c->n; i++) c->ptr[i] = c->name[i];
}

/* Adds `best`'s tile with split-K counts 1-32 (non-powers of two too: the
 * grid's fit to the device's multiprocessors decides); returns how many. */
static int cands_splits(cand_list *c, const char *best)
{
    gemm_pick bp = gemm_pick_parse(best);
    if (!bp.v || bp.v->ref || bp.v->gemv) return 0;
    static const uint32_t cand_s[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32};
    uint64_t wgs = ((c->gm + bp.v->bm - 1) / bp.v->bm) * ((c->gn + bp.v->bn - 1) / bp.v->bn) * c->gb;
    int before = c->n;
    for (size_t k = 0; k < sizeof cand_s / sizeof cand_s[0]; k++) {
        uint32_t sp = cand_s[k];
        if (sp == bp.split || c->gk / sp < 64 || wgs * sp > 4096 || wgl_split_cap(sp, c->gm * c->gn * c->gb) != sp) continue;
        cands_add(c, bp.v->name, sp);
    }
    return c->n - before;
}

wsd_status wsd_webgpu_tune_graph(wsd_backend *be, const wg_graph *g, wsd_tune_db *db, const wsd_tune_opts *o,
                                 int *n_tuned, wsd_err *err)
{
    tune_env te;
    WSD_TRY(tune_env_init(be, o, n_tuned, &te, err));
    const gpu_caps *caps = te.caps;
    const char *key = te.key;
    int f16 = te.f16;
    FILE *log = te.log;
    double target = o && o->target_ms > 0 ? o->target_ms : 30.0;
    char **seen = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *seen);
    int n_seen = 0;
    if (!seen) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
    wsd_status st = WSD_OK;
    static uint64_t uid = 0x7475E00000000000ull; /* tuning graphs' own weight sets */
    for (int i = 0; i < g->n_nodes && st == WSD_OK; i++) {
        const wg_node *n = &g->nodes[i];
        char sig[200];
        int fam = wgl_node_signature(g, n, f16, sig, sizeof sig);
        if (fam == WGL_HOT_NONE) continue;
        int dup = 0;
        for (int k = 0; k < n_seen && !dup; k++) dup = !strcmp(seen[k], sig);
        if (dup) continue;
        seen[n_seen] = wsd_strdup(sig);
        if (!seen[n_seen]) {
            st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
            break;
        }
        n_seen++;
        if (!sig_wanted(db, key, sig, o)) continue;
        rnd_weights w;
        memset(&w, 0, sizeof w);
        w.state = 0x5EEDull + (uint64_t)i * 7919u;
        wg_graph *one = single_op_graph(g, n, &w, ++uid);
        if (!one) {
            rnd_weights_free(&w);
            st = wsd_fail(err, WSD_ERR_INTERNAL, "tune: cannot rebuild %s", sig);
            break;
        }
        inputs in;
        make_inputs(one, &in, 0xABCDEFull + (uint64_t)i);
        cand_list cl;
        cands_first(g, n, fam, caps, &cl);
        /* names[0] is the reference for gemm/attn ("ref"); the first gn variant otherwise */
        float *ref = NULL, *cand = NULL;
        size_t nout = (size_t)wg_numel(&one->t[wg_find(one, "out")]);
        double best = INFINITY, ref_ms = 0;
        const char *best_name = NULL;
        char note[1024] = "";
        size_t note_len = 0;
        int extended = 0;
        for (int v = 0; st == WSD_OK; v++) {
            if (v == cl.n) {
                /* second pass (gemm): the best tile variant with other split-K counts */
                if (fam != WGL_HOT_GEMM || extended || !best_name) break;
                extended = 1;
                if (!cands_splits(&cl, best_name)) break;
            }
            double ms = 0;
            float **dst = v == 0 ? &ref : &cand;
            wsd_err e2;
            memset(&e2, 0, sizeof e2);
            const char *const *names = (const char *const *)cl.ptr;
            wsd_status s2 = time_variant(be, one, names[v], &in, dst, target, &ms, &e2);
            if (s2 != WSD_OK) {
                if (log) fprintf(log, "tune: %s: variant %s failed: %s\n", sig, names[v], e2.msg);
                if (v == 0) {
                    st = s2;
                    if (err) *err = e2;
                }
                continue;
            }
            double d = v == 0 ? 0 : rel_l2(cand, ref, nout);
            int ok = d <= 1e-4;
            if (v == 0) ref_ms = ms;
            if (note_len + 48 < sizeof note)
                note_len += (size_t)snprintf(note + note_len, sizeof note - note_len, "%s%s=%.3f%s", note_len ? " " : "",
                                             names[v], ms, ok ? "" : "!");
            if (!ok) {
                if (log) fprintf(log, "tune: %s: variant %s disagrees with %s (rel L2 %.2e): not used\n", sig, names[v],
                                 names[0], d);
                continue;
            }
            if (ms < best) {
                best = ms;
                best_name = names[v];
            }
        }
        (void)ref_ms;
        if (st == WSD_OK && best_name) {
            if (wsd_tune_db_set(db, key, sig, best_name, note) != 0) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
            if (n_tuned) (*n_tuned)++;
            if (log) fprintf(log, "tune: %-90s -> %-16s %.3f ms   (%s)\n", sig, best_name, best, note);
        }
        free(ref);
        free(cand);
        free_inputs(&in);
        wg_free(one);
        rnd_weights_free(&w);
    }
    for (int k = 0; k < n_seen; k++) free(seen[k]);
    free(seen);
    return st;
}

typedef struct prof_row {
    const char *name;
    double ms;
    int count;
} prof_row;

static int cmp_prof(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

/* Time of the commands of `ex` that implement nodes whose signature is
 * `sig` (sig_of[node]), each timed alone as the profiler does. */
static wsd_status time_sig_cmds(wsd_exec *ex, char *const *sig_of, int n_nodes, const char *sig, double *ms,
                                wsd_err *err)
{
    const wgl_prog *p = wsd_webgpu_exec_prog(ex);
    *ms = 0;
    for (int i = 0; i < p->n_cmds; i++) {
        int nd = p->cmds[i].node;
        if (nd < 0 || nd >= n_nodes || !sig_of[nd] || strcmp(sig_of[nd], sig)) continue;
        double t;
        WSD_TRY(time_cmds(ex, i, 1, 4.0, 2, 20, 20, &t, err));
        *ms += t;
    }
    return WSD_OK;
}

wsd_status wsd_webgpu_tune_graph_in_step(wsd_backend *be, wg_graph *g, wsd_tune_db *db, const wsd_tune_opts *o,
                                         int *n_tuned, wsd_err *err)
{
    tune_env te;
    WSD_TRY(tune_env_init(be, o, n_tuned, &te, err));
    const gpu_caps *caps = te.caps;
    const char *key = te.key;
    int f16 = te.f16;
    FILE *log = te.log;
    wg_plan plan = {0};
    WSD_TRY(wg_plan_memory(g, &plan, err));
    char **sig_of = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *sig_of);
    wsd_status st = sig_of ? WSD_OK : wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
    for (int i = 0; i < g->n_nodes && st == WSD_OK; i++) {
        char sig[200];
        if (wgl_node_signature(g, &g->nodes[i], f16, sig, sizeof sig) == WGL_HOT_NONE) continue;
        if (!(sig_of[i] = wsd_strdup(sig))) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
    }
    for (int i = 0; i < g->n_nodes && st == WSD_OK; i++) {
        if (!sig_of[i]) continue;
        const char *sig = sig_of[i];
        int first = 1;
        for (int k = 0; k < i && first; k++) first = !sig_of[k] || strcmp(sig_of[k], sig);
        if (!first) continue;
        if (!sig_wanted(db, key, sig, o)) continue;
        const wg_node *n = &g->nodes[i];
        int fam = wgl_node_signature(g, n, f16, (char[200]){0}, 200);
        cand_list cl;
        cands_first(g, n, fam, caps, &cl);
        if (o && o->variants && fam == WGL_HOT_GEMM) cands_filter(&cl, o->variants, wsd_tune_db_lookup(db, key, sig));
        double best = INFINITY;
        const char *best_name = NULL;
        char note[1024] = "";
        size_t note_len = 0;
        int extended = 0;
        /* "ref" (names[0] for gemm and attention) is far too slow to time in a whole step */
        for (int v = fam == WGL_HOT_GN ? 0 : 1; st == WSD_OK; v++) {
            if (v == cl.n) {
                if (fam != WGL_HOT_GEMM || extended || !best_name) break;
                extended = 1;
                if (!cands_splits(&cl, best_name)) break;
            }
            wsd_backend_webgpu_set_tune_override(be, sig, cl.name[v]);
            wsd_exec *ex = NULL;
            wsd_err e2;
            memset(&e2, 0, sizeof e2);
            double ms = 0;
            wsd_status s2 = be->iface->compile(be, g, &plan, &ex, &e2);
            if (s2 == WSD_OK) s2 = be->iface->run(ex, NULL, NULL, &e2);
            if (s2 == WSD_OK) s2 = time_sig_cmds(ex, sig_of, g->n_nodes, sig, &ms, &e2);
            if (ex) be->iface->exec_free(ex);
            if (s2 != WSD_OK) {
                if (log) fprintf(log, "tune: %s: variant %s failed: %s\n", sig, cl.name[v], e2.msg);
                if (s2 == WSD_ERR_DEVICE) { /* the device is gone: stop */
                    st = s2;
                    if (err) *err = e2;
                }
                continue;
            }
            if (note_len + 48 < sizeof note)
                note_len += (size_t)snprintf(note + note_len, sizeof note - note_len, "%s%s=%.3f", note_len ? " " : "",
                                             cl.name[v], ms);
            if (ms < best) {
                best = ms;
                best_name = cl.name[v];
            }
        }
        wsd_backend_webgpu_set_tune_override(be, NULL, NULL);
        if (st == WSD_OK && best_name) {
            char full[1100];
            snprintf(full, sizeof full, "in step: %s", note);
            if (wsd_tune_db_set(db, key, sig, best_name, full) != 0) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tune: out of memory");
            if (n_tuned) (*n_tuned)++;
            if (log) fprintf(log, "tune (in step): %-80s -> %-16s %.3f ms   (%s)\n", sig, best_name, best, note);
        }
    }
    wsd_backend_webgpu_set_tune_override(be, NULL, NULL);
    for (int i = 0; sig_of && i < g->n_nodes; i++) free(sig_of[i]);
    free(sig_of);
    return st;
}

/* operator classes of the profile's summary, and a node's floating-point
 * operations (multiply-adds count two) */
enum { PC_CONV3, PC_CONV1, PC_LINEAR, PC_ATTN, PC_GN, PC_OTHER, PC_N };
static const char *const pc_name[PC_N] = {"conv2d 3x3", "conv2d 1x1", "linear", "attention", "group norm",
                                          "the rest (element-wise, layer norm, copies, ...)"};
static int op_class(const wg_graph *g, int node, double *flops)
{
    *flops = 0;
    if (!g || node < 0 || node >= g->n_nodes) return PC_OTHER;
    const wg_node *n = &g->nodes[node];
    if (n->op == WG_OP_CONV2D) {
        const wg_tensor *W = &g->t[n->in[1]], *Y = &g->t[n->out];
        *flops = 2.0 * (double)wg_numel(Y) * (double)(W->shape[1] * W->shape[2] * W->shape[3]);
        return W->shape[2] * W->shape[3] > 1 ? PC_CONV3 : PC_CONV1;
    }
    if (n->op == WG_OP_LINEAR) {
        const wg_tensor *X = &g->t[n->in[0]], *W = &g->t[n->in[1]];
        *flops = 2.0 * (double)wg_numel(X) * (double)W->shape[0];
        return PC_LINEAR;
    }
    if (n->op == WG_OP_ATTENTION) {
        const wg_tensor *Q = &g->t[n->in[0]], *K = &g->t[n->in[1]], *V = &g->t[n->in[2]];
        *flops = 2.0 * (double)(Q->shape[0] * Q->shape[1]) * (double)K->shape[1] * (double)(Q->shape[2] + V->shape[2]);
        return PC_ATTN;
    }
    return n->op == WG_OP_GROUP_NORM ? PC_GN : PC_OTHER;
}

/* One tuning signature's share of a profile. */
typedef struct sig_row {
    char sig[200];
    const char *kernel; /* the first dispatch's pipeline name */
    double ms, flops;
    int nodes;
} sig_row;

static int cmp_sig_row(const void *a, const void *b)
{
    const sig_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

/* Row of node `nd`'s signature in rows[0..*n) (added if new); -1 if the node has none. */
static int sig_row_of(const wg_graph *g, int nd, int f16, sig_row *rows, int *n, int *row_of_node)
{
    if (!g || nd < 0 || nd >= g->n_nodes) return -1;
    if (row_of_node[nd] != -2) return row_of_node[nd];
    char sig[200];
    int r = -1;
    if (wgl_node_signature(g, &g->nodes[nd], f16, sig, sizeof sig) != WGL_HOT_NONE) {
        for (r = 0; r < *n && strcmp(rows[r].sig, sig); r++) {}
        if (r == *n) snprintf(rows[(*n)++].sig, sizeof rows[0].sig, "%s", sig);
    }
    return row_of_node[nd] = r;
}

wsd_status wsd_webgpu_profile(wsd_exec *ex, const wg_graph *g, FILE *out, wsd_err *err)
{
    const wgl_prog *p = wsd_webgpu_exec_prog(ex);
    double cls_ms[PC_N] = {0}, cls_flops[PC_N] = {0};
    int nn = g && g->n_nodes ? g->n_nodes : 1, n_sig = 0, f16 = wsd_webgpu_exec_weights_f16(ex);
    char *counted = g ? calloc((size_t)nn, 1) : NULL;
    sig_row *sigs = calloc((size_t)nn, sizeof *sigs);
    int *sig_of_node = malloc((size_t)nn * sizeof *sig_of_node);
    prof_row *rows = calloc((size_t)p->n_pipes + 1, sizeof *rows);
    if (!rows || !sigs || !sig_of_node) {
        free(rows), free(sigs), free(sig_of_node), free(counted);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "profile: out of memory");
    }
    for (int i = 0; i < nn; i++) sig_of_node[i] = -2; /* not looked up yet */
    for (int i = 0; i < p->n_pipes; i++) rows[i].name = p->pipes[i].name;
    rows[p->n_pipes].name = "(buffer copies)";
    double total = 0;
    wsd_status st = WSD_OK;
    for (int i = 0; i < p->n_cmds && st == WSD_OK; i++) {
        double ms;
        st = time_cmds(ex, i, 1, 2.0, 1, 20, 20, &ms, err);
        int r = p->cmds[i].kind == WGL_CMD_DISPATCH ? p->cmds[i].pipe : p->n_pipes;
        rows[r].ms += ms;
        rows[r].count++;
        total += ms;
        double fl;
        int pc = op_class(g, p->cmds[i].node, &fl);
        cls_ms[pc] += ms;
        int nd = p->cmds[i].node;
        int sr = sig_row_of(g, nd, f16, sigs, &n_sig, sig_of_node);
        if (sr >= 0) {
            sigs[sr].ms += ms;
            if (!sigs[sr].kernel && p->cmds[i].kind == WGL_CMD_DISPATCH) sigs[sr].kernel = p->pipes[p->cmds[i].pipe].name;
        }
        if (counted && nd >= 0 && nd < g->n_nodes && !counted[nd]) { /* a node's flops once, however many commands */
            counted[nd] = 1;
            cls_flops[pc] += fl;
            if (sr >= 0) {
                sigs[sr].flops += fl;
                sigs[sr].nodes++;
            }
        }
    }
    if (st == WSD_OK && n_sig) {
        qsort(sigs, (size_t)n_sig, sizeof *sigs, cmp_sig_row);
        fprintf(out, "by tuning signature (all commands of its nodes, split-K reductions included):\n");
        for (int r = 0; r < n_sig && r < 60; r++)
            fprintf(out, "  %8.3f ms %3d x %7.0f GFLOP/s  %-22s %s\n", sigs[r].ms, sigs[r].nodes,
                    sigs[r].ms > 0 ? sigs[r].flops * 1e-6 / sigs[r].ms : 0.0, sigs[r].kernel ? sigs[r].kernel : "-",
                    sigs[r].sig);
    }
    free(sigs);
    free(sig_of_node);
    if (st == WSD_OK && g) {
        fprintf(out, "by operator class (kernels timed alone):\n");
        for (int c = 0; c < PC_N; c++) {
            if (cls_ms[c] <= 0) continue;
            fprintf(out, "  %8.2f ms %5.1f%%  %-48s", cls_ms[c], 100.0 * cls_ms[c] / total, pc_name[c]);
            if (cls_flops[c] > 0)
                fprintf(out, " %8.1f GFLOP %7.0f GFLOP/s", cls_flops[c] * 1e-9, cls_flops[c] * 1e-6 / cls_ms[c]);
            fprintf(out, "\n");
        }
    }
    free(counted);
    if (st == WSD_OK && getenv("WSD_PROFILE_DETAIL")) { /* every dispatch: time, kernel, grid, first parameters */
        for (int i = 0; i < p->n_cmds && st == WSD_OK; i++) {
            const wgl_cmd *c = &p->cmds[i];
            if (c->kind != WGL_CMD_DISPATCH) continue;
            st = wsd_webgpu_exec_run_range(ex, i, 1, 3, err);
            double t0 = now_ms();
            if (st == WSD_OK) st = wsd_webgpu_exec_run_range(ex, i, 1, 10, err);
            double ms = (now_ms() - t0) / 10;
            uint32_t pv[12];
            memcpy(pv, p->params + c->param_off, sizeof pv);
            fprintf(out, "  cmd %4d %8.3f ms  %-26s grid %u,%u,%u  params", i, ms, p->pipes[c->pipe].name, c->grid[0],
                    c->grid[1], c->grid[2]);
            for (int j = 0; j < 12; j++) fprintf(out, " %u", pv[j]);
            fprintf(out, "\n");
        }
    }
    if (st == WSD_OK) {
        qsort(rows, (size_t)p->n_pipes + 1, sizeof *rows, cmp_prof);
        fprintf(out, "profile: %d commands, %.2f ms summed (each timed alone, submit overhead included)\n", p->n_cmds, total);
        for (int i = 0; i <= p->n_pipes; i++)
            if (rows[i].count)
                fprintf(out, "  %8.3f ms %5.1f%%  %4d x  %s\n", rows[i].ms, 100.0 * rows[i].ms / total, rows[i].count,
                        rows[i].name);
    }
    free(rows);
    return st;
}
