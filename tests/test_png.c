/* PNG I/O: round trip with text chunks (file and memory), every PNG flavour
 * normalised to 8-bit RGB, non-PNG / truncated / corrupt input rejected
 * without aborting; A1111 "parameters" text formatting and parsing. */
#include "io/infotext.h"
#include "io/png.h"
#include "testutil.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a raw libpng writer for test inputs of any colour type ------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_write(png_structp png, png_bytep d, png_size_t n)
{
    buf *b = png_get_io_ptr(png);
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void buf_flush(png_structp png) { (void)png; }

/* rows: height rows of packed samples as libpng expects them. */
static buf make_png(int w, int h, int depth, int color, int interlace, const png_color *pal, int npal,
                    const uint8_t *trns, int ntrns, const png_color_16 *trns_color, const uint8_t *data, size_t rowbytes)
{
    buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b.p);
        b.p = NULL;
        b.n = 0;
        return b;
    }
    png_set_write_fn(png, &b, buf_write, buf_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns || trns_color) png_set_tRNS(png, info, trns, ntrns, trns_color);
    png_write_info(png, info);
    if (depth == 16) png_set_swap(png); /* our test data is little-endian uint16 */
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(data + (size_t)y * rowbytes);
    png_write_image(png, rows);
    png_write_end(png, info);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return b;
}

static void expect_rgb(const char *what, buf b, int w, int h, const uint8_t *want)
{
    pngio_image img;
    wsd_err err = {0};
    wsd_status s = pngio_decode_rgb(b.p, b.n, what, &img, &err);
    CHECKF(s == WSD_OK, "%s: %s", what, err.msg);
    if (s == WSD_OK) {
        CHECKF(img.width == w && img.height == h, "%s: size %dx%d", what, img.width, img.height);
        int same = memcmp(img.rgb, want, (size_t)w * h * 3) == 0;
        CHECKF(same, "%s: pixels differ (first: %d %d %d vs %d %d %d)", what, img.rgb[0], img.rgb[1], img.rgb[2], want[0],
               want[1], want[2]);
        printf("%-4s decode %s -> 8-bit RGB\n", same ? "ok" : "FAIL", what);
    }
    pngio_image_free(&img);
    free(b.p);
}

static void check_flavours(void)
{
    enum { W = 5, H = 3, N = W * H };
    uint8_t want[N * 3];
    /* gray 8 (+ interlaced) */
    uint8_t g8[N];
    for (int i = 0; i < N; i++) {
        g8[i] = (uint8_t)(i * 17);
        want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = g8[i];
    }
    expect_rgb("gray 8-bit", make_png(W, H, 8, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, NULL, g8, W), W, H, want);
    expect_rgb("gray 8-bit Adam7", make_png(W, H, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL, g8, W),
               W, H, want);
    /* gray with a tRNS colour: transparency dropped */
    png_color_16 tc = {0, 0, 0, 0, 34};
    expect_rgb("gray 8-bit + tRNS", make_png(W, H, 8, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, &tc, g8, W), W, H, want);
    /* gray 16: high byte */
    uint16_t g16[N];
    for (int i = 0; i < N; i++) g16[i] = (uint16_t)(g8[i] * 256 + 200);
    expect_rgb("gray 16-bit", make_png(W, H, 16, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, NULL, (uint8_t *)g16, W * 2), W,
               H, want);
    /* gray + alpha */
    uint8_t ga[N * 2];
    for (int i = 0; i < N; i++) {
        ga[2 * i] = g8[i];
        ga[2 * i + 1] = (uint8_t)(255 - i);
    }
    expect_rgb("gray+alpha 8-bit", make_png(W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, NULL, 0, NULL, 0, NULL, ga, W * 2), W, H,
               want);
    /* gray 1-bit: 0 -> 0, 1 -> 255 */
    uint8_t g1[H];
    for (int y = 0; y < H; y++) g1[y] = (uint8_t)(y == 1 ? 0xA8 : 0x50); /* 10101 / 01010 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int bit = (g1[y] >> (7 - x)) & 1;
            uint8_t v = bit ? 255 : 0;
            want[3 * (y * W + x)] = want[3 * (y * W + x) + 1] = want[3 * (y * W + x) + 2] = v;
        }
    expect_rgb("gray 1-bit", make_png(W, H, 1, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, NULL, g1, 1), W, H, want);
    /* RGB 8 / 16, RGBA 8 / 16 */
    uint8_t rgb[N * 3], rgba[N * 4];
    uint16_t rgb16[N * 3], rgba16[N * 4];
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 3; c++) {
            uint8_t v = (uint8_t)(i * 13 + c * 80);
            want[3 * i + c] = rgb[3 * i + c] = rgba[4 * i + c] = v;
            rgb16[3 * i + c] = rgba16[4 * i + c] = (uint16_t)(v * 256 + 255 - v);
            rgba[4 * i + 3] = (uint8_t)(i * 9);
            rgba16[4 * i + 3] = (uint16_t)(i * 999);
        }
    expect_rgb("RGB 8-bit", make_png(W, H, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0, NULL, rgb, W * 3), W, H, want);
    expect_rgb("RGB 16-bit", make_png(W, H, 16, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0, NULL, (uint8_t *)rgb16, W * 6), W,
               H, want);
    expect_rgb("RGBA 8-bit", make_png(W, H, 8, PNG_COLOR_TYPE_RGBA, 0, NULL, 0, NULL, 0, NULL, rgba, W * 4), W, H, want);
    expect_rgb("RGBA 16-bit Adam7",
               make_png(W, H, 16, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL, (uint8_t *)rgba16, W * 8),
               W, H, want);
    /* palette 4-bit with tRNS: colours of the palette, transparency dropped */
    png_color pal[16];
    uint8_t trns[16];
    for (int k = 0; k < 16; k++) {
        pal[k].red = (png_byte)(k * 16);
        pal[k].green = (png_byte)(255 - k * 16);
        pal[k].blue = (png_byte)(k * 7);
        trns[k] = (uint8_t)(k * 10);
    }
    uint8_t p4[H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int idx = (x + 3 * y) % 16;
            if (x % 2 == 0)
                p4[y * 3 + x / 2] = (uint8_t)(idx << 4);
            else
                p4[y * 3 + x / 2] |= (uint8_t)idx;
            want[3 * (y * W + x)] = pal[idx].red;
            want[3 * (y * W + x) + 1] = pal[idx].green;
            want[3 * (y * W + x) + 2] = pal[idx].blue;
        }
    expect_rgb("palette 4-bit + tRNS", make_png(W, H, 4, PNG_COLOR_TYPE_PALETTE, 0, pal, 16, trns, 16, NULL, p4, 3), W, H,
               want);
}

