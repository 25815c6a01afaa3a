/* The two CPU backends behind wsd_backend_cpu_create (backend.h): the fast
 * one (cpu_fast.c, the default) and the float32 reference one
 * (cpu_backend.c: one reference kernel per node, every weight widened to
 * float32), chosen with WSD_CPU_REFERENCE=1. Tests and benchmarks can ask
 * for either directly. */
#ifndef WSD_BACKENDS_CPU_CPU_FAST_H
#define WSD_BACKENDS_CPU_CPU_FAST_H

#include "backends/backend.h"

/* isa: NULL or "" for the best this CPU runs (or WSD_CPU_ISA), else a name
 * from isa.h; WSD_ERR_UNSUPPORTED if this CPU cannot run it. */
wsd_status wsd_backend_cpu_fast_create(const wsd_backend_options *opts, const char *isa, wsd_backend **out, wsd_err *err);
wsd_status wsd_backend_cpu_ref_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err);

/* The backend table's wait for both CPU backends: their runs are
 * synchronous, so there is nothing to wait for. */
wsd_status wsd_cpu_wait(wsd_exec *ex, int in_flight, wsd_err *err);

/* For reports: activation arena of a compiled graph (fast backend; 0 otherwise),
 * the instruction set in use ("reference" for the reference backend) and threads. */
size_t wsd_cpu_exec_arena_bytes(const wsd_exec *ex);
const char *wsd_cpu_backend_isa(const wsd_backend *be);
int wsd_cpu_backend_threads(const wsd_backend *be);

/* Per-operator profile of a fast-backend exec: while set, every run adds each
 * step's wall time and FLOPs to p under its main operator (a fused GroupNorm,
 * upsample or residual add counts with its convolution or linear layer). */
typedef struct wsd_cpu_profile {
    double seconds[WG_OP_COUNT];
    double cpu_seconds[WG_OP_COUNT]; /* process CPU time (all threads) */
    double flops[WG_OP_COUNT];
    int64_t steps[WG_OP_COUNT];
} wsd_cpu_profile;
void wsd_cpu_exec_set_profile(wsd_exec *ex, wsd_cpu_profile *p);

#endif
