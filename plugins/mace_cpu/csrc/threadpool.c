/* A pthread pool created once per session: the caller is thread 0, workers 1..n-1.
 *
 * A job's tasks are split into one contiguous home range per thread (thread i of the n
 * the job is worth: tasks [i * ntasks / n, (i + 1) * ntasks / n)), each range a 64-bit
 * claim word of its own: (tag << 40 | end << 20 | next). A thread takes its own tasks from
 * the front, in order, then takes the others' from the back, one at a time, with a
 * compare-and-swap on their words. Jobs split their outputs in the same order (GEMM
 * columns, output channels, planes), so on a quiet machine thread i writes the same part
 * of each tensor op after op, and the threads never contend for one claim word. Against
 * one shared word taken first come, first served: MobileNetV1 at 2 threads on a loaded
 * 2-core host, interleaved with onnxruntime, had 3-8% of its runs over 1.3x the median
 * instead of 9-17%, and a 2-3% lower median.
 * Threads read the job's function and context only after a successful claim, so a worker
 * that wakes late, after its job is over, can never run a task of the next one. The
 * caller runs tasks too and waits only for tasks already claimed, never for a worker to
 * check in: a worker the OS has not scheduled yet simply has its range taken over.
 *
 * Waiting: after a job, workers spin for a bounded time (SPIN_NS_DEFAULT, or
 * $MACE_CPU_SPIN_US; ops of a model follow each other within microseconds), then sleep on a
 * futex (a condition variable off Linux); the caller wakes them only when some sleep.
 * While a step list runs in parallel, and for LINGER_NS_DEFAULT ($MACE_CPU_LINGER_US)
 * after it, they do not sleep (mc_threads_linger): a worker that waited more than the spin
 * for the caller to finish an op's last task fell asleep, and the next op then ran mostly
 * on the caller while the futex woke it (tens of microseconds on a virtual machine); so did
 * the first op of the next run. The
 * caller waits for the last claimed tasks the same way (spin, then futex). Both spins yield
 * the CPU now and then once they have spun YIELD_AFTER_NS: when the OS has put a worker on
 * the caller's CPU (it happens on busy virtual machines), a spinning thread would otherwise
 * hold off the one it waits for until its time slice ends. Not sooner: the gaps between
 * the ops of a run are shorter, and a thread that yields in them hands its CPU to whatever
 * else runs there for the rest of a time slice (MobileNetV2 at 2 threads beside a process
 * busy 5 ms in 10, interleaved runs: 3.0 -> 2.0 ms a run; beside one busy all the time the
 * median stayed, 3.5-4.0 ms, but a tenth of the runs took over 1.3x it, against 4%). And
 * while a step list runs in parallel, the workers of a pool
 * without a CPU policy keep off the caller's CPU (mc_threads_spread): a busy thread the OS
 * stacked there is never moved back (it stays cache-hot). Small jobs run
 * on the caller alone: mc_threads_for() says how many threads a job's work is worth (less
 * work is worth a spinning worker than a sleeping one, which takes microseconds to wake).
 * When the caller had to wait much longer for a worker than the work took (the worker was
 * preempted on a busy machine), the pool runs the next jobs on the caller alone for a while
 * (backing off exponentially while it keeps happening), so a loaded machine degrades to
 * single-thread speed instead of waiting a scheduler tick per op. Not while a step list
 * that times its runs runs in parallel (mc_threads_decide): that list already picks serial
 * or parallel run by run from whole-run times, and the pool's reflex, tripped by one late
 * worker, made it serial for much longer than the disturbance lasted. MobileNetV2 at 2
 * threads beside a process busy 5 ms out of every 10: 2.9-3.5 ms a run with the reflex,
 * 2.2-3.1 ms without (1.8 ms on a quiet machine; the same without either way).
 *
 * Each thread owns scratch slots (packed GEMM blocks, row buffers) that grow on demand
 * and live as long as the pool; mc_op_begin/mc_op_end serialise ops on one pool because
 * they share that scratch.
 *
 * CPU affinity (mc_threads_create_pinned, Linux): each worker pins itself to the given CPU
 * set (sched_setaffinity on its own thread: glibc and bionic alike) before it takes any
 * task, and the creator waits for all of them so a refusal is reported at creation. The
 * calling thread is pinned too, from its first op on the pool (mc_op_begin), and keeps the
 * set between ops: pinning and restoring around every op cost about 5 us per op here (two
 * or three sched_*affinity calls), 0.3 ms of a 4.2 ms MobileNetV2 run. It gets its own
 * mask back when it runs an op on a pool with other CPUs or none, or when it frees the
 * pool. A thread-local record (which pool pinned this thread, and the mask it had) makes
 * that a memory read per op.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET, sched_getcpu */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "internal.h"

