/* Choosing the instruction-set back end, and the portable one: plain C with
 * 4-lane vector extensions (SSE2 on x86-64, SIMD128 in a -msimd128 wasm
 * build, scalar code elsewhere) and a 4x8 micro-kernel. */
#include "backends/cpu/isa.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VM_W 4
#define VM_ATTR
#include "backends/cpu/vmath.h"

static void ukernel_4x8(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    vf c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
    for (int64_t k = 0; k < kc; k++) {
        vf b0 = vm_load(b), b1 = vm_load(b + 4);
        vf a0 = vm_set1(a[0]), a1 = vm_set1(a[rs]), a2 = vm_set1(a[2 * rs]), a3 = vm_set1(a[3 * rs]);
        c00 += a0 * b0; c01 += a0 * b1;
        c10 += a1 * b0; c11 += a1 * b1;
        c20 += a2 * b0; c21 += a2 * b1;
        c30 += a3 * b0; c31 += a3 * b1;
        a += ks;
        b += 8;
    }
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc;
    if (acc) {
        c00 += vm_load(r0); c01 += vm_load(r0 + 4);
        c10 += vm_load(r1); c11 += vm_load(r1 + 4);
        c20 += vm_load(r2); c21 += vm_load(r2 + 4);
        c30 += vm_load(r3); c31 += vm_load(r3 + 4);
    }
    vm_store(r0, c00); vm_store(r0 + 4, c01);
    vm_store(r1, c10); vm_store(r1 + 4, c11);
    vm_store(r2, c20); vm_store(r2 + 4, c21);
    vm_store(r3, c30); vm_store(r3 + 4, c31);
}

/* Half to float without tables or branches: the 15 magnitude bits moved to
 * float position and scaled by 2^112 give normals and subnormals exactly;
 * infinities and NaNs get the full exponent back. */
static void f16_to_f32_portable(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + i, 2);
        uint32_t mag = (uint32_t)(h & 0x7FFF) << 13, bits;
        float f;
        memcpy(&f, &mag, 4);
        f *= 0x1p112f;
        memcpy(&bits, &f, 4);
        if ((h & 0x7C00) == 0x7C00) bits = mag | 0x7F800000u;
        bits |= (uint32_t)(h & 0x8000) << 16;
        memcpy(dst + i, &bits, 4);
    }
}

/* Multiply + add (no fused multiply-add in portable C): 2 FLOP per lane. */
static void fma_loop_portable(int64_t iters, float *sink)
{
    vf m = vm_set1(0.999f), d = vm_set1(0.001f);
    vf a0 = vm_set1(1), a1 = vm_set1(2), a2 = vm_set1(3), a3 = vm_set1(4), a4 = vm_set1(5), a5 = vm_set1(6);
    vf a6 = vm_set1(7), a7 = vm_set1(8), a8 = vm_set1(9), a9 = vm_set1(10), a10 = vm_set1(11), a11 = vm_set1(12);
    for (int64_t i = 0; i < iters; i++) {
        a0 = a0 * m + d; a1 = a1 * m + d; a2 = a2 * m + d; a3 = a3 * m + d; a4 = a4 * m + d; a5 = a5 * m + d;
        a6 = a6 * m + d; a7 = a7 * m + d; a8 = a8 * m + d; a9 = a9 * m + d; a10 = a10 * m + d; a11 = a11 * m + d;
    }
    vf s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    *sink = s[0];
}

static const cpu_isa portable_isa = {
    "portable",
    {4, 8, ukernel_4x8},
    {4, 8, ukernel_4x8},
    256, 256, 64,
    f16_to_f32_portable,
    vm_silu_arr, vm_gelu_arr, vm_quick_gelu_arr, vm_geglu_arr, vm_affine_arr, vm_norm_row,
    vm_sum, vm_sum_sqdev, vm_max_arr, vm_exp_sum, vm_scale_arr, vm_add_arr,
    vm_col_max, vm_col_exp, vm_col_scale,
    fma_loop_portable, 12 * 4 * 2,
};

const cpu_isa *cpu_isa_portable(void) { return &portable_isa; }

/* ---- selection ---- */

static int cpu_has(const char *what)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(what, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (!strcmp(what, "avx512")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
    (void)what;
    return 0;
}

static const char *const all_names[] = {"portable", "avx2", "avx512", "wasm-simd128", NULL};

const char *const *cpu_isa_names(void) { return all_names; }

const cpu_isa *cpu_isa_by_name(const char *name)
{
    if (!name) return NULL;
    if (!strcmp(name, "portable")) return cpu_isa_portable();
    if (!strcmp(name, "avx2")) return cpu_has("avx2") ? cpu_isa_avx2() : NULL;
    if (!strcmp(name, "avx512")) return cpu_has("avx512") ? cpu_isa_avx512() : NULL;
    if (!strcmp(name, "wasm-simd128")) return cpu_isa_wasm();
    return NULL;
}

static const cpu_isa *best(void)
{
    const cpu_isa *t;
    if ((t = cpu_isa_wasm())) return t;
    if ((t = cpu_isa_by_name("avx512"))) return t;
    if ((t = cpu_isa_by_name("avx2"))) return t;
    return cpu_isa_portable();
}

static _Atomic(const cpu_isa *) chosen;

const cpu_isa *cpu_isa_get(void)
{
    const cpu_isa *t = atomic_load(&chosen);
    if (t) return t;
    const char *env = getenv("WSD_CPU_ISA");
    t = env && *env ? cpu_isa_by_name(env) : NULL;
    if (!t) t = best();
    atomic_store(&chosen, t);
    return t;
}
