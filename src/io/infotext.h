/* AUTOMATIC1111's "parameters" text, the de facto standard for recording how a
 * Stable Diffusion image was made (stored in a PNG tEXt chunk):
 *
 *     <prompt>
 *     Negative prompt: <negative prompt>
 *     Steps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 42, Size: 64x64, Model: shapes-sd15
 *
 * The negative-prompt line is left out when it is empty; parameters appear in
 * A1111's order (Steps, Sampler, CFG scale, Seed, Size, Model hash, Model,
 * Denoising strength, Clip skip, Version); a value holding ',', ':' or a
 * newline is written as a JSON string, as A1111 does; numbers are written the
 * way Python prints them (7.5, 7.0). Portable (no libpng): usable in wasm. */
#ifndef WSD_IO_INFOTEXT_H
#define WSD_IO_INFOTEXT_H

#include "core/error.h"
#include <stdint.h>

typedef struct infotext {
    const char *prompt;          /* NULL = "" */
    const char *negative_prompt; /* NULL or "" = no line */
    int steps;
    const char *sampler;         /* A1111 name: "Euler a", "DPM++ 2M Karras", ... */
    float cfg_scale;
    int64_t seed;
    int width, height;
    const char *model_hash;      /* NULL = left out */
    const char *model;           /* NULL = left out */
    float denoising_strength;    /* img2img strength; <= 0 = left out */
    int clip_skip;               /* <= 1 = left out (A1111 writes it from 2 on) */
    const char *version;         /* NULL = left out ("wsd 0.1.0") */
} infotext;

/* Formats the text. On success *out (malloc'ed, caller frees) is UTF-8. */
wsd_status infotext_format(const infotext *info, char **out, wsd_err *err);

/* Parses such a text back. Strings in *info point into *storage (malloc'ed,
 * caller frees; NULL on failure). Missing parameters keep zero / NULL; the
 * parameters line is the last line of the text. Unknown keys are ignored. */
wsd_status infotext_parse(const char *text, infotext *info, char **storage, wsd_err *err);

#endif
