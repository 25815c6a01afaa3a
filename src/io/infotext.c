/* AUTOMATIC1111 "parameters" text: see infotext.h. */
#include "io/infotext.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing string ---------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n > ((size_t)1 << 30)) { /* never legitimately: keeps sizes bounded */
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Python's repr() of the number the user typed as this float: the shortest
 * decimal that reads back as the same float, with ".0" for whole numbers. */
static void format_float(char *buf, size_t cap, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEni")) {
        size_t n = strlen(buf);
        if (n + 2 < cap) memcpy(buf + n, ".0", 3);
    }
}

/* A1111's quote(): plain unless the value holds ',', ':' or a newline, then
 * json.dumps(value, ensure_ascii=False). Also quoted here: a value whose first
 * non-space character is '"', which would read back as the start of a quoted
 * value running into the parameters after it. */
static void add_value(sbuf *b, const char *v)
{
    if (v[strspn(v, " ")] != '"' && !strpbrk(v, ",:\n")) {
        sb_str(b, v);
        return;
    }
    sb_add(b, "\"", 1);
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        char esc[8];
        switch (*s) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        default:
            if (*s < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *s);
                sb_str(b, esc);
            } else {
                sb_add(b, (const char *)s, 1);
            }
        }
    }
    sb_add(b, "\"", 1);
}

static void add_param(sbuf *b, int *first, const char *key, const char *value)
{
    if (!*first) sb_str(b, ", ");
    *first = 0;
    sb_str(b, key);
    sb_str(b, ": ");
    add_value(b, value);
}

static int is_strip_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

wsd_status infotext_format(const infotext *info, char **out, wsd_err *err)
{
    *out = NULL;
    sbuf b = {0};
    char num[64];
    sb_str(&b, info->prompt ? info->prompt : "");
    if (info->negative_prompt && info->negative_prompt[0]) {
        sb_str(&b, "\nNegative prompt: ");
        sb_str(&b, info->negative_prompt);
    }
    sb_str(&b, "\n");
    int first = 1;
    snprintf(num, sizeof num, "%d", info->steps);
    add_param(&b, &first, "Steps", num);
    add_param(&b, &first, "Sampler", info->sampler ? info->sampler : "");
    format_float(num, sizeof num, info->cfg_scale);
    add_param(&b, &first, "CFG scale", num);
    snprintf(num, sizeof num, "%" PRId64, info->seed);
    add_param(&b, &first, "Seed", num);
    snprintf(num, sizeof num, "%dx%d", info->width, info->height);
    add_param(&b, &first, "Size", num);
    if (info->model_hash) add_param(&b, &first, "Model hash", info->model_hash);
    if (info->model) add_param(&b, &first, "Model", info->model);
    if (info->denoising_strength > 0) {
        format_float(num, sizeof num, info->denoising_strength);
        add_param(&b, &first, "Denoising strength", num);
    }
    if (info->clip_skip > 1) {
        snprintf(num, sizeof num, "%d", info->clip_skip);
        add_param(&b, &first, "Clip skip", num);
    }
    if (info->version) add_param(&b, &first, "Version", info->version);
    if (b.oom) {
        free(b.p);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory formatting image parameters");
    }
    /* .strip() of the whole text */
    size_t start = 0, end = b.len;
    while (start < end && is_strip_space((unsigned char)b.p[start])) start++;
    while (end > start && is_strip_space((unsigned char)b.p[end - 1])) end--;
    memmove(b.p, b.p + start, end - start);
    b.p[end - start] = 0;
    *out = b.p;
    return WSD_OK;
}

/* ---- parsing ------------------------------------------------------------- */

static void put_utf8(sbuf *b, unsigned long cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        sb_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        sb_add(b, u, 4);
    }
}

/* One "key: value" of the parameters line; returns the position after it
 * (after the comma), or NULL when none is left. Key and value are appended to
 * b NUL-terminated; offsets returned through *k and *v. */
static const char *next_param(const char *s, sbuf *b, size_t *k, size_t *v)
{
    while (*s == ' ' || *s == '\t') s++;
    const char *ks = s;
    while (*s && *s != ':' && *s != ',') s++;
    if (*s != ':' || s == ks) return NULL;
    const char *ke = s;
    while (ke > ks && ke[-1] == ' ') ke--;
    *k = b->len;
    sb_add(b, ks, (size_t)(ke - ks));
    sb_add(b, "", 1);
    s++;
    while (*s == ' ') s++;
    *v = b->len;
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1]) {
                s++;
                switch (*s) {
                case 'n': sb_add(b, "\n", 1); break;
                case 'r': sb_add(b, "\r", 1); break;
                case 't': sb_add(b, "\t", 1); break;
                case 'b': sb_add(b, "\b", 1); break;
                case 'f': sb_add(b, "\f", 1); break;
                case 'u': {
                    unsigned long cp = 0;
                    int d = 0;
                    for (; d < 4 && s[1 + d]; d++) {
                        char c = s[1 + d];
                        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                        if (x < 0) break;
                        cp = cp * 16 + (unsigned long)x;
                    }
                    s += d;
                    put_utf8(b, cp);
                    break;
                }
                default: sb_add(b, s, 1);
                }
                s++;
            } else {
                sb_add(b, s++, 1);
            }
        }
        if (*s == '"') s++;
        while (*s && *s != ',') s++;
    } else {
        const char *vs = s;
        while (*s && *s != ',') s++;
        const char *ve = s;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\r')) ve--;
        sb_add(b, vs, (size_t)(ve - vs));
    }
    sb_add(b, "", 1);
    if (*s == ',') s++;
    return s;
}

