/* AVX-512 and AVX2 parts of depthwise_grid.c (included there once): the grid and flat
 * kernels, and the AVX-512 padded copy and crop. Blocks of up to 8 output vectors run
 * their tap loops side by side, so the FMA chains overlap; the last vector of a block is
 * stored under a mask. The loops over a block's vectors are unrolled by pragma: GCC kept
 * the accumulators of the blocks of 1-7 vectors on the stack otherwise (a store and a load
 * per FMA). */
#include <immintrin.h>

/* lanes l of [0, lanes) with lo <= l < hi, as a bit mask */
static inline unsigned dw_lanes(long lo, long hi, int lanes) {
    lo = lo < 0 ? 0 : (lo > lanes ? lanes : lo);
    hi = hi < lo ? lo : (hi > lanes ? lanes : hi);
    return ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

MC_TARGET_AVX512 static void fill_avx512(const mc_conv_params *p, const mc_dw_grid *g,
                                         const float *x, float *buf) {
    const int G = g->g, W = p->w, pl = p->pl, s2 = p->sh == 2;
    const __m512 zero = _mm512_setzero_ps();
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int r = 0; r < g->rows * (s2 ? 2 : 1); r++) {
        const int a = s2 ? r & 1 : 0, i = s2 ? r >> 1 : r, iy = r - p->pt;
        float *d0 = buf + (long)(a * (s2 ? 2 : 1)) * g->plane + (long)i * G;
        float *d1 = d0 + g->plane; /* stride 2: the odd-column phase */
        const int inside = iy >= 0 && iy < p->h;
        const float *row = x + (long)iy * W - pl; /* padded column c is row[c] */
        for (int j0 = 0; j0 < G; j0 += 16) {
            const __mmask16 keep = (__mmask16)dw_lanes(0, G - j0, 16);
            if (!inside) {
                _mm512_mask_storeu_ps(d0 + j0, keep, zero);
                if (s2) _mm512_mask_storeu_ps(d1 + j0, keep, zero);
                continue;
            }
            if (!s2) {
                __mmask16 m = (__mmask16)dw_lanes(pl - j0, pl + W - j0, 16);
                _mm512_mask_storeu_ps(d0 + j0, keep, _mm512_maskz_loadu_ps(m, row + j0));
                continue;
            }
            const int c0 = 2 * j0;
            __mmask16 m0 = (__mmask16)dw_lanes(pl - c0, pl + W - c0, 16);
            __mmask16 m1 = (__mmask16)dw_lanes(pl - c0 - 16, pl + W - c0 - 16, 16);
            __m512 v0 = _mm512_maskz_loadu_ps(m0, row + c0);
            __m512 v1 = _mm512_maskz_loadu_ps(m1, row + c0 + 16);
            _mm512_mask_storeu_ps(d0 + j0, keep, _mm512_permutex2var_ps(v0, even, v1));
            _mm512_mask_storeu_ps(d1 + j0, keep, _mm512_permutex2var_ps(v0, odd, v1));
        }
    }
}

MC_TARGET_AVX512 static void crop_avx512(const mc_conv_params *p, const mc_dw_grid *g,
                                         const float *grid, float *y) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox += 16) {
            __mmask16 m = (__mmask16)dw_lanes(0, p->ow - ox, 16);
            _mm512_mask_storeu_ps(y + (long)oy * p->ow + ox, m,
                                  _mm512_maskz_loadu_ps(m, grid + (long)oy * g->g + ox));
        }
}

/* V vectors from output q (vector index vi for the mask table): taps, clamp, store. LOAD
 * reads 16 floats at s + 16 * v for tap t. */
