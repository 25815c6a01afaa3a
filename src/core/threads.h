/* A small persistent thread pool with a blocking parallel-for.
 * Built without threads (WSD_NO_THREADS, e.g. the wasm build) it runs the
 * loop on the calling thread. */
#ifndef WSD_CORE_THREADS_H
#define WSD_CORE_THREADS_H

#include <stdint.h>

typedef struct wsd_pool wsd_pool;

/* fn processes items [begin, end). */
typedef void (*wsd_range_fn)(void *ctx, int64_t begin, int64_t end);

/* threads <= 0: number of online CPUs. Returns NULL on failure (then use NULL: serial). */
wsd_pool *wsd_pool_create(int threads);
void wsd_pool_free(wsd_pool *p);
int wsd_pool_threads(const wsd_pool *p);
/* Splits [0, n) into contiguous chunks, one per thread; p may be NULL. */
void wsd_parallel_for(wsd_pool *p, int64_t n, wsd_range_fn fn, void *ctx);

#endif
