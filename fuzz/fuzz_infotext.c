/* libFuzzer target: AUTOMATIC1111 "parameters" text (infotext_parse), which
 * arrives inside PNGs from anywhere. Any NUL-terminated text parses or fails
 * with a message, without a crash or leak; what it parses to formats again
 * (infotext_format), and that text parses back to the same numbers. */
#include "io/infotext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)                                                                         \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "fuzz_infotext: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                              \
        }                                                                                  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    infotext it;
    char *storage = NULL;
    wsd_err err = {0};
    if (infotext_parse(text, &it, &storage, &err) == WSD_OK) {
        char *out = NULL;
        wsd_err e2 = {0};
        if (infotext_format(&it, &out, &e2) == WSD_OK) {
            infotext again;
            char *st2 = NULL;
            REQUIRE(infotext_parse(out, &again, &st2, &e2) == WSD_OK);
            REQUIRE(again.steps == it.steps && again.width == it.width && again.height == it.height);
            free(st2);
            free(out);
        } else {
            REQUIRE(e2.msg[0] && out == NULL);
        }
        free(storage);
    } else {
        REQUIRE(err.msg[0] && storage == NULL);
    }
    free(text);
    return 0;
}
