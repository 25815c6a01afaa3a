/* CLIP BPE tokenizer: loading (vocab.json, merges.txt, configs) and encoding.
 * See tokenizer.h for the exact behaviour being reproduced. */
#include "tokenizer/tokenizer.h"

#include "io/file.h"
#include "io/json.h"
#include "tokenizer/unicode.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
/* Words of at most this many bytes use the simple quadratic BPE. */
#define BPE_SCAN_MAX 32
/* Word-cache entry limits (an entry is 64 bytes). */
#define CACHE_WORD 26
#define CACHE_IDS 8
#define CACHE_DEFAULT 2048
#define MAX_SPECIALS 4

typedef struct tok_merge {
    int32_t left, right, id; /* rank = index in the merges array */
} tok_merge;

typedef struct tok_special {
    uint32_t cp[TOK_SPECIAL_MAX]; /* normalised text */
    int n;
    int32_t id;
} tok_special;

typedef struct cache_entry {
    uint32_t hash;
    uint8_t wlen; /* 0 = empty */
    uint8_t nids;
    char word[CACHE_WORD];
    int32_t ids[CACHE_IDS];
} cache_entry;

typedef struct tok_cache {
    atomic_flag busy; /* held by the one encode call that uses the cache */
    size_t mask;
    cache_entry *e;
} tok_cache;

struct tok_tokenizer {
    tok_merge *merges;
    uint32_t n_merges;
    uint32_t *mslots; /* open addressing: merge index + 1, 0 = empty */
    size_t mmask;
    int32_t byte_id[256], byte_eow_id[256];
    int32_t bos_id, eos_id, pad_id, vocab_size;
    int max_length;
    tok_special specials[MAX_SPECIALS];
    int n_specials;
    tok_cache *cache; /* NULL when disabled */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 31);
}

static inline size_t pair_slot(int32_t a, int32_t b, size_t mask)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ (k >> 32)) & mask;
}

/* Rank (merge index) of the pair, or NONE. */
static inline uint32_t merge_rank(const tok_tokenizer *t, int32_t a, int32_t b)
{
    size_t i = pair_slot(a, b, t->mmask);
    for (;;) {
        uint32_t s = t->mslots[i];
        if (!s)
            return NONE;
        const tok_merge *m = &t->merges[s - 1];
        if (m->left == a && m->right == b)
            return s - 1;
        i = (i + 1) & t->mmask;
    }
}

static size_t utf8_put(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strict UTF-8 decoding (no overlongs, surrogates or values above U+10FFFF). */
static wsd_status utf8_decode(const uint8_t *s, size_t len, const char *what, uni_buf *out, wsd_err *err)
{
    out->n = 0;
    if (uni_buf_reserve(out, len))
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    uint32_t *o = out->v;
    size_t i = 0, n = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            o[n++] = c;
            i++;
            continue;
        }
        int k;
        uint32_t cp, lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            else if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            const char *why = (c < 0xC0) ? "a continuation byte without a lead byte"
                              : (c < 0xC2) ? "an overlong encoding"
                                           : "a byte that never occurs in UTF-8";
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s: invalid UTF-8 at byte offset %zu (0x%02x: %s)",
                            what, i, c, why);
        }
        for (int j = 1; j <= k; j++) {
            if (i + (size_t)j >= len)
                return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT,
                                "%s: invalid UTF-8 at byte offset %zu (0x%02x: sequence cut short by the end of the text)",
                                what, i, c);
            uint8_t d = s[i + (size_t)j];
            uint32_t l = (j == 1) ? lo : 0x80, h = (j == 1) ? hi : 0xBF;
            if (d < l || d > h)
                return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT,
                                "%s: invalid UTF-8 at byte offset %zu (0x%02x followed by 0x%02x: %s)", what, i, c, d,
                                (d < 0x80 || d > 0xBF) ? "sequence cut short"
                                : (c == 0xED)          ? "a surrogate code point"
                                : (c == 0xF4)          ? "a value above U+10FFFF"
                                                       : "an overlong encoding");
            cp = (cp << 6) | (d & 0x3F);
        }
        o[n++] = cp;
        i += (size_t)k + 1;
    }
    out->n = n;
    return WSD_OK;
}

/* Printable, quoted-safe rendering of a token for messages. */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (i < n)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = 0;
    return buf;
}

/* GPT-2's byte-to-unicode table: the 188 printable bytes ('!'..'~', U+00A1..U+00AC,
 * U+00AE..U+00FF) stand for themselves; the other 68 map to U+0100 onwards in byte order. */
static int byte_is_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

