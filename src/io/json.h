/* A small, strict JSON reader (RFC 8259) producing a read-only tree.
 *
 * Also accepts the non-standard literals NaN, Infinity and -Infinity that
 * Python's json module writes (diffusers configs contain -Infinity).
 * Limits: nesting depth 256; input must be complete. All nodes live in one
 * allocation owned by the json_doc. */
#ifndef WSD_IO_JSON_H
#define WSD_IO_JSON_H

#include "core/error.h"
#include <stddef.h>

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    double number;
    const char *str;      /* JSON_STRING: NUL-terminated UTF-8 (may contain NUL; see len) */
    size_t len;           /* string length in bytes, or element count for arrays/objects */
    json_value **items;   /* array elements, or object values */
    const char **keys;    /* object keys (NUL-terminated) */
    size_t *key_lens;
};

typedef struct json_doc json_doc;

/* Parses `size` bytes. `what` names the source in error messages (a path).
 * On success *out is owned by the caller (json_free). */
wsd_status json_parse(const char *text, size_t size, const char *what, json_doc **out, wsd_err *err);
wsd_status json_parse_file(const char *path, json_doc **out, wsd_err *err);
void json_free(json_doc *doc);
const json_value *json_root(const json_doc *doc);

/* Lookups return NULL when absent or of another type. */
const json_value *json_get(const json_value *obj, const char *key);
const json_value *json_at(const json_value *arr, size_t i);
int json_is_null(const json_value *v); /* absent counts as null */

/* Typed getters with defaults: return `def` when the key is absent or null;
 * fail with WSD_ERR_FORMAT naming `what`.`key` when present with a wrong type. */
wsd_status json_get_num(const json_value *obj, const char *key, double def, double *out, const char *what, wsd_err *err);
wsd_status json_get_int(const json_value *obj, const char *key, long def, long *out, const char *what, wsd_err *err);
wsd_status json_get_bool(const json_value *obj, const char *key, int def, int *out, const char *what, wsd_err *err);
/* *out points into the document (or is `def`). */
wsd_status json_get_str(const json_value *obj, const char *key, const char *def, const char **out, const char *what, wsd_err *err);

#endif
