/* Lowering a planned graph to a WebGPU program: see lower.h. */
#include "backends/webgpu/lower.h"
#include "backends/webgpu/kbuild.h"
#include "backends/webgpu/variants.h"
#include "backends/webgpu/wgsl_embed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct L {
    const wg_graph *g;   /* the caller's graph: nodes, names, weight data */
    wg_graph pg;         /* private copy whose tensor table the planner rewrote */
    const wgl_options *o;
    const gpu_caps *caps;
    wgl_prog *p;
    uint64_t maxb;       /* max storage binding */
    uint64_t maxsub;     /* max bytes of a sub-range operand: a binding minus
                            the alignment slack of an unaligned start */
    uint32_t maxdim;     /* max workgroups per dimension */
    wsd_err *err;
    /* fusion and scratch layout, per node (prepass) */
    int *skip;           /* node folded into its consumer */
    int *conv_up2;       /* conv reads its input through a 2x nearest upsampling */
    int *conv_gn;        /* conv reads its input through group norm node (or -1) */
    int *gn_into_conv;   /* group norm folded into conv node (or -1) */
    int *gn_inplace;     /* group norm writes its result over its input (the next conv reads that) */
    int *lin_geglu;      /* linear whose output goes through a GEGLU folded into it */
    int *gemm_res;       /* conv2d / linear that adds this tensor (a residual) to its output, or -1 */
    gemm_pick *conv_pick;
    uint64_t *gn_stats_off, *gn_coef_off;
    uint64_t persist_bytes;
} L;

const char *wgl_kernel_text(const char *name) { return wsd_wgsl_get(name); }

void wgl_default_caps(gpu_caps *c)
{
    memset(c, 0, sizeof *c);
    c->max_storage_binding = 128ull << 20;
    c->max_buffer = 256ull << 20;
    c->max_workgroup_storage = 16384;
    c->max_invocations = 256;
    c->max_workgroup_size_x = 256;
    c->max_workgroup_size_y = 256;
    c->max_workgroup_size_z = 64;
    c->max_workgroups_per_dim = 65535;
    c->max_storage_buffers = 8;
    c->min_storage_align = 256;
    c->min_uniform_align = 256;
    c->max_uniform_binding = 65536;
    c->default_limits = 1;
    snprintf(c->backend, sizeof c->backend, "none");
    snprintf(c->adapter, sizeof c->adapter, "spec-default limits (planning only)");
}

uint64_t wgl_chunk_bytes(const gpu_caps *caps)
{
    uint64_t c = caps->max_buffer;
    if (c > (1ull << 30)) c = 1ull << 30; /* 1 GiB chunks are plenty and keep buffers modest */
    return c & ~255ull;
}

static const wg_tensor *T(const L *l, int t) { return &l->pg.t[t]; }

static int proot(const L *l, int t)
{
    while (l->pg.t[t].view_of >= 0) t = l->pg.t[t].view_of;
    return t;
}

static int is_weight(const L *l, int t) { return t >= 0 && l->pg.t[proot(l, t)].kind == WG_WEIGHT; }

static uint64_t tbytes(const L *l, int t) { return (uint64_t)wg_numel(T(l, t)) * 4u; }

static wsd_status resolve_w(L *l, int t, int want_f16, wgl_wloc *loc)
{
    int r = proot(l, t);
    memset(loc, 0, sizeof *loc);
    WSD_TRY(l->o->weight(l->o->weight_user, l->g, r, want_f16, loc, l->err));
    if (loc->n_parts < 1)
        return wsd_fail(l->err, WSD_ERR_INTERNAL, "webgpu: weight \"%s\" resolved to no storage",
                        l->g->t[r].name ? l->g->t[r].name : "?");
    return WSD_OK;
}

/* Adds operand `name` = bytes [start, start + len) of tensor t (float32
 * activations, or a weight stored as float32). */
static wsd_status opnd_f32(L *l, kb *k, const char *name, int t, uint64_t start, uint64_t len)
{
    if (is_weight(l, t)) {
        wgl_wloc w;
        WSD_TRY(resolve_w(l, t, 0, &w));
        if (w.n_parts != 1 || w.type != WGL_F32)
            return wsd_fail(l->err, WSD_ERR_UNSUPPORTED,
                            "webgpu: weight \"%s\" is used element-wise but is stored in %d part(s) as %s",
                            l->g->t[proot(l, t)].name, w.n_parts, w.type == WGL_F32 ? "f32" : "f16");
        kb_opnd_raw(k, name, WGL_WEIGHT, w.part[0].index, w.part[0].offset + start, len, WGL_F32);
        return WSD_OK;
    }
    int r = proot(l, t);
    kb_opnd_raw(k, name, WGL_ARENA, (uint32_t)l->p->t_chunk[r], l->p->t_off[r] + start, len, WGL_F32);
    return WSD_OK;
}

static wsd_status opnd_whole(L *l, kb *k, const char *name, int t) { return opnd_f32(l, k, name, t, 0, tbytes(l, t)); }

/* A matrix operand (conv/linear weights): packed f16 when the options say so
 * and it is a real weight; else float32. Must be in one part. */
static wsd_status opnd_matrix(L *l, kb *k, const char *name, int t, int *type_out)
{
    if (!is_weight(l, t)) {
        *type_out = WGL_F32;
        return opnd_whole(l, k, name, t);
    }
    wgl_wloc w;
    WSD_TRY(resolve_w(l, t, l->o->weights_f16, &w));
    if (w.n_parts != 1)
        return wsd_fail(l->err, WSD_ERR_UNSUPPORTED,
                        "webgpu: weight \"%s\" (%llu bytes) exceeds maxStorageBufferBindingSize %llu",
                        l->g->t[proot(l, t)].name, (unsigned long long)w.part[0].size, (unsigned long long)l->maxb);
    kb_opnd_raw(k, name, WGL_WEIGHT, w.part[0].index, w.part[0].offset, w.part[0].size, w.type);
    *type_out = w.type;
    return WSD_OK;
}

static wsd_status emit(L *l, kb *k, int node) { return kb_emit(k, l->p, l->caps, node, l->err); }

static int64_t prod(const int64_t *s, int a, int b)
{
    int64_t p = 1;
    for (int i = a; i < b; i++) p *= s[i];
    return p;
}

/* Elements per dispatch for element-wise work over big tensors: a multiple
 * of 64 (256 bytes) whose bytes fit one binding. */
static uint64_t piece_elems(const L *l, uint64_t n)
{
    uint64_t m = (l->maxsub / 4) & ~63ull;
    return n < m ? n : m;
}

static const char *tune(L *l, const char *sig)
{
    if (l->o->force_reference) return "ref";
    if (l->o->force_variant) return l->o->force_variant;
    if (l->o->tune) return l->o->tune(l->o->tune_user, sig);
    return NULL;
}

int wgl_node_signature(const wg_graph *g, const wg_node *n, int weights_f16, char *buf, size_t cap)
{
    const char *wt = weights_f16 ? "f16" : "f32";
    switch (n->op) {
    case WG_OP_CONV2D: {
        const wg_tensor *X = &g->t[n->in[0]], *Wt = &g->t[n->in[1]];
        snprintf(buf, cap, "conv2d n=%lld ci=%lld h=%lld w=%lld co=%lld k=%lldx%lld s=%d p=%d,%d,%d,%d wt=%s",
                 (long long)X->shape[0], (long long)X->shape[1], (long long)X->shape[2], (long long)X->shape[3],
                 (long long)Wt->shape[0], (long long)Wt->shape[2], (long long)Wt->shape[3], n->ip[0], n->ip[1], n->ip[2],
                 n->ip[3], n->ip[4], wt);
        return WGL_HOT_GEMM;
    }
    case WG_OP_LINEAR: {
        const wg_tensor *X = &g->t[n->in[0]], *Wt = &g->t[n->in[1]];
        long long K = Wt->shape[1];
        snprintf(buf, cap, "linear m=%lld k=%lld n=%lld wt=%s", (long long)wg_numel(X) / K, K, (long long)Wt->shape[0], wt);
        return WGL_HOT_GEMM;
    }
    case WG_OP_ATTENTION: {
        const wg_tensor *Q = &g->t[n->in[0]], *K = &g->t[n->in[1]], *V = &g->t[n->in[2]];
        long long H = n->ip[0];
        snprintf(buf, cap, "attention b=%lld h=%lld tq=%lld tk=%lld d=%lld dv=%lld causal=%d", (long long)Q->shape[0], H,
                 (long long)Q->shape[1], (long long)K->shape[1], (long long)Q->shape[2] / H, (long long)V->shape[2] / H,
                 n->ip[1]);
        return WGL_HOT_ATTN;
    }
    case WG_OP_GROUP_NORM: {
        const wg_tensor *X = &g->t[n->in[0]];
        snprintf(buf, cap, "group_norm n=%lld c=%lld s=%lld g=%d", (long long)X->shape[0], (long long)X->shape[1],
                 (long long)prod(X->shape, 2, X->ndim), n->ip[0]);
        return WGL_HOT_GN;
    }
    default:
        if (cap) buf[0] = 0;
        return WGL_HOT_NONE;
    }
}

/* ---- element-wise ---- */

