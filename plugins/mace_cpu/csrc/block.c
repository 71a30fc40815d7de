/* Inverted-residual blocks (MobileNetV2's 1x1 expand, 3x3 depthwise, 1x1 project) run as
 * one op, chunk by chunk of output rows, so that the expanded tensor (6x the block's
 * channels) never leaves the thread's L2. Without the expand (a depthwise + pointwise pair,
 * MobileNetV1's layers and MobileNetV2's first block) the same, minus step 1: the
 * depthwise rows read the block's input.
 *
 * A task is a chunk of `rows` output rows. Its thread runs, all in its own scratch:
 *   1. the expand GEMM on the input rows the chunk's depthwise rows read; the rows it shares
 *      with the chunk above (1 or 2: the halo) are moved up from that chunk's scratch when
 *      the same thread ran it just before, else computed again,
 *   2. the depthwise 3x3 kernel on those rows (the band cut of depthwise.c: the same row
 *      kernels on a plane cut to the chunk, top padding shifted),
 *   3. the project GEMM on the chunk's depthwise rows, written to the output rows.
 * The three plans are those of the ops (conv.c), so each output is computed by the same
 * kernels, in the same order: the results are bit-identical to the three ops.
 * Chunks run in order per thread (thread i takes a contiguous range of them, threadpool.c),
 * so a thread reads and writes one band of rows of the block's input and output, the only
 * tensors other threads see. Unfused, every op hands about half of its output to the
 * other threads. This 2-vCPU host has spells (seconds to minutes) in which its vCPUs are
 * slow to share data (a cache line's round trip 400 ns instead of 70-120; "slow" below,
 * else "calm"): there MobileNetV2's early ops took 1.5-3.5x as long at 2 threads, and the
 * model 2.8 ms instead of 1.7. Fused, its blocks at 112x112 to 28x28 took 0.53-0.60x the
 * time of their three ops (the model -17%; with the 14x14 ones too, -24%); calm, level
 * (+-0.5%); at 1 thread level too (+-1%; MobileNetV2 0.5 128 -8%).
 *
 * Taken (mc_block_create) where the expand and project are 1x1 plans (gemm1x1, or skinny1x1
 * with no activation or a clamp; fp32 arithmetic) whose weights are not read too often
 * (MAX_WEIGHT_READS, MAX_PAIR_WEIGHTS), the depthwise one runs the hand-written x86 3x3 row
 * kernels with a clamp (ReLU / Clip) or no activation, batch 1, the image has MIN_PLANE
 * pixels or more and the expanded rows of a chunk of at least MIN_ROWS output rows fit
 * CHUNK_BYTES; elsewhere the ops run as they are.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* expanded + depthwise rows of one chunk (scratch, in L2). MobileNetV2 at 2 threads against
 * the three ops, interleaved runs, calm / slow: 384 KiB +4% / -8%, 512 KiB +2% / -17%,
 * 768 KiB +1% / -17% */
#define CHUNK_BYTES (768L << 10)
#define MIN_ROWS 4             /* fewer rows per chunk: too many halo rows recomputed */
#define MIN_PLANE 14 * 14      /* smaller images: their tensors already stay in cache */
/* Each chunk reads the 1x1 convs' weights again: at one thread, weight bytes x chunks at
 * most MAX_WEIGHT_READS, and pairs (no expand) only with MAX_PAIR_WEIGHTS. Against the ops
 * one by one, interleaved runs: MobileNetV2 at 2 threads, its blocks from 112x112 to 14x14
 * with 384 channels fused (read 15-192 KiB), calm +-0.5%, slow -24% (also the two 14x14
 * ones with 576 channels, 864 KiB: calm +0.5%, slow -27%). MobileNetV1 (calm, 1 / 2
 * threads): the 112x112 pair (32 -> 64 channels, 8 KiB) 0.84-0.91 / 0.89-0.92x, the
 * 64 -> 128 one 0.95 / 1.01x, the 56x56 and 28x28 ones 1.01-1.10x, the runs of pointwise,
 * depthwise, pointwise at 56x56 and 28x28 (read 480 KiB and more) 1.05-1.14x. */
#define MAX_WEIGHT_READS (256L << 10)
#define MAX_PAIR_WEIGHTS (16L << 10)

struct mc_block {
    const mc_conv *e, *d, *pj; /* expand, depthwise, project (owned by the ops) */
    int rows;                  /* most output rows per chunk (scratch planes hold these) */
    int in_rows;               /* the input rows those read: expand scratch planes */
    long *koff;                /* project's B rows: plane k of the depthwise scratch */
    mc_dw3x3_clamp_fn dw;
};

static int clamp_or_none(int act) {
    return act == MC_ACT_NONE || act == MC_ACT_RELU || act == MC_ACT_CLIP;
}

