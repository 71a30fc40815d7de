/* 2-D convolution on NCHW: a plan made once per node (weights packed for the GEMM of the
 * chosen ISA), then runs.
 *
 * Algorithms:
 *   depthwise  C groups of one input channel: direct kernels in depthwise.c
 *   gemm1x1    1x1, stride 1, no padding: Y[M, H*W] = W[M, C] x X[C, H*W] straight on NCHW;
 *              the micro-kernel reads X's rows in place (no packing)
 *   skinny1x1  the same on small images (AVX-512, see skinny_pays): Y^T = X^T W^T with the
 *              pixels as rows and output channels in the vectors (gemm_skinny.c)
 *   skinny-im2col  any other ungrouped conv with few output pixels (skinny_pays): the
 *              whole column matrix built per run (build_cols), then the same kernel.
 *              silero-vad's 1-D encoder convs over 1-4 frames: 11.3 / 11.7 / 5.8 / 5.7 ->
 *              6.4 / 6.1 / 2.9 / 2.7 us (the model 89 -> 72 us); ResNet-50's 3x3 convs on
 *              7x7 (winograd's cost model declines them): the model 5% faster
 *   shifted    any other stride-1 conv: the input is zero-padded once to Hp x Wp; then the
 *              row of tap (c, ky, kx) of the column matrix is the padded plane c shifted by
 *              ky*dh*Wp + kx*dw, so the micro-kernel reads it in place too. Outputs are
 *              computed on the padded width and cropped (Wp - OW wasted columns per row)
 *   im2col     strided convs: per group, W[Mg, Cg*kh*kw] x cols[Cg*kh*kw, OH*OW]; the
 *              column matrix is never materialised whole: each GEMM task builds the
 *              kc x nc block it needs (build_cols: a copy per output row and tap, vector
 *              gathers for stride 2) in its scratch and reads it in place.
 *   winograd   3x3, stride 1, dilation 1, when its cost model says it beats "shifted":
 *              F(4,3) or F(2,3) tiles, one GEMM per tile position (winograd.c)
 * Bias and the fused activation are applied in the micro-kernel / epilogue of each tile.
 * mc_conv_create_f16 keeps the packed weights of the GEMM algorithms as fp16 (apack16),
 * widened per block inside the GEMM; depthwise and Winograd weights stay fp32.
 * A 1x1 expand + depthwise + 1x1 project block inside a fused partition runs as one op,
 * chunk by chunk of output rows, on these plans (block.c).
 * Tried and dropped: a direct 3x3 stride-2 kernel for RGB input (stride-2 taps split by
 * permutes, 16 output channels in registers): 15% faster than im2col alone (0.134 vs
 * 0.158 ms, MobileNets' first layer), 1.6x slower inside a model run (it read the caller's
 * input rows straight, and stores to 32 output planes interleaved with those loads; a copy
 * of the rows first only brought it level with im2col).
 * Tried and dropped: a depthwise conv and the 1x1 conv after it as one op, band by band
 * (the depthwise rows of all channels into a per-thread scratch in L2, then the 1x1's GEMM
 * on them; results bit-identical). Interleaved in one process, MobileNetV1 at 1 thread:
 * the 112x112x32 pair 388 -> 369 us, but the 56x56x128 one 503 -> 528 and 28x28x256
 * 463 -> 474 (halo rows, short dw runs per plane, weights re-read per band), the model
 * level; at 2 threads 2.85 -> 2.91 ms; MobileNetV2 3.37 -> 3.49 ms (1 thread).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "winograd.h"

static const char *k_algo_names[] = {"depthwise", "gemm1x1", "shifted", "im2col", "skinny1x1",
                                     "winograd", "skinny-im2col"};
#define SKINNY_COLS_MAX (1L << 20) /* floats of a column matrix built whole */




static int valid_params(const mc_conv_params *p) {
    if (p->n <= 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->m <= 0 || p->kh <= 0 ||
        p->kw <= 0 || p->oh <= 0 || p->ow <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 ||
        p->dw <= 0 || p->group <= 0 || p->pt < 0 || p->pl < 0)
        return 0;
    return p->c % p->group == 0 && p->m % p->group == 0;
}

/* Whether an ungrouped conv runs better with its output pixels as rows (gemm_skinny.c):
 * when they fill the main GEMM's 32-wide vectors worse than pixel rows of 8 and channel
 * vectors of 32 do, counting the transposing store (worth about 12 steps of K) against the
 * latter. */
