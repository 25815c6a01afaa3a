/* Random numbers that reproduce PyTorch's CPU generator.
 *
 * `torch.Generator().manual_seed(S)` is an mt19937 engine seeded with the low
 * 32 bits of S. On top of it:
 *  - rng_randn: torch.randn(n, dtype=float32, generator=g) for a contiguous
 *    tensor. n >= 16: n 24-bit uniforms, turned into normals by Box-Muller in
 *    blocks of 16 (first 8 are the radii inputs, last 8 the angles), the last
 *    partial block recomputed from 16 fresh uniforms. n < 16: the
 *    double-precision scalar path, one pair of 53-bit uniforms per two values,
 *    with the second value of a pair cached in the generator (as torch does).
 *  - rng_rand: torch.rand(n, dtype=float32): 24-bit uniforms in [0, 1).
 *
 * Bit-exact against torch 2.x on x86-64 (tests/test_rng.c checks the goldens).
 * The generator is a plain struct: copy it to fork a stream. No allocation. */
#ifndef WSD_CORE_RNG_H
#define WSD_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#define WSD_MT_N 624

typedef struct wsd_rng {
    uint32_t state[WSD_MT_N];
    int next;                 /* index of the next word in state; WSD_MT_N = regenerate */
    uint64_t seed;            /* the seed given to rng_seed */
    int has_cached_normal;    /* the double path keeps the second value of a pair */
    double cached_normal;
} wsd_rng;

/* torch.Generator().manual_seed(seed). Negative Python seeds wrap to uint64
 * (torch does the same), so pass (uint64_t)(int64_t)seed. */
void rng_seed(wsd_rng *r, uint64_t seed);

/* Raw engine output: one 32-bit word, and torch's 64-bit draw (two words,
 * the first one the high half). */
uint32_t rng_u32(wsd_rng *r);
uint64_t rng_u64(wsd_rng *r);

/* torch.randn(n) as float32 (see above). n may be 0. */
void rng_randn(wsd_rng *r, float *out, size_t n);

/* torch.rand(n) as float32: uniform in [0, 1) with 24 random bits. */
void rng_rand(wsd_rng *r, float *out, size_t n);

#endif
