/* AVX-512 and AVX2 depthwise 3x3, dilation 1, on one plane (strides 1 and 2).
 *
 * Output rows per pass share the input rows they read: at stride 1, four output rows from
 * six input rows on AVX-512 (two rows ran 12-17% slower on MobileNet's 112x112 to 28x28
 * layers), eight on planes of one vector a row, two on AVX2. Masked loads read only taps
 * inside the image, so the padding needs no separate border code: lanes that fall in the
 * padding load zeros (the masks depend only on the column, so they are computed once per
 * plane). With padding 1 on the left (the usual case) the AVX-512 stride-1 kernels load
 * each input row once per vector of outputs and shift the side taps in registers
 * (dw3x3s1_row1_avx512, dw3x3s1_avx512 with SHIFT): 1.3-1.6x faster than three masked loads at
 * unaligned offsets. Rows outside the image read `zero` (w zeros). Output rows up to
 * MC_DW_MAX_OW wide. The result is clamped to [lo, hi] (ReLU / Clip; +-inf otherwise)
 * before the store.
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

/* The FMAs of input row t of a pass of R output rows: row r takes taps ky = t - r, each of
 * the row's three shifted vectors in[kx] times the broadcast weight kv[ky * 3 + kx]. */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
row_fmas(const int R, const int t, const __m512 *kv, const __m512 *in, __m512 *a) {
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            if (t - r >= 0 && t - r < 3)
                a[r] = _mm512_fmadd_ps(kv[(t - r) * 3 + kx], in[kx], a[r]);
}

/* Clamp a pass's R rows to [vlo, vhi] and store the first nout (lanes in mask), ld apart.
 * (dw3x3s1_avx512 keeps its own copy of this loop: through this helper it ran 4-6% slower,
 * 28x28 and 56x56.) */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
clamp_store(const int R, __m512 *a, int nout, __m512 vlo, __m512 vhi, float *y, long ld,
            __mmask16 mask) {
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        a[r] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a[r]));
        if (r < nout) _mm512_mask_storeu_ps(y + (long)r * ld, mask, a[r]);
    }
}

/* R output rows a pass (4 or 8; a constant once inlined) from R + 2 input rows. With one
 * vector a row (16 columns or fewer), four rows keep only four accumulators in flight, each
 * a chain of 9 FMAs: the FMA latency bounds them, so such planes take eight where that
 * computes no more dropped rows (14 rows: 16 either way; 12: 12 against 16).
 * The taps of a vector of 16 outputs and an input row: SHIFT = 0, three masked loads at
 * columns ox - pl + kx; SHIFT = 1 (padding 1 on the left), one load of the 16 columns
 * under it and the column on either side (a broadcast scalar, or zero at the row's ends)
 * shifted in: 256 planes of 28x28 42 -> 31 us, 128 of 56x56 78 -> 57, 32 of 112x112
 * 65 -> 50 (three loads at unaligned offsets, two of them splitting cache lines, cost more
 * than one load and two lane shifts). */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
