/* Vectorised float math, written once with GCC/Clang vector extensions and
 * compiled by each instruction-set file (isa_*.c) at its own width.
 *
 * Include once per translation unit after defining
 *   VM_W     lanes per vector (4, 8 or 16)
 *   VM_ATTR  attributes of every function here (e.g. a target attribute)
 * It defines file-local (static) vector types vf / vi and vm_* functions.
 *
 * Accuracy: exp within 2 ulp of expf over [-87.3, 88.3] (0 below), erf
 * within 3e-7 absolute (two fitted pieces: erf(x)/x as a polynomial in x^2
 * on [0, 1], erfc(x) e^{x^2} as a polynomial in 1/x on [1, 4]; coefficients
 * fitted for this file with mpmath.chebyfit). */
#ifndef VM_W
#error "define VM_W and VM_ATTR before including vmath.h"
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float vf __attribute__((vector_size(VM_W * 4)));
typedef int32_t vi __attribute__((vector_size(VM_W * 4)));

VM_ATTR static inline vf vm_load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
VM_ATTR static inline void vm_store(float *p, vf v) { memcpy(p, &v, sizeof v); }
VM_ATTR static inline vf vm_set1(float x) { return (vf){0} + x; }
/* Loads n < VM_W floats, zero-filling the rest; stores n. */
VM_ATTR static inline vf vm_load_part(const float *p, int64_t n)
{
    vf v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}
VM_ATTR static inline void vm_store_part(float *p, vf v, int64_t n) { memcpy(p, &v, (size_t)n * sizeof(float)); }
VM_ATTR static inline vf vm_select(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
VM_ATTR static inline vf vm_min(vf a, vf b) { return vm_select(a < b, a, b); }
VM_ATTR static inline vf vm_max(vf a, vf b) { return vm_select(a > b, a, b); }
VM_ATTR static inline vf vm_abs(vf a) { return (vf)((vi)a & 0x7FFFFFFF); }

VM_ATTR static inline vf vm_exp(vf x)
{
    vi under = x < -87.33f;
    x = vm_min(vm_max(x, vm_set1(-87.33f)), vm_set1(88.37f));
    /* x = n ln2 + r, |r| <= ln2 / 2; n rounded with the 1.5 * 2^23 trick */
    vf t = x * 1.44269504088896341f + 12582912.0f;
    vf n = t - 12582912.0f;
    vf r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    /* (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2], degree 4 */
    vf p = r * 0.001392617611993558f + 0.008363173074513711f;
    p = p * r + 0.041666554662050534f;
    p = p * r + 0.1666657702559799f;
    p = p * r + 0.5f;
    vf e = (r * r) * p + r + 1.0f;
    vi bits = (((vi)t - 0x4B400000) + 127) << 23;
    vf res = e * (vf)bits;
    return (vf)((vi)res & ~under);
}

VM_ATTR static inline vf vm_erf(vf x)
{
    vf a = vm_abs(x);
    /* |x| <= 1: x * P(x^2) */
    vf u = a * a;
    vf p = u * 7.875875062685488e-05f - 0.000801686428716587f;
    p = p * u + 0.005189087423433974f;
    p = p * u - 0.026854212010626412f;
    p = p * u + 0.11283594715160218f;
    p = p * u - 0.37612626666720334f;
    p = p * u + 1.1283791658483509f;
    vf small = a * p;
    /* 1 < |x| <= 4: 1 - e^{-x^2} Q(1/x); erf rounds to 1 beyond */
    vf b = vm_min(vm_max(a, vm_set1(1.0f)), vm_set1(4.0f));
    vf t = 1.0f / b;
    vf q = t * 0.02503254318653564f - 0.14789844462513763f;
    q = q * t + 0.3608618604048329f;
    q = q * t - 0.42983374861601875f;
    q = q * t + 0.14547734763553957f;
    q = q * t + 0.2825897937336853f;
    q = q * t - 0.3948595879487394f;
    q = q * t + 0.024847521258800558f;
    q = q * t + 0.5612146379895168f;
    q = q * t + 0.00015165568581170205f;
    vf large = 1.0f - vm_exp(-(b * b)) * q;
    vf r = vm_select(a <= 1.0f, small, large);
    return (vf)((vi)r | ((vi)x & (int32_t)0x80000000));
}

VM_ATTR static inline vf vm_silu(vf v) { return v / (1.0f + vm_exp(-v)); }
VM_ATTR static inline vf vm_gelu(vf v) { return 0.5f * v * (1.0f + vm_erf(v * 0.70710678118654752f)); }
VM_ATTR static inline vf vm_quick_gelu(vf v) { return v / (1.0f + vm_exp(v * -1.702f)); }

VM_ATTR static inline float vm_hsum(vf v)
{
    float s = 0.0f;
    for (int i = 0; i < VM_W; i++) s += v[i];
    return s;
}

/* ---- array functions for the isa table ---- */
#define VM_UNARY(name, expr)                                              \
    VM_ATTR static void name(const float *x, float *y, int64_t n)         \
    {                                                                     \
        int64_t i = 0;                                                    \
        for (; i + VM_W <= n; i += VM_W) {                                \
            vf v = vm_load(x + i);                                        \
            vm_store(y + i, expr);                                        \
        }                                                                 \
        if (i < n) {                                                      \
            vf v = vm_load_part(x + i, n - i);                            \
            vm_store_part(y + i, expr, n - i);                            \
        }                                                                 \
    }
VM_UNARY(vm_silu_arr, vm_silu(v))
VM_UNARY(vm_gelu_arr, vm_gelu(v))
VM_UNARY(vm_quick_gelu_arr, vm_quick_gelu(v))
#undef VM_UNARY

VM_ATTR static void vm_geglu_arr(const float *x, const float *g, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + VM_W <= n; i += VM_W) vm_store(y + i, vm_load(x + i) * vm_gelu(vm_load(g + i)));
    if (i < n) vm_store_part(y + i, vm_load_part(x + i, n - i) * vm_gelu(vm_load_part(g + i, n - i)), n - i);
}

