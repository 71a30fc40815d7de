/* MaxPool / AveragePool (2-D, pads, strides, dilations, ceil_mode via the output size) and
 * GlobalAveragePool on NCHW.
 *
 * Windowed pooling accumulates tap by tap over a whole output row, like the general
 * depthwise kernel: for each (ky, kx) the valid output range is computed once, so there
 * are no per-pixel bounds checks. AveragePool divides by the number of taps inside the
 * input, or inside input + pads with count_include_pad (never the ceil_mode overhang),
 * as the reference does. Threads split the N x C planes.
 */
#include <math.h>

#include "internal.h"

/* How many taps of a window starting at `start` (step d, k taps) fall in [lo, hi). */
static int taps_inside(int start, int k, int d, int lo, int hi) {
    int n = 0;
    for (int i = 0; i < k; i++) {
        int v = start + i * d;
        n += v >= lo && v < hi;
    }
    return n;
}

static void pool_plane(const mc_pool_params *p, const float *x, float *y, float *xcount) {
    const int w = p->w, ow = p->ow, sw = p->sw, is_max = p->kind == MC_POOL_MAX;
    int xlo = p->count_include_pad ? -p->pl : 0, xhi = p->count_include_pad ? w + p->pr : w;
    int ylo = p->count_include_pad ? -p->pt : 0, yhi = p->count_include_pad ? p->h + p->pb : p->h;
    if (!is_max)
        for (int ox = 0; ox < ow; ox++)
            xcount[ox] = (float)taps_inside(ox * sw - p->pl, p->kw, p->dw, xlo, xhi);
    for (int oy = 0; oy < p->oh; oy++) {
        float *yr = y + (long)oy * ow;
        const float init = is_max ? -INFINITY : 0.0f;
        for (int ox = 0; ox < ow; ox++) yr[ox] = init;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = oy * p->sh - p->pt + ky * p->dh;
            if (iy < 0 || iy >= p->h) continue;
            const float *row = x + (long)iy * w;
            for (int kx = 0; kx < p->kw; kx++) {
                int ix0 = kx * p->dw - p->pl;
                int lo = ix0 >= 0 ? 0 : MC_CEIL_DIV(-ix0, sw);
                int hi = ix0 >= w ? 0 : MC_CEIL_DIV(w - ix0, sw);
                lo = MC_MIN(lo, ow);
                hi = MC_MAX(lo, MC_MIN(hi, ow));
                if (is_max && sw == 1) {
                    for (int ox = lo; ox < hi; ox++) {
                        float v = row[ox + ix0];
                        yr[ox] = v > yr[ox] ? v : yr[ox];
                    }
                } else if (is_max) {
                    for (int ox = lo; ox < hi; ox++) {
                        float v = row[ox * sw + ix0];
                        yr[ox] = v > yr[ox] ? v : yr[ox];
                    }
                } else if (sw == 1) {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += row[ox + ix0];
                } else {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += row[ox * sw + ix0];
                }
            }
        }
        if (!is_max) {
            float cy = (float)taps_inside(oy * p->sh - p->pt, p->kh, p->dh, ylo, yhi);
            for (int ox = 0; ox < ow; ox++) {
                float count = cy * xcount[ox];
                yr[ox] = yr[ox] / (count > 1.0f ? count : 1.0f);
            }
        }
    }
}

typedef struct {
    const mc_pool_params *p;
    const float *x;
    float *y;
    mc_threads *t;
    long planes, per_task;
    int failed;
} pool_job;

static void pool_task(void *raw, long task, int tid) {
    pool_job *j = raw;
    const mc_pool_params *p = j->p;
    float *xcount = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * (size_t)p->ow);
    if (!xcount) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    long first = task * j->per_task, last = MC_MIN(j->planes, first + j->per_task);
    for (long i = first; i < last; i++)
        pool_plane(p, j->x + i * p->h * p->w, j->y + i * p->oh * p->ow, xcount);
}

/* About 4 tasks per thread worth using (*threads) for planes of `work` ns each. */
static long planes_per_task(mc_threads *t, long planes, long plane_size, double work,
                            int *threads) {
    *threads = mc_threads_for(t, work * (double)planes);
    long per_task = MC_CEIL_DIV(planes, 4L * *threads);
    long min_planes = MC_CEIL_DIV(8192L, MC_MAX(plane_size, 1));
    return MC_MAX(1, MC_MIN(MC_MAX(per_task, min_planes), planes));
}

int mc_pool2d(const mc_pool_params *p, mc_threads *t, int isa, const float *x, float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (p->oh <= 0 || p->ow <= 0 || p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 ||
        p->dh <= 0 || p->dw <= 0)
        return MC_ERR_ARG;
    pool_job j = {p, x, y, t, (long)p->n * p->c, 1, 0};
    int threads;
    j.per_task = planes_per_task(t, j.planes, (long)p->h * p->w,
                                 (double)p->oh * p->ow * p->kh * p->kw * MC_NS_PER_DIRECT_FLOP,
                                 &threads);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(j.planes, j.per_task), pool_task, &j);
    mc_op_end(t);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

typedef struct {
    const float *x;
    float *y;
    long planes, size, per_task;
    int isa;
} gap_job;

/* The sum of n floats in double: 8 running sums (lane u takes elements u, u + 8, ...). */
static double plane_sum(const float *x, long n) {
    double s[8] = {0};
    long k = 0;
    for (; k + 8 <= n; k += 8)
        for (int u = 0; u < 8; u++) s[u] += x[k + u];
    for (; k < n; k++) s[0] += x[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#ifdef MC_X86
#include <immintrin.h>

/* The same sums in two vectors of 8 doubles (16 floats a step, the last step masked): a
 * 7x7 plane in 4 steps instead of 49 scalar adds (MobileNetV1: 1024 planes, 7.8 -> 5.3
 * us). */
MC_TARGET_AVX512 static double plane_sum_avx512(const float *x, long n) {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (long k = 0; k < n; k += 16) {
        const __mmask16 m = (__mmask16)(n - k >= 16 ? 0xffffu : (1u << (n - k)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                   _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}
#endif

static void gap_task(void *raw, long task, int tid) {
    (void)tid;
    gap_job *j = raw;
    long first = task * j->per_task, last = MC_MIN(j->planes, first + j->per_task);
    for (long i = first; i < last; i++) {
        const float *x = j->x + i * j->size;
#ifdef MC_X86
        const double total = j->isa == MC_ISA_AVX512 ? plane_sum_avx512(x, j->size)
                                                     : plane_sum(x, j->size);
#else
        const double total = plane_sum(x, j->size);
#endif
        j->y[i] = (float)(total / (double)j->size);
    }
}

int mc_global_avg_pool(mc_threads *t, int isa, long planes, long size, const float *x,
                       float *y) {
    if (!mc_isa_get(isa)) return MC_ERR_ISA;
    if (size <= 0) return MC_ERR_ARG;
    int threads;
    gap_job j = {x, y, planes, size,
                 planes_per_task(t, planes, size, 4.0 * size * MC_NS_PER_BYTE, &threads), isa};
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(planes, j.per_task), gap_task, &j);
    mc_op_end(t);
    return MC_OK;
}
