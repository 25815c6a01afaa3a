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
    gemm_out o = {y, HWo, 1, HWo, Co * HWo, bias, NULL, bias_nc, res};
    return gemm_run(c, NULL, Co, g.Nb * HWo, K, &A, &B, &o, flags);
}

int fast_linear(cpu_ctx *c, const float *x, const void *w, wsd_dtype wdt, const float *bias, const float *res,
                float *y, int64_t M, int64_t K, int64_t N)
{
    gemm_src X = {GS_ROWS, WSD_DT_F32, x, K, 0.0f, NULL};
    gemm_src Wt = {GS_ROWS, wdt, w, K, 0.0f, NULL};
    if (M < 256 && N > M) {
        /* few rows: y^T = W x^T, so the (large) weights are the A operand,
         * widened row by row, and only the few activations are packed */
        gemm_out o = {y, 1, N, 0, 0, bias, NULL, NULL, res};
        return gemm_run(c, NULL, N, M, K, &Wt, &X, &o, 0);
    }
    gemm_out o = {y, N, 1, 0, 0, NULL, bias, NULL, res};
    return gemm_run(c, NULL, M, N, K, &X, &Wt, &o, 0);
}

/* ---- attention ----
 * Worked transposed, so that the softmax runs across vector lanes: for a block
 * of queries, S^T = K Q^T comes out of the micro-kernel as key rows of nr
 * query lanes, which is exactly the packed B layout of the next product
 * O^T += V^T P^T. Row maxima, exponentials, sums and the rescaling of O by
 * the online softmax are then plain lane-wise vector operations, and P is
 * never repacked. K and V of every (batch, head) are packed once into the
 * shared scratch (K as mr-key slivers over D, V^T as mr-wide value slivers
 * over all keys); each task takes qb queries of one head and walks the keys
 * in blocks of kbk. */

typedef struct {
    cpu_ctx *c;
    const float *q, *k, *v;
    float *y;
    int64_t B, Tq, Tk, H, D, Dv;
    float scale;
    int causal;
    const cpu_kernel *kern;
    int64_t qb, kbk;           /* queries per task (multiple of nr), keys per block (multiple of mr) */
    int64_t kp_size, vp_size;  /* floats per (b, h) packed K, V */
    int64_t dv_pad;            /* Dv rounded up to mr */
    int64_t nqb;               /* query blocks per head */
} attn_job;

static void attn_pack_task(void *p, int64_t bh, int thread)
{
    const attn_job *j = p;
    int64_t b = bh / j->H, h = bh % j->H;
    const int mr = j->kern->mr;
    float *kp = j->c->shared + bh * (j->kp_size + j->vp_size), *vp = kp + j->kp_size;
    gemm_src ks = {GS_ROWS, WSD_DT_F32, j->k + b * j->Tk * j->H * j->D + h * j->D, j->H * j->D, 0.0f, NULL};
    gemm_src vs = {GS_COLS, WSD_DT_F32, j->v + b * j->Tk * j->H * j->Dv + h * j->Dv, j->H * j->Dv, 0.0f, NULL};
    gemm_pack(&ks, 0, j->Tk, 0, j->D, mr, kp, j->c->isa, j->c->scratch[thread]);
    gemm_pack(&vs, 0, j->Dv, 0, j->Tk, mr, vp, j->c->isa, j->c->scratch[thread]);
}