#define SPIN_NS_DEFAULT 10000L  /* workers: spin this long for the next job, then sleep */
#define LINGER_NS_DEFAULT 1000000L /* ... and this long after a step list's run */
#define RUNNING_NS 100000000L      /* ... and while it runs (mc_threads_linger) */
#define WAIT_SPIN_NS 500000L    /* caller: spin this long for claimed tasks, then sleep */
#define YIELD_AFTER_NS 50000L   /* spinning longer than this, both yield the CPU now and then */
#define GRAIN_NS 8000.0        /* work per thread worth waking a sleeping worker for */
/* work per thread worth handing to spinning workers: 1250 against 2500 ns, MobileNetV2
 * 0.5/128 at 2 threads 0.301 -> 0.294 ms on a quiet host, level (0.454 / 0.456) while the
 * vCPUs were slow to share data; the larger models level both ways */
#define GRAIN_AWAKE_NS 1250.0
#define MAX_TASKS ((1L << 20) - 1)
#define BACKOFF_MIN 16
#define BACKOFF_MAX 4096

typedef struct {
    _Alignas(64) atomic_uint_fast64_t word; /* tag << 40 | end << 20 | next */
    char pad[64 - sizeof(atomic_uint_fast64_t)];
} claim_word;

typedef struct {
    void *p[MC_WS_SLOTS];
    size_t size[MC_WS_SLOTS];
    char pad[64];
} ws_set;

struct mc_threads {
    int n;
    pthread_t *workers;
    pthread_mutex_t op_mu;
    claim_word *claims;                   /* one home range per thread (n) */
    _Alignas(64) atomic_int pending;      /* tasks of the current job not finished */
    atomic_int caller_sleeping;
    _Alignas(64) atomic_uint generation;  /* bumped per job that wakes workers; futex word */
    atomic_int sleepers;
    atomic_int stop;
    _Atomic(mc_task_fn) fn;
    _Atomic(void *) ctx;
    unsigned tag;
    long spin_ns, linger_ns;
    _Atomic long linger_until; /* workers spin, not sleep, until then (mc_threads_linger) */
    int serial_left, backoff, idle; /* adaptive fallback to serial (caller's thread only) */
    int forced_serial;              /* mc_threads_set_serial: every job on the caller */
    int decided;                    /* mc_threads_decide: no fallback of the pool's own */
    int spread_cpu;                 /* mc_threads_spread: the caller's CPU it last saw, or -1 */
    ws_set *ws;
    int *tids;                /* kernel thread id of each worker (0 for the caller) */
    atomic_int started;       /* workers that have pinned themselves and run */
    atomic_int pin_error;     /* errno of a worker whose pinning failed */
#ifdef __linux__
    int pinned;               /* workers and callers run on `mask` only */
    unsigned id;              /* unique per pinned pool (never reused: see tl_pinned_by) */
    cpu_set_t mask;           /* the pool's CPUs */
#endif
#ifndef __linux__
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
};

static ws_set g_serial_ws; /* scratch for t == NULL */
#ifdef __linux__
static atomic_uint g_pin_ids;                /* ids of pinned pools, from 1 */
static __thread unsigned tl_pinned_by;       /* the pinned pool this thread follows, or 0 */
static __thread cpu_set_t tl_own_mask;       /* this thread's mask before that pool's */
#endif
static double g_grain_scale = 1.0;

void mc_set_grain(double scale) { g_grain_scale = scale < 0.0 ? 0.0 : scale; }

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

