/* Skinny GEMM: Y (M x N) = act(A (M x K) * B (K x N) + bias) for few rows M, with a
 * constant B packed once (AVX-512).
 *
 * The main GEMM puts N in the vector lanes and tiles M by 8, which wastes most of each
 * vector when N is small: a 1x1 conv on a 7x7 image has N = 49 pixels (two 32-wide slivers
 * for 49 values), on a 1x1 image N = 1. Here the conv is turned around: rows are pixels,
 * the 32-wide vectors hold output channels (the weights are B), so an 8 x 32 tile wastes
 * only the last partial row tile. The same kernel runs a fully connected layer with M = 1.
 *
 * A is read in place (element (i, k) at a[i * a_sr + k * a_sk]: a conv's NCHW input has
 * a_sr = 1, a_sk = pixels), B is packed as N/32 slivers of K x 32 floats, and the whole K
 * runs in one pass (a sliver streams from L2). Y is written through (y_sr, y_sc): row-major
 * (y_sc = 1), or transposed back into NCHW (y_sr = 1) by an in-register 8 x 16 transpose.
 * The bias is per column; ReLU / Clip are fused, other activations run on the output.
 * A job of a single row (M = 1, a fully connected layer) streams four slivers at a time
 * over the whole K (row1_streams): 1000 x 1024 from memory 114 -> 73 us, from L3 49 -> 37 us
 * on one core (one sliver at a time, even with software prefetch, left the memory system
 * idle part of the time).
 * B may be held as fp16 (mc_skinny_run_f16): each row of a sliver is widened as it is
 * loaded (_mm512_cvtph_ps), so the stream from L2 / memory is half as many bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SK_NR 32
#define SK_KC 512 /* K block (256: 3% slower at 14x14x512, 7% at 7x7x1024) */

size_t mc_skinny_packed_size(int k, int n) { return (size_t)MC_ROUND_UP(n, SK_NR) * k; }

float *mc_skinny_pack(const float *src, long rs, long cs, int k, int n) {
    const int slivers = MC_CEIL_DIV(n, SK_NR);
    float *dst = mc_aligned_alloc(sizeof(float) * (size_t)slivers * k * SK_NR);
    if (!dst) return NULL;
    for (int s = 0; s < slivers; s++)
        for (int kk = 0; kk < k; kk++) {
            float *d = dst + ((size_t)s * k + kk) * SK_NR;
            for (int j = 0; j < SK_NR; j++) {
                int col = s * SK_NR + j;
                d[j] = col < n ? src[(long)kk * rs + (long)col * cs] : 0.0f;
            }
        }
    return dst;
}

#ifdef MC_X86
#include <immintrin.h>

/* Channel c (of 16) of 8 rows r0..r7 into y + c * ysc, rows under `rows` (bit mask),
 * channels below `cols`. */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
