/* int8 GEMM: Y[M,N] (int32) = (A - za) x (B - zb), A and B int8 or uint8, B constant.
 *
 * B is packed once, when the plan is made, as the signed int8 "domain" (uint8 values
 * shifted by -128, which the zero point absorbs: b - zb == (b - 128) - (zb - 128)), in
 * panels of NR columns where every 32-bit lane holds 4 consecutive k of one column
 * (K padded to a multiple of 4 with zeros): the layout of vpdpbusd and sdot/udot. A is
 * packed per task the same way, into the domain its path multiplies (int8; uint8 for
 * vpdpbusd, which multiplies unsigned by signed bytes), with its row sums. The micro-kernel
 * gives the raw sums S = A' B'; the zero points are folded in afterwards:
 *   Y(i, j) = S(i, j) - zb'(j) rowsum(i) - za'(i) colsum(j) + K za'(i) zb'(j).
 * Zero points are per tensor, per row of A or per column of B.
 *
 * Paths (mc_q8_path): scalar C; AVX2 (bytes widened to int16, then vpmaddwd: exact, where
 * vpmaddubsw would saturate its int16 pair sums); AVX-512 VNNI (vpdpbusd); AArch64 NEON
 * (smull + sadalp: int8 x int8 products fit int16, pairs accumulate into int32) and NEON
 * dotprod (sdot, ARMv8.2, compiled with a per-function target and taken only when
 * getauxval(AT_HWCAP) has HWCAP_ASIMDDP). The whole K runs in one micro-kernel call
 * (int8 panels are a quarter of fp32's), the tile goes through a small buffer and the
 * zero-point epilogue writes its valid part, so edges need no special kernels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef MC_X86
#include <immintrin.h>
#endif
#ifdef MC_ARM64
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#endif

#define Q8_MAX_MR 8
#define Q8_MAX_NR 32

/* out[MR x NR] (row-major) = sum over the k4 groups of A panel x B panel. */
typedef void (*q8_ukr_fn)(int k4, const void *a, const int8_t *b, int32_t *out);

typedef struct {
    const char *name;
    int mr, nr;
    int a_u8;  /* A is packed as uint8 (else int8) */
    int a16;   /* A is packed as int16 (4 per group and row) */
    q8_ukr_fn ukr;
} q8_path;

/* -- micro-kernels ------------------------------------------------------------------------ */
static void ukr_scalar(int k4, const void *ap, const int8_t *b, int32_t *out) {
    const int8_t *a = ap;
    int32_t acc[4 * 8] = {0};
    for (int g = 0; g < k4; g++, a += 16, b += 32)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 8; c++)
                for (int q = 0; q < 4; q++) acc[r * 8 + c] += a[r * 4 + q] * b[c * 4 + q];
    memcpy(out, acc, sizeof acc);
}

#ifdef MC_X86
/* 6 x 8: per group, B (8 columns x 4 k) widened to two int16 vectors (columns 0-3, 4-7),
 * A's 4 int16 of a row broadcast; vpmaddwd leaves pair sums, added up at the end. */
__attribute__((target("avx2"))) static void ukr_avx2(int k4, const void *ap, const int8_t *b,
                                                     int32_t *out) {
    const int16_t *a = ap;
    __m256i acc[6][2];
    for (int r = 0; r < 6; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int g = 0; g < k4; g++, a += 24, b += 32) {
        __m256i bb = _mm256_loadu_si256((const __m256i *)b);
        __m256i b0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(bb));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(bb, 1));
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            int64_t bits;
            memcpy(&bits, a + 4 * r, 8);
            __m256i av = _mm256_set1_epi64x(bits);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
        }
    }
    for (int r = 0; r < 6; r++) { /* lanes hold (c0 c1 c4 c5 | c2 c3 c6 c7): reorder */
        __m256i s = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
        _mm256_storeu_si256((__m256i *)(out + 8 * r), _mm256_permute4x64_epi64(s, 0xD8));
    }
}

/* 8 x 32: two zmm of B per group, A's 4 bytes of a row broadcast, vpdpbusd (u8 x s8). */
__attribute__((target("avx512f,avx512vnni"))) static void
ukr_vnni(int k4, const void *ap, const int8_t *b, int32_t *out) {
    const uint8_t *a = ap;
    __m512i acc[8][2];
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (int g = 0; g < k4; g++, a += 32, b += 128) {
        __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            int32_t bits;
            memcpy(&bits, a + 4 * r, 4);
            __m512i av = _mm512_set1_epi32(bits);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
        }
    }
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_si512(out + 32 * r, acc[r][0]);
        _mm512_storeu_si512(out + 32 * r + 16, acc[r][1]);
    }
}
#endif

