/* Depthwise convolution (group == C, one input channel per group, any multiplier M / C).
 *
 * The plan (made with the conv's) picks per geometry:
 *   3x3 rows  3x3, dilation 1, equal strides 1 or 2 on planes at least 16 wide (and any
 *             stride-2 one): each output row from three input rows (on x86 hand-written in
 *             depthwise_x86.c for AVX-512 and AVX2, two output rows per pass; elsewhere the
 *             portable loops of depthwise_body.h)
 *   flat      stride 1, output as wide as the input (AVX-512 / AVX2): the whole plane as
 *             one run of vectors, taps read in place under a per-op mask table
 *   grid      other strides 1 / 2 and kernel sizes: a padded, phase-split copy of each
 *             plane, then the same flat loop (depthwise_grid.c)
 *   general   anything else: tap by tap over output rows.
 * Bias is the initial value; ReLU / Clip are fused, other activations run on each finished
 * plane. Threads split the planes, except on planes of 28 output rows a thread or more with
 * the hand-written x86 kernels: there each thread takes one band of rows of every plane
 * (dw_band_task), the pixels that the GEMMs of the 1x1 convs around it, split by pixels,
 * write and read on the same thread. With planes split, the depthwise convs of a MobileNetV2
 * at 2 threads took 1.4-2.0x their 1-thread time on this host while its two vCPUs were slow
 * to share data (a cache line's round trip 420 ns instead of 85; LiteRT, NHWC and split by
 * pixels throughout, kept scaling). The bands alone did not cure that (the biggest still
 * took 1.4x), but on a quiet host they are about 1% faster over the whole model (8 of 9
 * interleaved pairs) and the whole model ran 5-8% faster in those spells.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DW_NAME(name) name##_scalar
#define DW_TARGET
#include "depthwise_body.h"
#undef DW_NAME
#undef DW_TARGET

#ifdef MC_X86
#define DW_NAME(name) name##_avx2
#define DW_TARGET MC_TARGET_AVX2
#include "depthwise_body.h"
#undef DW_NAME
#undef DW_TARGET

#define DW_NAME(name) name##_avx512
#define DW_TARGET MC_TARGET_AVX512
#include "depthwise_body.h"
#undef DW_NAME
#undef DW_TARGET
#endif

typedef void (*dw3x3_fn)(const mc_conv_params *, const float *, const float *, float, float *,
                         const float *);
typedef void (*dw_fn)(const mc_conv_params *, const float *, const float *, float, float *);

typedef struct {
    const mc_conv_params *p;
    const float *x, *w, *bias;
    float *y;
    mc_threads *t;
    int isa;
    dw3x3_fn fast;       /* NULL when the geometry needs the general kernel */
    dw_fn general;
    mc_dw3x3_clamp_fn fast_isa; /* hand-written 3x3 kernel with the clamp fused, or NULL */
    int loops;           /* LOOPS_*: the flat or grid kernels of depthwise_grid.c */
    mc_dw_grid_ops_t ops;
    const mc_dw_grid *geo;
    const long *toff;    /* flat */
    const uint16_t *masks;
    long planes_per_task, planes;
    int bands, groups, unit; /* row bands (dw_band_task): bands x plane groups, rows by unit */
    int failed;
} dw_job;

enum { LOOPS_NONE = 0, LOOPS_FLAT = 1, LOOPS_GRID = 2 };

int mc_dw_fused_clamp(const mc_conv_params *p, float *lo, float *hi) {
    const int clamp = p->act == MC_ACT_RELU || p->act == MC_ACT_CLIP;
    *lo = p->act == MC_ACT_CLIP ? p->act_a : (clamp ? 0.0f : -INFINITY);
    *hi = p->act == MC_ACT_CLIP ? p->act_b : INFINITY;
    return clamp;
}

/* This thread's row of p->w zeros (the rows above and below the image), or NULL with the
 * job marked failed. */
static float *zero_row(dw_job *j, int tid) {
    float *zero = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * (size_t)j->p->w);
    if (!zero) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    memset(zero, 0, sizeof(float) * (size_t)j->p->w);
    return zero;
}