static void attn_task(void *p, int64_t task, int thread)
{
    const attn_job *j = p;
    const cpu_isa *isa = j->c->isa;
    const int mr = j->kern->mr, nr = j->kern->nr;
    int64_t bh = task / j->nqb, qi = task % j->nqb;
    int64_t b = bh / j->H, h = bh % j->H;
    int64_t i0 = qi * j->qb, nq = j->Tq - i0 < j->qb ? j->Tq - i0 : j->qb;
    int64_t nqs = (nq + nr - 1) / nr;
    const float *kp = j->c->shared + bh * (j->kp_size + j->vp_size), *vp = kp + j->kp_size;
    const int64_t qs_ld = j->H * j->D, vs_ld = j->H * j->Dv;

    float *Qp = j->c->scratch[thread];
    float *ST = Qp + j->qb * j->D;
    float *OT = ST + j->qb * (j->kbk + mr);
    float *m = OT + j->qb * j->dv_pad;
    float *l = m + j->qb, *mnew = l + j->qb, *msub = mnew + j->qb, *corr = msub + j->qb;

    gemm_src qsrc = {GS_ROWS, WSD_DT_F32, j->q + (b * j->Tq + i0) * qs_ld + h * j->D, qs_ld, j->scale, NULL};
    gemm_pack(&qsrc, 0, nq, 0, j->D, nr, Qp, isa, corr + j->qb);
    memset(OT, 0, (size_t)(nqs * nr * j->dv_pad) * sizeof(float));
    for (int64_t i = 0; i < nqs * nr; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    int64_t kend = j->Tk;
    if (j->causal && i0 + nq < kend) kend = i0 + nq; /* later keys are masked for every query here */
    const int64_t st_ld = j->kbk + mr;                /* floats per query sliver of S^T, over nr */
    for (int64_t j0 = 0; j0 < kend; j0 += j->kbk) {
        int64_t nk = kend - j0 < j->kbk ? kend - j0 : j->kbk;
        int64_t nks = (nk + mr - 1) / mr;
        for (int64_t ks = 0; ks < nks; ks++) {
            const float *a = kp + (j0 / mr + ks) * mr * j->D;
            for (int64_t qs = 0; qs < nqs; qs++)
                j->kern->fn(j->D, a, 1, mr, Qp + qs * j->D * nr, ST + qs * st_ld * nr + ks * mr * nr, nr, 0);
        }
        for (int64_t qs = 0; qs < nqs; qs++) {
            float *st = ST + qs * st_ld * nr, *mq = m + qs * nr, *lq = l + qs * nr;
            float *mn = mnew + qs * nr, *ms = msub + qs * nr, *cq = corr + qs * nr;
            if (j->causal)
                for (int64_t r = 0; r < nk; r++)
                    for (int t = 0; t < nr; t++)
                        if (j0 + r > i0 + qs * nr + t) st[r * nr + t] = -INFINITY;
            memcpy(mn, mq, (size_t)nr * sizeof(float));
            isa->col_max(st, nk, nr, mn);
            int rescale = 0;
            for (int t = 0; t < nr; t++) {
                cq[t] = mq[t] == -INFINITY ? 0.0f : expf(mq[t] - mn[t]);
                ms[t] = mn[t] == -INFINITY ? 0.0f : mn[t];
                lq[t] *= cq[t];
                mq[t] = mn[t];
                rescale |= cq[t] != 1.0f;
            }
            isa->col_exp(st, nk, nr, ms, lq);
            if (rescale && j0 > 0) isa->col_scale(OT + qs * j->dv_pad * nr, j->dv_pad, nr, cq);
        }
        for (int64_t ds = 0; ds * mr < j->dv_pad; ds++) {
            const float *a = vp + ds * mr * j->Tk + j0 * mr;
            for (int64_t qs = 0; qs < nqs; qs++)
                j->kern->fn(nk, a, 1, mr, ST + qs * st_ld * nr, OT + qs * j->dv_pad * nr + ds * mr * nr, nr, 1);
        }
    }
    for (int64_t i = 0; i < nq; i++) {
        int64_t qs = i / nr, t = i % nr;
        float *yr = j->y + (b * j->Tq + i0 + i) * vs_ld + h * j->Dv;
        const float *o = OT + qs * j->dv_pad * nr + t;
        float inv = 1.0f / l[i];
        for (int64_t d = 0; d < j->Dv; d++) yr[d] = o[d * nr] * inv;
    }
}

int fast_attention(cpu_ctx *c, const float *q, const float *k, const float *v, float *y,
                   int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, int64_t Dv, float scale, int causal)
{
    if (B <= 0 || Tq <= 0 || H <= 0) return 0;
    if (Tk <= 0) {
        memset(y, 0, (size_t)(B * Tq * H * Dv) * sizeof(float));
        return 0;
    }
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
    j.kern = &c->isa->gemm;
    const int64_t mr = j.kern->mr, nr = j.kern->nr;
    j.dv_pad = (Dv + mr - 1) / mr * mr;
    j.kbk = Tk <= 512 ? (Tk + mr - 1) / mr * mr : (256 + mr - 1) / mr * mr;
    j.qb = nr * (D >= 256 ? 2 : 4);
    int64_t tq_r = (Tq + nr - 1) / nr * nr;
    if (tq_r < j.qb) j.qb = tq_r;
    j.nqb = (Tq + j.qb - 1) / j.qb;
    j.kp_size = (Tk + mr - 1) / mr * mr * D;
    j.vp_size = j.dv_pad * Tk;
    size_t per_thread = (size_t)(j.qb * D + j.qb * (j.kbk + mr) + j.qb * j.dv_pad + 6 * j.qb + Tk + D + 512);
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

typedef struct {
    cpu_ctx *c;
    const float *a, *b;
    float *y;
    int64_t rows, cols, rows_per_task;
    int per_row;
} bcast_job;

static void bcast_task(void *p, int64_t task, int thread)
{
    const bcast_job *j = p;
    const cpu_isa *isa = j->c->isa;
    for (int64_t r = task * j->rows_per_task; r < (task + 1) * j->rows_per_task && r < j->rows; r++) {
        const float *a = j->a + r * j->cols;
        float *y = j->y + r * j->cols;
        if (j->per_row) isa->affine(a, y, j->cols, 0.0f, 1.0f, j->b[r], 0);
        else isa->add(a, j->b, y, j->cols);
    }
    (void)thread;
}

void fast_add_bcast(cpu_ctx *c, const float *a, const float *b, float *y, int64_t rows, int64_t cols, int per_row)
{
    bcast_job j = {c, a, b, y, rows, cols, 1, per_row};
    j.rows_per_task = cols >= EW_CHUNK ? 1 : (EW_CHUNK + cols - 1) / cols;
    cpu_parallel(c, (rows + j.rows_per_task - 1) / j.rows_per_task, bcast_task, &j);
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
