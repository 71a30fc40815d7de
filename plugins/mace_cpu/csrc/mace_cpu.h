/* Public C API of the mace-cpu kernels: fp32, NCHW.
 *
 * This header is also the cffi cdef (build_ffi.py drops the preprocessor lines), so it
 * holds plain declarations only: no macros, no attributes, no inline code.
 *
 * Every entry point that runs a kernel takes an ISA id (fixed when the op was prepared)
 * and an optional thread pool (NULL runs on the calling thread). Status codes: MC_OK, or
 * a negative MC_ERR_* value.
 */
#ifndef MACE_CPU_H
#define MACE_CPU_H

enum mc_status { MC_OK = 0, MC_ERR_NOMEM = -1, MC_ERR_ISA = -2, MC_ERR_ARG = -3 };

enum mc_isa_id { MC_ISA_SCALAR = 0, MC_ISA_AVX2 = 1, MC_ISA_AVX512 = 2, MC_ISA_NEON = 3,
                 MC_ISA_COUNT = 4 };

/* Fused activations (mace_core/ops/fused_activation.py); a, b are its params. */
enum mc_act_kind { MC_ACT_NONE = 0, MC_ACT_RELU = 1, MC_ACT_CLIP = 2, MC_ACT_LEAKY_RELU = 3,
                   MC_ACT_SIGMOID = 4, MC_ACT_TANH = 5, MC_ACT_HARD_SIGMOID = 6,
                   MC_ACT_HARD_SWISH = 7, MC_ACT_SWISH = 8 };

enum mc_bias_kind { MC_BIAS_NONE = 0, MC_BIAS_ROW = 1, MC_BIAS_COL = 2, MC_BIAS_FULL = 3 };

enum mc_binop { MC_BIN_ADD = 0, MC_BIN_SUB = 1, MC_BIN_MUL = 2, MC_BIN_DIV = 3 };

/* Unary math for mc_unary, after the activations (mc_act_kind). */
enum mc_unary_kind { MC_UN_NEG = 16, MC_UN_ABS = 17, MC_UN_SQRT = 18, MC_UN_EXP = 19,
                     MC_UN_LOG = 20, MC_UN_RECIPROCAL = 21 };

enum mc_reduce_kind { MC_REDUCE_SUM = 0, MC_REDUCE_MEAN = 1, MC_REDUCE_MAX = 2,
                      MC_REDUCE_MIN = 3 };

enum mc_pool_kind { MC_POOL_MAX = 0, MC_POOL_AVG = 1 };

/* -- version and ISA ------------------------------------------------------------------ */
const char *mc_version(void);
int mc_isa_supported(int isa);          /* 1 if compiled in and usable on this CPU */
int mc_isa_best(void);
const char *mc_isa_name(int isa);       /* "scalar", "avx2", "avx512", "neon" */
const char *mc_cpu_features(void);      /* space-separated feature flags seen at run time */
int mc_gemm_tile(int isa, int *mr, int *nr, int *kc); /* micro-kernel tile of an ISA */

/* -- thread pool ------------------------------------------------------------------------ */
typedef struct mc_threads mc_threads;
mc_threads *mc_threads_create(int nthreads);   /* nthreads <= 0: online cores */
void mc_threads_destroy(mc_threads *t);
int mc_threads_count(const mc_threads *t);
/* Microseconds the workers keep spinning after a fused run on them (default 1000, or
 * $MACE_CPU_LINGER_US; 0: none, they sleep once their spin time runs out). Set it before
 * the pool runs work. */
void mc_threads_set_linger(mc_threads *t, long us);
long mc_threads_linger_us(const mc_threads *t);
/* Scales the work per thread below which jobs run on fewer threads (default 1; 0 splits
 * every job over the whole pool, as tests do to exercise the parallel paths). */
void mc_set_grain(double scale);

