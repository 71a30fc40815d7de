/* Normalisations and reductions over one run of axes, with the tensor seen as
 * (outer, n, inner): n elements to combine, `inner` apart (inner == 1: contiguous rows).
 *
 *   softmax     y = exp(x - max) / sum(exp(x - max)) along n (sums in double)
 *   layernorm   y = (x - mean) / sqrt(var + eps) * scale + bias over rows of n (inner 1),
 *               statistics in double, as the float32 reference to within rounding
 *   affine      y = act(x * scale[m] + shift[m]) per channel m of (outer, mid, inner):
 *               BatchNormalization folded into scale and shift when the op is prepared
 *   reduce      sum / mean / max / min along n
 * Threads split the outer index (and the inner one when outer is small). Softmax along an
 * axis with inner > 1 runs blocks of lines side by side (softmax_lines).
 */
#include <math.h>

#include "internal.h"

typedef struct {
    int kind, isa;
    long outer, n, inner, per_task;
    const float *x, *a, *b;
    float *y;
    float eps;
    mc_act act;
} norm_job;

enum { JOB_SOFTMAX = 0, JOB_LAYERNORM = 1, JOB_AFFINE = 2, JOB_REDUCE = 3 };

/* One (outer o, inner i) line of n elements. */
static void softmax_line(const norm_job *j, const float *x, float *y) {
    const long n = j->n, s = j->inner;
    float mx = x[0];
    for (long k = 1; k < n; k++) mx = x[k * s] > mx ? x[k * s] : mx;
    double sum = 0.0;
    for (long k = 0; k < n; k++) {
        y[k * s] = expf(x[k * s] - mx);
        sum += y[k * s];
    }
    const float total = (float)sum;
    for (long k = 0; k < n; k++) y[k * s] = y[k * s] / total;
}

/* Lines i0 .. i0 + count - 1 (count <= SOFTMAX_BLOCK) of outer index o when they are
 * `inner` apart: each step along n reads `count` consecutive floats, so the max, the
 * exponentials (mc_act_apply's vector exp) and the sums run as vectors across the lines
 * (one line at a time, (1, 16, 8400) along axis 1 took 451 us, each expf a scalar call). */
#define SOFTMAX_BLOCK 256
static void softmax_lines(const norm_job *j, long o, long i0, long count) {
    const long n = j->n, s = j->inner;
    const float *x = j->x + o * n * s + i0;
    float *y = j->y + o * n * s + i0;
    float mx[SOFTMAX_BLOCK];
    double sum[SOFTMAX_BLOCK];
    for (long i = 0; i < count; i++) {
        mx[i] = x[i];
        sum[i] = 0.0;
    }
    for (long k = 1; k < n; k++)
        for (long i = 0; i < count; i++) mx[i] = x[k * s + i] > mx[i] ? x[k * s + i] : mx[i];
    const mc_act ex = {MC_UN_EXP, 0.0f, 0.0f};
    for (long k = 0; k < n; k++) {
        float *yk = y + k * s;
        for (long i = 0; i < count; i++) yk[i] = x[k * s + i] - mx[i];
        mc_act_apply(&ex, j->isa, yk, yk, count);
        for (long i = 0; i < count; i++) sum[i] += yk[i];
    }
    for (long i = 0; i < count; i++) mx[i] = (float)sum[i]; /* the totals */
    for (long k = 0; k < n; k++)
        for (long i = 0; i < count; i++) y[k * s + i] = y[k * s + i] / mx[i];
}

static void layernorm_row(const norm_job *j, const float *x, float *y) {
    const long n = j->n;
    double sum = 0.0, sq = 0.0;
    for (long k = 0; k < n; k++) sum += x[k];
    const float mean = (float)(sum / (double)n);
    for (long k = 0; k < n; k++) {
        double d = (double)(x[k] - mean);
        sq += d * d;
    }
    const float inv = (float)(1.0 / sqrt((double)(float)(sq / (double)n) + (double)j->eps));
    for (long k = 0; k < n; k++) {
        float v = (x[k] - mean) * inv;
        y[k] = j->b ? v * j->a[k] + j->b[k] : v * j->a[k];
    }
}

static void reduce_line(const norm_job *j, const float *x, float *y) {
    const long n = j->n, s = j->inner;
    const int kind = j->act.kind; /* mc_reduce_kind */
    if (kind == MC_REDUCE_MAX || kind == MC_REDUCE_MIN) {
        float v = x[0];
        for (long k = 1; k < n; k++) {
            float e = x[k * s];
            if (e != e) { /* NaN wins, as in numpy */
                v = e;
                break;
            }
            v = kind == MC_REDUCE_MAX ? (e > v ? e : v) : (e < v ? e : v);
        }
        *y = v;
        return;
    }
    double sum = 0.0;
    for (long k = 0; k < n; k++) sum += x[k * s];
    *y = (float)(kind == MC_REDUCE_MEAN ? sum / (double)n : sum);
}