dw3x3s1_avx512(const int R, const int SHIFT, const mc_conv_params *p, const float *x,
               const float *k, float bias, float *y, const float *zero, float lo, float hi) {
    const int w = p->w, ow = p->ow, pl = SHIFT ? 0 : p->pl, nvec = MC_CEIL_DIV(ow, 16);
    __mmask16 mask[MC_DW_MAX_OW / 16][4]; /* per output vector: taps kx = 0..2, store */
    for (int v = 0; v < nvec; v++) {
        const int base = v * 16 - pl;
        for (int kx = 0; kx < 3; kx++) /* SHIFT: mask[v][0] loads the vector */
            mask[v][kx] = (__mmask16)lane_range(-base - kx * !SHIFT, w - base - kx * !SHIFT, 16);
        mask[v][3] = (__mmask16)lane_range(0, ow - v * 16, 16);
    }
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm512_set1_ps(k[i]);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo),
                 vhi = _mm512_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy += R) {
        const int nout = MC_MIN(R, p->oh - oy); /* rows past the last are computed, dropped */
        const float *rows[10];
        for (int t = 0; t < R + 2; t++) rows[t] = row_or_zero(p, x, oy - p->pt + t, zero) - pl;
        float *y0 = y + (long)oy * ow;
        for (int v = 0; v < nvec; v++) {
            const int ox = v * 16, left = ox > 0, right = ox + 16 < w;
            __m512 a[8];
            for (int r = 0; r < R; r++) a[r] = vb;
#pragma GCC unroll 10
            for (int t = 0; t < R + 2; t++) {
                const float *row = rows[t] + ox;
                __m512 in[3];
                if (SHIFT) {
                    const __m512i c = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask[v][0], row));
                    const __m512i l = _mm512_castps_si512(left ? _mm512_set1_ps(row[-1])
                                                               : _mm512_setzero_ps());
                    const __m512i r = _mm512_castps_si512(right ? _mm512_set1_ps(row[16])
                                                                : _mm512_setzero_ps());
                    in[0] = _mm512_castsi512_ps(_mm512_alignr_epi32(c, l, 15)); /* ox - 1 */
                    in[1] = _mm512_castsi512_ps(c);
                    in[2] = _mm512_castsi512_ps(_mm512_alignr_epi32(r, c, 1)); /* ox + 1 */
                } else {
                    for (int kx = 0; kx < 3; kx++)
                        in[kx] = _mm512_maskz_loadu_ps(mask[v][kx], row + kx);
                }
                row_fmas(R, t, kv, in, a);
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                a[r] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a[r]));
                if (r < nout) _mm512_mask_storeu_ps(y0 + (long)r * ow + ox, mask[v][3], a[r]);
            }
        }
    }
}

/* With padding 1 on the left (the usual "same" 3x3), rows of one vector (w <= 16): each
 * input row is one masked load, and its taps kx = 0, 2 are that vector shifted one lane up
 * or down in registers (a zero shifted in; lanes past w load as zeros), not three loads at
 * unaligned offsets, two of them splitting cache lines: 512 planes of 14x14 23.5 ->
 * 14.8 us. */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
dw3x3s1_row1_avx512(const int R, const mc_conv_params *p, const float *x, const float *k,
                    float bias, float *y, const float *zero, float lo, float hi) {
    const int ow = p->ow;
    const __mmask16 in_mask = (__mmask16)lane_range(0, p->w, 16);
    const __mmask16 out_mask = (__mmask16)lane_range(0, ow, 16);
    const __m512i z = _mm512_setzero_si512();
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm512_set1_ps(k[i]);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo),
                 vhi = _mm512_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy += R) {
        const int nout = MC_MIN(R, p->oh - oy); /* rows past the last are computed, dropped */
        float *y0 = y + (long)oy * ow;
        __m512 a[8];
        for (int r = 0; r < R; r++) a[r] = vb;
#pragma GCC unroll 10
        for (int t = 0; t < R + 2; t++) {
            const __m512i c = _mm512_castps_si512(
                _mm512_maskz_loadu_ps(in_mask, row_or_zero(p, x, oy - p->pt + t, zero)));
            __m512 in[3];
            in[0] = _mm512_castsi512_ps(_mm512_alignr_epi32(c, z, 15)); /* column ox - 1 */
            in[1] = _mm512_castsi512_ps(c);
            in[2] = _mm512_castsi512_ps(_mm512_alignr_epi32(z, c, 1)); /* column ox + 1 */
            row_fmas(R, t, kv, in, a);
        }
        clamp_store(R, a, nout, vlo, vhi, y0, ow, out_mask);
    }
}

