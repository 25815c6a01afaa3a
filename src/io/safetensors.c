#include "io/safetensors.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static uint64_t read_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a non-negative integer that is exactly representable. */
static int json_uint(const json_value *v, uint64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !(v->number >= 0) || v->number > 9007199254740992.0 || v->number != (double)(uint64_t)v->number)
        return 0;
    *out = (uint64_t)v->number;
    return 1;
}

static wsd_status parse_header(st_file *f, const char *what, wsd_err *err)
{
    const uint8_t *base = f->bytes.data;
    /* lazy files hold only the header in memory: the file's size comes from the reader */
    uint64_t size = f->lazy ? f->reader.size : f->bytes.size;
    if (size < 8)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: not a safetensors file: only %llu bytes (truncated?)", what, (unsigned long long)size);
    uint64_t hlen = read_u64le(base);
    if (hlen > size - 8)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%llu bytes; truncated or not safetensors)",
                        what, (unsigned long long)hlen, (unsigned long long)size);
    if (hlen > ST_MAX_HEADER)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", what, (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen < 2)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: header too short to be JSON", what);
    json_doc *doc;
    char label[600];
    snprintf(label, sizeof label, "%s (safetensors header)", what);
    WSD_TRY(json_parse((const char *)base + 8, (size_t)hlen, label, &doc, err));
    f->doc = doc;
    const json_value *root = json_root(doc);
    if (root->type != JSON_OBJECT)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: safetensors header is not a JSON object", what);
    const uint8_t *data = f->lazy ? NULL : base + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;

    size_t n = 0;
    for (size_t i = 0; i < root->len; i++)
        if (strcmp(root->keys[i], "__metadata__") != 0) n++;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);

    for (size_t i = 0; i < root->len; i++) {
        const char *name = root->keys[i];
        const json_value *v = root->items[i];
        if (strcmp(name, "__metadata__") == 0) {
            if (v->type != JSON_OBJECT)
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: __metadata__ is not an object", what);
            /* a second one would be written past the first one's arrays */
            if (f->meta_keys)
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: __metadata__ appears twice", what);
            f->meta_keys = calloc(v->len + 1, sizeof(char *));
            f->meta_values = calloc(v->len + 1, sizeof(char *));
            if (!f->meta_keys || !f->meta_values)
                return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
            for (size_t k = 0; k < v->len; k++) {
                if (v->items[k]->type != JSON_STRING)
                    return wsd_fail(err, WSD_ERR_FORMAT, "%s: __metadata__ value \"%s\" is not a string", what, v->keys[k]);
                f->meta_keys[f->meta_count] = (char *)v->keys[k];
                f->meta_values[f->meta_count] = (char *)v->items[k]->str;
                f->meta_count++;
            }
            continue;
        }
        if (strlen(name) != root->key_lens[i])
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: a tensor name contains a NUL byte", what);
        if (v->type != JSON_OBJECT)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": entry is not an object", what, name);
        st_tensor *t = &f->tensors[f->count];
        t->name = name;
        const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"), *off = json_get(v, "data_offsets");
        if (!dt || dt->type != JSON_STRING)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": missing dtype", what, name);
        if (wsd_dtype_parse(dt->str, &t->dtype) != 0)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: tensor \"%s\": unknown dtype \"%s\" (wsd reads F32, F16, BF16, I64, I32, U8)", what, name, dt->str);
        if (!sh || sh->type != JSON_ARRAY)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": missing shape", what, name);
        if (sh->len > ST_MAX_DIMS)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most %d)", what, name, sh->len, ST_MAX_DIMS);
        t->ndim = (int)sh->len;
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t dim;
            if (!json_uint(sh->items[d], &dim) || dim > (1ull << 40))
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": bad shape entry %d", what, name, d);
            t->shape[d] = (int64_t)dim;
            if (dim && numel > UINT64_MAX / dim)
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": shape overflows", what, name);
            numel *= dim;
        }
        uint64_t begin, end;
        if (!off || off->type != JSON_ARRAY || off->len != 2 || !json_uint(off->items[0], &begin) || !json_uint(off->items[1], &end))
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": bad data_offsets", what, name);
        if (begin > end)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": data_offsets end before they begin", what, name);
        if (end > data_size)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": bytes %llu..%llu run past the end of the data (%llu bytes; truncated?)",
                            what, name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
        uint64_t esize = wsd_dtype_size(t->dtype);
        if (numel > UINT64_MAX / esize || numel * esize != end - begin)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\": shape needs %llu bytes of %s but data_offsets span %llu",
                            what, name, (unsigned long long)(numel * esize), dt->str, (unsigned long long)(end - begin));
        t->numel = (int64_t)numel;
        if (end - begin > SIZE_MAX)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: tensor \"%s\": %llu bytes do not fit this machine's address space", what,
                            name, (unsigned long long)(end - begin));
        t->data = data ? data + begin : NULL;
        t->offset = 8 + hlen + begin;
        t->nbytes = (size_t)(end - begin);
        f->count++;
    }

    /* No two tensors may share bytes. */
    if (f->count > 1) {
        st_tensor **by_off = malloc(f->count * sizeof *by_off);
        if (!by_off)
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
        for (size_t i = 0; i < f->count; i++) by_off[i] = &f->tensors[i];
        qsort(by_off, f->count, sizeof *by_off, cmp_tensor_offset);
        for (size_t i = 1; i < f->count; i++) {
            const st_tensor *a = by_off[i - 1], *b = by_off[i];
            if (a->nbytes && b->nbytes && a->offset + a->nbytes > b->offset) {
                wsd_status s = wsd_fail(err, WSD_ERR_FORMAT, "%s: tensors \"%s\" and \"%s\" overlap in the data section", what, a->name, b->name);
                free(by_off);
                return s;
            }
        }
        free(by_off);
    }
    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_tensor_name);
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\" appears twice", what, f->tensors[i].name);
    return WSD_OK;
}

