/* The fast CPU kernels (src/backends/cpu/fast_ops.h) against the float32
 * reference kernels, for every instruction set this machine runs, on random
 * data and odd shapes: partial register tiles, several k blocks and column
 * chunks, strides, asymmetric padding, fused GroupNorm(+SiLU) / upsampling /
 * residuals, in-place outputs, f16 / bf16 / f32 weights, attention with
 * more keys than one block, causal masks and value widths unlike the key
 * width. */
#include "backends/cpu/fast_ops.h"
#include "backends/cpu/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed = 42;
static float frand(void) /* uniform [-1, 1) */
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((int32_t)(seed >> 32)) / 2147483648.0f;
}
static float *rnd(size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

static int close_enough(const char *what, const float *got, const float *ref, size_t n, double rel)
{
    tu_diff d = tu_compare(got, ref, n);
    double bound_abs = 1e-4 * (d.ref_max_abs > 1 ? d.ref_max_abs : 1);
    int ok = d.rel_l2 <= rel && d.max_abs <= bound_abs && d.rel_l2 == d.rel_l2;
    CHECKF(ok, "%s: rel_l2 %.3g (<= %.1g), max_abs %.3g (<= %.3g)", what, d.rel_l2, rel, d.max_abs, bound_abs);
    return ok;
}

/* weights stored as dt; *f32 gets what the kernels should see */
static void *store_weights(const float *w, size_t n, wsd_dtype dt, float *seen)
{
    if (dt == WSD_DT_F32) {
        float *p = malloc(n * sizeof *p);
        memcpy(p, w, n * sizeof *p);
        memcpy(seen, w, n * sizeof *p);
        return p;
    }
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        if (dt == WSD_DT_F16) {
            h[i] = wsd_f32_to_f16(w[i]);
            seen[i] = wsd_f16_to_f32(h[i]);
        } else {
            uint32_t x;
            memcpy(&x, &w[i], 4);
            h[i] = (uint16_t)(x >> 16);
            seen[i] = wsd_bf16_to_f32(h[i]);
        }
    }
    return h;
}

static void test_linear(cpu_ctx *c, const char *isa)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 64, 17}, {77, 40, 96}, {150, 320, 33}, {5, 1280, 77}, {300, 72, 600}};
    static const wsd_dtype dts[] = {WSD_DT_F32, WSD_DT_F16, WSD_DT_BF16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        wsd_dtype dt = dts[s % 3];
        float *x = rnd((size_t)(M * K), 1.0f), *w = rnd((size_t)(N * K), 0.3f), *b = rnd((size_t)N, 1.0f);
        float *seen = malloc((size_t)(N * K) * sizeof *seen), *res = rnd((size_t)(M * N), 1.0f);
        void *ws = store_weights(w, (size_t)(N * K), dt, seen);
        float *ref = malloc((size_t)(M * N) * sizeof *ref), *got = malloc((size_t)(M * N) * sizeof *got);
        for (int variant = 0; variant < 3; variant++) { /* plain, bias + residual, residual in place */
            const float *bias = variant ? b : NULL;
            ref_linear(NULL, x, seen, bias, ref, M, K, N);
            if (variant)
                for (int64_t i = 0; i < M * N; i++) ref[i] += res[i];
            const float *r = NULL;
            if (variant == 1) r = res;
            if (variant == 2) {
                memcpy(got, res, (size_t)(M * N) * sizeof *got);
                r = got;
            }
            CHECK(fast_linear(c, x, ws, dt, bias, r, got, M, K, N) == 0);
            char what[160];
            snprintf(what, sizeof what, "%s linear %lldx%lldx%lld %s variant %d", isa, (long long)M, (long long)K, (long long)N,
                     wsd_dtype_name(dt), variant);
            close_enough(what, got, ref, (size_t)(M * N), 1e-5);
        }
        free(x); free(w); free(b); free(seen); free(res); free(ws); free(ref); free(got);
    }
}

typedef struct {
    int64_t Nb, Ci, Co, H, W, k, stride, pt, pl, pb, pr;
    int up, gn; /* gn: 0 none, 1 GroupNorm, 2 GroupNorm + SiLU */
    int res;
} conv_case;