static void byte_symbols(uint32_t sym[256])
{
    uint32_t next = 256;
    for (int b = 0; b < 256; b++)
        sym[b] = byte_is_printable(b) ? (uint32_t)b : next++;
}

/* NFC, white-space runs to U+0020, lowercase: in -> out (tmp is scratch). */
static int normalize(const uint32_t *in, size_t n, uni_buf *tmp, uni_buf *out)
{
    uint32_t maxcp = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] > maxcp)
            maxcp = in[i];
    const uint32_t *src = in;
    if (maxcp >= 0x300) { /* below U+0300 every string is already NFC */
        if (uni_nfc(in, n, tmp))
            return -1;
        src = tmp->v;
        n = tmp->n;
    }
    out->n = 0;
    if (uni_buf_reserve(out, n))
        return -1;
    int in_space = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = src[i];
        if (uni_class(c) == UNI_SPACE) {
            if (!in_space)
                out->v[out->n++] = ' ';
            in_space = 1;
            continue;
        }
        in_space = 0;
        uint32_t low[3];
        int k = uni_lower(c, low);
        /* room for this expansion and one code point for each one left */
        if (k > 1 && uni_buf_reserve(out, (size_t)k + (n - i - 1)))
            return -1;
        for (int j = 0; j < k; j++)
            out->v[out->n++] = low[j];
    }
    return 0;
}

/* ---- BPE ------------------------------------------------------------------ */

/* Short words: merge the lowest-ranked pair (leftmost on ties) until none is
 * left. sym and rank hold n entries. Returns the number of symbols. */
static size_t bpe_scan(const tok_tokenizer *t, const uint8_t *w, size_t n, int32_t *sym, uint32_t *rank)
{
    for (size_t i = 0; i < n; i++)
        sym[i] = t->byte_id[w[i]];
    sym[n - 1] = t->byte_eow_id[w[n - 1]];
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = merge_rank(t, sym[i], sym[i + 1]);
    while (n > 1) {
        size_t best = 0;
        uint32_t br = NONE;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < br) {
                br = rank[i];
                best = i;
            }
        if (br == NONE)
            break;
        sym[best] = t->merges[br].id;
        if (best + 2 < n) {
            memmove(sym + best + 1, sym + best + 2, (n - best - 2) * sizeof *sym);
            memmove(rank + best + 1, rank + best + 2, (n - best - 2 - 1) * sizeof *rank);
        }
        n--;
        if (best > 0)
            rank[best - 1] = merge_rank(t, sym[best - 1], sym[best]);
        if (best + 1 < n)
            rank[best] = merge_rank(t, sym[best], sym[best + 1]);
    }
    return n;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (m)
        h[i] = v;
    return top;
}

/* Long words: the same merge order with a heap of (rank, position), as the
 * tokenizers library does; O(n log n). Writes the symbols to out (n entries).
 * Returns the number of symbols, or 0 when out of memory. */
static size_t bpe_heap(const tok_tokenizer *t, const uint8_t *w, size_t n, int32_t *out)
{
    int32_t *sym = out;
    uint32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    uint64_t *heap = wsd_malloc_array(3 * n, sizeof *heap);
    size_t hn = 0, result = 0;
    if (!next || !prev || !heap)
        goto done;
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[w[i]];
        next[i] = (i + 1 < n) ? (uint32_t)(i + 1) : NONE;
        prev[i] = i ? (uint32_t)(i - 1) : NONE;
    }
    sym[n - 1] = t->byte_eow_id[w[n - 1]];
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = merge_rank(t, sym[i], sym[i + 1]);
        if (r != NONE)
            heap_push(heap, &hn, ((uint64_t)r << 32) | i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t r = (uint32_t)(top >> 32), pos = (uint32_t)top;
        uint32_t nx = next[pos];
        /* Stale entries: the left symbol was absorbed, or the pair changed. */
        if (sym[pos] < 0 || nx == NONE || merge_rank(t, sym[pos], sym[nx]) != r)
            continue;
        sym[pos] = t->merges[r].id;
        sym[nx] = -1;
        next[pos] = next[nx];
        if (next[nx] != NONE)
            prev[next[nx]] = pos;
        if (prev[pos] != NONE) {
            uint32_t r2 = merge_rank(t, sym[prev[pos]], sym[pos]);
            if (r2 != NONE)
                heap_push(heap, &hn, ((uint64_t)r2 << 32) | prev[pos]);
        }
        if (next[pos] != NONE) {
            uint32_t r2 = merge_rank(t, sym[pos], sym[next[pos]]);
            if (r2 != NONE)
                heap_push(heap, &hn, ((uint64_t)r2 << 32) | pos);
        }
    }
    for (uint32_t i = 0; i != NONE; i = next[i])
        sym[result++] = sym[i];
