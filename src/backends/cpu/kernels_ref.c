/* Float32 reference kernels. Clarity first; the only concessions to speed are
 * loop orders with a contiguous inner loop and a parallel outer loop. */
#include "backends/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* ---- conv2d ---- */
typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t Ci, H, W, Co, kh, kw, Ho, Wo;
    int stride, pad_t, pad_l;
} conv_args;

static void conv_range(void *ctx, int64_t begin, int64_t end)
{
    const conv_args *a = ctx;
    for (int64_t job = begin; job < end; job++) { /* job = n * Co + co */
        int64_t n = job / a->Co, co = job % a->Co;
        float *out = a->y + job * a->Ho * a->Wo;
        float bias = a->b ? a->b[co] : 0.0f;
        for (int64_t i = 0; i < a->Ho * a->Wo; i++)
            out[i] = 0.0f;
        for (int64_t ci = 0; ci < a->Ci; ci++) {
            const float *in = a->x + (n * a->Ci + ci) * a->H * a->W;
            for (int64_t ky = 0; ky < a->kh; ky++)
                for (int64_t kx = 0; kx < a->kw; kx++) {
                    float wv = a->w[((co * a->Ci + ci) * a->kh + ky) * a->kw + kx];
                    /* output columns whose input column lies inside the image */
                    int64_t ox0 = 0, ox1 = a->Wo;
                    while (ox0 < ox1 && ox0 * a->stride - a->pad_l + kx < 0) ox0++;
                    while (ox1 > ox0 && (ox1 - 1) * a->stride - a->pad_l + kx >= a->W) ox1--;
                    for (int64_t oy = 0; oy < a->Ho; oy++) {
                        int64_t iy = oy * a->stride - a->pad_t + ky;
                        if (iy < 0 || iy >= a->H) continue;
                        const float *row = in + iy * a->W - a->pad_l + kx;
                        float *orow = out + oy * a->Wo;
                        if (a->stride == 1)
                            for (int64_t ox = ox0; ox < ox1; ox++) orow[ox] += wv * row[ox];
                        else
                            for (int64_t ox = ox0; ox < ox1; ox++) orow[ox] += wv * row[ox * a->stride];
                    }
                }
        }
        for (int64_t i = 0; i < a->Ho * a->Wo; i++)
            out[i] += bias;
    }
}

void ref_conv2d(wsd_pool *pool, const float *x, const float *w, const float *b, float *y,
                int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t kh, int64_t kw,
                int stride, int pad_t, int pad_l, int64_t Ho, int64_t Wo)
{
    conv_args a = {x, w, b, y, Ci, H, W, Co, kh, kw, Ho, Wo, stride, pad_t, pad_l};
    wsd_parallel_for(pool, N * Co, conv_range, &a);
}

/* ---- linear ---- */
typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t K, N;
} linear_args;

static void linear_range(void *ctx, int64_t begin, int64_t end)
{
    const linear_args *a = ctx;
    for (int64_t m = begin; m < end; m++) {
        const float *xr = a->x + m * a->K;
        for (int64_t n = 0; n < a->N; n++) {
            const float *wr = a->w + n * a->K;
            float s = 0.0f;
            for (int64_t k = 0; k < a->K; k++) s += xr[k] * wr[k];
            a->y[m * a->N + n] = s + (a->b ? a->b[n] : 0.0f);
        }
    }
}

void ref_linear(wsd_pool *pool, const float *x, const float *w, const float *b, float *y, int64_t M, int64_t K, int64_t N)
{
    linear_args a = {x, w, b, y, K, N};
    wsd_parallel_for(pool, M, linear_range, &a);
}

/* ---- normalisation ---- */
static inline float silu(float v) { return v / (1.0f + expf(-v)); }

typedef struct {
    const float *x, *gamma, *beta;
    float *y;
    int64_t C, S;
    int G, silu;
    float eps;
} gn_args;