static wsd_status lower_ew(L *l, const wg_node *n, int idx)
{
    int opk = n->op == WG_OP_SILU ? 0 : n->op == WG_OP_GELU ? 1 : n->op == WG_OP_QUICK_GELU ? 2 : n->op == WG_OP_SCALE ? 3 : 4;
    uint64_t total = (uint64_t)wg_numel(T(l, n->out));
    uint64_t piece = piece_elems(l, total);
    for (uint64_t s = 0; s < total; s += piece) {
        uint64_t len = total - s < piece ? total - s : piece;
        kb k;
        kb_init(&k, "ew", NULL);
        kb_const_u(&k, "WG", 256);
        kb_const_u(&k, "OPK", (uint32_t)opk);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], s * 4, len * 4));
        WSD_TRY(opnd_f32(l, &k, "y", n->out, s * 4, len * 4));
        kb_u32(&k, "n", (uint32_t)len);
        kb_f32(&k, "a", n->fp[0]);
        kb_f32(&k, "b", n->fp[1]);
        kb_grid_flat(&k, (len + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static wsd_status lower_binary(L *l, const wg_node *n, int idx)
{
    const wg_tensor *A = T(l, n->in[0]), *B = T(l, n->in[1]);
    int64_t as[4] = {1, 1, 1, 1}, bs[4] = {1, 1, 1, 1};
    for (int i = 0; i < A->ndim; i++) as[4 - A->ndim + i] = A->shape[i];
    for (int i = 0; i < B->ndim; i++) bs[4 - B->ndim + i] = B->shape[i];
    uint32_t st[4];
    uint64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
        st[d] = bs[d] == 1 ? 0 : (uint32_t)stride;
        stride *= (uint64_t)bs[d];
    }
    int same = wg_numel(A) == wg_numel(B);
    uint64_t total = (uint64_t)wg_numel(A);
    uint64_t piece = piece_elems(l, total);
    for (uint64_t s = 0; s < total; s += piece) {
        uint64_t len = total - s < piece ? total - s : piece;
        kb k;
        kb_init(&k, "binary", NULL);
        kb_const_u(&k, "WG", 256);
        kb_const_b(&k, "MUL", n->op == WG_OP_MUL);
        kb_const_b(&k, "SAME", same);
        WSD_TRY(opnd_f32(l, &k, "a", n->in[0], s * 4, len * 4));
        if (same && total > piece)
            WSD_TRY(opnd_f32(l, &k, "b", n->in[1], s * 4, len * 4));
        else
            WSD_TRY(opnd_whole(l, &k, "b", n->in[1]));
        WSD_TRY(opnd_f32(l, &k, "y", n->out, s * 4, len * 4));
        kb_u32(&k, "n", (uint32_t)len);
        /* with SAME and a split b, b is indexed from the piece start */
        kb_u32(&k, "base", same && total > piece ? 0 : (uint32_t)s);
        kb_u32(&k, "d1", (uint32_t)as[1]);
        kb_u32(&k, "d2", (uint32_t)as[2]);
        kb_u32(&k, "d3", (uint32_t)as[3]);
        for (int d = 0; d < 4; d++) {
            char nm[4] = {'s', (char)('0' + d), 0, 0};
            kb_u32(&k, nm, st[d]);
        }
        kb_grid_flat(&k, (len + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static wsd_status lower_geglu(L *l, const wg_node *n, int idx)
{
    const wg_tensor *Y = T(l, n->out);
    uint64_t F = (uint64_t)Y->shape[Y->ndim - 1], total = (uint64_t)wg_numel(Y);
    /* split by rows when big */
    uint64_t rows = total / F, rmax = l->maxsub / (8 * F);
    if (rmax < 1) return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: geglu rows of %llu features exceed one binding", (unsigned long long)F);
    for (uint64_t r0 = 0; r0 < rows; r0 += rmax) {
        uint64_t nr = rows - r0 < rmax ? rows - r0 : rmax;
        kb k;
        kb_init(&k, "geglu", NULL);
        kb_const_u(&k, "WG", 256);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], r0 * 2 * F * 4, nr * 2 * F * 4));
        WSD_TRY(opnd_f32(l, &k, "y", n->out, r0 * F * 4, nr * F * 4));
        kb_u32(&k, "n", (uint32_t)(nr * F));
        kb_u32(&k, "f", (uint32_t)F);
        kb_grid_flat(&k, (nr * F + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static uint32_t row_wg(uint64_t c)
{
    return c >= 1024 ? 256 : c >= 256 ? 128 : 64;
}

static wsd_status lower_rows(L *l, const wg_node *n, int idx, int is_ln)
{
    const wg_tensor *X = T(l, n->in[0]);
    uint64_t C = (uint64_t)X->shape[X->ndim - 1], total = (uint64_t)wg_numel(X), rows = total / C;
    uint64_t rmax = l->maxsub / (4 * C);
    if (rmax < 1) return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: %s rows exceed one binding", wg_op_name(n->op));
    for (uint64_t r0 = 0; r0 < rows; r0 += rmax) {
        uint64_t nr = rows - r0 < rmax ? rows - r0 : rmax;
        kb k;
        kb_init(&k, is_ln ? "layernorm" : "softmax", NULL);
        uint32_t wg = row_wg(C);
        kb_const_u(&k, "WG", wg);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], r0 * C * 4, nr * C * 4));
        WSD_TRY(opnd_f32(l, &k, "y", n->out, r0 * C * 4, nr * C * 4));
        if (is_ln) {
            WSD_TRY(opnd_whole(l, &k, "gamma", n->in[1]));
            WSD_TRY(opnd_whole(l, &k, "beta", n->in[2]));
        }
        kb_u32(&k, "rows", (uint32_t)nr);
        kb_u32(&k, "c", (uint32_t)C);
        if (is_ln) kb_f32(&k, "eps", n->fp[0]);
        kb_grid_flat(&k, nr, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

/* ---- scratch ----
 * [0, persist): per-node regions that outlive their node (group-norm
 * statistics, and the per-channel coefficients of a group norm folded into
 * the next convolution); [persist, ...): temporaries reused by every node
 * (group-norm partial sums, split-K partial products). */

static uint64_t temp_off(const L *l) { return l->persist_bytes; }

static void temp_need(L *l, uint64_t bytes)
{
    uint64_t end = l->persist_bytes + ((bytes + 255) & ~255ull);
    if (end > l->p->scratch_bytes) l->p->scratch_bytes = end;
}

/* ---- group norm ---- */

static wsd_status lower_group_norm(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]);
    uint64_t N = (uint64_t)X->shape[0], C = (uint64_t)X->shape[1], S = (uint64_t)prod(X->shape, 2, X->ndim);
    uint64_t G = (uint64_t)n->ip[0], cpg = C / G, seg_len = cpg * S, nseg = N * G;
    if (seg_len * 4 > l->maxsub)
        return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: group_norm group of %llu elements exceeds one binding",
                        (unsigned long long)seg_len);
    char sig[200];
    wgl_node_signature(&l->pg, n, l->o->weights_f16, sig, sizeof sig);
    const gn_variant *v = gn_variant_pick(tune(l, sig), seg_len);
    uint64_t chunk = v->chunk;
    uint64_t nchunks = (seg_len + chunk - 1) / chunk;
    while (nchunks > l->maxdim) {
        chunk *= 2;
        nchunks = (seg_len + chunk - 1) / chunk;
    }
    uint64_t part_bytes = nseg * nchunks * 3 * 4;
    temp_need(l, part_bytes);
    uint64_t gs_off = l->gn_stats_off[idx], gs_bytes = nseg * 2 * 4;
    uint64_t segs_per = l->maxsub / (seg_len * 4);
    for (uint64_t s0 = 0; s0 < nseg; s0 += segs_per) {
        uint64_t ns = nseg - s0 < segs_per ? nseg - s0 : segs_per;
        kb k;
        kb_init(&k, "gn_stats", v->name);
        kb_const_u(&k, "WG", 256);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], s0 * seg_len * 4, ns * seg_len * 4));
        kb_opnd_raw(&k, "st", WGL_SCRATCH, 0, temp_off(l), part_bytes, WGL_F32);
        kb_u32(&k, "seg_len", (uint32_t)seg_len);
        kb_u32(&k, "chunk", (uint32_t)chunk);
        kb_u32(&k, "nchunks", (uint32_t)nchunks);
        kb_u32(&k, "sbase", (uint32_t)s0);
        kb_grid(&k, (uint32_t)nchunks, (uint32_t)ns, 1);
        WSD_TRY(emit(l, &k, idx));
    }
    {
        /* folded into the next conv: per-channel coefficients only (COEF) */
        int fold = l->gn_into_conv[idx] >= 0;
        uint64_t threads = fold ? N * C : nseg;
        kb k;
        kb_init(&k, "gn_combine", fold ? "coef" : NULL);
        kb_const_u(&k, "WG", 64);
        kb_const_b(&k, "COEF", fold);
        kb_opnd_raw(&k, "st", WGL_SCRATCH, 0, temp_off(l), part_bytes, WGL_F32);
        if (fold) {
            kb_opnd_raw(&k, "cf", WGL_SCRATCH, 0, l->gn_coef_off[idx], N * C * 2 * 4, WGL_F32);
            WSD_TRY(opnd_whole(l, &k, "gamma", n->in[1]));
            WSD_TRY(opnd_whole(l, &k, "beta", n->in[2]));
            kb_u32(&k, "n", (uint32_t)(N * C));
            kb_u32(&k, "c", (uint32_t)C);
            kb_u32(&k, "cpg", (uint32_t)cpg);
            kb_u32(&k, "groups", (uint32_t)G);
        } else {
            kb_opnd_raw(&k, "gs", WGL_SCRATCH, 0, gs_off, gs_bytes, WGL_F32);
            kb_u32(&k, "nseg", (uint32_t)nseg);
        }
        kb_u32(&k, "nchunks", (uint32_t)nchunks);
        kb_f32(&k, "eps", n->fp[0]);
        kb_grid(&k, (uint32_t)((threads + 63) / 64), 1, 1);
        WSD_TRY(emit(l, &k, idx));
        if (fold) return WSD_OK;
    }
    for (uint64_t s0 = 0; s0 < nseg; s0 += segs_per) {
        uint64_t ns = nseg - s0 < segs_per ? nseg - s0 : segs_per;
        uint64_t len = ns * seg_len;
        kb k;
        kb_init(&k, "gn_apply", NULL);
        kb_const_u(&k, "WG", 256);
        kb_const_b(&k, "SILU", n->ip[1]);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], s0 * seg_len * 4, len * 4));
        WSD_TRY(opnd_f32(l, &k, "y", l->gn_inplace[idx] ? n->in[0] : n->out, s0 * seg_len * 4, len * 4));
        WSD_TRY(opnd_whole(l, &k, "gamma", n->in[1]));
        WSD_TRY(opnd_whole(l, &k, "beta", n->in[2]));
        kb_opnd_raw(&k, "gs", WGL_SCRATCH, 0, gs_off, gs_bytes, WGL_F32);
        kb_u32(&k, "n", (uint32_t)len);
        kb_u32(&k, "seg_len", (uint32_t)seg_len);
        kb_u32(&k, "seg0", (uint32_t)s0);
        kb_u32(&k, "groups", (uint32_t)G);
        kb_u32(&k, "cpg", (uint32_t)cpg);
        kb_u32(&k, "hw", (uint32_t)S);
        kb_grid_flat(&k, (len + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

/* ---- conv2d and linear ---- */

/* The tuned (or default) kernel of a conv2d or linear with an m x k by k x n
 * product; `linear`: a linear layer without a GEGLU fold (the gemv kernel
 * serves those of at most GEMV_MAX_ROWS rows). */
static gemm_pick pick_gemm(L *l, const char *sig, uint64_t m, uint64_t n, uint64_t batch, uint64_t k, int conv3s1,
                           int linear)
{
    gemm_pick p = gemm_pick_parse(tune(l, sig));
    if (p.v && gemm_variant_fits(p.v, l->caps) &&
        (p.v->gemv ? linear && m <= GEMV_MAX_ROWS : gemm_variant_applies(p.v, conv3s1)))
        return p;
    p.v = gemm_variant_default(m, n, l->caps->is_cpu);
    if (!gemm_variant_fits(p.v, l->caps)) p.v = gemm_variant_find("m32n32k16t2x2");
    p.split = l->caps->is_cpu ? 1 : gemm_auto_split(p.v, m, n, batch, k);
    return p;
}

uint32_t wgl_split_cap(uint32_t nsplit, uint64_t ny)
{
    while (nsplit > 1 && (uint64_t)nsplit * ny * 4 > WGL_SPLITK_MAX_BYTES) nsplit--;
    return nsplit;
}

/* Whether variant v's vec4 tiles can load their first operand (x of a
 * linear, the weights of a conv) 4 consecutive k at a time over k-ranges of
 * kper (VIEW4): the rest of the conditions are the caller's. */
static int vec4_tile_loads(const gemm_variant *v, uint64_t kper)
{
    uint32_t nt = (v->bm / v->tm) * (v->bn / v->tn);
    return v->vec4 && kper % 4 == 0 && v->bk % 4 == 0 && (v->bm * v->bk / nt) % 4 == 0;
}

/* the split-K reduction: y = bias + sum of the partials (+ the residual res, if >= 0) */
static wsd_status emit_splitk_reduce(L *l, int idx, int y, int bias, int res, uint64_t n, uint64_t inner, uint64_t nch,
                                     uint32_t nsplit, uint64_t part_off)
{
    kb k;
    kb_init(&k, "splitk_reduce", NULL);
    kb_const_u(&k, "WG", 256);
    kb_opnd_raw(&k, "part", WGL_SCRATCH, 0, part_off, (uint64_t)nsplit * n * 4, WGL_F32);
    if (bias >= 0)
        WSD_TRY(opnd_whole(l, &k, "bias", bias));
    else
        kb_stub(&k, "bias");
    if (res >= 0)
        WSD_TRY(opnd_whole(l, &k, "res", res));
    else
        kb_stub(&k, "res");
    WSD_TRY(opnd_whole(l, &k, "y", y));
    /* four values per thread where every f32 operand is 16-byte aligned */
    k.vec4 = n % 4 == 0 && kb_vec4_ok(&k);
    kb_const_b(&k, "VEC4", k.vec4);
    kb_u32(&k, "n", (uint32_t)n);
    kb_u32(&k, "inner", (uint32_t)inner);
    kb_u32(&k, "nch", (uint32_t)nch);
    kb_u32(&k, "nsplit", nsplit);
    uint64_t per_group = k.vec4 ? 1024 : 256;
    kb_grid_flat(&k, (n + per_group - 1) / per_group, l->maxdim);
    return emit(l, &k, idx);
}

int wgl_conv3s1(const wg_graph *g, const wg_node *n)
{
    const wg_tensor *Wt = &g->t[n->in[1]];
    return n->op == WG_OP_CONV2D && Wt->ndim == 4 && Wt->shape[2] == 3 && Wt->shape[3] == 3 && n->ip[0] == 1 &&
           n->ip[1] == 1 && n->ip[2] == 1 && n->ip[3] == 1 && n->ip[4] == 1;
}

/* Winograd scratch per chunk: within WGL_WINO_MAX_BYTES and one binding */
static uint64_t wino_cap(const L *l) { return l->maxsub < WGL_WINO_MAX_BYTES ? l->maxsub : WGL_WINO_MAX_BYTES; }

/* 3x3 stride-1 pad-1 conv by Winograd F(2x2, 3x3) (wino.wgsl, wino_out.wgsl):
 * the columns are the 2x2 output tiles of all images, cut into chunks whose
 * 16 products (times the split-K slices) fit WGL_WINO_MAX_BYTES of scratch. */
static wsd_status lower_conv_wino(L *l, const wg_node *n, int idx, gemm_pick pk)
{
    const wg_tensor *X = T(l, n->in[0]), *Wt = T(l, n->in[1]), *Y = T(l, n->out);
    const gemm_variant *v = pk.v;
    int up2 = l->conv_up2[idx], gn = l->conv_gn[idx];
    uint64_t N = (uint64_t)X->shape[0], Ci = (uint64_t)X->shape[1], Hs = (uint64_t)X->shape[2], Ws = (uint64_t)X->shape[3];
    uint64_t Co = (uint64_t)Wt->shape[0], Ho = (uint64_t)Y->shape[2], Wo = (uint64_t)Y->shape[3];
    uint64_t tw = (Wo + 1) / 2, tpi = ((Ho + 1) / 2) * tw, Q = N * tpi;
    int has_bias = n->n_in > 2 && n->in[2] >= 0;
    uint32_t nsplit = pk.split;
    uint64_t per_col = 16 * Co * 4; /* scratch bytes per tile column and split slice */
    uint64_t want = Q < v->bn ? Q : v->bn;
    uint64_t cap = wino_cap(l);
    while (nsplit > 1 && nsplit * per_col * want > cap) nsplit--;
    uint64_t nq = cap / (nsplit * per_col);
    if (nq < 1) nq = 1;
    if (nq >= Q) nq = Q;
    else if (nq > v->bn) nq = nq / v->bn * v->bn;
    uint64_t kper = Ci;
    if (nsplit > 1) {
        kper = ((Ci + nsplit - 1) / nsplit + v->bk - 1) / v->bk * v->bk;
        nsplit = (uint32_t)((Ci + kper - 1) / kper);
    }
    uint64_t m_off = temp_off(l), mstride = 16 * Co * nq;
    temp_need(l, (uint64_t)nsplit * mstride * 4);
    for (uint64_t q0 = 0; q0 < Q; q0 += nq) {
        uint64_t cq = Q - q0 < nq ? Q - q0 : nq;
        kb k;
        kb_init(&k, "wino", v->name);
        kb_const_u(&k, "BM", v->bm);
        kb_const_u(&k, "BN", v->bn);
        kb_const_u(&k, "BK", v->bk);
        kb_const_b(&k, "UP2", up2);
        kb_const_b(&k, "NORM", gn >= 0);
        kb_const_b(&k, "NSILU", gn >= 0 && l->pg.nodes[gn].ip[1]);
        WSD_TRY(opnd_whole(l, &k, "x", n->in[0]));
        int wtype;
        WSD_TRY(opnd_matrix(l, &k, "w", n->in[1], &wtype));
        if (gn >= 0)
            kb_opnd_raw(&k, "gn", WGL_SCRATCH, 0, l->gn_coef_off[gn], N * Ci * 2 * 4, WGL_F32);
        else
            kb_stub(&k, "gn");
        kb_opnd_raw(&k, "part", WGL_SCRATCH, 0, m_off, (uint64_t)nsplit * mstride * 4, WGL_F32);
        kb_u32(&k, "ci", (uint32_t)Ci);
        kb_u32(&k, "h", (uint32_t)(up2 ? 2 * Hs : Hs));
        kb_u32(&k, "w", (uint32_t)(up2 ? 2 * Ws : Ws));
        kb_u32(&k, "co", (uint32_t)Co);
        kb_u32(&k, "tw", (uint32_t)tw);
        kb_u32(&k, "tpi", (uint32_t)tpi);
        kb_u32(&k, "q0", (uint32_t)q0);
        kb_u32(&k, "nq", (uint32_t)cq);
        kb_u32(&k, "xbs", (uint32_t)(Ci * Hs * Ws));
        kb_u32(&k, "sw", (uint32_t)Ws);
        kb_u32(&k, "wstride", (uint32_t)(Ci * 9));
        kb_u32(&k, "nsplit", nsplit);
        kb_u32(&k, "kper", (uint32_t)kper);
        kb_u32(&k, "mstride", (uint32_t)(16 * Co * cq));
        kb_grid(&k, (uint32_t)((cq + v->bn - 1) / v->bn), (uint32_t)((Co + v->bm - 1) / v->bm), 16 * nsplit);
        WSD_TRY(emit(l, &k, idx));

        kb_init(&k, "wino_out", NULL);
        kb_const_u(&k, "WG", 256);
        kb_opnd_raw(&k, "part", WGL_SCRATCH, 0, m_off, (uint64_t)nsplit * mstride * 4, WGL_F32);
        if (has_bias)
            WSD_TRY(opnd_whole(l, &k, "bias", n->in[2]));
        else
            kb_stub(&k, "bias");
        WSD_TRY(opnd_whole(l, &k, "y", n->out));
        kb_u32(&k, "co", (uint32_t)Co);
        kb_u32(&k, "nq", (uint32_t)cq);
        kb_u32(&k, "q0", (uint32_t)q0);
        kb_u32(&k, "tpi", (uint32_t)tpi);
        kb_u32(&k, "tw", (uint32_t)tw);
        kb_u32(&k, "ho", (uint32_t)Ho);
        kb_u32(&k, "wo", (uint32_t)Wo);
        kb_u32(&k, "ybs", (uint32_t)(Co * Ho * Wo));
        kb_u32(&k, "nsplit", nsplit);
        kb_u32(&k, "mstride", (uint32_t)(16 * Co * cq));
        kb_u32(&k, "astride", (uint32_t)(Co * cq));
        kb_grid_flat(&k, (Co * cq + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static wsd_status lower_conv(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]), *Wt = T(l, n->in[1]), *Y = T(l, n->out);
    int up2 = l->conv_up2[idx], gn = l->conv_gn[idx];
    uint64_t N = (uint64_t)X->shape[0], Ci = (uint64_t)X->shape[1], Hs = (uint64_t)X->shape[2], Ws = (uint64_t)X->shape[3];
    uint64_t H = up2 ? 2 * Hs : Hs, Wd = up2 ? 2 * Ws : Ws; /* the (virtually upsampled) input the conv sees */
    uint64_t Co = (uint64_t)Wt->shape[0], kh = (uint64_t)Wt->shape[2], kw = (uint64_t)Wt->shape[3];
    uint64_t Ho = (uint64_t)Y->shape[2], Wo = (uint64_t)Y->shape[3];
    int stride = n->ip[0], pad_t = n->ip[1], pad_l = n->ip[2];
    int has_bias = n->n_in > 2 && n->in[2] >= 0;
    int pw = !up2 && kh == 1 && kw == 1 && stride == 1 && pad_t == 0 && pad_l == 0 && n->ip[3] == 0 && n->ip[4] == 0;
    gemm_pick pk = l->conv_pick[idx];
    const gemm_variant *v = pk.v;
    uint64_t xplane = Hs * Ws * 4, yplane = Ho * Wo * 4;
    uint64_t xb = Ci * xplane, yb = Co * yplane;
    int whole = N * xb <= l->maxsub && N * yb <= l->maxsub;
    if ((up2 || gn >= 0) && !whole)
        return wsd_fail(l->err, WSD_ERR_INTERNAL, "webgpu: fused conv2d over a split tensor");
    if (v->wino) {
        if (whole && 16 * Co * 4 <= wino_cap(l)) return lower_conv_wino(l, n, idx, pk);
        /* split tensors: the direct kernel */
        v = pk.v = gemm_variant_default(Co, Ho * Wo, l->caps->is_cpu);
        pk.split = gemm_auto_split(v, Co, Ho * Wo, N, Ci * kh * kw);
    }
    uint64_t cc = whole ? Ci : l->maxsub / xplane, oc = whole ? Co : l->maxsub / yplane;
    if (cc < 1 || oc < 1)
        return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: conv2d plane of %llux%llu exceeds one binding",
                        (unsigned long long)H, (unsigned long long)Wd);
    if (cc > Ci) cc = Ci;
    if (oc > Co) oc = Co;
    uint32_t nsplit = (whole && !v->ref) ? wgl_split_cap(pk.split, N * Co * Ho * Wo) : 1;
    uint64_t K = Ci * kh * kw, kper = K;
    if (nsplit > 1) {
        kper = ((K + nsplit - 1) / nsplit + v->bk - 1) / v->bk * v->bk;
        nsplit = (uint32_t)((K + kper - 1) / kper);
    }
    uint64_t part_off = temp_off(l), ny = N * Co * Ho * Wo;
    if (nsplit > 1) temp_need(l, (uint64_t)nsplit * ny * 4);
    uint64_t nb_loop = whole ? 1 : N;
    for (uint64_t b = 0; b < nb_loop; b++)
        for (uint64_t co0 = 0; co0 < Co; co0 += oc)
            for (uint64_t ci0 = 0; ci0 < Ci; ci0 += cc) {
                uint64_t nco = Co - co0 < oc ? Co - co0 : oc, nci = Ci - ci0 < cc ? Ci - ci0 : cc;
                uint64_t nbatch = whole ? N : 1;
                int acc = ci0 > 0;
                kb k;
                kb_init(&k, v->ref ? "conv_ref" : v->patch ? "convp" : "conv", v->name);
                if (v->ref) {
                    kb_const_u(&k, "WG", 64);
                } else {
                    kb_const_u(&k, "BM", v->bm);
                    kb_const_u(&k, "BN", v->bn);
                    kb_const_u(&k, "BK", v->bk);
                    kb_const_u(&k, "TM", v->tm);
                    kb_const_u(&k, "TN", v->tn);
                    kb_const_b(&k, "VEC4", v->vec4);
                    if (!v->patch) kb_const_b(&k, "DBUF", v->dbuf);
                    kb_const_b(&k, "PW", pw);
                    kb_const_b(&k, "SPLIT", nsplit > 1);
                    kb_const_b(&k, "UP2", up2);
                    kb_const_b(&k, "NORM", gn >= 0);
                    kb_const_b(&k, "NSILU", gn >= 0 && l->pg.nodes[gn].ip[1]);
                    if (v->patch) {
                        kb_const_u(&k, "TH", v->th);
                        kb_const_u(&k, "TW", v->tw);
                    }
                }
                kb_const_u(&k, "KH", (uint32_t)kh);
                kb_const_u(&k, "KW", (uint32_t)kw);
                kb_const_u(&k, "STRIDE", (uint32_t)stride);
                kb_const_b(&k, "ACC", acc);
                WSD_TRY(opnd_f32(l, &k, "x", n->in[0], (b * Ci + ci0) * xplane, (nbatch - 1) * xb + nci * xplane));
                int wtype;
                WSD_TRY(opnd_matrix(l, &k, "w", n->in[1], &wtype));
                if (has_bias && !acc && nsplit == 1)
                    WSD_TRY(opnd_whole(l, &k, "bias", n->in[2]));
                else
                    kb_stub(&k, "bias");
                if (gn >= 0)
                    kb_opnd_raw(&k, "gn", WGL_SCRATCH, 0, l->gn_coef_off[gn], N * Ci * 2 * 4, WGL_F32);
                else if (!v->ref)
                    kb_stub(&k, "gn");
                if (nsplit > 1) {
                    kb_opnd_raw(&k, "part", WGL_SCRATCH, 0, part_off, (uint64_t)nsplit * ny * 4, WGL_F32);
                    kb_stub(&k, "y");
                } else {
                    WSD_TRY(opnd_f32(l, &k, "y", n->out, (b * Co + co0) * yplane, (nbatch - 1) * yb + nco * yplane));
                    if (!v->ref) kb_stub(&k, "part");
                }
                if (!v->ref && !v->patch) { /* the residual, laid out as y (prepass fuses only into these) */
                    int res = l->gemm_res[idx] >= 0 && nsplit == 1 && !acc;
                    kb_const_b(&k, "RES", res);
                    if (res)
                        WSD_TRY(opnd_f32(l, &k, "res", l->gemm_res[idx], (b * Co + co0) * yplane,
                                         (nbatch - 1) * yb + nco * yplane));
                    else
                        kb_stub(&k, "res");
                }
                if (!v->ref && !v->patch) {
                    /* 16-byte weight loads and a vec4 epilogue (VIEW4) where sizes
                     * and offsets allow; the im2col input, the norm coefficients
                     * and the bias are read one float at a time: plain bindings */
                    uint32_t nt = (v->bm / v->tm) * (v->bn / v->tn);
                    int view = vec4_tile_loads(v, kper) && whole && (Ho * Wo) % 4 == 0 && (Ci * kh * kw) % 4 == 0 &&
                               (nci * kh * kw) % 4 == 0 && (ci0 * kh * kw) % 4 == 0;
                    /* QUAD: the im2col tile in quads of 4 pixels of a row, x through a vec4 view too */
                    int quad = view && stride == 1 && !up2 && Wo % 4 == 0 && Wd % 4 == 0 && Wo == Wd &&
                               nt % (v->bn / 4) == 0 && (v->bk * v->bn / 4) % nt == 0;
                    kb_scalar(&k, "gn");
                    kb_scalar(&k, "bias");
                    if (!quad || !kb_vec4_ok(&k)) {
                        quad = 0;
                        kb_scalar(&k, "x");
                    }
                    k.vec4 = view && kb_vec4_ok(&k);
                    kb_const_b(&k, "VIEW4", k.vec4);
                    kb_const_b(&k, "QUAD", k.vec4 && quad);
                }
                if (v->ref) kb_u32(&k, "n", (uint32_t)(nbatch * nco * Ho * Wo));
                kb_u32(&k, "ci", (uint32_t)nci);
                kb_u32(&k, "h", (uint32_t)H);
                kb_u32(&k, "w", (uint32_t)Wd);
                kb_u32(&k, "co", (uint32_t)nco);
                kb_u32(&k, "ho", (uint32_t)Ho);
                kb_u32(&k, "wo", (uint32_t)Wo);
                kb_i32(&k, "pad_t", pad_t);
                kb_i32(&k, "pad_l", pad_l);
                kb_u32(&k, "xbs", (uint32_t)(Ci * Hs * Ws));
                kb_u32(&k, "ybs", (uint32_t)(Co * Ho * Wo));
                kb_u32(&k, "wstride", (uint32_t)(Ci * kh * kw));
                kb_u32(&k, "wk0", (uint32_t)(ci0 * kh * kw));
                kb_u32(&k, "co0", (uint32_t)co0);
                if (!v->ref) {
                    kb_u32(&k, "nsplit", nsplit);
                    kb_u32(&k, "kper", (uint32_t)kper);
                    kb_u32(&k, "pstride", (uint32_t)ny);
                    kb_u32(&k, "sw", (uint32_t)Ws);
                }
                if (v->ref)
                    kb_grid_flat(&k, (nbatch * nco * Ho * Wo + 63) / 64, l->maxdim);
                else if (v->patch)
                    kb_grid(&k, (uint32_t)(((Ho + v->th - 1) / v->th) * ((Wo + v->tw - 1) / v->tw)),
                            (uint32_t)((nco + v->bm - 1) / v->bm), (uint32_t)(nbatch * nsplit));
                else
                    kb_grid(&k, (uint32_t)((Ho * Wo + v->bn - 1) / v->bn), (uint32_t)((nco + v->bm - 1) / v->bm),
                            (uint32_t)(nbatch * nsplit));
                WSD_TRY(emit(l, &k, idx));
            }
    if (nsplit > 1)
        WSD_TRY(emit_splitk_reduce(l, idx, n->out, has_bias ? n->in[2] : -1, l->gemm_res[idx], ny, Ho * Wo, Co, nsplit,
                                   part_off));
    return WSD_OK;
}

static wsd_status lower_linear(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]), *Wt = T(l, n->in[1]);
    uint64_t K = (uint64_t)Wt->shape[1], N = (uint64_t)Wt->shape[0], M = (uint64_t)wg_numel(X) / K;
    int has_bias = n->n_in > 2 && n->in[2] >= 0;
    int geglu = l->lin_geglu[idx];
    char sig[200];
    wgl_node_signature(&l->pg, n, l->o->weights_f16, sig, sizeof sig);
    gemm_pick pk = pick_gemm(l, sig, M, N, 1, K, 0, !geglu);
    const gemm_variant *v = pk.v;
    if (v->gemv) { /* a few rows: one dispatch, 32 threads per output column */
        kb k;
        kb_init(&k, "gemv", v->name);
        kb_const_u(&k, "WG", 256);
        kb_const_u(&k, "MR", (uint32_t)M);
        kb_const_b(&k, "RES", l->gemm_res[idx] >= 0);
        WSD_TRY(opnd_whole(l, &k, "x", n->in[0]));
        int wtype;
        WSD_TRY(opnd_matrix(l, &k, "w", n->in[1], &wtype));
        if (has_bias)
            WSD_TRY(opnd_whole(l, &k, "bias", n->in[2]));
        else
            kb_stub(&k, "bias");
        if (l->gemm_res[idx] >= 0)
            WSD_TRY(opnd_whole(l, &k, "res", l->gemm_res[idx]));
        else
            kb_stub(&k, "res");
        WSD_TRY(opnd_whole(l, &k, "y", n->out));
        kb_u32(&k, "m", (uint32_t)M);
        kb_u32(&k, "n", (uint32_t)N);
        kb_u32(&k, "k", (uint32_t)K);
        kb_grid_flat(&k, (N + 1) / 2, l->maxdim); /* gemv.wgsl NC columns per workgroup */
        return emit(l, &k, idx);
    }
    uint64_t Nout = geglu ? N / 2 : N; /* columns of y */
    uint64_t rmax = l->maxsub / (4 * (K > N ? K : N));
    if (rmax < 1) return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: linear rows exceed one binding");
    for (uint64_t r0 = 0; r0 < M; r0 += rmax) {
        uint64_t nr = M - r0 < rmax ? M - r0 : rmax;
        uint32_t nsplit = (!v->ref && nr == M && !geglu) ? wgl_split_cap(pk.split, nr * N) : 1;
        uint64_t kper = K;
        if (nsplit > 1) {
            kper = ((K + nsplit - 1) / nsplit + v->bk - 1) / v->bk * v->bk;
            nsplit = (uint32_t)((K + kper - 1) / kper);
        }
        uint64_t part_off = temp_off(l), ny = nr * N;
        if (nsplit > 1) temp_need(l, (uint64_t)nsplit * ny * 4);
        kb k;
        kb_init(&k, v->ref ? "linear_ref" : "linear", v->name);
        if (v->ref) {
            kb_const_u(&k, "WG", 64);
        } else {
            kb_const_u(&k, "BM", v->bm);
            kb_const_u(&k, "BN", v->bn);
            kb_const_u(&k, "BK", v->bk);
            kb_const_u(&k, "TM", v->tm);
            kb_const_u(&k, "TN", v->tn);
            kb_const_b(&k, "VEC4", v->vec4);
            kb_const_b(&k, "DBUF", v->dbuf);
            kb_const_b(&k, "SPLIT", nsplit > 1);
            kb_const_b(&k, "GEGLU", geglu);
        }
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], r0 * K * 4, nr * K * 4));
        int wtype;
        WSD_TRY(opnd_matrix(l, &k, "w", n->in[1], &wtype));
        if (has_bias && nsplit == 1)
            WSD_TRY(opnd_whole(l, &k, "bias", n->in[2]));
        else
            kb_stub(&k, "bias");
        if (nsplit > 1) {
            kb_opnd_raw(&k, "part", WGL_SCRATCH, 0, part_off, (uint64_t)nsplit * ny * 4, WGL_F32);
            kb_stub(&k, "y");
        } else {
            WSD_TRY(opnd_f32(l, &k, "y", n->out, r0 * Nout * 4, nr * Nout * 4));
            if (!v->ref) kb_stub(&k, "part");
        }
        if (!v->ref) { /* the residual, laid out as y */
            kb_const_b(&k, "RES", l->gemm_res[idx] >= 0 && nsplit == 1);
            if (l->gemm_res[idx] >= 0 && nsplit == 1)
                WSD_TRY(opnd_f32(l, &k, "res", l->gemm_res[idx], r0 * Nout * 4, nr * Nout * 4));
            else
                kb_stub(&k, "res");
        }
        if (!v->ref) {
            /* vec4 tiles with 16-byte global accesses (f32 bindings as vec4
             * arrays) wherever sizes and offsets allow */
            uint32_t nt = (v->bm / v->tm) * (v->bn / v->tn);
            k.vec4 = vec4_tile_loads(v, kper) && K % 4 == 0 && Nout % 4 == 0 && (v->bn * v->bk / nt) % 4 == 0 &&
                     kb_vec4_ok(&k);
            kb_const_b(&k, "VIEW4", k.vec4);
        }
        kb_u32(&k, "m", (uint32_t)nr);
        kb_u32(&k, "n", (uint32_t)Nout);
        kb_u32(&k, "k", (uint32_t)K);
        if (!v->ref) {
            kb_u32(&k, "kper", (uint32_t)kper);
            kb_u32(&k, "pstride", (uint32_t)ny);
        }
        if (v->ref)
            kb_grid_flat(&k, (nr * N + 63) / 64, l->maxdim);
        else
            kb_grid(&k, (uint32_t)(geglu ? (Nout + v->bn / 2 - 1) / (v->bn / 2) : (N + v->bn - 1) / v->bn),
                    (uint32_t)((nr + v->bm - 1) / v->bm), nsplit);
        WSD_TRY(emit(l, &k, idx));
        if (nsplit > 1)
            WSD_TRY(emit_splitk_reduce(l, idx, n->out, has_bias ? n->in[2] : -1, l->gemm_res[idx], ny, 1, N, nsplit,
                                       part_off));
    }
    return WSD_OK;
}

