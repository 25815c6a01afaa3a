/* Float32 reference kernels of the CPU backend: one plain function per
 * operator, written for clarity, parallel over an outer dimension. These are
 * the oracle every faster kernel (and the WebGPU backend) is tested against.
 * Shapes are in the comments; all tensors are dense, row-major. */
#ifndef WSD_BACKENDS_CPU_KERNELS_H
#define WSD_BACKENDS_CPU_KERNELS_H

#include "core/threads.h"

#include <stdint.h>

/* y[N,Co,Ho,Wo] = sum_{ci,ky,kx} w[Co,Ci,kh,kw] * xpad[N,Ci, oy*s+ky, ox*s+kx] + b[Co]
 * (b may be NULL; padding is zero; pads: top, left, bottom, right) */
void ref_conv2d(wsd_pool *pool, const float *x, const float *w, const float *b, float *y,
                int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t kh, int64_t kw,
                int stride, int pad_t, int pad_l, int64_t Ho, int64_t Wo);

/* y[M,N] = x[M,K] @ w[N,K]^T + b[N] (b may be NULL) */
void ref_linear(wsd_pool *pool, const float *x, const float *w, const float *b, float *y, int64_t M, int64_t K, int64_t N);

/* x[N,C,S] normalised over (C/G channels x S) per group; y = xhat*gamma[C]+beta[C], SiLU if silu */
void ref_group_norm(wsd_pool *pool, const float *x, const float *gamma, const float *beta, float *y,
                    int64_t N, int64_t C, int64_t S, int G, float eps, int silu);

/* x[M,C] normalised over C per row */
void ref_layer_norm(wsd_pool *pool, const float *x, const float *gamma, const float *beta, float *y, int64_t M, int64_t C, float eps);

/* q[B,Tq,H*D], k[B,Tk,H*D], v[B,Tk,H*Dv] -> y[B,Tq,H*Dv]; causal masks j > i */
void ref_attention(wsd_pool *pool, const float *q, const float *k, const float *v, float *y,
                   int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, int64_t Dv, float scale, int causal);

void ref_silu(wsd_pool *pool, const float *x, float *y, int64_t n);
void ref_gelu(wsd_pool *pool, const float *x, float *y, int64_t n);
void ref_quick_gelu(wsd_pool *pool, const float *x, float *y, int64_t n);
/* x[M,2F] -> y[M,F] = x[:, :F] * gelu(x[:, F:]) */
void ref_geglu(wsd_pool *pool, const float *x, float *y, int64_t M, int64_t F);
/* x[M,C] softmax over C */
void ref_softmax(wsd_pool *pool, const float *x, float *y, int64_t M, int64_t C);

/* y = a (op) b with b broadcast: a has ndim dims `ashape`, b's shape right-aligned
 * (`bshape`, bndim dims, each 1 or equal). op: 0 add, 1 mul */
void ref_binary(wsd_pool *pool, int op, const float *a, const float *b, float *y,
                int ndim, const int64_t *ashape, int bndim, const int64_t *bshape);
void ref_scale(wsd_pool *pool, const float *x, float *y, int64_t n, float mul, float add);
void ref_clamp(wsd_pool *pool, const float *x, float *y, int64_t n, float lo, float hi);

/* Generic block copy for concat/slice: `outer` blocks; each copies `len` floats
 * from src + i*src_stride to dst + i*dst_stride. */
void ref_copy_blocks(float *dst, int64_t dst_stride, const float *src, int64_t src_stride, int64_t outer, int64_t len);

/* x[N,C,H,W] -> y[N,C,Ho,Wo], nearest (PyTorch 'nearest': src = floor(dst * (in/out))) */
void ref_upsample_nearest(wsd_pool *pool, const float *x, float *y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo);

/* ids[n] rows of table[V,C] -> y[n,C]; returns the first out-of-range id index or -1 */
int64_t ref_embedding(const int32_t *ids, const float *table, float *y, int64_t n, int64_t V, int64_t C);

/* t[B] -> y[B,C]: [sin(t f), cos(t f)] (cos first if flip), f_i = exp(-ln(10000) i / (C/2 - shift)) */
void ref_timestep_embed(const float *t, float *y, int64_t B, int64_t C, int flip, float shift);

/* x[N,A,B] -> y[N,B,A] */
void ref_transpose(wsd_pool *pool, const float *x, float *y, int64_t N, int64_t A, int64_t B);

#endif