wsd_status st_open(const char *path, st_file *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    out->path = wsd_strdup(path);
    if (!out->path)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    wsd_status s = wsd_map_file(path, &out->bytes, err);
    if (s == WSD_OK)
        s = parse_header(out, path, err);
    if (s != WSD_OK)
        st_close(out);
    return s;
}

wsd_status st_open_buffer(const uint8_t *data, size_t size, const char *what, st_file *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    out->path = wsd_strdup(what);
    if (!out->path)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    out->bytes.data = (uint8_t *)data;
    out->bytes.size = size;
    out->borrowed = 1;
    wsd_status s = parse_header(out, what, err);
    if (s != WSD_OK)
        st_close(out);
    return s;
}

wsd_status st_open_lazy(const char *path, st_file *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    out->lazy = 1;
    out->reader.fd = -1;
    out->path = wsd_strdup(path);
    if (!out->path)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    wsd_status s = wsd_reader_open(path, &out->reader, err);
    uint8_t len[8];
    uint64_t hlen = 0;
    if (s == WSD_OK && out->reader.size >= 8) {
        s = wsd_reader_read(&out->reader, 0, len, 8, err);
        for (int i = 7; i >= 0 && s == WSD_OK; i--) hlen = (hlen << 8) | len[i];
    }
    /* The length and the header; only the length when the header's size is
     * wrong, which parse_header then reports. */
    if (s == WSD_OK && out->reader.size >= 8) {
        size_t want = hlen <= out->reader.size - 8 && hlen <= ST_MAX_HEADER ? (size_t)hlen + 8 : 8;
        out->bytes.data = malloc(want);
        if (!out->bytes.data)
            s = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory for a %zu-byte header", path, want);
        else {
            out->bytes.size = want;
            s = wsd_reader_read(&out->reader, 0, out->bytes.data, want, err);
        }
    }
    if (s == WSD_OK)
        s = parse_header(out, path, err);
    if (s != WSD_OK)
        st_close(out);
    return s;
}

