#include "core/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wsd_status wsd_fail(wsd_err *err, wsd_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

wsd_status wsd_fail_prefix(wsd_err *err, const char *fmt, ...)
{
    if (!err)
        return WSD_ERR_INTERNAL;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t rest = strlen(old);
    if (rest > sizeof err->msg - 1 - n) rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = 0;
    return err->code;
}

int wsd_mul_overflows(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

void *wsd_malloc_array(size_t count, size_t elem)
{
    size_t n;
    if (wsd_mul_overflows(count, elem, &n))
        return NULL;
    return malloc(n ? n : 1);
}

void *wsd_calloc_array(size_t count, size_t elem)
{
    size_t n;
    if (wsd_mul_overflows(count, elem, &n))
        return NULL;
    return calloc(n ? count : 1, n ? elem : 1);
}

char *wsd_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *wsd_strdup(const char *s) { return wsd_strndup(s, strlen(s)); }
