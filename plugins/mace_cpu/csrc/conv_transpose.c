/* ConvTranspose (2-D, group 1) and batched MatMul, both on the GEMM driver.
 *
 * ConvTranspose: per image, cols (M*kh*kw x H*W) = W^T (M*kh*kw x C) * X (C x H*W), with
 * W^T packed once and X's rows read in place, then col2im: every column entry adds into
 * output pixel (iy * sh - pt + ky * dh, ix * sw - pl + kx * dw) of channel m, on top of the
 * bias; the fused activation runs on each finished plane.
 *
 * Batched MatMul: Y[b] = act(A[b] * B[b]) for `batch` products of dense row-major
 * operands at the given offsets (broadcast batch axes repeat an offset).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mc_convt {
    mc_conv_params p;
    const mc_isa_info *isa;
    int isa_id, rows; /* rows: M * kh * kw */
    float *apack, *bias;
    long *koff;       /* offset of input channel c's plane */
};

mc_convt *mc_convt_create(const mc_conv_params *p, const float *weight, const float *bias,
                          int isa) {
    const mc_isa_info *info = mc_isa_get(isa);
    if (!info || p->group != 1 || p->n <= 0 || p->c <= 0 || p->m <= 0 || p->oh <= 0 ||
        p->ow <= 0)
        return NULL;
    mc_convt *plan = calloc(1, sizeof *plan);
    if (!plan) return NULL;
    plan->p = *p;
    plan->isa = info;
    plan->isa_id = isa;
    plan->rows = p->m * p->kh * p->kw;
    plan->apack = mc_aligned_alloc(sizeof(float) * mc_packed_size(info, plan->rows, p->c,
                                                                  info->mr));
    plan->bias = malloc(sizeof(float) * (size_t)p->m);
    plan->koff = malloc(sizeof(long) * (size_t)p->c);
    if (!plan->apack || !plan->bias || !plan->koff) {
        mc_convt_destroy(plan);
        return NULL;
    }
    /* W is C x (M*kh*kw): element (r, c) of W^T is weight[c * rows + r] */
    mc_pack_a_full(info, weight, 1, plan->rows, plan->rows, p->c, plan->apack);
    for (int m = 0; m < p->m; m++) plan->bias[m] = bias ? bias[m] : 0.0f;
    for (int c = 0; c < p->c; c++) plan->koff[c] = (long)c * p->h * p->w;
    return plan;
}

void mc_convt_destroy(mc_convt *plan) {
    if (!plan) return;
    mc_aligned_free(plan->apack);
    free(plan->bias);
    free(plan->koff);
    free(plan);
}

typedef struct {
    const mc_convt *plan;
    const float *cols;
    float *y;
} col2im_job;

static void col2im_task(void *raw, long m, int tid) {
    (void)tid;
    const col2im_job *j = raw;
    const mc_conv_params *p = &j->plan->p;
    const long pixels = (long)p->h * p->w;
    float *y = j->y + m * p->oh * p->ow;
    for (long i = 0, n = (long)p->oh * p->ow; i < n; i++) y[i] = j->plan->bias[m];
    for (int ky = 0; ky < p->kh; ky++)
        for (int kx = 0; kx < p->kw; kx++) {
            const float *col = j->cols + ((m * p->kh + ky) * p->kw + kx) * pixels;
            const int x0 = kx * p->dw - p->pl;
            /* valid ix: 0 <= ix * sw + x0 < ow */
            int lo = x0 >= 0 ? 0 : MC_CEIL_DIV(-x0, p->sw);
            int hi = MC_MIN(p->w, x0 >= p->ow ? 0 : MC_CEIL_DIV(p->ow - x0, p->sw));
            for (int iy = 0; iy < p->h; iy++) {
                int oy = iy * p->sh - p->pt + ky * p->dh;
                if (oy < 0 || oy >= p->oh) continue;
                float *yr = y + (long)oy * p->ow + x0;
                const float *cr = col + (long)iy * p->w;
                if (p->sw == 1)
                    for (int ix = lo; ix < hi; ix++) yr[ix] += cr[ix];
                else
                    for (int ix = lo; ix < hi; ix++) yr[ix * p->sw] += cr[ix];
            }
        }
    const mc_act act = {p->act, p->act_a, p->act_b};
    if (act.kind != MC_ACT_NONE) mc_act_apply(&act, j->plan->isa_id, y, y, (long)p->oh * p->ow);
}

int mc_convt_run(const mc_convt *plan, mc_threads *t, const float *x, float *y) {
    const mc_conv_params *p = &plan->p;
    if (!mc_isa_get(plan->isa_id)) return MC_ERR_ISA;
    const long pixels = (long)p->h * p->w;
    mc_op_begin(t);
    int rc = MC_OK;
    float *cols = mc_ws_get(t, 0, MC_WS_CONV_OUT, sizeof(float) * (size_t)plan->rows * pixels);
    if (!cols) rc = MC_ERR_NOMEM;
    mc_epilogue ep = {1.0f, 1.0f, MC_BIAS_NONE, {MC_ACT_NONE, 0.0f, 0.0f}};
    for (int b = 0; b < p->n && rc == MC_OK; b++) {
        mc_gemm_sub s;
        memset(&s, 0, sizeof s);
        s.a = (mc_src){.kind = MC_SRC_PACKED, .p = plan->apack};
        s.b = (mc_src){.kind = MC_SRC_ROWS, .p = x + (long)b * p->c * pixels, .koff = plan->koff};
        s.c = cols;
        s.ldc = pixels;
        rc = mc_gemm_job(t, plan->isa, plan->rows, (int)pixels, p->c, 1, &s, &ep);
        if (rc != MC_OK) break;
        col2im_job j = {plan, cols, y + (long)b * p->m * p->oh * p->ow};
        int threads = mc_threads_for(t, (double)plan->rows * pixels * MC_NS_PER_DIRECT_FLOP);
        mc_parallel(t, threads, p->m, col2im_task, &j);
    }
    mc_op_end(t);
    return rc;
}

int mc_matmul_batched(mc_threads *t, int isa, long batch, int m, int n, int k, const float *a,
                      const long *a_off, const float *b, const long *b_off, int act,
                      float act_a, float act_b, float *y) {
    const mc_isa_info *info = mc_isa_get(isa);
    if (!info) return MC_ERR_ISA;
    if (batch <= 0 || m <= 0 || n <= 0 || k <= 0) return MC_ERR_ARG;
    mc_gemm_sub *subs = calloc((size_t)batch, sizeof *subs);
    if (!subs) return MC_ERR_NOMEM;
    for (long i = 0; i < batch; i++) {
        subs[i].a = (mc_src){.kind = MC_SRC_DENSE, .p = a + a_off[i], .rs = k, .cs = 1};
        subs[i].b = (mc_src){.kind = MC_SRC_DENSE, .p = b + b_off[i], .rs = n, .cs = 1};
        subs[i].c = y + i * (long)m * n;
        subs[i].ldc = n;
    }
    mc_epilogue ep = {1.0f, 1.0f, MC_BIAS_NONE, {act, act_a, act_b}};
    mc_op_begin(t);
    int rc = mc_gemm_job(t, info, m, n, k, (int)batch, subs, &ep);
    mc_op_end(t);
    free(subs);
    return rc;
}