/* ---- infotext ------------------------------------------------------------------ */

static void check_infotext(void)
{
    wsd_err err = {0};
    char *s = NULL, *store = NULL;
    infotext in = {0};
    in.prompt = "a red circle on a blue background";
    in.negative_prompt = "blurry";
    in.steps = 20;
    in.sampler = "DPM++ 2M";
    in.cfg_scale = 7.5f;
    in.seed = 42;
    in.width = in.height = 64;
    in.model = "shapes-sd15";
    CHECK(infotext_format(&in, &s, &err) == WSD_OK);
    const char *want = "a red circle on a blue background\nNegative prompt: blurry\n"
                       "Steps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 42, Size: 64x64, Model: shapes-sd15";
    CHECKF(s && strcmp(s, want) == 0, "got \"%s\"", s ? s : "");
    printf("ok   infotext: %s\n", s ? s : "");
    infotext back;
    CHECK(infotext_parse(s, &back, &store, &err) == WSD_OK);
    CHECK(strcmp(back.prompt, in.prompt) == 0 && strcmp(back.negative_prompt, "blurry") == 0 && back.steps == 20 &&
          strcmp(back.sampler, "DPM++ 2M") == 0 && back.cfg_scale == 7.5f && back.seed == 42 && back.width == 64 &&
          back.height == 64 && strcmp(back.model, "shapes-sd15") == 0 && !back.model_hash);
    free(s);
    free(store);

    /* No negative prompt: no line; whole-number CFG as Python prints it;
     * values with ',' ':' or newlines quoted as JSON; img2img strength,
     * clip skip, version. */
    infotext in2 = {0};
    in2.prompt = "  multi\nline, prompt ";
    in2.negative_prompt = "";
    in2.steps = 4;
    in2.sampler = "Euler a";
    in2.cfg_scale = 7.0f;
    in2.seed = 4294967295LL;
    in2.width = 512;
    in2.height = 768;
    in2.model_hash = "6ce0161689";
    in2.model = "my, \"model\": v2";
    in2.denoising_strength = 0.7f;
    in2.clip_skip = 2;
    in2.version = "wsd 0.1.0";
    CHECK(infotext_format(&in2, &s, &err) == WSD_OK);
    /* .strip() applies to the whole text only, as in A1111 */
    const char *want2 = "multi\nline, prompt \nSteps: 4, Sampler: Euler a, CFG scale: 7.0, Seed: 4294967295, Size: 512x768, "
                        "Model hash: 6ce0161689, Model: \"my, \\\"model\\\": v2\", Denoising strength: 0.7, Clip skip: 2, "
                        "Version: wsd 0.1.0";
    CHECKF(s && strcmp(s, want2) == 0, "got \"%s\"", s ? s : "");
    CHECK(infotext_parse(s, &back, &store, &err) == WSD_OK);
    CHECKF(strcmp(back.prompt, "multi\nline, prompt") == 0 && back.negative_prompt[0] == 0 &&
               strcmp(back.model, "my, \"model\": v2") == 0 && back.denoising_strength == 0.7f && back.clip_skip == 2 &&
               back.seed == 4294967295LL && back.width == 512 && back.height == 768 &&
               strcmp(back.model_hash, "6ce0161689") == 0 && strcmp(back.version, "wsd 0.1.0") == 0 &&
               back.cfg_scale == 7.0f,
           "parse: prompt \"%s\" model \"%s\"", back.prompt, back.model ? back.model : "(null)");
    free(s);
    free(store);
    /* A text without a parameters line is all prompt. */
    CHECK(infotext_parse("just a prompt\nNegative prompt: bad", &back, &store, &err) == WSD_OK &&
          strcmp(back.prompt, "just a prompt") == 0 && strcmp(back.negative_prompt, "bad") == 0 && back.steps == 0);
    free(store);
}

