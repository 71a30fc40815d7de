/* x86-64 GEMM micro-kernels. Each function carries its own target attribute, so this file
 * is compiled without -mavx* flags and only runs a kernel the CPU supports (isa.c).
 *
 * avx2:   6 x 16 tile, 12 ymm accumulators, B sliver rows are 2 ymm.
 * avx512: 8 x 32 tile, 16 zmm accumulators, B sliver rows are 2 zmm.
 * Accumulators start from C, the bias or zero and are clamped (ReLU / Clip) before the
 * store (mc_tile_ep). Also here: the packers' run copies with masked loads.
 */
#include "internal.h"

#ifdef MC_X86
#include <immintrin.h>

/* Start values of one row's accumulators (lo, hi halves): C, the row bias, or zero. */
#define INIT_ROW(r, lo, hi, LOAD, SET1, ZERO, W)                                          \
    if (ep->load_c) {                                                                     \
        lo = LOAD(c + (r) * ldc);                                                         \
        hi = LOAD(c + (r) * ldc + (W));                                                   \
    } else if (ep->bias) {                                                                \
        lo = hi = SET1(ep->bias[r]);                                                      \
    } else {                                                                              \
        lo = hi = ZERO();                                                                 \
    }
/* max(lo, x) then min(hi, x) with x second, so a NaN passes through as in numpy */
#define CLAMP_ROW(lo, hi, MAX, MIN)                                                       \
    lo = MIN(vhi, MAX(vlo, lo));                                                          \
    hi = MIN(vhi, MAX(vlo, hi));
#define STORE_ROW(r, lo, hi, STORE, W)                                                    \
    STORE(c + (r) * ldc, lo);                                                             \
    STORE(c + (r) * ldc + (W), hi);

/* koff == NULL: packed sliver (aligned, NR floats per k); else row k is b + koff[k] */
MC_TARGET_AVX2 static inline __attribute__((always_inline)) void
ukr_avx2(int kc, const float *a, const float *b, const long *koff, float *c, long ldc,
         const mc_tile_ep *ep) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
#define INIT(r) INIT_ROW(r, c##r##0, c##r##1, _mm256_loadu_ps, _mm256_set1_ps, \
                         _mm256_setzero_ps, 8)
    INIT(0) INIT(1) INIT(2) INIT(3) INIT(4) INIT(5)
#undef INIT
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const float *br = koff ? b + koff[k] : b + 16 * k;
        __m256 b0 = koff ? _mm256_loadu_ps(br) : _mm256_load_ps(br);
        __m256 b1 = koff ? _mm256_loadu_ps(br + 8) : _mm256_load_ps(br + 8), av;
#define ROW(r)                                                                            \
    av = _mm256_broadcast_ss(a + (r));                                                    \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);                                           \
    c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        a += 6;
    }
    if (ep->clamp) {
        const __m256 vlo = _mm256_set1_ps(ep->lo), vhi = _mm256_set1_ps(ep->hi);
#define CLAMP(r) CLAMP_ROW(c##r##0, c##r##1, _mm256_max_ps, _mm256_min_ps)
        CLAMP(0) CLAMP(1) CLAMP(2) CLAMP(3) CLAMP(4) CLAMP(5)
#undef CLAMP
    }
#define STORE(r) STORE_ROW(r, c##r##0, c##r##1, _mm256_storeu_ps, 8)
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

MC_TARGET_AVX2 void mc_ukr_avx2(int kc, const float *a, const float *b, float *c, long ldc,
                                const mc_tile_ep *ep) {
    ukr_avx2(kc, a, b, NULL, c, ldc, ep);
}

MC_TARGET_AVX2 void mc_ukr_rows_avx2(int kc, const float *a, const float *b, const long *koff,
                                     float *c, long ldc, const mc_tile_ep *ep) {
    ukr_avx2(kc, a, b, koff, c, ldc, ep);
}

MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
ukr_avx512(int kc, const float *a, const float *b, const long *koff, float *c, long ldc,
           const mc_tile_ep *ep) {
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
#define INIT(r) INIT_ROW(r, c##r##0, c##r##1, _mm512_loadu_ps, _mm512_set1_ps, \
                         _mm512_setzero_ps, 16)
    INIT(0) INIT(1) INIT(2) INIT(3) INIT(4) INIT(5) INIT(6) INIT(7)
#undef INIT
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const float *br = koff ? b + koff[k] : b + 32 * k;
        __m512 b0 = koff ? _mm512_loadu_ps(br) : _mm512_load_ps(br);
        __m512 b1 = koff ? _mm512_loadu_ps(br + 16) : _mm512_load_ps(br + 16), av;
#define ROW(r)                                                                            \
    av = _mm512_set1_ps(a[r]);                                                            \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                           \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
        a += 8;
    }
    if (ep->clamp) {
        const __m512 vlo = _mm512_set1_ps(ep->lo), vhi = _mm512_set1_ps(ep->hi);
#define CLAMP(r) CLAMP_ROW(c##r##0, c##r##1, _mm512_max_ps, _mm512_min_ps)
        CLAMP(0) CLAMP(1) CLAMP(2) CLAMP(3) CLAMP(4) CLAMP(5) CLAMP(6) CLAMP(7)
#undef CLAMP
    }
#define STORE(r) STORE_ROW(r, c##r##0, c##r##1, _mm512_storeu_ps, 16)
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
#undef STORE
}

