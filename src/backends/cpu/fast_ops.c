/* Fast CPU kernels on the packed GEMM and the ISA table (fast_ops.h). */
#include "backends/cpu/fast_ops.h"

#include <math.h>
#include <string.h>

/* ---- convolution and linear ---- */

int fast_conv2d(cpu_ctx *c, const conv_geom *g0, const void *w, wsd_dtype wdt, int64_t Co,
                const float *bias, const float *bias_nc, const float *res, float *y, int flags)
{
    conv_geom g = *g0;
    if (g.up <= 0) g.up = 1;
    if (!g.ta) g.silu = 0;
    /* A 1x1 stride-1 unpadded conv sees each image as one long row. */
    if (g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad_t == 0 && g.pad_l == 0 && g.up == 1 &&
        g.Ho == g.H && g.Wo == g.W) {
        g.W = g.H * g.W;
        g.H = 1;
        g.Wo = g.W;
        g.Ho = 1;
    }
    int64_t K = g.Ci * g.kh * g.kw, HWo = g.Ho * g.Wo;
    gemm_src A = {GS_ROWS, wdt, w, K, 0.0f, NULL};
    gemm_src B = {GS_CONV, WSD_DT_F32, NULL, 0, 0.0f, &g};
    gemm_out o = {y, HWo, HWo, Co * HWo, bias, NULL, bias_nc, res};
    return gemm_run(c, NULL, Co, g.Nb * HWo, K, &A, &B, &o, flags);
}

int fast_linear(cpu_ctx *c, const float *x, const void *w, wsd_dtype wdt, const float *bias, const float *res,
                float *y, int64_t M, int64_t K, int64_t N)
{
    gemm_src A = {GS_ROWS, WSD_DT_F32, x, K, 0.0f, NULL};
    gemm_src B = {GS_ROWS, wdt, w, K, 0.0f, NULL};
    gemm_out o = {y, N, 0, 0, NULL, bias, NULL, res};
    return gemm_run(c, NULL, M, N, K, &A, &B, &o, 0);
}

/* ---- attention ----
 * K and V of every (batch, head) are packed once into the shared scratch as
 * GEMM B panels (K: key slivers x D; V: value-dim slivers x Tk). Each task
 * then takes qb query rows of one head: S = (scale Q) K^T one key block at a
 * time, running max / sum per row (online softmax), O = O * corr + P V. */

typedef struct {
    cpu_ctx *c;
    const float *q, *k, *v;
    float *y;
    int64_t B, Tq, Tk, H, D, Dv;
    float scale;
    int causal;
    const cpu_kernel *ks, *kv; /* kernels for S = Q K^T and O += P V */
    int64_t qb, kbk;           /* query rows per task, keys per block */
    int64_t kp_size, vp_size;  /* floats per (b, h) packed K, V */
    int64_t dv_pad;
    int64_t nqb;               /* query blocks per head */
} attn_job;

static void attn_pack_task(void *p, int64_t bh, int thread)
{
    const attn_job *j = p;
    int64_t b = bh / j->H, h = bh % j->H;
    float *kp = j->c->shared + bh * (j->kp_size + j->vp_size), *vp = kp + j->kp_size;
    gemm_src ks = {GS_ROWS, WSD_DT_F32, j->k + b * j->Tk * j->H * j->D + h * j->D, j->H * j->D, 0.0f, NULL};
    gemm_src vs = {GS_COLS, WSD_DT_F32, j->v + b * j->Tk * j->H * j->Dv + h * j->Dv, j->H * j->Dv, 0.0f, NULL};
    gemm_pack(&ks, 0, j->Tk, 0, j->D, j->ks->nr, kp, j->c->isa, j->c->scratch[thread]);
    gemm_pack(&vs, 0, j->Dv, 0, j->Tk, j->kv->nr, vp, j->c->isa, j->c->scratch[thread]);
}