/* A 1x1 conv the block runs: the GEMM on NCHW, or the pixels-as-rows kernel (its other
 * activations run over whole columns, beyond a chunk's rows: not those) */
static int fusable_1x1(const mc_conv *c) {
    const int kernel = c->algo == ALGO_GEMM1X1 ||
                       (c->algo == ALGO_SKINNY && clamp_or_none(c->p.act));
    return kernel && (c->apack || c->apack16) && !c->f16_arith && c->p.n == 1;
}

/* The 1x1 conv c on `pixels` pixels of every plane: x + k * x_plane (koff[k]: the same
 * offsets, for the GEMM) in, y + m * y_plane out, on this task's thread. */
static int pointwise(const mc_conv *c, mc_threads *t, int tid, const float *x, long x_plane,
                     const long *koff, int pixels, float *y, long y_plane) {
    const mc_act act = {c->p.act, c->p.act_a, c->p.act_b};
    if (c->algo == ALGO_SKINNY)
        return mc_skinny_in_task(t, tid, c->isa_id, pixels, c->p.m, c->k, x, 1, x_plane,
                                 c->apack, c->apack16, c->bias, &act, y, 1, y_plane);
    mc_gemm_sub sub = {0};
    if (c->apack16) /* fp16 weights: widened per block by the GEMM */
        sub.a = (mc_src){.kind = MC_SRC_PACKED_F16, .h = c->apack16};
    else
        sub.a = (mc_src){.kind = MC_SRC_PACKED, .p = c->apack};
    sub.b = (mc_src){.kind = MC_SRC_ROWS, .p = x, .koff = koff};
    sub.c = y;
    sub.ldc = y_plane;
    sub.bias = c->bias;
    const mc_epilogue ep = {1.0f, 1.0f, MC_BIAS_ROW, act};
    return mc_gemm_in_task(t, tid, c->isa, c->p.m, pixels, c->k, &sub, &ep);
}

mc_block *mc_block_create(const mc_conv *e, const mc_conv *d, const mc_conv *pj) {
    if (!d || !pj || (e && !fusable_1x1(e)) || !fusable_1x1(pj) ||
        d->algo != ALGO_DEPTHWISE || !mc_dw_plan_rows(d->dw))
        return NULL;
    const mc_conv_params *pd = &d->p;
    if (pd->n != 1 || pd->m != pd->c || pj->p.c != pd->m || pj->p.h != pd->oh ||
        pj->p.w != pd->ow)
        return NULL;
    if (e && (pd->c != e->p.m || pd->h != e->p.h || pd->w != e->p.w || e->isa_id != d->isa_id))
        return NULL;
    const mc_dw3x3_clamp_fn dw = mc_dw3x3_row_kernel(pd, d->isa_id);
    if (!dw || !clamp_or_none(pd->act) || (long)pd->h * pd->w < MIN_PLANE ||
        pj->isa_id != d->isa_id)
        return NULL;
    /* the most rows whose expanded input and depthwise output fit CHUNK_BYTES */
    const long per_row = (long)sizeof(float) * pd->c * ((e ? pd->sh * pd->w : 0) + pd->ow);
    int rows = (int)MC_MIN((long)pd->oh, CHUNK_BYTES / per_row);
    if (rows < MIN_ROWS) return NULL;
    const long wbytes = (long)sizeof(float) * (pj->p.m * pj->k + (e ? e->p.m * e->k : 0));
    if (wbytes * MC_CEIL_DIV(pd->oh, rows) > MAX_WEIGHT_READS ||
        (!e && wbytes > MAX_PAIR_WEIGHTS))
        return NULL;
    mc_block *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->e = e;
    b->d = d;
    b->pj = pj;
    b->rows = rows;
    b->in_rows = e ? MC_MIN(pd->h, (rows - 1) * pd->sh + pd->kh) : 0;
    b->dw = dw;
    b->koff = malloc(sizeof(long) * (size_t)pd->c);
    if (!b->koff) {
        free(b);
        return NULL;
    }
    for (int k = 0; k < pd->c; k++) b->koff[k] = (long)k * rows * pd->ow;
    return b;
}

void mc_block_destroy(mc_block *b) {
    if (!b) return;
    free(b->koff);
    free(b);
}

typedef struct {
    const mc_block *b;
    int rows; /* output rows per chunk, this run */
    mc_threads *t;
    const float *x;
    float *y;
    long *last; /* per thread: the chunk its scratch holds the expanded rows of (-1: none) */
    int failed;
} block_job;

static void fail(block_job *j, int rc) {
    if (rc != MC_OK) __atomic_store_n(&j->failed, rc, __ATOMIC_RELAXED);
}