static void norm_task(void *raw, long task, int tid) {
    (void)tid;
    const norm_job *j = raw;
    const long lines = j->kind == JOB_AFFINE ? j->outer : j->outer * j->inner;
    long first = task * j->per_task, last = MC_MIN(lines, first + j->per_task);
    if (j->kind == JOB_AFFINE) { /* lines are (outer, mid) pairs of `inner` elements */
        for (long l = first; l < last; l++) {
            const long m = l % j->n;
            const float *x = j->x + l * j->inner;
            float *y = j->y + l * j->inner;
            const float sc = j->a[m], sh = j->b[m];
            for (long i = 0; i < j->inner; i++) y[i] = x[i] * sc + sh;
            if (j->act.kind != MC_ACT_NONE) mc_act_apply(&j->act, j->isa, y, y, j->inner);
        }
        return;
    }
    if (j->kind == JOB_SOFTMAX && j->inner > 1) { /* lines in blocks of SOFTMAX_BLOCK */
        for (long l = first; l < last;) {
            const long o = l / j->inner, i = l % j->inner;
            const long count = MC_MIN(MC_MIN(SOFTMAX_BLOCK, j->inner - i), last - l);
            softmax_lines(j, o, i, count);
            l += count;
        }
        return;
    }
    for (long l = first; l < last; l++) {
        const long o = l / j->inner, i = l % j->inner;
        const float *x = j->x + o * j->n * j->inner + i;
        if (j->kind == JOB_REDUCE)
            reduce_line(j, x, j->y + o * j->inner + i);
        else if (j->kind == JOB_SOFTMAX)
            softmax_line(j, x, j->y + o * j->n * j->inner + i);
        else
            layernorm_row(j, x, j->y + o * j->n);
    }
}

static int run(mc_threads *t, norm_job *j, long lines, double ns_per_line) {
    if (!mc_isa_get(j->isa)) return MC_ERR_ISA;
    if (lines <= 0) return MC_OK;
    int threads = mc_threads_for(t, (double)lines * ns_per_line);
    j->per_task = MC_CEIL_DIV(lines, threads > 1 ? 4L * threads : 1);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(lines, j->per_task), norm_task, j);
    mc_op_end(t);
    return MC_OK;
}

int mc_softmax(mc_threads *t, int isa, long outer, long n, long inner, const float *x,
               float *y) {
    if (n <= 0 || inner <= 0) return MC_ERR_ARG;
    norm_job j = {JOB_SOFTMAX, isa, outer, n, inner, 1, x, NULL, NULL, y, 0.0f, {0, 0, 0}};
    return run(t, &j, outer * inner, (double)n * 8.0);
}

int mc_layernorm(mc_threads *t, int isa, long rows, long cols, const float *x,
                 const float *scale, const float *bias, float eps, float *y) {
    if (cols <= 0) return MC_ERR_ARG;
    norm_job j = {JOB_LAYERNORM, isa, rows, cols, 1, 1, x, scale, bias, y, eps, {0, 0, 0}};
    return run(t, &j, rows, (double)cols * 3.0);
}

int mc_affine(mc_threads *t, int isa, long outer, long mid, long inner, const float *x,
              const float *scale, const float *shift, int act, float act_a, float act_b,
              float *y) {
    if (mid <= 0 || inner <= 0) return MC_ERR_ARG;
    norm_job j = {JOB_AFFINE, isa, outer, mid, inner, 1, x, scale, shift, y, 0.0f,
                  {act, act_a, act_b}};
    /* lines: (outer, mid) pairs, each `inner` elements */
    j.outer = outer * mid;
    j.inner = inner;
    const long lines = outer * mid;
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    int threads = mc_threads_for(t, (double)lines * inner * 8.0 * MC_NS_PER_BYTE);
    j.per_task = MC_CEIL_DIV(lines, threads > 1 ? 4L * threads : 1);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(lines, j.per_task), norm_task, &j);
    mc_op_end(t);
    return MC_OK;
}

int mc_reduce(mc_threads *t, int isa, int kind, long outer, long n, long inner,
              const float *x, float *y) {
    if (n <= 0 || inner <= 0 || kind < MC_REDUCE_SUM || kind > MC_REDUCE_MIN) return MC_ERR_ARG;
    norm_job j = {JOB_REDUCE, isa, outer, n, inner, 1, x, NULL, NULL, y, 0.0f, {kind, 0, 0}};
    return run(t, &j, outer * inner, (double)n);
}
