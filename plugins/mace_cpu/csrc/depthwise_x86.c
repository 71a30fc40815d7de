/* AVX-512 and AVX2 depthwise 3x3, dilation 1, on one plane (stride 1; AVX-512 also 2).
 *
 * Two output rows per pass share the four input rows they read (12 loads for 18 FMAs per
 * vector of outputs). Masked loads read only taps inside the image, so the padding needs
 * no separate border code: lanes that fall in the padding load zeros (the masks depend
 * only on the column, so they are computed once per plane). Rows outside the image read
 * `zero` (w zeros). Output rows up to MC_DW_MAX_OW wide. The result is clamped to
 * [lo, hi] (ReLU / Clip; +-inf otherwise) before the store.
 */
#include "internal.h"

#ifdef MC_X86
#include <immintrin.h>

static inline const float *row_or_zero(const mc_conv_params *p, const float *x, int iy,
                                       const float *zero) {
    return iy >= 0 && iy < p->h ? x + (long)iy * p->w : zero;
}

/* lanes l of [0, lanes) with lo <= l < hi, as a bit mask */
static inline unsigned lane_range(int lo, int hi, int lanes) {
    lo = lo < 0 ? 0 : (lo > lanes ? lanes : lo);
    hi = hi < lo ? lo : (hi > lanes ? lanes : hi);
    return ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

MC_TARGET_AVX512 void mc_dw3x3s1_avx512(const mc_conv_params *p, const float *x,
                                        const float *k, float bias, float *y,
                                        const float *zero, float lo, float hi) {
    const int w = p->w, ow = p->ow, pl = p->pl, nvec = MC_CEIL_DIV(ow, 16);
    __mmask16 mask[MC_DW_MAX_OW / 16][4]; /* per output vector: taps kx = 0..2, store */
    for (int v = 0; v < nvec; v++) {
        const int base = v * 16 - pl;
        for (int kx = 0; kx < 3; kx++)
            mask[v][kx] = (__mmask16)lane_range(-base - kx, w - base - kx, 16);
        mask[v][3] = (__mmask16)lane_range(0, ow - v * 16, 16);
    }
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm512_set1_ps(k[i]);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo),
                 vhi = _mm512_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy += 2) {
        const int two = oy + 1 < p->oh;
        const float *rows[4];
        for (int t = 0; t < 4; t++) rows[t] = row_or_zero(p, x, oy - p->pt + t, zero) - pl;
        float *y0 = y + (long)oy * ow, *y1 = y0 + ow;
        for (int v = 0; v < nvec; v++) {
            const int ox = v * 16;
            __m512 a0 = vb, a1 = vb;
            for (int t = 0; t < 4; t++) {
                for (int kx = 0; kx < 3; kx++) {
                    __m512 in = _mm512_maskz_loadu_ps(mask[v][kx], rows[t] + ox + kx);
                    if (t < 3) a0 = _mm512_fmadd_ps(kv[t * 3 + kx], in, a0);
                    if (t > 0) a1 = _mm512_fmadd_ps(kv[(t - 1) * 3 + kx], in, a1);
                }
            }
            a0 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a0));
            _mm512_mask_storeu_ps(y0 + ox, mask[v][3], a0);
            if (two) {
                a1 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a1));
                _mm512_mask_storeu_ps(y1 + ox, mask[v][3], a1);
            }
        }
    }
}

/* Stride 2: per input row, two pairs of loads (from 2*ox - pl and 2 floats further) and
 * three in-lane shuffles give the even taps (kx = 0, 2) and the odd one (kx = 1), in the
 * lane order [2L, 2L+1, 8+2L, 9+2L] per 128-bit lane L (one cheap shuffle each instead of
 * a two-source permute); one permute restores the order before the store. */
