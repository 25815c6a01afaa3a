/* CLIP tokenizer: the 42 golden prompts of shared/reference/golden/prompts.json,
 * the Unicode tables against the UCD and NormalizationTest.txt, both BPE
 * algorithms against each other, loading errors, SD 2.x padding, and property
 * tests over random and adversarial strings. */
#include "io/file.h"
#include "io/json.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define UCD "/usr/share/unicode"

static const char *tiny_model(void) { return tu_shared("reference/tiny-sd15"); }

/* ---- random strings --------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_bytes(sbuf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        b->p = realloc(b->p, nc);
        if (!b->p)
            abort();
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_bytes(b, s, strlen(s)); }

static void sb_cp(sbuf *b, uint32_t cp)
{
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sb_bytes(b, o, n);
}

/* A code point from a mix of plain and troublesome ranges. */
static uint32_t rnd_cp(void)
{
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E},       {0x20, 0x7E},       {0x20, 0x7E},      {'a', 'z'},         {'A', 'Z'},
        {0x00, 0x1F},       {0x80, 0xFF},       {0x100, 0x24F},    {0x300, 0x36F},     {0x300, 0x36F},
        {0x370, 0x3FF},     {0x400, 0x4FF},     {0x591, 0x5F4},    {0x600, 0x6FF},     {0x900, 0x97F},
        {0xE00, 0xE7F},     {0x1100, 0x11FF},   {0x1E00, 0x1FFF},  {0x2000, 0x206F},   {0x20A0, 0x20CF},
        {0x2100, 0x218F},   {0x2460, 0x24FF},   {0x3000, 0x30FF},  {0x4E00, 0x4FFF},   {0xAC00, 0xD7A3},
        {0xF900, 0xFAFF},   {0xFB00, 0xFB4F},   {0xFE00, 0xFE0F},  {0xFF00, 0xFFEF},   {0xFFF0, 0xFFFF},
        {0x1D400, 0x1D7FF}, {0x1F300, 0x1FAFF}, {0x1F3FB, 0x1F3FF}, {0x200D, 0x200D},  {0xE0000, 0xE007F},
        {0x10000, 0x10FFFF}, {0x130, 0x130},    {0x3A3, 0x3A3},    {0x2F800, 0x2FA1F}, {0x0, 0x10FFFF},
    };
    size_t k = rnd_below(sizeof ranges / sizeof *ranges);
    uint32_t cp = ranges[k][0] + rnd_below(ranges[k][1] - ranges[k][0] + 1);
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD;
    return cp;
}

static const char *pieces[] = {
    "<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "<|endof", "text|>", "'s", "'t", "'re", "'ve", "'m",
    "'ll", "'d", "'", "''", "  ", "\t\n", "\r\n", "\xc2\xa0", "\xe3\x80\x80", "\xe2\x80\x8b", "!", "...",
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "\xe2\x9d\xa4\xef\xb8\x8f",
    "e\xcc\x81", "\xc3\xa9", "A\xcc\x8a", "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xc4\xb0", "(masterpiece:1.2)",
    "a photo of a cat", "1234567890", "\xef\xac\x81", "\xef\xbc\xa6", "\xe2\x85\xab",
};

static void rnd_text(sbuf *b, size_t n_items)
{
    for (size_t i = 0; i < n_items; i++) {
        uint32_t r = rnd_below(10);
        if (r < 2)
            sb_str(b, pieces[rnd_below(sizeof pieces / sizeof *pieces)]);
        else if (r == 2)
            sb_bytes(b, "", 1); /* embedded NUL */
        else
            sb_cp(b, rnd_cp());
    }
}

/* ---- invariants ------------------------------------------------------------- */

typedef struct check_ctx {
    tok_tokenizer *tok, *nocache;
    int32_t vocab;
    long fails;
} check_ctx;

static int check_one(check_ctx *c, const char *s, size_t len, const char *what)
{
    int32_t ids[TOK_MAX_LENGTH], ids2[TOK_MAX_LENGTH], ids3[TOK_MAX_LENGTH];
    int n = -1, n2 = -1, n3 = -1;
    wsd_err err = {0};
    int bad = 0;
    if (tok_encode(c->tok, s, len, ids, &n, &err) != WSD_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        bad = 1;
    }
    int32_t bos = tok_bos_id(c->tok), eos = tok_eos_id(c->tok), pad = tok_pad_id(c->tok);
    int k = n < 75 ? n : 75;
    if (!bad) {
        bad |= ids[0] != bos || ids[1 + k] != eos || n < 0;
        for (int i = 0; i < TOK_MAX_LENGTH; i++)
            bad |= ids[i] < 0 || ids[i] >= c->vocab;
        for (int i = 2 + k; i < TOK_MAX_LENGTH; i++)
            bad |= ids[i] != pad;
        if (bad)
            fprintf(stderr, "%s: malformed ids (n=%d)\n", what, n);
    }
    if (!bad) {
        bad |= tok_encode(c->tok, s, len, ids2, &n2, &err) != WSD_OK || n2 != n || memcmp(ids, ids2, sizeof ids);
        bad |= tok_encode(c->nocache, s, len, ids3, &n3, &err) != WSD_OK || n3 != n ||
               memcmp(ids, ids3, sizeof ids);
        if (bad)
            fprintf(stderr, "%s: a second call or the uncached tokenizer differ\n", what);
    }
    if (!bad) {
        int32_t *all = NULL;
        size_t na = 0;
        bad |= tok_encode_all(c->tok, s, len, &all, &na, &err) != WSD_OK;
        bad |= !bad && (na != (size_t)n + 2 || memcmp(all, ids, (size_t)(k + 1) * sizeof *ids) ||
                        all[na - 1] != eos);
        if (bad)
            fprintf(stderr, "%s: tok_encode_all disagrees (%zu vs %d)\n", what, na, n + 2);
        free(all);
    }
    if (bad)
        c->fails++;
    return !bad;
}