wsd_status st_tensor_read(const st_file *f, const st_tensor *t, size_t offset, void *dst, size_t n, wsd_err *err)
{
    if (offset > t->nbytes || n > t->nbytes - offset)
        return wsd_fail(err, WSD_ERR_INTERNAL, "%s: tensor \"%s\": bytes %zu..%zu asked for, it has %zu", f->path, t->name, offset,
                        offset + n, t->nbytes);
    if (t->data) {
        if (n) memcpy(dst, t->data + offset, n);
        return WSD_OK;
    }
    if (!f->lazy)
        return wsd_fail(err, WSD_ERR_INTERNAL, "%s: tensor \"%s\" has no data", f->path, t->name);
    wsd_status s = wsd_reader_read(&f->reader, t->offset + offset, dst, n, err);
    return s == WSD_OK ? s : wsd_fail_prefix(err, "tensor \"%s\": ", t->name);
}

wsd_status st_tensor_load(const st_file *f, const st_tensor *t, wsd_err *err)
{
    if (t->data || !f->lazy)
        return WSD_OK;
    uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
    if (!buf)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory reading tensor \"%s\" (%zu bytes)", f->path, t->name, t->nbytes);
    wsd_status s = st_tensor_read(f, t, 0, buf, t->nbytes, err);
    if (s != WSD_OK) {
        free(buf);
        return s;
    }
    /* a cache filled on first use: the tensor is logically const, and f owns the bytes from now on */
    ((st_tensor *)t)->data = buf;
    return WSD_OK;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->lazy) {
        for (size_t i = 0; i < f->count; i++) free((void *)f->tensors[i].data); /* what st_tensor_load read */
        wsd_reader_close(&f->reader);
    }
    if (!f->borrowed)
        wsd_file_bytes_free(&f->bytes);
    json_free(f->doc);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

wsd_status st_read_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float **out, wsd_err *err)
{
    *out = NULL;
    const st_tensor *t = st_find(f, name);
    if (!t)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: missing tensor \"%s\"", f->path, name);
    if (shape) {
        int ok = t->ndim == ndim;
        for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
        if (!ok) {
            char want[128], got[128];
            format_shape(want, sizeof want, ndim, shape);
            format_shape(got, sizeof got, t->ndim, t->shape);
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s", f->path, name, got, want);
        }
    }
    /* a lazy file's tensor is read into a temporary copy (this gives a new float32 buffer anyway) */
    uint8_t *raw = NULL;
    const uint8_t *src = t->data;
    if (!src) {
        raw = malloc(t->nbytes ? t->nbytes : 1);
        if (!raw)
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory reading \"%s\"", f->path, name);
        wsd_status s = st_tensor_read(f, t, 0, raw, t->nbytes, err);
        if (s != WSD_OK) {
            free(raw);
            return s;
        }
        src = raw;
    }
    float *buf = wsd_malloc_array((size_t)t->numel, sizeof(float));
    if (!buf) {
        free(raw);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory reading \"%s\"", f->path, name);
    }
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case WSD_DT_F32: case WSD_DT_F16: case WSD_DT_BF16:
        wsd_convert_to_f32(t->dtype, src, buf, n);
        break;
    case WSD_DT_I64:
        for (size_t i = 0; i < n; i++) { int64_t v; memcpy(&v, src + 8 * i, 8); buf[i] = (float)v; }
        break;
    case WSD_DT_I32:
        for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, src + 4 * i, 4); buf[i] = (float)v; }
        break;
    case WSD_DT_U8:
        for (size_t i = 0; i < n; i++) buf[i] = src[i];
        break;
    default:
        free(buf);
        free(raw);
        return wsd_fail(err, WSD_ERR_INTERNAL, "bad dtype");
    }
    free(raw);
    *out = buf;
    return WSD_OK;
}

/* ---- writer ---- */

typedef struct {
    char *name;
    wsd_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    void *data;
    size_t nbytes;
} st_entry;

struct st_writer {
    st_entry *e;
    size_t n, cap;
    char **mk, **mv;
    size_t mn;
};