int main(void)
{
    wsd_err err = {0};
    /* A test image and its parameters text. */
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)((i * 7919) >> 3);
    char *params = NULL;
    infotext it = {0};
    it.prompt = "a photograph of an astronaut riding a horse";
    it.negative_prompt = "blurry";
    it.steps = 20;
    it.sampler = "DPM++ 2M";
    it.cfg_scale = 7.5f;
    it.seed = 42;
    it.width = W;
    it.height = H;
    it.model = "shapes-sd15";
    CHECK(infotext_format(&it, &params, &err) == WSD_OK);
    pngio_text texts[3] = {
        {"parameters", params},
        {"Comment", "caf\xc3\xa9 \xc2\xb5"},        /* Latin-1 representable: tEXt */
        {"Title", "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x90\xb1"}, /* needs iTXt */
    };

    /* Memory round trip */
    uint8_t *png = NULL;
    size_t size = 0;
    CHECKF(pngio_encode_rgb(rgb, W, H, texts, 3, &png, &size, &err) == WSD_OK, "%s", err.msg);
    CHECK(png && size > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    /* the parameters chunk is a plain tEXt chunk, the Title an iTXt one */
    int has_text = 0, has_itxt = 0;
    for (size_t i = 0; i + 14 < size; i++) {
        if (memcmp(png + i, "tEXtparameters\0", 15) == 0) has_text = 1;
        if (memcmp(png + i, "iTXtTitle\0", 10) == 0) has_itxt = 1;
    }
    CHECK(has_text && has_itxt);
    pngio_image img;
    CHECKF(pngio_decode_rgb(png, size, "memory", &img, &err) == WSD_OK, "%s", err.msg);
    CHECK(img.width == W && img.height == H && img.rgb && memcmp(img.rgb, rgb, sizeof rgb) == 0);
    const char *p = pngio_image_text(&img, "parameters");
    CHECKF(p && strcmp(p, params) == 0, "parameters read back: \"%s\"", p ? p : "(none)");
    CHECK(pngio_image_text(&img, "Comment") && strcmp(pngio_image_text(&img, "Comment"), texts[1].value) == 0);
    CHECK(pngio_image_text(&img, "Title") && strcmp(pngio_image_text(&img, "Title"), texts[2].value) == 0);
    CHECK(pngio_image_text(&img, "nope") == NULL);
    printf("ok   memory round trip %dx%d, %zu bytes, 3 text chunks read back\n", W, H, size);
    pngio_image_free(&img);

    /* File round trip */
    char path[1200];
    snprintf(path, sizeof path, "%s/roundtrip.png", tu_tmpdir());
    CHECKF(pngio_write_rgb(path, rgb, W, H, texts, 1, &err) == WSD_OK, "%s", err.msg);
    CHECKF(pngio_read_rgb(path, &img, &err) == WSD_OK, "%s", err.msg);
    CHECK(img.width == W && img.height == H && memcmp(img.rgb, rgb, sizeof rgb) == 0 && img.n_texts == 1 &&
          strcmp(pngio_image_text(&img, "parameters"), params) == 0);
    pngio_image_free(&img);
    printf("ok   file round trip %s\n", path);

    /* A shared golden image reads as 64x64 RGB. */
    CHECKF(pngio_read_rgb(tu_shared("shapes-sd15/images/p0_dpmpp2m.png"), &img, &err) == WSD_OK, "%s", err.msg);
    CHECK(img.width == 64 && img.height == 64);
    pngio_image_free(&img);

    /* Rejections: not a PNG, missing file, bad arguments. */
    const char *junk = "\xff\xd8\xff\xe0 this is a JPEG header, not a PNG";
    wsd_status s = pngio_decode_rgb((const uint8_t *)junk, strlen(junk), "photo.jpg", &img, &err);
    CHECKF(s == WSD_ERR_FORMAT && strstr(err.msg, "photo.jpg") && strstr(err.msg, "not a PNG"), "%s", err.msg);
    CHECK(img.rgb == NULL && img.width == 0);
    CHECK(pngio_decode_rgb(png, 0, "empty", &img, &err) == WSD_ERR_FORMAT);
    CHECK(pngio_decode_rgb(png, 7, "seven bytes", &img, &err) == WSD_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/no/such/file.png", tu_tmpdir());
    s = pngio_read_rgb(path, &img, &err);
    CHECKF(s == WSD_ERR_IO && strstr(err.msg, "file.png"), "%s", err.msg);
    uint8_t *png2 = NULL;
    size_t size2 = 0;
    CHECK(pngio_encode_rgb(rgb, 0, H, NULL, 0, &png2, &size2, &err) == WSD_ERR_INVALID_ARGUMENT && !png2);
    pngio_text badkey = {"", "x"};
    CHECK(pngio_encode_rgb(rgb, W, H, &badkey, 1, &png2, &size2, &err) == WSD_ERR_INVALID_ARGUMENT && !png2);
    /* libpng would rewrite this key (collapsing the spaces), so the round trip
     * would not give it back: refused (found by fuzz_png) */
    pngio_text spaced = {"a  b", "x"};
    CHECK(pngio_encode_rgb(rgb, W, H, &spaced, 1, &png2, &size2, &err) == WSD_ERR_INVALID_ARGUMENT && !png2);
    pngio_text badutf = {"parameters", "\xc3("};
    CHECK(pngio_encode_rgb(rgb, W, H, &badutf, 1, &png2, &size2, &err) == WSD_ERR_INVALID_ARGUMENT &&
          strstr(err.msg, "UTF-8"));
    printf("ok   non-PNG, empty, missing and invalid inputs rejected\n");

    /* Truncated: every prefix of the file fails cleanly with FORMAT. */
    int trunc_bad = 0;
    for (size_t n = 8; n < size; n++) {
        s = pngio_decode_rgb(png, n, "truncated.png", &img, &err);
        if (s != WSD_ERR_FORMAT || !strstr(err.msg, "truncated.png") || img.rgb) trunc_bad++;
        pngio_image_free(&img);
    }
    s = pngio_decode_rgb(png, size / 2, "truncated.png", &img, &err);
    CHECKF(trunc_bad == 0, "%d truncated prefixes not rejected", trunc_bad);
    printf("ok   all %zu truncated prefixes rejected, e.g. \"%s\"\n", size - 8, err.msg);

    /* Corrupt: any single flipped byte decodes or fails with FORMAT, never
     * crashes; a flipped byte in the pixel data (IDAT CRC) fails. */
    uint8_t *copy = malloc(size);
    int corrupt_bad = 0, rejected = 0;
    for (size_t i = 8; i < size; i++) {
        memcpy(copy, png, size);
        copy[i] ^= 0x5a;
        s = pngio_decode_rgb(copy, size, "corrupt.png", &img, &err);
        if (s != WSD_OK && s != WSD_ERR_FORMAT) corrupt_bad++;
        if (s != WSD_OK) rejected++;
        pngio_image_free(&img);
    }
    CHECKF(corrupt_bad == 0, "%d corruptions gave another status", corrupt_bad);
    size_t idat = 0;
    for (size_t i = 8; i + 4 < size; i++)
        if (memcmp(png + i, "IDAT", 4) == 0) {
            idat = i;
            break;
        }
    memcpy(copy, png, size);
    copy[idat + 10] ^= 0xff;
    s = pngio_decode_rgb(copy, size, "corrupt.png", &img, &err);
    CHECKF(idat && s == WSD_ERR_FORMAT, "IDAT corruption: status %d", s);
    printf("ok   %d of %zu single-byte corruptions rejected, none crashed; IDAT: \"%s\"\n", rejected, size - 8, err.msg);
    free(copy);

    check_flavours();
    check_infotext();

    free(png);
    free(params);
    return tu_finish();
}