done:
    free(next);
    free(prev);
    free(heap);
    return result;
}

long tok__bpe_word(const tok_tokenizer *t, const uint8_t *word, size_t n, int use_heap, int32_t *out, size_t cap)
{
    if (n == 0)
        return 0;
    int32_t *sym = wsd_malloc_array(n, sizeof *sym);
    uint32_t *rank = wsd_malloc_array(n, sizeof *rank);
    long k = -1;
    if (sym && rank) {
        size_t m = use_heap ? bpe_heap(t, word, n, sym) : bpe_scan(t, word, n, sym, rank);
        if (m) {
            memcpy(out, sym, (m < cap ? m : cap) * sizeof *out);
            k = (long)m;
        }
    }
    free(sym);
    free(rank);
    return k;
}

/* ---- encoding --------------------------------------------------------------- */

typedef struct enc {
    const tok_tokenizer *tok;
    tok_cache *cache; /* NULL: not used for this call */
    int32_t *ids;     /* receives the tokens (not BOS/EOS) */
    size_t cap;       /* entries available in ids */
    size_t n;         /* entries written */
    size_t total;     /* tokens produced (written or not) */
    int grow;         /* ids is malloc'ed and grows to hold every token */
    uint8_t *word;    /* UTF-8 bytes of the current piece */
    size_t word_cap;
} enc;

static int emit(enc *e, int32_t id)
{
    e->total++;
    if (e->n == e->cap) {
        if (!e->grow)
            return 0;
        size_t nc = e->cap ? e->cap * 2 : 64;
        int32_t *p = wsd_malloc_array(nc, sizeof *p);
        if (!p)
            return -1;
        if (e->n)
            memcpy(p, e->ids, e->n * sizeof *p);
        free(e->ids);
        e->ids = p;
        e->cap = nc;
    }
    e->ids[e->n++] = id;
    return 0;
}

static int encode_word(enc *e, const uint8_t *w, size_t n)
{
    const tok_tokenizer *t = e->tok;
    cache_entry *ce = NULL;
    uint32_t h = 0;
    if (e->cache && n <= CACHE_WORD) {
        h = (uint32_t)hash_bytes(w, n);
        ce = &e->cache->e[h & e->cache->mask];
        if (ce->wlen == n && ce->hash == h && memcmp(ce->word, w, n) == 0) {
            for (int i = 0; i < ce->nids; i++)
                if (emit(e, ce->ids[i]))
                    return -1;
            return 0;
        }
    }
    size_t m;
    int32_t small_sym[BPE_SCAN_MAX];
    uint32_t small_rank[BPE_SCAN_MAX];
    int32_t *sym = small_sym;
    if (n <= BPE_SCAN_MAX) {
        m = bpe_scan(t, w, n, small_sym, small_rank);
    } else {
        sym = wsd_malloc_array(n, sizeof *sym);
        if (!sym)
            return -1;
        m = bpe_heap(t, w, n, sym);
        if (!m) {
            free(sym);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < m && !rc; i++)
        rc = emit(e, sym[i]);
    if (ce && m <= CACHE_IDS) {
        ce->hash = h;
        ce->wlen = (uint8_t)n;
        ce->nids = (uint8_t)m;
        memcpy(ce->word, w, n);
        memcpy(ce->ids, sym, m * sizeof *sym);
    }
    if (sym != small_sym)
        free(sym);
    return rc;
}

/* One pre-token: its code points to UTF-8 bytes, then BPE. */
static int encode_piece(enc *e, const uint32_t *cp, size_t n)
{
    if (n > (SIZE_MAX / 4) || n * 4 > e->word_cap) {
        size_t nc = n * 4 > 256 ? n * 4 : 256;
        uint8_t *p = realloc(e->word, nc);
        if (!p)
            return -1;
        e->word = p;
        e->word_cap = nc;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += utf8_put(cp[i], e->word + len);
    return encode_word(e, e->word, len);
}

/* The split pattern on text without special tokens. */
static int pretokenize(enc *e, const uint32_t *c, size_t s, size_t end)
{
    size_t i = s;
    while (i < end) {
        uint32_t ch = c[i];
        int k = uni_class(ch);
        if (k == UNI_SPACE) {
            i++;
            continue;
        }
        size_t j = i + 1;
        if (ch == '\'' && i + 1 < end) {
            uint32_t a = c[i + 1], b = (i + 2 < end) ? c[i + 2] : 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd')
                j = i + 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                j = i + 3;
        }
        if (j == i + 1) {
            if (k == UNI_LETTER) {
                while (j < end && uni_class(c[j]) == UNI_LETTER)
                    j++;
            } else if (k == UNI_OTHER) {
                while (j < end && uni_class(c[j]) == UNI_OTHER)
                    j++;
            } /* a number is one code point */
        }
        if (encode_piece(e, c + i, j - i))
            return -1;
        i = j;
    }
    return 0;
}

static wsd_status encode_core(enc *e, const char *utf8, size_t len, wsd_err *err)
{
    const tok_tokenizer *t = e->tok;
    if (!utf8 && len)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "prompt: NULL text with length %zu", len);
    if (len > TOK_MAX_INPUT)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "prompt: %zu bytes long; at most %u are accepted", len,
                        (unsigned)TOK_MAX_INPUT);
    uni_buf a = {0}, b = {0}, c = {0};
    wsd_status s = utf8_decode((const uint8_t *)utf8, len, "prompt", &a, err);
    if (s)
        goto done;
    if (normalize(a.v, a.n, &b, &c)) {
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "prompt: out of memory while normalising");
        goto done;
    }
    size_t start = 0;
    for (size_t i = 0; i < c.n;) {
        const tok_special *hit = NULL;
        for (int k = 0; k < t->n_specials; k++) {
            const tok_special *sp = &t->specials[k]; /* sorted longest first */
            if (c.v[i] == sp->cp[0] && (size_t)sp->n <= c.n - i &&
                memcmp(c.v + i, sp->cp, (size_t)sp->n * sizeof *c.v) == 0) {
                hit = sp;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        if (pretokenize(e, c.v, start, i) || emit(e, hit->id)) {
            s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "prompt: out of memory");
            goto done;
        }
        i += (size_t)hit->n;
        start = i;
    }
    if (pretokenize(e, c.v, start, c.n))
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "prompt: out of memory");
done:
    free(a.v);
    free(b.v);
    free(c.v);
    free(e->word);
    e->word = NULL;
    return s;
}