st_writer *st_writer_new(void) { return calloc(1, sizeof(st_writer)); }

wsd_status st_writer_add(st_writer *w, const char *name, wsd_dtype dtype, int ndim, const int64_t *shape, const void *data, wsd_err *err)
{
    if (ndim > ST_MAX_DIMS)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "too many dims");
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        st_entry *ne = realloc(w->e, cap * sizeof *ne);
        if (!ne) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        w->e = ne;
        w->cap = cap;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
    e->nbytes = numel * wsd_dtype_size(dtype);
    e->name = wsd_strdup(name);
    e->data = malloc(e->nbytes ? e->nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(e->data, data, e->nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    if (ndim) memcpy(e->shape, shape, (size_t)ndim * sizeof *shape); /* shape may be NULL for a 0-dim tensor */
    w->n++;
    return WSD_OK;
}

wsd_status st_writer_add_meta(st_writer *w, const char *key, const char *value, wsd_err *err)
{
    char **mk = realloc(w->mk, (w->mn + 1) * sizeof *mk);
    if (mk) w->mk = mk;
    char **mv = realloc(w->mv, (w->mn + 1) * sizeof *mv);
    if (mv) w->mv = mv;
    if (!mk || !mv) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    w->mk[w->mn] = wsd_strdup(key);
    w->mv[w->mn] = wsd_strdup(value);
    w->mn++;
    return WSD_OK;
}

/* Appends a JSON string literal. Names are ASCII in practice; other bytes pass through. */
static size_t json_quote(char *out, const char *s)
{
    size_t n = 0;
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
        else if (c < 0x20) n += (size_t)sprintf(out + n, "\\u%04x", c);
        else out[n++] = (char)c;
    }
    out[n++] = '"';
    return n;
}

wsd_status st_writer_save(st_writer *w, const char *path, wsd_err *err)
{
    size_t cap = 64;
    for (size_t i = 0; i < w->n; i++) cap += strlen(w->e[i].name) * 6 + 64 + 24 * (size_t)w->e[i].ndim + 64;
    for (size_t i = 0; i < w->mn; i++) cap += (strlen(w->mk[i]) + strlen(w->mv[i])) * 6 + 16;
    char *h = malloc(cap);
    if (!h) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = 0, off = 0;
    h[n++] = '{';
    if (w->mn) {
        n += (size_t)sprintf(h + n, "\"__metadata__\":{");
        for (size_t i = 0; i < w->mn; i++) {
            if (i) h[n++] = ',';
            n += json_quote(h + n, w->mk[i]);
            h[n++] = ':';
            n += json_quote(h + n, w->mv[i]);
        }
        h[n++] = '}';
    }
    for (size_t i = 0; i < w->n; i++) {
        st_entry *e = &w->e[i];
        if (i || w->mn) h[n++] = ',';
        n += json_quote(h + n, e->name);
        n += (size_t)sprintf(h + n, ":{\"dtype\":\"%s\",\"shape\":[", wsd_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) n += (size_t)sprintf(h + n, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        n += (size_t)sprintf(h + n, "],\"data_offsets\":[%zu,%zu]}", off, off + e->nbytes);
        off += e->nbytes;
    }
    h[n++] = '}';
    while (n % 8) h[n++] = ' '; /* keep the data 8-byte aligned */
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return wsd_fail(err, WSD_ERR_IO, "%s: cannot create", path);
    }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(h, 1, n, f) == n;
    for (size_t i = 0; ok && i < w->n; i++)
        ok = fwrite(w->e[i].data, 1, w->e[i].nbytes, f) == w->e[i].nbytes;
    ok &= fclose(f) == 0;
    free(h);
    if (!ok) return wsd_fail(err, WSD_ERR_IO, "%s: write failed", path);
    return WSD_OK;
}

void st_writer_free(st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) { free(w->e[i].name); free(w->e[i].data); }
    for (size_t i = 0; i < w->mn; i++) { free(w->mk[i]); free(w->mv[i]); }
    free(w->e);
    free(w->mk);
    free(w->mv);
    free(w);
}