#ifdef MC_ARM64
/* 4 x 8, ARMv8.0: smull (int8 x int8 -> int16, exact) then sadalp (pairs into int32). */
static void ukr_neon(int k4, const void *ap, const int8_t *b, int32_t *out) {
    const int8_t *a = ap;
    int32x4_t acc[4][4];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_s32(0);
    for (int g = 0; g < k4; g++, a += 16, b += 32) {
        int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            int32_t bits;
            memcpy(&bits, a + 4 * r, 4);
            int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(bits));
            acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(b0), vget_low_s8(av)));
            acc[r][1] = vpadalq_s16(acc[r][1], vmull_high_s8(b0, av));
            acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(b1), vget_low_s8(av)));
            acc[r][3] = vpadalq_s16(acc[r][3], vmull_high_s8(b1, av));
        }
    }
    for (int r = 0; r < 4; r++) {
        vst1q_s32(out + 8 * r, vpaddq_s32(acc[r][0], acc[r][1]));
        vst1q_s32(out + 8 * r + 4, vpaddq_s32(acc[r][2], acc[r][3]));
    }
}

/* 8 x 8, ARMv8.2 dotprod: sdot by element, A's 8 rows in two q registers. */
__attribute__((target("arch=armv8.2-a+dotprod"))) static void
ukr_neondot(int k4, const void *ap, const int8_t *b, int32_t *out) {
    const int8_t *a = ap;
    int32x4_t acc[8][2];
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
    for (int g = 0; g < k4; g++, a += 32, b += 32) {
        int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
        int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
#define ROW(r, av, lane)                                                                  \
    acc[r][0] = vdotq_laneq_s32(acc[r][0], b0, av, lane);                                 \
    acc[r][1] = vdotq_laneq_s32(acc[r][1], b1, av, lane);
        ROW(0, a0, 0) ROW(1, a0, 1) ROW(2, a0, 2) ROW(3, a0, 3)
        ROW(4, a1, 0) ROW(5, a1, 1) ROW(6, a1, 2) ROW(7, a1, 3)
#undef ROW
    }
    for (int r = 0; r < 8; r++) {
        vst1q_s32(out + 8 * r, acc[r][0]);
        vst1q_s32(out + 8 * r + 4, acc[r][1]);
    }
}
#endif

static const q8_path k_paths[MC_Q8_COUNT] = {
    [MC_Q8_SCALAR] = {"scalar", 4, 8, 0, 0, ukr_scalar},
#ifdef MC_X86
    [MC_Q8_AVX2] = {"avx2", 6, 8, 0, 1, ukr_avx2},
    [MC_Q8_VNNI] = {"avx512vnni", 8, 32, 1, 0, ukr_vnni},
#else
    [MC_Q8_AVX2] = {"avx2"},
    [MC_Q8_VNNI] = {"avx512vnni"},
#endif
#ifdef MC_ARM64
    [MC_Q8_NEON] = {"neon", 4, 8, 0, 0, ukr_neon},
    [MC_Q8_DOT] = {"neondot", 8, 8, 0, 0, ukr_neondot},
#else
    [MC_Q8_NEON] = {"neon"},
    [MC_Q8_DOT] = {"neondot"},
#endif
};

static int has_dotprod(void) {
#if defined(MC_ARM64) && defined(__linux__)
    return (getauxval(AT_HWCAP) >> 20) & 1; /* HWCAP_ASIMDDP */
#else
    return 0;
#endif
}

static int has_vnni(void) {
#ifdef MC_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int mc_q8_path_for(int isa) {
    if (!mc_isa_supported(isa)) return -1;
    switch (isa) {
    case MC_ISA_AVX2: return MC_Q8_AVX2;
    case MC_ISA_AVX512: return has_vnni() ? MC_Q8_VNNI : MC_Q8_AVX2;
    case MC_ISA_NEON: return has_dotprod() ? MC_Q8_DOT : MC_Q8_NEON;
    default: return MC_Q8_SCALAR;
    }
}

const char *mc_q8_path_name(int path) {
    return path >= 0 && path < MC_Q8_COUNT ? k_paths[path].name : "unknown";
}

/* -- plan --------------------------------------------------------------------------------- */
struct mc_q8gemm {
    int n, k, k4, path, npanels;
    int8_t *bpack;   /* npanels x k4 x NR x 4 */
    int32_t *colsum; /* N: column sums of B' */
    int32_t *zb;     /* N: zb' per column */
};

