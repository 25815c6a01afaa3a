/* Element types of stored tensors, and half-precision conversions. */
#ifndef WSD_CORE_DTYPE_H
#define WSD_CORE_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum wsd_dtype {
    WSD_DT_F32 = 0,
    WSD_DT_F16,
    WSD_DT_BF16,
    WSD_DT_I64,
    WSD_DT_I32,
    WSD_DT_U8,
    WSD_DT_COUNT
} wsd_dtype;

size_t wsd_dtype_size(wsd_dtype t);
const char *wsd_dtype_name(wsd_dtype t); /* safetensors spelling: "F32" */
/* Returns 0 and sets *t when `name` is a dtype wsd reads; -1 otherwise. */
int wsd_dtype_parse(const char *name, wsd_dtype *t);

static inline float wsd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 113;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3FF;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round-to-nearest-even float -> half. */
static inline uint16_t wsd_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
    if (absx >= 0x477FF000) /* rounds to >= 65520: overflow */
        return (uint16_t)(sign | 0x7C00);
    if (absx < 0x38800000) { /* subnormal half or zero */
        if (absx < 0x33000000) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half_m = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half_m & 1))) half_m++;
        return (uint16_t)(sign | half_m);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float wsd_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Converts n elements of a float-like dtype (F32, F16, BF16) to float32.
 * `src` may be unaligned (it often points into a mapped file). */
void wsd_convert_to_f32(wsd_dtype t, const void *src, float *dst, size_t n);

#endif