/* Planes [first, last) with the flat or grid loops. */
static void loop_planes(dw_job *j, long first, long last, int tid) {
    const mc_conv_params *p = j->p;
    const mc_dw_grid *g = j->geo;
    const int mult = p->m / p->c, ntaps = p->kh * p->kw, flat = j->loops == LOOPS_FLAT;
    const int direct = flat || g->g == p->ow;
    const long in_plane = (long)p->h * p->w, out_plane = (long)p->oh * p->ow;
    float *buf = NULL, *tmp = NULL;
    if (!flat) {
        buf = mc_ws_get(j->t, tid, MC_WS_A, sizeof(float) * (size_t)g->scratch);
        tmp = direct ? NULL : mc_ws_get(j->t, tid, MC_WS_B, sizeof(float) * (size_t)g->nq);
        if (!buf || (!direct && !tmp)) {
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
            return;
        }
        memset(buf + g->filled, 0, sizeof(float) * (size_t)(g->scratch - g->filled));
    }
    mc_act act = {p->act, p->act_a, p->act_b};
    float lo, hi;
    const int clamp = mc_dw_fused_clamp(p, &lo, &hi);
    for (long plane = first; plane < last; plane++) {
        long b = plane / p->m;
        int m = (int)(plane % p->m);
        const float *x = j->x + (b * p->c + m / mult) * in_plane, *k = j->w + (long)m * ntaps;
        float *y = j->y + plane * out_plane;
        if (flat && j->ops.flat2 && mult == 1 && out_plane <= 64 && plane + 1 < last &&
            m + 1 < p->m) { /* planes m and m + 1 at once */
            j->ops.flat2(x, in_plane, j->toff, j->masks, k, ntaps, j->bias + m, lo, hi, y,
                         out_plane);
            if (!clamp && act.kind != MC_ACT_NONE)
                mc_act_apply(&act, j->isa, y, y, 2 * out_plane);
            plane++;
            continue;
        }
        if (flat) {
            j->ops.flat(x, j->toff, j->masks, k, ntaps, j->bias[m], lo, hi, y, out_plane);
        } else {
            j->ops.fill(p, g, x, buf);
            j->ops.grid(buf, g->toff, NULL, k, ntaps, j->bias[m], lo, hi, direct ? y : tmp,
                        direct ? out_plane : g->nq);
            if (!direct) j->ops.crop(p, g, tmp, y);
        }
        if (!clamp && act.kind != MC_ACT_NONE) mc_act_apply(&act, j->isa, y, y, out_plane);
    }
}

/* Planes [first, last), output rows [r0, r0 + q->oh) of each, by the 3x3 row kernels or the
 * general one: q is p, or (the hand-written row kernels only, dw_band_task) p cut to those
 * rows with its top padding shifted. zero: a row of p->w zeros (row kernels). */
static void run_planes(dw_job *j, const mc_conv_params *q, int r0, long first, long last,
                       const float *zero) {
    const mc_conv_params *p = j->p;
    const int mult = p->m / p->c, khw = p->kh * p->kw;
    const long in_plane = (long)p->h * p->w, out_plane = (long)p->oh * p->ow;
    const long rows_out = (long)q->oh * p->ow;
    mc_act act = {p->act, p->act_a, p->act_b};
    float lo, hi;
    const int clamp = mc_dw_fused_clamp(p, &lo, &hi);
    for (long plane = first; plane < last; plane++) {
        long b = plane / p->m;
        int m = (int)(plane % p->m);
        const float *x = j->x + (b * p->c + m / mult) * in_plane;
        float *y = j->y + plane * out_plane + (long)r0 * p->ow;
        if (j->fast_isa) {
            j->fast_isa(q, x, j->w + (long)m * khw, j->bias[m], y, zero, lo, hi);
            if (clamp) continue;
        } else if (j->fast) {
            j->fast(q, x, j->w + (long)m * khw, j->bias[m], y, zero);
        } else {
            j->general(q, x, j->w + (long)m * khw, j->bias[m], y);
        }
        if (act.kind != MC_ACT_NONE) mc_act_apply(&act, j->isa, y, y, rows_out);
    }
}

