/* Kernel tuning and profiling on the current adapter (used by `wsd tune`
 * and bench/bench_gpu.c).
 *
 * Tuning: every hot operator (conv2d, linear, attention, group_norm) of a
 * graph is re-created as a one-node graph with the same shapes and random
 * data, compiled with each kernel variant that fits the device, checked
 * against the reference variant ("ref"; a variant that disagrees beyond
 * float rounding is never chosen) and timed; the fastest goes into the
 * database under (adapter, signature). Needs no model weights: the graph
 * may be built for planning only. */
#ifndef WSD_WEBGPU_TUNER_H
#define WSD_WEBGPU_TUNER_H

#include "backends/webgpu/tune.h"
#include "backends/webgpu/webgpu_backend.h"

#include <stdio.h>

typedef struct wsd_tune_opts {
    double target_ms;  /* time each variant for about this long (default 30) */
    int skip_known;    /* keep signatures the database already has */
    FILE *log;         /* progress lines (may be NULL) */
    const char *only;  /* tune only signatures containing one of these comma-separated texts (NULL: all) */
} wsd_tune_opts;

/* Tunes the hot operators of `g` on backend `be` (a WebGPU backend whose
 * weight storage is what the engine will use) into `db`. The backend's
 * cached weights are evicted (tuning uses its own random weights). */
wsd_status wsd_webgpu_tune_graph(wsd_backend *be, const wg_graph *g, wsd_tune_db *db, const wsd_tune_opts *o,
                                 int *n_tuned, wsd_err *err);

/* Times every command of a compiled exec on its own and prints the time per
 * kernel (pipeline) name, sorted, with the share of the total; with the
 * exec's graph `g` (may be NULL) also per operator class with GFLOP/s.
 * WSD_PROFILE_DETAIL=1 adds a line per dispatch (time, kernel, grid,
 * parameters). */
wsd_status wsd_webgpu_profile(wsd_exec *ex, const wg_graph *g, FILE *out, wsd_err *err);

#endif