/* ---- attention ---- */

static wsd_status lower_attention(L *l, const wg_node *n, int idx)
{
    const wg_tensor *Q = T(l, n->in[0]), *K = T(l, n->in[1]), *V = T(l, n->in[2]);
    uint64_t B = (uint64_t)Q->shape[0], Tq = (uint64_t)Q->shape[1], Tk = (uint64_t)K->shape[1];
    uint64_t H = (uint64_t)n->ip[0], C = (uint64_t)Q->shape[2], Cv = (uint64_t)V->shape[2];
    uint64_t D = C / H, DV = Cv / H;
    int causal = n->ip[1];
    char sig[200];
    wgl_node_signature(&l->pg, n, l->o->weights_f16, sig, sizeof sig);
    const attn_variant *v = attn_variant_pick(tune(l, sig), (uint32_t)D, (uint32_t)DV, l->caps);
    kb k;
    kb_init(&k,
            v->kind == ATTN_REF     ? "attn_ref"
            : v->kind == ATTN_TILED ? "attn_tiled"
            : v->kind == ATTN_FAST  ? "attn_fast"
            : v->kind == ATTN_REG   ? "attn_reg"
            : v->kind == ATTN_PAIR  ? "attn_pair"
                                    : "attn",
            v->name);
    kb_const_u(&k, "D", (uint32_t)D);
    kb_const_u(&k, "DV", (uint32_t)DV);
    kb_const_b(&k, "CAUSAL", causal);
    if (v->kind == ATTN_REF) {
        kb_const_u(&k, "WG", 64);
    } else if (v->kind == ATTN_REG) {
        attn_reg_consts c;
        attn_reg_constants(v, (uint32_t)D, (uint32_t)DV, &c);
        kb_const_u(&k, "BQ", v->bq);
        kb_const_u(&k, "RQ", v->rq);
        kb_const_u(&k, "KS", v->ks);
        kb_const_u(&k, "BKV", v->bkv);
        kb_const_u(&k, "KC", c.kc);
        kb_const_u(&k, "SMN", c.smn);
        kb_const_b(&k, "K2D", v->k2d);
    } else if (v->kind == ATTN_PAIR) {
        kb_const_u(&k, "BQ", v->bq);
        kb_const_u(&k, "RQ", v->rq);
        kb_const_u(&k, "BKV", v->bkv);
        kb_const_u(&k, "KC", attn_pair_chunk(v));
        kb_const_u(&k, "SD", v->ks);
        k.subgroups = 1;
    } else if (v->kind == ATTN_TILED || v->kind == ATTN_FAST) {
        attn_tiling t;
        attn_tiled_constants(v, (uint32_t)DV, &t);
        kb_const_u(&k, "BQ", v->bq);
        kb_const_u(&k, "BKV", v->bkv);
        kb_const_u(&k, "TQ", t.tq);
        kb_const_u(&k, "TK", t.tk);
        kb_const_u(&k, "DC", t.dc);
        kb_const_u(&k, "RQ", t.rq);
        kb_const_u(&k, "NDG", t.ndg);
        kb_const_u(&k, "CD", t.cd);
    } else {
        uint32_t tpr = v->nt / v->bq;
        kb_const_u(&k, "BQ", v->bq);
        kb_const_u(&k, "BKV", v->bkv);
        kb_const_u(&k, "NT", v->nt);
        kb_const_u(&k, "TPR", tpr);
        kb_const_u(&k, "NPT", (uint32_t)((DV + tpr - 1) / tpr));
    }
    WSD_TRY(opnd_whole(l, &k, "q", n->in[0]));
    WSD_TRY(opnd_whole(l, &k, "k", n->in[1]));
    WSD_TRY(opnd_whole(l, &k, "v", n->in[2]));
    WSD_TRY(opnd_whole(l, &k, "y", n->out));
    kb_u32(&k, "tq", (uint32_t)Tq);
    kb_u32(&k, "tk", (uint32_t)Tk);
    kb_u32(&k, "qbs", (uint32_t)(Tq * C));
    kb_u32(&k, "kbs", (uint32_t)(Tk * C));
    kb_u32(&k, "vbs", (uint32_t)(Tk * Cv));
    kb_u32(&k, "ybs", (uint32_t)(Tq * Cv));
    kb_u32(&k, "qrs", (uint32_t)C);
    kb_u32(&k, "krs", (uint32_t)C);
    kb_u32(&k, "vrs", (uint32_t)Cv);
    kb_u32(&k, "yrs", (uint32_t)Cv);
    kb_f32(&k, "scale", n->fp[0]);
    if (v->kind == ATTN_REF) {
        kb_u32(&k, "heads", (uint32_t)H);
        kb_u32(&k, "total", (uint32_t)(B * H * Tq));
        kb_grid_flat(&k, (B * H * Tq + 63) / 64, l->maxdim);
    } else {
        kb_grid(&k, (uint32_t)((Tq + v->bq - 1) / v->bq), (uint32_t)H, (uint32_t)B);
    }
    return emit(l, &k, idx);
}