static int skinny_pays(const mc_conv_params *p) {
    const double pixels = (double)p->oh * p->ow, k = (double)p->c * p->kh * p->kw;
    double main = pixels <= 16 ? pixels / 20.0 : pixels / MC_ROUND_UP((long)pixels, 32);
    double skinny = pixels / MC_ROUND_UP((long)pixels, 8) * p->m / MC_ROUND_UP(p->m, 32) /
                    (1.0 + 12.0 / k);
    return skinny > main;
}

mc_conv *mc_conv_create(const mc_conv_params *p, const float *weight, const float *bias,
                        int isa) {
    const mc_isa_info *info = mc_isa_get(isa);
    if (!info || !valid_params(p)) return NULL;
    mc_conv *plan = calloc(1, sizeof *plan);
    if (!plan) return NULL;
    plan->p = *p;
    plan->isa = info;
    plan->isa_id = isa;
    plan->cg = p->c / p->group;
    plan->mg = p->m / p->group;
    plan->k = plan->cg * p->kh * p->kw;
    plan->bias = mc_aligned_alloc(sizeof(float) * (size_t)p->m);
    if (!plan->bias) goto fail;
    for (int i = 0; i < p->m; i++) plan->bias[i] = bias ? bias[i] : 0.0f;
    if (plan->cg == 1 && p->group == p->c) {
        plan->algo = ALGO_DEPTHWISE;
        size_t size = sizeof(float) * (size_t)p->m * p->kh * p->kw;
        plan->w = mc_aligned_alloc(size);
        plan->dw = mc_dw_plan_create(p, isa);
        if (!plan->w || !plan->dw) goto fail;
        memcpy(plan->w, weight, size);
        return plan;
    }
    int tile = mc_wino_choose(p, info);
    if (tile) {
        plan->algo = ALGO_WINOGRAD;
        plan->wino = mc_wino_create(p, info, tile, weight);
        if (!plan->wino) goto fail;
        return plan;
    }
    int pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 &&
                    p->pl == 0 && p->oh == p->h && p->ow == p->w;
    plan->algo = pointwise                    ? ALGO_GEMM1X1
                 : p->sh == 1 && p->sw == 1 ? ALGO_SHIFTED
                                            : ALGO_IM2COL;
    if (p->group == 1 && mc_skinny_supported(isa) && skinny_pays(p) &&
        (pointwise || (long)plan->k * p->oh * p->ow <= SKINNY_COLS_MAX)) {
        plan->algo = pointwise ? ALGO_SKINNY : ALGO_SKINNY_COLS;
        /* W^T (C kh kw x M) packed in 32-channel slivers */
        plan->apack = mc_skinny_pack(weight, 1, plan->k, plan->k, p->m);
        if (!plan->apack) goto fail;
        return plan;
    }
    if (plan->algo != ALGO_IM2COL) { /* tap (c, ky, kx) of the (padded) image */
        plan->koff = malloc(sizeof(long) * (size_t)plan->k);
        if (!plan->koff) goto fail;
        plan->hp = pointwise ? p->h : p->oh + (p->kh - 1) * p->dh;
        plan->wp = pointwise ? p->w : p->ow + (p->kw - 1) * p->dw;
        for (int k = 0, khw = p->kh * p->kw; k < plan->k; k++) {
            int c = k / khw, ky = (k % khw) / p->kw, kx = k % p->kw;
            plan->koff[k] = ((long)c * plan->hp + (long)ky * p->dh) * plan->wp + kx * p->dw;
        }
    }
    plan->apack_group = mc_packed_size(info, plan->mg, plan->k, info->mr);
    plan->apack = mc_aligned_alloc(sizeof(float) * plan->apack_group * (size_t)p->group);
    if (!plan->apack) goto fail;
    for (int g = 0; g < p->group; g++)
        mc_pack_a_full(info, weight + (size_t)g * plan->mg * plan->k, plan->k, 1, plan->mg,
                       plan->k, plan->apack + plan->apack_group * (size_t)g);
    return plan;
fail:
    mc_conv_destroy(plan);
    return NULL;
}

/* Elements of the packed weights of a GEMM algorithm (0: none, e.g. depthwise). */
static size_t packed_count(const mc_conv *plan) {
    switch (plan->algo) {
    case ALGO_SKINNY:
    case ALGO_SKINNY_COLS: return mc_skinny_packed_size(plan->k, plan->p.m);
    case ALGO_GEMM1X1:
    case ALGO_SHIFTED:
    case ALGO_IM2COL: return plan->apack_group * (size_t)plan->p.group;
    default: return 0;
    }
}