static inline long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* -- sleeping: futex on Linux, a condition variable elsewhere --------------------------- */
#ifdef __linux__
static void sleep_while(mc_threads *t, atomic_int *word, int value) {
    (void)t;
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void wake(mc_threads *t, atomic_int *word, int count) {
    (void)t;
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
#else
static void sleep_while(mc_threads *t, atomic_int *word, int value) {
    pthread_mutex_lock(&t->mu);
    if (atomic_load(word) == value) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void wake(mc_threads *t, atomic_int *word, int count) {
    (void)word;
    (void)count;
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}
#endif

/* -- running tasks ------------------------------------------------------------------------ */
static inline long claim_next(uint_fast64_t c) { return (long)(c & 0xfffff); }
static inline long claim_end(uint_fast64_t c) { return (long)((c >> 20) & 0xfffff); }

/* Claims and runs tasks of the current job until none is left, its own range first (from
 * the front), then the other threads' (from the back); returns how many it ran. */
static long run_tasks(mc_threads *t, int tid) {
    long ran = 0;
    for (int k = 0; k < t->n; k++) {
        const int own = k == 0;
        atomic_uint_fast64_t *word = &t->claims[(tid + k) % t->n].word;
        uint_fast64_t c = atomic_load(word);
        while (claim_next(c) < claim_end(c)) {
            const uint_fast64_t taken = own ? c + 1 : c - ((uint_fast64_t)1 << 20);
            if (!atomic_compare_exchange_weak(word, &c, taken)) continue;
            /* the job cannot finish before this task: its fn and ctx stay valid */
            mc_task_fn fn = atomic_load_explicit(&t->fn, memory_order_relaxed);
            void *ctx = atomic_load_explicit(&t->ctx, memory_order_relaxed);
            fn(ctx, own ? claim_next(c) : claim_end(c) - 1, tid);
            ran++;
            if (atomic_fetch_sub(&t->pending, 1) == 1 && atomic_load(&t->caller_sleeping))
                wake(t, &t->pending, 1);
            c = atomic_load(word);
        }
    }
    return ran;
}

typedef struct {
    mc_threads *t;
    int tid;
} worker_arg;

static void *worker_main(void *raw) {
    worker_arg arg = *(worker_arg *)raw;
    free(raw);
    mc_threads *t = arg.t;
#ifdef __linux__
    t->tids[arg.tid] = (int)syscall(SYS_gettid);
    if (t->pinned && sched_setaffinity(0, sizeof t->mask, &t->mask) != 0)
        atomic_store(&t->pin_error, errno);
#endif
    unsigned seen = atomic_load(&t->generation);
    atomic_fetch_add(&t->started, 1);
    for (;;) {
        long deadline = 0, began = 0;
        for (int i = 0; atomic_load(&t->generation) == seen; i++) {
            cpu_relax();
            if ((i & 63) != 63) continue;
            long now = now_ns();
            if (!began) began = now;
            if (now - began > YIELD_AFTER_NS)
                sched_yield(); /* a thread sharing this CPU (the caller?) runs first */
            if (!deadline) deadline = now + t->spin_ns;
            if (now < deadline ||
                now < atomic_load_explicit(&t->linger_until, memory_order_relaxed))
                continue;
            atomic_fetch_add(&t->sleepers, 1);
            while (atomic_load(&t->generation) == seen && !atomic_load(&t->stop))
                sleep_while(t, (atomic_int *)&t->generation, (int)seen);
            atomic_fetch_sub(&t->sleepers, 1);
            break;
        }
        if (atomic_load(&t->stop)) return NULL;
        seen = atomic_load(&t->generation);
        run_tasks(t, arg.tid);
    }
}

/* $name (microseconds) in ns, else fallback */
static long spin_setting(const char *name, long fallback) {
    const char *env = getenv(name);
    if (!env || !*env) return fallback;
    long us = strtol(env, NULL, 10);
    return us < 0 ? 0 : us * 1000L;
}

/* A pool of nthreads; with cpus (Linux), pinned to those ncpus CPUs (see the top). */
static mc_threads *create(int nthreads, const int *cpus, int ncpus, int *error) {
    if (nthreads <= 0) nthreads = cpus ? ncpus : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads <= 0) nthreads = 1;
    mc_threads *t = calloc(1, sizeof *t);
    *error = ENOMEM;
    if (!t) return NULL;
    t->n = nthreads;
    t->spread_cpu = -1;
    t->spin_ns = spin_setting("MACE_CPU_SPIN_US", SPIN_NS_DEFAULT);
    t->linger_ns = spin_setting("MACE_CPU_LINGER_US", LINGER_NS_DEFAULT);
    t->backoff = BACKOFF_MIN;
    t->ws = calloc((size_t)nthreads, sizeof(ws_set));
    t->workers = calloc((size_t)nthreads, sizeof(pthread_t));
    t->tids = calloc((size_t)nthreads, sizeof(int));
    t->claims = mc_aligned_alloc(sizeof(claim_word) * (size_t)nthreads);
    if (!t->ws || !t->workers || !t->tids || !t->claims) goto fail;
    memset(t->claims, 0, sizeof(claim_word) * (size_t)nthreads);
#ifdef __linux__
    if (cpus) {
        CPU_ZERO(&t->mask);
        for (int i = 0; i < ncpus; i++) {
            if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) {
                *error = EINVAL;
                goto fail;
            }
            CPU_SET(cpus[i], &t->mask);
        }
        /* the caller must be pinnable too: try it now, then put its mask back */
        cpu_set_t own;
        if (ncpus <= 0 || sched_getaffinity(0, sizeof own, &own) != 0 ||
            sched_setaffinity(0, sizeof t->mask, &t->mask) != 0) {
            *error = ncpus <= 0 ? EINVAL : errno;
            goto fail;
        }
        sched_setaffinity(0, sizeof own, &own);
        t->pinned = 1;
        t->id = atomic_fetch_add(&g_pin_ids, 1) + 1;
    }
#else
    if (cpus) {
        *error = ENOSYS;
        goto fail;
    }
#endif
    pthread_mutex_init(&t->op_mu, NULL);
#ifndef __linux__
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
#endif
    for (int i = 1; i < nthreads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) {
            t->n = i;
            break;
        }
        arg->t = t;
        arg->tid = i;
        if (pthread_create(&t->workers[i], NULL, worker_main, arg) != 0) {
            free(arg);
            t->n = i; /* run with the workers we got */
            break;
        }
    }
    /* workers pin themselves first thing: wait for them, so a refusal is seen here */
    while (atomic_load(&t->started) < t->n - 1) sched_yield();
    if (atomic_load(&t->pin_error)) {
        *error = atomic_load(&t->pin_error);
        mc_threads_destroy(t);
        return NULL;
    }
    *error = 0;
    return t;
fail:
    mc_aligned_free(t->claims);
    free(t->ws);
    free(t->workers);
    free(t->tids);
    free(t);
    return NULL;
}