static void gn_range(void *ctx, int64_t begin, int64_t end)
{
    const gn_args *a = ctx;
    int64_t cpg = a->C / a->G;
    for (int64_t job = begin; job < end; job++) { /* job = n * G + g */
        int64_t n = job / a->G, g = job % a->G;
        const float *x = a->x + (n * a->C + g * cpg) * a->S;
        float *y = a->y + (n * a->C + g * cpg) * a->S;
        int64_t cnt = cpg * a->S;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < cnt; i++) sum += x[i];
        double mean = sum / (double)cnt;
        for (int64_t i = 0; i < cnt; i++) sq += (x[i] - mean) * (x[i] - mean);
        float rstd = (float)(1.0 / sqrt(sq / (double)cnt + a->eps));
        float fmean = (float)mean;
        for (int64_t c = 0; c < cpg; c++) {
            float ga = a->gamma[g * cpg + c] * rstd, be = a->beta[g * cpg + c];
            for (int64_t s = 0; s < a->S; s++) {
                float v = (x[c * a->S + s] - fmean) * ga + be;
                y[c * a->S + s] = a->silu ? silu(v) : v;
            }
        }
    }
}

void ref_group_norm(wsd_pool *pool, const float *x, const float *gamma, const float *beta, float *y,
                    int64_t N, int64_t C, int64_t S, int G, float eps, int silu_after)
{
    gn_args a = {x, gamma, beta, y, C, S, G, silu_after, eps};
    wsd_parallel_for(pool, N * G, gn_range, &a);
}

typedef struct {
    const float *x, *gamma, *beta;
    float *y;
    int64_t C;
    float eps;
} ln_args;

static void ln_range(void *ctx, int64_t begin, int64_t end)
{
    const ln_args *a = ctx;
    for (int64_t m = begin; m < end; m++) {
        const float *x = a->x + m * a->C;
        float *y = a->y + m * a->C;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < a->C; i++) sum += x[i];
        double mean = sum / (double)a->C;
        for (int64_t i = 0; i < a->C; i++) sq += (x[i] - mean) * (x[i] - mean);
        float rstd = (float)(1.0 / sqrt(sq / (double)a->C + a->eps)), fmean = (float)mean;
        for (int64_t i = 0; i < a->C; i++)
            y[i] = (x[i] - fmean) * rstd * a->gamma[i] + a->beta[i];
    }
}

void ref_layer_norm(wsd_pool *pool, const float *x, const float *gamma, const float *beta, float *y, int64_t M, int64_t C, float eps)
{
    ln_args a = {x, gamma, beta, y, C, eps};
    wsd_parallel_for(pool, M, ln_range, &a);
}

/* ---- attention ---- */
typedef struct {
    const float *q, *k, *v;
    float *y;
    int64_t Tq, Tk, H, D, Dv;
    float scale;
    int causal;
} attn_args;

static void attn_range(void *ctx, int64_t begin, int64_t end)
{
    const attn_args *a = ctx;
    int64_t qs = a->H * a->D, vs = a->H * a->Dv;
    for (int64_t job = begin; job < end; job++) { /* job = (b * H + h) * Tq + i */
        int64_t i = job % a->Tq, bh = job / a->Tq, h = bh % a->H, b = bh / a->H;
        const float *qi = a->q + (b * a->Tq + i) * qs + h * a->D;
        float *yi = a->y + (b * a->Tq + i) * vs + h * a->Dv;
        int64_t nk = a->causal ? (i + 1 < a->Tk ? i + 1 : a->Tk) : a->Tk;
        /* Online softmax (one pass over keys): running max m, sum l, output acc. */
        float m = -INFINITY, l = 0.0f;
        for (int64_t d = 0; d < a->Dv; d++) yi[d] = 0.0f;
        for (int64_t j = 0; j < nk; j++) {
            const float *kj = a->k + (b * a->Tk + j) * qs + h * a->D;
            float s = 0.0f;
            for (int64_t d = 0; d < a->D; d++) s += qi[d] * kj[d];
            s *= a->scale;
            const float *vj = a->v + (b * a->Tk + j) * vs + h * a->Dv;
            if (s > m) {
                float corr = expf(m - s);
                l *= corr;
                for (int64_t d = 0; d < a->Dv; d++) yi[d] *= corr;
                m = s;
            }
            float p = expf(s - m);
            l += p;
            for (int64_t d = 0; d < a->Dv; d++) yi[d] += p * vj[d];
        }
        float inv = 1.0f / l;
        for (int64_t d = 0; d < a->Dv; d++) yi[d] *= inv;
    }
}

void ref_attention(wsd_pool *pool, const float *q, const float *k, const float *v, float *y,
                   int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, int64_t Dv, float scale, int causal)
{
    attn_args a = {q, k, v, y, Tq, Tk, H, D, Dv, scale, causal};
    wsd_parallel_for(pool, B * H * Tq, attn_range, &a);
}

/* ---- element-wise ---- */
typedef struct {
    const float *x;
    float *y;
    int kind;
    float p0, p1;
} ew_args;