mc_conv *mc_conv_create_f16(const mc_conv_params *p, const unsigned short *weight,
                            const float *bias, int isa) {
    if (!valid_params(p)) return NULL;
    const size_t count = (size_t)p->m * (p->c / p->group) * p->kh * p->kw;
    float *wide = mc_aligned_alloc(sizeof(float) * count);
    if (!wide) return NULL;
    mc_half_to_float(MC_ISA_SCALAR, weight, wide, (long)count);
    mc_conv *plan = mc_conv_create(p, wide, bias, isa);
    mc_aligned_free(wide);
    const size_t packed = plan ? packed_count(plan) : 0;
    if (packed) { /* values from fp16 (and zero padding): the narrowing is exact */
        plan->apack16 = mc_narrow_plan_weights(plan->apack, packed);
        if (!plan->apack16) {
            mc_conv_destroy(plan);
            return NULL;
        }
        plan->apack = NULL;
    }
    return plan;
}

long mc_conv_weight_bytes(const mc_conv *plan, int *f16) {
    const size_t packed = packed_count(plan);
    if (f16) *f16 = plan->apack16 != NULL;
    if (plan->apack16) return (long)(sizeof(uint16_t) * packed);
    if (plan->apack) return (long)(sizeof(float) * packed);
    if (plan->wino) return mc_wino_weight_bytes(plan->wino); /* stays fp32 */
    return plan->w ? (long)(sizeof(float) * plan->p.m * plan->p.kh * plan->p.kw) : 0;
}

void mc_conv_destroy(mc_conv *plan) {
    if (!plan) return;
    mc_aligned_free(plan->apack16);
    mc_aligned_free(plan->apack);
    mc_aligned_free(plan->w);
    mc_dw_plan_destroy(plan->dw);
    mc_wino_destroy(plan->wino);
    mc_aligned_free(plan->bias);
    free(plan->koff);
    free(plan);
}

const char *mc_conv_algo(const mc_conv *plan) { return k_algo_names[plan->algo]; }

int mc_conv_wino_tile(const mc_conv *plan) { return plan->wino ? mc_wino_tile(plan->wino) : 0; }

/* One run of `count` output pixels on a row: o[t] = row[ix0 + t*step] inside the image,
 * 0 in the padding. */
static void pack_row_run(const mc_isa_info *isa, const float *row, int w, int ix0, int step,
                         int count, float *o) {
    if (step == 1) {
        isa->copy(o, row + ix0, -ix0, w - ix0, count);
        return;
    }
    if (step == 2) { /* valid t: 0 <= ix0 + 2t < w */
        isa->copy2(o, row + ix0, ix0 >= 0 ? 0 : (1 - ix0) / 2,
                   ix0 >= w ? 0 : (w - ix0 + 1) / 2, count);
        return;
    }
    int lo = ix0 >= 0 ? 0 : MC_CEIL_DIV(-ix0, step);
    int hi = ix0 >= w ? 0 : MC_CEIL_DIV(w - ix0, step);
    lo = MC_MIN(lo, count);
    hi = MC_MAX(lo, MC_MIN(hi, count));
    int t = 0;
    for (; t < lo; t++) o[t] = 0.0f;
    for (; t < hi; t++) o[t] = row[ix0 + t * step];
    for (; t < count; t++) o[t] = 0.0f;
}

/* -- im2col: rows of the column matrix built per GEMM block --------------------------------- */
typedef struct {
    const mc_conv_params *p;
    const float *x;      /* first input channel of this group in this image */
} image_src;

/* Rows [k0, k0+kc) x output pixels [n0, n0+nc) of the column matrix: each row is a few
 * runs along output rows, copied (stride 1), gathered (stride 2) or zero (padding). */
static void build_cols(const mc_isa_info *isa, const void *raw, int k0, int kc, int n0, int nc,
                       float *dst, long ld) {
    const image_src *src = raw;
    const mc_conv_params *p = src->p;
    const int khw = p->kh * p->kw;
    for (int kk = 0; kk < kc; kk++) {
        int k = k0 + kk, r = k % khw, ky = r / p->kw, kx = r % p->kw;
        const float *img = src->x + (long)(k / khw) * p->h * p->w;
        float *d = dst + kk * ld;
        for (int done = 0, j = n0; done < nc;) {
            int oy = j / p->ow, ox = j % p->ow, count = MC_MIN(nc - done, p->ow - ox);
            int iy = oy * p->sh - p->pt + ky * p->dh;
            if (iy < 0 || iy >= p->h)
                memset(d + done, 0, sizeof(float) * (size_t)count);
            else
                pack_row_run(isa, img + (long)iy * p->w, p->w, ox * p->sw - p->pl + kx * p->dw,
                             p->sw, count, d + done);
            done += count;
            j += count;
        }
        memset(d + nc, 0, sizeof(float) * (size_t)(ld - nc));
    }
}