#define DW_BLOCK512(V, LOAD, LAST)                                                         \
    do {                                                                                  \
        __m512 acc[V];                                                                    \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) acc[v] = vb;                                          \
        for (int t = 0; t < ntaps; t++) {                                                 \
            const __m512 w = _mm512_set1_ps(k[t]);                                        \
            const float *s = src + q + toff[t];                                           \
            _Pragma("GCC unroll 8")                                                       \
            for (int v = 0; v < V; v++) acc[v] = _mm512_fmadd_ps(w, LOAD, acc[v]);        \
        }                                                                                 \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) {                                                     \
            acc[v] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[v]));                      \
            _mm512_mask_storeu_ps(dst + q + 16 * v, v == V - 1 ? LAST : 0xffff, acc[v]);  \
        }                                                                                 \
    } while (0)

#define DW_CASES512(LOAD)                                                                  \
    long q = 0;                                                                           \
    for (; q + 128 <= nq; q += 128) DW_BLOCK512(8, LOAD, 0xffff);                         \
    if (q < nq) {                                                                         \
        const __mmask16 last = (__mmask16)dw_lanes(0, (nq - q - 1) % 16 + 1, 16);         \
        switch ((int)MC_CEIL_DIV(nq - q, 16)) {                                           \
        case 1: DW_BLOCK512(1, LOAD, last); break;                                        \
        case 2: DW_BLOCK512(2, LOAD, last); break;                                        \
        case 3: DW_BLOCK512(3, LOAD, last); break;                                        \
        case 4: DW_BLOCK512(4, LOAD, last); break;                                        \
        case 5: DW_BLOCK512(5, LOAD, last); break;                                        \
        case 6: DW_BLOCK512(6, LOAD, last); break;                                        \
        case 7: DW_BLOCK512(7, LOAD, last); break;                                        \
        default: DW_BLOCK512(8, LOAD, last); break;                                       \
        }                                                                                 \
    }

MC_TARGET_AVX512 static void grid_avx512(const float *src, const long *toff,
                                         const uint16_t *masks, const float *k, int ntaps,
                                         float bias, float lo, float hi, float *dst, long nq) {
    (void)masks;
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    DW_CASES512(_mm512_loadu_ps(s + 16 * v))
}

MC_TARGET_AVX512 static void flat_avx512(const float *src, const long *toff,
                                         const uint16_t *masks, const float *k, int ntaps,
                                         float bias, float lo, float hi, float *dst, long nq) {
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    DW_CASES512(_mm512_maskz_loadu_ps(masks[(q / 16 + v) * ntaps + t], s + 16 * v))
}
#undef DW_CASES512
#undef DW_BLOCK512

/* Two planes of V <= 4 output vectors side by side (7x7, 8x8): one plane's V FMA chains
 * leave most of the FMA latency uncovered, two planes' 2V chains less of it (960 planes of
 * 7x7, with the unrolling below: 26 us -> 19 us). */
#define DW_PAIR512(V)                                                                      \
    do {                                                                                  \
        __m512 a0[V], a1[V];                                                              \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) {                                                     \
            a0[v] = b0;                                                                   \
            a1[v] = b1;                                                                   \
        }                                                                                 \
        for (int t = 0; t < ntaps; t++) {                                                 \
            const __m512 w0 = _mm512_set1_ps(k[t]), w1 = _mm512_set1_ps(k[ntaps + t]);    \
            const float *s0 = x + toff[t], *s1 = s0 + in_plane;                           \
            _Pragma("GCC unroll 8")                                                       \
            for (int v = 0; v < V; v++) {                                                 \
                const __mmask16 m = masks[v * ntaps + t];                                 \
                a0[v] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, s0 + 16 * v), a0[v]); \
                a1[v] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m, s1 + 16 * v), a1[v]); \
            }                                                                             \
        }                                                                                 \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) {                                                     \
            const __mmask16 keep = v == V - 1 ? last : 0xffff;                            \
            a0[v] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a0[v]));                        \
            a1[v] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a1[v]));                        \
            _mm512_mask_storeu_ps(dst + 16 * v, keep, a0[v]);                             \
            _mm512_mask_storeu_ps(dst + nq + 16 * v, keep, a1[v]);                        \
        }                                                                                 \
    } while (0)

