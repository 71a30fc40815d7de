/* Declarations shared by the kernel sources (not part of the public API). */
#ifndef MACE_CPU_INTERNAL_H
#define MACE_CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "mace_cpu.h"

#define MC_VERSION "0.1.0"
#define MC_ALIGN 64
#define MC_MAX_MR 16  /* largest micro-kernel tile height of any ISA */
#define MC_MAX_KC 512 /* largest K block of any ISA */

#define MC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MC_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define MC_ROUND_UP(a, b) (MC_CEIL_DIV(a, b) * (b))

/* Per-ISA variants of plain C loops: the same body compiled for another target. */
#if defined(__x86_64__) && defined(__GNUC__)
#define MC_X86 1
#define MC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MC_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,prefer-vector-width=512")))
#elif defined(__aarch64__)
#define MC_ARM64 1
#endif

/* -- ISA table ------------------------------------------------------------------------- */
/* What a micro-kernel does around its MR x NR product, in registers:
 * start from C (load_c: a later K block) or else from the row bias (MR values) or 0, and
 * clamp to [lo, hi] at the end (ReLU, Clip; clamp = 0 leaves the values as they are). */
typedef struct {
    int load_c;
    const float *bias;
    int clamp;
    float lo, hi;
} mc_tile_ep;

/* C[MR x NR] (row stride ldc) = start + A panel (kc x MR) * B sliver (kc x NR), see
 * mc_tile_ep. a holds MR floats per k (broadcast), b NR floats per k (64-byte aligned). */
typedef void (*mc_ukr_fn)(int kc, const float *a, const float *b, float *c, long ldc,
                          const mc_tile_ep *ep);
/* The same with B read in place: row k of the sliver is b + koff[k] (NR floats). */
typedef void (*mc_ukr_rows_fn)(int kc, const float *a, const float *b, const long *koff,
                               float *c, long ldc, const mc_tile_ep *ep);

/* dst[t] = src[t * step] for lo <= t < hi, 0 elsewhere, for t in [0, count): one padded
 * run of a packed row (src is only read inside the valid range). copy: step 1, copy2: 2. */
typedef void (*mc_copy_fn)(float *dst, const float *src, int lo, int hi, int count);

typedef struct {
    int id;
    const char *name;
    int mr, nr;      /* micro-kernel tile */
    int kc;          /* K block: a B sliver (kc x nr) stays in L1 */
    int mc;          /* M block: an A block (mc x kc) stays in L2 */
    int nc;          /* N block: a B block (kc x nc) stays in L2 */
    mc_ukr_fn ukr;
    mc_ukr_rows_fn ukr_rows;
    mc_ukr_fn ukr_narrow;  /* MR x nr_narrow on a packed sliver, for narrow last slivers */
    int nr_narrow;         /* 0: none */
    mc_copy_fn copy, copy2; /* used by the packers */
} mc_isa_info;

const mc_isa_info *mc_isa_get(int isa); /* NULL when not usable here */

void mc_ukr_scalar(int kc, const float *a, const float *b, float *c, long ldc,
                   const mc_tile_ep *ep);
void mc_ukr_rows_scalar(int kc, const float *a, const float *b, const long *koff, float *c,
                        long ldc, const mc_tile_ep *ep);
void mc_copy_scalar(float *dst, const float *src, int lo, int hi, int count);
void mc_copy2_scalar(float *dst, const float *src, int lo, int hi, int count);
#ifdef MC_X86
void mc_ukr_avx2(int kc, const float *a, const float *b, float *c, long ldc,
                   const mc_tile_ep *ep);
void mc_ukr_rows_avx2(int kc, const float *a, const float *b, const long *koff, float *c,
                        long ldc, const mc_tile_ep *ep);
void mc_ukr_avx512(int kc, const float *a, const float *b, float *c, long ldc,
                   const mc_tile_ep *ep);
void mc_ukr_rows_avx512(int kc, const float *a, const float *b, const long *koff, float *c,
                        long ldc, const mc_tile_ep *ep);
void mc_copy_avx2(float *dst, const float *src, int lo, int hi, int count);
void mc_copy_avx512(float *dst, const float *src, int lo, int hi, int count);
void mc_copy2_avx512(float *dst, const float *src, int lo, int hi, int count);
void mc_ukr_avx512_n16(int kc, const float *a, const float *b, float *c, long ldc,
                       const mc_tile_ep *ep);
