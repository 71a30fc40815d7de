/* Elementwise kernels: broadcast binary ops (+ fused activation), standalone activations,
 * and Softmax over the last axis. Memory-bound, so plain loops the compiler vectorises;
 * threads split the flat index range into chunks.
 */
#include <math.h>

#include "internal.h"

#define CHUNK_MIN 16384L  /* elements per task below which threading does not pay */

static long chunk_count(mc_threads *t, long n) {
    long by_size = MC_CEIL_DIV(n, CHUNK_MIN);
    return MC_MAX(1, MC_MIN(by_size, 4L * mc_threads_n(t)));
}

/* -- binary ---------------------------------------------------------------------------- */
typedef struct {
    int op, swap;
    long mid, inner, total, per_task;
    const float *a, *b;
    float *y;
    mc_act act;
} bin_job;

/* y[i] = a[i] op b[i] (bstep 1) or a[i] op b[0] (bstep 0), operands swapped if asked */
static void bin_run(int op, int swap, const float *a, const float *b, int bstep, float *y,
                    long n) {
    if (bstep == 0) {
        const float s = b[0];
        switch (op) {
        case MC_BIN_ADD: for (long i = 0; i < n; i++) y[i] = a[i] + s; break;
        case MC_BIN_MUL: for (long i = 0; i < n; i++) y[i] = a[i] * s; break;
        default:
            if (swap)
                for (long i = 0; i < n; i++) y[i] = s - a[i];
            else
                for (long i = 0; i < n; i++) y[i] = a[i] - s;
        }
        return;
    }
    switch (op) {
    case MC_BIN_ADD: for (long i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
    case MC_BIN_MUL: for (long i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
    default:
        if (swap)
            for (long i = 0; i < n; i++) y[i] = b[i] - a[i];
        else
            for (long i = 0; i < n; i++) y[i] = a[i] - b[i];
    }
}

static void bin_task(void *raw, long task, int tid) {
    (void)tid;
    bin_job *j = raw;
    long e = task * j->per_task, end = MC_MIN(j->total, e + j->per_task);
    while (e < end) {
        long run;
        if (j->inner == 1) { /* b runs along with a: same shape, or a trailing-axis vector */
            long m = e % j->mid;
            run = MC_MIN(j->mid - m, end - e);
            bin_run(j->op, j->swap, j->a + e, j->b + m, 1, j->y + e, run);
        } else {             /* one b value per run of `inner` elements (per channel) */
            long m = (e / j->inner) % j->mid, i = e % j->inner;
            run = MC_MIN(j->inner - i, end - e);
            bin_run(j->op, j->swap, j->a + e, j->b + m, 0, j->y + e, run);
        }
        if (j->act.kind != MC_ACT_NONE) mc_act_apply(&j->act, j->y + e, j->y + e, run);
        e += run;
    }
}

int mc_binary(mc_threads *t, int isa, int op, long outer, long mid, long inner,
              const float *a, const float *b, int swap, int act, float act_a, float act_b,
              float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (outer <= 0 || mid <= 0 || inner <= 0 || op < MC_BIN_ADD || op > MC_BIN_MUL)
        return MC_ERR_ARG;
    bin_job j = {op, swap, mid, inner, outer * mid * inner, 0, a, b, y, {act, act_a, act_b}};
    long chunks = chunk_count(t, j.total);
    j.per_task = MC_CEIL_DIV(j.total, chunks);
    mc_op_begin(t);
    mc_parallel(t, MC_CEIL_DIV(j.total, j.per_task), bin_task, &j);
    mc_op_end(t);
    return MC_OK;
}

/* -- unary ------------------------------------------------------------------------------ */
typedef struct {
    const float *x;
    float *y;
    long n, per_task;
    mc_act act;
} un_job;

static void un_task(void *raw, long task, int tid) {
    (void)tid;
    un_job *j = raw;
    long e = task * j->per_task, end = MC_MIN(j->n, e + j->per_task);
    mc_act_apply(&j->act, j->x + e, j->y + e, end - e);
}

int mc_unary(mc_threads *t, int isa, long n, const float *x, int act, float act_a,
             float act_b, float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (n <= 0) return MC_OK;
    un_job j = {x, y, n, 0, {act, act_a, act_b}};
    j.per_task = MC_CEIL_DIV(n, chunk_count(t, n));
    mc_op_begin(t);
    mc_parallel(t, MC_CEIL_DIV(n, j.per_task), un_task, &j);
    mc_op_end(t);
    return MC_OK;
}

/* -- softmax over the last axis -------------------------------------------------------- */
typedef struct {
    const float *x;
    float *y;
    long rows, cols, per_task;
} sm_job;

static void sm_task(void *raw, long task, int tid) {
    (void)tid;
    sm_job *j = raw;
    long first = task * j->per_task, last = MC_MIN(j->rows, first + j->per_task);
    for (long r = first; r < last; r++) {
        const float *x = j->x + r * j->cols;
        float *y = j->y + r * j->cols;
        float mx = x[0];
        for (long i = 1; i < j->cols; i++) mx = x[i] > mx ? x[i] : mx;
        double sum = 0.0;
        for (long i = 0; i < j->cols; i++) {
            y[i] = expf(x[i] - mx);
            sum += y[i];
        }
        const float total = (float)sum;
        for (long i = 0; i < j->cols; i++) y[i] = y[i] / total;
    }
}

int mc_softmax(mc_threads *t, int isa, long rows, long cols, const float *x, float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (cols <= 0) return MC_ERR_ARG;
    sm_job j = {x, y, rows, cols, 1};
    j.per_task = MC_CEIL_DIV(rows, chunk_count(t, rows * cols));
    mc_op_begin(t);
    mc_parallel(t, MC_CEIL_DIV(rows, j.per_task), sm_task, &j);
    mc_op_end(t);
    return MC_OK;
}