MC_TARGET_AVX512 static void flat2_avx512(const float *x, long in_plane, const long *toff,
                                          const uint16_t *masks, const float *k, int ntaps,
                                          const float *bias, float lo, float hi, float *dst,
                                          long nq) {
    const __m512 b0 = _mm512_set1_ps(bias[0]), b1 = _mm512_set1_ps(bias[1]);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __mmask16 last = (__mmask16)dw_lanes(0, (nq - 1) % 16 + 1, 16);
    switch ((int)MC_CEIL_DIV(nq, 16)) {
    case 1: DW_PAIR512(1); break;
    case 2: DW_PAIR512(2); break;
    case 3: DW_PAIR512(3); break;
    default: DW_PAIR512(4); break;
    }
}
#undef DW_PAIR512

/* AVX2: the same with 8 lanes; masks expand from bits to lanes. */
#define DW_BLOCK256(V, LOAD, LAST)                                                         \
    do {                                                                                  \
        __m256 acc[V];                                                                    \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) acc[v] = vb;                                          \
        for (int t = 0; t < ntaps; t++) {                                                 \
            const __m256 w = _mm256_set1_ps(k[t]);                                        \
            const float *s = src + q + toff[t];                                           \
            _Pragma("GCC unroll 8")                                                       \
            for (int v = 0; v < V; v++) acc[v] = _mm256_fmadd_ps(w, LOAD, acc[v]);        \
        }                                                                                 \
        _Pragma("GCC unroll 8")                                                           \
        for (int v = 0; v < V; v++) {                                                     \
            acc[v] = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc[v]));                      \
            _mm256_maskstore_ps(dst + q + 8 * v, v == V - 1 ? LAST : all, acc[v]);        \
        }                                                                                 \
    } while (0)

#define DW_CASES256(LOAD)                                                                  \
    const __m256i all = _mm256_set1_epi32(-1);                                            \
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);                   \
    long q = 0;                                                                           \
    for (; q + 64 <= nq; q += 64) DW_BLOCK256(8, LOAD, all);                              \
    if (q < nq) {                                                                         \
        const int n = (int)((nq - q - 1) % 8 + 1);                                        \
        const __m256i last = _mm256_cmpgt_epi32(                                          \
            _mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));             \
        switch ((int)MC_CEIL_DIV(nq - q, 8)) {                                            \
        case 1: DW_BLOCK256(1, LOAD, last); break;                                        \
        case 2: DW_BLOCK256(2, LOAD, last); break;                                        \
        case 3: DW_BLOCK256(3, LOAD, last); break;                                        \
        case 4: DW_BLOCK256(4, LOAD, last); break;                                        \
        case 5: DW_BLOCK256(5, LOAD, last); break;                                        \
        case 6: DW_BLOCK256(6, LOAD, last); break;                                        \
        case 7: DW_BLOCK256(7, LOAD, last); break;                                        \
        default: DW_BLOCK256(8, LOAD, last); break;                                       \
        }                                                                                 \
    }                                                                                     \
    (void)bit;

MC_TARGET_AVX2 static inline __m256i dw_mask8(unsigned bits, __m256i bit) {
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), bit), bit);
}

MC_TARGET_AVX2 static void grid_avx2(const float *src, const long *toff, const uint16_t *masks,
                                     const float *k, int ntaps, float bias, float lo, float hi,
                                     float *dst, long nq) {
    (void)masks;
    const __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    DW_CASES256(_mm256_loadu_ps(s + 8 * v))
}

MC_TARGET_AVX2 static void flat_avx2(const float *src, const long *toff, const uint16_t *masks,
                                     const float *k, int ntaps, float bias, float lo, float hi,
                                     float *dst, long nq) {
    const __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    DW_CASES256(_mm256_maskload_ps(s + 8 * v, dw_mask8(masks[(q / 8 + v) * ntaps + t], bit)))
}
#undef DW_CASES256
#undef DW_BLOCK256
