/* The matmul benchmark of the fast CPU kernels, built for the browser
 * (wasm32, SIMD128) by bench/wasm/run.sh and driven by bench/wasm/page.html.
 * Same source path as the native build: fast_linear on the packed GEMM
 * (gemm.c) with the ISA table chosen at run time (wasm-simd128 here). The
 * native side of the comparison is `bench_cpu --matmul` (one thread). */
#include "backends/cpu/fast_ops.h"
#include "backends/cpu/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name)))

static cpu_ctx *ctx;
static float *x, *y, *wf;
static void *w;
static int64_t M, N, K;
static int f16;

EXPORT(bench_isa_count) int bench_isa_count(void)
{
    int n = 0;
    for (const char *const *p = cpu_isa_names(); *p; p++) n++;
    return n;
}

/* Selects ISA i (index into cpu_isa_names) if it runs here: 1, else 0. */
EXPORT(bench_select_isa) int bench_select_isa(int i)
{
    const char *name = cpu_isa_names()[i];
    const cpu_isa *isa = cpu_isa_by_name(name);
    if (!isa) return 0;
    cpu_ctx_free(ctx);
    ctx = cpu_ctx_create(1, isa);
    return ctx != NULL;
}

/* Pointer to the selected ISA's name (NUL-terminated). */
EXPORT(bench_isa_name) const char *bench_isa_name(void) { return ctx ? ctx->isa->name : ""; }

static uint32_t lcg = 12345;
static float frand(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(int32_t)lcg / 2147483648.0f;
}

/* y[m,n] = x[m,k] w[n,k]^T with random data; weights f16 when half != 0. 1 ok, 0 out of memory. */
EXPORT(bench_setup) int bench_setup(int m, int n, int k, int half)
{
    free(x); free(y); free(w); free(wf);
    M = m; N = n; K = k; f16 = half;
    x = malloc((size_t)(M * K) * sizeof *x);
    y = malloc((size_t)(M * N) * sizeof *y);
    wf = malloc((size_t)(N * K) * sizeof *wf);
    w = malloc((size_t)(N * K) * (half ? 2 : 4));
    if (!x || !y || !w || !wf) return 0;
    for (int64_t i = 0; i < M * K; i++) x[i] = frand();
    for (int64_t i = 0; i < N * K; i++) {
        float v = frand() * 0.1f;
        if (half) {
            ((uint16_t *)w)[i] = wsd_f32_to_f16(v);
            wf[i] = wsd_f16_to_f32(((uint16_t *)w)[i]);
        } else {
            ((float *)w)[i] = v;
            wf[i] = v;
        }
    }
    return 1;
}

EXPORT(bench_run) int bench_run(int reps)
{
    for (int r = 0; r < reps; r++)
        if (fast_linear(ctx, x, w, f16 ? WSD_DT_F16 : WSD_DT_F32, NULL, NULL, y, M, K, N) != 0) return 0;
    return 1;
}

/* Relative L2 error of the last result against the float32 reference kernel. */
EXPORT(bench_check) double bench_check(void)
{
    float *ref = malloc((size_t)(M * N) * sizeof *ref);
    if (!ref) return -1;
    ref_linear(NULL, x, wf, NULL, ref, M, K, N);
    double num = 0, den = 0;
    for (int64_t i = 0; i < M * N; i++) {
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    free(ref);
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The FMA (multiply-add) loop of the ISA table: iters rounds of fma_flops FLOP. */
EXPORT(bench_peak_flops_per_iter) int bench_peak_flops_per_iter(void) { return ctx ? ctx->isa->fma_flops : 0; }
EXPORT(bench_peak_run) float bench_peak_run(int iters)
{
    float s = 0;
    ctx->isa->fma_loop(iters, &s);
    return s;
}
