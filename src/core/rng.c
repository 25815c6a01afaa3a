/* PyTorch-compatible CPU random numbers: see rng.h.
 *
 * All float arithmetic below is meant to round exactly as written (float
 * operations in float, double in double); the file must not be compiled with
 * -ffast-math, and contraction into FMA is switched off where the compiler
 * honours the pragma (clang; GCC's ISO C mode does not contract). */
#include "core/rng.h"

#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- mt19937 --------------------------------------------------------------- */

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void rng_seed(wsd_rng *r, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < WSD_MT_N; j++) {
        uint32_t prev = r->state[j - 1];
        r->state[j] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)j;
    }
    r->next = WSD_MT_N;
}

static void mt_regenerate(wsd_rng *r)
{
    uint32_t *s = r->state;
    for (int k = 0; k < WSD_MT_N; k++) {
        uint32_t y = (s[k] & MT_UPPER) | (s[(k + 1) % WSD_MT_N] & MT_LOWER);
        uint32_t v = s[(k + MT_M) % WSD_MT_N] ^ (y >> 1);
        if (y & 1u) v ^= MT_MATRIX_A;
        s[k] = v;
    }
    r->next = 0;
}

uint32_t rng_u32(wsd_rng *r)
{
    if (r->next >= WSD_MT_N) mt_regenerate(r);
    uint32_t y = r->state[r->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t rng_u64(wsd_rng *r)
{
    uint64_t hi = rng_u32(r);
    uint64_t lo = rng_u32(r);
    return (hi << 32) | lo;
}

/* torch's uniform_real_distribution<float>(0, 1): 24 low bits / 2^24. */
static float uniform_f32(wsd_rng *r)
{
    return (float)(rng_u32(r) & 0xffffffu) * (1.0f / 16777216.0f);
}

/* uniform_real_distribution<double>(0, 1): 53 low bits of a 64-bit draw / 2^53. */
static double uniform_f64(wsd_rng *r)
{
    return (double)(rng_u64(r) & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

void rng_rand(wsd_rng *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(r);
}

/* ---- Box-Muller over blocks of 16 ------------------------------------------ */

/* torch fills float tensors of >= 16 elements with its AVX2 kernel, whose log
 * and sincos are Cephes-style polynomial approximations (not libm), and the
 * compiler fuses their multiply-adds into FMA. To get the same bits we evaluate
 * the same algorithm in scalar float arithmetic with the same fusions. (libm's
 * logf/cosf/sinf differ from it in about 1% of values by one ulp.) */
static float f32_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* a*b + c with one rounding, as the compiler fused it in torch's kernel. */
static float madd(float a, float b, float c)
{
    return fmaf(a, b, c);
}

static float cephes_logf(float x)
{
    /* x in (0, 1] here; the caller never passes x <= 0. */
    if (x < 1.17549435e-38f) x = 1.17549435e-38f;
    uint32_t b = f32_bits(x);
    int32_t ex = (int32_t)(b >> 23) - 127;
    x = f32_from_bits((b & ~0x7f800000u) | 0x3f000000u); /* mantissa in [0.5, 1) */
    float e = (float)ex + 1.0f;
    if (x < 0.707106781186547524f) {
        e = e - 1.0f;
        x = (x - 1.0f) + x;
    } else {
        x = x - 1.0f;
    }
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = madd(y, x, -1.1514610310E-1f);
    y = madd(y, x, 1.1676998740E-1f);
    y = madd(y, x, -1.2420140846E-1f);
    y = madd(y, x, 1.4249322787E-1f);
    y = madd(y, x, -1.6668057665E-1f);
    y = madd(y, x, 2.0000714765E-1f);
    y = madd(y, x, -2.4999993993E-1f);
    y = madd(y, x, 3.3333331174E-1f);
    y = y * x;
    float eq1 = e * -2.12194440e-4f;
    y = madd(y, z, eq1);
    y = y - z * 0.5f;            /* z*0.5 is exact: fused or not, same value */
    x = x + y;
    x = x + e * 0.693359375f;    /* e*q2 is exact */
    return x;
}

static void cephes_sincosf(float x, float *s, float *c)
{
    /* x in [0, 2*pi) here (non-negative). */
    float y = x * 1.27323954473516f;
    int32_t j = (int32_t)y;
    j = (j + 1) & ~1;
    y = (float)j;
    int sin_neg = (j & 4) != 0;
    int use_sin_poly = (j & 2) == 0; /* octant pair where sin uses the sine polynomial */
    int cos_neg = ((~(j - 2)) & 4) != 0;
    x = madd(y, -0.78515625f, x);
    x = madd(y, -2.4187564849853515625e-4f, x);
    x = madd(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = madd(yc, z, -1.388731625493765E-003f);
    yc = madd(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = madd(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = madd(ys, z, 8.3321608736E-3f);
    ys = madd(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = madd(ys, x, x);
    float sv = use_sin_poly ? ys : yc;
    float cv = use_sin_poly ? yc : ys;
    *s = sin_neg ? -sv : sv;
    *c = cos_neg ? -cv : cv;
}

/* One block: d[0..7] feed the radii, d[8..15] the angles. */
static void box_muller_16(float *d)
{
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j]; /* [0, 1) -> (0, 1] */
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float theta = two_pi * u2;
        float st, ct;
        cephes_sincosf(theta, &st, &ct);
        d[j] = radius * ct;
        d[j + 8] = radius * st;
    }
}

/* ---- randn ------------------------------------------------------------------ */

static double normal_f64(wsd_rng *r)
{
    if (r->has_cached_normal) {
        r->has_cached_normal = 0;
        return r->cached_normal;
    }
    double u1 = uniform_f64(r);
    double u2 = uniform_f64(r);
    double radius = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * 3.14159265358979323846 * u1;
    r->cached_normal = radius * sin(theta);
    r->has_cached_normal = 1;
    return radius * cos(theta);
}

void rng_randn(wsd_rng *r, float *out, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_f64(r);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(r);
    for (size_t i = 0; i + 16 <= n; i += 16) box_muller_16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(r);
        box_muller_16(tail);
    }
}
