/* Torch-compatible CPU RNG: bit-exact against golden/rng.safetensors, and the
 * initial latents of the pipeline goldens come out of their seeds. */
#include "core/rng.h"
#include "io/safetensors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* Draws randn/rand(numel of `name`) from `r` and compares bit for bit. */
static void check_tensor(const st_file *f, const char *file, const char *name, wsd_rng *r, int uniform)
{
    wsd_err err = {0};
    const st_tensor *t = st_find(f, name);
    CHECKF(t != NULL, "%s: no tensor %s", file, name);
    if (!t) return;
    float *ref = NULL;
    if (st_read_f32(f, name, 0, NULL, &ref, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    size_t n = (size_t)t->numel;
    float *got = malloc(n * sizeof *got);
    if (uniform)
        rng_rand(r, got, n);
    else
        rng_randn(r, got, n);
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
            if (!bad) first = i;
            bad++;
        }
    }
    tu_checks++;
    if (bad) {
        tu_failures++;
        printf("FAIL %-48s %zu of %zu values differ (first at %zu: %.9g vs %.9g)\n", name, bad, n, first,
               got[first], ref[first]);
    } else {
        printf("ok   %-48s %zu values bit-exact (seed %llu)\n", name, n, (unsigned long long)r->seed);
    }
    free(got);
    free(ref);
}

static void check_seeded(const st_file *f, const char *file, const char *name, uint64_t seed, int uniform)
{
    wsd_rng r;
    rng_seed(&r, seed);
    check_tensor(f, file, name, &r, uniform);
}

int main(void)
{
    /* The engine itself: std::mt19937 with the default seed gives 4123659995 as
     * its 10000th output (C++ standard, [rand.predef]). */
    {
        wsd_rng r;
        rng_seed(&r, 5489);
        uint32_t v = 0;
        for (int i = 0; i < 10000; i++) v = rng_u32(&r);
        CHECKF(v == 4123659995u, "mt19937 10000th output %u", v);
        /* Only the low 32 bits of the seed matter, as in torch. */
        wsd_rng a, b;
        rng_seed(&a, 7);
        rng_seed(&b, 7 + (UINT64_C(1) << 32));
        CHECK(rng_u32(&a) == rng_u32(&b));
    }

    const char *file = "reference/golden/rng.safetensors";
    st_file f;
    wsd_err err = {0};
    wsd_status s = st_open(tu_shared(file), &f, &err);
    CHECKF(s == WSD_OK, "%s", err.msg);
    if (s == WSD_OK) {
        static const unsigned seeds[] = {0, 42, 1234};
        static const char *shapes[] = {"1x4x64x64", "1x4x16x16", "7", "16", "17", "40"};
        char name[64];
        for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
            for (size_t j = 0; j < sizeof shapes / sizeof shapes[0]; j++) {
                snprintf(name, sizeof name, "cpu/seed%u/%s", seeds[i], shapes[j]);
                check_seeded(&f, file, name, seeds[i], 0);
            }
        }
        /* Two successive draws from one generator. */
        wsd_rng r;
        rng_seed(&r, 0);
        check_tensor(&f, file, "cpu/seed0/sequence_first", &r, 0);
        check_tensor(&f, file, "cpu/seed0/sequence_second", &r, 0);
        check_seeded(&f, file, "cpu/seed0/rand_uniform_40", 0, 1);
        st_close(&f);
    }

    /* The small (double) path caches the second value of its last pair; a new
     * seed forgets it. */
    {
        wsd_rng r;
        float a[3], b[3];
        rng_seed(&r, 5);
        rng_randn(&r, a, 3);
        CHECK(r.has_cached_normal);
        rng_seed(&r, 5);
        CHECK(!r.has_cached_normal);
        rng_randn(&r, b, 3);
        CHECK(memcmp(a, b, sizeof a) == 0);
        /* randn(3) + randn(1) == randn(4): the cached value comes first. */
        float c[4], d[4];
        rng_seed(&r, 9);
        rng_randn(&r, c, 3);
        rng_randn(&r, c + 3, 1);
        rng_seed(&r, 9);
        rng_randn(&r, d, 4);
        CHECK(memcmp(c, d, sizeof c) == 0);
    }

    /* Pipeline goldens: latents_init = torch.randn([1,4,16,16], manual_seed(S)). */
    static const struct { const char *file; unsigned seed; } pipes[] = {
        {"reference/golden/pipeline_pndm_cfg.safetensors", 110},
        {"reference/golden/pipeline_dpmpp2m_cfg.safetensors", 111},
        {"reference/golden/pipeline_pndm_nocfg.safetensors", 112},
    };
    for (size_t i = 0; i < sizeof pipes / sizeof pipes[0]; i++) {
        s = st_open(tu_shared(pipes[i].file), &f, &err);
        CHECKF(s == WSD_OK, "%s", err.msg);
        if (s != WSD_OK) continue;
        check_seeded(&f, pipes[i].file, "latents_init", pipes[i].seed, 0);
        st_close(&f);
    }

    /* shapes-sd15 goldens: p{k}_latents_init [1,4,8,8] from seeds 2024..2027. */
    const char *shapes_file = "shapes-sd15/golden/shapes_goldens.safetensors";
    s = st_open(tu_shared(shapes_file), &f, &err);
    CHECKF(s == WSD_OK, "%s", err.msg);
    if (s == WSD_OK) {
        for (unsigned k = 0; k < 4; k++) {
            char name[32];
            snprintf(name, sizeof name, "p%u_latents_init", k);
            check_seeded(&f, shapes_file, name, 2024 + k, 0);
        }
        st_close(&f);
    }
    return tu_finish();
}