VM_ATTR static void vm_affine_arr(const float *x, float *y, int64_t n, float m, float a, float b, int silu)
{
    int64_t i = 0;
    vf vm = vm_set1(m), va = vm_set1(a), vb = vm_set1(b);
    if (silu) {
        for (; i + VM_W <= n; i += VM_W) vm_store(y + i, vm_silu((vm_load(x + i) - vm) * va + vb));
        if (i < n) vm_store_part(y + i, vm_silu((vm_load_part(x + i, n - i) - vm) * va + vb), n - i);
    } else {
        for (; i + VM_W <= n; i += VM_W) vm_store(y + i, (vm_load(x + i) - vm) * va + vb);
        if (i < n) vm_store_part(y + i, (vm_load_part(x + i, n - i) - vm) * va + vb, n - i);
    }
}

VM_ATTR static void vm_norm_row(const float *x, float *y, int64_t n, float mean, float rstd, const float *gamma, const float *beta)
{
    int64_t i = 0;
    vf vm = vm_set1(mean), vr = vm_set1(rstd);
    for (; i + VM_W <= n; i += VM_W)
        vm_store(y + i, (vm_load(x + i) - vm) * vr * vm_load(gamma + i) + vm_load(beta + i));
    for (; i < n; i++) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

/* Sums in float lanes over blocks of 4096, combined in double. */
VM_ATTR static double vm_sum(const float *x, int64_t n)
{
    double total = 0.0;
    int64_t i = 0;
    while (i < n) {
        int64_t end = n - i > 4096 ? i + 4096 : n;
        vf s0 = {0}, s1 = {0};
        for (; i + 2 * VM_W <= end; i += 2 * VM_W) {
            s0 += vm_load(x + i);
            s1 += vm_load(x + i + VM_W);
        }
        float s = vm_hsum(s0 + s1);
        for (; i < end; i++) s += x[i];
        total += s;
    }
    return total;
}

VM_ATTR static double vm_sum_sqdev(const float *x, int64_t n, float mean)
{
    double total = 0.0;
    int64_t i = 0;
    vf m = vm_set1(mean);
    while (i < n) {
        int64_t end = n - i > 4096 ? i + 4096 : n;
        vf s0 = {0}, s1 = {0};
        for (; i + 2 * VM_W <= end; i += 2 * VM_W) {
            vf d0 = vm_load(x + i) - m, d1 = vm_load(x + i + VM_W) - m;
            s0 += d0 * d0;
            s1 += d1 * d1;
        }
        float s = vm_hsum(s0 + s1);
        for (; i < end; i++) s += (x[i] - mean) * (x[i] - mean);
        total += s;
    }
    return total;
}

VM_ATTR static float vm_max_arr(const float *x, int64_t n)
{
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= VM_W) {
        vf v = vm_load(x);
        for (i = VM_W; i + VM_W <= n; i += VM_W) v = vm_max(v, vm_load(x + i));
        for (int l = 0; l < VM_W; l++) m = v[l] > m ? v[l] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

VM_ATTR static float vm_exp_sum(const float *x, float *y, int64_t n, float m)
{
    vf s = {0}, vmx = vm_set1(m);
    int64_t i = 0;
    for (; i + VM_W <= n; i += VM_W) {
        vf e = vm_exp(vm_load(x + i) - vmx);
        vm_store(y + i, e);
        s += e;
    }
    float total = vm_hsum(s);
    if (i < n) {
        vf e = vm_exp(vm_load_part(x + i, n - i) - vmx);
        vm_store_part(y + i, e, n - i);
        for (int64_t l = 0; l < n - i; l++) total += e[l];
    }
    return total;
}

VM_ATTR static void vm_scale_arr(float *x, int64_t n, float a)
{
    int64_t i = 0;
    vf va = vm_set1(a);
    for (; i + VM_W <= n; i += VM_W) vm_store(x + i, vm_load(x + i) * va);
    for (; i < n; i++) x[i] *= a;
}

VM_ATTR static void vm_add_arr(const float *a, const float *b, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + VM_W <= n; i += VM_W) vm_store(y + i, vm_load(a + i) + vm_load(b + i));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

VM_ATTR static void vm_col_max(const float *s, int64_t rows, int nr, float *m)
{
    for (int l = 0; l < nr; l += VM_W) {
        vf v = vm_load(m + l);
        for (int64_t r = 0; r < rows; r++) v = vm_max(v, vm_load(s + r * nr + l));
        vm_store(m + l, v);
    }
}

VM_ATTR static void vm_col_exp(float *s, int64_t rows, int nr, const float *m, float *sum)
{
    for (int l = 0; l < nr; l += VM_W) {
        vf vmx = vm_load(m + l), acc = vm_load(sum + l);
        for (int64_t r = 0; r < rows; r++) {
            vf e = vm_exp(vm_load(s + r * nr + l) - vmx);
            vm_store(s + r * nr + l, e);
            acc += e;
        }
        vm_store(sum + l, acc);
    }
}

VM_ATTR static void vm_col_scale(float *o, int64_t rows, int nr, const float *c)
{
    for (int l = 0; l < nr; l += VM_W) {
        vf vc = vm_load(c + l);
        for (int64_t r = 0; r < rows; r++) vm_store(o + r * nr + l, vm_load(o + r * nr + l) * vc);
    }
}