store_t16(__m512 r0, __m512 r1, __m512 r2, __m512 r3, __m512 r4, __m512 r5, __m512 r6,
          __m512 r7, float *y, long ysc, unsigned rows, int cols) {
    __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1);
    __m512 t2 = _mm512_unpacklo_ps(r2, r3), t3 = _mm512_unpackhi_ps(r2, r3);
    __m512 t4 = _mm512_unpacklo_ps(r4, r5), t5 = _mm512_unpackhi_ps(r4, r5);
    __m512 t6 = _mm512_unpacklo_ps(r6, r7), t7 = _mm512_unpackhi_ps(r6, r7);
    /* u[c]: per 128-bit lane L, channel 4L + c of rows 0-3 (u[c]) and rows 4-7 (u[c + 4]) */
    __m512 u[8];
    u[0] = _mm512_shuffle_ps(t0, t2, 0x44);
    u[1] = _mm512_shuffle_ps(t0, t2, 0xee);
    u[2] = _mm512_shuffle_ps(t1, t3, 0x44);
    u[3] = _mm512_shuffle_ps(t1, t3, 0xee);
    u[4] = _mm512_shuffle_ps(t4, t6, 0x44);
    u[5] = _mm512_shuffle_ps(t4, t6, 0xee);
    u[6] = _mm512_shuffle_ps(t5, t7, 0x44);
    u[7] = _mm512_shuffle_ps(t5, t7, 0xee);
    const __mmask16 lo = (__mmask16)rows, hi = (__mmask16)(rows << 8);
    for (int c = 0; c < 4; c++) {
        /* [rows 0-3 | rows 4-7] of channel c (lanes 0, 1 -> L = 0, 1), then of c + 8 */
        __m512 a = _mm512_shuffle_f32x4(u[c], u[c + 4], 0x44);  /* u0.L0 u0.L1 u4.L0 u4.L1 */
        __m512 b = _mm512_shuffle_f32x4(u[c], u[c + 4], 0xee);  /* u0.L2 u0.L3 u4.L2 u4.L3 */
        a = _mm512_shuffle_f32x4(a, a, 0xd8); /* channel c | channel c + 4 */
        b = _mm512_shuffle_f32x4(b, b, 0xd8); /* channel c + 8 | channel c + 12 */
        if (c < cols) _mm512_mask_storeu_ps(y + c * ysc, lo, a);
        if (c + 4 < cols) _mm512_mask_storeu_ps(y + (c + 4) * ysc - 8, hi, a);
        if (c + 8 < cols) _mm512_mask_storeu_ps(y + (c + 8) * ysc, lo, b);
        if (c + 12 < cols) _mm512_mask_storeu_ps(y + (c + 12) * ysc - 8, hi, b);
    }
}

/* One tile's arguments: rows `rows` (of MR) x 32 columns (`cols` valid) over k steps. */
typedef struct {
    const float *a, *b, *bias;
    const uint16_t *bh;   /* B as fp16 (the F16 tiles read this instead of b) */
    long sr, sk;
    int k, rows, cols, clamp;
    float lo, hi;
    float *y;
    long ysr, ysc;
    const float *part_in; /* partial sums of earlier K blocks (MR x 32), or NULL: the bias */
    float *part_out;      /* where to leave this K block's sums, or NULL: the last block */
    const float *next;    /* the next B block, prefetched row by row across the row tiles */
    const uint16_t *nexth; /* the same for fp16 B */
    long next_rows;
    int tiles, tile_index;
} tile_args;

/* Lanes of half h (columns 16h .. 16h + 15) of a sliver with `cols` valid columns. */
static inline __mmask16 half_mask(int cols, int h) {
    const int n = cols - 16 * h;
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1u);
}

MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
tile(const int MR, const int F16, const tile_args *t) {
    __m512 acc[8][2];
    const __m512 z = _mm512_setzero_ps();
    const int cols = t->cols;
    const __mmask16 m0 = half_mask(cols, 0), m1 = half_mask(cols, 1);
    __m512 bias0 = t->bias ? _mm512_maskz_loadu_ps(m0, t->bias) : z;
    __m512 bias1 = t->bias ? _mm512_maskz_loadu_ps(m1, t->bias + 16) : z;
    for (int r = 0; r < 8; r++) {
        acc[r][0] = r >= MR ? z : t->part_in ? _mm512_load_ps(t->part_in + 32 * r) : bias0;
        acc[r][1] = r >= MR ? z : t->part_in ? _mm512_load_ps(t->part_in + 32 * r + 16) : bias1;
    }
    const float *a = t->a, *b = t->b;
    const long sr = t->sr, sk = t->sk;
    /* this tile prefetches rows tile_index, tile_index + tiles, ... of the next block (a
     * counter: a modulo per step cost ~3% at 7x7) */
    int pf = t->tile_index;
    const int pf_end = (int)MC_MIN(t->next_rows, (long)t->k);
#pragma GCC unroll 2
    for (int kk = 0; kk < t->k; kk++) {
        __m512 v0, v1;
        if (F16) { /* one 64-byte row of halves */
            const __m256i *h = (const __m256i *)(t->bh + SK_NR * kk);
            v0 = _mm512_cvtph_ps(_mm256_load_si256(h));
            v1 = _mm512_cvtph_ps(_mm256_load_si256(h + 1));
        } else {
            v0 = _mm512_load_ps(b + SK_NR * kk);
            v1 = _mm512_load_ps(b + SK_NR * kk + 16);
        }
        const float *ak = a + kk * sk;
        if (kk == pf && kk < pf_end) {
            pf += t->tiles;
            if (F16) {
                _mm_prefetch((const char *)(t->nexth + SK_NR * kk), _MM_HINT_T1);
            } else {
                _mm_prefetch((const char *)(t->next + SK_NR * kk), _MM_HINT_T1);
                _mm_prefetch((const char *)(t->next + SK_NR * kk + 16), _MM_HINT_T1);
            }
        }
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(ak[r * sr]);
            acc[r][0] = _mm512_fmadd_ps(av, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, v1, acc[r][1]);
        }
    }
    if (t->part_out) {
        for (int r = 0; r < MR; r++) {
            _mm512_store_ps(t->part_out + 32 * r, acc[r][0]);
            _mm512_store_ps(t->part_out + 32 * r + 16, acc[r][1]);
        }
        return;
    }
    if (t->clamp) {
        const __m512 vlo = _mm512_set1_ps(t->lo), vhi = _mm512_set1_ps(t->hi);
        for (int r = 0; r < MR; r++)
            for (int h = 0; h < 2; h++) acc[r][h] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r][h]));
    }
    float *y = t->y;
    if (t->ysc == 1) {
        for (int r = 0; r < MR && r < t->rows; r++) {
            _mm512_mask_storeu_ps(y + r * t->ysr, m0, acc[r][0]);
            _mm512_mask_storeu_ps(y + r * t->ysr + 16, m1, acc[r][1]);
        }
        return;
    }
    const unsigned rmask = (1u << t->rows) - 1u;
    store_t16(acc[0][0], acc[1][0], acc[2][0], acc[3][0], acc[4][0], acc[5][0], acc[6][0],
              acc[7][0], y, t->ysc, rmask, cols);
    if (cols > 16)
        store_t16(acc[0][1], acc[1][1], acc[2][1], acc[3][1], acc[4][1], acc[5][1],
                  acc[6][1], acc[7][1], y + 16 * t->ysc, t->ysc, rmask, cols - 16);
}

#define TILE_SWITCH(F16)                                                                  \
    switch (t->rows) {                                                                    \
    case 1: tile(1, F16, t); break;                                                       \
    case 2: tile(2, F16, t); break;                                                       \
    case 3: tile(3, F16, t); break;                                                       \
    case 4: tile(4, F16, t); break;                                                       \
    case 5: tile(5, F16, t); break;                                                       \
    case 6: tile(6, F16, t); break;                                                       \
    case 7: tile(7, F16, t); break;                                                       \
    default: tile(8, F16, t); break;                                                      \
    }

MC_TARGET_AVX512 static void tile_avx512(const tile_args *t) {
    if (t->bh) {
        TILE_SWITCH(1)
    } else {
        TILE_SWITCH(0)
    }
}
#undef TILE_SWITCH
#endif

int mc_skinny_supported(int isa) { return isa == MC_ISA_AVX512; }

typedef struct {
    int m, n, k, isa, ranges; /* range i: slivers [i * S / ranges, (i+1) * S / ranges) */
    const float *a, *b, *bias;
    const uint16_t *bh; /* B as fp16 instead of b */
    long a_sr, a_sk, y_sr, y_sc;
    mc_act act;
    float *y;
    mc_threads *t;
    int failed;
    int row_parts; /* tasks per range of slivers, each over its share of the row tiles */
} skinny_job;

#ifdef MC_X86
/* One row (M = 1, a fully connected layer): slivers [s0, s1) STREAMS at a time over the
 * whole K, each sliver (K x 32 floats of B, contiguous) its own stream: more misses in
 * flight than one stream with prefetches ahead of it (8 streams: slower again). */