static void dw_task(void *raw, long task, int tid) {
    dw_job *j = raw;
    long first = task * j->planes_per_task;
    long last = MC_MIN(j->planes, first + j->planes_per_task);
    if (j->loops) {
        loop_planes(j, first, last, tid);
        return;
    }
    const float *zero = j->fast ? zero_row(j, tid) : NULL;
    if (j->fast && !zero) return;
    run_planes(j, j->p, 0, first, last, zero);
}

/* First output row of band b: an even share, rounded to the kernel's rows per pass. */
static int band_row(const dw_job *j, int b) {
    if (b >= j->bands) return j->p->oh;
    const int r = (int)(((long)j->p->oh * b / j->bands + j->unit / 2) / j->unit * j->unit);
    return MC_MIN(r, j->p->oh);
}

/* Task (band, plane group): the band's output rows of the group's planes, by the hand-written
 * 3x3 kernels on a plane cut to those rows (input rows from the shifted top padding). */
static void dw_band_task(void *raw, long task, int tid) {
    dw_job *j = raw;
    const mc_conv_params *p = j->p;
    const int band = (int)(task / j->groups), g = (int)(task % j->groups);
    const int r0 = band_row(j, band), r1 = band_row(j, band + 1);
    const float *zero = r1 > r0 ? zero_row(j, tid) : NULL;
    if (!zero) return;
    mc_conv_params cut = *p;
    cut.oh = r1 - r0;
    cut.pt = p->pt - r0 * p->sh;
    run_planes(j, &cut, r0, j->planes * g / j->groups, j->planes * (g + 1) / j->groups, zero);
}

struct mc_dw_plan {
    int loops, prefer_rows;
    mc_dw_grid geo;
    long toff[MC_DW_GRID_TAPS]; /* flat */
    uint16_t *masks;
};

mc_dw_plan *mc_dw_plan_create(const mc_conv_params *p, int isa) {
    mc_dw_plan *dp = calloc(1, sizeof *dp);
    if (!dp) return NULL;
    /* the 3x3 kernels (depthwise_x86.c, depthwise_body.h) fill their vectors on wide planes
     * (and the AVX-512 stride-2 one beats the phase-split grid on any); the flat loops fill
     * every vector on any plane. The AVX-512 stride-1 one reads each input row once for
     * four output rows (the flat loops: 9 loads per vector), which pays from 12 columns
     * on (14x14: 34 -> 29 us for 512 planes; 10x10 and 8x8 lose); on rows of one vector with
     * padding 1 (one load a row, taps shifted in registers) from 8 (512 planes of 8x8:
     * 10 -> 9 us, 256 of 10x10: 10 -> 7; 7x7 level, 5x5 and smaller lose) */
    const int row1 = mc_dw3x3s1_row1(p);
    dp->prefer_rows = p->ow >= (isa == MC_ISA_AVX512 ? (row1 ? 8 : 12) : 16) || p->sh == 2;
    mc_dw_grid_ops_t ops;
    mc_dw_grid_ops(isa, &ops);
    const int lanes = isa == MC_ISA_AVX512 ? 16 : 8;
    const long max_masks = 16384; /* 32 KB of masks at most */
    int nvec = ops.flat ? mc_dw_flat_plan(p, lanes, dp->toff, NULL, max_masks) : 0;
    if (nvec) {
        dp->masks = malloc(sizeof(uint16_t) * (size_t)nvec * p->kh * p->kw);
        if (!dp->masks) {
            free(dp);
            return NULL;
        }
        mc_dw_flat_plan(p, lanes, dp->toff, dp->masks, max_masks);
        dp->loops = LOOPS_FLAT;
        return dp;
    }
    if (p->sh == p->sw && (p->sh == 1 || p->sh == 2) && p->kh * p->kw <= MC_DW_GRID_TAPS) {
        mc_dw_grid_plan(p, &dp->geo);
        dp->loops = LOOPS_GRID;
    }
    return dp;
}

