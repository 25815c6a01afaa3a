/* Fast CPU kernels, beside the float32 reference kernels (kernels.h) that
 * stay the oracle: convolution as an implicit GEMM (GroupNorm(+SiLU) of the
 * input, nearest upsampling, bias, a per-(image, channel) bias and a residual
 * fused in), linear layers with f16/bf16/f32 weights widened while packing,
 * attention with an online softmax over key blocks (scores never exceed one
 * block per thread), normalisation and element-wise ops on the ISA table.
 * Functions returning int give 0, or -1 when scratch memory ran out. */
#ifndef WSD_BACKENDS_CPU_FAST_OPS_H
#define WSD_BACKENDS_CPU_FAST_OPS_H

#include "backends/cpu/gemm.h"

/* y[Nb,Co,Ho,Wo] = conv(g's input, w[Co, Ci, kh, kw]) + bias[Co] + bias_nc[Nb, Co] + res (each may be NULL).
 * res may equal y. flags: GEMM_ONE_KBLOCK when y shares storage with the input (1x1, one image). */
int fast_conv2d(cpu_ctx *c, const conv_geom *g, const void *w, wsd_dtype wdt, int64_t Co,
                const float *bias, const float *bias_nc, const float *res, float *y, int flags);

/* y[M,N] = x[M,K] @ w[N,K]^T + bias[N] + res[M,N] (bias, res may be NULL; res may equal y) */
int fast_linear(cpu_ctx *c, const float *x, const void *w, wsd_dtype wdt, const float *bias, const float *res,
                float *y, int64_t M, int64_t K, int64_t N);

/* As ref_attention. */
int fast_attention(cpu_ctx *c, const float *q, const float *k, const float *v, float *y,
                   int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, int64_t Dv, float scale, int causal);

/* GroupNorm of x[N,C,S] as per-(n, c) affine maps: xhat * gamma + beta = (x - tm) * ta + tb. */
void fast_group_norm_stats(cpu_ctx *c, const float *x, const float *gamma, const float *beta,
                           int64_t N, int64_t C, int64_t S, int G, float eps, float *tm, float *ta, float *tb);
/* y = (x - tm) * ta + tb per (n, c) plane, then SiLU if silu */
void fast_affine_planes(cpu_ctx *c, const float *x, float *y, int64_t planes, int64_t S,
                        const float *tm, const float *ta, const float *tb, int silu);
void fast_layer_norm(cpu_ctx *c, const float *x, const float *gamma, const float *beta, float *y, int64_t M, int64_t C, float eps);

enum { FAST_SILU, FAST_GELU, FAST_QUICK_GELU };
void fast_unary(cpu_ctx *c, int op, const float *x, float *y, int64_t n);
/* x[M,2F] -> y[M,F] = x[:, :F] * gelu(x[:, F:]) */
void fast_geglu(cpu_ctx *c, const float *x, float *y, int64_t M, int64_t F);
void fast_add(cpu_ctx *c, const float *a, const float *b, float *y, int64_t n);
/* y[r, j] = a[r, j] + (per_row ? b[r] : b[j]) for a [rows, cols] */
void fast_add_bcast(cpu_ctx *c, const float *a, const float *b, float *y, int64_t rows, int64_t cols, int per_row);
/* x[N,A,B] -> y[N,B,A] in cache blocks */
void fast_transpose(cpu_ctx *c, const float *x, float *y, int64_t N, int64_t A, int64_t B);
/* x[M,C] softmax over C */
void fast_softmax(cpu_ctx *c, const float *x, float *y, int64_t M, int64_t C);
/* rows ids[i] of table[V,C] (stored dtype) -> y[n,C]; returns the first bad id index or -1 */
int64_t fast_embedding(const cpu_isa *isa, const int32_t *ids, const void *table, wsd_dtype dt, float *y, int64_t n, int64_t V, int64_t C);

#endif