static tok_cache *cache_acquire(const tok_tokenizer *t)
{
    if (t->cache && !atomic_flag_test_and_set_explicit(&t->cache->busy, memory_order_acquire))
        return t->cache;
    return NULL; /* another call holds it: go without */
}

static void cache_release(tok_cache *c)
{
    if (c)
        atomic_flag_clear_explicit(&c->busy, memory_order_release);
}

static void fill_empty(const tok_tokenizer *t, int32_t *ids)
{
    ids[0] = t->bos_id;
    ids[1] = t->eos_id;
    for (int i = 2; i < t->max_length; i++)
        ids[i] = t->pad_id;
}

wsd_status tok_encode(const tok_tokenizer *t, const char *utf8, size_t len, int32_t *ids, int *n_tokens, wsd_err *err)
{
    if (n_tokens)
        *n_tokens = 0;
    if (!t || !ids)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_encode: NULL tokenizer or output");
    fill_empty(t, ids);
    enc e = {0};
    e.tok = t;
    e.ids = ids + 1;
    e.cap = (size_t)t->max_length - 2;
    e.cache = cache_acquire(t);
    wsd_status s = encode_core(&e, utf8, len, err);
    cache_release(e.cache);
    if (s) {
        fill_empty(t, ids);
        return s;
    }
    ids[1 + e.n] = t->eos_id;
    for (size_t i = 2 + e.n; i < (size_t)t->max_length; i++)
        ids[i] = t->pad_id;
    if (n_tokens)
        *n_tokens = e.total > INT32_MAX ? INT32_MAX : (int)e.total;
    return WSD_OK;
}

wsd_status tok_encode_all(const tok_tokenizer *t, const char *utf8, size_t len, int32_t **out_ids, size_t *out_n,
                          wsd_err *err)
{
    if (out_ids)
        *out_ids = NULL;
    if (out_n)
        *out_n = 0;
    if (!t || !out_ids || !out_n)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_encode_all: NULL tokenizer or output");
    enc e = {0};
    e.tok = t;
    e.grow = 1;
    wsd_status s = WSD_OK;
    if (emit(&e, t->bos_id))
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "prompt: out of memory");
    if (!s) {
        e.cache = cache_acquire(t);
        s = encode_core(&e, utf8, len, err);
        cache_release(e.cache);
    }
    if (!s && emit(&e, t->eos_id))
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "prompt: out of memory");
    if (s) {
        free(e.ids);
        return s;
    }
    *out_ids = e.ids;
    *out_n = e.n;
    return WSD_OK;
}