enum { EW_SILU, EW_GELU, EW_QUICK_GELU, EW_SCALE, EW_CLAMP };

static inline float gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

static void ew_range(void *ctx, int64_t begin, int64_t end)
{
    const ew_args *a = ctx;
    const float *x = a->x;
    float *y = a->y;
    switch (a->kind) {
    case EW_SILU: for (int64_t i = begin; i < end; i++) y[i] = silu(x[i]); break;
    case EW_GELU: for (int64_t i = begin; i < end; i++) y[i] = gelu(x[i]); break;
    case EW_QUICK_GELU: for (int64_t i = begin; i < end; i++) y[i] = x[i] / (1.0f + expf(-1.702f * x[i])); break;
    case EW_SCALE: for (int64_t i = begin; i < end; i++) y[i] = x[i] * a->p0 + a->p1; break;
    case EW_CLAMP: for (int64_t i = begin; i < end; i++) y[i] = fminf(fmaxf(x[i], a->p0), a->p1); break;
    }
}

static void ew(wsd_pool *pool, int kind, const float *x, float *y, int64_t n, float p0, float p1)
{
    ew_args a = {x, y, kind, p0, p1};
    /* chunks of 4096 elements keep scheduling overhead negligible */
    if (n < 65536) {
        ew_range(&a, 0, n);
        return;
    }
    wsd_parallel_for(pool, n, ew_range, &a);
}

void ref_silu(wsd_pool *pool, const float *x, float *y, int64_t n) { ew(pool, EW_SILU, x, y, n, 0, 0); }
void ref_gelu(wsd_pool *pool, const float *x, float *y, int64_t n) { ew(pool, EW_GELU, x, y, n, 0, 0); }
void ref_quick_gelu(wsd_pool *pool, const float *x, float *y, int64_t n) { ew(pool, EW_QUICK_GELU, x, y, n, 0, 0); }
void ref_scale(wsd_pool *pool, const float *x, float *y, int64_t n, float mul, float add) { ew(pool, EW_SCALE, x, y, n, mul, add); }
void ref_clamp(wsd_pool *pool, const float *x, float *y, int64_t n, float lo, float hi) { ew(pool, EW_CLAMP, x, y, n, lo, hi); }

typedef struct {
    const float *x;
    float *y;
    int64_t F;
} geglu_args;

static void geglu_range(void *ctx, int64_t begin, int64_t end)
{
    const geglu_args *a = ctx;
    for (int64_t m = begin; m < end; m++) {
        const float *x = a->x + m * 2 * a->F;
        float *y = a->y + m * a->F;
        for (int64_t i = 0; i < a->F; i++) y[i] = x[i] * gelu(x[a->F + i]);
    }
}

void ref_geglu(wsd_pool *pool, const float *x, float *y, int64_t M, int64_t F)
{
    geglu_args a = {x, y, F};
    wsd_parallel_for(pool, M, geglu_range, &a);
}

typedef struct {
    const float *x;
    float *y;
    int64_t C;
} softmax_args;

static void softmax_range(void *ctx, int64_t begin, int64_t end)
{
    const softmax_args *a = ctx;
    for (int64_t m = begin; m < end; m++) {
        const float *x = a->x + m * a->C;
        float *y = a->y + m * a->C;
        float mx = -INFINITY, s = 0.0f;
        for (int64_t i = 0; i < a->C; i++) mx = fmaxf(mx, x[i]);
        for (int64_t i = 0; i < a->C; i++) { y[i] = expf(x[i] - mx); s += y[i]; }
        for (int64_t i = 0; i < a->C; i++) y[i] /= s;
    }
}

void ref_softmax(wsd_pool *pool, const float *x, float *y, int64_t M, int64_t C)
{
    softmax_args a = {x, y, C};
    wsd_parallel_for(pool, M, softmax_range, &a);
}

/* ---- broadcast binary ---- */
typedef struct {
    int op;
    const float *a, *b;
    float *y;
    int ndim;
    int64_t shape[4], bstride[4], inner;
} bin_args;

