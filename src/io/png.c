/* PNG encode/decode through libpng: see png.h.
 *
 * libpng reports errors by longjmp to the setjmp in the calling function.
 * Rules followed here: every libpng call that can fail runs after a setjmp in
 * the same function; locals assigned after that setjmp and used in the error
 * branch are volatile; everything else (text conversion, final RGB buffers)
 * is allocated outside the setjmp region. */
#include "io/png.h"
#include "io/file.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNGIO_MAX_PIXELS (1u << 26) /* 64 Mpixel: 8192 x 8192 */
#define PNGIO_MAX_FILE ((size_t)1 << 30)

typedef struct pngio_ctx {
    char msg[256];
} pngio_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    pngio_ctx *c = png_get_error_ptr(png);
    if (c) snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ---- text conversion -------------------------------------------------------- */

/* Decodes one UTF-8 sequence; returns its length, 0 if malformed. */
static size_t utf8_next(const unsigned char *s, unsigned long *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) return 0;
    unsigned long v = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const unsigned long min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return (size_t)n;
}

/* UTF-8 -> Latin-1 if every character fits (returns malloc'ed, *fits = 1);
 * otherwise *fits = 0 and NULL. *valid = 0 for malformed UTF-8. */
static char *utf8_to_latin1(const char *s, int *fits, int *valid)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    *fits = 1;
    *valid = 1;
    if (!out) return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned long cp;
        size_t k = utf8_next(p, &cp);
        if (!k) {
            *valid = 0;
            *fits = 0;
            free(out);
            return NULL;
        }
        if (cp > 0xff) *fits = 0;
        out[o++] = (char)cp;
        p += k;
    }
    out[o] = 0;
    if (!*fits) {
        free(out);
        return NULL;
    }
    return out;
}

static char *latin1_to_utf8(const char *s, size_t n)
{
    char *out = malloc(2 * n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xc0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = 0;
    return out;
}

/* PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or
 * consecutive spaces (libpng would silently rewrite such a key). */
static int valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (!((c >= 32 && c <= 126) || c >= 161)) return 0;
        if (c == ' ' && k[i + 1] == ' ') return 0;
    }
    return 1;
}

/* ---- encoding ------------------------------------------------------------------ */

typedef struct mem_writer {
    uint8_t *p;
    size_t len, cap;
} mem_writer;

static void mem_write(png_structp png, png_bytep data, png_size_t n)
{
    mem_writer *w = png_get_io_ptr(png);
    if (n > SIZE_MAX / 2 - w->len) png_error(png, "output too large");
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->len + n) cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) png_error(png, "out of memory");
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void mem_flush(png_structp png) { (void)png; }

wsd_status pngio_encode_rgb(const uint8_t *rgb, int width, int height, const pngio_text *texts, int n_texts,
                            uint8_t **out, size_t *out_size, wsd_err *err)
{
    *out = NULL;
    *out_size = 0;
    if (!rgb) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNG encode: no pixels");
    if (width < 1 || height < 1 || width > PNGIO_MAX_SIDE || height > PNGIO_MAX_SIDE)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNG encode: size %dx%d outside 1..%d", width, height, PNGIO_MAX_SIDE);
    if (n_texts < 0 || (n_texts > 0 && !texts))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNG encode: bad text chunk list");

    /* Text chunks and row pointers are prepared before libpng starts. */
    png_text *pt = n_texts ? calloc((size_t)n_texts, sizeof *pt) : NULL;
    char **owned = n_texts ? calloc((size_t)n_texts, sizeof *owned) : NULL;
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    wsd_status st = WSD_OK;
    if ((n_texts && (!pt || !owned)) || !rows) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "PNG encode: out of memory");
    for (int i = 0; st == WSD_OK && i < n_texts; i++) {
        const char *key = texts[i].key, *value = texts[i].value ? texts[i].value : "";
        if (!key || !valid_key(key)) {
            st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNG encode: text key \"%s\" must be 1-79 printable Latin-1 characters",
                          key ? key : "(null)");
            break;
        }
        int fits, valid;
        char *latin1 = utf8_to_latin1(value, &fits, &valid);
        if (!valid) {
            st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNG encode: text \"%s\" is not valid UTF-8", key);
            break;
        }
        pt[i].key = (png_charp)key;
        if (fits) {
            if (!latin1) {
                st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "PNG encode: out of memory");
                break;
            }
            owned[i] = latin1;
            pt[i].compression = PNG_TEXT_COMPRESSION_NONE;
            pt[i].text = latin1;
            pt[i].text_length = strlen(latin1);
        } else {
            pt[i].compression = PNG_ITXT_COMPRESSION_NONE;
            pt[i].text = (png_charp)value;
            pt[i].itxt_length = strlen(value);
            pt[i].lang = (png_charp) "";
            pt[i].lang_key = (png_charp) "";
        }
    }
    if (st != WSD_OK) goto cleanup;
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);

    pngio_ctx ctx = {{0}};
    mem_writer w = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "PNG encode: out of memory");
        goto cleanup;
    }
    if (setjmp(png_jmpbuf(png))) {
        /* w.p is only changed inside mem_write (a callee), so it is current. */
        png_destroy_write_struct(&png, &info);
        free(w.p);
        st = wsd_fail(err, WSD_ERR_INTERNAL, "PNG encode: %s", ctx.msg);
        goto cleanup;
    }
    png_set_write_fn(png, &w, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_texts) png_set_text(png, info, pt, n_texts);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = w.p;
    *out_size = w.len;

