#include "io/json.h"
#include "io/file.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

/* Nodes, strings and pointer arrays are carved out of a list of big blocks,
 * so freeing a document is one walk over the list. */
typedef struct json_block {
    struct json_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} json_block;

struct json_doc {
    json_block *blocks;
    json_value *root;
};

typedef struct {
    const char *p, *end, *start;
    const char *what;
    json_doc *doc;
    wsd_err *err;
} parser;

static void *doc_alloc(json_doc *doc, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    json_block *b = doc->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = doc->blocks;
        doc->blocks = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

static wsd_status perr(parser *ps, const char *msg)
{
    size_t off = (size_t)(ps->p - ps->start);
    return wsd_fail(ps->err, WSD_ERR_FORMAT, "%s: malformed JSON at byte %zu: %s", ps->what, off, msg);
}

static wsd_status oom(parser *ps) { return wsd_fail(ps->err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory parsing JSON", ps->what); }

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[i]);
        if (h < 0)
            return 0;
        v = v * 16 + (unsigned)h;
    }
    ps->p += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at s (max n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len; unsigned cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Parses a string starting after the opening quote. */
static wsd_status parse_string(parser *ps, const char **out, size_t *out_len)
{
    /* Escapes only shrink text (\uXXXX -> at most 3 bytes; pairs 12 -> 4), so
     * the raw span bounds the decoded size. */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        if (*q == '\\') q++;
        q++;
    }
    if (q >= ps->end)
        return perr(ps, "unterminated string");
    char *buf = doc_alloc(ps->doc, (size_t)(q - ps->p) + 1);
    if (!buf)
        return oom(ps);
    size_t n = 0;
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            buf[n] = 0;
            *out = buf;
            *out_len = n;
            return WSD_OK;
        }
        if (c < 0x20)
            return perr(ps, "control character in string");
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                return perr(ps, "unterminated escape");
            char e = *ps->p++;
            switch (e) {
            case '"': buf[n++] = '"'; break;
            case '\\': buf[n++] = '\\'; break;
            case '/': buf[n++] = '/'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case 'n': buf[n++] = '\n'; break;
            case 'r': buf[n++] = '\r'; break;
            case 't': buf[n++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (!read_hex4(ps, &cp))
                    return perr(ps, "bad \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
                        return perr(ps, "unpaired surrogate in \\u escape");
                    ps->p += 2;
                    if (!read_hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return perr(ps, "unpaired surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return perr(ps, "unpaired surrogate in \\u escape");
                }
                n += put_utf8(buf + n, cp);
                break;
            }
            default:
                return perr(ps, "unknown escape");
            }
            continue;
        }
        size_t len = utf8_seq_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
        if (!len)
            return perr(ps, "invalid UTF-8 in string");
        memcpy(buf + n, ps->p, len);
        n += len;
        ps->p += len;
    }
    return perr(ps, "unterminated string");
}

static int match_word(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static wsd_status parse_number(parser *ps, double *out)
{
    const char *s = ps->p;
    const char *p = s;
    if (p < ps->end && *p == '-') p++;
    if (p < ps->end && *p == 'I') {
        ps->p = p;
        if (!match_word(ps, "Infinity")) return perr(ps, "bad literal");
        *out = (*s == '-') ? -INFINITY : INFINITY;
        return WSD_OK;
    }
    if (p >= ps->end || !(*p >= '0' && *p <= '9')) return perr(ps, "bad number");
    if (*p == '0') p++;
    else while (p < ps->end && *p >= '0' && *p <= '9') p++;
    if (p < ps->end && *p == '.') {
        p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9')) return perr(ps, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9')) return perr(ps, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    char tmp[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof tmp) return perr(ps, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    ps->p = p;
    return WSD_OK;
}

static wsd_status parse_value(parser *ps, json_value **out, int depth);

/* Arrays and objects collect children in a growable scratch list, then copy
 * it into the document once the size is known. */
typedef struct { json_value **v; const char **k; size_t *kl; size_t n, cap; } child_list;

static int child_push(child_list *c, json_value *v, const char *k, size_t kl)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        json_value **nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) return 0;
        c->v = nv;
        const char **nk = realloc(c->k, cap * sizeof *nk);
        if (!nk) return 0;
        c->k = nk;
        size_t *nkl = realloc(c->kl, cap * sizeof *nkl);
        if (!nkl) return 0;
        c->kl = nkl;
        c->cap = cap;
    }
    c->v[c->n] = v;
    c->k[c->n] = k;
    c->kl[c->n] = kl;
    c->n++;
    return 1;
}

static void child_free(child_list *c) { free(c->v); free(c->k); free(c->kl); }

