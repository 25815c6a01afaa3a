/* libFuzzer target: PNG decoding for img2img (pngio_decode_rgb, libpng
 * behind a chunk pre-check and longjmp error handling).
 *
 * Any bytes either decode to width*height*3 RGB bytes (every one readable)
 * with well-formed text chunks, or fail with WSD_ERR_FORMAT and a message
 * naming the source; no crash, leak, or sanitizer report (including libpng's
 * longjmp out of the middle of a decode). A decoded image encodes again and
 * decodes to the same pixels and, when the texts are encodable, the same texts.
 * The same bytes through a file (pngio_read_rgb) give the same verdict.
 * Each input runs twice: as given, and with every chunk CRC made right (so
 * mutated chunk contents get past libpng's CRC check). */
#define _GNU_SOURCE /* memfd_create */
#include "io/png.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#define REQUIRE(c)                                                                    \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "fuzz_png: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                         \
        }                                                                             \
    } while (0)

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memfd = memfd_create("fuzz_png", 0);
    if (memfd >= 0) snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

/* Rewrites the CRC of every whole chunk, so that mutations inside chunk data
 * reach libpng's parsers instead of stopping at the CRC check. */
static void fix_crcs(uint8_t *b, size_t size)
{
    size_t pos = 8;
    while (size >= 12 && pos <= size - 12) {
        uint32_t len = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 | (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        if (len > size - pos - 12) return;
        uint32_t crc = (uint32_t)crc32(0, b + pos + 4, len + 4);
        for (int i = 0; i < 4; i++) b[pos + 8 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
        pos += 12 + (size_t)len;
    }
}

static void one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size); /* as given: CRC errors and all */
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    if (memcmp(fixed, data, size) != 0) one(fixed, size);
    free(fixed);
    return 0;
}

static void one(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return;
    memcpy(buf, data, size);
    pngio_image im;
    wsd_err err = {0};
    wsd_status s = pngio_decode_rgb(buf, size, "fuzz.png", &im, &err);
    if (s != WSD_OK) {
        REQUIRE(s == WSD_ERR_FORMAT || s == WSD_ERR_OUT_OF_MEMORY);
        REQUIRE(strstr(err.msg, "fuzz.png") != NULL);
        REQUIRE(im.rgb == NULL && im.texts == NULL && im.width == 0);
    } else {
        REQUIRE(im.width >= 1 && im.height >= 1 && im.width <= PNGIO_MAX_SIDE && im.height <= PNGIO_MAX_SIDE);
        size_t n = (size_t)im.width * (size_t)im.height * 3;
        volatile unsigned sum = 0;
        for (size_t i = 0; i < n; i++) sum += im.rgb[i];
        (void)sum;
        for (int i = 0; i < im.n_texts; i++) REQUIRE(im.texts[i].key && im.texts[i].value);
        if (im.n_texts) REQUIRE(pngio_image_text(&im, im.texts[0].key) == im.texts[0].value);
        /* round trip: pixels always; texts when they are encodable (keys are
         * compared only when ASCII: decoded keys are UTF-8, encoded ones Latin-1) */
        uint8_t *png = NULL;
        size_t png_n = 0;
        wsd_err e2 = {0};
        int ascii_keys = 1;
        for (int i = 0; i < im.n_texts; i++)
            for (const char *k = im.texts[i].key; *k; k++) ascii_keys &= (unsigned char)*k < 0x80;
        wsd_status es = ascii_keys ? pngio_encode_rgb(im.rgb, im.width, im.height, im.texts, im.n_texts, &png, &png_n, &e2)
                                   : WSD_ERR_INVALID_ARGUMENT;
        int with_texts = es == WSD_OK;
        if (!with_texts) {
            REQUIRE(es == WSD_ERR_INVALID_ARGUMENT && im.n_texts > 0);
            REQUIRE(pngio_encode_rgb(im.rgb, im.width, im.height, NULL, 0, &png, &png_n, &e2) == WSD_OK);
        }
        pngio_image back;
        REQUIRE(pngio_decode_rgb(png, png_n, "round trip", &back, &e2) == WSD_OK);
        REQUIRE(back.width == im.width && back.height == im.height && memcmp(back.rgb, im.rgb, n) == 0);
        if (with_texts) {
            REQUIRE(back.n_texts == im.n_texts);
            for (int i = 0; i < im.n_texts; i++)
                REQUIRE(!strcmp(back.texts[i].key, im.texts[i].key) && !strcmp(back.texts[i].value, im.texts[i].value));
        }
        pngio_image_free(&back);
        free(png);
        pngio_image_free(&im);
    }
    if (memfd >= 0 && ftruncate(memfd, 0) == 0 && pwrite(memfd, buf, size, 0) == (ssize_t)size) {
        pngio_image f;
        wsd_err e3 = {0};
        REQUIRE(pngio_read_rgb(memfd_path, &f, &e3) == s);
        pngio_image_free(&f);
    }
    free(buf);
}