static void attn_task(void *p, int64_t task, int thread)
{
    const attn_job *j = p;
    const cpu_isa *isa = j->c->isa;
    int64_t bh = task / j->nqb, qi = task % j->nqb;
    int64_t b = bh / j->H, h = bh % j->H;
    int64_t i0 = qi * j->qb, nq = j->Tq - i0 < j->qb ? j->Tq - i0 : j->qb;
    const int mr = j->ks->mr, nr = j->ks->nr, nrv = j->kv->nr, mrv = j->kv->mr;
    const float *kp = j->c->shared + bh * (j->kp_size + j->vp_size), *vp = kp + j->kp_size;
    const int64_t qs = j->H * j->D, vs = j->H * j->Dv;
    const int64_t qb_r = (j->qb + 15) / 16 * 16 + 48; /* rows padded for either kernel's mr */

    float *Qp = j->c->scratch[thread];
    float *S = Qp + qb_r * j->D;
    float *Pp = S + qb_r * j->kbk;
    float *O = Pp + qb_r * j->kbk;
    float *mx = O + qb_r * j->dv_pad;
    float *l = mx + qb_r;
    float *tmp = l + qb_r;

    gemm_src qsrc = {GS_ROWS, WSD_DT_F32, j->q + (b * j->Tq + i0) * qs + h * j->D, qs, j->scale, NULL};
    gemm_pack(&qsrc, 0, nq, 0, j->D, mr, Qp, isa, tmp);
    int64_t nqr = (nq + mr - 1) / mr * mr, nqv = (nq + mrv - 1) / mrv * mrv;
    memset(O, 0, (size_t)(nqv * j->dv_pad) * sizeof(float));
    for (int64_t i = 0; i < nqv; i++) {
        mx[i] = -INFINITY;
        l[i] = 0.0f;
    }
    int64_t kend = j->Tk;
    if (j->causal && i0 + nq < kend) kend = i0 + nq; /* keys beyond the last row's position are all masked */
    for (int64_t j0 = 0; j0 < kend; j0 += j->kbk) {
        int64_t nk = kend - j0 < j->kbk ? kend - j0 : j->kbk;
        int64_t nks = (nk + nr - 1) / nr;
        /* S[nqr][kbk] = Qp Kp^T for this key block */
        for (int64_t js = 0; js < nks; js++) {
            const float *bk = kp + (j0 / nr + js) * nr * j->D;
            for (int64_t is = 0; is * mr < nq; is++)
                j->ks->fn(j->D, Qp + is * mr * j->D, bk, S + is * mr * j->kbk + js * nr, j->kbk, 0);
        }
        for (int64_t i = 0; i < nq; i++) {
            float *srow = S + i * j->kbk;
            int64_t valid = nk;
            if (j->causal) {
                int64_t lim = i0 + i + 1 - j0; /* keys j0 + t with t < lim are visible */
                if (lim < valid) valid = lim < 0 ? 0 : lim;
            }
            for (int64_t t = valid; t < nk; t++) srow[t] = -INFINITY;
            float bm = isa->max(srow, nk);
            float mnew = bm > mx[i] ? bm : mx[i];
            float corr = mx[i] == -INFINITY ? 0.0f : expf(mx[i] - mnew);
            float s = mnew == -INFINITY ? 0.0f : isa->exp_sum(srow, srow, nk, mnew);
            if (mnew == -INFINITY) memset(srow, 0, (size_t)nk * sizeof(float));
            l[i] = l[i] * corr + s;
            mx[i] = mnew;
            if (corr != 1.0f) isa->scale(O + i * j->dv_pad, j->dv_pad, corr);
        }
        /* O[nq][dv] += P V */
        gemm_src psrc = {GS_ROWS, WSD_DT_F32, S, j->kbk, 0.0f, NULL};
        gemm_pack(&psrc, 0, nq, 0, nk, mrv, Pp, isa, tmp);
        int64_t nvs = (j->Dv + nrv - 1) / nrv;
        for (int64_t js = 0; js < nvs; js++) {
            const float *bv = vp + js * nrv * j->Tk + j0 * nrv;
            for (int64_t is = 0; is * mrv < nq; is++)
                j->kv->fn(nk, Pp + is * mrv * nk, bv, O + is * mrv * j->dv_pad + js * nrv, j->dv_pad, 1);
        }
    }
    (void)nqr;
    for (int64_t i = 0; i < nq; i++) {
        float *yr = j->y + (b * j->Tq + i0 + i) * vs + h * j->Dv;
        float inv = 1.0f / l[i];
        const float *orow = O + i * j->dv_pad;
        for (int64_t d = 0; d < j->Dv; d++) yr[d] = orow[d] * inv;
    }
}

