/* Spin-then-sleep thread pool for the fast CPU kernels (pool.h). */
#include "backends/cpu/pool.h"

#include <stdlib.h>

#ifndef WSD_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Iterations of the idle spin before a worker sleeps (~100-200 us). */
#ifndef SPIN_ITERS
#define SPIN_ITERS 20000
#endif

struct cpu_pool {
    int n;                       /* threads including the caller */
    pthread_t *th;
    int started;                 /* workers created */
    _Atomic unsigned generation; /* bumped to start a region */
    _Atomic int pending;         /* workers still in the current region */
    _Atomic int sleepers;        /* workers blocked on the condition */
    _Atomic int quit;
    void (*fn)(void *, int);
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

typedef struct {
    cpu_pool *p;
    int idx;
} worker_arg;

static void *worker(void *a)
{
    cpu_pool *p = ((worker_arg *)a)->p;
    int idx = ((worker_arg *)a)->idx;
    free(a);
    unsigned seen = 0; /* regions start at generation 1: none can be missed before this thread runs */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ITERS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        p->fn(p->ctx, idx);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

cpu_pool *cpu_pool_create(int threads)
{
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    if (threads == 1) return p;
    p->th = calloc((size_t)threads, sizeof *p->th);
    if (!p->th) return p; /* runs serially */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->started = 1;
    for (int i = 1; i < threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->p = p;
        a->idx = i;
        if (pthread_create(&p->th[i - 1], NULL, worker, a) != 0) {
            free(a);
            break;
        }
        p->n++;
    }
    return p;
}

void cpu_pool_free(cpu_pool *p)
{
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->quit, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->n - 1; i++) pthread_join(p->th[i], NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->wake);
    }
    free(p->th);
    free(p);
}

int cpu_pool_threads(const cpu_pool *p) { return p ? p->n : 1; }

void cpu_pool_run(cpu_pool *p, void (*fn)(void *, int), void *ctx)
{
    if (!p || p->n <= 1) {
        fn(ctx, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS) CPU_RELAX();
        else sched_yield();
    }
}

#else /* WSD_NO_THREADS: the caller does everything */

struct cpu_pool {
    int unused;
};
cpu_pool *cpu_pool_create(int threads)
{
    (void)threads;
    return NULL;
}
void cpu_pool_free(cpu_pool *p) { (void)p; }
int cpu_pool_threads(const cpu_pool *p)
{
    (void)p;
    return 1;
}
void cpu_pool_run(cpu_pool *p, void (*fn)(void *, int), void *ctx)
{
    (void)p;
    fn(ctx, 0);
}
#endif