/* ---- golden prompts ----------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t unhex(const char *h, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        out[k++] = (char)(hexval(h[i]) * 16 + hexval(h[i + 1]));
    return k;
}

static int ids_equal(const json_value *arr, const int32_t *ids, size_t n)
{
    if (!arr || arr->type != JSON_ARRAY || arr->len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (json_at(arr, i)->number != ids[i])
            return 0;
    return 1;
}

static void test_golden(tok_tokenizer *tok)
{
    json_doc *doc = NULL;
    wsd_err err = {0};
    CHECKF(json_parse_file(tu_shared("reference/golden/prompts.json"), &doc, &err) == WSD_OK, "%s", err.msg);
    if (!doc)
        return;
    const json_value *prompts = json_get(json_root(doc), "prompts");
    CHECK(prompts && prompts->len == 42);
    int ok = 0, ok_all = 0, total = prompts ? (int)prompts->len : 0;
    for (int p = 0; p < total; p++) {
        const json_value *e = json_at(prompts, (size_t)p);
        const json_value *hex = json_get(e, "utf8_hex");
        char *text = malloc(hex->len / 2 + 1);
        size_t len = unhex(hex->str, hex->len, text);
        int32_t ids[TOK_MAX_LENGTH];
        int n = -1;
        wsd_status s = tok_encode(tok, text, len, ids, &n, &err);
        double want_n = 0;
        json_get_num(e, "n_tokens_untruncated", 0, &want_n, "prompts.json", &err);
        int good = s == WSD_OK && ids_equal(json_get(e, "ids"), ids, TOK_MAX_LENGTH) && n == (int)want_n - 2;
        int32_t *all = NULL;
        size_t na = 0;
        int good_all = tok_encode_all(tok, text, len, &all, &na, &err) == WSD_OK &&
                       ids_equal(json_get(e, "ids_untruncated"), all, na);
        ok += good;
        ok_all += good_all;
        CHECKF(good && good_all, "prompt %d %.60s: ids %s, untruncated ids %s (n=%d)", p, json_get(e, "prompt")->str,
               good ? "match" : "DIFFER", good_all ? "match" : "DIFFER", n);
        if (!good) {
            fprintf(stderr, "  got:");
            for (int i = 0; i < 20; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        free(all);
        free(text);
    }
    printf("golden prompts: %d/%d match `ids` (77, padded), %d/%d match `ids_untruncated`\n", ok, total, ok_all,
           total);
    json_free(doc);
}

/* ---- Unicode ------------------------------------------------------------------ */

static void test_unicode_basics(void)
{
    uint32_t o[3];
    CHECK(uni_lower('A', o) == 1 && o[0] == 'a');
    CHECK(uni_lower(0x130, o) == 2 && o[0] == 'i' && o[1] == 0x307);
    CHECK(uni_lower(0x3A3, o) == 1 && o[0] == 0x3C3); /* no final-sigma context */
    CHECK(uni_lower(0x216B, o) == 1 && o[0] == 0x217B); /* roman numeral twelve */
    CHECK(uni_lower(0xFF26, o) == 1 && o[0] == 0xFF46); /* full-width F */
    CHECK(uni_lower(0x1E9E, o) == 1 && o[0] == 0xDF);
    CHECK(uni_class('a') == UNI_LETTER && uni_class('7') == UNI_NUMBER && uni_class(' ') == UNI_SPACE);
    CHECK(uni_class(0x3000) == UNI_SPACE && uni_class(0x200B) == UNI_OTHER && uni_class(0x1C) == UNI_OTHER);
    CHECK(uni_class(0x85) == UNI_SPACE && uni_class(0xA0) == UNI_SPACE && uni_class(0x180E) == UNI_OTHER);
    CHECK(uni_class(0x4E00) == UNI_LETTER && uni_class(0xBD) == UNI_NUMBER && uni_class(0x2160) == UNI_NUMBER);
    CHECK(uni_class(0x301) == UNI_OTHER && uni_class(0x110000) == UNI_OTHER);
    CHECK(uni_compose('e', 0x301) == 0xE9 && uni_compose(0x1100, 0x1161) == 0xAC00);
    CHECK(uni_compose(0xAC00, 0x11A8) == 0xAC01 && uni_compose(0xAC01, 0x11A8) == 0);
    CHECK(uni_compose(0x915, 0x93C) == 0); /* excluded: U+0958 */
    uint32_t d[UNI_MAX_DECOMP];
    CHECK(uni_decompose(0x1F82, d) == 4 && d[0] == 0x3B1 && d[3] == 0x345);
    CHECK(uni_decompose(0xD4DB, d) == 3);
}