MC_TARGET_AVX512 void mc_ukr_avx512(int kc, const float *a, const float *b, float *c,
                                    long ldc, const mc_tile_ep *ep) {
    ukr_avx512(kc, a, b, NULL, c, ldc, ep);
}

MC_TARGET_AVX512 void mc_ukr_rows_avx512(int kc, const float *a, const float *b,
                                         const long *koff, float *c, long ldc,
                                         const mc_tile_ep *ep) {
    ukr_avx512(kc, a, b, koff, c, ldc, ep);
}

/* 8 x 16 on a packed 32-wide sliver: the last sliver of a row when it is 16 wide or less */
MC_TARGET_AVX512 void mc_ukr_avx512_n16(int kc, const float *a, const float *b, float *c,
                                        long ldc, const mc_tile_ep *ep) {
    __m512 acc[8];
    for (int r = 0; r < 8; r++)
        acc[r] = ep->load_c ? _mm512_loadu_ps(c + r * ldc)
                            : _mm512_set1_ps(ep->bias ? ep->bias[r] : 0.0f);
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m512 bv = _mm512_load_ps(b + 32 * k);
        for (int r = 0; r < 8; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), bv, acc[r]);
        a += 8;
    }
    const __m512 vlo = _mm512_set1_ps(ep->lo), vhi = _mm512_set1_ps(ep->hi);
    for (int r = 0; r < 8; r++) {
        if (ep->clamp) acc[r] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r]));
        _mm512_storeu_ps(c + r * ldc, acc[r]);
    }
}

/* -- packing copies: masked loads zero the padding, masked stores stop at count -------- */
static inline int clamp_lanes(int v, int lanes) { return v < 0 ? 0 : (v > lanes ? lanes : v); }

MC_TARGET_AVX512 void mc_copy_avx512(float *dst, const float *src, int lo, int hi, int count) {
    int t = 0;
    if (lo <= 0 && hi >= count) { /* all inside the image: plain copies, masked tail */
        for (; t + 16 <= count; t += 16) _mm512_storeu_ps(dst + t, _mm512_loadu_ps(src + t));
        if (t < count) {
            __mmask16 tail = (__mmask16)((1u << (count - t)) - 1u);
            _mm512_mask_storeu_ps(dst + t, tail, _mm512_maskz_loadu_ps(tail, src + t));
        }
        return;
    }
    for (; t < count; t += 16) {
        unsigned valid = ((1u << clamp_lanes(hi - t, 16)) - 1u) &
                         ~((1u << clamp_lanes(lo - t, 16)) - 1u);
        unsigned keep = (1u << clamp_lanes(count - t, 16)) - 1u;
        __m512 v = _mm512_maskz_loadu_ps((__mmask16)valid, src + t);
        _mm512_mask_storeu_ps(dst + t, (__mmask16)keep, v);
    }
}

/* stride 2: two masked loads cover 32 source floats, a permute keeps the even ones */
MC_TARGET_AVX512 void mc_copy2_avx512(float *dst, const float *src, int lo, int hi,
                                      int count) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    int t = 0;
    if (lo <= 0) /* whole vectors inside the row (t + 16 < hi: the odd 32nd too): no masks */
        for (; t + 16 <= count && t + 16 < hi; t += 16)
            _mm512_storeu_ps(dst + t, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * t), even,
                                                             _mm512_loadu_ps(src + 2 * t + 16)));
    for (; t < count; t += 16) {
        /* source lane l of the pair is element 2t + l: valid when it is 2t' for lo <= t' < hi */
        int first = 2 * (lo - t), end = 2 * (hi - t) - 1;
        __mmask16 m0 = (__mmask16)(((1u << clamp_lanes(end, 16)) - 1u) &
                                   ~((1u << clamp_lanes(first, 16)) - 1u));
        __mmask16 m1 = (__mmask16)(((1u << clamp_lanes(end - 16, 16)) - 1u) &
                                   ~((1u << clamp_lanes(first - 16, 16)) - 1u));
        __m512 v0 = _mm512_maskz_loadu_ps(m0, src + 2 * t);
        __m512 v1 = _mm512_maskz_loadu_ps(m1, src + 2 * t + 16);
        __m512 v = _mm512_permutex2var_ps(v0, even, v1);
        __mmask16 keep = (__mmask16)((1u << clamp_lanes(count - t, 16)) - 1u);
        _mm512_mask_storeu_ps(dst + t, keep, v);
    }
}

MC_TARGET_AVX2 void mc_copy_avx2(float *dst, const float *src, int lo, int hi, int count) {
    static const int ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const __m256i idx = _mm256_loadu_si256((const __m256i *)ramp);
    int t = 0;
    if (lo <= 0 && hi >= count) /* all inside the image: plain copies first */
        for (; t + 8 <= count; t += 8) _mm256_storeu_ps(dst + t, _mm256_loadu_ps(src + t));
    for (; t < count; t += 8) {
        __m256i rel = _mm256_add_epi32(idx, _mm256_set1_epi32(t));
        __m256i valid = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(hi), rel),
                                         _mm256_cmpgt_epi32(rel, _mm256_set1_epi32(lo - 1)));
        __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), rel);
        __m256 v = _mm256_maskload_ps(src + t, valid);
        _mm256_maskstore_ps(dst + t, keep, v);
    }
}
#endif