/* -- convolution (2-D, groups, strides, dilations, pads) --------------------------------- */
typedef struct {
    int n, c, h, w;          /* input N x C x H x W */
    int m, kh, kw;           /* output channels, kernel size */
    int oh, ow;              /* output size (padding at the end follows from it) */
    int sh, sw, dh, dw;      /* strides, dilations */
    int pt, pl;              /* padding at the top and left */
    int group;
    int act;                 /* mc_act_kind */
    float act_a, act_b;
} mc_conv_params;

typedef struct mc_conv mc_conv;
/* weight: M x C/group x kh x kw; bias: M floats or NULL. Weights are packed here, once. */
mc_conv *mc_conv_create(const mc_conv_params *p, const float *weight, const float *bias,
                        int isa);
int mc_conv_run(const mc_conv *plan, mc_threads *t, const float *x, float *y);
const char *mc_conv_algo(const mc_conv *plan);
int mc_conv_wino_tile(const mc_conv *plan); /* "winograd": output tile 4 or 2; else 0 */
void mc_conv_destroy(mc_conv *plan);

/* -- inverted-residual blocks (block.c): a 1x1 expand, 3x3 depthwise and 1x1 project conv
 * run as one op, chunk by chunk of output rows, the expanded rows kept in scratch. The
 * plans stay owned by the caller and must outlive the block. NULL: this block is not one
 * the fused kernel takes (then run the three plans). Results are bit-identical to theirs. */
typedef struct mc_block mc_block;
mc_block *mc_block_create(const mc_conv *expand, const mc_conv *depthwise,
                          const mc_conv *project);
int mc_block_run(const mc_block *b, mc_threads *t, const float *x, float *y);
void mc_block_destroy(mc_block *b);

/* -- ConvTranspose (2-D, group 1): the same params, with n, c, h, w the input, m, oh, ow the
 * output, pt / pl the pads cropped at the start (>= 0); weight is C x M x kh x kw. */
typedef struct mc_convt mc_convt;
mc_convt *mc_convt_create(const mc_conv_params *p, const float *weight, const float *bias,
                          int isa);
int mc_convt_run(const mc_convt *plan, mc_threads *t, const float *x, float *y);
void mc_convt_destroy(mc_convt *plan);

/* -- GEMM: Y[M,N] = act(alpha * op(A) op(B) + beta * bias) ------------------------------- */
typedef struct {
    int m, n, k;
    int trans_a, trans_b;    /* A is K x M (B is N x K) when set */
    float alpha, beta;
    int bias_kind;           /* mc_bias_kind: M values, N values, or M x N */
    int act;
    float act_a, act_b;
} mc_gemm_params;

typedef struct mc_gemm mc_gemm;
/* b_const: B packed once here; NULL means B is given to each run. */
mc_gemm *mc_gemm_create(const mc_gemm_params *p, const float *b_const, int isa);
int mc_gemm_run(const mc_gemm *plan, mc_threads *t, const float *a, const float *b,
                const float *bias, float *y);
void mc_gemm_destroy(mc_gemm *plan);
/* Y[i] (M x N, contiguous, i < batch) = act(A (M x K at a + a_off[i]) * B (K x N at
 * b + b_off[i])), all row-major. */
int mc_matmul_batched(mc_threads *t, int isa, long batch, int m, int n, int k, const float *a,
                      const long *a_off, const float *b, const long *b_off, int act,
                      float act_a, float act_b, float *y);

/* -- pooling ------------------------------------------------------------------------------ */
typedef struct {
    int n, c, h, w, oh, ow;
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr;      /* pads (AveragePool counts them with count_include_pad) */
    int kind;                /* mc_pool_kind */
    int count_include_pad;
} mc_pool_params;

int mc_pool2d(const mc_pool_params *p, mc_threads *t, int isa, const float *x, float *y);
int mc_global_avg_pool(mc_threads *t, int isa, long planes, long size, const float *x,
                       float *y);

/* -- elementwise ---------------------------------------------------------------------------
 * Binary: y[o, m, i] = act(a[o, m, i] op b[m]) over outer x mid x inner elements
 * (swap: y = act(b[m] op a[o, m, i])). Same shape is (1, size, 1); per-channel of NCHW is
 * (N, C, H*W); a scalar b is (1, 1, size). */
