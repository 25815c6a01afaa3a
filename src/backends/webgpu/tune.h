/* The kernel tuning database: which variant of a hot operator (conv2d,
 * linear, attention, group_norm) is fastest for an exact operator signature
 * on a given adapter. Text, one entry per line, tab-separated:
 *
 *   <adapter key> \t <operator signature> \t <variant> [\t <note, e.g. timings>]
 *
 * The adapter key is "<vendor id>:<device id>:<backend>" in hex, e.g.
 * "10de:2330:vulkan" (H100 through Vulkan). Lines starting with '#' are
 * comments. The database shipped in the repo (src/backends/webgpu/wgsl/
 * tuning.txt) is embedded at build time; $WSD_TUNE_DB names a file that is
 * read on top (its entries win). `wsd tune` writes such a file.
 * An adapter without an entry of its own takes the entry of another adapter
 * of the same vendor and backend (wsd_tune_db_lookup_near), else the
 * built-in default; a variant only changes speed,
 * never results beyond float rounding (tests/test_webgpu_ops.c checks it). */
#ifndef WSD_WEBGPU_TUNE_H
#define WSD_WEBGPU_TUNE_H

#include "backends/webgpu/gpu.h"

typedef struct wsd_tune_db wsd_tune_db;

/* Loads the embedded database plus $WSD_TUNE_DB (if set). Never fails hard:
 * unreadable files are reported in *warn (may be NULL) and skipped. */
wsd_tune_db *wsd_tune_db_load(char *warn, size_t warn_cap);
void wsd_tune_db_free(wsd_tune_db *db);
/* Parses more entries from text (later entries override earlier ones). */
int wsd_tune_db_add_text(wsd_tune_db *db, const char *text);
/* Variant for (adapter, signature), or NULL. */
const char *wsd_tune_db_lookup(const wsd_tune_db *db, const char *adapter_key, const char *signature);
/* As wsd_tune_db_lookup; without an entry for this adapter, the entry of
 * another adapter of the same vendor and backend (the first in the
 * database's order): an untuned card of a tuned family (an H200 next to the
 * H100 entries) runs the family's picks rather than the generic defaults. */
const char *wsd_tune_db_lookup_near(const wsd_tune_db *db, const char *adapter_key, const char *signature);
/* Sets (replaces) an entry. Returns 0, or -1 when out of memory. */
int wsd_tune_db_set(wsd_tune_db *db, const char *adapter_key, const char *signature, const char *variant,
                    const char *note);
/* Writes the whole database as text (sorted). Returns 0 on success. */
int wsd_tune_db_write(const wsd_tune_db *db, const char *path);
int wsd_tune_db_count(const wsd_tune_db *db);

/* "10de:2330:vulkan" */
void wsd_tune_adapter_key(const gpu_caps *caps, char *out, size_t cap);

#endif
