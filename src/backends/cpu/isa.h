/* Instruction-set back ends of the fast CPU kernels.
 *
 * Each back end (portable C, x86 AVX2+FMA+F16C, x86 AVX-512, WebAssembly
 * SIMD128) fills one table of the same small functions: GEMM micro-kernels
 * over packed panels, half-precision conversion and vectorised element-wise
 * math. The drivers (gemm.c, fast_ops.c) are written once against this
 * table. The table is chosen at run time from the CPU's features (x86:
 * cpuid through __builtin_cpu_supports; the AVX code lives in functions with
 * target attributes, so the build needs no -mavx2), or by the environment
 * variable WSD_CPU_ISA=portable|avx2|avx512 (a request the CPU cannot run
 * falls back to the best it can). */
#ifndef WSD_BACKENDS_CPU_ISA_H
#define WSD_BACKENDS_CPU_ISA_H

#include <stdint.h>

/* C[mr x nr] (= or +=) sum_k A(r, k) * B[k][0..nr) for r < mr, where A(r, k)
 * is a[r * rs + k * ks]: a packed A sliver (rs = 1, ks = mr) or mr rows of a
 * row-major matrix read in place (rs = its row stride, ks = 1); `b` holds kc
 * groups of nr floats (a packed B sliver); C rows are ldc apart.
 * accumulate: 0 overwrites C, 1 adds to it. */
typedef void (*cpu_ukernel_fn)(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int accumulate);

typedef struct cpu_kernel {
    int mr, nr;
    cpu_ukernel_fn fn;
} cpu_kernel;

typedef struct cpu_isa {
    const char *name;
    cpu_kernel gemm;      /* the main micro-kernel */
    cpu_kernel narrow;    /* nr <= 16: for products with few columns (attention P.V) */
    int kc, nc, mc;       /* cache blocking: k block, columns per task, rows per A block */

    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    /* Element-wise; y may equal x. */
    void (*silu)(const float *x, float *y, int64_t n);
    void (*gelu)(const float *x, float *y, int64_t n);        /* exact (erf) */
    void (*quick_gelu)(const float *x, float *y, int64_t n);  /* x sigmoid(1.702 x) */
    /* y = x * gelu(g) */
    void (*geglu)(const float *x, const float *g, float *y, int64_t n);
    /* y = (x - m) * a + b, then SiLU if silu */
    void (*affine)(const float *x, float *y, int64_t n, float m, float a, float b, int silu);
    /* y = (x - mean) * rstd * gamma + beta */
    void (*norm_row)(const float *x, float *y, int64_t n, float mean, float rstd, const float *gamma, const float *beta);
    /* sum of x; sum of (x - mean)^2 (float lanes, blocks combined in double) */
    double (*sum)(const float *x, int64_t n);
    double (*sum_sqdev)(const float *x, int64_t n, float mean);
    float (*max)(const float *x, int64_t n);                  /* -inf for n == 0 */
    /* y = exp(x - m); returns the sum of y */
    float (*exp_sum)(const float *x, float *y, int64_t n, float m);
    void (*scale)(float *x, int64_t n, float a);              /* x *= a */
    void (*add)(const float *a, const float *b, float *y, int64_t n);
    /* Column-wise softmax pieces over a rows x nr block s (nr a multiple of
     * the vector width): m[l] = max(m[l], s[r][l]); s = exp(s - m[l]) with
     * sum[l] += s; o[r][l] *= c[l]. */
    void (*col_max)(const float *s, int64_t rows, int nr, float *m);
    void (*col_exp)(float *s, int64_t rows, int nr, const float *m, float *sum);
    void (*col_scale)(float *o, int64_t rows, int nr, const float *c);
    /* The machine's peak: iters rounds of independent multiply-adds on
     * registers (fma_flops FLOP per round); *sink keeps the result alive. */
    void (*fma_loop)(int64_t iters, float *sink);
    int fma_flops;
} cpu_isa;

/* The table for this process: WSD_CPU_ISA if set and runnable, else the best
 * the CPU supports. Thread-safe; decided once. */
const cpu_isa *cpu_isa_get(void);
/* A named table if this CPU can run it ("portable", "avx2", "avx512",
 * "wasm-simd128"), else NULL. */
const cpu_isa *cpu_isa_by_name(const char *name);
/* Names of all tables built into this binary, NULL-terminated. */
const char *const *cpu_isa_names(void);

/* Back ends (defined in isa_*.c; NULL where not built). */
const cpu_isa *cpu_isa_portable(void);
const cpu_isa *cpu_isa_avx2(void);
const cpu_isa *cpu_isa_avx512(void);
const cpu_isa *cpu_isa_wasm(void);

#endif