#define STREAMS 4
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
row1_streams(const int F16, const skinny_job *j, int s0, int s1) {
    const long K = j->k, sk = j->a_sk;
    const int clamp = j->act.kind == MC_ACT_RELU || j->act.kind == MC_ACT_CLIP;
    const __m512 lo = _mm512_set1_ps(j->act.kind == MC_ACT_CLIP ? j->act.a : 0.0f);
    const __m512 hi = _mm512_set1_ps(j->act.kind == MC_ACT_CLIP ? j->act.b : INFINITY);
    for (int s = s0; s < s1; s += STREAMS) {
        const int ns = MC_MIN(STREAMS, s1 - s);
        __m512 acc[STREAMS][2];
        const float *b[STREAMS];
        const uint16_t *bh[STREAMS];
        for (int q = 0; q < STREAMS; q++) {
            const size_t at = (size_t)(s + MC_MIN(q, ns - 1)) * K * SK_NR;
            b[q] = j->b ? j->b + at : NULL;
            bh[q] = j->bh ? j->bh + at : NULL;
            acc[q][0] = acc[q][1] = _mm512_setzero_ps();
        }
        for (long k = 0; k < K; k++) {
            const __m512 av = _mm512_set1_ps(j->a[k * sk]);
#pragma GCC unroll 4
            for (int q = 0; q < STREAMS; q++) {
                if (q >= ns) break;
                __m512 v0, v1;
                if (F16) {
                    const __m256i *h = (const __m256i *)(bh[q] + SK_NR * k);
                    v0 = _mm512_cvtph_ps(_mm256_load_si256(h));
                    v1 = _mm512_cvtph_ps(_mm256_load_si256(h + 1));
                } else {
                    v0 = _mm512_load_ps(b[q] + SK_NR * k);
                    v1 = _mm512_load_ps(b[q] + SK_NR * k + 16);
                }
                acc[q][0] = _mm512_fmadd_ps(av, v0, acc[q][0]);
                acc[q][1] = _mm512_fmadd_ps(av, v1, acc[q][1]);
            }
        }
        for (int q = 0; q < ns; q++) {
            const int c0 = (s + q) * SK_NR, cols = MC_MIN(SK_NR, j->n - c0);
            for (int h = 0; h < 2; h++) {
                const __mmask16 m = half_mask(cols, h);
                __m512 v = acc[q][h];
                if (j->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, j->bias + c0 + 16 * h));
                if (clamp) v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
                if (j->y_sc == 1) {
                    _mm512_mask_storeu_ps(j->y + c0 + 16 * h, m, v);
                } else {
                    float out[16];
                    _mm512_storeu_ps(out, v);
                    for (int c = 0; c < 16 && c + 16 * h < cols; c++)
                        j->y[(long)(c0 + 16 * h + c) * j->y_sc] = out[c];
                }
            }
        }
    }
}
MC_TARGET_AVX512 static __attribute__((noinline)) void row1_f32(const skinny_job *j, int s0,
                                                                int s1) {
    row1_streams(0, j, s0, s1);
}
MC_TARGET_AVX512 static __attribute__((noinline)) void row1_f16(const skinny_job *j, int s0,
                                                                int s1) {
    row1_streams(1, j, s0, s1);
}
#endif

/* First row of row tile `tl` of `tiles` over m rows. */
static inline int tile_row(int m, int tiles, int tl) { return (int)((long)m * tl / tiles); }

#ifdef MC_X86
/* Slivers [s0, s1) over row tiles [tl0, tl1) of `tiles`: per K block of SK_KC steps (whose
 * B block then serves every row tile from L1 / L2 instead of streaming the sliver from
 * memory once per tile), every row tile, partial sums kept in scratch between blocks.
 * Each block prefetches the next one of B, past the end of the range too: the next range
 * is usually this thread's next task (home ranges, threadpool.c), whose first sliver came
 * cold from memory otherwise (MobileNetV1 at 2 threads, 4 ranges a thread: its 14x14 1x1
 * convs 218-219 -> 214-215 us, the model 2.70 -> 2.67 ms, in-process A/B).
 * Returns 0 when the scratch could not be had. */