#endif
#ifdef MC_ARM64
void mc_ukr_neon(int kc, const float *a, const float *b, float *c, long ldc,
                   const mc_tile_ep *ep);
void mc_ukr_rows_neon(int kc, const float *a, const float *b, const long *koff, float *c,
                        long ldc, const mc_tile_ep *ep);
#endif

/* -- threads and workspace ---------------------------------------------------------------- */
typedef void (*mc_task_fn)(void *ctx, long task, int tid);

/* Runs fn(ctx, i, tid) for i in [0, ntasks) on up to `threads` threads of the pool
 * (t may be NULL, threads <= 1: serial, on the caller). */
void mc_parallel(mc_threads *t, int threads, long ntasks, mc_task_fn fn, void *ctx);
int mc_threads_n(const mc_threads *t); /* 1 for NULL */
/* How many threads a job of `work_ns` nanoseconds (single-thread estimate) is worth: 1 for
 * small jobs (waking a sleeping worker costs microseconds; one still spinning after the
 * previous job is cheap to use), at most the pool's size. */
int mc_threads_for(mc_threads *t, double work_ns);
/* Rough single-thread speeds for those estimates: ns per flop of a GEMM-like kernel, of a
 * direct (depthwise, pooling) kernel, and ns per byte moved by an elementwise one. */
#define MC_NS_PER_GEMM_FLOP (1.0 / 150.0)
#define MC_NS_PER_DIRECT_FLOP (1.0 / 40.0)
#define MC_NS_PER_BYTE (1.0 / 20.0)
/* Runs every job of the pool on the caller while `on` (the step lists' serial runs). */
void mc_threads_set_serial(mc_threads *t, int on);
/* A pool without a CPU policy: its workers may run on the caller's CPUs but the one the
 * caller is on now (re-done when the caller has moved; nothing when it has one CPU). */
void mc_threads_spread(mc_threads *t);
/* While `on`, the pool keeps no fallback to serial jobs of its own (mc_parallel) and
 * turning it on or off ends one under way: a step list deciding serial or parallel run by
 * run from its own timings, during its parallel runs. */
void mc_threads_decide(mc_threads *t, int on);
/* Keeps the workers spinning instead of sleeping: while a step list runs in parallel
 * (running = 1), then for $MACE_CPU_LINGER_US (1 ms) after it (running = 0). */
void mc_threads_linger(mc_threads *t, int running);
/* Serialises ops on one pool (they share its workspace). Both accept NULL. */
void mc_op_begin(mc_threads *t);
void mc_op_end(mc_threads *t);

/* A, B, TMP: GEMM tasks; MISC: depthwise / pool tasks; CONV_IN, CONV_OUT: a conv's padded
 * input and uncropped output (thread 0, outside tasks). */
enum { MC_WS_A = 0, MC_WS_B = 1, MC_WS_TMP = 2, MC_WS_MISC = 3, MC_WS_CONV_IN = 4,
       MC_WS_CONV_OUT = 5, MC_WS_SLOTS = 6 };
/* Per-thread scratch (64-byte aligned, grows, kept until the pool dies); NULL on OOM.
 * With t == NULL a process-wide slot set is used (serial callers only). */
float *mc_ws_get(mc_threads *t, int tid, int slot, size_t bytes);

void *mc_aligned_alloc(size_t bytes);
void mc_aligned_free(void *p);

/* -- activation --------------------------------------------------------------------------- */
typedef struct {
    int kind;
    float a, b;
} mc_act;

/* y[i] = act(x[i]) for n elements (x may equal y), with the loops compiled for `isa`. */
void mc_act_apply(const mc_act *act, int isa, const float *x, float *y, long n);

/* -- conv plans (conv.c; block.c reads the plans it fuses) -------------------------------- */
enum { ALGO_DEPTHWISE = 0, ALGO_GEMM1X1 = 1, ALGO_SHIFTED = 2, ALGO_IM2COL = 3, ALGO_SKINNY = 4,
       ALGO_WINOGRAD = 5, ALGO_SKINNY_COLS = 6 };