/* ---- options ---------------------------------------------------------------- */

void tok_options_init(tok_options *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->bos_token, "<|startoftext|>");
    strcpy(o->eos_token, "<|endoftext|>");
    strcpy(o->unk_token, "<|endoftext|>");
    strcpy(o->pad_token, "<|endoftext|>");
    o->pad_id = -1;
    o->max_length = TOK_MAX_LENGTH;
}

/* A special token in a config: a string, or an AddedToken object with "content". */
static wsd_status config_token(const json_value *root, const char *key, const char *what, char *dst, int *found,
                               wsd_err *err)
{
    const json_value *v = json_get(root, key);
    *found = 0;
    if (json_is_null(v))
        return WSD_OK;
    if (v->type == JSON_OBJECT)
        v = json_get(v, "content");
    if (!v || v->type != JSON_STRING)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be a string or an object with a \"content\" string",
                        what, key);
    if (v->len >= TOK_SPECIAL_MAX || memchr(v->str, 0, v->len))
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" is longer than %d bytes or contains NUL", what, key,
                        TOK_SPECIAL_MAX - 1);
    memcpy(dst, v->str, v->len + 1);
    *found = 1;
    return WSD_OK;
}

wsd_status tok_options_from_config(tok_options *o, const char *tc, size_t tc_len, const char *stm, size_t stm_len,
                                   const char *what, wsd_err *err)
{
    static const char *keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    char *dst[4] = {o->bos_token, o->eos_token, o->unk_token, o->pad_token};
    json_doc *docs[2] = {NULL, NULL};
    const char *names[2] = {"tokenizer_config.json", "special_tokens_map.json"};
    char name_buf[2][512];
    wsd_status s = WSD_OK;
    if (!what)
        what = "tokenizer";
    for (int d = 0; d < 2 && !s; d++) {
        const char *src = d ? stm : tc;
        size_t n = d ? stm_len : tc_len;
        snprintf(name_buf[d], sizeof name_buf[d], "%s/%s", what, names[d]);
        if (!src)
            continue;
        s = json_parse(src, n, name_buf[d], &docs[d], err);
        if (!s && json_root(docs[d])->type != JSON_OBJECT)
            s = wsd_fail(err, WSD_ERR_FORMAT, "%s: expected a JSON object", name_buf[d]);
    }
    /* special_tokens_map.json wins over tokenizer_config.json, as in transformers. */
    for (int k = 0; k < 4 && !s; k++) {
        int found = 0;
        for (int d = 1; d >= 0 && !found && !s; d--)
            if (docs[d])
                s = config_token(json_root(docs[d]), keys[k], name_buf[d], dst[k], &found, err);
        if (found && k == 3)
            o->pad_id = -1;
    }
    if (!s && docs[0]) {
        const json_value *v = json_get(json_root(docs[0]), "model_max_length");
        if (!json_is_null(v)) {
            if (v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < 2)
                s = wsd_fail(err, WSD_ERR_FORMAT, "%s: \"model_max_length\" must be an integer >= 2", name_buf[0]);
            else
                o->max_length = v->number > TOK_MAX_LENGTH ? TOK_MAX_LENGTH : (int)v->number;
        }
    }
    json_free(docs[0]);
    json_free(docs[1]);
    return s;
}

/* ---- loading ---------------------------------------------------------------- */

typedef struct vocab_slot {
    const char *s;
    size_t len;
    int32_t id;
} vocab_slot;

typedef struct vocab_map {
    vocab_slot *slot;
    size_t mask;
} vocab_map;

static vocab_slot *vocab_find(const vocab_map *m, const char *s, size_t len)
{
    size_t i = (size_t)hash_bytes(s, len) & m->mask;
    for (;;) {
        vocab_slot *v = &m->slot[i];
        if (!v->s || (v->len == len && memcmp(v->s, s, len) == 0))
            return v;
        i = (i + 1) & m->mask;
    }
}

static int32_t vocab_get(const vocab_map *m, const char *s, size_t len)
{
    const vocab_slot *v = vocab_find(m, s, len);
    return v->s ? v->id : -1;
}

typedef struct loader {
    const char *vocab_name, *merges_name;
    json_doc *doc;
    vocab_map vm;
    char *cat; /* scratch for concatenations */
    size_t cat_cap;
} loader;