/* ---- data movement ---- */

static wsd_status add_copy(L *l, int node, int src_t, uint64_t src_off, int dst_t, uint64_t dst_off, uint64_t size)
{
    wgl_prog *p = l->p;
    if (p->n_cmds == p->cap_cmds) {
        int nc = p->cap_cmds ? p->cap_cmds * 2 : 256;
        wgl_cmd *ncm = realloc(p->cmds, (size_t)nc * sizeof *ncm);
        if (!ncm) return wsd_fail(l->err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        p->cmds = ncm;
        p->cap_cmds = nc;
    }
    wgl_cmd *c = &p->cmds[p->n_cmds];
    memset(c, 0, sizeof *c);
    c->kind = WGL_CMD_COPY;
    c->node = node;
    if (is_weight(l, src_t)) {
        wgl_wloc w;
        WSD_TRY(resolve_w(l, src_t, 0, &w));
        if (w.n_parts != 1) return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: copy from a split weight");
        c->src_space = WGL_WEIGHT;
        c->src_index = w.part[0].index;
        c->src_off = w.part[0].offset + src_off;
    } else {
        int r = proot(l, src_t);
        c->src_space = WGL_ARENA;
        c->src_index = (uint32_t)p->t_chunk[r];
        c->src_off = p->t_off[r] + src_off;
    }
    int r = proot(l, dst_t);
    c->dst_space = WGL_ARENA;
    c->dst_index = (uint32_t)p->t_chunk[r];
    c->dst_off = p->t_off[r] + dst_off;
    c->size = size;
    p->n_cmds++;
    p->n_copy++;
    return WSD_OK;
}

/* outer blocks: dst[o*dst_stride + dst0 ..] <- src[o*src_stride + src0 ..], len floats each */
static wsd_status lower_blocks(L *l, int idx, int src, uint64_t src0, uint64_t src_stride, int dst, uint64_t dst0,
                               uint64_t dst_stride, uint64_t outer, uint64_t len)
{
    /* Buffer copies need no binding and no kernel, but WebGPU forbids them
     * within one buffer: only when source and destination buffers differ. */
    int same_buf = 0;
    if (!is_weight(l, src)) {
        int rs = proot(l, src), rd = proot(l, dst);
        same_buf = l->p->t_chunk[rs] == l->p->t_chunk[rd];
    }
    if (outer <= 64 && !same_buf) {
        for (uint64_t o = 0; o < outer; o++)
            WSD_TRY(add_copy(l, idx, src, (o * src_stride + src0) * 4, dst, (o * dst_stride + dst0) * 4, len * 4));
        return WSD_OK;
    }
    kb k;
    kb_init(&k, "copy2d", NULL);
    kb_const_u(&k, "WG", 256);
    uint64_t sbytes = ((outer - 1) * src_stride + len) * 4, dbytes = ((outer - 1) * dst_stride + len) * 4;
    WSD_TRY(opnd_f32(l, &k, "x", src, src0 * 4, sbytes));
    WSD_TRY(opnd_f32(l, &k, "y", dst, dst0 * 4, dbytes));
    kb_u32(&k, "n", (uint32_t)(outer * len));
    kb_u32(&k, "len", (uint32_t)len);
    kb_u32(&k, "xs", (uint32_t)src_stride);
    kb_u32(&k, "ys", (uint32_t)dst_stride);
    kb_grid_flat(&k, (outer * len + 255) / 256, l->maxdim);
    return emit(l, &k, idx);
}

static wsd_status lower_concat(L *l, const wg_node *n, int idx)
{
    const wg_tensor *A = T(l, n->in[0]), *B = T(l, n->in[1]), *Y = T(l, n->out);
    int d = n->ip[0];
    uint64_t outer = (uint64_t)prod(Y->shape, 0, d), inner = (uint64_t)prod(Y->shape, d + 1, Y->ndim);
    uint64_t la = (uint64_t)A->shape[d] * inner, lb = (uint64_t)B->shape[d] * inner;
    WSD_TRY(lower_blocks(l, idx, n->in[0], 0, la, n->out, 0, la + lb, outer, la));
    return lower_blocks(l, idx, n->in[1], 0, lb, n->out, la, la + lb, outer, lb);
}

static wsd_status lower_slice(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]), *Y = T(l, n->out);
    int d = n->ip[0];
    uint64_t outer = (uint64_t)prod(Y->shape, 0, d), inner = (uint64_t)prod(Y->shape, d + 1, Y->ndim);
    uint64_t len = (uint64_t)Y->shape[d] * inner;
    return lower_blocks(l, idx, n->in[0], (uint64_t)n->ip[1] * inner, (uint64_t)X->shape[d] * inner, n->out, 0, len,
                        outer, len);
}