mc_q8gemm *mc_q8gemm_create(int n, int k, const void *b, int b_signed, const int *zb,
                            int zb_count, int isa) {
    int path = mc_q8_path_for(isa);
    if (path < 0 || n < 0 || k < 0 || (zb_count != 0 && zb_count != 1 && zb_count != n))
        return NULL;
    const q8_path *info = &k_paths[path];
    mc_q8gemm *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n, p->k = k, p->k4 = MC_CEIL_DIV(k, 4), p->path = path;
    p->npanels = MC_CEIL_DIV(n, info->nr);
    size_t packed = (size_t)p->npanels * p->k4 * info->nr * 4;
    p->bpack = mc_aligned_alloc(packed ? packed : 64);
    p->colsum = malloc(sizeof(int32_t) * (n ? n : 1));
    p->zb = malloc(sizeof(int32_t) * (n ? n : 1));
    if (!p->bpack || !p->colsum || !p->zb) {
        mc_q8gemm_destroy(p);
        return NULL;
    }
    memset(p->bpack, 0, packed);
    const uint8_t *src = b;
    int shift = b_signed ? 0 : 128; /* uint8 -> int8 domain */
    for (int j = 0; j < n; j++) {
        int8_t *col = p->bpack + (size_t)(j / info->nr) * p->k4 * info->nr * 4 + (j % info->nr) * 4;
        int32_t sum = 0;
        for (int kk = 0; kk < k; kk++) {
            int v = b_signed ? (int8_t)src[(size_t)kk * n + j] : src[(size_t)kk * n + j] - shift;
            col[(size_t)(kk / 4) * info->nr * 4 + kk % 4] = (int8_t)v;
            sum += v;
        }
        p->colsum[j] = sum;
        p->zb[j] = (zb_count ? zb[zb_count == 1 ? 0 : j] : 0) - shift;
    }
    return p;
}

void mc_q8gemm_destroy(mc_q8gemm *p) {
    if (!p) return;
    mc_aligned_free(p->bpack);
    free(p->colsum);
    free(p->zb);
    free(p);
}

int mc_q8gemm_path(const mc_q8gemm *p) { return p ? p->path : -1; }

/* -- run ---------------------------------------------------------------------------------- */
typedef struct {
    const mc_q8gemm *p;
    const q8_path *info;
    mc_threads *t;
    int m, mb, chunk, nchunks; /* rows per task, panels per column chunk */
    const uint8_t *a;
    int a_shift;               /* added to A (and za) to reach the packed domain */
    const int *za;
    int za_count;
    int32_t *y;
    int failed;
} q8_job;

/* Packs rows [i0, i0 + rows) of A into MR-row panels (k4 groups x MR rows x 4) and
 * returns each row's sum; elements are int8, uint8 or int16 per the path. */
static void pack_a(const q8_job *j, int i0, int rows, void *dst, int32_t *rowsum) {
    const q8_path *info = j->info;
    int k = j->p->k, k4 = j->p->k4, mr = info->mr;
    size_t panel = (size_t)k4 * mr * 4;
    for (int r = 0; r < MC_ROUND_UP(rows, mr); r++) {
        size_t base = (size_t)(r / mr) * panel + (r % mr) * 4;
        int32_t sum = 0;
        for (int kk = 0; kk < k4 * 4; kk++) {
            int v = 0;
            if (r < rows && kk < k) { /* the xor maps the byte into the packed domain */
                int byte = j->a[(size_t)(i0 + r) * k + kk] ^ (j->a_shift ? 0x80 : 0);
                v = info->a_u8 ? (uint8_t)byte : (int8_t)byte;
                sum += v;
            }
            size_t at = base + (size_t)(kk / 4) * mr * 4 + kk % 4;
            if (info->a16) ((int16_t *)dst)[at] = (int16_t)v;
            else ((uint8_t *)dst)[at] = (uint8_t)v;
        }
        if (r < rows) rowsum[r] = sum;
    }
}

static void q8_task(void *ctx, long task, int tid) {
    q8_job *j = ctx;
    const mc_q8gemm *p = j->p;
    const q8_path *info = j->info;
    int mr = info->mr, nr = info->nr, k4 = p->k4;
    int i0 = (int)(task / j->nchunks) * j->mb, rows = MC_MIN(j->mb, j->m - i0);
    int pan0 = (int)(task % j->nchunks) * j->chunk;
    int pan1 = MC_MIN(p->npanels, pan0 + j->chunk);
    size_t panel = (size_t)k4 * mr * 4 * (info->a16 ? 2 : 1);
    size_t abytes = panel * MC_CEIL_DIV(rows, mr);
    char *ws = (char *)mc_ws_get(j->t, tid, MC_WS_A, abytes + sizeof(int32_t) * 2 * j->mb + 64);
    if (!ws) {
        j->failed = 1;
        return;
    }
    int32_t *rowsum = (int32_t *)(ws + MC_ROUND_UP(abytes, 64)), *za = rowsum + j->mb;
    pack_a(j, i0, rows, ws, rowsum);
    for (int r = 0; r < rows; r++)
        za[r] = (j->za_count ? j->za[j->za_count == 1 ? 0 : i0 + r] : 0) +
                (j->a_shift ? (info->a_u8 ? 128 : -128) : 0);
    int32_t tile[Q8_MAX_MR * Q8_MAX_NR];
    for (int pb = pan0; pb < pan1; pb++) {
        const int8_t *bp = p->bpack + (size_t)pb * k4 * nr * 4;
        int j0 = pb * nr, cols = MC_MIN(nr, p->n - j0);
        for (int r0 = 0; r0 < rows; r0 += mr) {
            info->ukr(k4, ws + (size_t)(r0 / mr) * panel, bp, tile);
            for (int r = r0; r < MC_MIN(rows, r0 + mr); r++) {
                int32_t *yr = j->y + (size_t)(i0 + r) * p->n + j0;
                int64_t zr = za[r], rs = rowsum[r];
                for (int c = 0; c < cols; c++) {
                    int64_t zc = p->zb[j0 + c];
                    yr[c] = (int32_t)(tile[(r - r0) * nr + c] - zc * rs - zr * p->colsum[j0 + c] +
                                      (int64_t)p->k * zr * zc);
                }
            }
        }
    }
}