cleanup:
    for (int i = 0; owned && i < n_texts; i++) free(owned[i]);
    free(owned);
    free(pt);
    free(rows);
    return st;
}

wsd_status pngio_write_rgb(const char *path, const uint8_t *rgb, int width, int height, const pngio_text *texts,
                           int n_texts, wsd_err *err)
{
    uint8_t *data;
    size_t size;
    wsd_status st = pngio_encode_rgb(rgb, width, height, texts, n_texts, &data, &size, err);
    if (st != WSD_OK) return wsd_fail_prefix(err, "%s: ", path);
    st = wsd_write_file(path, data, size, err);
    free(data);
    return st;
}

/* ---- decoding ------------------------------------------------------------------ */

typedef struct mem_reader {
    const uint8_t *data;
    size_t size, pos;
} mem_reader;

static void mem_read(png_structp png, png_bytep out, png_size_t n)
{
    mem_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "unexpected end of data: the file is truncated");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

void pngio_image_free(pngio_image *img)
{
    if (!img) return;
    free(img->rgb);
    for (int i = 0; i < img->n_texts; i++) {
        free(img->texts[i].key);
        free(img->texts[i].value);
    }
    free(img->texts);
    memset(img, 0, sizeof *img);
}

const char *pngio_image_text(const pngio_image *img, const char *key)
{
    for (int i = 0; i < img->n_texts; i++)
        if (strcmp(img->texts[i].key, key) == 0) return img->texts[i].value;
    return NULL;
}

/* Copies the text chunks of info structs into *out (UTF-8). */
static wsd_status collect_texts(png_structp png, png_infop *infos, int n_infos, pngio_image *out, const char *what,
                                wsd_err *err)
{
    int total = 0;
    for (int k = 0; k < n_infos; k++) {
        png_textp t;
        int n = 0;
        png_get_text(png, infos[k], &t, &n);
        total += n;
    }
    if (!total) return WSD_OK;
    out->texts = calloc((size_t)total, sizeof *out->texts);
    if (!out->texts) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    for (int k = 0; k < n_infos; k++) {
        png_textp t;
        int n = 0;
        png_get_text(png, infos[k], &t, &n);
        for (int i = 0; i < n; i++) {
            pngio_text *dst = &out->texts[out->n_texts];
            dst->key = latin1_to_utf8(t[i].key, strlen(t[i].key));
            if (t[i].compression == PNG_ITXT_COMPRESSION_NONE || t[i].compression == PNG_ITXT_COMPRESSION_zTXt) {
                size_t len = t[i].itxt_length;
                dst->value = malloc(len + 1);
                if (dst->value) {
                    memcpy(dst->value, t[i].text ? t[i].text : "", len);
                    dst->value[len] = 0;
                }
            } else {
                dst->value = latin1_to_utf8(t[i].text ? t[i].text : "", t[i].text_length);
            }
            out->n_texts++;
            if (!dst->key || !dst->value) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
        }
    }
    return WSD_OK;
}