MC_TARGET_AVX512 void mc_dw3x3s2_avx512(const mc_conv_params *p, const float *x,
                                        const float *k, float bias, float *y,
                                        const float *zero, float lo, float hi) {
    const int w = p->w, ow = p->ow, pl = p->pl, nvec = MC_CEIL_DIV(ow, 16);
    __mmask16 mask[MC_DW_MAX_OW / 16][5]; /* per output vector: 4 loads, store */
    for (int v = 0; v < nvec; v++) {
        const int base = 2 * v * 16 - pl; /* input columns base + off + l inside [0, w) */
        static const int off[4] = {0, 16, 2, 18};
        for (int i = 0; i < 4; i++)
            mask[v][i] = (__mmask16)lane_range(-base - off[i], w - base - off[i], 16);
        mask[v][4] = (__mmask16)lane_range(0, ow - v * 16, 16);
    }
    const __m512i order = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14,
                                            15);
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm512_set1_ps(k[i]);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo),
                 vhi = _mm512_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy++) {
        float *yr = y + (long)oy * ow;
        const float *rows[3];
        for (int t = 0; t < 3; t++) rows[t] = row_or_zero(p, x, 2 * oy - p->pt + t, zero) - pl;
        /* two output vectors at a time, one partial sum per kernel row: six independent
         * FMA chains instead of one chain of nine */
        for (int v0 = 0; v0 < nvec; v0 += 2) {
            const int nv = nvec - v0 >= 2 ? 2 : 1;
            __m512 acc[2][3];
            for (int v = 0; v < nv; v++) {
                const __mmask16 *m = mask[v0 + v];
                for (int t = 0; t < 3; t++) {
                    const float *r = rows[t] + 32 * (v0 + v);
                    __m512 a0 = _mm512_maskz_loadu_ps(m[0], r);
                    __m512 a1 = _mm512_maskz_loadu_ps(m[1], r + 16);
                    __m512 b0 = _mm512_maskz_loadu_ps(m[2], r + 2);
                    __m512 b1 = _mm512_maskz_loadu_ps(m[3], r + 18);
                    __m512 s = _mm512_mul_ps(kv[3 * t], _mm512_shuffle_ps(a0, a1, 0x88));
                    s = _mm512_fmadd_ps(kv[3 * t + 1], _mm512_shuffle_ps(a0, a1, 0xdd), s);
                    acc[v][t] = _mm512_fmadd_ps(kv[3 * t + 2], _mm512_shuffle_ps(b0, b1, 0x88), s);
                }
            }
            for (int v = 0; v < nv; v++) {
                __m512 sum = _mm512_add_ps(_mm512_add_ps(vb, acc[v][0]),
                                           _mm512_add_ps(acc[v][1], acc[v][2]));
                sum = _mm512_permutexvar_ps(order, _mm512_min_ps(vhi, _mm512_max_ps(vlo, sum)));
                _mm512_mask_storeu_ps(yr + 16 * (v0 + v), mask[v0 + v][4], sum);
            }
        }
    }
}

MC_TARGET_AVX2 static inline __m256i lane_mask8(int lo, int hi) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
}

MC_TARGET_AVX2 void mc_dw3x3s1_avx2(const mc_conv_params *p, const float *x, const float *k,
                                    float bias, float *y, const float *zero, float lo,
                                    float hi) {
    const int w = p->w, ow = p->ow, pl = p->pl, nvec = MC_CEIL_DIV(ow, 8);
    __m256i mask[MC_DW_MAX_OW / 8][4]; /* per output vector: taps kx = 0..2, store */
    for (int v = 0; v < nvec; v++) {
        const int base = v * 8 - pl;
        for (int kx = 0; kx < 3; kx++) mask[v][kx] = lane_mask8(-base - kx, w - base - kx);
        mask[v][3] = lane_mask8(0, ow - v * 8);
    }
    __m256 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm256_set1_ps(k[i]);
    const __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo),
                 vhi = _mm256_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy += 2) {
        const int two = oy + 1 < p->oh;
        const float *rows[4];
        for (int t = 0; t < 4; t++) rows[t] = row_or_zero(p, x, oy - p->pt + t, zero) - pl;
        float *y0 = y + (long)oy * ow, *y1 = y0 + ow;
        for (int v = 0; v < nvec; v++) {
            const int ox = v * 8;
            __m256 a0 = vb, a1 = vb;
            for (int t = 0; t < 4; t++) {
                for (int kx = 0; kx < 3; kx++) {
                    __m256 in = _mm256_maskload_ps(rows[t] + ox + kx, mask[v][kx]);
                    if (t < 3) a0 = _mm256_fmadd_ps(kv[t * 3 + kx], in, a0);
                    if (t > 0) a1 = _mm256_fmadd_ps(kv[(t - 1) * 3 + kx], in, a1);
                }
            }
            a0 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, a0));
            _mm256_maskstore_ps(y0 + ox, mask[v][3], a0);
            if (two) {
                a1 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, a1));
                _mm256_maskstore_ps(y1 + ox, mask[v][3], a1);
            }
        }
    }
}
#endif
