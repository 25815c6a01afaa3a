/* WebGPU backend extras beyond backend.h: options, access to the device for
 * benchmarks, and per-dispatch profiling for `wsd tune`. */
#ifndef WSD_WEBGPU_BACKEND_H
#define WSD_WEBGPU_BACKEND_H

#include "backends/backend.h"
#include "backends/webgpu/gpu.h"
#include "backends/webgpu/lower.h"

typedef enum wsd_gpu_weights {
    WSD_GPU_WEIGHTS_DEFAULT = 0, /* $WSD_GPU_WEIGHTS ("f16" or "f32"), else f16 */
    WSD_GPU_WEIGHTS_F16,         /* conv/linear/embedding matrices as packed f16 (the product path) */
    WSD_GPU_WEIGHTS_F32          /* everything float32 (exact-testing path) */
} wsd_gpu_weights;

typedef struct wsd_webgpu_options {
    wsd_gpu_weights weights;
    int force_reference;       /* reference kernel variants only (tests) */
    const char *force_variant; /* this variant wherever it applies (tests, tuning) */
    int no_tune_db;            /* ignore the tuning database: built-in defaults */
    int verbose;               /* adapter and limits on stderr ($WSD_GPU_VERBOSE=1 too) */
    /* Tests: lower as if the device had smaller limits (0 = the device's own),
     * so the splitting of big tensors runs on tiny shapes. */
    uint64_t max_binding_override;
    uint64_t max_buffer_override;
} wsd_webgpu_options;

/* wsd_backend_webgpu_create with explicit options (`wopts` may be NULL). */
wsd_status wsd_backend_webgpu_create_ex(const wsd_backend_options *opts, const wsd_webgpu_options *wopts,
                                        wsd_backend **out, wsd_err *err);

/* Changes the forced kernel variant for later compiles (NULL: none). */
void wsd_backend_webgpu_set_variant(wsd_backend *be, const char *variant);
/* Tuning: graphs compiled from now on take `variant` for the operators
 * with signature `sig` (before the database); NULLs clear it. */
void wsd_backend_webgpu_set_tune_override(wsd_backend *be, const char *sig, const char *variant);

/* The device of a WebGPU backend (NULL for another backend). */
gpu_device *wsd_backend_webgpu_device(wsd_backend *be);
/* The weight storage the backend uses for matrices (WGL_F16P or WGL_F32). */
int wsd_backend_webgpu_weight_type(wsd_backend *be);
/* Bytes of weights uploaded so far. */
uint64_t wsd_backend_webgpu_weight_bytes(wsd_backend *be);

/* Queues a GPU copy of tensor `src_t` of `src` (typically an output) into
 * input `dst_t` of `dst` (another exec of the same backend). Ordered with
 * the runs around it. */
wsd_status wsd_webgpu_copy_tensor(wsd_exec *dst, int dst_t, wsd_exec *src, int src_t, wsd_err *err);

/* The lowered program of a compiled graph (read-only), for tools. */
const wgl_prog *wsd_webgpu_exec_prog(wsd_exec *ex);
/* Whether the exec's weights are stored as packed f16 (signatures say wt=f16). */
int wsd_webgpu_exec_weights_f16(wsd_exec *ex);
/* Outputs read back to the host so far (get_output calls): tests check that
 * a denoising loop reads back nothing per step. */
uint64_t wsd_backend_webgpu_readbacks(wsd_backend *be);
/* Waits until every submitted run has finished (the iface's wait). */
wsd_status wsd_webgpu_exec_wait(wsd_exec *ex, wsd_err *err);
/* Runs commands [first, first + count) `reps` times in one submission and
 * waits: for timing single dispatches (tools/wsd/cmd_tune.c). */
wsd_status wsd_webgpu_exec_run_range(wsd_exec *ex, int first, int count, int reps, wsd_err *err);

/* A weight resolver that needs no GPU and no weight data: each weight gets
 * its own pretend buffer, split into row parts above the binding limit
 * (user = const gpu_caps *). For planning tests. */
wsd_status wgl_plan_only_weight(void *user, const wg_graph *g, int t, int want_f16, wgl_wloc *loc, wsd_err *err);

#endif