struct mc_conv {
    mc_conv_params p;
    const mc_isa_info *isa;
    int isa_id, algo;
    int cg, mg, k;       /* per group: input channels, output channels, GEMM K */
    float *apack;        /* packed weights, `group` blocks of apack_group floats */
    size_t apack_group;
    float *w;            /* depthwise: weights as given (M x kh x kw) */
    float *bias;         /* M floats, zeros when the node has none */
    struct mc_dw_plan *dw; /* depthwise: kernel choice, tap offsets, mask table */
    long *koff;          /* gemm1x1, shifted: offset of GEMM row k in the (padded) image */
    int hp, wp;          /* shifted: padded input size */
    uint16_t *apack16;   /* the packed weights as fp16 instead of apack (mc_conv_create_f16) */
    struct mc_wino *wino; /* winograd: transformed weights and geometry */
    int f16_arith;       /* runs the GEMM in fp16 arithmetic (mc_conv_use_f16_arith) */
};

/* -- depthwise ------------------------------------------------------------------------- */
/* Whether the AVX-512 stride-1 3x3 kernel takes p's plane with its one-vector rows
 * (depthwise_x86.c: one load a row, the side taps shifted in registers). */
static inline int mc_dw3x3s1_row1(const mc_conv_params *p) {
    return p->sh == 1 && p->w <= 16 && p->ow <= 16 && p->pl == 1;
}
/* 3x3 plane kernels with the clamp fused (depthwise_x86.c), for rows up to MC_DW_MAX_OW. */
#define MC_DW_MAX_OW 1024
typedef void (*mc_dw3x3_clamp_fn)(const mc_conv_params *p, const float *x, const float *k,
                                  float bias, float *y, const float *zero, float lo, float hi);
/* The hand-written kernel for p's 3x3 geometry (dilation 1, equal strides 1 or 2, rows up
 * to MC_DW_MAX_OW) on isa, or NULL (other geometries and ISAs). */
mc_dw3x3_clamp_fn mc_dw3x3_row_kernel(const mc_conv_params *p, int isa);
/* The clamp those kernels fuse into their stores, [lo, hi] (ReLU / Clip; +-inf otherwise);
 * returns whether the activation is that clamp (else it runs on the finished rows). */
int mc_dw_fused_clamp(const mc_conv_params *p, float *lo, float *hi);
#ifdef MC_X86
void mc_dw3x3s1_avx512(const mc_conv_params *p, const float *x, const float *k, float bias,
                       float *y, const float *zero, float lo, float hi);
void mc_dw3x3s1_avx2(const mc_conv_params *p, const float *x, const float *k, float bias,
                     float *y, const float *zero, float lo, float hi);
void mc_dw3x3s2_avx512(const mc_conv_params *p, const float *x, const float *k, float bias,
                       float *y, const float *zero, float lo, float hi);
void mc_dw3x3s2_avx2(const mc_conv_params *p, const float *x, const float *k, float bias,
                     float *y, const float *zero, float lo, float hi);
#endif

/* Flat depthwise loops (depthwise_grid.c): any kernel of up to MC_DW_GRID_TAPS taps and any
 * dilation; "grid" for stride 1 or 2 (equal) on a padded copy of each plane, "flat" for
 * stride 1 with OW == W, in place with a mask table. */
#define MC_DW_GRID_TAPS 64
typedef struct {
    int g, rows, ntaps;  /* grid row stride, rows per phase plane, taps */
    long plane, nq;      /* floats per phase plane; grid outputs (OH * g) */
    long filled, scratch; /* floats written per plane; scratch floats with slack */
    long toff[MC_DW_GRID_TAPS]; /* scratch offset of each tap */
} mc_dw_grid;
/* dst[q] = clamp(bias + sum_t k[t] * src[q + toff[t]], lo, hi) for q < nq; flat kernels
 * load tap t of output vector v under masks[v * ntaps + t]. */
typedef void (*mc_dw_loop_fn)(const float *src, const long *toff, const uint16_t *masks,
                              const float *k, int ntaps, float bias, float lo, float hi,
                              float *dst, long nq);
typedef struct {
    void (*fill)(const mc_conv_params *p, const mc_dw_grid *g, const float *x, float *buf);
    void (*crop)(const mc_conv_params *p, const mc_dw_grid *g, const float *grid, float *y);
    mc_dw_loop_fn grid, flat; /* flat: NULL where the ISA has none */
    /* flat on planes x and x + in_plane (kernels k and k + ntaps, bias[0] and bias[1],
     * outputs dst and dst + nq) of at most 64 outputs, or NULL */
    void (*flat2)(const float *x, long in_plane, const long *toff, const uint16_t *masks,
                  const float *k, int ntaps, const float *bias, float lo, float hi,
                  float *dst, long nq);
} mc_dw_grid_ops_t;
void mc_dw_grid_plan(const mc_conv_params *p, mc_dw_grid *g);
void mc_dw_grid_ops(int isa, mc_dw_grid_ops_t *ops);
/* The flat tap offsets and mask table (vectors of `lanes`; masks NULL: offsets only);
 * returns the vector count, or 0 when the geometry does not suit (or needs more than
 * max_masks masks). */
