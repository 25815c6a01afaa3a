/* safetensors reader: reads the goldens, and rejects every kind of broken
 * file with a message that names the file and the problem. */
#include "io/file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Builds a file image: 8-byte length + header + data bytes. */
static size_t make_file(uint8_t *buf, const char *header, size_t data_len)
{
    size_t hl = strlen(header);
    put_u64(buf, hl);
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, 0x3c, data_len);
    return 8 + hl + data_len;
}

static void expect_error(const char *what, const uint8_t *buf, size_t size, wsd_status code, const char *needle)
{
    st_file f;
    wsd_err err = {0};
    wsd_status s = st_open_buffer(buf, size, "bad.safetensors", &f, &err);
    CHECKF(s == code, "%s: status %d, want %d (%s)", what, s, code, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
    CHECKF(strstr(err.msg, "bad.safetensors") != NULL, "%s: message \"%s\" does not name the file", what, err.msg);
    if (s == WSD_OK) st_close(&f);
    /* the same bytes as a file opened lazily (only the header is read): the same verdict */
    char path[1200];
    snprintf(path, sizeof path, "%s/bad.safetensors", tu_tmpdir());
    wsd_err e2 = {0};
    CHECK(wsd_write_file(path, buf, size, &e2) == WSD_OK);
    s = st_open_lazy(path, &f, &e2);
    CHECKF(s == code, "%s (lazy): status %d, want %d (%s)", what, s, code, e2.msg);
    CHECKF(strstr(e2.msg, needle) != NULL && strstr(e2.msg, "bad.safetensors") != NULL, "%s (lazy): message \"%s\" lacks \"%s\" or the file",
           what, e2.msg, needle);
    if (s == WSD_OK) st_close(&f);
}

/* A lazily opened file (the browser build's weights: only the header is read)
 * gives the same tensors as the mapped one, read in pieces or whole. */
static void lazy_matches_mapped(const char *path)
{
    st_file m, l;
    wsd_err err = {0};
    CHECKF(st_open(path, &m, &err) == WSD_OK, "%s", err.msg);
    CHECKF(st_open_lazy(path, &l, &err) == WSD_OK, "%s", err.msg);
    if (!m.count || !l.count) return;
    CHECK(m.count == l.count && l.lazy && l.bytes.size < m.bytes.size / 4); /* the header only */
    uint8_t piece[1000];
    int same = 1;
    for (size_t i = 0; i < m.count && same; i++) {
        const st_tensor *a = &m.tensors[i], *b = &l.tensors[i];
        same = !strcmp(a->name, b->name) && a->nbytes == b->nbytes && a->offset == b->offset && !b->data &&
               a->data == m.bytes.data + a->offset;
        for (size_t o = 0; same && o < b->nbytes; o += sizeof piece) {
            size_t k = b->nbytes - o < sizeof piece ? b->nbytes - o : sizeof piece;
            same = st_tensor_read(&l, b, o, piece, k, &err) == WSD_OK && !memcmp(piece, a->data + o, k);
        }
        same = same && st_tensor_load(&l, b, &err) == WSD_OK && b->data && !memcmp(a->data, b->data, a->nbytes);
    }
    CHECKF(same, "%s: lazy and mapped tensors differ (%s)", path, err.msg);
    CHECK(st_tensor_read(&l, &l.tensors[0], l.tensors[0].nbytes, piece, 1, &err) == WSD_ERR_INTERNAL &&
          strstr(err.msg, l.tensors[0].name));
    float *x = NULL, *y = NULL;
    const st_tensor *t = &l.tensors[l.count - 1];
    CHECK(st_read_f32(&m, t->name, 0, NULL, &x, &err) == WSD_OK && st_read_f32(&l, t->name, 0, NULL, &y, &err) == WSD_OK &&
          x && y && !memcmp(x, y, (size_t)t->numel * sizeof *x));
    free(x);
    free(y);
    st_close(&m);
    st_close(&l);
}

int main(void)
{
    /* The goldens parse and a known tensor has the documented shape. */
    st_file f;
    wsd_err err = {0};
    wsd_status s = st_open(tu_shared("reference/golden/unet.safetensors"), &f, &err);
    CHECKF(s == WSD_OK, "%s", err.msg);
    if (s == WSD_OK) {
        const st_tensor *t = st_find(&f, "sample");
        CHECK(t && t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 4 && t->shape[2] == 16 && t->dtype == WSD_DT_F32);
        CHECK(st_find(&f, "t981/mid_block") != NULL);
        CHECK(st_find(&f, "nope") == NULL);
        float *x;
        int64_t want[4] = {2, 4, 16, 16};
        CHECK(st_read_f32(&f, "sample", 4, want, &x, &err) == WSD_OK);
        free(x);
        int64_t wrong[4] = {2, 4, 16, 17};
        CHECK(st_read_f32(&f, "sample", 4, wrong, &x, &err) == WSD_ERR_FORMAT && strstr(err.msg, "[2, 4, 16, 16]"));
        CHECK(st_read_f32(&f, "missing", 4, want, &x, &err) == WSD_ERR_FORMAT && strstr(err.msg, "missing tensor \"missing\""));
        st_close(&f);
    }

    uint8_t buf[4096];
    size_t n;
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
    {
        st_file g;
        CHECK(st_open_buffer(buf, n, "good", &g, &err) == WSD_OK);
        if (g.count == 1) st_close(&g);
    }
    expect_error("truncated file", buf, 5, WSD_ERR_FORMAT, "truncated");
    expect_error("truncated data", buf, n - 4, WSD_ERR_FORMAT, "past the end");
    put_u64(buf, 1u << 30);
    expect_error("header length beyond file", buf, n, WSD_ERR_FORMAT, "header length");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", 16);
    expect_error("malformed json", buf, n, WSD_ERR_FORMAT, "malformed JSON");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4);
    expect_error("unknown dtype", buf, n, WSD_ERR_UNSUPPORTED, "unknown dtype \"F8_E4M3\"");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16);
    expect_error("shape/size mismatch", buf, n, WSD_ERR_FORMAT, "\"a\"");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
    expect_error("overlap", buf, n, WSD_ERR_FORMAT, "overlap");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16);
    expect_error("overflowing shape", buf, n, WSD_ERR_FORMAT, "\"a\"");
    n = make_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,18446744073709551615]}}", 16);
    expect_error("huge offset", buf, n, WSD_ERR_FORMAT, "\"a\"");

    lazy_matches_mapped(tu_shared("reference/tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
    lazy_matches_mapped(tu_shared("reference/golden/pipeline_dpmpp2m_cfg.safetensors"));

    /* Writer round trip with metadata. */
    st_writer *w = st_writer_new();
    float vals[6] = {1, 2, 3, 4, 5, 6};
    int64_t shp[2] = {2, 3};
    CHECK(st_writer_add(w, "x", WSD_DT_F32, 2, shp, vals, &err) == WSD_OK);
    CHECK(st_writer_add_meta(w, "k", "v\"q", &err) == WSD_OK);
    char path[1200];
    snprintf(path, sizeof path, "%s/rt.safetensors", tu_tmpdir());
    CHECK(st_writer_save(w, path, &err) == WSD_OK);
    st_writer_free(w);
    CHECK(st_open(path, &f, &err) == WSD_OK);
    const st_tensor *t = st_find(&f, "x");
    CHECK(t && t->numel == 6 && memcmp(t->data, vals, 24) == 0 && ((uintptr_t)t->data % 8) == 0);
    CHECK(st_meta(&f, "k") && strcmp(st_meta(&f, "k"), "v\"q") == 0);
    st_close(&f);

    /* JSON edge cases. */
    json_doc *d;
    const char *j = "{\"a\":[1,2.5e3,-Infinity,NaN],\"s\":\"\\u00e9\\ud83d\\ude00\",\"n\":null}";
    CHECK(json_parse(j, strlen(j), "j", &d, &err) == WSD_OK);
    if (d) {
        const json_value *a = json_get(json_root(d), "a");
        CHECK(a && a->len == 4 && json_at(a, 1)->number == 2500 && json_at(a, 2)->number < -1e300);
        CHECK(strcmp(json_get(json_root(d), "s")->str, "\xc3\xa9\xf0\x9f\x98\x80") == 0);
        json_free(d);
    }
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"\\ud800\"", "01", "[1] x", "\"\x01\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECKF(json_parse(bad[i], strlen(bad[i]), "j", &d, &err) == WSD_ERR_FORMAT, "accepted bad JSON #%zu", i);
    }
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    CHECK(json_parse(deep, 600, "deep", &d, &err) == WSD_ERR_FORMAT && strstr(err.msg, "deep"));
    return tu_finish();
}
