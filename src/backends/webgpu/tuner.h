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
    const char *variants; /* in-step tuner: try only these comma-separated tile variants (gemm) besides
                             the database's current pick (NULL: every variant that fits) */
} wsd_tune_opts;

/* Tunes the hot operators of `g` on backend `be` (a WebGPU backend whose
 * weight storage is what the engine will use) into `db`. The backend's
 * cached weights are evicted (tuning uses its own random weights). */
wsd_status wsd_webgpu_tune_graph(wsd_backend *be, const wg_graph *g, wsd_tune_db *db, const wsd_tune_opts *o,
                                 int *n_tuned, wsd_err *err);

/* Tunes like wsd_webgpu_tune_graph, but times each candidate inside the
 * whole graph `g` (which needs its weights; it is planned again): the graph is compiled with the
 * candidate for one signature, run once, and the commands of that
 * signature's nodes are timed alone in place (as the profiler does), so
 * caches, neighbours and the real data count. Slower (a compile per
 * candidate), and no reference check: the variants are tested in CI. Tried
 * because the one-node timing misjudged whole kernel families (attention
 * with 2-D staging: 5-8 ms alone, 2.3 ms in the UNet step). */
wsd_status wsd_webgpu_tune_graph_in_step(wsd_backend *be, wg_graph *g, wsd_tune_db *db, const wsd_tune_opts *o,
                                         int *n_tuned, wsd_err *err);

/* Times every command of a compiled exec on its own and prints the time per
 * kernel (pipeline) name, sorted, with the share of the total; with the
 * exec's graph `g` (may be NULL) also per operator class with GFLOP/s.
 * Also per tuning signature (all commands of its nodes, split-K reductions
 * included) with the variant in use and GFLOP/s: where tuning can help.
 * WSD_PROFILE_DETAIL=1 adds a line per dispatch (time, kernel, grid,
 * parameters). */
wsd_status wsd_webgpu_profile(wsd_exec *ex, const wg_graph *g, FILE *out, wsd_err *err);

#endif