mc_threads *mc_threads_create(int nthreads) {
    int error;
    return create(nthreads, NULL, 0, &error);
}

mc_threads *mc_threads_create_pinned(int nthreads, const int *cpus, int ncpus, int *error) {
    return create(nthreads, cpus, ncpus, error);
}

void mc_threads_destroy(mc_threads *t) {
    if (!t) return;
#ifdef __linux__
    if (t->pinned && tl_pinned_by == t->id) { /* the freeing thread followed this pool */
        sched_setaffinity(0, sizeof tl_own_mask, &tl_own_mask);
        tl_pinned_by = 0;
    }
#endif
    atomic_store(&t->stop, 1);
    atomic_fetch_add(&t->generation, 1);
    wake(t, (atomic_int *)&t->generation, INT_MAX);
    for (int i = 1; i < t->n; i++) pthread_join(t->workers[i], NULL);
    for (int i = 0; i < t->n; i++)
        for (int s = 0; s < MC_WS_SLOTS; s++) mc_aligned_free(t->ws[i].p[s]);
    pthread_mutex_destroy(&t->op_mu);
#ifndef __linux__
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
#endif
    mc_aligned_free(t->claims);
    free(t->ws);
    free(t->workers);
    free(t->tids);
    free(t);
}

int mc_threads_count(const mc_threads *t) { return t ? t->n : 1; }
int mc_threads_n(const mc_threads *t) { return t ? t->n : 1; }