int mc_dw_flat_plan(const mc_conv_params *p, int lanes, long *toff, uint16_t *masks,
                    long max_masks);

/* Depthwise convolution (depthwise.c): a plan made with the conv's plan, then runs. */
typedef struct mc_dw_plan mc_dw_plan;
/* Whether the plan runs the 3x3 row kernels where the ISA has them (not the flat / grid
 * loops): block.c runs those kernels for it. */
int mc_dw_plan_rows(const mc_dw_plan *dp);
mc_dw_plan *mc_dw_plan_create(const mc_conv_params *p, int isa);
void mc_dw_plan_destroy(mc_dw_plan *dp);
int mc_depthwise_run(const mc_conv_params *p, const mc_dw_plan *dp, int isa, const float *w,
                     const float *bias, mc_threads *t, const float *x, float *y);

/* Skinny GEMM (gemm_skinny.c): few rows, a constant B packed as 32-wide K x 32 slivers.
 * Y(i, j) = y[i * y_sr + j * y_sc] = act(sum_k a[i * a_sr + k * a_sk] * B(k, j) + bias[j]);
 * y_sc == 1 (row-major) or y_sr == 1 (column-major, e.g. NCHW when rows are pixels). */
int mc_skinny_supported(int isa);
float *mc_skinny_pack(const float *src, long rs, long cs, int k, int n); /* B(k, j) = src[k*rs + j*cs] */
size_t mc_skinny_packed_size(int k, int n); /* floats of mc_skinny_pack's result */
int mc_skinny_run(mc_threads *t, int isa, int m, int n, int k, const float *a, long a_sr,
                  long a_sk, const float *bpack, const float *bias, const mc_act *act,
                  float *y, long y_sr, long y_sc);

/* One product on the calling thread, inside a task of another job (block.c): B packed as
 * fp32 (bpack) or fp16 (bpack16, when not NULL). */
int mc_skinny_in_task(mc_threads *t, int tid, int isa, int m, int n, int k, const float *a,
                      long a_sr, long a_sk, const float *bpack, const uint16_t *bpack16,
                      const float *bias, const mc_act *act, float *y, long y_sr, long y_sc);
/* The same with B packed as fp16 (mc_narrow_plan_weights of mc_skinny_pack's result). */
int mc_skinny_run_f16(mc_threads *t, int isa, int m, int n, int k, const float *a, long a_sr,
                      long a_sk, const uint16_t *bpack, const float *bias, const mc_act *act,
                      float *y, long y_sr, long y_sc);

/* -- fp16 weights (half.c) ----------------------------------------------------------------- */
/* `count` packed floats (fp16 values and zeros, so exact) as a new fp16 buffer; frees
 * `packed` on success, keeps it (and returns NULL) when out of memory. */
uint16_t *mc_narrow_plan_weights(float *packed, size_t count);

/* -- GEMM driver -------------------------------------------------------------------------- */
/* Where an operand comes from:
 * PACKED  prepacked (mc_pack_*_full), read in place;
 * DENSE   strided matrix, packed block by block;
 * ROWS    (B) read in place by the rows micro-kernel: element (k, j) = p[koff[k] + j];
 * BUILT   (B) rows built per block by a callback into scratch, then read in place. */
enum { MC_SRC_PACKED = 0, MC_SRC_DENSE = 1, MC_SRC_ROWS = 2, MC_SRC_BUILT = 3,
       MC_SRC_PACKED_F16 = 4 /* PACKED, held as fp16 (h): each block widened into scratch */ };

/* Writes rows [k0, k0+kc) x columns [n0, n0+nc) of B into dst (row kk at dst + kk*ld),
 * zero-filling columns nc..ld-1. */
typedef void (*mc_build_fn)(const mc_isa_info *isa, const void *ctx, int k0, int kc, int n0,
                            int nc, float *dst, long ld);

