/* The fast CPU kernels' thread pool. Unlike core/threads.h (a plain
 * condition-variable pool), workers spin for a short while after each
 * parallel region before going to sleep: a graph run is hundreds of regions
 * back to back, and a worker that slept between them had to be woken (and
 * scheduled) again each time, which on a busy 2-vCPU machine left the run
 * waiting on it: measured, two threads did the work of 1.0-1.1 cores next to
 * a niced background job, and 1.9 with spinning workers. */
#ifndef WSD_BACKENDS_CPU_POOL_H
#define WSD_BACKENDS_CPU_POOL_H

typedef struct cpu_pool cpu_pool;

/* threads >= 1 (the caller counts as one); NULL on failure. */
cpu_pool *cpu_pool_create(int threads);
void cpu_pool_free(cpu_pool *p);
int cpu_pool_threads(const cpu_pool *p);
/* Runs fn(ctx, t) once on every thread t in [0, threads) (t = 0 on the
 * caller) and returns when all are done. p may be NULL: fn(ctx, 0). */
void cpu_pool_run(cpu_pool *p, void (*fn)(void *ctx, int thread), void *ctx);

#endif
