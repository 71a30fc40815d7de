/* Pow (fp32): y = x ^ e with any numpy broadcast (broadcast.h), or with one exponent for
 * the whole tensor (the common case: a constant such as 2 or 0.5).
 *
 * The reference computes pow in double and rounds once to float, so does the general path
 * here. A scalar exponent of 2, 1, 0.5 or -1 is x * x, x, sqrtf(x), 1 / x in float: each is
 * exactly the double result rounded to float (a float square is exact in double; double
 * rounding is harmless for a quotient or a square root), and vectorises. Threads split the flat output range.
 */
#include <math.h>
#include <string.h>

#include "broadcast.h"

typedef struct {
    mc_bc bc;
    long per_task;
    float e;
    const float *x, *p;
    float *y;
} pow_job;

static void pow_task(void *raw, long task, int tid) {
    (void)tid;
    const pow_job *j = raw;
    const int last = j->bc.rank - 1;
    const long n = j->bc.shape[last], sx = j->bc.st[0][last], sp = j->bc.st[1][last];
    long e = task * j->per_task, end = MC_MIN(j->bc.total, e + j->per_task), off[MC_BC_OPS];
    while (e < end) {
        long run = MC_MIN(n - mc_bc_start(&j->bc, e, off), end - e);
        const float *x = j->x + off[0], *p = j->p + off[1];
        float *y = j->y + e;
        for (long i = 0; i < run; i++) y[i] = (float)pow((double)x[i * sx], (double)p[i * sp]);
        e += run;
    }
}

int mc_pow(mc_threads *t, int rank, const long *shape, const float *x, const float *p,
           const long *strides, float *y) {
    pow_job j;
    memset(&j, 0, sizeof j);
    if (mc_bc_init(&j.bc, 2, rank, shape, strides)) return MC_ERR_ARG;
    if (j.bc.total == 0) return MC_OK;
    j.x = x;
    j.p = p;
    j.y = y;
    /* pow in double costs about 20 ns an element: count it as 400 bytes moved */
    mc_bc_run(t, j.bc.total, 400.0, &j.per_task, pow_task, &j);
    return MC_OK;
}

/* -- one exponent ------------------------------------------------------------------------- */
static void pow_scalar_task(void *raw, long task, int tid) {
    (void)tid;
    const pow_job *j = raw;
    long first = task * j->per_task, n = MC_MIN(j->bc.total, first + j->per_task) - first;
    const float *x = j->x + first, e = j->e;
    float *y = j->y + first;
    if (e == 2.0f)
        for (long i = 0; i < n; i++) y[i] = x[i] * x[i];
    else if (e == 1.0f)
        memmove(y, x, sizeof(float) * (size_t)n);
    else if (e == 0.5f) /* pow gives +0 for -0 and +inf for -inf, where sqrt does not */
        for (long i = 0; i < n; i++) y[i] = x[i] == -INFINITY ? INFINITY : sqrtf(x[i]) + 0.0f;
    else if (e == -1.0f)
        for (long i = 0; i < n; i++) y[i] = 1.0f / x[i];
    else
        for (long i = 0; i < n; i++) y[i] = (float)pow((double)x[i], (double)e);
}

int mc_pow_scalar(mc_threads *t, long n, const float *x, float e, float *y) {
    if (n < 0) return MC_ERR_ARG;
    if (n == 0) return MC_OK;
    pow_job j;
    memset(&j, 0, sizeof j);
    j.bc.total = n;
    j.e = e;
    j.x = x;
    j.y = y;
    const int fast = e == 2.0f || e == 1.0f || e == 0.5f || e == -1.0f;
    mc_bc_run(t, n, fast ? 8.0 : 400.0, &j.per_task, pow_scalar_task, &j);
    return MC_OK;
}
