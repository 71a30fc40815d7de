/* PRelu: y = x < 0 ? x * slope : x, with the slope broadcast as a binary op's smaller
 * operand (eltwise.c): x and y are (outer, mid, inner), the slope has mid values (one per
 * channel of NCHW: (N, C, H*W); one for all: (1, 1, size); a whole tensor: (1, size, 1)).
 *
 * Memory-bound; the loop is compiled for each ISA (target attributes) so the compiler
 * vectorises it with that ISA's blends. Threads split the flat index range.
 */
#include "internal.h"

/* y[i] = x[i] < 0 ? x[i] * s[i * ss] : x[i] (ss 0: one slope for the run) */
static inline __attribute__((always_inline)) void
prelu_run(const float *x, const float *s, long ss, float *y, long n) {
    if (ss == 0) {
        const float k = s[0];
        for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? x[i] * k : x[i];
    } else {
        for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? x[i] * s[i] : x[i];
    }
}

static void prelu_base(const float *x, const float *s, long ss, float *y, long n) {
    prelu_run(x, s, ss, y, n);
}
#ifdef MC_X86
MC_TARGET_AVX2 static void prelu_avx2(const float *x, const float *s, long ss, float *y,
                                      long n) {
    prelu_run(x, s, ss, y, n);
}
MC_TARGET_AVX512 static void prelu_avx512(const float *x, const float *s, long ss, float *y,
                                          long n) {
    prelu_run(x, s, ss, y, n);
}
#endif

typedef void (*prelu_fn)(const float *, const float *, long, float *, long);

typedef struct {
    long mid, inner, total, per_task;
    const float *x, *s;
    float *y;
    prelu_fn fn;
} prelu_job;

static void prelu_task(void *raw, long task, int tid) {
    (void)tid;
    const prelu_job *j = raw;
    long e = task * j->per_task, end = MC_MIN(j->total, e + j->per_task);
    while (e < end) {
        long run;
        if (j->inner == 1) { /* the slope runs along with x */
            long m = e % j->mid;
            run = MC_MIN(j->mid - m, end - e);
            j->fn(j->x + e, j->s + m, 1, j->y + e, run);
        } else {             /* one slope per run of `inner` elements */
            long m = (e / j->inner) % j->mid, i = e % j->inner;
            run = MC_MIN(j->inner - i, end - e);
            j->fn(j->x + e, j->s + m, 0, j->y + e, run);
        }
        e += run;
    }
}

int mc_prelu(mc_threads *t, int isa, long outer, long mid, long inner, const float *x,
             const float *slope, float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (outer <= 0 || mid <= 0 || inner <= 0) return MC_ERR_ARG;
    prelu_job j = {mid, inner, outer * mid * inner, 1, x, slope, y, prelu_base};
#ifdef MC_X86
    if (isa == MC_ISA_AVX512) j.fn = prelu_avx512;
    else if (isa == MC_ISA_AVX2) j.fn = prelu_avx2;
#endif
    int threads = mc_threads_for(t, (double)j.total * 8.0 * MC_NS_PER_BYTE);
    long chunks = threads > 1 ? MC_MAX(1, MC_MIN(j.total, 4L * threads)) : 1;
    j.per_task = MC_CEIL_DIV(j.total, chunks);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(j.total, j.per_task), prelu_task, &j);
    mc_op_end(t);
    return MC_OK;
}