/* -- shifted: zero-padded input in, cropped output out ---------------------------------- */
typedef struct {
    const mc_conv *plan;
    const float *src;
    float *dst;
    long planes, per_task;
} plane_job;

static void pad_task(void *raw, long task, int tid) {
    (void)tid;
    const plane_job *j = raw;
    const mc_conv_params *p = &j->plan->p;
    const int hp = j->plan->hp, wp = j->plan->wp, tail = wp - p->pl - p->w;
    long last = MC_MIN(j->planes, (task + 1) * j->per_task);
    for (long i = task * j->per_task; i < last; i++) {
        const float *x = j->src + i * p->h * p->w;
        float *d = j->dst + i * hp * wp;
        for (int r = 0; r < hp; r++, d += wp) {
            int iy = r - p->pt;
            if (iy < 0 || iy >= p->h) {
                memset(d, 0, sizeof(float) * (size_t)wp);
                continue;
            }
            memset(d, 0, sizeof(float) * (size_t)p->pl);
            memcpy(d + p->pl, x + (long)iy * p->w, sizeof(float) * (size_t)p->w);
            memset(d + p->pl + p->w, 0, sizeof(float) * (size_t)tail);
        }
    }
}

static void crop_task(void *raw, long task, int tid) {
    (void)tid;
    const plane_job *j = raw;
    const mc_conv_params *p = &j->plan->p;
    long last = MC_MIN(j->planes, (task + 1) * j->per_task);
    for (long i = task * j->per_task; i < last; i++)
        for (int oy = 0; oy < p->oh; oy++)
            memcpy(j->dst + (i * p->oh + oy) * p->ow, j->src + (i * p->oh + oy) * j->plan->wp,
                   sizeof(float) * (size_t)p->ow);
}

static void run_planes(mc_threads *t, mc_task_fn fn, const mc_conv *plan, const float *src,
                       float *dst, long planes, long plane_floats) {
    int threads = mc_threads_for(t, 8.0 * (double)planes * plane_floats * MC_NS_PER_BYTE);
    plane_job j = {plan, src, dst, planes, MC_CEIL_DIV(planes, 4L * threads)};
    mc_parallel(t, threads, MC_CEIL_DIV(planes, j.per_task), fn, &j);
}