/* Every code point's class, combining class, lowercase and decomposition
 * against UnicodeData.txt itself (independent of the generator). */
static void test_unicode_vs_ucd(void)
{
    FILE *f = fopen(UCD "/UnicodeData.txt", "r");
    if (!f) {
        printf("SKIPPED (loudly): " UCD "/UnicodeData.txt is missing (Debian package unicode-data); "
               "the Unicode tables were not cross-checked\n");
        return;
    }
    static char cat[0x110000][3];
    memset(cat, 0, sizeof cat);
    char line[1024];
    long bad_cls = 0, bad_ccc = 0, bad_low = 0, bad_dec = 0;
    uint32_t first = 0;
    while (fgets(line, sizeof line, f)) {
        char *fld[15];
        int nf = 0;
        char *p = line;
        while (nf < 15) {
            fld[nf++] = p;
            char *q = strchr(p, ';');
            if (!q)
                break;
            *q = 0;
            p = q + 1;
        }
        if (nf < 15)
            continue;
        uint32_t cp = (uint32_t)strtoul(fld[0], NULL, 16);
        uint32_t lo = strstr(fld[1], ", Last>") ? first : cp;
        first = cp;
        if (strstr(fld[1], ", First>"))
            continue;
        for (uint32_t c = lo; c <= cp; c++) {
            memcpy(cat[c], fld[2], 2);
            if (uni_ccc(c) != atoi(fld[3]))
                bad_ccc++;
        }
        uint32_t o[3];
        int k = uni_lower(cp, o);
        uint32_t want = fld[13][0] ? (uint32_t)strtoul(fld[13], NULL, 16) : cp;
        if (cp != 0x130 && (k != 1 || o[0] != want))
            bad_low++;
        if (fld[5][0] && fld[5][0] != '<' && cp != lo)
            continue;
        if (fld[5][0] && fld[5][0] != '<') {
            /* one level of the table must match (the recursion is tested by NormalizationTest) */
            uint32_t a = (uint32_t)strtoul(fld[5], &p, 16), b = (uint32_t)strtoul(p, NULL, 16);
            uint32_t full[UNI_MAX_DECOMP], fa[UNI_MAX_DECOMP];
            int n = uni_decompose(cp, full), na = uni_decompose(a, fa);
            if (n < na || memcmp(full, fa, (size_t)na * sizeof *fa) || (b && n == na))
                bad_dec++;
        }
    }
    fclose(f);
    for (uint32_t c = 0; c <= UNI_MAX_CP; c++) {
        int want = cat[c][0] == 'L' ? UNI_LETTER : cat[c][0] == 'N' ? UNI_NUMBER
                   : (cat[c][0] == 'Z' || (c >= 9 && c <= 13) || c == 0x85) ? UNI_SPACE : UNI_OTHER;
        if (uni_class(c) != want)
            bad_cls++;
    }
    CHECKF(bad_cls == 0, "%ld code points with a wrong class", bad_cls);
    CHECKF(bad_ccc == 0, "%ld code points with a wrong combining class", bad_ccc);
    CHECKF(bad_low == 0, "%ld code points with a wrong lowercase", bad_low);
    CHECKF(bad_dec == 0, "%ld code points with a wrong decomposition", bad_dec);
    printf("Unicode %s tables agree with " UCD "/UnicodeData.txt\n", uni_version);
}

static size_t parse_cps(const char *s, const char *end, uint32_t *out, size_t cap)
{
    size_t n = 0;
    while (s < end && n < cap) {
        char *q;
        unsigned long v = strtoul(s, &q, 16);
        if (q == s)
            break;
        out[n++] = (uint32_t)v;
        s = q;
        while (s < end && *s == ' ')
            s++;
    }
    return n;
}

static int nfc_is(const uint32_t *in, size_t n, const uint32_t *want, size_t wn, uni_buf *b)
{
    return uni_nfc(in, n, b) == 0 && b->n == wn && memcmp(b->v, want, wn * sizeof *want) == 0;
}

/* The conformance file of UAX #15: c2 == NFC(c1..c3), c4 == NFC(c4, c5), and
 * every code point not in part 1 is unchanged. */
