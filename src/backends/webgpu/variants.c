/* Kernel variant tables: see variants.h. */
#include "backends/webgpu/variants.h"

#include <stdlib.h>
#include <string.h>

const gemm_variant gemm_variants[] = {
    {"ref", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"m32n32k16t2x2", 0, 32, 32, 16, 2, 2, 0, 0, 0, 0, 0, 0, 0},
    {"m64n64k16t4x4", 0, 64, 64, 16, 4, 4, 0, 0, 0, 0, 0, 0, 0},
    {"m16n64k16t1x4", 0, 16, 64, 16, 1, 4, 0, 0, 0, 0, 0, 0, 0},
    {"m64n32k16t4x2", 0, 64, 32, 16, 4, 2, 0, 0, 0, 0, 0, 0, 0},
    {"m64n16k16t4x1", 0, 64, 16, 16, 4, 1, 0, 0, 0, 0, 0, 0, 0},
    {"m128n64k8t8x4", 0, 128, 64, 8, 8, 4, 0, 0, 0, 0, 0, 0, 0},
    {"m64n128k8t4x8", 0, 64, 128, 8, 4, 8, 0, 0, 0, 0, 0, 0, 0},
    {"m128n128k8t8x8", 0, 128, 128, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0},
    {"m64n64k32t4x4", 0, 64, 64, 32, 4, 4, 0, 0, 0, 0, 0, 0, 0},
    {"m128n128k8v", 0, 128, 128, 8, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m64n128k8v", 0, 64, 128, 8, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m128n64k8v", 0, 128, 64, 8, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m128n128k16v", 0, 128, 128, 16, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m64n128k16v", 0, 64, 128, 16, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m128n64k16v", 0, 128, 64, 16, 8, 8, 1, 0, 0, 0, 0, 0, 0},
    {"m128n128k8vb", 0, 128, 128, 8, 8, 8, 1, 0, 0, 0, 0, 1, 0},
    {"m64n128k8vb", 0, 64, 128, 8, 8, 8, 1, 0, 0, 0, 0, 1, 0},
    {"m128n64k8vb", 0, 128, 64, 8, 8, 8, 1, 0, 0, 0, 0, 1, 0},
    {"v32", 0, GEMV_MAX_ROWS, 8, 32, 1, 1, 0, 0, 0, 0, 0, 0, 1},
    {"p128h8w16", 0, 128, 128, 36, 8, 8, 1, 1, 8, 16, 0, 0, 0},
    {"p64h8w16", 0, 64, 128, 36, 8, 8, 1, 1, 8, 16, 0, 0, 0},
    {"w128n128k8v", 0, 128, 128, 8, 8, 8, 1, 0, 0, 0, 1, 0, 0},
    {"w64n128k8v", 0, 64, 128, 8, 8, 8, 1, 0, 0, 0, 1, 0, 0},
    {"w128n64k8v", 0, 128, 64, 8, 8, 8, 1, 0, 0, 0, 1, 0, 0},
    {"w128n128k16v", 0, 128, 128, 16, 8, 8, 1, 0, 0, 0, 1, 0, 0},
};
const int n_gemm_variants = (int)(sizeof gemm_variants / sizeof gemm_variants[0]);

const attn_variant attn_variants[] = {
    {"ref", ATTN_REF, 0, 0, 0, 0, 0, 0},
    {"q16k32t64", ATTN_FLASH, 16, 32, 64, 0, 0, 0},
    {"q16k32t128", ATTN_FLASH, 16, 32, 128, 0, 0, 0},
    {"q16k32t256", ATTN_FLASH, 16, 32, 256, 0, 0, 0},
    {"t32x64", ATTN_TILED, 32, 64, 0, 0, 0, 0},
    {"t64x64", ATTN_TILED, 64, 64, 0, 0, 0, 0},
    {"t64x32", ATTN_TILED, 64, 32, 0, 0, 0, 0},
    {"t64x128", ATTN_TILED, 64, 128, 0, 0, 0, 0},
    {"t16x256", ATTN_TILED, 16, 256, 0, 0, 0, 0},
    {"t32x128", ATTN_TILED, 32, 128, 0, 0, 0, 0},
    {"t16x128", ATTN_TILED, 16, 128, 0, 0, 0, 0},
    {"f64x32", ATTN_FAST, 64, 32, 0, 0, 0, 0},
    {"f64x64", ATTN_FAST, 64, 64, 0, 0, 0, 0},
    {"f32x64", ATTN_FAST, 32, 64, 0, 0, 0, 0},
    {"g64s4b64", ATTN_REG, 64, 64, 0, 1, 4, 0},
    {"g64s4b128", ATTN_REG, 64, 128, 0, 1, 4, 0},
    {"g128s2b64", ATTN_REG, 128, 64, 0, 1, 2, 0},
    {"g32s8b128", ATTN_REG, 32, 128, 0, 1, 8, 0},
    {"g128s2b128", ATTN_REG, 128, 128, 0, 1, 2, 0},
    {"g64s2b128", ATTN_REG, 64, 128, 0, 1, 2, 0},
    {"g64s2b32", ATTN_REG, 64, 32, 0, 1, 2, 0},
    {"g64s4b128c32", ATTN_REG, 64, 128, 32, 1, 4, 0},
    {"g128s2b128c32", ATTN_REG, 128, 128, 32, 1, 2, 0},
    {"g64s4b128c8", ATTN_REG, 64, 128, 8, 1, 4, 0},
    {"g64s4b64d", ATTN_REG, 64, 64, 0, 1, 4, 1},
    {"g64s4b128d", ATTN_REG, 64, 128, 0, 1, 4, 1},
    {"g128s2b64d", ATTN_REG, 128, 64, 0, 1, 2, 1},
    {"g128s2b128d", ATTN_REG, 128, 128, 0, 1, 2, 1},
    {"g64s2b128d", ATTN_REG, 64, 128, 0, 1, 2, 1},
    {"g64s2b32d", ATTN_REG, 64, 32, 0, 1, 2, 1},
    {"x128r2b64", ATTN_PAIR, 128, 64, 0, 2, 2, 0},
    {"x128r2b32", ATTN_PAIR, 128, 32, 0, 2, 2, 0},
    {"x128r4b32", ATTN_PAIR, 128, 32, 8, 4, 2, 0},
    {"x64r4b32", ATTN_PAIR, 64, 32, 8, 4, 2, 0},
    {"x256r4b32", ATTN_PAIR, 256, 32, 8, 4, 2, 0},
    {"x512r4b32", ATTN_PAIR, 512, 32, 8, 4, 2, 0},
    {"x256r4b64", ATTN_PAIR, 256, 64, 8, 4, 2, 0},
    {"x256r4b16", ATTN_PAIR, 256, 16, 8, 4, 2, 0},
    {"x256r4b32c4", ATTN_PAIR, 256, 32, 4, 4, 2, 0},
    {"x256r2b32", ATTN_PAIR, 256, 32, 0, 2, 2, 0},
    {"x256r2b32q", ATTN_PAIR, 256, 32, 0, 2, 4, 0},
    {"x128r4b64", ATTN_PAIR, 128, 64, 8, 4, 2, 0},
    {"x128r4b32c16", ATTN_PAIR, 128, 32, 16, 4, 2, 0},
    {"x128r2b32q", ATTN_PAIR, 128, 32, 0, 2, 4, 0},
    {"x128r4b32q", ATTN_PAIR, 128, 32, 8, 4, 4, 0},
    {"x64r4b32q", ATTN_PAIR, 64, 32, 8, 4, 4, 0},
    {"x256r4b32q", ATTN_PAIR, 256, 32, 8, 4, 4, 0},
    {"x128r4b64q", ATTN_PAIR, 128, 64, 8, 4, 4, 0},
};
const int n_attn_variants = (int)(sizeof attn_variants / sizeof attn_variants[0]);

const gn_variant gn_variants[] = {
    {"c1024", 1024},
    {"c4096", 4096},
    {"c16384", 16384},
};
const int n_gn_variants = (int)(sizeof gn_variants / sizeof gn_variants[0]);

const gemm_variant *gemm_variant_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < n_gemm_variants; i++)
        if (!strcmp(gemm_variants[i].name, name)) return &gemm_variants[i];
    return NULL;
}