static int count_params(const char *line)
{
    sbuf tmp = {0};
    int n = 0;
    size_t k, v;
    for (const char *s = line; s && *s;) {
        s = next_param(s, &tmp, &k, &v);
        if (s) n++;
    }
    free(tmp.p);
    return n;
}

wsd_status infotext_parse(const char *text, infotext *info, char **storage, wsd_err *err)
{
    memset(info, 0, sizeof *info);
    *storage = NULL;
    size_t len = strlen(text);
    while (len && is_strip_space((unsigned char)text[len - 1])) len--;
    while (len && is_strip_space((unsigned char)*text)) {
        text++;
        len--;
    }
    /* The last line is the parameters line when it holds at least 3 of them. */
    const char *last = text + len;
    while (last > text && last[-1] != '\n') last--;
    char *lastline = malloc((size_t)(text + len - last) + 1);
    if (!lastline) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory parsing image parameters");
    memcpy(lastline, last, (size_t)(text + len - last));
    lastline[text + len - last] = 0;
    int has_params = count_params(lastline) >= 3;
    size_t body_len = has_params ? (size_t)(last - text) : len;

    sbuf b = {0};
    /* prompt and negative prompt */
    size_t prompt_off = 0, neg_off = 0;
    int neg = 0, prompt_started = 0, neg_started = 0;
    sbuf pb = {0}, nb = {0};
    const char *s = text, *end = text + body_len;
    while (s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        const char *ls = s, *le = e;
        while (ls < le && is_strip_space((unsigned char)*ls)) ls++;
        while (le > ls && is_strip_space((unsigned char)le[-1])) le--;
        if (!neg && (size_t)(le - ls) >= 16 && memcmp(ls, "Negative prompt:", 16) == 0) {
            neg = 1;
            ls += 16;
            while (ls < le && is_strip_space((unsigned char)*ls)) ls++;
        }
        sbuf *t = neg ? &nb : &pb;
        int *started = neg ? &neg_started : &prompt_started;
        if (*started) sb_add(t, "\n", 1);
        sb_add(t, ls, (size_t)(le - ls));
        *started = 1;
        s = e + 1;
    }
    prompt_off = b.len;
    sb_add(&b, pb.p ? pb.p : "", pb.len);
    sb_add(&b, "", 1);
    neg_off = b.len;
    sb_add(&b, nb.p ? nb.p : "", nb.len);
    sb_add(&b, "", 1);
    int oom = pb.oom || nb.oom;
    free(pb.p);
    free(nb.p);

    enum { MAXP = 64 };
    size_t keys[MAXP], vals[MAXP];
    int np = 0;
    if (has_params) {
        for (const char *p = lastline; p && *p && np < MAXP;) {
            p = next_param(p, &b, &keys[np], &vals[np]);
            if (p) np++;
        }
    }
    free(lastline);
    if (oom || b.oom) {
        free(b.p);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory parsing image parameters");
    }
    info->prompt = b.p + prompt_off;
    info->negative_prompt = b.p + neg_off;
    for (int i = 0; i < np; i++) {
        const char *k = b.p + keys[i], *v = b.p + vals[i];
        if (strcmp(k, "Steps") == 0) info->steps = atoi(v);
        else if (strcmp(k, "Sampler") == 0) info->sampler = v;
        else if (strcmp(k, "CFG scale") == 0) info->cfg_scale = strtof(v, NULL);
        else if (strcmp(k, "Seed") == 0) info->seed = strtoll(v, NULL, 10);
        else if (strcmp(k, "Size") == 0) {
            if (sscanf(v, "%dx%d", &info->width, &info->height) != 2) info->width = info->height = 0;
        } else if (strcmp(k, "Model hash") == 0) info->model_hash = v;
        else if (strcmp(k, "Model") == 0) info->model = v;
        else if (strcmp(k, "Denoising strength") == 0) info->denoising_strength = strtof(v, NULL);
        else if (strcmp(k, "Clip skip") == 0) info->clip_skip = atoi(v);
        else if (strcmp(k, "Version") == 0) info->version = v;
    }
    *storage = b.p;
    return WSD_OK;
}
