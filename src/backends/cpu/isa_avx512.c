/* x86-64 AVX-512F back end: a 12x32 micro-kernel (24 accumulators of 16
 * floats), a 12x16 one for products with few columns, F16C conversion at
 * 16 lanes, and vmath.h at 16 lanes. Chosen over AVX2 where the CPU has
 * AVX-512F (isa.c); WSD_CPU_ISA=avx2 forces the AVX2 path. */
#include "backends/cpu/isa.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512_ATTR __attribute__((target("avx512f,avx2,fma,f16c")))
#define VM_W 16
#define VM_ATTR AVX512_ATTR
#include "backends/cpu/vmath.h"

#define ROW2(i)                                              \
    {                                                        \
        __m512 ai = _mm512_set1_ps(p[(i) / 3][((i) % 3) * rs]); \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);           \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);           \
    }

AVX512_ATTR static void ukernel_12x32(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    const float *p[4] = {a, a + 3 * rs, a + 6 * rs, a + 9 * rs};
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        ROW2(0) ROW2(1) ROW2(2) ROW2(3) ROW2(4) ROW2(5) ROW2(6) ROW2(7) ROW2(8) ROW2(9) ROW2(10) ROW2(11)
        p[0] += ks;
        p[1] += ks;
        p[2] += ks;
        p[3] += ks;
        b += 32;
    }
#define ST2(i)                                                                                      \
    {                                                                                               \
        float *r = c + (i) * ldc;                                                                   \
        if (acc) {                                                                                  \
            c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(r));                                   \
            c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(r + 16));                              \
        }                                                                                           \
        _mm512_storeu_ps(r, c##i##0);                                                               \
        _mm512_storeu_ps(r + 16, c##i##1);                                                          \
    }
    ST2(0) ST2(1) ST2(2) ST2(3) ST2(4) ST2(5) ST2(6) ST2(7) ST2(8) ST2(9) ST2(10) ST2(11)
#undef ST2
}
#undef ROW2

#define ROW1(i)                                              \
    {                                                        \
        c##i = _mm512_fmadd_ps(_mm512_set1_ps(p[(i) / 3][((i) % 3) * rs]), b0, c##i); \
    }

AVX512_ATTR static void ukernel_12x16(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *b, float *c, int64_t ldc, int acc)
{
    const float *p[4] = {a, a + 3 * rs, a + 6 * rs, a + 9 * rs};
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        ROW1(0) ROW1(1) ROW1(2) ROW1(3) ROW1(4) ROW1(5) ROW1(6) ROW1(7) ROW1(8) ROW1(9) ROW1(10) ROW1(11)
        p[0] += ks;
        p[1] += ks;
        p[2] += ks;
        p[3] += ks;
        b += 16;
    }
#define ST1(i)                                                          \
    {                                                                   \
        float *r = c + (i) * ldc;                                       \
        if (acc) c##i = _mm512_add_ps(c##i, _mm512_loadu_ps(r));        \
        _mm512_storeu_ps(r, c##i);                                      \
    }
    ST1(0) ST1(1) ST1(2) ST1(3) ST1(4) ST1(5) ST1(6) ST1(7) ST1(8) ST1(9) ST1(10) ST1(11)
#undef ST1
}
#undef ROW1

AVX512_ATTR static void f16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(src + i))));
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

AVX512_ATTR static void fma_loop_avx512(int64_t iters, float *sink)
{
    __m512 m = _mm512_set1_ps(0.999f), d = _mm512_set1_ps(0.001f);
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(2.0f), a2 = _mm512_set1_ps(3.0f), a3 = _mm512_set1_ps(4.0f);
    __m512 a4 = _mm512_set1_ps(5.0f), a5 = _mm512_set1_ps(6.0f), a6 = _mm512_set1_ps(7.0f), a7 = _mm512_set1_ps(8.0f);
    __m512 a8 = _mm512_set1_ps(9.0f), a9 = _mm512_set1_ps(10.0f), a10 = _mm512_set1_ps(11.0f), a11 = _mm512_set1_ps(12.0f);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, m, d); a1 = _mm512_fmadd_ps(a1, m, d); a2 = _mm512_fmadd_ps(a2, m, d);
        a3 = _mm512_fmadd_ps(a3, m, d); a4 = _mm512_fmadd_ps(a4, m, d); a5 = _mm512_fmadd_ps(a5, m, d);
        a6 = _mm512_fmadd_ps(a6, m, d); a7 = _mm512_fmadd_ps(a7, m, d); a8 = _mm512_fmadd_ps(a8, m, d);
        a9 = _mm512_fmadd_ps(a9, m, d); a10 = _mm512_fmadd_ps(a10, m, d); a11 = _mm512_fmadd_ps(a11, m, d);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    *sink = _mm512_reduce_add_ps(s);
}

static const cpu_isa avx512_isa = {
    "avx512",
    {12, 32, ukernel_12x32},
    {12, 16, ukernel_12x16},
    256, 256, 96,
    f16_to_f32_avx512,
    vm_silu_arr, vm_gelu_arr, vm_quick_gelu_arr, vm_geglu_arr, vm_affine_arr, vm_norm_row,
    vm_sum, vm_sum_sqdev, vm_max_arr, vm_exp_sum, vm_scale_arr, vm_add_arr,
    vm_col_max, vm_col_exp, vm_col_scale,
    fma_loop_avx512, 12 * 16 * 2,
};

const cpu_isa *cpu_isa_avx512(void) { return &avx512_isa; }

#else
const cpu_isa *cpu_isa_avx512(void) { return 0; }
#endif