gemm_pick gemm_pick_parse(const char *name)
{
    gemm_pick p = {NULL, 1};
    if (!name) return p;
    char base[40];
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    if (n >= sizeof base) return p;
    memcpy(base, name, n);
    base[n] = 0;
    p.v = gemm_variant_find(base);
    if (slash && slash[1] == 's') {
        int k = atoi(slash + 2);
        if (k >= 1 && k <= 64) p.split = (uint32_t)k;
    }
    return p;
}

uint32_t gemm_auto_split(const gemm_variant *v, uint64_t m, uint64_t n, uint64_t batch, uint64_t k)
{
    if (v->ref || v->gemv) return 1;
    uint64_t wgs = ((m + v->bm - 1) / v->bm) * ((n + v->bn - 1) / v->bn) * batch;
    uint32_t s = 1;
    while (wgs * s < 256 && k / (s * 2) >= 256 && s < 16) s *= 2;
    return s;
}

const gemm_variant *gemm_variant_default(uint64_t m, uint64_t n, int is_cpu)
{
    if (m <= 16) return gemm_variant_find("m16n64k16t1x4");
    if (n <= 16) return gemm_variant_find("m64n16k16t4x1");
    if (is_cpu || m < 128 || n < 128) return gemm_variant_find("m64n64k16t4x4");
    return gemm_variant_find("m128n128k8t8x8");
}

