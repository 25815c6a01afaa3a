/* The fast CPU kernels' thread pool. Unlike core/threads.h (a plain
 * condition-variable pool), workers spin for a short while after each
 * parallel region before going to sleep: a graph run is hundreds of regions
 * back to back, and a worker that sleeps between them has to be woken and
 * scheduled again every time, which on a shared machine leaves the run
 * waiting for it. Measured (UNet step at 256x256, AVX2, 2 pinned cores of an
 * otherwise idle Xeon host): 3.7-4.0 s with the condition-variable pool and
 * 3.7 s with this one; with a nice-15 busy loop on one of the two cores,
 * 5.6-5.7 s against 3.3-3.9 s. */
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