/* -- run -------------------------------------------------------------------------------- */
int mc_conv_run(const mc_conv *plan, mc_threads *t, const float *x, float *y) {
    const mc_conv_params *p = &plan->p;
    if (!mc_isa_get(plan->isa_id)) return MC_ERR_ISA;
    if (plan->algo == ALGO_SKINNY || plan->algo == ALGO_SKINNY_COLS) {
        const long pixels = (long)p->oh * p->ow, in_plane = (long)p->h * p->w;
        const int built = plan->algo == ALGO_SKINNY_COLS;
        const mc_act act = {p->act, p->act_a, p->act_b};
        mc_op_begin(t);
        float *cols = built ? mc_ws_get(t, 0, MC_WS_CONV_IN,
                                        sizeof(float) * (size_t)plan->k * pixels)
                            : NULL;
        int rc = built && !cols ? MC_ERR_NOMEM : MC_OK;
        for (int b = 0; b < p->n && rc == MC_OK; b++) {
            const float *a = x + (long)b * p->c * in_plane;
            float *yb = y + (long)b * p->m * pixels;
            if (built) { /* the column matrix, K x pixels */
                const image_src img = {p, a};
                build_cols(plan->isa, &img, 0, plan->k, 0, (int)pixels, cols, pixels);
                a = cols;
            }
            rc = plan->apack16
                     ? mc_skinny_run_f16(t, plan->isa_id, (int)pixels, p->m, plan->k, a, 1,
                                         pixels, plan->apack16, plan->bias, &act, yb, 1, pixels)
                     : mc_skinny_run(t, plan->isa_id, (int)pixels, p->m, plan->k, a, 1, pixels,
                                     plan->apack, plan->bias, &act, yb, 1, pixels);
        }
        mc_op_end(t);
        return rc;
    }
    if (plan->algo == ALGO_WINOGRAD) {
        mc_op_begin(t);
        int rc = mc_wino_run(plan->wino, t, x, plan->bias, y);
        mc_op_end(t);
        return rc;
    }
    if (plan->algo == ALGO_DEPTHWISE) {
        mc_op_begin(t);
        int rc = mc_depthwise_run(p, plan->dw, plan->isa_id, plan->w, plan->bias, t, x, y);
        mc_op_end(t);
        return rc;
    }
    int nsub = p->n * p->group;
    mc_gemm_sub sub_stack[4];  /* one image, few groups: no allocation per run */
    image_src img_stack[4];
    const int heap = nsub > 4;
    mc_gemm_sub *subs = heap ? calloc((size_t)nsub, sizeof *subs) : sub_stack;
    image_src *imgs = heap ? calloc((size_t)nsub, sizeof *imgs) : img_stack;
    if (!subs || !imgs) {
        if (heap) {
            free(subs);
            free(imgs);
        }
        return MC_ERR_NOMEM;
    }
    memset(subs, 0, sizeof *subs * (size_t)nsub);
    mc_op_begin(t);
    const int shifted = plan->algo == ALGO_SHIFTED;
    const long out_plane = (long)p->oh * (shifted ? plan->wp : p->ow);
    const long planes = (long)p->n * p->c;
    long in_plane = (long)p->h * p->w;
    const float *xin = x;
    float *yout = y;
    int rc = MC_OK;
    if (shifted) { /* slack: the last full slivers read up to (kw - 1) * dw past the end */
        size_t slack = (size_t)(p->kw - 1) * p->dw + 64;
        in_plane = (long)plan->hp * plan->wp;
        float *xpad = mc_ws_get(t, 0, MC_WS_CONV_IN,
                                sizeof(float) * ((size_t)planes * in_plane + slack));
        yout = mc_ws_get(t, 0, MC_WS_CONV_OUT, sizeof(float) * (size_t)p->n * p->m * out_plane);
        if (!xpad || !yout) {
            rc = MC_ERR_NOMEM;
            goto done;
        }
        run_planes(t, pad_task, plan, x, xpad, planes, in_plane);
        memset(xpad + (size_t)planes * in_plane, 0, sizeof(float) * slack);
        xin = xpad;
    }
    for (int b = 0; b < p->n; b++)
        for (int g = 0; g < p->group; g++) {
            int i = b * p->group + g;
            mc_gemm_sub *s = &subs[i];
            const float *xg = xin + ((long)b * p->c + (long)g * plan->cg) * in_plane;
            if (plan->apack16)
                s->a = (mc_src){.kind = MC_SRC_PACKED_F16,
                                .h = plan->apack16 + plan->apack_group * (size_t)g};
            else
                s->a = (mc_src){.kind = MC_SRC_PACKED,
                                .p = plan->apack + plan->apack_group * (size_t)g};
            if (plan->algo == ALGO_IM2COL) {
                imgs[i] = (image_src){p, xg};
                s->b = (mc_src){.kind = MC_SRC_BUILT, .build = build_cols, .ctx = &imgs[i]};
            } else {
                s->b = (mc_src){.kind = MC_SRC_ROWS, .p = xg, .koff = plan->koff};
            }
            s->c = yout + ((long)b * p->m + (long)g * plan->mg) * out_plane;
            s->ldc = out_plane;
            s->bias = plan->bias + (long)g * plan->mg;
        }
    mc_epilogue ep = {1.0f, 1.0f, MC_BIAS_ROW, {p->act, p->act_a, p->act_b}};
    rc = (plan->f16_arith ? mc_gemm_f16_job : mc_gemm_job)(t, plan->isa, plan->mg,
                                                           (int)out_plane, plan->k, nsub, subs,
                                                           &ep);
    if (rc == MC_OK && shifted) run_planes(t, crop_task, plan, yout, y, (long)p->n * p->m, out_plane);
done:
    mc_op_end(t);
    if (heap) {
        free(subs);
        free(imgs);
    }
    return rc;
}

int mc_conv_use_f16_arith(mc_conv *plan) {
    const int gemm = plan->algo == ALGO_GEMM1X1 || plan->algo == ALGO_SHIFTED ||
                     plan->algo == ALGO_IM2COL;
    plan->f16_arith = gemm && plan->apack16 && mc_f16_arith_supported(plan->isa_id);
    return plan->f16_arith;
}