static wsd_status load_vocab(loader *L, tok_tokenizer *t, const char *json, size_t len, wsd_err *err)
{
    WSD_TRY(json_parse(json, len, L->vocab_name, &L->doc, err));
    const json_value *root = json_root(L->doc);
    if (root->type != JSON_OBJECT || root->len == 0)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: expected a non-empty JSON object of token -> id", L->vocab_name);
    size_t cap = 16;
    while (cap < root->len * 2)
        cap *= 2;
    L->vm.slot = wsd_calloc_array(cap, sizeof *L->vm.slot);
    if (!L->vm.slot)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", L->vocab_name);
    L->vm.mask = cap - 1;
    int32_t max_id = -1;
    for (size_t i = 0; i < root->len; i++) {
        const json_value *v = root->items[i];
        char sb[160];
        if (v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < 0 || v->number >= INT32_MAX)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: token \"%s\" must map to an integer id in [0, 2^31 - 1)",
                            L->vocab_name, show(root->keys[i], root->key_lens[i], sb, sizeof sb));
        vocab_slot *slot = vocab_find(&L->vm, root->keys[i], root->key_lens[i]);
        slot->s = root->keys[i]; /* a duplicate key: the last one wins, as in Python */
        slot->len = root->key_lens[i];
        slot->id = (int32_t)v->number;
        if (slot->id > max_id)
            max_id = slot->id;
    }
    t->vocab_size = max_id + 1;
    return WSD_OK;
}

static char *cat_buf(loader *L, size_t need)
{
    if (need > L->cat_cap) {
        char *p = realloc(L->cat, need);
        if (!p)
            return NULL;
        L->cat = p;
        L->cat_cap = need;
    }
    return L->cat;
}

static wsd_status load_merges(loader *L, tok_tokenizer *t, const char *text, size_t len, wsd_err *err)
{
    size_t cap = 0, n = 0, line_no = 0;
    tok_merge *m = NULL;
    const char *p = text, *end = text + len;
    wsd_status s = WSD_OK;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        line_no++;
        if (le > p && le[-1] == '\r')
            le--;
        size_t ll = (size_t)(le - p);
        int blank = 1;
        for (size_t i = 0; i < ll; i++)
            if (p[i] != ' ' && p[i] != '\t')
                blank = 0;
        if (blank || (ll >= 8 && memcmp(p, "#version", 8) == 0)) {
            p = next;
            continue;
        }
        const char *sp = memchr(p, ' ', ll);
        char sb[160];
        if (!sp || sp == p || sp + 1 == le || memchr(sp + 1, ' ', (size_t)(le - sp - 1))) {
            s = wsd_fail(err, WSD_ERR_FORMAT, "%s line %zu: expected two tokens separated by one space, got \"%s\"",
                         L->merges_name, line_no, show(p, ll, sb, sizeof sb));
            break;
        }
        size_t la = (size_t)(sp - p), lb = (size_t)(le - sp - 1);
        int32_t a = vocab_get(&L->vm, p, la), b = vocab_get(&L->vm, sp + 1, lb);
        char *cat = cat_buf(L, la + lb);
        if (!cat) {
            s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", L->merges_name);
            break;
        }
        memcpy(cat, p, la);
        memcpy(cat + la, sp + 1, lb);
        int32_t ab = vocab_get(&L->vm, cat, la + lb);
        if (a < 0 || b < 0 || ab < 0) {
            const char *miss = a < 0 ? p : b < 0 ? sp + 1 : cat;
            size_t ml = a < 0 ? la : b < 0 ? lb : la + lb;
            s = wsd_fail(err, WSD_ERR_FORMAT, "%s line %zu: token \"%s\" is not in %s", L->merges_name, line_no,
                         show(miss, ml, sb, sizeof sb), L->vocab_name);
            break;
        }
        if (n == cap) {
            if (n >= (1u << 26)) {
                s = wsd_fail(err, WSD_ERR_FORMAT, "%s: more than %u merges", L->merges_name, 1u << 26);
                break;
            }
            size_t nc = cap ? cap * 2 : 1024;
            tok_merge *nm = realloc(m, nc * sizeof *m);
            if (!nm) {
                s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", L->merges_name);
                break;
            }
            m = nm;
            cap = nc;
        }
        m[n].left = a;
        m[n].right = b;
        m[n].id = ab;
        n++;
        p = next;
    }
    if (s) {
        free(m);
        return s;
    }
    t->merges = m;
    t->n_merges = (uint32_t)n;
    size_t sc = 16;
    while (sc < n * 2)
        sc *= 2;
    t->mslots = wsd_calloc_array(sc, sizeof *t->mslots);
    if (!t->mslots)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", L->merges_name);
    t->mmask = sc - 1;
    for (uint32_t r = 0; r < n; r++) {
        size_t i = pair_slot(m[r].left, m[r].right, t->mmask);
        for (;;) {
            uint32_t v = t->mslots[i];
            if (!v || (m[v - 1].left == m[r].left && m[v - 1].right == m[r].right)) {
                t->mslots[i] = r + 1; /* a repeated pair takes its last rank, as tokenizers does */
                break;
            }
            i = (i + 1) & t->mmask;
        }
    }
    return WSD_OK;
}