int gemm_variant_applies(const gemm_variant *v, int conv3s1) { return !v->gemv && ((!v->patch && !v->wino) || conv3s1); }

int gemm_variant_fits(const gemm_variant *v, const gpu_caps *caps)
{
    if (v->ref) return 1;
    if (v->gemv) return caps->max_invocations >= 256 && caps->max_workgroup_size_x >= 256 && 256 * GEMV_MAX_ROWS * 4 <= caps->max_workgroup_storage;
    uint32_t nt = (v->bm / v->tm) * (v->bn / v->tn);
    if (v->patch) { /* As: BK x (BM + 4); three kx-shifted copies of a CB x (TH + 2) x TW patch */
        uint64_t cb = v->bk / 9, smem = 4ull * v->bk * (v->bm + 4) + 12ull * cb * (v->th + 2) * v->tw;
        return v->vec4 && v->bk % 9 == 0 && v->th * v->tw == v->bn && v->tw % 4 == 0 && (v->bn / 2) % v->tw == 0 &&
               nt <= caps->max_invocations && nt <= caps->max_workgroup_size_x && smem <= caps->max_workgroup_storage;
    }
    if (v->vec4 && (v->tm != 8 || v->tn != 8)) return 0;
    if (v->wino && !v->vec4) return 0;
    if ((v->bm * v->bk) % nt || (v->bk * v->bn) % nt) return 0; /* whole tile elements per thread */
    if (v->dbuf && (v->patch || v->wino)) return 0;
    return nt <= caps->max_invocations && nt <= caps->max_workgroup_size_x && nt % v->bn == 0 &&
           (uint64_t)v->bk * (v->bm + 4 + v->bn + 4) * 4 * (v->dbuf ? 2 : 1) <= caps->max_workgroup_storage;
}

void attn_tiled_constants(const attn_variant *v, uint32_t dv, attn_tiling *t)
{
    t->tq = 4;
    t->tk = 4;
    t->dc = 16;
    t->rq = 4;
    t->nt = (v->bq / t->tq) * (v->bkv / t->tk);
    uint32_t groups = v->bq / t->rq;
    t->ndg = groups ? t->nt / groups : 1;
    if (t->ndg < 1) t->ndg = 1;
    t->cd = (dv + t->ndg - 1) / t->ndg;
}

int attn_variant_fits(const attn_variant *v, uint32_t dv, const gpu_caps *caps)
{
    if (v->kind == ATTN_REF) return dv <= 1024;
    if (v->kind == ATTN_FAST || v->kind == ATTN_REG || v->kind == ATTN_PAIR) return 0; /* need D: attn_variant_fits2 */
    if (v->kind == ATTN_TILED) {
        attn_tiling t;
        attn_tiled_constants(v, dv, &t);
        uint64_t smem = ((uint64_t)t.dc * (v->bq + 1 + v->bkv + 1) + (uint64_t)v->bq * (v->bkv + 1) + 3ull * v->bq) * 4;
        return t.nt <= caps->max_invocations && t.nt <= caps->max_workgroup_size_x && t.nt % (v->bq / t.rq) == 0 &&
               t.nt % v->bq == 0 && t.rq * t.cd <= 64 && smem + 4ull * t.nt <= caps->max_workgroup_storage;
    }
    if (v->nt % v->bq) return 0;
    uint32_t tpr = v->nt / v->bq, npt = (dv + tpr - 1) / tpr;
    return v->nt <= caps->max_invocations && v->nt <= caps->max_workgroup_size_x && npt <= 64 &&
           (uint64_t)(v->bq * v->bkv + 3 * v->bq) * 4 <= caps->max_workgroup_storage;
}

