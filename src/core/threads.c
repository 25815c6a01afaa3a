#include "core/threads.h"

#include <stdlib.h>

#ifndef WSD_NO_THREADS
#include <pthread.h>
#include <unistd.h>

struct wsd_pool {
    int n;               /* workers, not counting the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending;
    int quit;
    wsd_range_fn fn;
    void *ctx;
    int64_t total;
};

static void run_share(wsd_pool *p, int idx)
{
    int parts = p->n + 1;
    int64_t begin = p->total * idx / parts, end = p->total * (idx + 1) / parts;
    if (begin < end)
        p->fn(p->ctx, begin, end);
}

static void *worker(void *arg)
{
    wsd_pool *p = ((void **)arg)[0];
    int idx = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_share(p, idx);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

wsd_pool *wsd_pool_create(int threads)
{
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)c : 1;
    }
    if (threads > 256)
        threads = 256;
    wsd_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->th = calloc((size_t)threads, sizeof *p->th);
    if (!p->th) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < threads - 1; i++) {
        void **arg = malloc(2 * sizeof *arg);
        if (!arg)
            break;
        arg[0] = p;
        arg[1] = (void *)(intptr_t)(i + 1);
        if (pthread_create(&p->th[i], NULL, worker, arg) != 0) {
            free(arg);
            break;
        }
        p->n++;
    }
    return p;
}

void wsd_pool_free(wsd_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

int wsd_pool_threads(const wsd_pool *p) { return p ? p->n + 1 : 1; }

void wsd_parallel_for(wsd_pool *p, int64_t n, wsd_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (!p || p->n == 0 || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->total = n;
    p->pending = p->n;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    run_share(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

#else /* WSD_NO_THREADS */

struct wsd_pool {
    int unused;
};
wsd_pool *wsd_pool_create(int threads) { (void)threads; return NULL; }
void wsd_pool_free(wsd_pool *p) { (void)p; }
int wsd_pool_threads(const wsd_pool *p) { (void)p; return 1; }
void wsd_parallel_for(wsd_pool *p, int64_t n, wsd_range_fn fn, void *ctx)
{
    (void)p;
    if (n > 0)
        fn(ctx, 0, n);
}
#endif