int mc_binary(mc_threads *t, int isa, int op, long outer, long mid, long inner,
              const float *a, const float *b, int swap, int act, float act_a, float act_b,
              float *y);
int mc_unary(mc_threads *t, int isa, long n, const float *x, int act, float act_a,
             float act_b, float *y);

/* -- normalisations and reductions along n of an (outer, n, inner) view ---------------------- */
int mc_softmax(mc_threads *t, int isa, long outer, long n, long inner, const float *x,
               float *y);
int mc_layernorm(mc_threads *t, int isa, long rows, long cols, const float *x,
                 const float *scale, const float *bias, float eps, float *y);
/* y[o, m, i] = act(x[o, m, i] * scale[m] + shift[m]) */
int mc_affine(mc_threads *t, int isa, long outer, long mid, long inner, const float *x,
              const float *scale, const float *shift, int act, float act_a, float act_b,
              float *y);
int mc_reduce(mc_threads *t, int isa, int kind, long outer, long n, long inner,
              const float *x, float *y);

/* -- data movement ----------------------------------------------------------------------------
 * Copy a box of `shape` (rank <= 8) from src to dst, each with its strides in elements. */
int mc_copy_nd(mc_threads *t, int rank, const long *shape, const float *src,
               const long *src_strides, float *dst, const long *dst_strides);
int mc_fill(mc_threads *t, long n, float value, float *dst);

/* Separable 2-D resize of `planes` planes h x w to oh x ow: output row oy is
 * sum_a wy[oy*ty + a] * input row iy[oy*ty + a] (ty taps; 1 tap: a copy), then the same
 * along W with ix / wx / tx. */
typedef struct {
    long planes;
    int h, w, oh, ow;
    int ty, tx;
    const int *iy;
    const float *wy;
    const int *ix;
    const float *wx;
} mc_resize_params;

int mc_resize2d(const mc_resize_params *r, mc_threads *t, const float *x, float *y);

/* -- comparison, selection, Pow, PRelu, LSTM (select.c, pow.c, prelu.c, lstm.c) -------------
 * Broadcast ops take the output box (rank <= 8) and each operand's strides in elements (0
 * along its broadcast axes), operand after operand in one array. bool tensors are bytes. */
enum mc_cmp_kind { MC_CMP_EQUAL = 0, MC_CMP_LESS = 1, MC_CMP_LESS_EQUAL = 2,
                   MC_CMP_GREATER = 3, MC_CMP_GREATER_EQUAL = 4 };
int mc_compare(mc_threads *t, int op, int rank, const long *shape, const float *a,
               const float *b, const long *strides, unsigned char *y);
int mc_where(mc_threads *t, int rank, const long *shape, const unsigned char *cond,
             const float *x, const float *y, const long *strides, float *out);
/* dst (outer, nidx, inner) = src (outer, axis_len, inner) at idx (negative: from the end;
 * out of range: MC_ERR_ARG); elements of any size, inner_bytes per row. */
int mc_gather(mc_threads *t, long outer, long axis_len, long inner_bytes,
              const long long *idx, long nidx, const void *src, void *dst);
int mc_pow(mc_threads *t, int rank, const long *shape, const float *x, const float *p,
           const long *strides, float *y);
int mc_pow_scalar(mc_threads *t, long n, const float *x, float e, float *y);
/* y = x < 0 ? x * slope[m] : x over (outer, mid, inner), as mc_binary's smaller operand. */
int mc_prelu(mc_threads *t, int isa, long outer, long mid, long inner, const float *x,
             const float *slope, float *y);

typedef struct {
    int seq, batch, input, hidden;
    int dirs;                /* 1, or 2: bidirectional */
    int reverse;             /* dirs 1: run backwards in time */
    int layout;              /* 0: X is seq x batch x input; 1: batch first */
    int input_forget;
    float clip;              /* > 0: gate pre-activations clipped to [-clip, clip] */
} mc_lstm_params;

