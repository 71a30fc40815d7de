/* Data movement: strided N-d copies (Transpose, Slice, Concat, Split, constant Pad) and
 * separable 2-D resizing (Resize / Upsample: nearest, linear, cubic as per-axis taps).
 *
 * A copy moves a box of `shape` from src to dst, each with its own strides (in elements);
 * the axes are merged where both sides are contiguous across them, and the innermost run
 * is a memcpy when both strides are 1. Threads split the outermost axes.
 */
#include <string.h>

#include "internal.h"

#define COPY_MAX_RANK 8

typedef struct {
    int rank;
    long shape[COPY_MAX_RANK], ss[COPY_MAX_RANK], ds[COPY_MAX_RANK];
    long rows, per_task; /* rows: product of all but the last axis */
    const float *src;
    float *dst;
} copy_job;

/* Copy rows [first, last) of the box (a row: one run along the last axis). */
static void copy_task(void *raw, long task, int tid) {
    (void)tid;
    const copy_job *j = raw;
    const int r = j->rank, last_axis = r - 1;
    const long n = j->shape[last_axis], sstep = j->ss[last_axis], dstep = j->ds[last_axis];
    long first = task * j->per_task, stop = MC_MIN(j->rows, first + j->per_task);
    for (long row = first; row < stop; row++) {
        long rem = row, so = 0, dof = 0;
        for (int a = last_axis - 1; a >= 0; a--) {
            long i = rem % j->shape[a];
            rem /= j->shape[a];
            so += i * j->ss[a];
            dof += i * j->ds[a];
        }
        const float *s = j->src + so;
        float *d = j->dst + dof;
        if (sstep == 1 && dstep == 1)
            memcpy(d, s, sizeof(float) * (size_t)n);
        else
            for (long i = 0; i < n; i++) d[i * dstep] = s[i * sstep];
    }
}

int mc_copy_nd(mc_threads *t, int rank, const long *shape, const float *src,
               const long *src_strides, float *dst, const long *dst_strides) {
    if (rank < 1 || rank > COPY_MAX_RANK) return MC_ERR_ARG;
    copy_job j = {0};
    j.src = src;
    j.dst = dst;
    long total = 1;
    for (int a = 0; a < rank; a++) {
        if (shape[a] <= 0) return MC_OK;
        total *= shape[a];
        if (shape[a] == 1) continue; /* drop unit axes */
        int k = j.rank;
        /* merge with the previous axis when both sides are contiguous across it */
        if (k > 0 && j.ss[k - 1] == src_strides[a] * shape[a] &&
            j.ds[k - 1] == dst_strides[a] * shape[a]) {
            j.shape[k - 1] *= shape[a];
            j.ss[k - 1] = src_strides[a];
            j.ds[k - 1] = dst_strides[a];
            continue;
        }
        j.shape[k] = shape[a];
        j.ss[k] = src_strides[a];
        j.ds[k] = dst_strides[a];
        j.rank++;
    }
    if (j.rank == 0) { /* a single element */
        j.rank = 1;
        j.shape[0] = 1;
        j.ss[0] = j.ds[0] = 1;
    }
    j.rows = total / j.shape[j.rank - 1];
    int threads = mc_threads_for(t, 8.0 * (double)total * MC_NS_PER_BYTE);
    j.per_task = MC_CEIL_DIV(j.rows, threads > 1 ? 4L * threads : 1);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(j.rows, j.per_task), copy_task, &j);
    mc_op_end(t);
    return MC_OK;
}

int mc_fill(mc_threads *t, long n, float value, float *dst) {
    (void)t;
    for (long i = 0; i < n; i++) dst[i] = value;
    return MC_OK;
}

/* -- resize: y[p, oy, ox] = sum_a wy[oy, a] * sum_b wx[ox, b] * x[p, iy[oy, a], ix[ox, b]] -- */
typedef struct {
    const mc_resize_params *r;
    const float *x;
    float *y;
    mc_threads *t;
    long per_task;
    int failed;
} resize_job;

static void resize_task(void *raw, long task, int tid) {
    resize_job *j = raw;
    const mc_resize_params *r = j->r;
    /* per plane: rows interpolated along H into tmp (oh x w), then along W */
    float *tmp = r->ty > 1 ? mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * (size_t)r->w)
                           : NULL;
    if (r->ty > 1 && !tmp) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    long first = task * j->per_task, last = MC_MIN(r->planes, first + j->per_task);
    for (long p = first; p < last; p++) {
        const float *x = j->x + p * r->h * r->w;
        float *y = j->y + p * r->oh * r->ow;
        for (int oy = 0; oy < r->oh; oy++) {
            const int *iy = r->iy + oy * r->ty;
            const float *wy = r->wy + oy * r->ty;
            const float *row = x + (long)iy[0] * r->w;
            if (r->ty > 1) { /* the H-interpolated input row, as the reference: H first */
                for (int i = 0; i < r->w; i++) tmp[i] = wy[0] * row[i];
                for (int a = 1; a < r->ty; a++) {
                    const float *ra = x + (long)iy[a] * r->w;
                    for (int i = 0; i < r->w; i++) tmp[i] += wy[a] * ra[i];
                }
                row = tmp;
            }
            float *yr = y + (long)oy * r->ow;
            if (r->tx == 1) {
                for (int ox = 0; ox < r->ow; ox++) yr[ox] = row[r->ix[ox]];
                continue;
            }
            for (int ox = 0; ox < r->ow; ox++) {
                const int *ix = r->ix + ox * r->tx;
                const float *wx = r->wx + ox * r->tx;
                float acc = wx[0] * row[ix[0]];
                for (int b = 1; b < r->tx; b++) acc += wx[b] * row[ix[b]];
                yr[ox] = acc;
            }
        }
    }
}

int mc_resize2d(const mc_resize_params *r, mc_threads *t, const float *x, float *y) {
    if (r->planes <= 0 || r->oh <= 0 || r->ow <= 0 || r->tx < 1 || r->ty < 1) return MC_ERR_ARG;
    resize_job j = {r, x, y, t, 1, 0};
    double work = (double)r->planes * r->oh * r->ow * (r->tx + r->ty) * 2.0 * MC_NS_PER_DIRECT_FLOP;
    int threads = mc_threads_for(t, work);
    j.per_task = MC_CEIL_DIV(r->planes, threads > 1 ? 4L * threads : 1);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(r->planes, j.per_task), resize_task, &j);
    mc_op_end(t);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}