int mc_threads_for(mc_threads *t, double work_ns) {
    if (!t || t->n == 1) return 1;
    if (g_grain_scale == 0.0) return t->n;
    double grain = atomic_load_explicit(&t->sleepers, memory_order_relaxed) ? GRAIN_NS
                                                                           : GRAIN_AWAKE_NS;
    double n = work_ns / (grain * g_grain_scale);
    return n < 2.0 ? 1 : (n >= t->n ? t->n : (int)n);
}

#ifdef __linux__
/* The calling thread's CPUs for an op on t: t's set (pinned pool), else its own mask. */
static void caller_follow(const mc_threads *t) {
    const unsigned want = t->pinned ? t->id : 0;
    if (tl_pinned_by == want) return;
    if (tl_pinned_by) { /* pinned by another pool: back to its own mask first */
        sched_setaffinity(0, sizeof tl_own_mask, &tl_own_mask);
        tl_pinned_by = 0;
    }
    if (want && sched_getaffinity(0, sizeof tl_own_mask, &tl_own_mask) == 0 &&
        sched_setaffinity(0, sizeof t->mask, &t->mask) == 0)
        tl_pinned_by = want;
}
#endif

void mc_threads_set_serial(mc_threads *t, int on) {
    if (t) t->forced_serial = on;
}

void mc_threads_decide(mc_threads *t, int on) {
    if (!t) return;
    t->decided = on;
    t->serial_left = 0;
    t->idle = 0;
}

void mc_threads_set_linger(mc_threads *t, long us) {
    if (t) t->linger_ns = us < 0 ? 0 : us * 1000L;
}

long mc_threads_linger_us(const mc_threads *t) { return t ? t->linger_ns / 1000L : 0; }

void mc_threads_linger(mc_threads *t, int running) {
    if (!t || t->n < 2 || t->linger_ns <= 0) return;
    const long until = now_ns() + (running ? RUNNING_NS : t->linger_ns);
    atomic_store_explicit(&t->linger_until, until, memory_order_relaxed);
}

void mc_threads_spread(mc_threads *t) {
#ifdef __linux__
    if (!t || t->n < 2 || t->pinned) return;
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu == t->spread_cpu) return;
    t->spread_cpu = cpu;
    cpu_set_t others; /* the caller's CPUs but the one it is on */
    if (sched_getaffinity(0, sizeof others, &others) != 0 || !CPU_ISSET(cpu, &others)) return;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0) return;
    for (int i = 1; i < t->n; i++) sched_setaffinity(t->tids[i], sizeof others, &others);
#else
    (void)t;
#endif
}

void mc_op_begin(mc_threads *t) {
    if (!t) return;
    pthread_mutex_lock(&t->op_mu);
#ifdef __linux__
    caller_follow(t);
#endif
}

void mc_op_end(mc_threads *t) {
    if (t) pthread_mutex_unlock(&t->op_mu);
}

/* After a parallel job of `ntasks` tasks: `work` ns on the caller, which ran `mine` of the
 * tasks, then `waited` ns for the workers (`woke`: they were asleep and had to be woken, so
 * arriving late is no sign of trouble). A worker that was not running (preempted mid-task,
 * or spinning yet never getting a core in time to take a task) makes the pool go serial
 * for a while: on a busy machine a spinning worker only takes CPU from the caller. */
static void adapt(mc_threads *t, int woke, long ntasks, long mine, long work, long waited) {
    if (g_grain_scale == 0.0) return;
    if (ntasks >= 4 && mine == ntasks && !woke) t->idle++; /* was spinning, yet took nothing */
    else if (mine < ntasks) t->idle = MC_MAX(0, t->idle - 2);
    if ((waited > 200000L && waited > 2 * work) || t->idle >= 8) {
        t->serial_left = t->backoff;
        t->backoff = MC_MIN(2 * t->backoff, BACKOFF_MAX);
        t->idle = 0;
    } else if (t->backoff > BACKOFF_MIN && mine < ntasks) {
        t->backoff /= 2;
    }
}