static void block_task(void *raw, long task, int tid) {
    block_job *j = raw;
    const mc_block *b = j->b;
    const mc_conv *e = b->e, *d = b->d, *pj = b->pj;
    const mc_conv_params *pd = &d->p;
    const int s = pd->sh, r0 = (int)task * j->rows, r1 = MC_MIN(pd->oh, r0 + j->rows);
    /* input rows [a, z) of the depthwise rows [r0, r1) */
    const int a = MC_MAX(0, r0 * s - pd->pt);
    const int z = MC_MIN(pd->h, (r1 - 1) * s - pd->pt + pd->kh);
    const long in_plane = (long)b->in_rows * pd->w, out_plane = (long)b->rows * pd->ow;
    float *ex = e ? mc_ws_get(j->t, tid, MC_WS_CONV_IN, sizeof(float) * (size_t)pd->c * in_plane)
                  : NULL;
    float *dx = mc_ws_get(j->t, tid, MC_WS_CONV_OUT, sizeof(float) * (size_t)pd->c * out_plane);
    float *zero = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * (size_t)pd->w);
    if ((e && !ex) || !dx || !zero) {
        fail(j, MC_ERR_NOMEM);
        return;
    }
    memset(zero, 0, sizeof(float) * (size_t)pd->w);
    mc_conv_params cut = *pd; /* the depthwise plane cut to the chunk: see step 2 */
    cut.oh = r1 - r0;
    const float *dw_in = j->x; /* no expand: the depthwise conv reads the input planes */
    long dw_plane = (long)pd->h * pd->w;
    cut.pt = pd->pt - r0 * s;
    if (e) {
        /* 1. expand: rows [a, z) of every input plane, read in place. When this thread ran
         * the chunk above, its last rows are the first ones here: moved up, not computed
         * again. The depthwise conv reads them from this scratch. */
        dw_in = ex;
        dw_plane = in_plane;
        cut.h = z - a;
        cut.pt = pd->pt + a - r0 * s;
        int from = a;
        if (j->last[tid] == task - 1 && task > 0) {
            const int pa = MC_MAX(0, (r0 - j->rows) * s - pd->pt); /* that chunk's rows */
            from = MC_MIN(pd->h, (r0 - 1) * s - pd->pt + pd->kh);  /* ... end here */
            if (from > a)
                for (int c = 0; c < pd->c; c++)
                    memmove(ex + c * in_plane, ex + c * in_plane + (long)(a - pa) * pd->w,
                            sizeof(float) * (size_t)(from - a) * pd->w);
            else
                from = a;
        }
        j->last[tid] = task;
        const int rc = pointwise(e, j->t, tid, j->x + (long)from * pd->w, (long)pd->h * pd->w,
                                 e->koff, (z - from) * pd->w, ex + (long)(from - a) * pd->w,
                                 in_plane);
        if (rc != MC_OK) {
            fail(j, rc);
            return;
        }
    }
    /* 2. depthwise: output rows [r0, r1) (the band cut of depthwise.c: input rows from the
     * shifted top padding) */
    float lo, hi;
    mc_dw_fused_clamp(pd, &lo, &hi);
    for (int c = 0; c < pd->c; c++)
        b->dw(&cut, dw_in + c * dw_plane, d->w + c * 9, d->bias[c], dx + c * out_plane, zero,
              lo, hi);
    /* 3. project: the chunk's rows of every output plane */
    fail(j, pointwise(pj, j->t, tid, dx, out_plane, b->koff, (r1 - r0) * pd->ow,
                      j->y + (long)r0 * pd->ow, (long)pj->p.h * pj->p.w));
}

int mc_block_run(const mc_block *b, mc_threads *t, const float *x, float *y) {
    const mc_conv_params *pd = &b->d->p;
    const double flops = (b->e ? 2.0 * pd->h * pd->w * (double)b->e->p.m * b->e->k : 0.0) +
                         2.0 * 9.0 * pd->oh * pd->ow * pd->c +
                         2.0 * pd->oh * pd->ow * (double)b->pj->p.m * b->pj->k;
    const int threads = mc_threads_for(t, flops * MC_NS_PER_GEMM_FLOP);
    /* chunks of at most b->rows rows, as many per thread, of equal size */
    const long chunks = MC_ROUND_UP(MC_CEIL_DIV(pd->oh, b->rows), threads);
    const int rows = (int)MC_CEIL_DIV(pd->oh, chunks);
    const int n = mc_threads_n(t);
    long last[n];
    for (int i = 0; i < n; i++) last[i] = -1;
    block_job j = {b, rows, t, x, y, last, 0};
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(pd->oh, rows), block_task, &j);
    mc_op_end(t);
    return j.failed;
}
