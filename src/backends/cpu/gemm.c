/* Packed GEMM driver, operand packing and the execution context (gemm.h). */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include "backends/cpu/gemm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__) && !defined(WSD_NO_THREADS)
#include <sched.h>
#endif
#if !defined(WSD_NO_THREADS)
#include <unistd.h>
#endif

/* ---- context ---- */

static float *alloc_floats(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* CPUs this process may run on (its affinity mask: taskset, cgroup cpusets),
 * which can be fewer than the machine has online; 0 if unknown. */
static int usable_cpus(void)
{
#if defined(__linux__) && !defined(WSD_NO_THREADS)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

cpu_ctx *cpu_ctx_create(int threads, const cpu_isa *isa)
{
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (threads <= 0) threads = usable_cpus();
#if !defined(WSD_NO_THREADS) && defined(_SC_NPROCESSORS_ONLN)
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (threads <= 0) threads = 1;
    c->pool = cpu_pool_create(threads);
    c->threads = cpu_pool_threads(c->pool);
    c->isa = isa ? isa : cpu_isa_get();
    c->scratch = calloc((size_t)c->threads, sizeof *c->scratch);
    if (!c->scratch) {
        cpu_ctx_free(c);
        return NULL;
    }
    return c;
}

void cpu_ctx_free(cpu_ctx *c)
{
    if (!c) return;
    if (c->scratch)
        for (int i = 0; i < c->threads; i++) free(c->scratch[i]);
    free(c->scratch);
    free(c->shared);
    cpu_pool_free(c->pool);
    free(c);
}

int cpu_ctx_reserve(cpu_ctx *c, size_t per_thread, size_t shared)
{
    if (per_thread > c->scratch_floats) {
        per_thread += per_thread / 4; /* room to grow without reallocating every time */
        for (int i = 0; i < c->threads; i++) {
            free(c->scratch[i]);
            c->scratch[i] = alloc_floats(per_thread);
        }
        c->scratch_floats = per_thread;
        for (int i = 0; i < c->threads; i++)
            if (!c->scratch[i]) {
                c->scratch_floats = 0;
                return -1;
            }
    }
    if (shared > c->shared_floats) {
        free(c->shared);
        c->shared = alloc_floats(shared);
        c->shared_floats = c->shared ? shared : 0;
        if (!c->shared) return -1;
    }
    return 0;
}

void cpu_ctx_release_shared(cpu_ctx *c)
{
    free(c->shared);
    c->shared = NULL;
    c->shared_floats = 0;
}

typedef struct {
    cpu_task_fn fn;
    void *ctx;
    int64_t n;
    _Atomic int64_t next;
} par_state;

static void par_worker(void *p, int thread)
{
    par_state *s = p;
    int64_t task;
    while ((task = atomic_fetch_add(&s->next, 1)) < s->n) s->fn(s->ctx, task, thread);
}

void cpu_parallel(cpu_ctx *c, int64_t n, cpu_task_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (c->threads <= 1 || n == 1) {
        for (int64_t t = 0; t < n; t++) fn(ctx, t, 0);
        return;
    }
    par_state s;
    s.fn = fn;
    s.ctx = ctx;
    s.n = n;
    atomic_init(&s.next, 0);
    cpu_pool_run(c->pool, par_worker, &s);
}

/* ---- packing ---- */

static void to_f32(wsd_dtype dt, const void *p, int64_t off, int64_t n, float *dst, const cpu_isa *isa)
{
    if (dt == WSD_DT_F32) {
        memcpy(dst, (const float *)p + off, (size_t)n * sizeof(float));
    } else if (dt == WSD_DT_F16) {
        isa->f16_to_f32((const uint16_t *)p + off, dst, n);
    } else {
        const unsigned char *b = (const unsigned char *)p + 2 * off;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = wsd_bf16_to_f32(h);
        }
    }
}

static void pack_rows(const gemm_src *s, int64_t i0, int64_t ni, int64_t k0, int64_t nk, int w, float *dst,
                      const cpu_isa *isa, float *tmp)
{
    float sc = s->scale != 0.0f ? s->scale : 1.0f;
    for (int64_t sl = 0; sl * w < ni; sl++) {
        float *d = dst + sl * w * nk;
        int64_t cnt = ni - sl * w < w ? ni - sl * w : w;
        for (int64_t i = 0; i < w; i++) {
            if (i >= cnt) {
                for (int64_t k = 0; k < nk; k++) d[k * w + i] = 0.0f;
                continue;
            }
            int64_t row = i0 + sl * w + i;
            const float *src;
            if (s->dt == WSD_DT_F32) {
                src = (const float *)s->p + row * s->ld + k0;
            } else {
                to_f32(s->dt, s->p, row * s->ld + k0, nk, tmp, isa);
                src = tmp;
            }
            if (sc == 1.0f)
                for (int64_t k = 0; k < nk; k++) d[k * w + i] = src[k];
            else
                for (int64_t k = 0; k < nk; k++) d[k * w + i] = src[k] * sc;
        }
    }
}

static void pack_cols(const gemm_src *s, int64_t i0, int64_t ni, int64_t k0, int64_t nk, int w, float *dst, const cpu_isa *isa)
{
    float sc = s->scale != 0.0f ? s->scale : 1.0f;
    for (int64_t sl = 0; sl * w < ni; sl++) {
        float *d = dst + sl * w * nk;
        int64_t cnt = ni - sl * w < w ? ni - sl * w : w;
        for (int64_t k = 0; k < nk; k++) {
            float *dk = d + k * w;
            to_f32(s->dt, s->p, (k0 + k) * s->ld + i0 + sl * w, cnt, dk, isa);
            for (int64_t i = cnt; i < w; i++) dk[i] = 0.0f;
            if (sc != 1.0f)
                for (int64_t i = 0; i < cnt; i++) dk[i] *= sc;
        }
    }
}

#define SEG_MAX 1024

static inline float silu1(float v) { return v / (1.0f + expf(-v)); }

/* Row iy (of the stored input) of channel ci of image n. */
static inline const float *conv_row(const conv_geom *g, int64_t n, int64_t ci, int64_t iy)
{
    if (g->band) return g->band + ((ci - g->band_ci0) * g->band_rows + iy - g->band_r0) * g->W;
    return g->x + ((n * g->Ci + ci) * g->H + iy) * g->W;
}

/* A run of `len` consecutive pixels of one output row, written to columns
 * [col, col + len) of a w-wide sliver. Per input channel, the kh input row
 * segments under the run are gathered once into `seg` (zero padding,
 * upsampling; GroupNorm affine + SiLU in one vector call over all of them,
 * padding zeroed again after), and the kw taps are shifted copies. */
static void pack_conv_piece(const conv_geom *g, int64_t n, int64_t oy, int64_t ox, int64_t len, int64_t col,
                            int64_t k0, int64_t nk, int w, float *d, const cpu_isa *isa, float *seg)
{
    const int64_t khw = g->kh * g->kw, Hu = g->H * g->up, Wu = g->W * g->up;
    const int64_t L = (len - 1) * g->stride + g->kw, Lp = (L + 7) & ~(int64_t)7;
    const int64_t ix0 = ox * g->stride - g->pad_l;
    int64_t t0 = ix0 < 0 ? -ix0 : 0, t1 = Wu - ix0 < L ? Wu - ix0 : L;
    if (t1 < t0) t1 = t0;
    const int transform = g->ta && !g->band; /* a band is transformed already */
    const int direct = g->up == 1 && t0 == 0 && t1 == L && !transform;
    int64_t k = k0, kend = k0 + nk;
    while (k < kend) {
        int64_t ci = k / khw, cbase = ci * khw;
        int64_t kci = cbase + khw < kend ? cbase + khw : kend;
        int64_t ky0 = (k - cbase) / g->kw, ky1 = (kci - 1 - cbase) / g->kw;
        if (!direct) {
            for (int64_t ky = ky0; ky <= ky1; ky++) {
                float *sr = seg + (ky - ky0) * Lp;
                int64_t iy = oy * g->stride - g->pad_t + ky;
                if (iy < 0 || iy >= Hu) continue;
                const float *row = conv_row(g, n, ci, iy / g->up);
                if (g->up == 1) memcpy(sr + t0, row + ix0 + t0, (size_t)(t1 - t0) * sizeof(float));
                else
                    for (int64_t t = t0; t < t1; t++) sr[t] = row[(ix0 + t) / g->up];
            }
            int64_t nrows = ky1 - ky0 + 1;
            if (transform) {
                int64_t c = n * g->Ci + ci, total = (nrows * Lp + 15) & ~(int64_t)15;
                isa->affine(seg, seg, total, g->tm[c], g->ta[c], g->tb[c], g->silu);
            }
            /* padding (outside the image, or rows outside it) is zero after the transform */
            for (int64_t ky = ky0; ky <= ky1; ky++) {
                float *sr = seg + (ky - ky0) * Lp;
                int64_t iy = oy * g->stride - g->pad_t + ky;
                if (iy < 0 || iy >= Hu) {
                    memset(sr, 0, (size_t)L * sizeof(float));
                    continue;
                }
                for (int64_t t = 0; t < t0; t++) sr[t] = 0.0f;
                for (int64_t t = t1; t < L; t++) sr[t] = 0.0f;
            }
        }
        for (int64_t kk = k; kk < kci; kk++) {
            int64_t ky = (kk - cbase) / g->kw, kx = (kk - cbase) % g->kw;
            float *dq = d + (kk - k0) * w + col;
            const float *src;
            if (direct) {
                int64_t iy = oy * g->stride - g->pad_t + ky;
                if (iy < 0 || iy >= Hu) {
                    memset(dq, 0, (size_t)len * sizeof(float));
                    continue;
                }
                src = conv_row(g, n, ci, iy) + ix0 + kx;
            } else {
                src = seg + (ky - ky0) * Lp + kx;
            }
            if (g->stride == 1) memcpy(dq, src, (size_t)len * sizeof(float));
            else
                for (int64_t t = 0; t < len; t++) dq[t] = src[t * g->stride];
        }
        k = kci;
    }
}

static void pack_conv(const conv_geom *g, int64_t j0, int64_t nj, int64_t k0, int64_t nk, int w, float *dst, const cpu_isa *isa, float *tmp)
{
    const int64_t HWo = g->Ho * g->Wo, khw = g->kh * g->kw, Hu = g->H * g->up, Wu = g->W * g->up;
    const int row_ok = g->kh * (((w - 1) * g->stride + g->kw + 7) & ~(int64_t)7) + 16 <= SEG_MAX;
    for (int64_t s = 0; s * w < nj; s++) {
        float *d = dst + s * w * nk;
        int64_t jb = j0 + s * w, cnt = nj - s * w < w ? nj - s * w : w;
        if (row_ok) {
            /* the sliver as runs of pixels along output rows */
            for (int64_t col = 0; col < cnt;) {
                int64_t j = jb + col, p = j % HWo, ox = p % g->Wo;
                int64_t len = g->Wo - ox < cnt - col ? g->Wo - ox : cnt - col;
                pack_conv_piece(g, j / HWo, p / g->Wo, ox, len, col, k0, nk, w, d, isa, tmp);
                col += len;
            }
            if (cnt < w)
                for (int64_t k = 0; k < nk; k++) memset(d + k * w + cnt, 0, (size_t)(w - cnt) * sizeof(float));
            continue;
        }
        /* general: element by element */
        int64_t cn[64], cy[64], cx[64];
        for (int c = 0; c < w && c < 64; c++) {
            int64_t j = jb + c, pp = j % HWo;
            cn[c] = j / HWo;
            cy[c] = (pp / g->Wo) * g->stride - g->pad_t;
            cx[c] = (pp % g->Wo) * g->stride - g->pad_l;
        }
        for (int64_t k = k0; k < k0 + nk; k++) {
            int64_t ci = k / khw, r = k % khw, ky = r / g->kw, kx = r % g->kw;
            float *dk = d + (k - k0) * w;
            for (int c = 0; c < w; c++) {
                float v = 0.0f;
                int64_t iy = cy[c] + ky, ix = cx[c] + kx;
                if (c < cnt && iy >= 0 && iy < Hu && ix >= 0 && ix < Wu) {
                    int64_t ch = cn[c] * g->Ci + ci;
                    v = conv_row(g, cn[c], ci, iy / g->up)[ix / g->up];
                    if (g->ta && !g->band) {
                        v = (v - g->tm[ch]) * g->ta[ch] + g->tb[ch];
                        if (g->silu) v = silu1(v);
                    }
                }
                dk[c] = v;
            }
        }
    }
}

void gemm_pack(const gemm_src *src, int64_t i0, int64_t ni, int64_t k0, int64_t nk, int w, float *dst, const cpu_isa *isa, float *tmp)
{
    switch (src->kind) {
    case GS_ROWS: pack_rows(src, i0, ni, k0, nk, w, dst, isa, tmp); break;
    case GS_COLS: pack_cols(src, i0, ni, k0, nk, w, dst, isa); break;
    case GS_CONV: pack_conv(src->conv, i0, ni, k0, nk, w, dst, isa, tmp); break;
    }
}

/* ---- driver ---- */

typedef struct {
    cpu_ctx *ctx;
    const cpu_kernel *kern;
    int64_t M, N, K;
    const gemm_src *A, *B;
    const gemm_out *C;
    int64_t unit;         /* k blocks are multiples of this (kh*kw for convolutions) */
    int64_t kb;           /* k block (a multiple of unit) */
    int64_t nt, mt, mc;   /* columns per task, rows per task, rows per A block */
    int64_t n_nchunks, n_mchunks;
    int has_epi;
    int band;             /* conv with a transformed input: tasks of band_R output rows, */
    int64_t band_R, ns;   /* packed ns columns at a time from a transformed band */
    int64_t band_floats;
} gemm_job;

static inline float epi_value(const gemm_out *o, int64_t M, int64_t m, int64_t n, int64_t g, int64_t idx)
{
    float v = 0.0f;
    if (o->bias_m) v += o->bias_m[m];
    if (o->bias_n) v += o->bias_n[n];
    if (o->bias_gm) v += o->bias_gm[g * M + m];
    if (o->res) v += o->res[idx];
    return v;
}

/* The A operand of one block, as the micro-kernel reads it: A(r, k) at
 * p[r * rs + k * ks], slivers of mr rows `ss` floats apart. Row-major f32
 * sources are read in place; f16 / bf16 / scaled rows are widened into
 * row-major scratch (cheap: contiguous, vectorised); others are packed. */
typedef struct {
    const float *p;
    int64_t rs, ks, ss;
    int in_place;
} a_block;

static a_block prep_a(const gemm_job *j, int64_t mb, int64_t mcb, int64_t m_begin, int64_t m_end, int64_t k0, int64_t kb,
                      float *Ab, float *tmp)
{
    const gemm_src *s = j->A;
    const int mr = j->kern->mr;
    const cpu_isa *isa = j->ctx->isa;
    a_block a;
    if (s->kind == GS_ROWS && s->dt == WSD_DT_F32 && (s->scale == 0.0f || s->scale == 1.0f)) {
        a.p = (const float *)s->p + mb * s->ld + k0;
        a.rs = s->ld;
        a.ks = 1;
        a.ss = mr * s->ld;
        a.in_place = 1;
        return a;
    }
    if (s->kind == GS_ROWS) {
        float sc = s->scale != 0.0f ? s->scale : 1.0f;
        int64_t rows = (mcb + mr - 1) / mr * mr;
        /* The next block's row segments (weights, typically, read from DRAM
         * once per column chunk: a few hundred bytes per row, rows far apart,
         * more streams than the hardware prefetchers follow) are fetched into
         * L2 while this block computes: the next rows of this k block, or
         * after the task's last rows its first rows of the next k block. With
         * few columns (small images, few tokens) the stalls were a quarter to
         * a third of the product's time (more on VMs with slow memory). */
        int64_t next = mb + mcb, pk = k0, pkb = kb;
        if (next >= m_end) {
            next = m_begin;
            pk = k0 + kb;
            pkb = j->K - pk < j->kb ? j->K - pk : j->kb;
        }
        int64_t nrows = next + j->mc <= m_end ? j->mc : m_end - next;
        if (pkb <= 0) nrows = 0;
        size_t esz = wsd_dtype_size(s->dt), seg = (size_t)(pkb > 0 ? pkb : 0) * esz;
        for (int64_t r = 0; r < nrows; r++) {
            const char *q = (const char *)s->p + ((next + r) * s->ld + pk) * (int64_t)esz;
            for (size_t off = 0; off < seg; off += 64) __builtin_prefetch(q + off, 0, 2);
            __builtin_prefetch(q + seg - 1, 0, 2);
        }
        for (int64_t r = 0; r < rows; r++) {
            float *d = Ab + r * kb;
            if (r >= mcb) {
                memset(d, 0, (size_t)kb * sizeof(float));
                continue;
            }
            to_f32(s->dt, s->p, (mb + r) * s->ld + k0, kb, d, isa);
            if (sc != 1.0f)
                for (int64_t k = 0; k < kb; k++) d[k] *= sc;
        }
        a.p = Ab;
        a.rs = kb;
        a.ks = 1;
        a.ss = mr * kb;
        a.in_place = 0;
        return a;
    }
    gemm_pack(s, mb, mcb, k0, kb, mr, Ab, isa, tmp);
    a.p = Ab;
    a.rs = 1;
    a.ks = mr;
    a.ss = mr * kb;
    a.in_place = 0;
    return a;
}

static void tile(const gemm_job *j, int64_t kb, const float *a, int64_t rs, int64_t ks, const float *b, int64_t m, int64_t n,
                 int64_t rows, int64_t cols, int first, float *tmp)
{
    const gemm_out *o = j->C;
    const int mr = j->kern->mr, nr = j->kern->nr;
    int64_t ng = o->ncol_group ? o->ncol_group : j->N, cs = o->col_stride > 1 ? o->col_stride : 1;
    int64_t g = n / ng, r = n - g * ng;
    if (rows == mr && cols == nr && r + nr <= ng && cs == 1) {
        float *cp = o->c + g * o->group_stride + m * o->ldc + r;
        if (!first) {
            j->kern->fn(kb, a, rs, ks, b, cp, o->ldc, 1);
        } else if (j->has_epi) {
            for (int i = 0; i < mr; i++) {
                int64_t base = g * o->group_stride + (m + i) * o->ldc + r;
                for (int c = 0; c < nr; c++) o->c[base + c] = epi_value(o, j->M, m + i, n + c, g, base + c);
            }
            j->kern->fn(kb, a, rs, ks, b, cp, o->ldc, 1);
        } else {
            j->kern->fn(kb, a, rs, ks, b, cp, o->ldc, 0);
        }
        return;
    }
    j->kern->fn(kb, a, rs, ks, b, tmp, nr, 0);
    for (int64_t c = 0; c < cols; c++) {
        int64_t nn = n + c, gg = nn / ng, rr = nn - gg * ng;
        for (int64_t i = 0; i < rows; i++) {
            int64_t idx = gg * o->group_stride + (m + i) * o->ldc + rr * cs;
            float v = tmp[i * nr + c];
            if (first) v += epi_value(o, j->M, m + i, nn, gg, idx);
            else v += o->c[idx];
            o->c[idx] = v;
        }
    }
}

/* Products of one packed B panel (columns [n0, n0 + nn), k block [k0, k0 + kb))
 * with every A block of rows [m0, m0 + mm). */
static void run_panel(const gemm_job *j, const float *Bp, int64_t n0, int64_t nn, int64_t k0, int64_t kb, int64_t m0, int64_t mm,
                      float *Ab, float *Apad, float *Ct, float *tmp)
{
    const int mr = j->kern->mr, nr = j->kern->nr;
    for (int64_t mb = m0; mb < m0 + mm; mb += j->mc) {
        int64_t mcb = m0 + mm - mb < j->mc ? m0 + mm - mb : j->mc;
        a_block a = prep_a(j, mb, mcb, m0, m0 + mm, k0, kb, Ab, tmp);
        /* a partial last sliver read in place would run past the matrix: pad a copy */
        int64_t last_rows = mcb % mr;
        const float *alast = NULL;
        if (last_rows && a.in_place) {
            const float *src = a.p + (mcb / mr) * a.ss;
            for (int64_t r = 0; r < mr; r++) {
                if (r < last_rows) memcpy(Apad + r * kb, src + r * a.rs, (size_t)kb * sizeof(float));
                else memset(Apad + r * kb, 0, (size_t)kb * sizeof(float));
            }
            alast = Apad;
        }
        for (int64_t js = 0; js * nr < nn; js++) {
            int64_t cols = nn - js * nr < nr ? nn - js * nr : nr;
            const float *b = Bp + js * nr * kb;
            for (int64_t is = 0; is * mr < mcb; is++) {
                int64_t rows = mcb - is * mr < mr ? mcb - is * mr : mr;
                if (rows < mr && alast)
                    tile(j, kb, alast, kb, 1, b, mb + is * mr, n0 + js * nr, rows, cols, k0 == 0, Ct);
                else
                    tile(j, kb, a.p + is * a.ss, a.rs, a.ks, b, mb + is * mr, n0 + js * nr, rows, cols, k0 == 0, Ct);
            }
        }
    }
}

static void gemm_task(void *p, int64_t task, int thread)
{
    const gemm_job *j = p;
    const int mr = j->kern->mr, nr = j->kern->nr;
    int64_t ni = task / j->n_mchunks, mi = task % j->n_mchunks;
    int64_t m0 = mi * j->mt, mm = j->M - m0 < j->mt ? j->M - m0 : j->mt;
    int64_t n0, nn, img = 0, r0 = 0, rows = 0;
    const conv_geom *g = j->B->conv;
    if (j->band) { /* a chunk is `band_R` output rows of one image */
        int64_t cpi = (g->Ho + j->band_R - 1) / j->band_R;
        img = ni / cpi;
        r0 = (ni % cpi) * j->band_R;
        rows = g->Ho - r0 < j->band_R ? g->Ho - r0 : j->band_R;
        n0 = img * g->Ho * g->Wo + r0 * g->Wo;
        nn = rows * g->Wo;
    } else {
        n0 = ni * j->nt;
        nn = j->N - n0 < j->nt ? j->N - n0 : j->nt;
    }
    if (nn <= 0 || mm <= 0) return;
    const int64_t ns = j->band ? j->ns : j->nt;
    const int64_t ns_r = (ns + nr - 1) / nr * nr, mc_r = (j->mc + mr - 1) / mr * mr;
    float *Bp = j->ctx->scratch[thread];
    float *Ab = Bp + ns_r * j->kb;
    float *Apad = Ab + mc_r * j->kb;
    float *Ct = Apad + mr * j->kb;
    float *tmp = Ct + 64 * 64;
    float *band = tmp + j->kb + SEG_MAX + 256;
    const cpu_isa *isa = j->ctx->isa;
    for (int64_t k0 = 0; k0 < j->K; k0 += j->kb) {
        int64_t kb = j->K - k0 < j->kb ? j->K - k0 : j->kb;
        if (!j->band) {
            gemm_pack(j->B, n0, nn, k0, kb, nr, Bp, isa, tmp);
            run_panel(j, Bp, n0, nn, k0, kb, m0, mm, Ab, Apad, Ct, tmp);
            continue;
        }
        /* transform the input rows under these output rows once (not once per
         * sliver and kernel row), then pack sub-panels from them */
        const int64_t khw = g->kh * g->kw, ci0 = k0 / khw, nci = kb / khw;
        int64_t lo = r0 * g->stride - g->pad_t, hi = (r0 + rows - 1) * g->stride - g->pad_t + g->kh;
        if (lo < 0) lo = 0;
        if (hi > g->H) hi = g->H;
        int64_t nrow = hi > lo ? hi - lo : 0;
        for (int64_t c = 0; c < nci; c++) {
            int64_t ch = img * g->Ci + ci0 + c;
            for (int64_t iy = lo; iy < hi; iy++)
                isa->affine(g->x + (ch * g->H + iy) * g->W, band + (c * nrow + iy - lo) * g->W, g->W, g->tm[ch], g->ta[ch], g->tb[ch], g->silu);
        }
        conv_geom g2 = *g;
        g2.band = band;
        g2.band_ci0 = ci0;
        g2.band_r0 = lo;
        g2.band_rows = nrow;
        gemm_src b2 = *j->B;
        b2.conv = &g2;
        for (int64_t sub = 0; sub < nn; sub += ns) {
            int64_t sn = nn - sub < ns ? nn - sub : ns;
            gemm_pack(&b2, n0 + sub, sn, k0, kb, nr, Bp, isa, tmp);
            run_panel(j, Bp, n0 + sub, sn, k0, kb, m0, mm, Ab, Apad, Ct, tmp);
        }
    }
}

static void plan_job(const cpu_ctx *ctx, const cpu_kernel *kern, int64_t M, int64_t N, int64_t K,
                     const gemm_src *B, int flags, gemm_job *j)
{
    const cpu_isa *isa = ctx->isa;
    const int mr = kern->mr, nr = kern->nr;
    memset(j, 0, sizeof *j);
    j->M = M;
    j->N = N;
    j->K = K;
    j->kern = kern;
    j->unit = B->kind == GS_CONV ? B->conv->kh * B->conv->kw : 1;
    if (flags & GEMM_ONE_KBLOCK) {
        j->kb = K;
    } else {
        int64_t units = (K + j->unit - 1) / j->unit;
        int64_t per = isa->kc / j->unit > 0 ? isa->kc / j->unit : 1;
        int64_t nblk = (units + per - 1) / per;
        if (units <= per + per / 4) nblk = 1; /* slightly over kc: one block */
        j->kb = (units + nblk - 1) / nblk * j->unit;
    }
    int64_t nt = (isa->nc + nr - 1) / nr * nr;
    if (nt >= N) nt = (N + nr - 1) / nr * nr;
    j->nt = nt;
    j->n_nchunks = (N + nt - 1) / nt;
    j->mc = (isa->mc + mr - 1) / mr * mr;
    j->n_mchunks = 1;
    j->mt = M;
    int want = ctx->threads > 1 ? 3 * ctx->threads : 1;
    const conv_geom *g = B->kind == GS_CONV ? B->conv : NULL;
    /* Bands need an image of at least one column chunk: a task never spans
     * images, so smaller images (the UNet's 8x8 and 4x4 levels) would split
     * the columns per image and widen every weight block once per image;
     * there the packing transforms its few rows itself. */
    if (g && g->ta && !g->band && g->up == 1 && g->kh > 1 && !(flags & GEMM_ONE_KBLOCK) && g->W <= 4096 &&
        g->Ho * g->Wo >= nt) {
        /* several output rows per task, so each input row is transformed ~once */
        int64_t R = (1024 + g->Wo - 1) / g->Wo;
        if (R > g->Ho) R = g->Ho;
        while (R > 1 && g->Nb * ((g->Ho + R - 1) / R) < want) R = (R + 1) / 2;
        j->band = 1;
        j->band_R = R;
        j->ns = nt;
        j->n_nchunks = g->Nb * ((g->Ho + R - 1) / R);
        j->band_floats = (j->kb / j->unit + 1) * ((R - 1) * g->stride + g->kh) * g->W;
    }
    if (j->n_nchunks < want && M > j->mc) {
        int64_t mblocks = (M + mr - 1) / mr;
        int64_t split = (want + j->n_nchunks - 1) / j->n_nchunks;
        if (split > mblocks) split = mblocks;
        j->mt = ((mblocks + split - 1) / split) * mr;
        if (j->mt < j->mc) j->mc = j->mt;
        j->n_mchunks = (M + j->mt - 1) / j->mt;
    }
}

static size_t job_scratch(const gemm_job *j)
{
    int64_t nt_r = (j->nt + j->kern->nr - 1) / j->kern->nr * j->kern->nr, mc_r = (j->mc + j->kern->mr - 1) / j->kern->mr * j->kern->mr;
    return (size_t)(nt_r * j->kb + mc_r * j->kb + j->kern->mr * j->kb + 64 * 64 + j->kb + SEG_MAX + 256 + j->band_floats);
}

int gemm_run(cpu_ctx *ctx, const cpu_kernel *kern, int64_t M, int64_t N, int64_t K,
             const gemm_src *A, const gemm_src *B, const gemm_out *C, int flags)
{
    if (M <= 0 || N <= 0) return 0;
    if (!kern) kern = &ctx->isa->gemm;
    if (K <= 0) { /* C = epilogue only */
        int64_t ng = C->ncol_group ? C->ncol_group : N, cs = C->col_stride > 1 ? C->col_stride : 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++) {
                int64_t g = n / ng, idx = g * C->group_stride + m * C->ldc + (n - g * ng) * cs;
                C->c[idx] = epi_value(C, M, m, n, g, idx);
            }
        return 0;
    }
    gemm_job j;
    plan_job(ctx, kern, M, N, K, B, flags, &j);
    if (cpu_ctx_reserve(ctx, job_scratch(&j), 0) != 0) return -1;
    j.ctx = ctx;
    j.A = A;
    j.B = B;
    j.C = C;
    j.has_epi = C->bias_m || C->bias_n || C->bias_gm || C->res;
    cpu_parallel(ctx, j.n_nchunks * j.n_mchunks, gemm_task, &j);
    return 0;
}