void attn_reg_constants(const attn_variant *v, uint32_t d, uint32_t dv, attn_reg_consts *c)
{
    uint32_t kps = v->ks ? v->bkv / v->ks : 0;
    c->nt = v->rq ? (v->bq / v->rq) * v->ks : 0;
    c->kc = v->nt ? v->nt : kps < 16 ? kps : 16;
    uint32_t kv = v->bkv * (d + dv) / 4, out = v->bq * dv / 4;
    c->smn = kv > out ? kv : out;
}

uint32_t attn_pair_chunk(const attn_variant *v) { return v->nt ? v->nt : v->bkv < 16 ? v->bkv : 16; }

int attn_variant_fits2(const attn_variant *v, uint32_t d, uint32_t dv, const gpu_caps *caps)
{
    if (v->kind == ATTN_PAIR) {
        /* a group's shares meet through subgroup shuffles; each thread keeps RQ shares of Q and output rows */
        uint32_t sd = v->ks, nt = v->bq / v->rq * sd, kc = attn_pair_chunk(v);
        return caps->has_subgroups && (sd == 2 || sd == 4) && (caps->subgroup_min == 0 || caps->subgroup_min >= sd) &&
               d % (4 * sd) == 0 && dv % (4 * sd) == 0 && v->rq * (d + dv) / sd <= 192 && v->bkv % kc == 0 &&
               v->bq % v->rq == 0 &&
               nt <= caps->max_invocations && nt <= caps->max_workgroup_size_x &&
               4ull * v->bkv * (d + dv) <= caps->max_workgroup_storage;
    }
    if (v->kind == ATTN_REG) {
        attn_reg_consts c;
        attn_reg_constants(v, d, dv, &c);
        /* the rows' Q and output live in registers: keep them to ~192 floats */
        return d % 4 == 0 && dv % 4 == 0 && v->rq * (d + dv) <= 192 && c.kc && (v->bkv / v->ks) % c.kc == 0 &&
               (!v->k2d || (uint64_t)v->bq * dv <= (uint64_t)v->bkv * (d + dv)) &&
               v->bq % v->rq == 0 && c.nt <= caps->max_invocations && c.nt <= caps->max_workgroup_size_x &&
               16ull * c.smn + 8ull * v->ks * v->bq <= caps->max_workgroup_storage;
    }
    if (v->kind != ATTN_FAST) return attn_variant_fits(v, dv, caps);
    attn_tiling t;
    attn_tiled_constants(v, dv, &t);
    uint64_t smem = 4ull * ((uint64_t)d * v->bq + (uint64_t)d * v->bkv + (uint64_t)v->bkv * dv +
                            (uint64_t)v->bq * (v->bkv + 1) + 3ull * v->bq + t.nt);
    return t.nt <= caps->max_invocations && t.nt <= caps->max_workgroup_size_x && t.nt % (v->bq / t.rq) == 0 &&
           t.nt % v->bq == 0 && t.rq * t.cd <= 64 && smem <= caps->max_workgroup_storage;
}

const attn_variant *attn_variant_pick(const char *name, uint32_t d, uint32_t dv, const gpu_caps *caps)
{
    if (name)
        for (int i = 0; i < n_attn_variants; i++)
            if (!strcmp(attn_variants[i].name, name) && attn_variant_fits2(&attn_variants[i], d, dv, caps))
                return &attn_variants[i];
    static const char *const defaults[] = {"t32x64", "t16x256", "t16x128", "q16k32t128", "q16k32t256", "q16k32t64"};
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++)
        for (int i = 0; i < n_attn_variants; i++)
            if (!strcmp(attn_variants[i].name, defaults[k]) && attn_variant_fits(&attn_variants[i], dv, caps))
                return &attn_variants[i];
    return &attn_variants[0]; /* ref always fits */
}

const gn_variant *gn_variant_pick(const char *name, uint64_t seg_len)
{
    if (name)
        for (int i = 0; i < n_gn_variants; i++)
            if (!strcmp(gn_variants[i].name, name)) return &gn_variants[i];
    (void)seg_len;
    return &gn_variants[1];
}