static int tiled_slivers(const skinny_job *j, int s0, int s1, int tiles, int tl0, int tl1,
                         int tid) {
    const int clamp = j->act.kind == MC_ACT_RELU || j->act.kind == MC_ACT_CLIP;
    const int blocks = MC_CEIL_DIV(j->k, SK_KC), slivers = MC_CEIL_DIV(j->n, SK_NR);
    float *part = blocks > 1 ? mc_ws_get(j->t, tid, MC_WS_TMP, sizeof(float) * 256 * tiles)
                             : NULL;
    if (blocks > 1 && !part) return 0;
    tile_args ta = {.sr = j->a_sr, .sk = j->a_sk, .clamp = clamp,
                    .lo = j->act.kind == MC_ACT_CLIP ? j->act.a : 0.0f,
                    .hi = j->act.kind == MC_ACT_CLIP ? j->act.b : INFINITY,
                    .ysr = j->y_sr, .ysc = j->y_sc};
    for (int s = s0; s < s1; s++) {
        const int c0 = s * SK_NR;
        ta.cols = MC_MIN(SK_NR, j->n - c0);
        ta.bias = j->bias ? j->bias + c0 : NULL;
        for (int k0 = 0; k0 < j->k; k0 += SK_KC) {
            ta.k = MC_MIN(SK_KC, j->k - k0);
            const size_t at = ((size_t)s * j->k + k0) * SK_NR, next = at + (size_t)ta.k * SK_NR;
            if (j->bh) { /* B is one stream of blocks */
                ta.bh = j->bh + at;
                ta.nexth = j->bh + next;
            } else {
                ta.b = j->b + at;
                ta.next = j->b + next;
            }
            ta.next_rows = s + 1 < slivers || k0 + ta.k < j->k ? SK_KC : 0;
            ta.tiles = tl1 - tl0;
            for (int tl = tl0; tl < tl1; tl++) {
                const int i = tile_row(j->m, tiles, tl);
                ta.tile_index = tl - tl0;
                ta.rows = tile_row(j->m, tiles, tl + 1) - i;
                ta.a = j->a + i * j->a_sr + (long)k0 * j->a_sk;
                ta.y = j->y + i * j->y_sr + c0 * j->y_sc;
                ta.part_in = k0 > 0 ? part + 256 * tl : NULL;
                ta.part_out = k0 + ta.k < j->k ? part + 256 * tl : NULL;
                tile_avx512(&ta);
            }
        }
    }
    return 1;
}
#endif

/* Task `task`: the slivers of range task / row_parts, over its share of the row tiles (one
 * row: row1_streams); then the activations the kernels do not fuse. */
static void skinny_task(void *raw, long task, int tid) {
    skinny_job *j = raw;
    const int parts = MC_MAX(1, j->row_parts), part_i = (int)(task % parts);
    const long slivers = MC_CEIL_DIV(j->n, SK_NR), range = task / parts;
    const int s0 = (int)(slivers * range / j->ranges);
    const int s1 = (int)(slivers * (range + 1) / j->ranges);
    const int clamp = j->act.kind == MC_ACT_RELU || j->act.kind == MC_ACT_CLIP;
    /* row tiles of at most 8 rows, the rows spread evenly: 49 rows as 7 x 7, not 6 x 8 and
     * a single row (one FMA chain per vector: latency bound, 4 cycles a step instead of 1) */
    const int tiles = MC_CEIL_DIV(j->m, 8); /* this task's row tiles: [tl0, tl1) */
    const int tl0 = (int)((long)tiles * part_i / parts);
    const int tl1 = (int)((long)tiles * (part_i + 1) / parts);
    const int r0 = tile_row(j->m, tiles, tl0), r1 = tile_row(j->m, tiles, tl1);
#ifdef MC_X86
    if (j->m == 1) {
        if (j->bh) row1_f16(j, s0, s1);
        else row1_f32(j, s0, s1);
    } else if (!tiled_slivers(j, s0, s1, tiles, tl0, tl1, tid)) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
#else
    (void)tid;
#endif
    if (!clamp && j->act.kind != MC_ACT_NONE) {
        long first = (long)s0 * SK_NR, last = MC_MIN(j->n, (long)s1 * SK_NR);
        if (j->y_sr == 1 && parts == 1) { /* transposed: columns s0.. are contiguous runs */
            if (last > first)
                mc_act_apply(&j->act, j->isa, j->y + first * j->y_sc, j->y + first * j->y_sc,
                             (last - first - 1) * j->y_sc + j->m);
        } else if (j->y_sr == 1) { /* rows r0..r1 of each column */
            for (long c = first; c < last; c++) {
                float *col = j->y + c * j->y_sc + r0;
                mc_act_apply(&j->act, j->isa, col, col, r1 - r0);
            }
        } else {
            for (int i = r0; i < r1; i++) {
                float *row = j->y + i * j->y_sr + (long)s0 * SK_NR;
                long count = MC_MIN(j->n, (long)s1 * SK_NR) - (long)s0 * SK_NR;
                if (count > 0) mc_act_apply(&j->act, j->isa, row, row, count);
            }
        }
    }
}