typedef struct mc_lstm mc_lstm;
/* w: dirs x 4H x I, r: dirs x 4H x H, b: dirs x 8H or NULL, peep: dirs x 3H or NULL (ONNX
 * gate orders), copied and packed here. Outputs and initial states may be NULL. */
mc_lstm *mc_lstm_create(const mc_lstm_params *p, const float *w, const float *r,
                        const float *b, const float *peep, int isa);
int mc_lstm_run(mc_lstm *plan, mc_threads *t, const float *x, const float *h0,
                const float *c0, float *y, float *yh, float *yc);
void mc_lstm_destroy(mc_lstm *plan);

/* -- fp16 weights: packed as fp16 in the plan (half the memory), widened to fp32 per block
 * inside the GEMM, so the arithmetic stays fp32. Weights are IEEE half bit patterns. */
mc_gemm *mc_gemm_create_f16(const mc_gemm_params *p, const unsigned short *b_const, int isa);
/* Depthwise plans keep fp32 weights (M x kh x kw floats: small). */
mc_conv *mc_conv_create_f16(const mc_conv_params *p, const unsigned short *weight,
                            const float *bias, int isa);
/* Bytes of weights a plan holds; *f16 (may be NULL) says whether they are fp16. A plan
 * made by a _f16 create keeps fp32 where it has no fp16 path (depthwise convolutions). */
long mc_gemm_weight_bytes(const mc_gemm *plan, int *f16);
long mc_conv_weight_bytes(const mc_conv *plan, int *f16);
/* Conversions: fp16 -> fp32 with the widening loop of an ISA (exact), and fp32 -> fp16
 * rounded to nearest even. */
void mc_half_to_float(int isa, const unsigned short *src, float *dst, long n);
void mc_float_to_half(const float *src, unsigned short *dst, long n);

/* -- CPU affinity: a pool whose workers run only on cpus[0..ncpus) (Linux); a thread that
 * runs ops on it is pinned to them from its first op until it runs an op on a pool with
 * other CPUs (or none) or frees the pool, which give it its own mask back.
 * Returns NULL with *error set to the errno value (EINVAL: a CPU outside the process's
 * allowed set or not online; EPERM: not allowed; ENOSYS: not Linux; ENOMEM). */
mc_threads *mc_threads_create_pinned(int nthreads, const int *cpus, int ncpus, int *error);
/* Kernel thread id of worker i (1 .. count-1), for /proc/self/task/TID; -1 otherwise. */
int mc_threads_worker_tid(const mc_threads *t, int i);
/* The CPUs worker i (0: the calling thread as it runs an op on t) may run on, read with
 * sched_getaffinity; returns how many were written to cpus (at most cap), or -errno. */
int mc_threads_worker_cpus(mc_threads *t, int i, int *cpus, int cap);
/* Runs ntasks tasks as one op on the pool; task i writes the CPU it ran on (sched_getcpu)
 * and the pool thread that ran it (0: the caller). For tests of the pinning. */
int mc_threads_probe(mc_threads *t, long ntasks, int *cpu, int *thread);

/* -- int8 GEMM (gemm_int8.c): Y[M,N] int32 = (A - za) (B - zb), A (M x K) and B (K x N)
 * row-major int8 (signed = 1) or uint8, B constant (packed by create). Zero points: count 0
 * (none), 1 (per tensor), M (per row of A) or N (per column of B). The path is the int8
 * kernel an ISA runs here: avx512 -> avx512vnni (vpdpbusd) when the CPU has it, else avx2;
 * neon -> neondot (sdot) with HWCAP_ASIMDDP, else neon (smull/sadalp). */
enum mc_q8_path { MC_Q8_SCALAR = 0, MC_Q8_AVX2 = 1, MC_Q8_VNNI = 2, MC_Q8_NEON = 3,
                  MC_Q8_DOT = 4, MC_Q8_COUNT = 5 };