MC_TARGET_AVX512 void mc_dw3x3s1_avx512(const mc_conv_params *p, const float *x,
                                        const float *k, float bias, float *y,
                                        const float *zero, float lo, float hi) {
    /* eight rows a pass where that computes no more dropped rows (14x14: 26 -> 24 us) */
    const int eight = MC_ROUND_UP(p->oh, 8) == MC_ROUND_UP(p->oh, 4);
    if (mc_dw3x3s1_row1(p)) {
        if (eight)
            dw3x3s1_row1_avx512(8, p, x, k, bias, y, zero, lo, hi);
        else
            dw3x3s1_row1_avx512(4, p, x, k, bias, y, zero, lo, hi);
    } else if (p->pl == 1) {
        dw3x3s1_avx512(4, 1, p, x, k, bias, y, zero, lo, hi);
    } else if (p->ow <= 16 && eight) {
        dw3x3s1_avx512(8, 0, p, x, k, bias, y, zero, lo, hi);
    } else {
        dw3x3s1_avx512(4, 0, p, x, k, bias, y, zero, lo, hi);
    }
}

/* Stride 2: output column ox reads input columns 2*ox - pl + kx. Per input row and vector of
 * 16 outputs, two loads (32 columns from 2*ox0 - pl) split by two-source permutes into the
 * even columns (tap kx = 0) and the odd ones (kx = 1); tap 2 is the even vector moved one
 * lane down with the next even column (one masked single-lane load) shifted in. Two output
 * rows per pass share their middle input row (five rows for two outputs): 30 loads and
 * permutes and 18 FMAs per pair of output vectors. */
typedef struct {
    __m512 k[9], bias, lo, hi;
    __m512i even, odd;
} s2_consts;

/* The three tap vectors of one input row `r` (already offset to column 32 * v - pl). */
MC_TARGET_AVX512 static inline void s2_taps(const s2_consts *c, const float *r,
                                            const __mmask16 *m, __m512 *t0, __m512 *t1,
                                            __m512 *t2) {
    __m512 a = _mm512_maskz_loadu_ps(m[0], r);
    __m512 b = _mm512_maskz_loadu_ps(m[1], r + 16);
    /* only lane 0 is used: a scalar load (a one-lane masked load was the kernel's slowest
     * instruction) */
    __m512 next = m[2] ? _mm512_castps128_ps512(_mm_load_ss(r + 32)) : _mm512_setzero_ps();
    *t0 = _mm512_permutex2var_ps(a, c->even, b);
    *t1 = _mm512_permutex2var_ps(a, c->odd, b);
    *t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next),
                                                  _mm512_castps_si512(*t0), 1));
}

/* The same with padding 1 on the left, `r` at column 32 * v (not 32 * v - 1): the loads
 * start where the row does, so they split no more cache lines than the row's alignment
 * makes them (from column 32 v - 1 every one split: 64 planes of 112x112 60 -> 53 us,
 * as fast as with padding 0). Even columns are tap 1, odd ones tap 2, and tap 0 is the odd
 * vector moved one lane up with the column left of the vector (m[2]: there is one)
 * shifted in. */
MC_TARGET_AVX512 static inline void s2_taps_p1(const s2_consts *c, const float *r,
                                               const __mmask16 *m, __m512 *t0, __m512 *t1,
                                               __m512 *t2) {
    __m512 a = _mm512_maskz_loadu_ps(m[0], r);
    __m512 b = _mm512_maskz_loadu_ps(m[1], r + 16);
    __m512 left = m[2] ? _mm512_set1_ps(r[-1]) : _mm512_setzero_ps();
    *t1 = _mm512_permutex2var_ps(a, c->even, b);
    *t2 = _mm512_permutex2var_ps(a, c->odd, b);
    *t0 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(*t2),
                                                  _mm512_castps_si512(left), 15));
}