static wsd_status parse_container(parser *ps, json_value *node, int is_obj, int depth)
{
    char close = is_obj ? '}' : ']';
    child_list c = {0};
    wsd_status s = WSD_OK;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            const char *key = NULL;
            size_t klen = 0;
            skip_ws(ps);
            if (is_obj) {
                if (ps->p >= ps->end || *ps->p != '"') { s = perr(ps, "expected object key"); break; }
                ps->p++;
                if ((s = parse_string(ps, &key, &klen)) != WSD_OK) break;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') { s = perr(ps, "expected ':'"); break; }
                ps->p++;
            }
            json_value *v;
            if ((s = parse_value(ps, &v, depth + 1)) != WSD_OK) break;
            if (!child_push(&c, v, key, klen)) { s = oom(ps); break; }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == close) { ps->p++; break; }
            s = perr(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
    }
    if (s == WSD_OK && c.n) {
        node->items = doc_alloc(ps->doc, c.n * sizeof *node->items);
        if (is_obj) {
            node->keys = doc_alloc(ps->doc, c.n * sizeof *node->keys);
            node->key_lens = doc_alloc(ps->doc, c.n * sizeof *node->key_lens);
        }
        if (!node->items || (is_obj && (!node->keys || !node->key_lens))) {
            s = oom(ps);
        } else {
            memcpy(node->items, c.v, c.n * sizeof *c.v);
            if (is_obj) {
                memcpy(node->keys, c.k, c.n * sizeof *c.k);
                memcpy(node->key_lens, c.kl, c.n * sizeof *c.kl);
            }
            node->len = c.n;
        }
    }
    child_free(&c);
    return s;
}

static wsd_status parse_value(parser *ps, json_value **out, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return perr(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return perr(ps, "unexpected end of input");
    json_value *v = doc_alloc(ps->doc, sizeof *v);
    if (!v)
        return oom(ps);
    memset(v, 0, sizeof *v);
    *out = v;
    char c = *ps->p;
    if (c == '{') { ps->p++; v->type = JSON_OBJECT; return parse_container(ps, v, 1, depth); }
    if (c == '[') { ps->p++; v->type = JSON_ARRAY; return parse_container(ps, v, 0, depth); }
    if (c == '"') { ps->p++; v->type = JSON_STRING; return parse_string(ps, &v->str, &v->len); }
    if (match_word(ps, "null")) { v->type = JSON_NULL; return WSD_OK; }
    if (match_word(ps, "true")) { v->type = JSON_TRUE; return WSD_OK; }
    if (match_word(ps, "false")) { v->type = JSON_FALSE; return WSD_OK; }
    if (match_word(ps, "NaN")) { v->type = JSON_NUMBER; v->number = NAN; return WSD_OK; }
    v->type = JSON_NUMBER;
    return parse_number(ps, &v->number);
}

wsd_status json_parse(const char *text, size_t size, const char *what, json_doc **out, wsd_err *err)
{
    *out = NULL;
    json_doc *doc = calloc(1, sizeof *doc);
    if (!doc)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    parser ps = {text, text + size, text, what, doc, err};
    wsd_status s = parse_value(&ps, &doc->root, 0);
    if (s == WSD_OK) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            s = perr(&ps, "trailing characters after the JSON value");
    }
    if (s != WSD_OK) {
        json_free(doc);
        return s;
    }
    *out = doc;
    return WSD_OK;
}

wsd_status json_parse_file(const char *path, json_doc **out, wsd_err *err)
{
    wsd_file_bytes fb;
    *out = NULL;
    WSD_TRY(wsd_read_file(path, 64u << 20, &fb, err));
    wsd_status s = json_parse((const char *)fb.data, fb.size, path, out, err);
    wsd_file_bytes_free(&fb);
    return s;
}

void json_free(json_doc *doc)
{
    if (!doc)
        return;
    json_block *b = doc->blocks;
    while (b) {
        json_block *n = b->next;
        free(b);
        b = n;
    }
    free(doc);
}

const json_value *json_root(const json_doc *doc) { return doc ? doc->root : NULL; }

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    /* Last duplicate wins, as in Python. */
    for (size_t i = obj->len; i-- > 0;)
        if (obj->key_lens[i] == kl && memcmp(obj->keys[i], key, kl) == 0)
            return obj->items[i];
    return NULL;
}

const json_value *json_at(const json_value *arr, size_t i)
{
    if (!arr || arr->type != JSON_ARRAY || i >= arr->len)
        return NULL;
    return arr->items[i];
}

int json_is_null(const json_value *v) { return !v || v->type == JSON_NULL; }

wsd_status json_get_num(const json_value *obj, const char *key, double def, double *out, const char *what, wsd_err *err)
{
    const json_value *v = json_get(obj, key);
    if (json_is_null(v)) { *out = def; return WSD_OK; }
    if (v->type != JSON_NUMBER)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be a number", what, key);
    *out = v->number;
    return WSD_OK;
}

wsd_status json_get_int(const json_value *obj, const char *key, long def, long *out, const char *what, wsd_err *err)
{
    double d = 0;
    WSD_TRY(json_get_num(obj, key, (double)def, &d, what, err));
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d))
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be an integer, got %g", what, key, d);
    *out = (long)d;
    return WSD_OK;
}

wsd_status json_get_bool(const json_value *obj, const char *key, int def, int *out, const char *what, wsd_err *err)
{
    const json_value *v = json_get(obj, key);
    if (json_is_null(v)) { *out = def; return WSD_OK; }
    if (v->type != JSON_TRUE && v->type != JSON_FALSE)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = v->type == JSON_TRUE;
    return WSD_OK;
}

wsd_status json_get_str(const json_value *obj, const char *key, const char *def, const char **out, const char *what, wsd_err *err)
{
    const json_value *v = json_get(obj, key);
    if (json_is_null(v)) { *out = def; return WSD_OK; }
    if (v->type != JSON_STRING)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    *out = v->str;
    return WSD_OK;
}