static void bin_range(void *ctx, int64_t begin, int64_t end)
{
    const bin_args *p = ctx;
    int64_t W = p->shape[p->ndim - 1], bsw = p->bstride[p->ndim - 1];
    for (int64_t row = begin; row < end; row++) { /* row over all dims but the last */
        int64_t rem = row, boff = 0;
        for (int d = p->ndim - 2; d >= 0; d--) {
            int64_t idx = rem % p->shape[d];
            rem /= p->shape[d];
            boff += idx * p->bstride[d];
        }
        const float *a = p->a + row * W, *b = p->b + boff;
        float *y = p->y + row * W;
        if (p->op == 0) {
            if (bsw) for (int64_t i = 0; i < W; i++) y[i] = a[i] + b[i];
            else for (int64_t i = 0; i < W; i++) y[i] = a[i] + b[0];
        } else {
            if (bsw) for (int64_t i = 0; i < W; i++) y[i] = a[i] * b[i];
            else for (int64_t i = 0; i < W; i++) y[i] = a[i] * b[0];
        }
    }
}

void ref_binary(wsd_pool *pool, int op, const float *a, const float *b, float *y,
                int ndim, const int64_t *ashape, int bndim, const int64_t *bshape)
{
    bin_args p = {op, a, b, y, ndim, {0}, {0}, 0};
    int64_t stride = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        p.shape[d] = ashape[d];
        int bd = d - (ndim - bndim);
        int64_t bdim = bd >= 0 ? bshape[bd] : 1;
        p.bstride[d] = bdim == 1 ? 0 : stride;
        stride *= bdim;
    }
    int64_t rows = 1;
    for (int d = 0; d < ndim - 1; d++) rows *= ashape[d];
    wsd_parallel_for(pool, rows, bin_range, &p);
}

void ref_copy_blocks(float *dst, int64_t dst_stride, const float *src, int64_t src_stride, int64_t outer, int64_t len)
{
    for (int64_t i = 0; i < outer; i++)
        memmove(dst + i * dst_stride, src + i * src_stride, (size_t)len * sizeof(float));
}

typedef struct {
    const float *x;
    float *y;
    int64_t H, W, Ho, Wo;
} up_args;

static void up_range(void *ctx, int64_t begin, int64_t end)
{
    const up_args *a = ctx;
    float sh = (float)a->H / (float)a->Ho, sw = (float)a->W / (float)a->Wo;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *x = a->x + plane * a->H * a->W;
        float *y = a->y + plane * a->Ho * a->Wo;
        for (int64_t oy = 0; oy < a->Ho; oy++) {
            int64_t iy = (int64_t)floorf((float)oy * sh);
            if (iy > a->H - 1) iy = a->H - 1;
            for (int64_t ox = 0; ox < a->Wo; ox++) {
                int64_t ix = (int64_t)floorf((float)ox * sw);
                if (ix > a->W - 1) ix = a->W - 1;
                y[oy * a->Wo + ox] = x[iy * a->W + ix];
            }
        }
    }
}

void ref_upsample_nearest(wsd_pool *pool, const float *x, float *y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo)
{
    up_args a = {x, y, H, W, Ho, Wo};
    wsd_parallel_for(pool, N * C, up_range, &a);
}

int64_t ref_embedding(const int32_t *ids, const float *table, float *y, int64_t n, int64_t V, int64_t C)
{
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V)
            return i;
        memcpy(y + i * C, table + (int64_t)ids[i] * C, (size_t)C * sizeof(float));
    }
    return -1;
}

void ref_timestep_embed(const float *t, float *y, int64_t B, int64_t C, int flip, float shift)
{
    /* float32 throughout, in the order diffusers computes it */
    int64_t half = C / 2;
    const float neg_log = (float)-log(10000.0);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < half; i++) {
            float e = neg_log * (float)i;
            e = e / ((float)half - shift);
            float arg = t[b] * expf(e);
            float s = sinf(arg), c = cosf(arg);
            y[b * C + (flip ? half + i : i)] = s;
            y[b * C + (flip ? i : half + i)] = c;
        }
    }
}

typedef struct {
    const float *x;
    float *y;
    int64_t A, B;
} tr_args;

static void tr_range(void *ctx, int64_t begin, int64_t end)
{
    const tr_args *p = ctx;
    for (int64_t n = begin; n < end; n++) {
        const float *x = p->x + n * p->A * p->B;
        float *y = p->y + n * p->A * p->B;
        for (int64_t a = 0; a < p->A; a++)
            for (int64_t b = 0; b < p->B; b++)
                y[b * p->A + a] = x[a * p->B + b];
    }
}

void ref_transpose(wsd_pool *pool, const float *x, float *y, int64_t N, int64_t A, int64_t B)
{
    tr_args p = {x, y, A, B};
    wsd_parallel_for(pool, N, tr_range, &p);
}