static void test_normalization_conformance(void)
{
    FILE *f = fopen(UCD "/NormalizationTest.txt.bz2", "r");
    if (f)
        fclose(f);
    FILE *p = f ? popen("bzcat " UCD "/NormalizationTest.txt.bz2 2>/dev/null", "r") : NULL;
    if (!p) {
        printf("SKIPPED (loudly): " UCD "/NormalizationTest.txt.bz2 or bzcat is missing; NFC conformance not tested\n");
        return;
    }
    static uint8_t listed[0x110000 / 8];
    memset(listed, 0, sizeof listed);
    char line[4096];
    long lines = 0, bad = 0;
    int part = -1;
    uni_buf b = {0};
    while (fgets(line, sizeof line, p)) {
        if (line[0] == '@') {
            part = atoi(line + 5);
            continue;
        }
        if (line[0] == '#' || line[0] == '\n')
            continue;
        uint32_t col[5][64];
        size_t n[5];
        char *s = line;
        int ok = 1;
        for (int c = 0; c < 5; c++) {
            char *semi = strchr(s, ';');
            if (!semi) {
                ok = 0;
                break;
            }
            n[c] = parse_cps(s, semi, col[c], 64);
            s = semi + 1;
        }
        if (!ok)
            continue;
        lines++;
        if (part == 1 && n[0] == 1)
            listed[col[0][0] >> 3] |= (uint8_t)(1u << (col[0][0] & 7));
        int good = nfc_is(col[0], n[0], col[1], n[1], &b) && nfc_is(col[1], n[1], col[1], n[1], &b) &&
                   nfc_is(col[2], n[2], col[1], n[1], &b) && nfc_is(col[3], n[3], col[3], n[3], &b) &&
                   nfc_is(col[4], n[4], col[3], n[3], &b);
        if (!good && bad++ < 5)
            fprintf(stderr, "NFC differs: %s", line);
    }
    pclose(p);
    long bad_single = 0;
    for (uint32_t c = 0; c <= UNI_MAX_CP; c++) {
        if ((c >= 0xD800 && c <= 0xDFFF) || (listed[c >> 3] >> (c & 7) & 1))
            continue;
        if (!nfc_is(&c, 1, &c, 1, &b))
            bad_single++;
    }
    free(b.v);
    CHECKF(lines > 18000, "only %ld test lines read", lines);
    CHECKF(bad == 0, "%ld of %ld NormalizationTest lines fail", bad, lines);
    CHECKF(bad_single == 0, "%ld unlisted code points change under NFC", bad_single);
    printf("NFC: %ld NormalizationTest.txt lines, %ld failures; unlisted code points unchanged: %s\n", lines, bad,
           bad_single ? "NO" : "yes");
}

/* ---- BPE algorithms ------------------------------------------------------------ */

static void test_bpe_algorithms(tok_tokenizer *tok)
{
    static const char *alpha[] = {"a", "e", "i", "o", "n", "r", "s", "t", "l", "th", "in", "er", "\xc3\xa9", "!",
                                  "\xe2\x80\x8d", "\xf0\x9f\x90\xb1", "1", "ing", "tion", "qu"};
    long bad = 0;
    int32_t a[4096], b[4096];
    for (int it = 0; it < 4000; it++) {
        sbuf w = {0};
        size_t target = it < 3000 ? 1 + rnd_below(40) : 1 + rnd_below(1500);
        while (w.n < target)
            sb_str(&w, alpha[rnd_below(sizeof alpha / sizeof *alpha)]);
        long na = tok__bpe_word(tok, (const uint8_t *)w.p, w.n, 0, a, 4096);
        long nb = tok__bpe_word(tok, (const uint8_t *)w.p, w.n, 1, b, 4096);
        if (na <= 0 || na != nb || memcmp(a, b, (size_t)na * sizeof *a))
            bad++;
        free(w.p);
    }
    /* Long runs of one symbol: the worst case for both. */
    for (size_t n = 33; n < 3000; n = n * 3 / 2) {
        char *w = malloc(n);
        memset(w, 'a', n);
        long na = tok__bpe_word(tok, (const uint8_t *)w, n, 0, a, 4096);
        long nb = tok__bpe_word(tok, (const uint8_t *)w, n, 1, b, 4096);
        if (na <= 0 || na != nb || memcmp(a, b, (size_t)na * sizeof *a))
            bad++;
        free(w);
    }
    CHECKF(bad == 0, "%ld words where the short-word and heap BPE disagree", bad);
}

/* ---- loading --------------------------------------------------------------------- */