/* Walks the chunk list before libpng sees it: every chunk must fit in the
 * data and an IEND must end it. (libpng treats an oversized length as a
 * benign error and would first try to allocate it.) */
static const char *check_chunks(const uint8_t *data, size_t size)
{
    size_t pos = 8;
    for (;;) {
        if (size - pos < 12) return "the file is truncated (missing IEND)";
        uint32_t len = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 | (uint32_t)data[pos + 2] << 8 | data[pos + 3];
        if (len > 0x7fffffffu) return "invalid chunk length";
        if ((size_t)len > size - pos - 12) return "a chunk runs past the end of the data: the file is truncated or corrupt";
        int iend = memcmp(data + pos + 4, "IEND", 4) == 0;
        pos += 12 + (size_t)len;
        if (iend) return NULL;
    }
}

wsd_status pngio_decode_rgb(const uint8_t *data, size_t size, const char *name, pngio_image *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    const char *const volatile what = name ? name : "PNG data";
    if (!data || size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: not a PNG file (bad signature)", what);

    const char *bad = check_chunks(data, size);
    if (bad) return wsd_fail(err, WSD_ERR_FORMAT, "%s: corrupt or truncated PNG (%s)", what, bad);

    pngio_ctx ctx = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || !end) {
        png_destroy_read_struct(&png, &info, &end);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    mem_reader rd = {data, size, 0};
    uint8_t *volatile pix = NULL;     /* decoded rows, `channels` bytes per pixel */
    png_bytep *volatile rows = NULL;
    png_uint_32 w = 0, h = 0;
    int channels = 0;
    if (setjmp(png_jmpbuf(png))) {
        free(pix);
        free(rows);
        png_destroy_read_struct(&png, &info, &end);
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: corrupt or truncated PNG (%s)", what, ctx.msg);
    }
    png_set_read_fn(png, &rd, mem_read);
    png_set_user_limits(png, PNGIO_MAX_SIDE, PNGIO_MAX_SIDE);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)32 << 20);
    png_read_info(png, info);
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    if ((uint64_t)w * h > PNGIO_MAX_PIXELS) png_error(png, "image too large");
    if (bit_depth == 16) png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 || rowbytes != (size_t)w * (size_t)channels)
        png_error(png, "unexpected pixel layout after conversion");
    pix = malloc((size_t)h * rowbytes);
    rows = malloc((size_t)h * sizeof(png_bytep));
    if (!pix || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pix + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, end);

    /* No libpng call below can fail: the error branch above is done with. */
    wsd_status st = WSD_OK;
    uint8_t *src = pix;
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = malloc((size_t)w * h * 3);
    if (!out->rgb) {
        st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory for %ux%u pixels", what, (unsigned)w, (unsigned)h);
    } else {
        size_t npx = (size_t)w * h;
        uint8_t *d = out->rgb;
        for (size_t i = 0; i < npx; i++) {
            const uint8_t *s = src + i * (size_t)channels;
            if (channels <= 2) { /* gray (+ alpha): alpha dropped */
                d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[0];
            } else {             /* RGB (+ alpha) */
                d[3 * i] = s[0];
                d[3 * i + 1] = s[1];
                d[3 * i + 2] = s[2];
            }
        }
        png_infop infos[2] = {info, end};
        st = collect_texts(png, infos, 2, out, what, err);
    }
    free(src);
    png_destroy_read_struct(&png, &info, &end);
    if (st != WSD_OK) pngio_image_free(out);
    return st;
}

wsd_status pngio_read_rgb(const char *path, pngio_image *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
    wsd_file_bytes fb;
    WSD_TRY(wsd_read_file(path, PNGIO_MAX_FILE, &fb, err));
    wsd_status st = pngio_decode_rgb(fb.data, fb.size, path, out, err);
    wsd_file_bytes_free(&fb);
    return st;
}