static int skinny_run(mc_threads *t, int isa, int m, int n, int k, const float *a, long a_sr,
                      long a_sk, const float *bpack, const uint16_t *bpack16,
                      const float *bias, const mc_act *act, float *y, long y_sr, long y_sc) {
    if (!mc_skinny_supported(isa)) return MC_ERR_ISA;
    skinny_job j = {m, n, k, isa, 1, a, bpack, bias, bpack16, a_sr, a_sk, y_sr, y_sc, *act, y,
                    t, 0};
    const int slivers = MC_CEIL_DIV(n, SK_NR);
    int threads = mc_threads_for(t, 2.0 * MC_ROUND_UP(m, 8) * (double)slivers * SK_NR * k *
                                        MC_NS_PER_GEMM_FLOP);
    /* about 4 tasks per thread, slivers spread evenly over them (16 or 32 slivers: equal
     * ranges; 3 a thread made ranges of 2 and 3 slivers, and 7x7 layers in a model ran
     * 3-4% slower on 2 threads); few slivers (3 for 96 output channels): split the rows
     * too, or 2 threads get 2:1. The task count is a multiple of the threads where it can
     * be: 7 ranges of 32 slivers (1000 outputs) on 2 threads ran 4:3. */
    const int tiles = MC_CEIL_DIV(m, 8);
    j.ranges = threads > 1 ? MC_MIN(slivers, 4 * threads) : 1;
    j.row_parts = threads > 1 ? MC_MAX(1, MC_MIN(tiles, MC_CEIL_DIV(4 * threads, j.ranges)))
                              : 1;
    while (threads > 1 && (long)j.ranges * j.row_parts % threads != 0) {
        if (j.row_parts < tiles) j.row_parts++;
        else if (j.ranges < slivers) j.ranges++;
        else break;
    }
    mc_parallel(t, threads, (long)j.ranges * j.row_parts, skinny_task, &j);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

int mc_skinny_in_task(mc_threads *t, int tid, int isa, int m, int n, int k, const float *a,
                      long a_sr, long a_sk, const float *bpack, const uint16_t *bpack16,
                      const float *bias, const mc_act *act, float *y, long y_sr, long y_sc) {
    if (!mc_skinny_supported(isa)) return MC_ERR_ISA;
    skinny_job j = {m, n, k, isa, 1, a, bpack, bias, bpack16, a_sr, a_sk, y_sr, y_sc, *act, y,
                    t, 0};
    j.row_parts = 1;
    skinny_task(&j, 0, tid);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

int mc_skinny_run(mc_threads *t, int isa, int m, int n, int k, const float *a, long a_sr,
                  long a_sk, const float *bpack, const float *bias, const mc_act *act,
                  float *y, long y_sr, long y_sc) {
    return skinny_run(t, isa, m, n, k, a, a_sr, a_sk, bpack, NULL, bias, act, y, y_sr, y_sc);
}

int mc_skinny_run_f16(mc_threads *t, int isa, int m, int n, int k, const float *a, long a_sr,
                      long a_sk, const uint16_t *bpack, const float *bias, const mc_act *act,
                      float *y, long y_sr, long y_sc) {
    return skinny_run(t, isa, m, n, k, a, a_sr, a_sk, NULL, bpack, bias, act, y, y_sr, y_sc);
}