int mc_q8_path_for(int isa);            /* -1 when the ISA is not usable here */
const char *mc_q8_path_name(int path);  /* "scalar", "avx2", "avx512vnni", "neon", "neondot" */
typedef struct mc_q8gemm mc_q8gemm;
mc_q8gemm *mc_q8gemm_create(int n, int k, const void *b, int b_signed, const int *zb,
                            int zb_count, int isa);
int mc_q8gemm_run(const mc_q8gemm *plan, mc_threads *t, int m, const void *a, int a_signed,
                  const int *za, int za_count, int *y);
int mc_q8gemm_path(const mc_q8gemm *plan);
void mc_q8gemm_destroy(mc_q8gemm *plan);
/* QLinearMatMul's requantization: y[i, j] = saturate(rint(acc[i, j] * mult[i % m, j]) + zp)
 * as int8 (y_signed) or uint8; acc is rows x n int32, mult is mr x nc doubles (mr 1 or m,
 * nc 1 or n: per tensor, row or column). */
int mc_requantize(const int *acc, long rows, long m, long n, const double *mult, long mr,
                  long nc, double zp, int y_signed, void *y);

/* -- fp16 arithmetic (cpu_precision="float16"): on neon with FEAT_FP16 (HWCAP_ASIMDHP),
 * the GEMM convolutions (1x1, shifted, im2col) and Gemm / MatMul with a constant B of a
 * plan made by a _f16 create can run FMLA on fp16 operands (activations rounded to fp16),
 * summing in fp16 over chunks of 64 steps of K and in fp32 across chunks. */
int mc_f16_arith_supported(int isa);     /* 1: isa is neon and this CPU has asimdhp */
/* Switch a plan to fp16 arithmetic where it can; returns 1 if its runs now use it, 0 if it
 * keeps fp32 arithmetic (other ISA or CPU, other algorithm, weights kept as fp32). */
int mc_conv_use_f16_arith(mc_conv *plan);
int mc_gemm_use_f16_arith(mc_gemm *plan);

/* -- step lists: a run of prepared ops in one call (steps.c) ------------------------------
 * Step i reads buffers bufs[in[0..2]] (index -1: NULL) and writes bufs[out]; the plans and
 * parameters it points to must outlive the list. */
enum mc_step_kind { MC_STEP_CONV = 0, MC_STEP_CONVT = 1, MC_STEP_GEMM = 2, MC_STEP_BINARY = 3,
                    MC_STEP_UNARY = 4, MC_STEP_GAP = 5, MC_STEP_POOL = 6, MC_STEP_BLOCK = 7 };

typedef struct {
    int kind;                /* mc_step_kind */
    const void *op;          /* CONV, CONVT, GEMM, BLOCK: the plan; POOL: its mc_pool_params */
    int isa;                 /* BINARY, UNARY, GAP, POOL */
    int code;                /* BINARY: mc_binop; UNARY: mc_act_kind or mc_unary_kind */
    long outer, mid, inner;  /* BINARY: its view; UNARY: size (outer); GAP: planes, size */
    int swap, act;           /* BINARY */
    float act_a, act_b;      /* BINARY: the activation's; UNARY: its a, b */
    int in[3];               /* CONV...: x; GEMM: a, b, bias; BINARY: the full, small operand */
    int out;
} mc_step;

/* What a step list learns about its pool: the smoothed seconds of its runs with the workers
 * ([0]) and on the caller alone ([1]); zeros to start. */
typedef struct {
    double seconds[2];
    long runs;
    long every; /* runs between probes (0: not started) */
} mc_steps_stats;

/* Runs steps[0..count) in order; on an error returns its status with *failed set to the
 * step that failed. stats (or NULL): run with the workers or without, whichever has been
 * faster (steps.c). seconds (or NULL): each step's wall time, for profiles of the fused
 * run. */
int mc_steps_run(const mc_step *steps, int count, float *const *bufs, mc_threads *t,
                 mc_steps_stats *stats, int *failed, double *seconds);

#endif