int fast_attention(cpu_ctx *c, const float *q, const float *k, const float *v, float *y,
                   int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, int64_t Dv, float scale, int causal)
{
    if (B <= 0 || Tq <= 0 || H <= 0) return 0;
    attn_job j;
    memset(&j, 0, sizeof j);
    j.c = c;
    j.q = q;
    j.k = k;
    j.v = v;
    j.y = y;
    j.B = B;
    j.Tq = Tq;
    j.Tk = Tk;
    j.H = H;
    j.D = D;
    j.Dv = Dv;
    j.scale = scale;
    j.causal = causal;
    j.ks = &c->isa->gemm;
    /* few value columns: the narrow kernel wastes less padding */
    int64_t pad_main = (Dv + c->isa->gemm.nr - 1) / c->isa->gemm.nr * c->isa->gemm.nr;
    int64_t pad_narrow = (Dv + c->isa->narrow.nr - 1) / c->isa->narrow.nr * c->isa->narrow.nr;
    j.kv = pad_narrow < pad_main ? &c->isa->narrow : &c->isa->gemm;
    j.dv_pad = pad_narrow < pad_main ? pad_narrow : pad_main;
    const int64_t nr = j.ks->nr, mr = j.ks->mr;
    j.kbk = Tk <= 512 ? (Tk + nr - 1) / nr * nr : 256;
    j.qb = mr * (D >= 256 ? 4 : 8);
    if (Tq < j.qb) j.qb = Tq;
    j.nqb = (Tq + j.qb - 1) / j.qb;
    j.kp_size = (Tk + nr - 1) / nr * nr * D;
    j.vp_size = j.dv_pad * Tk;
    if (Tk == 0) {
        memset(y, 0, (size_t)(B * Tq * H * Dv) * sizeof(float));
        return 0;
    }
    int64_t qb_r = (j.qb + 15) / 16 * 16 + 48;
    size_t per_thread = (size_t)(qb_r * D + 2 * qb_r * j.kbk + qb_r * j.dv_pad + 2 * qb_r + j.kbk + Tk + D + 512);
    if (cpu_ctx_reserve(c, per_thread, (size_t)(B * H * (j.kp_size + j.vp_size))) != 0) return -1;
    cpu_parallel(c, B * H, attn_pack_task, &j);
    cpu_parallel(c, B * H * j.nqb, attn_task, &j);
    return 0;
}

/* ---- normalisation ---- */

typedef struct {
    cpu_ctx *c;
    const float *x, *gamma, *beta;
    float *y;
    int64_t C, S;
    int G;
    float eps;
    float *tm, *ta, *tb;
    int silu;
} norm_job;

static void gn_stats_task(void *p, int64_t job, int thread)
{
    const norm_job *j = p;
    const cpu_isa *isa = j->c->isa;
    int64_t cpg = j->C / j->G, n = job / j->G, g = job % j->G;
    const float *x = j->x + (n * j->C + g * cpg) * j->S;
    int64_t cnt = cpg * j->S;
    double mean = isa->sum(x, cnt) / (double)cnt;
    double var = isa->sum_sqdev(x, cnt, (float)mean) / (double)cnt;
    float rstd = (float)(1.0 / sqrt(var + j->eps));
    for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ch++) {
        j->tm[n * j->C + ch] = (float)mean;
        j->ta[n * j->C + ch] = j->gamma[ch] * rstd;
        j->tb[n * j->C + ch] = j->beta[ch];
    }
    (void)thread;
}

