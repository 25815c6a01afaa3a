/* The packed, cache-blocked GEMM behind the fast CPU kernels.
 *
 *   C[m, n] = sum_k A(m, k) B(n, k)  (+ bias_m[m] + bias_n[n] + bias_gm[g, m] + R[m, n])
 *
 * A and B are "sources" read through packing routines, so one driver serves
 * linear layers (activations x weights^T), convolutions (weights x an
 * implicit im2col of the input that is never materialised, with GroupNorm
 * affine + SiLU and nearest upsampling applied while packing) and attention.
 * Weights stay in their stored dtype (F32, F16, BF16) and are widened panel
 * by panel while packing.
 *
 * Blocking follows the usual scheme: k blocks of ~kc, column chunks of nc
 * (one task each, spread over the thread pool with dynamic scheduling), A
 * blocks of mc rows; the micro-kernel (isa.h) keeps an mr x nr tile of C in
 * registers. C may be grouped: column n lives in group g = n / ncol_group,
 * at c + g * group_stride + m * ldc + (n - g * ncol_group) (NCHW conv output
 * with the batch folded into the columns); col_stride > 1 writes C
 * transposed (a linear layer computed as y^T = W x^T). */
#ifndef WSD_BACKENDS_CPU_GEMM_H
#define WSD_BACKENDS_CPU_GEMM_H

#include "backends/cpu/isa.h"
#include "backends/cpu/pool.h"
#include "core/dtype.h"

#include <stddef.h>
#include <stdint.h>

/* ---- execution context: pool, ISA table, per-thread scratch ---- */
typedef struct cpu_ctx {
    cpu_pool *pool;
    int threads;
    const cpu_isa *isa;
    float **scratch;        /* [threads], each scratch_floats long, 64-byte aligned */
    size_t scratch_floats;
    float *shared;          /* one buffer all threads may read (packed K/V of attention) */
    size_t shared_floats;
} cpu_ctx;

/* threads <= 0: the CPUs this process may run on; isa NULL: cpu_isa_get(). NULL on failure. */
cpu_ctx *cpu_ctx_create(int threads, const cpu_isa *isa);
void cpu_ctx_free(cpu_ctx *c);
/* Grows the scratch buffers; -1 when out of memory. */
int cpu_ctx_reserve(cpu_ctx *c, size_t per_thread_floats, size_t shared_floats);
/* Gives the shared buffer back (between graphs: it can be several MB). */
void cpu_ctx_release_shared(cpu_ctx *c);

/* Runs fn(ctx, task, thread) for task in [0, n) on every thread, tasks handed
 * out one at a time (dynamic scheduling). */
typedef void (*cpu_task_fn)(void *ctx, int64_t task, int thread);
void cpu_parallel(cpu_ctx *c, int64_t n, cpu_task_fn fn, void *ctx);

/* ---- operands ---- */
typedef enum {
    GS_ROWS,   /* element (i, k) at p[i * ld + k] */
    GS_COLS,   /* element (i, k) at p[k * ld + i] */
    GS_CONV,   /* the implicit im2col of a convolution input: i = output pixel (n, oy, ox), k = (ci, ky, kx) */
} gemm_src_kind;

typedef struct conv_geom {
    const float *x;          /* [Nb, Ci, H, W] */
    int64_t Nb, Ci, H, W;
    int up;                  /* nearest upsampling by this integer factor first (1: none) */
    int64_t kh, kw, stride, pad_t, pad_l;
    int64_t Ho, Wo;
    const float *tm, *ta, *tb; /* per (n, ci): v = (x - tm) * ta + tb before the conv (ta NULL: none) */
    int silu;                /* then SiLU (only with ta) */
    /* set by the driver: input rows [band_r0, band_r0 + band_rows) of channels
     * from band_ci0 already transformed, row (ci, iy) at
     * band[((ci - band_ci0) * band_rows + iy - band_r0) * W] */
    const float *band;
    int64_t band_ci0, band_r0, band_rows;
} conv_geom;

typedef struct gemm_src {
    gemm_src_kind kind;
    wsd_dtype dt;            /* ROWS / COLS: F32, F16 or BF16 */
    const void *p;
    int64_t ld;
    float scale;             /* ROWS / COLS: every element times this (0 means 1) */
    const conv_geom *conv;   /* GS_CONV */
} gemm_src;

typedef struct gemm_out {
    float *c;
    int64_t ldc;
    int64_t col_stride;      /* distance between columns (0 or 1: contiguous) */
    int64_t ncol_group;      /* 0: one group of all columns */
    int64_t group_stride;
    const float *bias_m;     /* [M] or NULL */
    const float *bias_n;     /* [N] or NULL */
    const float *bias_gm;    /* [groups, M] or NULL */
    const float *res;        /* same layout as c, may be c itself, or NULL */
} gemm_out;

enum {
    GEMM_ONE_KBLOCK = 1,     /* all of K in one block: every column's input is packed before
                              * any output of that column is written (in-place 1x1 conv) */
};

/* 0 on success, -1 if scratch memory could not be allocated. kern NULL: the ISA's main kernel. */
int gemm_run(cpu_ctx *ctx, const cpu_kernel *kern, int64_t M, int64_t N, int64_t K,
             const gemm_src *A, const gemm_src *B, const gemm_out *C, int flags);


/* Packs rows [i0, i0+ni) x k [k0, k0+nk) of src into slivers of w rows:
 * dst[s][k][0..w) (zero-padded past ni). tmp: at least nk + 256 floats. */
void gemm_pack(const gemm_src *src, int64_t i0, int64_t ni, int64_t k0, int64_t nk, int w, float *dst,
               const cpu_isa *isa, float *tmp);

#endif
