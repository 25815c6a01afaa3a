/* PNG files through libpng (native builds only; the wasm build leaves png.c
 * out and the browser uses its own codecs).
 *
 * Writing: 8-bit RGB with optional text chunks (e.g. "parameters", see
 * io/infotext.h). A value that is Latin-1 text goes into a tEXt chunk (as
 * PIL/AUTOMATIC1111 write it), anything else into an uncompressed UTF-8 iTXt.
 * Reading: any PNG (gray, gray+alpha, palette, RGB, RGBA, 1-16 bits,
 * interlaced) comes back as 8-bit RGB the way PIL's convert("RGB") gives it:
 * 16-bit samples keep their high byte, alpha and tRNS transparency are dropped
 * (no compositing), palette and gray expand to RGB. Text chunks (tEXt, zTXt,
 * iTXt) come back as UTF-8.
 * Errors never abort: libpng's longjmp lands in this file and becomes a
 * WSD_ERR_FORMAT (not a PNG, truncated, corrupt) or WSD_ERR_IO naming the file. */
#ifndef WSD_IO_PNG_H
#define WSD_IO_PNG_H

#include "core/error.h"
#include <stddef.h>
#include <stdint.h>

/* Largest side accepted when reading (and writing). */
#define PNGIO_MAX_SIDE 16384

typedef struct pngio_text {
    char *key;   /* 1-79 Latin-1 characters (ASCII in practice) */
    char *value; /* UTF-8 */
} pngio_text;

typedef struct pngio_image {
    int width, height;
    uint8_t *rgb; /* width*height*3 bytes, rows top to bottom, no padding */
    pngio_text *texts;
    int n_texts;
} pngio_image;

/* Encodes rgb (width*height*3 bytes) to PNG bytes in memory. On success *out
 * (malloc'ed, caller frees) holds *out_size bytes. `texts` may be NULL when
 * n_texts is 0; their keys must be 1-79 printable Latin-1 characters. */
wsd_status pngio_encode_rgb(const uint8_t *rgb, int width, int height, const pngio_text *texts, int n_texts,
                            uint8_t **out, size_t *out_size, wsd_err *err);
/* The same, written to a file. */
wsd_status pngio_write_rgb(const char *path, const uint8_t *rgb, int width, int height, const pngio_text *texts,
                           int n_texts, wsd_err *err);

/* Decodes PNG bytes; `what` names the source in errors (a path, "upload").
 * On success *out owns its buffers (pngio_image_free); on failure it is zeroed. */
wsd_status pngio_decode_rgb(const uint8_t *data, size_t size, const char *what, pngio_image *out, wsd_err *err);
/* Reads and decodes a file. */
wsd_status pngio_read_rgb(const char *path, pngio_image *out, wsd_err *err);
void pngio_image_free(pngio_image *img);

/* Value of text chunk `key` (first one), or NULL. */
const char *pngio_image_text(const pngio_image *img, const char *key);

#endif