int mc_q8gemm_run(const mc_q8gemm *p, mc_threads *t, int m, const void *a, int a_signed,
                  const int *za, int za_count, int *y) {
    if (!p || m < 0 || (za_count != 0 && za_count != 1 && za_count != m)) return MC_ERR_ARG;
    if (m == 0 || p->n == 0) return MC_OK;
    const q8_path *info = &k_paths[p->path];
    q8_job j = {.p = p, .info = info, .t = t, .m = m, .a = a, .za = za, .za_count = za_count,
                .y = y};
    /* a signed A goes to uint8 by +128 (vpdpbusd), an unsigned one to int8 by -128 */
    j.a_shift = info->a_u8 ? a_signed : !a_signed;
    double work = 2.0 * m * p->n * (double)p->k * MC_NS_PER_GEMM_FLOP / 4.0;
    int threads = mc_threads_for(t, work);
    j.mb = MC_MIN(MC_ROUND_UP(m, info->mr), info->mr * 8);
    long row_tasks = MC_CEIL_DIV(m, j.mb);
    j.nchunks = (int)MC_MAX(1, MC_MIN(p->npanels, MC_CEIL_DIV(2 * threads, row_tasks)));
    j.chunk = MC_CEIL_DIV(p->npanels, j.nchunks);
    j.nchunks = MC_CEIL_DIV(p->npanels, j.chunk);
    mc_op_begin(t);
    mc_parallel(t, threads, row_tasks * j.nchunks, q8_task, &j);
    mc_op_end(t);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

/* QLinearMatMul's requantization, as the reference computes it (mace_core requantize):
 * y = saturate(rint(acc * mult) + zp), the product in double, rounded half to even, and
 * saturated to int8 (y_signed) or uint8; NaN saturates low. Rows of acc cycle through the m
 * rows of the multiplier matrix (batches). Rounding adds and subtracts 1.5 * 2^52 (exact
 * half-to-even in the default rounding mode for |v| < 2^51; larger values saturate
 * anyway): unlike a nearbyint call per element, it vectorises. */
#define MC_ROUND_MAGIC 6755399441055744.0
static void requant_row(const int *a, long n, const double *mult, int per_col, double zp,
                        double lo, double hi, double *v) {
    for (long j = 0; j < n; j++) {
        double x = (double)a[j] * mult[per_col ? j : 0];
        x = (x + MC_ROUND_MAGIC) - MC_ROUND_MAGIC + zp;
        v[j] = x > hi ? hi : (x >= lo ? x : lo);
    }
}

int mc_requantize(const int *acc, long rows, long m, long n, const double *mult, long mr,
                  long nc, double zp, int y_signed, void *y) {
    if (rows < 0 || m <= 0 || n < 0 || (mr != 1 && mr != m) || (nc != 1 && nc != n))
        return MC_ERR_ARG;
    const double lo = y_signed ? -128.0 : 0.0, hi = y_signed ? 127.0 : 255.0;
    double v[256];
    for (long i = 0; i < rows; i++) {
        const double *mrow = mult + (mr > 1 ? i % m : 0) * nc;
        for (long j0 = 0; j0 < n; j0 += 256) {
            const long len = MC_MIN(256, n - j0);
            requant_row(acc + i * n + j0, len, mrow + (nc > 1 ? j0 : 0), nc > 1, zp, lo, hi,
                        v);
            if (y_signed)
                for (long j = 0; j < len; j++) ((int8_t *)y)[i * n + j0 + j] = (int8_t)v[j];
            else
                for (long j = 0; j < len; j++) ((uint8_t *)y)[i * n + j0 + j] = (uint8_t)v[j];
        }
    }
    return MC_OK;
}
