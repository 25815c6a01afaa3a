/* Internal error reporting.
 *
 * Every fallible function takes a `wsd_err *` as its last argument and returns a
 * wsd_status. On failure it fills the message with what went wrong, naming the
 * file, tensor or parameter involved, so the caller can pass it up unchanged. */
#ifndef WSD_CORE_ERROR_H
#define WSD_CORE_ERROR_H

#include "wsd.h"
#include <stddef.h>

typedef struct wsd_err {
    wsd_status code;
    char msg[1024];
} wsd_err;

/* Record an error (printf-style message) and return `code`. A NULL err is allowed. */
wsd_status wsd_fail(wsd_err *err, wsd_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefix the existing message with more context ("loading unet: " + msg). */
wsd_status wsd_fail_prefix(wsd_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Allocation helpers that never abort: they return NULL and the caller reports
 * WSD_ERR_OUT_OF_MEMORY. Sizes are checked for overflow. */
void *wsd_malloc_array(size_t count, size_t elem);
void *wsd_calloc_array(size_t count, size_t elem);
int wsd_mul_overflows(size_t a, size_t b, size_t *out);
char *wsd_strdup(const char *s);
char *wsd_strndup(const char *s, size_t n);

#define WSD_TRY(expr)                  \
    do {                               \
        wsd_status wsd_try_s_ = (expr); \
        if (wsd_try_s_ != WSD_OK)      \
            return wsd_try_s_;         \
    } while (0)

#endif
