/* Elementwise kernels: broadcast binary ops (+ fused activation), standalone activations,
 * and Softmax over the last axis. Memory-bound, so plain loops the compiler vectorises
 * (eltwise_body.h, activation_body.h: once per ISA); threads split the flat index range
 * into chunks.
 */
#include <math.h>

#include "internal.h"

/* Tasks for n elements of `bytes` each: about 4 per thread worth using (*threads). */
static long chunk_count(mc_threads *t, long n, double bytes, int *threads) {
    *threads = mc_threads_for(t, (double)n * bytes * MC_NS_PER_BYTE);
    return *threads > 1 ? MC_MAX(1, MC_MIN(n, 4L * *threads)) : 1;
}

/* -- binary ---------------------------------------------------------------------------- */
#define ELT_NAME(name) name##_base
#define ELT_TARGET
#include "eltwise_body.h"
#undef ELT_NAME
#undef ELT_TARGET
#ifdef MC_X86
#define ELT_NAME(name) name##_avx2
#define ELT_TARGET MC_TARGET_AVX2
#include "eltwise_body.h"
#undef ELT_NAME
#undef ELT_TARGET
#define ELT_NAME(name) name##_avx512
#define ELT_TARGET MC_TARGET_AVX512
#include "eltwise_body.h"
#undef ELT_NAME
#undef ELT_TARGET
#endif

typedef void (*bin_vec_fn)(int, int, const float *, const float *, float *, long);
typedef void (*bin_scalar_fn)(int, int, const float *, float, float *, long);

typedef struct {
    int op, swap, isa;
    long mid, inner, total, per_task;
    const float *a, *b;
    float *y;
    mc_act act;
    bin_vec_fn vec;
    bin_scalar_fn scalar;
} bin_job;

static void bin_task(void *raw, long task, int tid) {
    (void)tid;
    bin_job *j = raw;
    long e = task * j->per_task, end = MC_MIN(j->total, e + j->per_task);
    while (e < end) {
        long run;
        if (j->inner == 1) { /* b runs along with a: same shape, or a trailing-axis vector */
            long m = e % j->mid;
            run = MC_MIN(j->mid - m, end - e);
            j->vec(j->op, j->swap, j->a + e, j->b + m, j->y + e, run);
        } else {             /* one b value per run of `inner` elements (per channel) */
            long m = (e / j->inner) % j->mid, i = e % j->inner;
            run = MC_MIN(j->inner - i, end - e);
            j->scalar(j->op, j->swap, j->a + e, j->b[m], j->y + e, run);
        }
        if (j->act.kind != MC_ACT_NONE) mc_act_apply(&j->act, j->isa, j->y + e, j->y + e, run);
        e += run;
    }
}

int mc_binary(mc_threads *t, int isa, int op, long outer, long mid, long inner,
              const float *a, const float *b, int swap, int act, float act_a, float act_b,
              float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (outer <= 0 || mid <= 0 || inner <= 0 || op < MC_BIN_ADD || op > MC_BIN_DIV)
        return MC_ERR_ARG;
    bin_job j = {op, swap, isa, mid, inner, outer * mid * inner, 0, a, b, y, {act, act_a, act_b},
                 bin_vec_base, bin_scalar_base};
#ifdef MC_X86
    if (isa == MC_ISA_AVX512) {
        j.vec = bin_vec_avx512;
        j.scalar = bin_scalar_avx512;
    } else if (isa == MC_ISA_AVX2) {
        j.vec = bin_vec_avx2;
        j.scalar = bin_scalar_avx2;
    }
#endif
    int threads;
    long chunks = chunk_count(t, j.total, 12.0, &threads);
    j.per_task = MC_CEIL_DIV(j.total, chunks);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(j.total, j.per_task), bin_task, &j);
    mc_op_end(t);
    return MC_OK;
}

/* -- unary ------------------------------------------------------------------------------ */
typedef struct {
    const float *x;
    float *y;
    long n, per_task;
    mc_act act;
    int isa;
} un_job;

static void un_task(void *raw, long task, int tid) {
    (void)tid;
    un_job *j = raw;
    long e = task * j->per_task, end = MC_MIN(j->n, e + j->per_task);
    mc_act_apply(&j->act, j->isa, j->x + e, j->y + e, end - e);
}

int mc_unary(mc_threads *t, int isa, long n, const float *x, int act, float act_a,
             float act_b, float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (n <= 0) return MC_OK;
    un_job j = {x, y, n, 0, {act, act_a, act_b}, isa};
    int threads;
    j.per_task = MC_CEIL_DIV(n, chunk_count(t, n, 8.0, &threads));
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(n, j.per_task), un_task, &j);
    mc_op_end(t);
    return MC_OK;
}