static void expect_create_error(const char *what, const char *vocab, const char *merges, const tok_options *o,
                                wsd_status code, const char *needle)
{
    tok_tokenizer *t = (tok_tokenizer *)1;
    wsd_err err = {0};
    wsd_status s = tok_create(vocab, strlen(vocab), merges, strlen(merges), o, &t, &err);
    CHECKF(s == code && t == NULL, "%s: status %d (want %d), %s", what, s, code, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
}

/* A complete byte-level vocabulary (512 symbols) plus a few merges and the specials. */
static char *synthetic_vocab(const char *extra)
{
    sbuf b = {0};
    sb_str(&b, "{");
    uint32_t next = 256;
    int id = 0;
    for (int eow = 0; eow < 2; eow++) {
        next = 256;
        for (int x = 0; x < 256; x++) {
            int printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
            uint32_t cp = printable ? (uint32_t)x : next++;
            char tmp[16];
            sb_str(&b, id ? ",\"" : "\"");
            if (cp == '"' || cp == '\\')
                sb_str(&b, "\\");
            sb_cp(&b, cp);
            snprintf(tmp, sizeof tmp, "%s\":%d", eow ? "</w>" : "", id++);
            sb_str(&b, tmp);
        }
    }
    sb_str(&b, ",\"<|startoftext|>\":512,\"<|endoftext|>\":513");
    sb_str(&b, extra);
    sb_str(&b, "}");
    return b.p;
}

static void test_loading(void)
{
    char *v = synthetic_vocab(",\"he\":514,\"ll\":515,\"hell\":516,\"o</w>\":517,\"hello</w>\":518");
    const char *m = "#version: 0.2\nh e\nl l\nhe ll\nhell o</w>\n";
    tok_tokenizer *t = NULL;
    wsd_err err = {0};
    CHECKF(tok_create(v, strlen(v), m, strlen(m), NULL, &t, &err) == WSD_OK, "%s", err.msg);
    if (t) {
        int32_t ids[TOK_MAX_LENGTH];
        int n = 0;
        /* hello -> hello</w>; hell -> he l l</w> (no merge "l l</w>") */
        CHECK(tok_encode(t, "Hello hell", 10, ids, &n, &err) == WSD_OK && n == 4);
        CHECK(ids[0] == 512 && ids[1] == 518 && ids[2] == 514 && ids[3] == 'l' && ids[4] == 256 + 'l');
        CHECK(ids[5] == 513 && ids[6] == 513 && tok_vocab_size(t) == 519);
        tok_free(t);
    }
    /* CRLF line ends and no trailing newline */
    const char *m2 = "#version: 0.2\r\nh e\r\nl l\r\nhe ll";
    CHECKF(tok_create(v, strlen(v), m2, strlen(m2), NULL, &t, &err) == WSD_OK, "%s", err.msg);
    tok_free(t);

    expect_create_error("not JSON", "{\"a\":", m, NULL, WSD_ERR_FORMAT, "vocab.json");
    expect_create_error("array", "[1,2]", m, NULL, WSD_ERR_FORMAT, "JSON object");
    expect_create_error("empty", "{}", m, NULL, WSD_ERR_FORMAT, "non-empty");
    expect_create_error("bad id", "{\"a\":1.5}", m, NULL, WSD_ERR_FORMAT, "token \"a\"");
    expect_create_error("negative id", "{\"a\":-1}", m, NULL, WSD_ERR_FORMAT, "integer id");
    expect_create_error("string id", "{\"a\":\"1\"}", m, NULL, WSD_ERR_FORMAT, "integer id");
    expect_create_error("no BOS", "{\"a\":1,\"<|endoftext|>\":2}", "", NULL, WSD_ERR_FORMAT, "BOS token");
    expect_create_error("merge token", v, "#version: 0.2\nh e\nq zz\n", NULL, WSD_ERR_FORMAT,
                        "merges.txt line 3: token \"zz\" is not in vocab.json");
    expect_create_error("merged token", v, "#version: 0.2\nh e\nh h\n", NULL, WSD_ERR_FORMAT,
                        "line 3: token \"hh\"");
    expect_create_error("three parts", v, "#version: 0.2\nh e l\n", NULL, WSD_ERR_FORMAT,
                        "merges.txt line 2: expected two tokens");
    expect_create_error("one part", v, "he\n", NULL, WSD_ERR_FORMAT, "line 1: expected two tokens");
    tok_options o;
    tok_options_init(&o);
    strcpy(o.pad_token, "<pad>");
    expect_create_error("pad", v, m, &o, WSD_ERR_FORMAT, "pad token \"<pad>\"");
    tok_options_init(&o);
    o.pad_id = 99999;
    expect_create_error("pad id", v, m, &o, WSD_ERR_INVALID_ARGUMENT, "pad id 99999");
    tok_options_init(&o);
    o.max_length = 78;
    expect_create_error("max length", v, m, &o, WSD_ERR_INVALID_ARGUMENT, "max_length 78");
    /* A vocabulary without byte symbols needs an unknown token. */
    tok_options_init(&o);
    strcpy(o.unk_token, "");
    expect_create_error("no bytes", "{\"<|startoftext|>\":0,\"<|endoftext|>\":1}", "", &o, WSD_ERR_FORMAT,
                        "of byte 0x00");
    tok_options_init(&o);
    const char *v0 = "{\"<|startoftext|>\":0,\"<|endoftext|>\":1}";
    CHECK(tok_create(v0, strlen(v0), "", 0, &o, &t, &err) == WSD_OK);
    if (t) { /* every byte is unknown: one unknown token per byte */
        int32_t ids[TOK_MAX_LENGTH];
        int n = 0;
        CHECK(tok_encode(t, "ab c", 4, ids, &n, &err) == WSD_OK && n == 3 && ids[1] == 1 && ids[3] == 1);
        tok_free(t);
    }

    CHECK(tok_load_dir("/nonexistent/model", &t, &err) == WSD_ERR_IO && t == NULL &&
          strstr(err.msg, "/nonexistent/model"));
    free(v);

    /* Configs: special_tokens_map.json wins; objects with "content"; the length clamp. */
    tok_options_init(&o);
    const char *tc = "{\"pad_token\":\"<|endoftext|>\",\"model_max_length\":1000000000000000019884624838656,"
                     "\"bos_token\":{\"__type\":\"AddedToken\",\"content\":\"<s>\"}}";
    const char *stm = "{\"pad_token\":\"!\"}";
    CHECKF(tok_options_from_config(&o, tc, strlen(tc), stm, strlen(stm), "m", &err) == WSD_OK, "%s", err.msg);
    CHECK(!strcmp(o.pad_token, "!") && !strcmp(o.bos_token, "<s>") && o.max_length == 77 &&
          !strcmp(o.eos_token, "<|endoftext|>"));
    const char *bad = "{\"pad_token\":5}";
    CHECK(tok_options_from_config(&o, bad, strlen(bad), NULL, 0, "m", &err) == WSD_ERR_FORMAT &&
          strstr(err.msg, "m/tokenizer_config.json: \"pad_token\""));
    const char *bad2 = "{\"model_max_length\":1}";
    CHECK(tok_options_from_config(&o, bad2, strlen(bad2), NULL, 0, "m", &err) == WSD_ERR_FORMAT);
    CHECK(tok_options_from_config(&o, "{", 1, NULL, 0, "m", &err) == WSD_ERR_FORMAT);
}

/* SD 2.x: pad is "!" (id 0), and "!" typed in a prompt is that special token. */
static void test_sd2(const char *vocab, size_t vl, const char *merges, size_t ml)
{
    tok_options o;
    tok_options_init(&o);
    strcpy(o.pad_token, "!");
    tok_tokenizer *t = NULL;
    wsd_err err = {0};
    CHECKF(tok_create(vocab, vl, merges, ml, &o, &t, &err) == WSD_OK, "%s", err.msg);
    if (!t)
        return;
    int32_t ids[TOK_MAX_LENGTH];
    int n = 0;
    CHECK(tok_pad_id(t) == 0);
    CHECK(tok_encode(t, "a photo of a cat", 16, ids, &n, &err) == WSD_OK && n == 5);
    CHECK(ids[0] == 49406 && ids[5] == 2368 && ids[6] == 49407 && ids[7] == 0 && ids[76] == 0);
    CHECK(tok_encode(t, "hello!", 6, ids, &n, &err) == WSD_OK && n == 2);
    CHECK(ids[1] == 3306 && ids[2] == 0 && ids[3] == 49407 && ids[4] == 0);
    tok_free(t);

    o.pad_id = 0; /* the same through the id */
    strcpy(o.pad_token, "<unused>");
    CHECKF(tok_create(vocab, vl, merges, ml, &o, &t, &err) == WSD_OK, "%s", err.msg);
    if (t) {
        CHECK(tok_pad_id(t) == 0);
        CHECK(tok_encode(t, "!!", 2, ids, &n, &err) == WSD_OK && n == 2 && ids[1] == 0 && ids[2] == 0 &&
              ids[3] == 49407);
        tok_free(t);
    }

    /* And through a model folder with SD 2's configs. */
    char dir[1024], tdir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/sd2", tu_tmpdir());
    snprintf(tdir, sizeof tdir, "%s/tokenizer", dir);
    mkdir(dir, 0755);
    mkdir(tdir, 0755);
    snprintf(path, sizeof path, "%s/vocab.json", tdir);
    wsd_write_file(path, vocab, vl, &err);
    snprintf(path, sizeof path, "%s/merges.txt", tdir);
    wsd_write_file(path, merges, ml, &err);
    const char *tc = "{\"model_max_length\": 77, \"pad_token\": \"!\", \"tokenizer_class\": \"CLIPTokenizer\","
                     "\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|startoftext|>\"}}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", tdir);
    wsd_write_file(path, tc, strlen(tc), &err);
    CHECKF(tok_load_dir(dir, &t, &err) == WSD_OK, "%s", err.msg);
    if (t) {
        CHECK(tok_pad_id(t) == 0 && tok_max_length(t) == 77);
        CHECK(tok_encode(t, "", 0, ids, &n, &err) == WSD_OK && n == 0 && ids[1] == 49407 && ids[2] == 0);
        tok_free(t);
    }
}