void fast_group_norm_stats(cpu_ctx *c, const float *x, const float *gamma, const float *beta,
                           int64_t N, int64_t C, int64_t S, int G, float eps, float *tm, float *ta, float *tb)
{
    norm_job j = {c, x, gamma, beta, NULL, C, S, G, eps, tm, ta, tb, 0};
    cpu_parallel(c, N * G, gn_stats_task, &j);
}

static void affine_task(void *p, int64_t plane, int thread)
{
    const norm_job *j = p;
    j->c->isa->affine(j->x + plane * j->S, j->y + plane * j->S, j->S, j->tm[plane], j->ta[plane], j->tb[plane], j->silu);
    (void)thread;
}

void fast_affine_planes(cpu_ctx *c, const float *x, float *y, int64_t planes, int64_t S,
                        const float *tm, const float *ta, const float *tb, int silu)
{
    norm_job j = {c, x, NULL, NULL, y, 0, S, 1, 0.0f, (float *)tm, (float *)ta, (float *)tb, silu};
    cpu_parallel(c, planes, affine_task, &j);
}

#define ROWS_PER_TASK 16

static void ln_task(void *p, int64_t task, int thread)
{
    const norm_job *j = p;
    const cpu_isa *isa = j->c->isa;
    for (int64_t m = task * ROWS_PER_TASK; m < (task + 1) * ROWS_PER_TASK && m < j->S; m++) {
        const float *x = j->x + m * j->C;
        double mean = isa->sum(x, j->C) / (double)j->C;
        double var = isa->sum_sqdev(x, j->C, (float)mean) / (double)j->C;
        float rstd = (float)(1.0 / sqrt(var + j->eps));
        isa->norm_row(x, j->y + m * j->C, j->C, (float)mean, rstd, j->gamma, j->beta);
    }
    (void)thread;
}

void fast_layer_norm(cpu_ctx *c, const float *x, const float *gamma, const float *beta, float *y, int64_t M, int64_t C, float eps)
{
    norm_job j = {c, x, gamma, beta, y, C, M, 1, eps, NULL, NULL, NULL, 0};
    cpu_parallel(c, (M + ROWS_PER_TASK - 1) / ROWS_PER_TASK, ln_task, &j);
}

/* ---- element-wise ---- */

#define EW_CHUNK 16384

typedef struct {
    cpu_ctx *c;
    int op;
    const float *a, *b;
    float *y;
    int64_t n, F;
} ew_job;

static void ew_task(void *p, int64_t task, int thread)
{
    const ew_job *j = p;
    const cpu_isa *isa = j->c->isa;
    int64_t i0 = task * EW_CHUNK, cnt = j->n - i0 < EW_CHUNK ? j->n - i0 : EW_CHUNK;
    switch (j->op) {
    case FAST_SILU: isa->silu(j->a + i0, j->y + i0, cnt); break;
    case FAST_GELU: isa->gelu(j->a + i0, j->y + i0, cnt); break;
    case FAST_QUICK_GELU: isa->quick_gelu(j->a + i0, j->y + i0, cnt); break;
    default: isa->add(j->a + i0, j->b + i0, j->y + i0, cnt); break;
    }
    (void)thread;
}

void fast_unary(cpu_ctx *c, int op, const float *x, float *y, int64_t n)
{
    ew_job j = {c, op, x, NULL, y, n, 0};
    cpu_parallel(c, (n + EW_CHUNK - 1) / EW_CHUNK, ew_task, &j);
}

