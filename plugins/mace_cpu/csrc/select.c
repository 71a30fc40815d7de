/* Comparison and selection: Equal / Less / LessOrEqual / Greater / GreaterOrEqual (fp32 in,
 * bool out: one byte, 0 or 1, as numpy's bool), Where (bool condition, fp32 values) with
 * any numpy broadcast (broadcast.h), and Gather (entries of any element size picked along
 * one axis by int64 indices).
 *
 * Comparisons follow IEEE: NaN compares false (unequal to everything). Memory-bound plain
 * loops; a run with all strides 1 (or one operand a scalar) gets its own loop so the
 * compiler vectorises it. Threads split the flat output range.
 */
#include <string.h>

#include "broadcast.h"

/* -- compare ------------------------------------------------------------------------------ */
#define CMP_RUN(OP)                                                                     \
    do {                                                                                \
        if (sa == 1 && sb == 1)                                                         \
            for (long i = 0; i < n; i++) y[i] = a[i] OP b[i];                           \
        else if (sa == 1 && sb == 0) {                                                  \
            const float s = b[0];                                                       \
            for (long i = 0; i < n; i++) y[i] = a[i] OP s;                              \
        } else if (sa == 0 && sb == 1) {                                                \
            const float s = a[0];                                                       \
            for (long i = 0; i < n; i++) y[i] = s OP b[i];                              \
        } else                                                                          \
            for (long i = 0; i < n; i++) y[i] = a[i * sa] OP b[i * sb];                 \
    } while (0)

/* y[i] = a[i * sa] op b[i * sb] for i < n */
static void cmp_run(int op, const float *a, long sa, const float *b, long sb, unsigned char *y,
                    long n) {
    switch (op) {
    case MC_CMP_LESS: CMP_RUN(<); break;
    case MC_CMP_LESS_EQUAL: CMP_RUN(<=); break;
    case MC_CMP_GREATER: CMP_RUN(>); break;
    case MC_CMP_GREATER_EQUAL: CMP_RUN(>=); break;
    default: CMP_RUN(==);
    }
}

typedef struct {
    mc_bc bc;
    int op;
    long per_task;
    const float *a, *b;
    const unsigned char *c;
    unsigned char *yb;
    float *yf;
} sel_job;

static void cmp_task(void *raw, long task, int tid) {
    (void)tid;
    const sel_job *j = raw;
    const int last = j->bc.rank - 1;
    const long n = j->bc.shape[last];
    long e = task * j->per_task, end = MC_MIN(j->bc.total, e + j->per_task), off[MC_BC_OPS];
    while (e < end) {
        long run = MC_MIN(n - mc_bc_start(&j->bc, e, off), end - e);
        cmp_run(j->op, j->a + off[0], j->bc.st[0][last], j->b + off[1], j->bc.st[1][last],
                j->yb + e, run);
        e += run;
    }
}

int mc_compare(mc_threads *t, int op, int rank, const long *shape, const float *a,
               const float *b, const long *strides, unsigned char *y) {
    if (op < MC_CMP_EQUAL || op > MC_CMP_GREATER_EQUAL) return MC_ERR_ARG;
    sel_job j;
    memset(&j, 0, sizeof j);
    if (mc_bc_init(&j.bc, 2, rank, shape, strides)) return MC_ERR_ARG;
    if (j.bc.total == 0) return MC_OK;
    j.op = op;
    j.a = a;
    j.b = b;
    j.yb = y;
    mc_bc_run(t, j.bc.total, 9.0, &j.per_task, cmp_task, &j);
    return MC_OK;
}

/* -- Where ------------------------------------------------------------------------------- */
static void where_task(void *raw, long task, int tid) {
    (void)tid;
    const sel_job *j = raw;
    const int last = j->bc.rank - 1;
    const long n = j->bc.shape[last], sc = j->bc.st[0][last], sx = j->bc.st[1][last],
               sy = j->bc.st[2][last];
    long e = task * j->per_task, end = MC_MIN(j->bc.total, e + j->per_task), off[MC_BC_OPS];
    while (e < end) {
        long run = MC_MIN(n - mc_bc_start(&j->bc, e, off), end - e);
        const unsigned char *c = j->c + off[0];
        const float *x = j->a + off[1], *y = j->b + off[2];
        float *out = j->yf + e;
        if (sc == 1 && sx == 1 && sy == 1)
            for (long i = 0; i < run; i++) out[i] = c[i] ? x[i] : y[i];
        else if (sc == 0) /* one condition for the whole run: a copy of either side */
            for (long i = 0, s = c[0] ? sx : sy; i < run; i++) out[i] = (c[0] ? x : y)[i * s];
        else
            for (long i = 0; i < run; i++) out[i] = c[i * sc] ? x[i * sx] : y[i * sy];
        e += run;
    }
}

int mc_where(mc_threads *t, int rank, const long *shape, const unsigned char *cond,
             const float *x, const float *y, const long *strides, float *out) {
    sel_job j;
    memset(&j, 0, sizeof j);
    if (mc_bc_init(&j.bc, 3, rank, shape, strides)) return MC_ERR_ARG;
    if (j.bc.total == 0) return MC_OK;
    j.c = cond;
    j.a = x;
    j.b = y;
    j.yf = out;
    mc_bc_run(t, j.bc.total, 13.0, &j.per_task, where_task, &j);
    return MC_OK;
}

/* -- Gather: dst (outer, nidx, inner) = src (outer, axis_len, inner) at idx along axis ------ */
typedef struct {
    long axis_len, inner_bytes, nidx, rows, per_task;
    const long long *idx;
    const char *src;
    char *dst;
} gather_job;

static void gather_task(void *raw, long task, int tid) {
    (void)tid;
    const gather_job *j = raw;
    long first = task * j->per_task, stop = MC_MIN(j->rows, first + j->per_task);
    for (long row = first; row < stop; row++) {
        long o = row / j->nidx, k = j->idx[row % j->nidx];
        if (k < 0) k += j->axis_len;
        memcpy(j->dst + row * j->inner_bytes, j->src + (o * j->axis_len + k) * j->inner_bytes,
               (size_t)j->inner_bytes);
    }
}

int mc_gather(mc_threads *t, long outer, long axis_len, long inner_bytes,
              const long long *idx, long nidx, const void *src, void *dst) {
    if (outer < 0 || axis_len < 0 || inner_bytes < 0 || nidx < 0) return MC_ERR_ARG;
    for (long i = 0; i < nidx; i++) /* indices in [-axis_len, axis_len), as ONNX asks */
        if (idx[i] < -axis_len || idx[i] >= axis_len) return MC_ERR_ARG;
    gather_job j = {axis_len, inner_bytes, nidx, outer * nidx, 1, idx, src, dst};
    if (j.rows == 0 || inner_bytes == 0) return MC_OK;
    int threads = mc_threads_for(t, 2.0 * (double)j.rows * inner_bytes * MC_NS_PER_BYTE);
    j.per_task = MC_CEIL_DIV(j.rows, threads > 1 ? 4L * threads : 1);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(j.rows, j.per_task), gather_task, &j);
    mc_op_end(t);
    return MC_OK;
}