static void test_invalid_utf8(tok_tokenizer *tok)
{
    static const struct {
        const char *s;
        size_t len;
        const char *needle;
    } cases[] = {
        {"ab\xff", 3, "byte offset 2"},
        {"\xc3", 1, "byte offset 0"},
        {"ok \xc3(", 5, "byte offset 3"},
        {"\xc0\xaf", 2, "overlong"},
        {"\xe0\x80\xaf", 3, "overlong"},
        {"\xed\xa0\x80", 3, "surrogate"},
        {"\xf4\x90\x80\x80", 4, "above U+10FFFF"},
        {"x\x80", 2, "byte offset 1"},
        {"\xf0\x9f\x90", 3, "cut short"},
        {"caf\xc3\xa9 \xfe", 7, "byte offset 6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t ids[TOK_MAX_LENGTH];
        int n = 7;
        wsd_err err = {0};
        wsd_status s = tok_encode(tok, cases[i].s, cases[i].len, ids, &n, &err);
        CHECKF(s == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, cases[i].needle) && n == 0 && ids[0] == 49406 &&
                   ids[1] == 49407 && ids[76] == 49407,
               "case %zu: %d %s", i, s, err.msg);
    }
    int32_t *all = NULL;
    size_t na = 9;
    wsd_err err = {0};
    CHECK(tok_encode_all(tok, "\xff", 1, &all, &na, &err) == WSD_ERR_INVALID_ARGUMENT && !all && na == 0);
    CHECK(tok_encode(tok, NULL, 0, (int32_t[TOK_MAX_LENGTH]){0}, NULL, &err) == WSD_OK);
    char *big = calloc(TOK_MAX_INPUT + 1, 1);
    CHECK(tok_encode(tok, big, TOK_MAX_INPUT + 1, (int32_t[TOK_MAX_LENGTH]){0}, NULL, &err) ==
              WSD_ERR_INVALID_ARGUMENT &&
          strstr(err.msg, "at most"));
    free(big);
}