static int is_3x3(const mc_conv_params *p) {
    return p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && p->sh == p->sw &&
           (p->sh == 1 || p->sh == 2);
}

mc_dw3x3_clamp_fn mc_dw3x3_row_kernel(const mc_conv_params *p, int isa) {
    if (!is_3x3(p) || p->ow > MC_DW_MAX_OW) return NULL;
#ifdef MC_X86
    if (isa == MC_ISA_AVX2) return p->sh == 1 ? mc_dw3x3s1_avx2 : mc_dw3x3s2_avx2;
    /* rows of up to 8 outputs fill the AVX2 kernel's vectors, half the AVX-512 one's */
    if (isa == MC_ISA_AVX512)
        return p->sh == 1 ? mc_dw3x3s1_avx512 : p->ow <= 8 ? mc_dw3x3s2_avx2 : mc_dw3x3s2_avx512;
#else
    (void)isa;
#endif
    return NULL;
}

int mc_dw_plan_rows(const mc_dw_plan *dp) { return !dp->loops || dp->prefer_rows; }

void mc_dw_plan_destroy(mc_dw_plan *dp) {
    if (!dp) return;
    free(dp->masks);
    free(dp);
}

int mc_depthwise_run(const mc_conv_params *p, const mc_dw_plan *dp, int isa, const float *w,
                     const float *bias, mc_threads *t, const float *x, float *y) {
    dw3x3_fn fast = dw3x3_plane_scalar;
    dw_fn general = dw_plane_scalar;
#ifdef MC_X86
    if (isa == MC_ISA_AVX2) {
        fast = dw3x3_plane_avx2;
        general = dw_plane_avx2;
    } else if (isa == MC_ISA_AVX512) {
        fast = dw3x3_plane_avx512;
        general = dw_plane_avx512;
    }
#endif
    dw_job j = {p, x, w, bias, y, t, isa, is_3x3(p) ? fast : NULL, general,
                mc_dw3x3_row_kernel(p, isa)};
    j.planes = (long)p->n * p->m;
    mc_dw_grid_ops(isa, &j.ops);
    if (dp && dp->loops && !((j.fast_isa || j.fast) && dp->prefer_rows)) {
        j.loops = dp->loops;
        j.geo = &dp->geo;
        j.toff = dp->toff;
        j.masks = dp->masks;
    }
    long out_plane = (long)p->oh * p->ow;
    int threads = mc_threads_for(t, 2.0 * (double)j.planes * out_plane * p->kh * p->kw *
                                        MC_NS_PER_DIRECT_FLOP);
    if (threads > 1 && j.fast_isa && !j.loops && p->oh >= 28 * threads) {
        /* one band of rows per thread, its planes in a few groups: thread i's tasks (its
         * home range, threadpool.c) are band i, the rows whose input the GEMMs before and
         * after split the same way (by pixels) wrote or will read on that thread */
        j.bands = threads;
        j.unit = p->sh == 1 && isa == MC_ISA_AVX512 ? 4 : 2;
        const long band_out = j.planes * out_plane / threads;
        j.groups = (int)MC_MAX(1, MC_MIN(MC_MIN(j.planes, 4L), band_out / 4096));
        mc_parallel(t, threads, (long)j.bands * j.groups, dw_band_task, &j);
        return j.failed ? MC_ERR_NOMEM : MC_OK;
    }
    /* about 4 tasks per thread, but not below ~4K outputs per task */
    long per_task = MC_CEIL_DIV(j.planes, 4L * threads);
    long min_planes = MC_CEIL_DIV(4096L, out_plane);
    j.planes_per_task = MC_MAX(1, MC_MIN(MC_MAX(per_task, min_planes), j.planes));
    mc_parallel(t, threads, MC_CEIL_DIV(j.planes, j.planes_per_task), dw_task, &j);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}
