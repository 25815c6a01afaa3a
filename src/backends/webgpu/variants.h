/* Kernel variants of the hot operators. The tuning database (tune.c) maps an
 * operator signature on an adapter to one of these names; every variant of
 * an operator computes the same function (tests/test_webgpu_ops.c runs each
 * against the reference variant "ref"). */
#ifndef WSD_WEBGPU_VARIANTS_H
#define WSD_WEBGPU_VARIANTS_H

#include "backends/webgpu/gpu.h"

#include <stdint.h>

/* conv2d and linear: workgroup tile BM x BN, K step BK, thread tile TM x TN */
typedef struct gemm_variant {
    const char *name;
    int ref; /* one thread per output, no tiling */
    uint32_t bm, bn, bk, tm, tn;
    int vec4; /* TM = TN = 8 as 2x2 blocks of 4x4, vec4 tile reads (names end in 'v') */
    /* convp.wgsl (names "p..."): 3x3 stride-1 convolutions only, as 9
     * shifted GEMMs over a TH x TW pixel tile whose input patch (with its
     * halo, group norm applied) is staged once per BK/9 input channels */
    int patch;
    uint32_t th, tw;
    /* wino.wgsl (names "w..."): 3x3 stride-1 pad-1 convolutions only, by
     * Winograd F(2x2, 3x3): 16 GEMMs over input channels with the VEC4
     * tiling, then wino_out.wgsl (output transform, split-K sum, bias) */
    int wino;
    /* conv.wgsl / linear.wgsl: two copies of each workgroup tile, one barrier
     * per k-step instead of two (names end in 'b') */
    int dbuf;
    /* gemv.wgsl (name "v32"): linear layers of at most GEMV_MAX_ROWS rows, 32
     * threads per output column (never a conv) */
    int gemv;
} gemm_variant;
#define GEMV_MAX_ROWS 8

/* attention: BQ queries per workgroup, BKV keys per block, NT threads.
 * kind ATTN_REF: one thread per query row, the CPU reference's loop;
 * ATTN_FLASH: attn.wgsl (scores straight from global memory, any head size);
 * ATTN_TILED: attn_tiled.wgsl (register-tiled Q K^T and P V; NT derived). */
enum {
    ATTN_REF = 0,
    ATTN_FLASH,
    ATTN_TILED,
    ATTN_FAST, /* attn_fast.wgsl: Q, K and V blocks in workgroup memory */
    ATTN_REG,  /* attn_reg.wgsl: whole query rows per thread in registers; RQ rows, KS key splits */
    ATTN_PAIR  /* attn_pair.wgsl: RQ rows per thread pair, half the channels each (needs subgroups) */
};
typedef struct attn_variant {
    const char *name;
    int kind;
    uint32_t bq, bkv, nt; /* ATTN_REG, ATTN_PAIR: nt = keys per score chunk (0: min(16, BKV / KS)) */
    uint32_t rq, ks;      /* ATTN_REG; ATTN_PAIR: rq, and ks = threads sharing a row's channels (SD: 2, names
                             "x...", or 4, names ending in 'q') */
    int k2d;              /* ATTN_REG: K/V staged as 2-D [key][d] arrays (names end in 'd') */
} attn_variant;

/* attn_reg.wgsl's derived constants: threads, keys per score chunk, and
 * workgroup vec4s (K + V block, or the outputs at the end) */
typedef struct attn_reg_consts {
    uint32_t nt, kc, smn;
} attn_reg_consts;
void attn_reg_constants(const attn_variant *v, uint32_t d, uint32_t dv, attn_reg_consts *c);

/* attn_tiled.wgsl's derived constants for a head size */
typedef struct attn_tiling {
    uint32_t nt, tq, tk, dc, rq, ndg, cd;
} attn_tiling;
void attn_tiled_constants(const attn_variant *v, uint32_t dv, attn_tiling *t);

/* group norm: elements per partial-statistics workgroup */
typedef struct gn_variant {
    const char *name;
    uint32_t chunk;
} gn_variant;

extern const gemm_variant gemm_variants[];
extern const int n_gemm_variants;
extern const attn_variant attn_variants[];
extern const int n_attn_variants;
extern const gn_variant gn_variants[];
extern const int n_gn_variants;

/* A tile variant plus a split-K count: names "m64n64k16t4x4" or
 * "m64n64k16t4x4/s4" (partial sums over 4 slices of K, then a reduction). */
typedef struct gemm_pick {
    const gemm_variant *v;
    uint32_t split;
} gemm_pick;

/* NULL if the name is unknown (or NULL). */
const gemm_variant *gemm_variant_find(const char *name);
/* v NULL if the name is unknown (or NULL); split 1 without a suffix. */
gemm_pick gemm_pick_parse(const char *name);
/* Split-K count that gives a small grid enough workgroups (1 when the grid
 * is big enough or K too short). */
uint32_t gemm_auto_split(const gemm_variant *v, uint64_t m, uint64_t n, uint64_t batch, uint64_t k);
/* The default when the database has no entry, by output shape. */
const gemm_variant *gemm_variant_default(uint64_t m, uint64_t n, int is_cpu);
/* Whether a variant can run on a device with these limits. */
int gemm_variant_fits(const gemm_variant *v, const gpu_caps *caps);
/* Whether a variant applies to an operator: patch and Winograd variants
 * take only 3x3 stride-1 convolutions padded by 1 on every side (conv3s1
 * nonzero; wgl_conv3s1 tells). */
int gemm_variant_applies(const gemm_variant *v, int conv3s1);
int attn_variant_fits(const attn_variant *v, uint32_t dv, const gpu_caps *caps);
/* attn_variant_fits with the key/query head size (ATTN_FAST keeps whole
 * blocks of Q, K and V in workgroup memory). */
/* attn_pair.wgsl's keys per score chunk */
uint32_t attn_pair_chunk(const attn_variant *v);
int attn_variant_fits2(const attn_variant *v, uint32_t d, uint32_t dv, const gpu_caps *caps);
/* `name` if it exists and fits, else the default for (d, dv). */
const attn_variant *attn_variant_pick(const char *name, uint32_t d, uint32_t dv, const gpu_caps *caps);
const gn_variant *gn_variant_pick(const char *name, uint64_t seg_len);

#endif
