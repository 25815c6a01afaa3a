/* x86-64 AVX2 + FMA + F16C back end: a 6x16 micro-kernel (12 accumulators
 * of 8 floats), F16C half conversion, and vmath.h at 8 lanes. Functions carry
 * a target attribute, so this file builds without -mavx2 and is only called
 * after the CPU reported the features (isa.c). */
#include "backends/cpu/isa.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2_ATTR __attribute__((target("avx2,fma,f16c")))
#define VM_W 8
#define VM_ATTR AVX2_ATTR
#include "backends/cpu/vmath.h"

AVX2_ATTR static void ukernel_6x16(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *p0 = a, *p3 = a + 3 * rs;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(p0), a1 = _mm256_broadcast_ss(p0 + rs);
        c00 = _mm256_fmadd_ps(a0, b0, c00);
        c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10);
        c11 = _mm256_fmadd_ps(a1, b1, c11);
        a0 = _mm256_broadcast_ss(p0 + 2 * rs);
        a1 = _mm256_broadcast_ss(p3);
        c20 = _mm256_fmadd_ps(a0, b0, c20);
        c21 = _mm256_fmadd_ps(a0, b1, c21);
        c30 = _mm256_fmadd_ps(a1, b0, c30);
        c31 = _mm256_fmadd_ps(a1, b1, c31);
        a0 = _mm256_broadcast_ss(p3 + rs);
        a1 = _mm256_broadcast_ss(p3 + 2 * rs);
        c40 = _mm256_fmadd_ps(a0, b0, c40);
        c41 = _mm256_fmadd_ps(a0, b1, c41);
        c50 = _mm256_fmadd_ps(a1, b0, c50);
        c51 = _mm256_fmadd_ps(a1, b1, c51);
        p0 += ks;
        p3 += ks;
        b += 16;
    }
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc, *r4 = c + 4 * ldc, *r5 = c + 5 * ldc;
    if (acc) {
        c00 = _mm256_add_ps(c00, _mm256_loadu_ps(r0)); c01 = _mm256_add_ps(c01, _mm256_loadu_ps(r0 + 8));
        c10 = _mm256_add_ps(c10, _mm256_loadu_ps(r1)); c11 = _mm256_add_ps(c11, _mm256_loadu_ps(r1 + 8));
        c20 = _mm256_add_ps(c20, _mm256_loadu_ps(r2)); c21 = _mm256_add_ps(c21, _mm256_loadu_ps(r2 + 8));
        c30 = _mm256_add_ps(c30, _mm256_loadu_ps(r3)); c31 = _mm256_add_ps(c31, _mm256_loadu_ps(r3 + 8));
        c40 = _mm256_add_ps(c40, _mm256_loadu_ps(r4)); c41 = _mm256_add_ps(c41, _mm256_loadu_ps(r4 + 8));
        c50 = _mm256_add_ps(c50, _mm256_loadu_ps(r5)); c51 = _mm256_add_ps(c51, _mm256_loadu_ps(r5 + 8));
    }
    _mm256_storeu_ps(r0, c00); _mm256_storeu_ps(r0 + 8, c01);
    _mm256_storeu_ps(r1, c10); _mm256_storeu_ps(r1 + 8, c11);
    _mm256_storeu_ps(r2, c20); _mm256_storeu_ps(r2 + 8, c21);
    _mm256_storeu_ps(r3, c30); _mm256_storeu_ps(r3 + 8, c31);
    _mm256_storeu_ps(r4, c40); _mm256_storeu_ps(r4 + 8, c41);
    _mm256_storeu_ps(r5, c50); _mm256_storeu_ps(r5 + 8, c51);
}

AVX2_ATTR static void f16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
    if (i < n) {
        uint16_t tmp[8] = {0};
        float out[8];
        memcpy(tmp, src + i, (size_t)(n - i) * sizeof *tmp);
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)tmp)));
        memcpy(dst + i, out, (size_t)(n - i) * sizeof *out);
    }
}

AVX2_ATTR static void fma_loop_avx2(int64_t iters, float *sink)
{
    __m256 m = _mm256_set1_ps(0.999f), d = _mm256_set1_ps(0.001f);
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(2.0f), a2 = _mm256_set1_ps(3.0f), a3 = _mm256_set1_ps(4.0f);
    __m256 a4 = _mm256_set1_ps(5.0f), a5 = _mm256_set1_ps(6.0f), a6 = _mm256_set1_ps(7.0f), a7 = _mm256_set1_ps(8.0f);
    __m256 a8 = _mm256_set1_ps(9.0f), a9 = _mm256_set1_ps(10.0f), a10 = _mm256_set1_ps(11.0f), a11 = _mm256_set1_ps(12.0f);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, m, d); a1 = _mm256_fmadd_ps(a1, m, d); a2 = _mm256_fmadd_ps(a2, m, d);
        a3 = _mm256_fmadd_ps(a3, m, d); a4 = _mm256_fmadd_ps(a4, m, d); a5 = _mm256_fmadd_ps(a5, m, d);
        a6 = _mm256_fmadd_ps(a6, m, d); a7 = _mm256_fmadd_ps(a7, m, d); a8 = _mm256_fmadd_ps(a8, m, d);
        a9 = _mm256_fmadd_ps(a9, m, d); a10 = _mm256_fmadd_ps(a10, m, d); a11 = _mm256_fmadd_ps(a11, m, d);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink = out[0];
}

static const cpu_isa avx2_isa = {
    "avx2",
    {6, 16, ukernel_6x16},
    {6, 16, ukernel_6x16},
    256, 256, 96,
    f16_to_f32_avx2,
    vm_silu_arr, vm_gelu_arr, vm_quick_gelu_arr, vm_geglu_arr, vm_affine_arr, vm_norm_row,
    vm_sum, vm_sum_sqdev, vm_max_arr, vm_exp_sum, vm_scale_arr, vm_add_arr,
    vm_col_max, vm_col_exp, vm_col_scale,
    fma_loop_avx2, 12 * 8 * 2,
};

const cpu_isa *cpu_isa_avx2(void) { return &avx2_isa; }

#else
const cpu_isa *cpu_isa_avx2(void) { return 0; }
#endif