/* Independent strict UTF-8 validity check for random byte strings. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp;
        int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || i + (size_t)k >= n)
            return 0;
        cp = k == 0 ? c : k == 1 ? (c & 0x1F) : k == 2 ? (c & 0x0F) : (c & 0x07);
        for (int j = 1; j <= k; j++) {
            if ((s[i + (size_t)j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + (size_t)j] & 0x3F);
        }
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

static void test_properties(check_ctx *c)
{
    char what[64];
    long n_ok = 0, n_total = 0;
    /* Random mixed text, short and medium. */
    for (int it = 0; it < 3000; it++) {
        sbuf b = {0};
        sb_str(&b, "");
        rnd_text(&b, it < 2500 ? rnd_below(60) : rnd_below(2000));
        snprintf(what, sizeof what, "random text %d", it);
        n_ok += check_one(c, b.p, b.n, what);
        n_total++;
        free(b.p);
    }
    /* Random bytes: valid UTF-8 tokenizes, anything else is refused cleanly. */
    long refused = 0;
    for (int it = 0; it < 3000; it++) {
        size_t n = rnd_below(40);
        unsigned char buf[64];
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(rnd_below(4) ? rnd() : 0x80 + rnd_below(0x80));
        int32_t ids[TOK_MAX_LENGTH];
        int nt = 0;
        wsd_err err = {0};
        wsd_status s = tok_encode(c->tok, (const char *)buf, n, ids, &nt, &err);
        int v = valid_utf8(buf, n);
        refused += s != WSD_OK;
        CHECKF(v ? s == WSD_OK : (s == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "byte offset")),
               "random bytes %d: valid %d, status %d %s", it, v, s, err.msg);
        if (v) {
            snprintf(what, sizeof what, "random bytes %d", it);
            n_ok += check_one(c, (const char *)buf, n, what);
            n_total++;
        }
    }
    /* Adversarial long inputs. */
    static const struct {
        const char *unit;
        size_t bytes;
    } runs[] = {
        {"a", 100000},
        {"1", 100000},
        {"!", 100000},
        {" ", 100000},
        {"\t\n", 100000},
        {"\xc3\xa9", 100000},
        {"e\xcc\x81", 100000},
        {"\xcc\x81", 100000},
        {"\xcc\x81\xcc\x96", 100000},                 /* ccc 230, 220: reordering of one long run */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 99000}, /* Hangul L V T */
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d", 100000},
        {"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 100000},
        {"<|endoftext|>", 100000},
        {"<|ENDOFTEXT|>x", 100000},
        {"'s", 100000},
        {"'", 100000},
        {"\xc4\xb0", 100000},
        {"\xef\xb7\xba", 100000}, /* U+FDFA */
        {"", 100000},             /* NULs */
        {"\xe4\xb8\x80", 100000},
        {"abcdefghijklmnopqrstuvwxyz", 100000},
    };
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        size_t ul = strlen(runs[r].unit);
        if (ul == 0)
            ul = 1;
        char *s = malloc(runs[r].bytes + 8);
        size_t n = 0;
        while (n + ul <= runs[r].bytes) {
            memcpy(s + n, runs[r].unit, ul);
            n += ul;
        }
        snprintf(what, sizeof what, "run of \"%.20s\" x %zu", runs[r].unit, n / ul);
        n_ok += check_one(c, s, n, what);
        n_total++;
        free(s);
    }
    /* 100 kB random prompts. */
    for (int it = 0; it < 6; it++) {
        sbuf b = {0};
        while (b.n < 100000)
            rnd_text(&b, 64);
        snprintf(what, sizeof what, "100 kB random prompt %d", it);
        n_ok += check_one(c, b.p, b.n, what);
        n_total++;
        free(b.p);
    }
    CHECKF(n_ok == n_total, "%ld of %ld property cases failed", n_total - n_ok, n_total);
    printf("properties: %ld/%ld strings hold every invariant; %ld random byte strings refused as invalid UTF-8\n",
           n_ok, n_total, refused);
}

