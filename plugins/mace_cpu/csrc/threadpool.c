/* A pthread pool created once per session: the caller is thread 0, workers 1..n-1.
 *
 * A job is published by bumping `generation`; task indices are claimed from `claim`, a
 * 64-bit word holding (generation << 32 | next index), so a worker that wakes late, after
 * its job is over, cannot take work from the next one. The caller waits only until every
 * task is done, never for a worker to check in: when another process holds a core, the
 * caller simply runs more of the tasks itself. Workers spin briefly for the next job
 * (ops follow each other within microseconds), then sleep on a condition variable.
 * Each thread owns scratch slots (packed GEMM blocks, row buffers) that grow on demand
 * and live as long as the pool; mc_op_begin/mc_op_end serialise ops on one pool because
 * they share that scratch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_ITERATIONS 2000

typedef struct {
    void *p[MC_WS_SLOTS];
    size_t size[MC_WS_SLOTS];
    char pad[64];
} ws_set;

struct mc_threads {
    int n;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    pthread_mutex_t op_mu;
    atomic_uint generation;
    atomic_uint_fast64_t claim;
    atomic_long done;
    _Atomic(mc_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_long ntasks;
    int stop;
    ws_set *ws;
};

static ws_set g_serial_ws; /* scratch for t == NULL */

void *mc_aligned_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, MC_ALIGN, bytes ? bytes : MC_ALIGN) != 0) return NULL;
    return p;
}

void mc_aligned_free(void *p) { free(p); }

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claims and runs tasks of job `gen` until none is left; returns once the claim fails. */
static void run_tasks(mc_threads *t, unsigned gen, mc_task_fn fn, void *ctx, long ntasks,
                      int tid) {
    uint_fast64_t c = atomic_load(&t->claim);
    for (;;) {
        long index = (long)(c & 0xffffffffu);
        if ((unsigned)(c >> 32) != gen || index >= ntasks) return;
        if (!atomic_compare_exchange_weak(&t->claim, &c, c + 1)) continue;
        fn(ctx, index, tid);
        if (atomic_fetch_add(&t->done, 1) + 1 == ntasks && tid != 0) {
            pthread_mutex_lock(&t->mu);
            pthread_cond_signal(&t->done_cv);
            pthread_mutex_unlock(&t->mu);
        }
        c = atomic_load(&t->claim);
    }
}

typedef struct {
    mc_threads *t;
    int tid;
} worker_arg;

static void *worker_main(void *raw) {
    worker_arg arg = *(worker_arg *)raw;
    free(raw);
    mc_threads *t = arg.t;
    unsigned seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ITERATIONS && atomic_load(&t->generation) == seen; i++)
            cpu_relax();
        if (atomic_load(&t->generation) == seen) {
            pthread_mutex_lock(&t->mu);
            while (atomic_load(&t->generation) == seen && !t->stop)
                pthread_cond_wait(&t->wake, &t->mu);
            int stop = t->stop;
            pthread_mutex_unlock(&t->mu);
            if (stop) return NULL;
        }
        /* read the job consistently: it is valid if the generation did not move meanwhile */
        unsigned gen = atomic_load(&t->generation);
        mc_task_fn fn = atomic_load(&t->fn);
        void *ctx = atomic_load(&t->ctx);
        long ntasks = atomic_load(&t->ntasks);
        seen = gen;
        if (atomic_load(&t->generation) != gen) continue;
        run_tasks(t, gen, fn, ctx, ntasks, arg.tid);
    }
}

mc_threads *mc_threads_create(int nthreads) {
    if (nthreads <= 0) nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads <= 0) nthreads = 1;
    mc_threads *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = nthreads;
    t->ws = calloc((size_t)nthreads, sizeof(ws_set));
    t->workers = calloc((size_t)nthreads, sizeof(pthread_t));
    if (!t->ws || !t->workers) goto fail;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->op_mu, NULL);
    pthread_cond_init(&t->wake, NULL);
    pthread_cond_init(&t->done_cv, NULL);
    for (int i = 1; i < nthreads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) break;
        arg->t = t;
        arg->tid = i;
        if (pthread_create(&t->workers[i], NULL, worker_main, arg) != 0) {
            free(arg);
            t->n = i; /* run with the workers we got */
            break;
        }
    }
    return t;
fail:
    free(t->ws);
    free(t->workers);
    free(t);
    return NULL;
}

void mc_threads_destroy(mc_threads *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->mu);
    for (int i = 1; i < t->n; i++) pthread_join(t->workers[i], NULL);
    for (int i = 0; i < t->n; i++)
        for (int s = 0; s < MC_WS_SLOTS; s++) mc_aligned_free(t->ws[i].p[s]);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->op_mu);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done_cv);
    free(t->ws);
    free(t->workers);
    free(t);
}

int mc_threads_count(const mc_threads *t) { return t ? t->n : 1; }
int mc_threads_n(const mc_threads *t) { return t ? t->n : 1; }

void mc_op_begin(mc_threads *t) {
    if (t) pthread_mutex_lock(&t->op_mu);
}

void mc_op_end(mc_threads *t) {
    if (t) pthread_mutex_unlock(&t->op_mu);
}

void mc_parallel(mc_threads *t, long ntasks, mc_task_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    if (!t || t->n == 1 || ntasks == 1) {
        for (long i = 0; i < ntasks; i++) fn(ctx, i, 0);
        return;
    }
    unsigned gen = atomic_load(&t->generation) + 1;
    atomic_store(&t->fn, fn);
    atomic_store(&t->ctx, ctx);
    atomic_store(&t->ntasks, ntasks);
    atomic_store(&t->done, 0);
    atomic_store(&t->claim, (uint_fast64_t)gen << 32);
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->generation, gen);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->mu);
    run_tasks(t, gen, fn, ctx, ntasks, 0);
    for (int i = 0; i < SPIN_ITERATIONS && atomic_load(&t->done) < ntasks; i++) cpu_relax();
    if (atomic_load(&t->done) < ntasks) {
        pthread_mutex_lock(&t->mu);
        while (atomic_load(&t->done) < ntasks) pthread_cond_wait(&t->done_cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
    }
}

float *mc_ws_get(mc_threads *t, int tid, int slot, size_t bytes) {
    ws_set *set = t ? &t->ws[tid] : &g_serial_ws;
    if (set->size[slot] < bytes) {
        mc_aligned_free(set->p[slot]);
        set->p[slot] = mc_aligned_alloc(bytes);
        set->size[slot] = set->p[slot] ? bytes : 0;
    }
    return (float *)set->p[slot];
}