void mc_parallel(mc_threads *t, int threads, long ntasks, mc_task_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    int serial = !t || t->n == 1 || threads <= 1 || ntasks == 1 || ntasks > MAX_TASKS ||
                 t->forced_serial;
    if (!serial && t->serial_left > 0 && !t->decided) {
        t->serial_left--;
        serial = 1;
    }
    if (serial) {
        for (long i = 0; i < ntasks; i++) fn(ctx, i, 0);
        return;
    }
    long start = now_ns();
    atomic_store_explicit(&t->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&t->ctx, ctx, memory_order_relaxed);
    atomic_store(&t->pending, (int)ntasks);
    t->tag = (t->tag + 1) & 0xffffff;
    const int homes = (int)MC_MIN(MC_MIN(threads, t->n), ntasks);
    for (int i = 0; i < t->n; i++) { /* threads past `homes` only take over others' tasks */
        const long first = i < homes ? ntasks * i / homes : 0;
        const long end = i < homes ? ntasks * (i + 1) / homes : 0;
        atomic_store(&t->claims[i].word, (uint_fast64_t)t->tag << 40 |
                                             (uint_fast64_t)end << 20 | (uint_fast64_t)first);
    }
    atomic_fetch_add(&t->generation, 1);
    const int woke = atomic_load(&t->sleepers) > 0;
    if (woke) wake(t, (atomic_int *)&t->generation, MC_MIN(threads, t->n) - 1);
    const long ran = run_tasks(t, 0);
    long mine = now_ns();
    if (atomic_load(&t->pending) > 0) {
        for (int i = 0; atomic_load(&t->pending) > 0; i++) {
            cpu_relax();
            if ((i & 63) != 63) continue;
            const long waited = now_ns() - mine;
            if (waited > YIELD_AFTER_NS)
                sched_yield(); /* a worker sharing this CPU finishes its task */
            if (waited > WAIT_SPIN_NS) break;
        }
        atomic_store(&t->caller_sleeping, 1);
        for (int p; (p = atomic_load(&t->pending)) > 0;) sleep_while(t, &t->pending, p);
        atomic_store(&t->caller_sleeping, 0);
    }
    if (!t->decided) adapt(t, woke, ntasks, ran, mine - start, now_ns() - mine);
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

/* -- affinity diagnostics ----------------------------------------------------------------- */
int mc_threads_worker_tid(const mc_threads *t, int i) {
    return t && i > 0 && i < t->n ? t->tids[i] : -1;
}

int mc_threads_worker_cpus(mc_threads *t, int i, int *cpus, int cap) {
#ifdef __linux__
    if (!t || i < 0 || i >= t->n) return -EINVAL;
    cpu_set_t set;
    int rc;
    if (i == 0) { /* the caller, as it is during an op */
        mc_op_begin(t);
        rc = sched_getaffinity(0, sizeof set, &set);
        mc_op_end(t);
    } else {
        rc = sched_getaffinity(t->tids[i], sizeof set, &set);
    }
    if (rc != 0) return -errno;
    int count = 0;
    for (int c = 0; c < CPU_SETSIZE && count < cap; c++)
        if (CPU_ISSET(c, &set)) cpus[count++] = c;
    return count;
#else
    (void)t, (void)i, (void)cpus, (void)cap;
    return -ENOSYS;
#endif
}

typedef struct {
    int *cpu, *thread;
} probe_ctx;

static void probe_task(void *raw, long task, int tid) {
    const probe_ctx *p = raw;
    for (long end = now_ns() + 20000L; now_ns() < end;) cpu_relax(); /* let workers join */
#ifdef __linux__
    p->cpu[task] = sched_getcpu();
#else
    p->cpu[task] = -1;
#endif
    p->thread[task] = tid;
    sched_yield(); /* threads sharing one CPU take turns */
}

int mc_threads_probe(mc_threads *t, long ntasks, int *cpu, int *thread) {
    if (!t || ntasks <= 0 || ntasks > MAX_TASKS) return MC_ERR_ARG;
    probe_ctx ctx = {cpu, thread};
    mc_op_begin(t);
    mc_parallel(t, t->n, ntasks, probe_task, &ctx);
    mc_op_end(t);
    return MC_OK;
}
