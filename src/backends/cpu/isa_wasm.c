/* WebAssembly SIMD128 back end (the browser build: clang --target=wasm32
 * -msimd128): a 4x8 micro-kernel of f32x4 multiply + add (SIMD128 has no
 * fused multiply-add; relaxed SIMD's madd would need a newer clang than 14),
 * a branch-free vector half-to-float conversion, and vmath.h at 4 lanes.
 * Built only when the compiler targets SIMD128. */
#include "backends/cpu/isa.h"
#include "core/dtype.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#define VM_W 4
#define VM_ATTR
#include "backends/cpu/vmath.h"

#define MAC4x8(p)                                                                   \
    {                                                                               \
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);                  \
        v128_t x0 = wasm_v128_load32_splat(p), x1 = wasm_v128_load32_splat((p) + rs); \
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, b0));                          \
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, b1));                          \
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, b0));                          \
        c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, b1));                          \
        x0 = wasm_v128_load32_splat((p) + 2 * rs);                                  \
        x1 = wasm_v128_load32_splat((p) + 3 * rs);                                  \
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x0, b0));                          \
        c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x0, b1));                          \
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x1, b0));                          \
        c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x1, b1));                          \
        b += 8;                                                                     \
    }

/* 4x8: 8 accumulators, 2 B vectors, 2 broadcasts; k unrolled by two (fewer
 * loop back-edge checks in V8). Measured in Chromium 156 on x86-64 against
 * 6x8 (12 accumulators) and 3x16: 4x8 was the fastest (V8 keeps it all in
 * registers; the larger tiles spill). */
static void ukernel_4x8(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const float *p = a;
    int64_t k = 0;
    for (; k + 2 <= kc; k += 2) {
        MAC4x8(p)
        MAC4x8(p + ks)
        p += 2 * ks;
    }
    if (k < kc) MAC4x8(p)
#undef MAC4x8
#define ST(r, v0, v1)                                                               \
    {                                                                               \
        float *row = c + (r) * ldc;                                                 \
        if (acc) {                                                                  \
            v0 = wasm_f32x4_add(v0, wasm_v128_load(row));                           \
            v1 = wasm_f32x4_add(v1, wasm_v128_load(row + 4));                       \
        }                                                                           \
        wasm_v128_store(row, v0);                                                   \
        wasm_v128_store(row + 4, v1);                                               \
    }
    ST(0, c00, c01) ST(1, c10, c11) ST(2, c20, c21) ST(3, c30, c31)
#undef ST
}

static void f16_to_f32_wasm(const uint16_t *src, float *dst, int64_t n)
{
    typedef uint16_t vh __attribute__((vector_size(8)));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vh h;
        memcpy(&h, src + i, sizeof h);
        vi x = __builtin_convertvector(h, vi);
        vi mag = (x & 0x7FFF) << 13;
        vf f = (vf)mag * 0x1p112f;
        vi bits = (vi)vm_select((x & 0x7C00) == 0x7C00, (vf)(mag | 0x7F800000), f);
        bits |= (x & 0x8000) << 16;
        memcpy(dst + i, &bits, sizeof bits);
    }
    for (; i < n; i++) dst[i] = wsd_f16_to_f32(src[i]);
}

/* Peak of multiply + add (no FMA in SIMD128): 8 add chains fed by independent
 * multiplies, 8 x 4 lanes x 2 FLOP per round. */
static void fma_loop_wasm(int64_t iters, float *sink)
{
    v128_t m = wasm_f32x4_splat(0.999f);
    v128_t b0 = wasm_f32x4_splat(1e-3f), b1 = wasm_f32x4_splat(2e-3f), b2 = wasm_f32x4_splat(3e-3f), b3 = wasm_f32x4_splat(4e-3f);
    v128_t a0 = wasm_f32x4_splat(1), a1 = wasm_f32x4_splat(2), a2 = wasm_f32x4_splat(3), a3 = wasm_f32x4_splat(4);
    v128_t a4 = wasm_f32x4_splat(5), a5 = wasm_f32x4_splat(6), a6 = wasm_f32x4_splat(7), a7 = wasm_f32x4_splat(8);
    for (int64_t i = 0; i < iters; i++) {
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(b0, m)); a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(b1, m));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(b2, m)); a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(b3, m));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(b0, m)); a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(b1, m));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(b2, m)); a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(b3, m));
    }
    v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                              wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
    *sink = wasm_f32x4_extract_lane(s, 0);
}

static const cpu_isa wasm_isa = {
    "wasm-simd128",
    {4, 8, ukernel_4x8},
    {4, 8, ukernel_4x8},
    256, 256, 96,
    f16_to_f32_wasm,
    vm_silu_arr, vm_gelu_arr, vm_quick_gelu_arr, vm_geglu_arr, vm_affine_arr, vm_norm_row,
    vm_sum, vm_sum_sqdev, vm_max_arr, vm_exp_sum, vm_scale_arr, vm_add_arr,
    vm_col_max, vm_col_exp, vm_col_scale,
    fma_loop_wasm, 8 * 4 * 2,
};

const cpu_isa *cpu_isa_wasm(void) { return &wasm_isa; }

#else
const cpu_isa *cpu_isa_wasm(void) { return 0; }
#endif