/* One pass: `rows` input rows (5: two output rows, 3: one) into y0 (and y1). */
MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
s2_pass(const int P1, const s2_consts *c, const float *const *rows, const int nrows, int nvec,
        __mmask16 (*mask)[4], float *y0, float *y1) {
    for (int v = 0; v < nvec; v++) {
        __m512 a0 = c->bias, a1 = c->bias;
        for (int t = 0; t < nrows; t++) {
            __m512 e, o, n;
            if (P1)
                s2_taps_p1(c, rows[t] + 32 * v, mask[v], &e, &o, &n);
            else
                s2_taps(c, rows[t] + 32 * v, mask[v], &e, &o, &n);
            if (t < 3) {
                a0 = _mm512_fmadd_ps(c->k[3 * t], e, a0);
                a0 = _mm512_fmadd_ps(c->k[3 * t + 1], o, a0);
                a0 = _mm512_fmadd_ps(c->k[3 * t + 2], n, a0);
            }
            if (t >= 2) {
                a1 = _mm512_fmadd_ps(c->k[3 * t - 6], e, a1);
                a1 = _mm512_fmadd_ps(c->k[3 * t - 5], o, a1);
                a1 = _mm512_fmadd_ps(c->k[3 * t - 4], n, a1);
            }
        }
        a0 = _mm512_min_ps(c->hi, _mm512_max_ps(c->lo, a0));
        _mm512_mask_storeu_ps(y0 + 16 * v, mask[v][3], a0);
        if (nrows == 5) {
            a1 = _mm512_min_ps(c->hi, _mm512_max_ps(c->lo, a1));
            _mm512_mask_storeu_ps(y1 + 16 * v, mask[v][3], a1);
        }
    }
}

MC_TARGET_AVX512 static inline __attribute__((always_inline)) void
dw3x3s2_avx512(const int P1, const mc_conv_params *p, const float *x, const float *k,
               float bias, float *y, const float *zero, float lo, float hi) {
    const int w = p->w, ow = p->ow, pl = P1 ? 0 : p->pl, nvec = MC_CEIL_DIV(ow, 16);
    __mmask16 mask[MC_DW_MAX_OW / 16][4]; /* per output vector: 3 loads, store */
    for (int v = 0; v < nvec; v++) {
        const int base = 32 * v - pl; /* input columns base + off + l inside [0, w) */
        mask[v][0] = (__mmask16)lane_range(-base, w - base, 16);
        mask[v][1] = (__mmask16)lane_range(-base - 16, w - base - 16, 16);
        mask[v][2] = P1 ? (__mmask16)(v > 0) : (__mmask16)lane_range(-base - 32, w - base - 32, 1);
        mask[v][3] = (__mmask16)lane_range(0, ow - v * 16, 16);
    }
    s2_consts c;
    for (int i = 0; i < 9; i++) c.k[i] = _mm512_set1_ps(k[i]);
    c.bias = _mm512_set1_ps(bias);
    c.lo = _mm512_set1_ps(lo);
    c.hi = _mm512_set1_ps(hi);
    c.even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    c.odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int oy = 0; oy < p->oh; oy += 2) {
        const float *rows[5];
        for (int t = 0; t < 5; t++) rows[t] = row_or_zero(p, x, 2 * oy - p->pt + t, zero) - pl;
        float *y0 = y + (long)oy * ow;
        if (oy + 1 < p->oh)
            s2_pass(P1, &c, rows, 5, nvec, mask, y0, y0 + ow);
        else
            s2_pass(P1, &c, rows, 3, nvec, mask, y0, NULL);
    }
}