/* Normalises a special token's text as prompts are (it is matched after normalisation). */
static wsd_status add_special(tok_tokenizer *t, const char *str, int32_t id, const char *what, wsd_err *err)
{
    for (int k = 0; k < t->n_specials; k++)
        if (t->specials[k].id == id)
            return WSD_OK;
    uni_buf a = {0}, b = {0}, c = {0};
    wsd_status s = utf8_decode((const uint8_t *)str, strlen(str), what, &a, err);
    if (!s && normalize(a.v, a.n, &b, &c))
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    if (!s && c.n > 0 && c.n <= TOK_SPECIAL_MAX && t->n_specials < MAX_SPECIALS) {
        tok_special *sp = &t->specials[t->n_specials++];
        memcpy(sp->cp, c.v, c.n * sizeof *c.v);
        sp->n = (int)c.n;
        sp->id = id;
        /* keep longest first, so that a match is the longest at its position */
        for (int k = t->n_specials - 1; k > 0 && t->specials[k].n > t->specials[k - 1].n; k--) {
            tok_special tmp = t->specials[k];
            t->specials[k] = t->specials[k - 1];
            t->specials[k - 1] = tmp;
        }
    }
    free(a.v);
    free(b.v);
    free(c.v);
    return s;
}

static wsd_status load_specials(loader *L, tok_tokenizer *t, const tok_options *o, wsd_err *err)
{
    char sb[160];
    const char *pad = o->pad_token;
    if (o->pad_id >= 0) {
        const json_value *root = json_root(L->doc);
        pad = NULL;
        for (size_t i = 0; i < root->len && !pad; i++) {
            const char *k = root->keys[i];
            if (vocab_get(&L->vm, k, root->key_lens[i]) == o->pad_id && !memchr(k, 0, root->key_lens[i]))
                pad = k;
        }
        if (!pad)
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s: pad id %d is not in the vocabulary", L->vocab_name,
                            (int)o->pad_id);
    }
    const char *strs[4] = {o->bos_token, o->eos_token, pad, o->unk_token};
    const char *names[4] = {"BOS", "EOS", "pad", "unknown"};
    int32_t ids[4];
    for (int k = 0; k < 4; k++) {
        ids[k] = strs[k][0] ? vocab_get(&L->vm, strs[k], strlen(strs[k])) : -1;
        if (ids[k] < 0 && k < 3)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: the %s token \"%s\" is not in the vocabulary", L->vocab_name,
                            names[k], show(strs[k], strlen(strs[k]), sb, sizeof sb));
    }
    t->bos_id = ids[0];
    t->eos_id = ids[1];
    t->pad_id = ids[2];
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0)
            WSD_TRY(add_special(t, strs[k], ids[k], L->vocab_name, err));

    /* The 512 initial symbols: each byte alone and with the end-of-word mark. */
    uint32_t sym[256];
    byte_symbols(sym);
    int32_t unk = ids[3];
    for (int b = 0; b < 256; b++) {
        uint8_t u[8];
        size_t n = utf8_put(sym[b], u);
        memcpy(u + n, "</w>", 4);
        for (int eow = 0; eow < 2; eow++) {
            int32_t id = vocab_get(&L->vm, (const char *)u, n + (eow ? 4 : 0));
            if (id < 0)
                id = unk; /* as tokenizers: an unknown symbol becomes the unknown token */
            if (id < 0)
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: lacks the symbol \"%s\" of byte 0x%02x and has no unknown token",
                                L->vocab_name, show((const char *)u, n + (eow ? 4 : 0), sb, sizeof sb), b);
            (eow ? t->byte_eow_id : t->byte_id)[b] = id;
        }
    }
    return WSD_OK;
}

