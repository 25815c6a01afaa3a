/* WebAssembly SIMD128 back end (the browser build: clang --target=wasm32
 * -msimd128, optionally -mrelaxed-simd): a 2x16 micro-kernel sized for V8's
 * vector registers, f32x4.relaxed_madd where relaxed SIMD is enabled, a
 * branch-free vector half-to-float conversion, and vmath.h at 4 lanes. Built
 * only when the compiler targets SIMD128. */
#include "backends/cpu/isa.h"
#include "core/dtype.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#define VM_W 4
#define VM_ATTR
#include "backends/cpu/vmath.h"

/* Multiply-add: relaxed SIMD's f32x4.relaxed_madd where the build enables it
 * (-mrelaxed-simd: one fused multiply-add on x86 with FMA, otherwise a
 * multiply and an add, as the engine decides; results may differ in the last
 * bits either way, which the kernel tests allow), else multiply + add.
 * clang 14 knows the builtin only by its prototype name and encodes it with
 * the prototype opcode (0xfd 0xaf 0x01), which browsers reject; the build
 * rewrites those bytes to the final opcode (scripts/wasm_relaxed_fixup.mjs). */
#if defined(__wasm_relaxed_simd__)
typedef float wasm_f4 __attribute__((vector_size(16)));
#if __has_builtin(__builtin_wasm_relaxed_madd_f32x4)
#define MADD(a, b, c) ((v128_t)__builtin_wasm_relaxed_madd_f32x4((wasm_f4)(a), (wasm_f4)(b), (wasm_f4)(c)))
#else
#define MADD(a, b, c) ((v128_t)__builtin_wasm_fma_f32x4((wasm_f4)(a), (wasm_f4)(b), (wasm_f4)(c)))
#endif
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

/* 2x16: 8 accumulators, 4 B vectors, 2 splats (+ 1 product without relaxed
 * SIMD) = 15 vector registers, what V8 on x86-64 allocates (xmm0-14; xmm15 is
 * its scratch). clang puts every load of a k step first and V8 keeps that
 * order, so the tile must fit with all of a step's loads live at once: larger
 * tiles (6x8, 4x12, 3x16) or a k-unrolled body spill in V8 and ran at 0.5-0.7x
 * this one in Chromium 156; 3x12 (9 + 3 + 3, relaxed only) ran the same. The
 * A values are splat straight from memory (a load, no shuffle). */
static void ukernel_2x16(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    const float *p0 = a, *p1 = a + rs;
    for (int64_t k = 0; k < kc; k++) {
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4), b2 = wasm_v128_load(b + 8), b3 = wasm_v128_load(b + 12);
        v128_t x0 = wasm_v128_load32_splat(p0), x1 = wasm_v128_load32_splat(p1);
        c00 = MADD(x0, b0, c00); c01 = MADD(x0, b1, c01); c02 = MADD(x0, b2, c02); c03 = MADD(x0, b3, c03);
        c10 = MADD(x1, b0, c10); c11 = MADD(x1, b1, c11); c12 = MADD(x1, b2, c12); c13 = MADD(x1, b3, c13);
        p0 += ks;
        p1 += ks;
        b += 16;
    }
    float *r0 = c, *r1 = c + ldc;
    if (acc) {
        c00 = wasm_f32x4_add(c00, wasm_v128_load(r0)); c01 = wasm_f32x4_add(c01, wasm_v128_load(r0 + 4));
        c02 = wasm_f32x4_add(c02, wasm_v128_load(r0 + 8)); c03 = wasm_f32x4_add(c03, wasm_v128_load(r0 + 12));
        c10 = wasm_f32x4_add(c10, wasm_v128_load(r1)); c11 = wasm_f32x4_add(c11, wasm_v128_load(r1 + 4));
        c12 = wasm_f32x4_add(c12, wasm_v128_load(r1 + 8)); c13 = wasm_f32x4_add(c13, wasm_v128_load(r1 + 12));
    }
    wasm_v128_store(r0, c00); wasm_v128_store(r0 + 4, c01); wasm_v128_store(r0 + 8, c02); wasm_v128_store(r0 + 12, c03);
    wasm_v128_store(r1, c10); wasm_v128_store(r1 + 4, c11); wasm_v128_store(r1 + 8, c12); wasm_v128_store(r1 + 12, c13);
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

/* Peak of multiply-add: 12 independent chains a = a * m + d (relaxed madd,
 * or a multiply and a dependent add), 12 x 4 lanes x 2 FLOP per round; 14
 * vector registers, so V8 keeps them all in registers. */
static void fma_loop_wasm(int64_t iters, float *sink)
{
    v128_t m = wasm_f32x4_splat(0.999f), d = wasm_f32x4_splat(1e-3f);
    v128_t a0 = wasm_f32x4_splat(1), a1 = wasm_f32x4_splat(2), a2 = wasm_f32x4_splat(3), a3 = wasm_f32x4_splat(4);
    v128_t a4 = wasm_f32x4_splat(5), a5 = wasm_f32x4_splat(6), a6 = wasm_f32x4_splat(7), a7 = wasm_f32x4_splat(8);
    v128_t a8 = wasm_f32x4_splat(9), a9 = wasm_f32x4_splat(10), a10 = wasm_f32x4_splat(11), a11 = wasm_f32x4_splat(12);
    for (int64_t i = 0; i < iters; i++) {
        a0 = MADD(a0, m, d); a1 = MADD(a1, m, d); a2 = MADD(a2, m, d); a3 = MADD(a3, m, d);
        a4 = MADD(a4, m, d); a5 = MADD(a5, m, d); a6 = MADD(a6, m, d); a7 = MADD(a7, m, d);
        a8 = MADD(a8, m, d); a9 = MADD(a9, m, d); a10 = MADD(a10, m, d); a11 = MADD(a11, m, d);
    }
    v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                              wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
    s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(a8, a9), wasm_f32x4_add(a10, a11)));
    *sink = wasm_f32x4_extract_lane(s, 0);
}

static const cpu_isa wasm_isa = {
    "wasm-simd128",
    {2, 16, ukernel_2x16},
    {2, 16, ukernel_2x16},
    256, 256, 96,
    f16_to_f32_wasm,
    vm_silu_arr, vm_gelu_arr, vm_quick_gelu_arr, vm_geglu_arr, vm_affine_arr, vm_norm_row,
    vm_sum, vm_sum_sqdev, vm_max_arr, vm_exp_sum, vm_scale_arr, vm_add_arr,
    vm_col_max, vm_col_exp, vm_col_scale,
    fma_loop_wasm, 12 * 4 * 2,
};

const cpu_isa *cpu_isa_wasm(void) { return &wasm_isa; }

#else
const cpu_isa *cpu_isa_wasm(void) { return 0; }
#endif
