/* Algorithms over the generated Unicode tables: lookups, lowercase, NFC. */
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

/* Hangul syllable arithmetic (Unicode chapter 3.12). */
enum {
    H_SBASE = 0xAC00,
    H_LBASE = 0x1100,
    H_VBASE = 0x1161,
    H_TBASE = 0x11A7,
    H_LCOUNT = 19,
    H_VCOUNT = 21,
    H_TCOUNT = 28,
    H_NCOUNT = H_VCOUNT * H_TCOUNT,
    H_SCOUNT = H_LCOUNT * H_NCOUNT
};

/* Index of the last entry whose key (entry >> shift) is <= key, in an
 * ascending table whose first key is 0. */
static size_t last_le_u32(const uint32_t *t, size_t n, uint32_t key, int shift)
{
    size_t lo = 0, hi = n; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((t[mid] >> shift) <= key)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int uni_class(uint32_t cp)
{
    if (cp < 256)
        return (uni_class_latin1[cp >> 2] >> ((cp & 3) * 2)) & 3;
    if (cp > UNI_MAX_CP)
        return UNI_OTHER;
    return (int)(uni_class_breaks[last_le_u32(uni_class_breaks, uni_class_breaks_len, cp, 2)] & 3);
}

int uni_ccc(uint32_t cp)
{
    if (cp < 0x300 || cp > UNI_MAX_CP)
        return 0;
    return (int)(uni_ccc_breaks[last_le_u32(uni_ccc_breaks, uni_ccc_breaks_len, cp, 8)] & 0xFF);
}

int uni_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        /* ASCII: the tables say A-Z -> a-z and nothing else (checked by the tests). */
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < uni_lower_special_len; i++) {
        if (uni_lower_special[i].cp == cp) {
            for (uint32_t k = 0; k < uni_lower_special[i].n; k++)
                out[k] = uni_lower_special[i].map[k];
            return (int)uni_lower_special[i].n;
        }
    }
    out[0] = cp;
    if (uni_lower_runs_len == 0 || cp < uni_lower_runs[0].first)
        return 1;
    size_t lo = 0, hi = uni_lower_runs_len;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_lower_runs[mid].first <= cp)
            lo = mid;
        else
            hi = mid;
    }
    const uni_lower_run *r = &uni_lower_runs[lo];
    uint32_t off = cp - r->first;
    if (off % r->stride == 0 && off / r->stride < r->count)
        out[0] = (uint32_t)((int64_t)cp + r->delta);
    return 1;
}

/* One-level canonical decomposition: returns 0 (none), 1 or 2. */
static int decomp1(uint32_t cp, uint32_t *a, uint32_t *b)
{
    if (cp < 0xC0 || cp > UNI_MAX_CP)
        return 0;
    size_t lo = 0, hi = uni_decomp_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t key = (uint32_t)(uni_decomp[mid] >> 42);
        if (key == cp) {
            *a = (uint32_t)(uni_decomp[mid] >> 21) & 0x1FFFFF;
            *b = (uint32_t)uni_decomp[mid] & 0x1FFFFF;
            return *b ? 2 : 1;
        }
        if (key < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int decompose_rec(uint32_t cp, uint32_t *out, int n, int depth)
{
    uint32_t a, b;
    int k = depth < 8 ? decomp1(cp, &a, &b) : 0;
    if (k == 0) {
        if (n < UNI_MAX_DECOMP)
            out[n++] = cp;
        return n;
    }
    n = decompose_rec(a, out, n, depth + 1);
    if (k == 2)
        n = decompose_rec(b, out, n, depth + 1);
    return n;
}

int uni_decompose(uint32_t cp, uint32_t out[UNI_MAX_DECOMP])
{
    if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
        uint32_t s = cp - H_SBASE;
        out[0] = H_LBASE + s / H_NCOUNT;
        out[1] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
        if (s % H_TCOUNT == 0)
            return 2;
        out[2] = H_TBASE + s % H_TCOUNT;
        return 3;
    }
    return decompose_rec(cp, out, 0, 0);
}

uint32_t uni_compose(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b > H_TBASE &&
        b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    if (a > UNI_MAX_CP || b > UNI_MAX_CP)
        return 0;
    uint64_t key = ((uint64_t)a << 21) | b;
    size_t lo = 0, hi = uni_comp_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k = uni_comp[mid] >> 21;
        if (k == key)
            return (uint32_t)uni_comp[mid] & 0x1FFFFF;
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int uni_buf_reserve(uni_buf *b, size_t extra)
{
    if (extra <= b->cap - b->n)
        return 0;
    if (extra > SIZE_MAX / sizeof(uint32_t) / 2 - b->n)
        return -1;
    size_t need = b->n + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v)
        return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

/* Stable sort of v[0..n) by combining class; every class is non-zero. */
static int sort_by_ccc(uint32_t *v, size_t n)
{
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            int cx = uni_ccc(x);
            size_t j = i;
            while (j > 0 && uni_ccc(v[j - 1]) > cx) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return 0;
    }
    /* Long runs (adversarial input): counting sort, O(n). */
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    size_t start[257] = {0};
    for (size_t i = 0; i < n; i++)
        start[uni_ccc(v[i]) + 1]++;
    for (int c = 1; c <= 256; c++)
        start[c] += start[c - 1];
    for (size_t i = 0; i < n; i++)
        tmp[start[uni_ccc(v[i])]++] = v[i];
    memcpy(v, tmp, n * sizeof *v);
    free(tmp);
    return 0;
}

int uni_nfc(const uint32_t *in, size_t n, uni_buf *out)
{
    out->n = 0;
    /* 1. Full canonical decomposition. */
    if (uni_buf_reserve(out, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t d[UNI_MAX_DECOMP];
        int k = uni_decompose(in[i], d);
        if (uni_buf_reserve(out, (size_t)k))
            return -1;
        memcpy(out->v + out->n, d, (size_t)k * sizeof *d);
        out->n += (size_t)k;
    }
    /* 2. Canonical ordering of every run of non-starters. */
    uint32_t *v = out->v;
    size_t m = out->n;
    for (size_t i = 0; i < m;) {
        if (uni_ccc(v[i]) == 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < m && uni_ccc(v[j]) != 0)
            j++;
        if (j - i > 1 && sort_by_ccc(v + i, j - i))
            return -1;
        i = j;
    }
    /* 3. Canonical composition, in place (the output never outgrows the input). */
    size_t w = 0;            /* write position */
    size_t starter = SIZE_MAX; /* index in the output of the last starter */
    int last_cc = 0;         /* combining class of the last code point written */
    for (size_t i = 0; i < m; i++) {
        uint32_t c = v[i];
        int cc = uni_ccc(c);
        if (starter != SIZE_MAX) {
            int adjacent = (w == starter + 1);
            /* c is not blocked from the starter when nothing is between them, or
             * everything between has a lower, non-zero class. */
            if (adjacent || (last_cc != 0 && last_cc < cc)) {
                uint32_t comp = uni_compose(v[starter], c);
                if (comp) {
                    v[starter] = comp;
                    continue;
                }
            }
        }
        if (cc == 0)
            starter = w;
        v[w++] = c;
        last_cc = cc;
    }
    out->n = w;
    return 0;
}