/* Specific behaviours worth pinning down. */
static void test_specifics(tok_tokenizer *tok)
{
    struct {
        const char *s;
        int n;
        int32_t first[6];
    } cases[] = {
        {"<|ENDOFTEXT|>", 1, {49407}},          /* specials match after lowercasing */
        {"x<|endoftext|>y", 3, {343, 49407, 344}}, /* inside words, no boundaries needed */
        {"!<|endoftext|>", 2, {256, 49407}},
        {"it's", 2, {585, 568}},
        {"'sam", 2, {568, 687}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t ids[TOK_MAX_LENGTH];
        int n = 0;
        wsd_err err = {0};
        int ok = tok_encode(tok, cases[i].s, strlen(cases[i].s), ids, &n, &err) == WSD_OK && n == cases[i].n;
        for (int k = 0; ok && k < cases[i].n; k++)
            ok = ids[1 + k] == cases[i].first[k];
        CHECKF(ok, "\"%s\": n=%d ids %d %d %d", cases[i].s, n, ids[1], ids[2], ids[3]);
    }
}

typedef struct thread_arg {
    tok_tokenizer *tok;
    int seed;
    long bad;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    static const char *prompts[] = {"a photo of a cat", "masterpiece, best quality, 1girl, long hair",
                                    "caf\xc3\xa9 na\xc3\xafve", "a highly detailed photograph of an astronaut"};
    int32_t want[4][TOK_MAX_LENGTH];
    wsd_err err = {0};
    for (int i = 0; i < 4; i++)
        tok_encode(a->tok, prompts[i], strlen(prompts[i]), want[i], NULL, &err);
    for (int it = 0; it < 3000; it++) {
        int i = (it + a->seed) % 4;
        int32_t ids[TOK_MAX_LENGTH];
        if (tok_encode(a->tok, prompts[i], strlen(prompts[i]), ids, NULL, &err) != WSD_OK ||
            memcmp(ids, want[i], sizeof ids))
            a->bad++;
    }
    return NULL;
}

static void test_threads(tok_tokenizer *tok)
{
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){tok, i, 0};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    CHECKF(bad == 0, "%ld concurrent encodes differ", bad);
}

int main(void)
{
    wsd_err err = {0};
    tok_tokenizer *tok = NULL, *tok2 = NULL, *nocache = NULL;
    CHECKF(tok_load_dir(tiny_model(), &tok, &err) == WSD_OK, "%s", err.msg);
    CHECKF(tok_load_dir(tu_shared("reference/tiny-sd15/tokenizer"), &tok2, &err) == WSD_OK, "%s", err.msg);
    if (!tok || !tok2)
        return tu_finish();
    CHECK(tok_bos_id(tok) == 49406 && tok_eos_id(tok) == 49407 && tok_pad_id(tok) == 49407);
    CHECK(tok_max_length(tok) == 77 && tok_vocab_size(tok) == 49408);

    /* The same files loaded from bytes, without a cache. */
    wsd_file_bytes v, m;
    CHECK(wsd_read_file(tu_shared("reference/tokenizer/vocab.json"), 64u << 20, &v, &err) == WSD_OK);
    CHECK(wsd_read_file(tu_shared("reference/tokenizer/merges.txt"), 64u << 20, &m, &err) == WSD_OK);
    tok_options o;
    tok_options_init(&o);
    o.cache_entries = -1;
    CHECKF(tok_create((const char *)v.data, v.size, (const char *)m.data, m.size, &o, &nocache, &err) == WSD_OK,
           "%s", err.msg);
    if (!nocache)
        return tu_finish();

    clock_t t0 = clock();
    test_golden(tok);
    test_golden(tok2);
    test_golden(nocache);
    test_specifics(tok);
    test_unicode_basics();
    test_unicode_vs_ucd();
    test_normalization_conformance();
    test_bpe_algorithms(tok);
    test_loading();
    test_sd2((const char *)v.data, v.size, (const char *)m.data, m.size);
    test_invalid_utf8(tok);
    check_ctx c = {tok, nocache, tok_vocab_size(tok), 0};
    test_properties(&c);
    test_threads(tok);
    printf("tokenizer tests took %.1f s of CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);

    wsd_file_bytes_free(&v);
    wsd_file_bytes_free(&m);
    tok_free(tok);
    tok_free(tok2);
    tok_free(nocache);
    return tu_finish();
}