void fast_add(cpu_ctx *c, const float *a, const float *b, float *y, int64_t n)
{
    ew_job j = {c, -1, a, b, y, n, 0};
    cpu_parallel(c, (n + EW_CHUNK - 1) / EW_CHUNK, ew_task, &j);
}

static void geglu_task(void *p, int64_t task, int thread)
{
    const ew_job *j = p;
    for (int64_t m = task * ROWS_PER_TASK; m < (task + 1) * ROWS_PER_TASK && m < j->n; m++)
        j->c->isa->geglu(j->a + m * 2 * j->F, j->a + m * 2 * j->F + j->F, j->y + m * j->F, j->F);
    (void)thread;
}

void fast_geglu(cpu_ctx *c, const float *x, float *y, int64_t M, int64_t F)
{
    ew_job j = {c, 0, x, NULL, y, M, F};
    cpu_parallel(c, (M + ROWS_PER_TASK - 1) / ROWS_PER_TASK, geglu_task, &j);
}

typedef struct {
    const float *x;
    float *y;
    int64_t A, B, tiles_a, tiles_b;
} tr_job;

#define TR_TILE 32

static void tr_task(void *p, int64_t task, int thread)
{
    const tr_job *j = p;
    int64_t per = j->tiles_a * j->tiles_b, n = task / per, t = task % per;
    int64_t a0 = (t / j->tiles_b) * TR_TILE, b0 = (t % j->tiles_b) * TR_TILE;
    int64_t a1 = a0 + TR_TILE < j->A ? a0 + TR_TILE : j->A, b1 = b0 + TR_TILE < j->B ? b0 + TR_TILE : j->B;
    const float *x = j->x + n * j->A * j->B;
    float *y = j->y + n * j->A * j->B;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t a = a0; a < a1; a++) y[b * j->A + a] = x[a * j->B + b];
    (void)thread;
}

void fast_transpose(cpu_ctx *c, const float *x, float *y, int64_t N, int64_t A, int64_t B)
{
    /* tasks of 32 x 32 tiles, grouped so each task does a few */
    tr_job j = {x, y, A, B, (A + TR_TILE - 1) / TR_TILE, (B + TR_TILE - 1) / TR_TILE};
    cpu_parallel(c, N * j.tiles_a * j.tiles_b, tr_task, &j);
}

static void softmax_task(void *p, int64_t task, int thread)
{
    const ew_job *j = p;
    const cpu_isa *isa = j->c->isa;
    for (int64_t m = task * ROWS_PER_TASK; m < (task + 1) * ROWS_PER_TASK && m < j->n; m++) {
        const float *x = j->a + m * j->F;
        float *y = j->y + m * j->F;
        float mx = isa->max(x, j->F);
        float s = isa->exp_sum(x, y, j->F, mx);
        isa->scale(y, j->F, 1.0f / s);
    }
    (void)thread;
}

void fast_softmax(cpu_ctx *c, const float *x, float *y, int64_t M, int64_t C)
{
    ew_job j = {c, 0, x, NULL, y, M, C};
    cpu_parallel(c, (M + ROWS_PER_TASK - 1) / ROWS_PER_TASK, softmax_task, &j);
}

int64_t fast_embedding(const cpu_isa *isa, const int32_t *ids, const void *table, wsd_dtype dt, float *y, int64_t n, int64_t V, int64_t C)
{
    size_t es = wsd_dtype_size(dt);
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) return i;
        const unsigned char *row = (const unsigned char *)table + (size_t)ids[i] * (size_t)C * es;
        if (dt == WSD_DT_F32) memcpy(y + i * C, row, (size_t)C * sizeof(float));
        else if (dt == WSD_DT_F16) isa->f16_to_f32((const uint16_t *)(const void *)row, y + i * C, C);
        else wsd_convert_to_f32(dt, row, y + i * C, (size_t)C);
    }
    return -1;
}