static wsd_status create_named(const char *vocab_json, size_t vocab_len, const char *merges, size_t merges_len,
                               const tok_options *opts, const char *vocab_name, const char *merges_name,
                               tok_tokenizer **out, wsd_err *err)
{
    if (!out)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_create: NULL output");
    *out = NULL;
    if ((!vocab_json && vocab_len) || (!merges && merges_len))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_create: NULL buffer");
    tok_options o;
    if (opts)
        o = *opts;
    else
        tok_options_init(&o);
    if (o.max_length == 0)
        o.max_length = TOK_MAX_LENGTH;
    if (o.max_length < 2 || o.max_length > TOK_MAX_LENGTH)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tokenizer: max_length %d is outside [2, %d]", o.max_length,
                        TOK_MAX_LENGTH);
    const char *strs[4] = {o.bos_token, o.eos_token, o.unk_token, o.pad_token};
    for (int k = 0; k < 4; k++)
        if (!memchr(strs[k], 0, TOK_SPECIAL_MAX))
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tokenizer: a special-token string is not NUL-terminated");

    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    t->max_length = o.max_length;
    loader L = {0};
    L.vocab_name = vocab_name;
    L.merges_name = merges_name;
    wsd_status s = load_vocab(&L, t, vocab_json ? vocab_json : "", vocab_len, err);
    if (!s)
        s = load_specials(&L, t, &o, err);
    if (!s)
        s = load_merges(&L, t, merges ? merges : "", merges_len, err);
    if (!s && o.cache_entries >= 0) {
        size_t want = o.cache_entries ? (size_t)o.cache_entries : CACHE_DEFAULT, n = 1;
        while (n < want && n < (1u << 20))
            n *= 2;
        t->cache = calloc(1, sizeof *t->cache);
        if (t->cache) {
            atomic_flag_clear(&t->cache->busy);
            t->cache->e = wsd_calloc_array(n, sizeof *t->cache->e);
            t->cache->mask = n - 1;
        }
        if (!t->cache || !t->cache->e)
            s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    json_free(L.doc);
    free(L.vm.slot);
    free(L.cat);
    if (s) {
        tok_free(t);
        return s;
    }
    *out = t;
    return WSD_OK;
}

wsd_status tok_create(const char *vocab_json, size_t vocab_len, const char *merges, size_t merges_len,
                      const tok_options *opts, tok_tokenizer **out, wsd_err *err)
{
    return create_named(vocab_json, vocab_len, merges, merges_len, opts, "vocab.json", "merges.txt", out, err);
}

wsd_status tok_load_dir(const char *dir, tok_tokenizer **out, wsd_err *err)
{
    if (!out)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_load_dir: NULL output");
    *out = NULL;
    if (!dir || !*dir)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "tok_load_dir: no folder given");
    static const char *files[4] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    char *paths[4] = {NULL, NULL, NULL, NULL};
    wsd_file_bytes fb[4];
    memset(fb, 0, sizeof fb);
    wsd_status s = WSD_OK;
    char *sub = wsd_path_join(dir, "tokenizer");
    char *probe = sub ? wsd_path_join(sub, "vocab.json") : NULL;
    if (!sub || !probe) {
        s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        goto done;
    }
    const char *base = wsd_path_is_file(probe) ? sub : dir;
    if (!wsd_path_is_dir(base)) {
        s = wsd_fail(err, WSD_ERR_IO, "%s: not a folder (expected a tokenizer folder or a diffusers model)", dir);
        goto done;
    }
    for (int k = 0; k < 4 && !s; k++) {
        paths[k] = wsd_path_join(base, files[k]);
        if (!paths[k]) {
            s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
            break;
        }
        if (k >= 2 && !wsd_path_is_file(paths[k]))
            continue; /* the configs are optional */
        s = wsd_read_file(paths[k], k < 2 ? (64u << 20) : (1u << 20), &fb[k], err);
    }
    if (s)
        goto done;
    tok_options o;
    tok_options_init(&o);
    s = tok_options_from_config(&o, (const char *)fb[2].data, fb[2].size, (const char *)fb[3].data, fb[3].size,
                                base, err);
    if (!s)
        s = create_named((const char *)fb[0].data, fb[0].size, (const char *)fb[1].data, fb[1].size, &o, paths[0],
                         paths[1], out, err);
done:
    for (int k = 0; k < 4; k++) {
        wsd_file_bytes_free(&fb[k]);
        free(paths[k]);
    }
    free(sub);
    free(probe);
    return s;
}

void tok_free(tok_tokenizer *t)
{
    if (!t)
        return;
    free(t->merges);
    free(t->mslots);
    if (t->cache)
        free(t->cache->e);
    free(t->cache);
    free(t);
}

int tok_max_length(const tok_tokenizer *t) { return t->max_length; }
int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos_id; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos_id; }
int32_t tok_pad_id(const tok_tokenizer *t) { return t->pad_id; }
int32_t tok_vocab_size(const tok_tokenizer *t) { return t->vocab_size; }