static wsd_status lower_transpose(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]);
    uint64_t N = (uint64_t)X->shape[0], A = (uint64_t)X->shape[1], B = (uint64_t)X->shape[2];
    kb k;
    kb_init(&k, "transpose", NULL);
    kb_const_u(&k, "TILE", 16);
    WSD_TRY(opnd_whole(l, &k, "x", n->in[0]));
    WSD_TRY(opnd_whole(l, &k, "y", n->out));
    kb_u32(&k, "rows", (uint32_t)A);
    kb_u32(&k, "cols", (uint32_t)B);
    kb_grid(&k, (uint32_t)((B + 15) / 16), (uint32_t)((A + 15) / 16), (uint32_t)N);
    return emit(l, &k, idx);
}

static wsd_status lower_upsample(L *l, const wg_node *n, int idx)
{
    const wg_tensor *X = T(l, n->in[0]), *Y = T(l, n->out);
    uint64_t planes = (uint64_t)(X->shape[0] * X->shape[1]), H = (uint64_t)X->shape[2], Wd = (uint64_t)X->shape[3];
    uint64_t Ho = (uint64_t)Y->shape[2], Wo = (uint64_t)Y->shape[3];
    uint64_t pmax = l->maxsub / (4 * (Ho * Wo > H * Wd ? Ho * Wo : H * Wd));
    if (pmax < 1) return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: upsample plane exceeds one binding");
    for (uint64_t p0 = 0; p0 < planes; p0 += pmax) {
        uint64_t np_ = planes - p0 < pmax ? planes - p0 : pmax;
        kb k;
        kb_init(&k, "upsample", NULL);
        kb_const_u(&k, "WG", 256);
        WSD_TRY(opnd_f32(l, &k, "x", n->in[0], p0 * H * Wd * 4, np_ * H * Wd * 4));
        WSD_TRY(opnd_f32(l, &k, "y", n->out, p0 * Ho * Wo * 4, np_ * Ho * Wo * 4));
        kb_u32(&k, "n", (uint32_t)(np_ * Ho * Wo));
        kb_u32(&k, "h", (uint32_t)H);
        kb_u32(&k, "w", (uint32_t)Wd);
        kb_u32(&k, "ho", (uint32_t)Ho);
        kb_u32(&k, "wo", (uint32_t)Wo);
        kb_f32(&k, "sh", (float)H / (float)Ho);
        kb_f32(&k, "sw", (float)Wd / (float)Wo);
        kb_grid_flat(&k, (np_ * Ho * Wo + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static wsd_status lower_embedding(L *l, const wg_node *n, int idx)
{
    const wg_tensor *I = T(l, n->in[0]), *Tb = T(l, n->in[1]);
    uint64_t nid = (uint64_t)wg_numel(I), C = (uint64_t)Tb->shape[1];
    if (is_weight(l, n->in[0]) || I->dtype != WSD_DT_I32)
        return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: embedding ids must be an int32 activation");
    wgl_wloc w;
    int tw = n->in[1];
    if (!is_weight(l, tw)) {
        w.type = WGL_F32;
        w.n_parts = 0;
    } else {
        WSD_TRY(resolve_w(l, tw, l->o->weights_f16, &w));
    }
    int parts = is_weight(l, tw) ? w.n_parts : 1;
    for (int pi = 0; pi < parts; pi++) {
        kb k;
        kb_init(&k, "embed", NULL);
        kb_const_u(&k, "WG", 256);
        int ir = proot(l, n->in[0]);
        kb_opnd_raw(&k, "ids", WGL_ARENA, (uint32_t)l->p->t_chunk[ir], l->p->t_off[ir], nid * 4, WGL_I32);
        uint64_t row0 = 0, rows = (uint64_t)Tb->shape[0];
        if (is_weight(l, tw)) {
            kb_opnd_raw(&k, "t", WGL_WEIGHT, w.part[pi].index, w.part[pi].offset, w.part[pi].size, w.type);
            row0 = (uint64_t)w.part[pi].row0;
            rows = (uint64_t)w.part[pi].rows;
        } else {
            WSD_TRY(opnd_whole(l, &k, "t", tw));
        }
        WSD_TRY(opnd_whole(l, &k, "y", n->out));
        kb_u32(&k, "n", (uint32_t)(nid * C));
        kb_u32(&k, "c", (uint32_t)C);
        kb_u32(&k, "row0", (uint32_t)row0);
        kb_u32(&k, "rows", (uint32_t)rows);
        kb_grid_flat(&k, (nid * C + 255) / 256, l->maxdim);
        WSD_TRY(emit(l, &k, idx));
    }
    return WSD_OK;
}

static wsd_status add_consts(L *l, const float *v, uint64_t n, uint64_t *off)
{
    wgl_prog *p = l->p;
    uint64_t need = ((p->const_bytes + 255) & ~255ull) + n * 4;
    if (need > p->const_cap) {
        uint64_t nc = p->const_cap ? p->const_cap * 2 : 4096;
        while (nc < need) nc *= 2;
        unsigned char *nb = realloc(p->consts, (size_t)nc);
        if (!nb) return wsd_fail(l->err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        p->consts = nb;
        p->const_cap = nc;
    }
    *off = (p->const_bytes + 255) & ~255ull;
    memset(p->consts + p->const_bytes, 0, (size_t)(*off - p->const_bytes));
    memcpy(p->consts + *off, v, (size_t)n * 4);
    p->const_bytes = need;
    return WSD_OK;
}

static wsd_status lower_timestep(L *l, const wg_node *n, int idx)
{
    const wg_tensor *Y = T(l, n->out);
    uint64_t B = (uint64_t)Y->shape[0], C = (uint64_t)Y->shape[1], half = C / 2;
    float *f = malloc((size_t)half * sizeof *f + 4);
    if (!f) return wsd_fail(l->err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    /* the frequencies exactly as the CPU reference computes them */
    const float neg_log = (float)-log(10000.0);
    for (uint64_t i = 0; i < half; i++) {
        float e = neg_log * (float)i;
        e = e / ((float)half - n->fp[0]);
        f[i] = expf(e);
    }
    uint64_t off = 0;
    wsd_status st = add_consts(l, f, half, &off);
    free(f);
    WSD_TRY(st);
    kb k;
    kb_init(&k, "tstep", NULL);
    kb_const_u(&k, "WG", 64);
    kb_const_b(&k, "FLIP", n->ip[1]);
    WSD_TRY(opnd_whole(l, &k, "t", n->in[0]));
    kb_opnd_raw(&k, "f", WGL_CONST, 0, off, half * 4, WGL_F32);
    WSD_TRY(opnd_whole(l, &k, "y", n->out));
    kb_u32(&k, "n", (uint32_t)(B * half));
    kb_u32(&k, "half", (uint32_t)half);
    kb_grid_flat(&k, (B * half + 63) / 64, l->maxdim);
    return emit(l, &k, idx);
}

/* wg_linprog: one thread per element of a row, registers in the thread. */
static wsd_status lower_linprog(L *l, const wg_node *n, int idx)
{
    const wg_tensor *A = T(l, n->in[1]);
    uint64_t ra = (uint64_t)A->shape[0], L_ = (uint64_t)wg_numel(A) / ra;
    uint64_t rb = n->n_in > 2 ? (uint64_t)T(l, n->in[2])->shape[0] : 0;
    uint64_t rc = n->n_in > 3 ? (uint64_t)T(l, n->in[3])->shape[0] : 0;
    kb k;
    kb_init(&k, "linprog", NULL);
    kb_const_u(&k, "WG", 64);
    kb_const_u(&k, "RA", (uint32_t)ra);
    kb_const_u(&k, "RB", (uint32_t)rb);
    kb_const_u(&k, "RC", (uint32_t)rc);
    kb_const_u(&k, "NREG", (uint32_t)(ra + rb + rc + (uint64_t)n->ip[0]));
    kb_const_u(&k, "OPW", WG_LINPROG_OPW);
    kb_const_u(&k, "MAXOPS", WG_LINPROG_MAX_OPS);
    WSD_TRY(opnd_whole(l, &k, "p", n->in[0]));
    WSD_TRY(opnd_whole(l, &k, "a", n->in[1]));
    if (rb) WSD_TRY(opnd_whole(l, &k, "b", n->in[2]));
    else kb_stub(&k, "b");
    if (rc) WSD_TRY(opnd_whole(l, &k, "c", n->in[3]));
    else kb_stub(&k, "c");
    WSD_TRY(opnd_whole(l, &k, "y", n->out));
    kb_u32(&k, "n", (uint32_t)L_);
    kb_grid_flat(&k, (L_ + 63) / 64, l->maxdim);
    return emit(l, &k, idx);
}

/* Folds node c into node p (in the private graph): p now produces c's
 * output; c keeps p's former output as a dead, never allocated tensor, and
 * is skipped. */
static void fold_into(L *l, int p, int c)
{
    wg_graph *g = &l->pg;
    int dead = g->nodes[p].out, z = g->nodes[c].out;
    g->nodes[p].out = z;
    g->t[z].producer = p;
    g->nodes[c].out = dead;
    g->nodes[c].n_in = 0;
    g->t[dead].producer = c;
    g->t[dead].ndim = 1;
    g->t[dead].shape[0] = 1;
    l->skip[c] = 1;
}

/* Decides the conv kernels and the fusions, rewriting the private graph so
 * the planner never allocates what a fusion makes unnecessary:
 *  - upsample_nearest(2x) -> conv2d: the conv reads the small tensor;
 *  - group_norm -> conv2d: the norm's statistics are computed, its output is
 *    not: the conv normalises while it loads (and applies the SiLU).
 * Only when the intermediate has no other reader, is not an output and the
 * conv runs in one piece with a tiled kernel. Then lays out the persistent
 * part of the scratch buffer. */
static wsd_status prepass(L *l)
{
    wg_graph *g = &l->pg;
    int nn = g->n_nodes, nt = g->n_tensors;
    int *readers = calloc((size_t)(nt ? nt : 1), sizeof *readers);
    if (!readers) return wsd_fail(l->err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0) readers[g->nodes[i].in[k]]++;
    for (int i = 0; i < nt; i++)
        if (g->t[i].view_of >= 0) readers[g->t[i].view_of] += 2; /* viewed: never fused */
    for (int i = 0; i < nn; i++) {
        l->conv_gn[i] = l->gn_into_conv[i] = -1;
        wg_node *c = &g->nodes[i];
        if (c->op != WG_OP_CONV2D) continue;
        const wg_tensor *X = &g->t[c->in[0]], *Wt = &g->t[c->in[1]], *Y = &g->t[c->out];
        char sig[200];
        wgl_node_signature(g, c, l->o->weights_f16, sig, sizeof sig);
        uint64_t K = (uint64_t)(Wt->shape[1] * Wt->shape[2] * Wt->shape[3]);
        l->conv_pick[i] = pick_gemm(l, sig, (uint64_t)Wt->shape[0], (uint64_t)(Y->shape[2] * Y->shape[3]),
                                    (uint64_t)X->shape[0], K, wgl_conv3s1(g, c), 0);
        if (l->conv_pick[i].v->ref || l->o->no_fusion) continue;
        int x = c->in[0];
        int pn = X->producer;
        if (pn < 0 || readers[x] != 1 || X->is_output || X->kind != WG_VALUE || X->view_of >= 0) continue;
        const wg_node *u = &g->nodes[pn];
        const wg_tensor *U = &g->t[u->in[0]];
        uint64_t ybytes = (uint64_t)wg_numel(Y) * 4, sbytes = (uint64_t)wg_numel(U) * 4;
        if (ybytes > l->maxsub || sbytes > l->maxsub) continue;
        if (u->op == WG_OP_UPSAMPLE_NEAREST && U->ndim == 4 && X->shape[2] == 2 * U->shape[2] &&
            X->shape[3] == 2 * U->shape[3]) {
            l->conv_up2[i] = 1;
            l->skip[pn] = 1;
        } else if (u->op == WG_OP_GROUP_NORM && U->ndim == 4) {
            int ui = u->in[0];
            if (readers[ui] == 1 && U->kind == WG_VALUE && !U->is_output && U->view_of < 0) {
                /* the norm's input has no other reader: normalise it in
                 * place, and the conv reads it as is (cheaper than applying
                 * the norm per im2col element, at no extra memory) */
                l->gn_inplace[pn] = 1;
            } else {
                l->conv_gn[i] = pn;
                l->gn_into_conv[pn] = i;
            }
        } else {
            continue;
        }
        c->in[0] = u->in[0];
        g->t[x].ndim = 1; /* never materialised */
        g->t[x].shape[0] = 1;
    }
    /* linear -> geglu: the linear computes x * gelu(gate) itself; the
     * 2F-wide product is never stored */
    for (int i = 0; i < nn && !l->o->no_fusion; i++) {
        wg_node *ln = &g->nodes[i];
        if (ln->op != WG_OP_LINEAR) continue;
        int o = ln->out;
        const wg_tensor *O = &g->t[o];
        if (readers[o] != 1 || O->is_output || O->view_of >= 0) continue;
        int gi = -1;
        for (int j = i + 1; j < nn && gi < 0; j++)
            for (int k = 0; k < g->nodes[j].n_in; k++)
                if (g->nodes[j].in[k] == o) gi = j;
        if (gi < 0 || g->nodes[gi].op != WG_OP_GEGLU) continue;
        const wg_tensor *Wt = &g->t[ln->in[1]];
        uint64_t K = (uint64_t)Wt->shape[1], N2 = (uint64_t)Wt->shape[0];
        uint64_t M = (uint64_t)wg_numel(&g->t[ln->in[0]]) / K;
        if (N2 % 2 || M * (N2 / 2) * 4 > l->maxsub || M * K * 4 > l->maxsub) continue;
        char sig[200];
        wgl_node_signature(g, ln, l->o->weights_f16, sig, sizeof sig);
        gemm_pick pk = pick_gemm(l, sig, M, N2, 1, K, 0, 0);
        if (pk.v->ref || pk.v->tn % 2) continue;
        /* the linear now produces the geglu's output */
        fold_into(l, i, gi);
        l->lin_geglu[i] = 1;
    }
    /* conv2d / linear -> add(y, r): the GEMM adds r where it stores y (or
     * its split-K reduction does); y is never stored. r must exist before the
     * GEMM runs and becomes its input, so the planner keeps it alive. */
    for (int i = 0; i < nn; i++) l->gemm_res[i] = -1;
    for (int b = 0; b < nn && !l->o->no_fusion; b++) {
        wg_node *an = &g->nodes[b];
        if (an->op != WG_OP_ADD || an->n_in != 2 || l->skip[b]) continue;
        for (int side = 0; side < 2; side++) {
            int y = an->in[side], r = an->in[1 - side];
            const wg_tensor *Y = &g->t[y], *R = &g->t[r];
            int p = Y->producer;
            if (y == r || p < 0 || readers[y] != 1 || Y->is_output || Y->kind != WG_VALUE || Y->view_of >= 0) continue;
            if (R->ndim != Y->ndim || memcmp(R->shape, Y->shape, sizeof(int64_t) * (size_t)Y->ndim)) continue;
            if (g->t[proot(l, r)].producer >= p) continue; /* r is computed after the GEMM */
            wg_node *pn = &g->nodes[p];
            if (l->gemm_res[p] >= 0 || pn->n_in > 3) continue;
            if (pn->op == WG_OP_CONV2D) {
                const gemm_variant *cv = l->conv_pick[p].v;
                if (cv->ref || cv->patch || cv->wino) continue;
            } else if (pn->op == WG_OP_LINEAR) {
                if (l->lin_geglu[p]) continue;
                const wg_tensor *Wt = &g->t[pn->in[1]];
                uint64_t K = (uint64_t)Wt->shape[1], N = (uint64_t)Wt->shape[0];
                char sig[200];
                wgl_node_signature(g, pn, l->o->weights_f16, sig, sizeof sig);
                if (pick_gemm(l, sig, (uint64_t)wg_numel(&g->t[pn->in[0]]) / K, N, 1, K, 0, 1).v->ref) continue;
            } else {
                continue;
            }
            /* the GEMM now produces the sum */
            if (pn->n_in < 3) pn->in[2] = -1;
            pn->in[3] = r;
            pn->n_in = 4;
            fold_into(l, p, b);
            l->gemm_res[p] = r;
            break;
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < nn; i++) {
        const wg_node *n = &g->nodes[i];
        if (n->op != WG_OP_GROUP_NORM) continue;
        const wg_tensor *X = &g->t[n->in[0]];
        uint64_t N = (uint64_t)X->shape[0], C = (uint64_t)X->shape[1];
        l->gn_stats_off[i] = off;
        off += (N * (uint64_t)n->ip[0] * 2 * 4 + 255) & ~255ull;
        if (l->gn_into_conv[i] >= 0) {
            l->gn_coef_off[i] = off;
            off += (N * C * 2 * 4 + 255) & ~255ull;
        }
    }
    l->persist_bytes = off;
    l->p->scratch_bytes = off;
    free(readers);
    return WSD_OK;
}

static wsd_status lower_node(L *l, int idx)
{
    const wg_node *n = &l->pg.nodes[idx];
    if (l->skip[idx]) return WSD_OK;
    switch (n->op) {
    case WG_OP_SILU: case WG_OP_GELU: case WG_OP_QUICK_GELU: case WG_OP_SCALE: case WG_OP_CLAMP:
        return lower_ew(l, n, idx);
    case WG_OP_ADD: case WG_OP_MUL: return lower_binary(l, n, idx);
    case WG_OP_GEGLU: return lower_geglu(l, n, idx);
    case WG_OP_SOFTMAX: return lower_rows(l, n, idx, 0);
    case WG_OP_LAYER_NORM: return lower_rows(l, n, idx, 1);
    case WG_OP_GROUP_NORM: return lower_group_norm(l, n, idx);
    case WG_OP_CONV2D: return lower_conv(l, n, idx);
    case WG_OP_LINEAR: return lower_linear(l, n, idx);
    case WG_OP_ATTENTION: return lower_attention(l, n, idx);
    case WG_OP_CONCAT: return lower_concat(l, n, idx);
    case WG_OP_SLICE: return lower_slice(l, n, idx);
    case WG_OP_TRANSPOSE: return lower_transpose(l, n, idx);
    case WG_OP_UPSAMPLE_NEAREST: return lower_upsample(l, n, idx);
    case WG_OP_EMBEDDING: return lower_embedding(l, n, idx);
    case WG_OP_TIMESTEP_EMBED: return lower_timestep(l, n, idx);
    case WG_OP_LINPROG: return lower_linprog(l, n, idx);
    case WG_OP_RESHAPE: return WSD_OK;
    default:
        return wsd_fail(l->err, WSD_ERR_UNSUPPORTED, "webgpu: no kernel for %s", wg_op_name(n->op));
    }
}

void wgl_prog_free(wgl_prog *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_pipes; i++) free(p->pipes[i].wgsl);
    free(p->pipes);
    free(p->cmds);
    free(p->params);
    free(p->consts);
    free(p->t_chunk);
    free(p->t_off);
    memset(p, 0, sizeof *p);
}

static void lower_free(L *l)
{
    free(l->pg.t);
    free(l->pg.nodes);
    free(l->skip);
    free(l->conv_up2);
    free(l->conv_gn);
    free(l->gn_into_conv);
    free(l->gn_inplace);
    free(l->lin_geglu);
    free(l->gemm_res);
    free(l->conv_pick);
    free(l->gn_stats_off);
    free(l->gn_coef_off);
    l->pg.t = NULL;
    l->pg.nodes = NULL;
}

wsd_status wgl_lower(const wg_graph *g, const wgl_options *opt, wgl_prog *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    WSD_TRY(wg_status(g, err));
    if (!opt->weight) return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: lowering needs a weight resolver");
    L l;
    memset(&l, 0, sizeof l);
    l.g = g;
    l.o = opt;
    l.caps = &opt->caps;
    l.p = out;
    l.maxb = opt->caps.max_storage_binding & ~255ull;
    {
        uint64_t a = opt->caps.min_storage_align ? opt->caps.min_storage_align : 256;
        l.maxsub = l.maxb > 2 * a ? l.maxb - a : l.maxb / 2;
    }
    l.maxdim = opt->caps.max_workgroups_per_dim;
    l.err = err;

    /* Plan on a private copy of the tensor table: the planner rewrites
     * offsets and in-place decisions, and the caller's graph is const. */
    l.pg = *g;
    l.pg.t = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *l.pg.t);
    l.pg.nodes = NULL;
    out->t_chunk = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *out->t_chunk);
    out->t_off = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *out->t_off);
    if (!l.pg.t || !out->t_chunk || !out->t_off) {
        free(l.pg.t);
        wgl_prog_free(out);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    }
    memcpy(l.pg.t, g->t, (size_t)g->n_tensors * sizeof *l.pg.t);
    /* A caller may have planned g already (the pipeline does): its in-place
     * views would read as extra readers to the fusions below, which then
     * refuse. Only reshapes are views by construction; the planner decides
     * in place again after the fusions. */
    for (int i = 0; i < g->n_tensors; i++)
        if (l.pg.t[i].view_of >= 0 && (l.pg.t[i].producer < 0 || g->nodes[l.pg.t[i].producer].op != WG_OP_RESHAPE))
            l.pg.t[i].view_of = -1;
    l.pg.cap_tensors = g->n_tensors;
    size_t nn = (size_t)(g->n_nodes ? g->n_nodes : 1);
    l.pg.nodes = malloc(nn * sizeof *l.pg.nodes);
    l.skip = calloc(nn, sizeof *l.skip);
    l.conv_up2 = calloc(nn, sizeof *l.conv_up2);
    l.conv_gn = calloc(nn, sizeof *l.conv_gn);
    l.gn_into_conv = calloc(nn, sizeof *l.gn_into_conv);
    l.gn_inplace = calloc(nn, sizeof *l.gn_inplace);
    l.lin_geglu = calloc(nn, sizeof *l.lin_geglu);
    l.gemm_res = malloc(nn * sizeof *l.gemm_res);
    l.conv_pick = calloc(nn, sizeof *l.conv_pick);
    l.gn_stats_off = calloc(nn, sizeof *l.gn_stats_off);
    l.gn_coef_off = calloc(nn, sizeof *l.gn_coef_off);
    wsd_status st = WSD_OK;
    if (!l.pg.nodes || !l.skip || !l.conv_up2 || !l.conv_gn || !l.gn_into_conv || !l.gn_inplace || !l.lin_geglu || !l.gemm_res || !l.conv_pick || !l.gn_stats_off ||
        !l.gn_coef_off)
        st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    else
        memcpy(l.pg.nodes, g->nodes, (size_t)g->n_nodes * sizeof *l.pg.nodes);
    if (st == WSD_OK) st = prepass(&l);
    if (st != WSD_OK) {
        lower_free(&l);
        wgl_prog_free(out);
        return st;
    }
    out->n_tensors = g->n_tensors;
    wg_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.chunk_bytes = wgl_chunk_bytes(&opt->caps);
    st = wg_plan_memory(&l.pg, &plan, err);
    if (st != WSD_OK) {
        lower_free(&l);
        wgl_prog_free(out);
        return wsd_fail_prefix(err, "webgpu: ");
    }
    out->plan = plan;
    out->chunk_bytes = plan.chunk_bytes;
    uint64_t arena = plan.arena_bytes ? plan.arena_bytes : 256;
    out->n_chunks = (int)((arena + plan.chunk_bytes - 1) / plan.chunk_bytes);
    if (out->n_chunks > 64) {
        lower_free(&l);
        wgl_prog_free(out);
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: the activation arena (%llu bytes) needs more than 64 buffers",
                        (unsigned long long)arena);
    }
    for (int c = 0; c < out->n_chunks; c++) {
        uint64_t left = arena - (uint64_t)c * plan.chunk_bytes;
        out->chunk_size[c] = left < plan.chunk_bytes ? left : plan.chunk_bytes;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        int r = proot(&l, i);
        if (l.pg.t[r].kind == WG_WEIGHT) {
            out->t_chunk[i] = -1;
            out->t_off[i] = 0;
        } else {
            out->t_chunk[i] = (int)(l.pg.t[r].offset / plan.chunk_bytes);
            out->t_off[i] = l.pg.t[r].offset % plan.chunk_bytes;
        }
    }
    for (int i = 0; i < g->n_nodes && st == WSD_OK; i++) {
        st = lower_node(&l, i);
        if (st != WSD_OK)
            wsd_fail_prefix(err, "node %d (%s -> %s): ", i, wg_op_name(g->nodes[i].op),
                            g->t[g->nodes[i].out].name ? g->t[g->nodes[i].out].name : "intermediate");
    }
    /* held commands (wg_held_nodes on the fused graph); none when a link
     * rewrites a held input on every run. The links (g->links) are copies
     * appended after the last node. */
    char *held = calloc(nn, 1);
    if (!held && st == WSD_OK) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    if (st == WSD_OK) {
        wg_held_nodes(&l.pg, held);
        int link_held = 0;
        for (int i = 0; i < g->n_links; i++)
            link_held |= g->links[i].dst >= 0 && g->links[i].dst < g->n_tensors && g->t[g->links[i].dst].held;
        for (int i = 0; i < out->n_cmds; i++)
            out->cmds[i].held = !link_held && out->cmds[i].node >= 0 && held[out->cmds[i].node];
    }
    free(held);
    for (int i = 0; i < g->n_links && st == WSD_OK; i++) {
        int s = g->links[i].src, d = g->links[i].dst;
        if (s < 0 || d < 0 || s >= g->n_tensors || d >= g->n_tensors || !g->t[s].is_output ||
            g->t[d].kind != WG_INPUT || wg_numel(&g->t[s]) != wg_numel(&g->t[d]) ||
            wsd_dtype_size(g->t[s].dtype) != 4 || wsd_dtype_size(g->t[d].dtype) != 4) {
            st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: link %d must copy a graph output into an input of the same size", i);
            break;
        }
        uint64_t n = (uint64_t)wg_numel(&g->t[s]);
        st = lower_blocks(&l, -1, s, 0, n, d, 0, n, 1, n);
    }
    lower_free(&l);
    if (st != WSD_OK) {
        wgl_prog_free(out);
        return st;
    }
    if (out->scratch_bytes == 0) out->scratch_bytes = 256;
    out->scratch_bytes = (out->scratch_bytes + 255) & ~255ull;
    return WSD_OK;
}