static void test_conv(cpu_ctx *c, const char *isa)
{
    static const conv_case cases[] = {
        {1, 3, 5, 7, 9, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {2, 16, 17, 19, 21, 3, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 8, 4, 33, 35, 3, 2, 1, 1, 1, 1, 1, 0, 0},
        {1, 8, 4, 16, 16, 3, 2, 0, 0, 1, 1, 1, 0, 0},   /* VAE encoder downsampler: pad right/bottom */
        {2, 12, 6, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1, 1},
        {1, 7, 7, 8, 12, 3, 1, 1, 1, 1, 1, 2, 0, 1},    /* nearest x2 fused */
        {1, 64, 64, 40, 40, 3, 1, 1, 1, 1, 1, 1, 2, 1}, /* several k blocks and column chunks */
        {2, 96, 40, 5, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0},   /* K = 864, tiny images */
        {1, 32, 1, 17, 16, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {1, 32, 3, 64, 64, 3, 1, 1, 1, 1, 1, 1, 2, 0},  /* conv_out */
        {2, 300, 24, 4, 4, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* K = 2700 */
        {1, 5, 9, 6, 7, 5, 1, 2, 2, 2, 2, 1, 0, 0},     /* 5x5 */
        {2, 24, 20, 37, 29, 3, 2, 1, 1, 1, 1, 1, 2, 0}, /* GroupNorm+SiLU, stride 2, transformed in row bands */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const conv_case *k = &cases[ci];
        int64_t Hu = k->H * k->up, Wu = k->W * k->up;
        int64_t Ho = (Hu + k->pt + k->pb - k->k) / k->stride + 1, Wo = (Wu + k->pl + k->pr - k->k) / k->stride + 1;
        size_t nx = (size_t)(k->Nb * k->Ci * k->H * k->W), nw = (size_t)(k->Co * k->Ci * k->k * k->k);
        size_t nu = (size_t)(k->Nb * k->Ci * Hu * Wu), ny = (size_t)(k->Nb * k->Co * Ho * Wo);
        wsd_dtype dt = ci % 2 ? WSD_DT_F16 : WSD_DT_F32;
        float *x = rnd(nx, 2.0f), *w = rnd(nw, 0.3f), *b = rnd((size_t)k->Co, 1.0f), *res = rnd(ny, 1.0f);
        for (size_t i = 0; i < nx; i++) x[i] += 0.5f; /* a mean for GroupNorm to remove */
        float *seen = malloc(nw * sizeof *seen), *gamma = rnd((size_t)k->Ci, 0.5f), *beta = rnd((size_t)k->Ci, 0.5f);
        for (int64_t i = 0; i < k->Ci; i++) gamma[i] += 1.0f;
        void *ws = store_weights(w, nw, dt, seen);
        /* reference: upsample, GroupNorm, pad (top/left in ref_conv2d; bottom/right through the output size), conv, residual */
        float *u = malloc(nu * sizeof *u), *ref = malloc(ny * sizeof *ref), *got = malloc(ny * sizeof *got);
        if (k->up > 1) ref_upsample_nearest(NULL, x, u, k->Nb, k->Ci, k->H, k->W, Hu, Wu);
        else memcpy(u, x, nu * sizeof *u);
        int G = k->Ci % 4 == 0 ? 4 : 1;
        if (k->gn) ref_group_norm(NULL, u, gamma, beta, u, k->Nb, k->Ci, Hu * Wu, G, 1e-5f, k->gn == 2);
        ref_conv2d(NULL, u, seen, b, ref, k->Nb, k->Ci, Hu, Wu, k->Co, k->k, k->k, (int)k->stride, (int)k->pt, (int)k->pl, Ho, Wo);
        if (k->res)
            for (size_t i = 0; i < ny; i++) ref[i] += res[i];
        float *tm = malloc((size_t)(k->Nb * k->Ci) * sizeof *tm), *ta = malloc((size_t)(k->Nb * k->Ci) * sizeof *ta);
        float *tb = malloc((size_t)(k->Nb * k->Ci) * sizeof *tb);
        if (k->gn) fast_group_norm_stats(c, x, gamma, beta, k->Nb, k->Ci, k->H * k->W, G, 1e-5f, tm, ta, tb);
        conv_geom g = {x, k->Nb, k->Ci, k->H, k->W, k->up, k->k, k->k, k->stride, k->pt, k->pl, Ho, Wo,
                       k->gn ? tm : NULL, k->gn ? ta : NULL, k->gn ? tb : NULL, k->gn == 2, NULL, 0, 0, 0};
        CHECK(fast_conv2d(c, &g, ws, dt, k->Co, b, NULL, k->res ? res : NULL, got, 0) == 0);
        char what[200];
        snprintf(what, sizeof what, "%s conv case %zu (N%lld Ci%lld Co%lld %lldx%lld k%lld s%lld up%d gn%d res%d %s)", isa, ci,
                 (long long)k->Nb, (long long)k->Ci, (long long)k->Co, (long long)k->H, (long long)k->W, (long long)k->k,
                 (long long)k->stride, k->up, k->gn, k->res, wsd_dtype_name(dt));
        close_enough(what, got, ref, ny, 1e-5);
        /* residual in place */
        if (k->res) {
            memcpy(got, res, ny * sizeof *got);
            CHECK(fast_conv2d(c, &g, ws, dt, k->Co, b, NULL, got, got, 0) == 0);
            close_enough(what, got, ref, ny, 1e-5);
        }
        free(x); free(w); free(b); free(res); free(seen); free(gamma); free(beta); free(ws); free(u); free(ref); free(got);
        free(tm); free(ta); free(tb);
    }
    /* a 1x1 conv writing over its own input (one image, Co <= Ci, all of K in one block) */
    for (int gn = 0; gn < 2; gn++) {
        int64_t Ci = 48, Co = 24, H = 20, W = 24;
        size_t nx = (size_t)(Ci * H * W), ny = (size_t)(Co * H * W);
        float *x = rnd(nx, 1.0f), *w = rnd((size_t)(Co * Ci), 0.3f), *b = rnd((size_t)Co, 1.0f), *buf = malloc(nx * sizeof *buf);
        float *gamma = rnd((size_t)Ci, 0.5f), *beta = rnd((size_t)Ci, 0.5f), *ref = malloc(ny * sizeof *ref), *u = malloc(nx * sizeof *u);
        float tm[48], ta[48], tb[48];
        memcpy(u, x, nx * sizeof *u);
        if (gn) {
            ref_group_norm(NULL, x, gamma, beta, u, 1, Ci, H * W, 8, 1e-6f, 1);
            fast_group_norm_stats(c, x, gamma, beta, 1, Ci, H * W, 8, 1e-6f, tm, ta, tb);
        }
        ref_conv2d(NULL, u, w, b, ref, 1, Ci, H, W, Co, 1, 1, 1, 0, 0, H, W);
        memcpy(buf, x, nx * sizeof *buf);
        conv_geom g = {buf, 1, Ci, H, W, 1, 1, 1, 1, 0, 0, H, W, gn ? tm : NULL, gn ? ta : NULL, gn ? tb : NULL, gn, NULL, 0, 0, 0};
        CHECK(fast_conv2d(c, &g, w, WSD_DT_F32, Co, b, NULL, NULL, buf, GEMM_ONE_KBLOCK) == 0);
        char what[96];
        snprintf(what, sizeof what, "%s 1x1 conv in place%s", isa, gn ? " (GroupNorm+SiLU)" : "");
        close_enough(what, buf, ref, ny, 1e-5);
        free(x); free(w); free(b); free(buf); free(gamma); free(beta); free(ref); free(u);
    }
}

static void test_attention(cpu_ctx *c, const char *isa)
{
    static const int64_t cases[][7] = {
        /* B, Tq, Tk, H, D, Dv, causal */
        {1, 1, 1, 1, 4, 4, 0},     {2, 7, 77, 3, 8, 8, 0},     {1, 77, 77, 2, 16, 16, 1},
        {2, 300, 600, 2, 40, 40, 0}, {1, 64, 64, 1, 160, 160, 0}, {1, 33, 9, 1, 24, 12, 0},
        {2, 77, 77, 12, 64, 64, 1}, {1, 530, 530, 1, 32, 32, 1},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        int64_t B = cases[ci][0], Tq = cases[ci][1], Tk = cases[ci][2], H = cases[ci][3], D = cases[ci][4], Dv = cases[ci][5];
        int causal = (int)cases[ci][6];
        float *q = rnd((size_t)(B * Tq * H * D), 2.0f), *k = rnd((size_t)(B * Tk * H * D), 2.0f), *v = rnd((size_t)(B * Tk * H * Dv), 1.0f);
        size_t ny = (size_t)(B * Tq * H * Dv);
        float *ref = malloc(ny * sizeof *ref), *got = malloc(ny * sizeof *got);
        float scale = 1.0f / sqrtf((float)D);
        ref_attention(NULL, q, k, v, ref, B, Tq, Tk, H, D, Dv, scale, causal);
        CHECK(fast_attention(c, q, k, v, got, B, Tq, Tk, H, D, Dv, scale, causal) == 0);
        char what[160];
        snprintf(what, sizeof what, "%s attention B%lld Tq%lld Tk%lld H%lld D%lld Dv%lld causal%d", isa, (long long)B, (long long)Tq,
                 (long long)Tk, (long long)H, (long long)D, (long long)Dv, causal);
        close_enough(what, got, ref, ny, 1e-5);
        free(q); free(k); free(v); free(ref); free(got);
    }
}

static void test_norms_and_elementwise(cpu_ctx *c, const char *isa)
{
    char what[128];
    /* GroupNorm as stats + per-plane affine */
    for (int silu = 0; silu < 2; silu++) {
        int64_t N = 2, C = 64, S = 333;
        size_t n = (size_t)(N * C * S);
        float *x = rnd(n, 3.0f), *gamma = rnd((size_t)C, 1.0f), *beta = rnd((size_t)C, 1.0f);
        for (size_t i = 0; i < n; i++) x[i] += 2.0f;
        float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
        float tm[128], ta[128], tb[128];
        ref_group_norm(NULL, x, gamma, beta, ref, N, C, S, 32, 1e-6f, silu);
        fast_group_norm_stats(c, x, gamma, beta, N, C, S, 32, 1e-6f, tm, ta, tb);
        fast_affine_planes(c, x, got, N * C, S, tm, ta, tb, silu);
        snprintf(what, sizeof what, "%s group norm silu=%d", isa, silu);
        close_enough(what, got, ref, n, 1e-6);
        free(x); free(gamma); free(beta); free(ref); free(got);
    }
    {
        int64_t M = 77, C = 333;
        size_t n = (size_t)(M * C);
        float *x = rnd(n, 3.0f), *gamma = rnd((size_t)C, 1.0f), *beta = rnd((size_t)C, 1.0f);
        float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
        ref_layer_norm(NULL, x, gamma, beta, ref, M, C, 1e-5f);
        fast_layer_norm(c, x, gamma, beta, got, M, C, 1e-5f);
        snprintf(what, sizeof what, "%s layer norm", isa);
        close_enough(what, got, ref, n, 1e-6);
        free(x); free(gamma); free(beta); free(ref); free(got);
    }
    /* element-wise over [-12, 12] and a few extremes */
    size_t n = 40000 + 7;
    float *x = rnd(n, 12.0f), *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    x[0] = 0.0f; x[1] = -0.0f; x[2] = 90.0f; x[3] = -90.0f; x[4] = 1e-20f; x[5] = -1e-20f; x[6] = 3.9f; x[7] = -4.1f;
    for (int op = 0; op < 3; op++) {
        if (op == 0) ref_silu(NULL, x, ref, (int64_t)n);
        if (op == 1) ref_gelu(NULL, x, ref, (int64_t)n);
        if (op == 2) ref_quick_gelu(NULL, x, ref, (int64_t)n);
        fast_unary(c, op == 0 ? FAST_SILU : op == 1 ? FAST_GELU : FAST_QUICK_GELU, x, got, (int64_t)n);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)got[i] - ref[i]) / (fabs(ref[i]) > 1 ? fabs(ref[i]) : 1);
            if (e > worst) worst = e;
        }
        CHECKF(worst < 2e-6, "%s %s: worst error %.3g", isa, op == 0 ? "silu" : op == 1 ? "gelu" : "quick_gelu", worst);
    }
    {
        int64_t M = 37, F = 333;
        float *xx = rnd((size_t)(M * 2 * F), 6.0f), *r2 = malloc((size_t)(M * F) * sizeof *r2), *g2 = malloc((size_t)(M * F) * sizeof *g2);
        ref_geglu(NULL, xx, r2, M, F);
        fast_geglu(c, xx, g2, M, F);
        snprintf(what, sizeof what, "%s geglu", isa);
        close_enough(what, g2, r2, (size_t)(M * F), 1e-6);
        ref_softmax(NULL, xx, r2, M, F);
        fast_softmax(c, xx, g2, M, F);
        snprintf(what, sizeof what, "%s softmax", isa);
        close_enough(what, g2, r2, (size_t)(M * F), 1e-6);
        free(xx); free(r2); free(g2);
    }
    /* broadcast adds: per row ([N,C,H,W] + [N,C,1,1]) and over trailing dims ([B,T,C] + [T,C]) */
    {
        int64_t rows = 37, cols = 1000;
        float *aa = rnd((size_t)(rows * cols), 1.0f), *bb = rnd((size_t)cols, 1.0f), *r2 = malloc((size_t)(rows * cols) * sizeof *r2);
        float *g2 = malloc((size_t)(rows * cols) * sizeof *g2);
        int64_t as[2] = {rows, cols}, bs1[1] = {cols}, bs2[2] = {rows, 1};
        ref_binary(NULL, 0, aa, bb, r2, 2, as, 1, bs1);
        fast_add_bcast(c, aa, bb, g2, rows, cols, 0);
        CHECKF(!memcmp(r2, g2, (size_t)(rows * cols) * sizeof *r2), "%s add broadcast over rows", isa);
        ref_binary(NULL, 0, aa, bb, r2, 2, as, 2, bs2);
        fast_add_bcast(c, aa, bb, g2, rows, cols, 1);
        CHECKF(!memcmp(r2, g2, (size_t)(rows * cols) * sizeof *r2), "%s add broadcast per row", isa);
        free(aa); free(bb); free(r2); free(g2);
    }
    {
        int64_t N = 2, A = 77, B = 130;
        float *xx = rnd((size_t)(N * A * B), 1.0f), *r2 = malloc((size_t)(N * A * B) * sizeof *r2), *g2 = malloc((size_t)(N * A * B) * sizeof *g2);
        ref_transpose(NULL, xx, r2, N, A, B);
        fast_transpose(c, xx, g2, N, A, B);
        CHECKF(!memcmp(r2, g2, (size_t)(N * A * B) * sizeof *r2), "%s transpose", isa);
        free(xx); free(r2); free(g2);
    }
    /* every half-precision value converts exactly */
    {
        uint16_t *h = malloc(65536 * sizeof *h);
        float *f = malloc(65536 * sizeof *f);
        for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
        c->isa->f16_to_f32(h, f, 65536);
        int bad = 0;
        for (int i = 0; i < 65536; i++) {
            float e = wsd_f16_to_f32((uint16_t)i);
            if (memcmp(&e, &f[i], 4) && !(isnan(e) && isnan(f[i]))) bad++;
        }
        CHECKF(bad == 0, "%s f16 conversion: %d of 65536 differ", isa, bad);
        /* f16 embedding rows */
        int32_t ids[5] = {3, 0, 7, 7, 1};
        float rows[5 * 9];
        CHECK(fast_embedding(c->isa, ids, h, WSD_DT_F16, rows, 5, 8, 9) == -1);
        CHECK(rows[9 * 2 + 4] == wsd_f16_to_f32(h[7 * 9 + 4]));
        CHECK(fast_embedding(c->isa, ids, h, WSD_DT_F16, rows, 5, 7, 9) == 2);
        free(h);
        free(f);
    }
    free(x); free(ref); free(got);
}

int main(void)
{
    int tested = 0;
    for (const char *const *name = cpu_isa_names(); *name; name++) {
        const cpu_isa *isa = cpu_isa_by_name(*name);
        if (!isa) {
            printf("skip %s (not available here)\n", *name);
            continue;
        }
        for (int threads = 1; threads <= 2; threads++) {
            cpu_ctx *c = cpu_ctx_create(threads, isa);
            CHECK(c != NULL);
            if (!c) continue;
            int before = tu_failures;
            test_linear(c, *name);
            test_conv(c, *name);
            test_attention(c, *name);
            test_norms_and_elementwise(c, *name);
            printf("%s, %d thread(s): %s\n", *name, c->threads, tu_failures == before ? "ok" : "FAILED");
            cpu_ctx_free(c);
            tested++;
        }
    }
    CHECK(tested >= 2);
    return tu_finish();
}