typedef struct {
    int kind;            /* MC_SRC_* */
    const float *p;      /* PACKED: packed operand; DENSE: element (r, c) = p[r*rs + c*cs] */
    long rs, cs;
    mc_build_fn build;   /* BUILT */
    const long *koff;    /* ROWS: offset of each row k */
    const void *ctx;
    const uint16_t *h;   /* PACKED_F16: the packed operand as fp16 */
} mc_src;

/* One independent product of a job (a batch image, a group...). */
typedef struct {
    mc_src a, b;
    float *c;
    long ldc;
    const float *bias;   /* per the epilogue's bias kind; FULL uses ldc-independent ld_bias */
    long ld_bias;
} mc_gemm_sub;

typedef struct {
    float alpha, beta;
    int bias_kind;
    mc_act act;
} mc_epilogue;

/* Size in floats of a packed operand: A (M x K) with MR panels or B (K x N) with NR. */
size_t mc_packed_size(const mc_isa_info *isa, int rows_or_cols, int k, int tile);
/* Pack A (M x K; element (i, k) = src[i*rs + k*cs]) into the layout the driver reads. */
void mc_pack_a_full(const mc_isa_info *isa, const float *src, long rs, long cs, int m, int k,
                    float *dst);
/* Pack B (K x N; element (k, j) = src[k*rs + j*cs]). */
void mc_pack_b_full(const mc_isa_info *isa, const float *src, long rs, long cs, int k, int n,
                    float *dst);

int mc_gemm_job(mc_threads *t, const mc_isa_info *isa, int m, int n, int k, int nsub,
                const mc_gemm_sub *subs, const mc_epilogue *ep);
/* One product (sub) on the calling thread, inside a task of another job: thread tid's
 * scratch, no tasks of its own (block.c). */
int mc_gemm_in_task(mc_threads *t, int tid, const mc_isa_info *isa, int m, int n, int k,
                    const mc_gemm_sub *sub, const mc_epilogue *ep);

/* -- fp16 arithmetic (gemm_f16.c) ------------------------------------------------------------
 * mc_gemm_job in fp16 arithmetic on neon with HWCAP_ASIMDHP: A and B as fp16 (PACKED_F16 in
 * place; A DENSE, B ROWS / BUILT rounded per block), fp16 sums over chunks of K added into
 * the fp32 C. MC_ERR_ISA where mc_f16_arith_supported(isa->id) is 0. */
int mc_gemm_f16_job(mc_threads *t, const mc_isa_info *isa, int m, int n, int k, int nsub,
                    const mc_gemm_sub *subs, const mc_epilogue *ep);
/* gemm.c's epilogue on a finished tile at (i0, j0): alpha, bias and activation. */
void mc_gemm_epilogue_tile(const mc_epilogue *ep, int isa, const mc_gemm_sub *s, float *c,
                           long ldc, int i0, int j0, int mr, int nr);
/* The activation alone, on rows [m0, m1) x columns [n0, n1) of a finished block (gemm.c). */
void mc_gemm_act_rows(const mc_epilogue *ep, int isa, const mc_gemm_sub *s, int m0, int m1,
                      int n0, int n1);
/* How a GEMM epilogue splits between the micro-kernel and mc_gemm_epilogue_tile: the
 * kernel takes it (in_kernel) with alpha 1 and no bias or a row bias with beta 1, and then
 * ReLU / Clip as its clamp; post: something is left to run, the whole epilogue on the
 * finished tile where !in_kernel, else the activation alone on the finished block
 * (mc_gemm_act_rows).
 * tep: the tile epilogue to start from (load_c, bias, clamp per block). */
typedef struct {
    int in_kernel, clamp, post;
    mc_tile_ep tep;
} mc_ep_split;
static inline mc_ep_split mc_split_epilogue(const mc_epilogue *ep) {
    mc_ep_split e;
    e.in_kernel = ep->alpha == 1.0f && (ep->bias_kind == MC_BIAS_NONE ||
                                        (ep->bias_kind == MC_BIAS_ROW && ep->beta == 1.0f));
    e.clamp = e.in_kernel && (ep->act.kind == MC_ACT_RELU || ep->act.kind == MC_ACT_CLIP);
    e.post = !e.in_kernel || (ep->act.kind != MC_ACT_NONE && !e.clamp);
    const int clip = ep->act.kind == MC_ACT_CLIP;
    e.tep = (mc_tile_ep){0, NULL, 0, clip ? ep->act.a : 0.0f, clip ? ep->act.b : INFINITY};
    return e;
}

#endif
