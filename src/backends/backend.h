/* A backend is a small table of functions (as in ggml-backend): it compiles a
 * planned graph into something it can run, takes inputs, runs, and hands
 * back outputs. Weights are uploaded once per backend and reused by every
 * graph that references the same weight data, keyed by (graph->weights_uid,
 * data pointer), so building graphs for several image sizes costs no extra
 * weight memory. Compiling a graph of another weights_uid evicts the cached
 * weights of the old one (a new model was loaded). */
#ifndef WSD_BACKENDS_BACKEND_H
#define WSD_BACKENDS_BACKEND_H

#include "graph/graph.h"

typedef struct wsd_backend wsd_backend;
typedef struct wsd_exec wsd_exec; /* a compiled graph, owned by its backend */

typedef struct wsd_backend_iface {
    const char *name;
    /* Compiles `g` (already planned: tensor offsets set) for this backend.
     * The graph must outlive the exec. *out owned by the caller (exec_free). */
    wsd_status (*compile)(wsd_backend *be, const wg_graph *g, const wg_plan *plan, wsd_exec **out, wsd_err *err);
    /* Copies host data into input tensor `t` (float32, or int32 for ids). */
    wsd_status (*set_input)(wsd_exec *ex, int t, const void *data, size_t nbytes, wsd_err *err);
    /* Runs every node, then the graph's links (wg_link). May return before
     * the work is done (a GPU queues it): later calls on the exec see its
     * results; `wait` blocks until then. Returns WSD_ERR_CANCELLED if
     * `cancel` (may be NULL) returns non-zero between nodes. */
    wsd_status (*run)(wsd_exec *ex, int (*cancel)(void *), void *cancel_user, wsd_err *err);
    /* Blocks until the runs queued on the exec's backend have finished, all
     * but the latest `in_flight` (0 or 1) of them: a loop that waits with 1
     * after each run reports finished work while the GPU already runs the
     * next. Errors of that work (a lost device) come back here. */
    wsd_status (*wait)(wsd_exec *ex, int in_flight, wsd_err *err);
    /* Copies tensor `src_t` of exec `src` (an output) into input `dst_t` of
     * `dst`, another exec of the same backend, where the data lives (no host
     * round trip: the text embeddings into the denoising step); ordered with
     * the runs around it. Same byte size. */
    wsd_status (*copy_tensor)(wsd_exec *dst, int dst_t, wsd_exec *src, int src_t, wsd_err *err);
    /* Copies output tensor `t` (marked with wg_output) to host memory. */
    wsd_status (*get_output)(wsd_exec *ex, int t, void *data, size_t nbytes, wsd_err *err);
    void (*exec_free)(wsd_exec *ex);
    /* Frees the backend and every weight it uploaded. */
    void (*destroy)(wsd_backend *be);
} wsd_backend_iface;

struct wsd_backend {
    const wsd_backend_iface *iface;
};

typedef struct wsd_backend_options {
    int threads;            /* CPU: 0 = all cores */
    int gpu_default_limits; /* WebGPU: use only the spec-default limits */
} wsd_backend_options;

wsd_status wsd_backend_cpu_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err);
/* Defined by the WebGPU backend when it is built; otherwise returns WSD_ERR_UNSUPPORTED. */
wsd_status wsd_backend_webgpu_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err);

/* By name: "cpu" (or NULL) or "webgpu". The WebGPU backend exists only in
 * builds that define WSD_HAVE_WEBGPU; elsewhere this says so. */
wsd_status wsd_backend_create(const char *name, const wsd_backend_options *opts, wsd_backend **out, wsd_err *err);

/* Convenience wrappers. */
static inline void wsd_backend_destroy(wsd_backend *be)
{
    if (be) be->iface->destroy(be);
}

#endif
