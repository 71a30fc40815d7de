/* Depthwise convolution (group == C, one input channel per group, any multiplier M / C).
 *
 * 3x3 with dilation 1 and equal strides 1 or 2 (MobileNet's case) has a direct kernel that
 * computes each output pixel from three input rows (on x86 hand-written in
 * depthwise_x86.c: AVX-512 strides 1 and 2, AVX2 stride 1); every other geometry
 * accumulates tap by tap. Bias is the initial value; ReLU / Clip are fused in the x86
 * kernels, other activations run on each finished plane. The portable plane kernels
 * (depthwise_body.h) are compiled once per ISA; threads split the planes.
 */
#include <math.h>
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
    dw3x3_fn fast;       /* NULL when the geometry needs the general kernel */
    dw_fn general;
    mc_dw3x3_clamp_fn fast_isa; /* hand-written 3x3 kernel with the clamp fused, or NULL */
    long planes_per_task, planes;
    int failed;
} dw_job;

static void dw_task(void *raw, long task, int tid) {
    dw_job *j = raw;
    const mc_conv_params *p = j->p;
    const int mult = p->m / p->c, khw = p->kh * p->kw;
    const long in_plane = (long)p->h * p->w, out_plane = (long)p->oh * p->ow;
    float *zero = NULL;
    if (j->fast) {
        zero = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * (size_t)p->w);
        if (!zero) {
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
            return;
        }
        memset(zero, 0, sizeof(float) * (size_t)p->w);
    }
    mc_act act = {p->act, p->act_a, p->act_b};
    const int clamp = act.kind == MC_ACT_RELU || act.kind == MC_ACT_CLIP;
    const float lo = act.kind == MC_ACT_CLIP ? act.a : (clamp ? 0.0f : -INFINITY);
    const float hi = act.kind == MC_ACT_CLIP ? act.b : INFINITY;
    long first = task * j->planes_per_task;
    long last = MC_MIN(j->planes, first + j->planes_per_task);
    for (long plane = first; plane < last; plane++) {
        long b = plane / p->m;
        int m = (int)(plane % p->m);
        const float *x = j->x + (b * p->c + m / mult) * in_plane;
        float *y = j->y + plane * out_plane;
        if (j->fast_isa) {
            j->fast_isa(p, x, j->w + (long)m * khw, j->bias[m], y, zero, lo, hi);
            if (clamp) continue;
        } else if (j->fast) {
            j->fast(p, x, j->w + (long)m * khw, j->bias[m], y, zero);
        } else {
            j->general(p, x, j->w + (long)m * khw, j->bias[m], y);
        }
        if (act.kind != MC_ACT_NONE) mc_act_apply(&act, y, y, out_plane);
    }
}

int mc_depthwise_run(const mc_conv_params *p, int isa, const float *w, const float *bias,
                     mc_threads *t, const float *x, float *y) {
    dw3x3_fn fast = dw3x3_plane_scalar;
    dw_fn general = dw_plane_scalar;
    mc_dw3x3_clamp_fn fast_s1 = NULL, fast_s2 = NULL;
#ifdef MC_X86
    if (isa == MC_ISA_AVX2) {
        fast = dw3x3_plane_avx2;
        general = dw_plane_avx2;
        fast_s1 = mc_dw3x3s1_avx2;
    } else if (isa == MC_ISA_AVX512) {
        fast = dw3x3_plane_avx512;
        general = dw_plane_avx512;
        fast_s1 = mc_dw3x3s1_avx512;
        fast_s2 = mc_dw3x3s2_avx512;
    }
#else
    (void)isa;
#endif
    int is3x3 = p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && p->sh == p->sw &&
                (p->sh == 1 || p->sh == 2);
    if (p->ow > MC_DW_MAX_OW) fast_s1 = fast_s2 = NULL;
    dw_job j = {p, x, w, bias, y, t, is3x3 ? fast : NULL, general,
                is3x3 ? (p->sh == 1 ? fast_s1 : fast_s2) : NULL, 1, (long)p->n * p->m, 0};
    int threads = mc_threads_n(t);
    long out_plane = (long)p->oh * p->ow;
    /* about 4 tasks per thread, but not below ~4K outputs per task */
    long per_task = MC_CEIL_DIV(j.planes, 4L * threads);
    long min_planes = MC_CEIL_DIV(4096L, out_plane);
    j.planes_per_task = MC_MAX(1, MC_MIN(MC_MAX(per_task, min_planes), j.planes));
    mc_parallel(t, MC_CEIL_DIV(j.planes, j.planes_per_task), dw_task, &j);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}