MC_TARGET_AVX512 void mc_dw3x3s2_avx512(const mc_conv_params *p, const float *x,
                                        const float *k, float bias, float *y,
                                        const float *zero, float lo, float hi) {
    if (p->pl == 1)
        dw3x3s2_avx512(1, p, x, k, bias, y, zero, lo, hi);
    else
        dw3x3s2_avx512(0, p, x, k, bias, y, zero, lo, hi);
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
/* Stride 2 on AVX2: per input row and vector of 8 outputs, loads of columns 2*ox0 - pl
 * (+8) and 2*ox0 - pl + 2 (+8), in-lane shuffles for the even taps (kx = 0, 2) and the odd
 * one (kx = 1) in the lane order [0, 1, 4, 5, 2, 3, 6, 7] of the outputs, which one
 * permute restores before the store; two output rows per pass share their middle row. */
MC_TARGET_AVX2 static inline __attribute__((always_inline)) void
s2_pass_avx2(const float *const *rows, const int nrows, int nvec, __m256i (*mask)[5],
             const __m256 *kv, __m256 vb, __m256 vlo, __m256 vhi, float *y0, float *y1) {
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int v = 0; v < nvec; v++) {
        __m256 a0 = vb, a1 = vb;
        for (int t = 0; t < nrows; t++) {
            const float *r = rows[t] + 16 * v;
            __m256 a = _mm256_maskload_ps(r, mask[v][0]);
            __m256 b = _mm256_maskload_ps(r + 8, mask[v][1]);
            __m256 c = _mm256_maskload_ps(r + 2, mask[v][2]);
            __m256 d = _mm256_maskload_ps(r + 10, mask[v][3]);
            __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xdd);
            __m256 n = _mm256_shuffle_ps(c, d, 0x88);
            if (t < 3) {
                a0 = _mm256_fmadd_ps(kv[3 * t], e, a0);
                a0 = _mm256_fmadd_ps(kv[3 * t + 1], o, a0);
                a0 = _mm256_fmadd_ps(kv[3 * t + 2], n, a0);
            }
            if (t >= 2) {
                a1 = _mm256_fmadd_ps(kv[3 * t - 6], e, a1);
                a1 = _mm256_fmadd_ps(kv[3 * t - 5], o, a1);
                a1 = _mm256_fmadd_ps(kv[3 * t - 4], n, a1);
            }
        }
        a0 = _mm256_permutevar8x32_ps(_mm256_min_ps(vhi, _mm256_max_ps(vlo, a0)), order);
        _mm256_maskstore_ps(y0 + 8 * v, mask[v][4], a0);
        if (nrows == 5) {
            a1 = _mm256_permutevar8x32_ps(_mm256_min_ps(vhi, _mm256_max_ps(vlo, a1)), order);
            _mm256_maskstore_ps(y1 + 8 * v, mask[v][4], a1);
        }
    }
}

MC_TARGET_AVX2 void mc_dw3x3s2_avx2(const mc_conv_params *p, const float *x, const float *k,
                                    float bias, float *y, const float *zero, float lo,
                                    float hi) {
    const int w = p->w, ow = p->ow, pl = p->pl, nvec = MC_CEIL_DIV(ow, 8);
    __m256i mask[MC_DW_MAX_OW / 8][5]; /* per output vector: 4 loads, store */
    for (int v = 0; v < nvec; v++) {
        const int base = 16 * v - pl; /* input columns base + off + l inside [0, w) */
        static const int off[4] = {0, 8, 2, 10};
        for (int i = 0; i < 4; i++) mask[v][i] = lane_mask8(-base - off[i], w - base - off[i]);
        mask[v][4] = lane_mask8(0, ow - v * 8);
    }
    __m256 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm256_set1_ps(k[i]);
    const __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo),
                 vhi = _mm256_set1_ps(hi);
    for (int oy = 0; oy < p->oh; oy += 2) {
        const float *rows[5];
        for (int t = 0; t < 5; t++) rows[t] = row_or_zero(p, x, 2 * oy - p->pt + t, zero) - pl;
        float *y0 = y + (long)oy * ow;
        if (oy + 1 < p->oh)
            s2_pass_avx2(rows, 5, nvec, mask, kv, vb, vlo, vhi, y0, y0 + ow);
        else
            s2_pass_avx2(rows, 3, nvec, mask, kv, vb, vlo, vhi, y0, NULL);
    }
}
#endif
