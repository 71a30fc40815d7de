/* Winograd input and output transforms, included once per ISA by winograd.c with
 * WG_NAME(name) (adds the ISA suffix) and WG_TARGET (the target attribute) defined.
 *
 * The loops run across the tiles of one tile row, so the compiler vectorises them for the
 * target: first along y on whole rows (plain contiguous loops), then along x tile by tile.
 * There tile t reads (input) or writes (output) the run at t * m of a row: input rows are
 * first split into m phases (p_k[t] = r[m t + k], an interleaved load gcc vectorises with
 * permutes; reading the overlapping tiles' runs straight would make gcc peel the last
 * vector), twice: from r and from r + m, for the 2 columns a tile shares with the next
 * one (reading p_k[t + 1] instead would load across two just-stored vectors, which store
 * forwarding cannot serve); output rows are written by interleaved stores. Every stream has its own
 * restrict pointer, which that vectorisation needs. The tile count tx passed here
 * is a multiple of 16 (the caller rounds it up), so no loop ends in a scalar remainder:
 * the extra lanes compute on zeros or on finite neighbours and land where the caller
 * overwrites or ignores them.
 *
 * F(4,3) (6 x 6 tiles of 4 x 4 outputs), with the points 0, +-1, +-2 and infinity:
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * F(2,3) (4 x 4 tiles of 2 x 2 outputs):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1]
 * (G, for the weights, is in winograd.c.) V = B^T d B per tile, Y = A^T M A.
 */

/* -- input: B^T along y on whole rows, then B along x per tile ---------------------------- */
/* o_k[x] = (B^T d)_k at column x, for x in [x0, x1), d_i = rows i (6 of them). */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(bt43_rows)(const float *restrict d0, const float *restrict d1, const float *restrict d2,
                   const float *restrict d3, const float *restrict d4, const float *restrict d5,
                   float *restrict o0, float *restrict o1, float *restrict o2,
                   float *restrict o3, float *restrict o4, float *restrict o5, int x0, int x1) {
    for (int x = x0; x < x1; x++) {
        float a = d4[x] + d3[x], b = d2[x] + d1[x], c = d4[x] - d3[x], e = d1[x] - d2[x];
        float f = d4[x] - d2[x], g = d3[x] - d1[x];
        o0[x] = 4.0f * d0[x] - 5.0f * d2[x] + d4[x];
        o1[x] = a - 4.0f * b;
        o2[x] = c + 4.0f * e;
        o3[x] = f + 2.0f * g;
        o4[x] = f - 2.0f * g;
        o5[x] = 4.0f * d1[x] - 5.0f * d3[x] + d5[x];
    }
}

/* p_k[t] = r[4t + k] for t < n */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(split4)(const float *restrict r, int n, float *restrict p0, float *restrict p1,
                float *restrict p2, float *restrict p3) {
    for (int t = 0; t < n; t++) {
        p0[t] = r[4 * t];
        p1[t] = r[4 * t + 1];
        p2[t] = r[4 * t + 2];
        p3[t] = r[4 * t + 3];
    }
}

/* v_k[t] = (d B)_k for the 6 columns d of tile t: p0..p3[t], q0, q1[t] (= p0, p1[t + 1]). */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(b43_tiles)(const float *restrict p0, const float *restrict p1,
                   const float *restrict p2, const float *restrict p3,
                   const float *restrict q0, const float *restrict q1, int tx,
                   float *restrict v0, float *restrict v1, float *restrict v2,
                   float *restrict v3, float *restrict v4, float *restrict v5) {
    for (int t = 0; t < tx; t++) {
        float d0 = p0[t], d1 = p1[t], d2 = p2[t], d3 = p3[t], d4 = q0[t], d5 = q1[t];
        float a = d4 + d3, b = d2 + d1, c = d4 - d3, e = d1 - d2, f = d4 - d2, g = d3 - d1;
        v0[t] = 4.0f * d0 - 5.0f * d2 + d4;
        v1[t] = a - 4.0f * b;
        v2[t] = c + 4.0f * e;
        v3[t] = f + 2.0f * g;
        v4[t] = f - 2.0f * g;
        v5[t] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* One tile row of one channel plane: rows[i] is input row i of the tiles, shifted so that
 * rows[i][x] is padded column x, readable for x in [xl, xr); writes position p of tile t
 * to v[p * vs + t]. r: scratch of 6 rows of wt >= 4 tx + 4 floats, zero outside [xl, xr)
 * (the caller clears them once: only [xl, xr) is written here), then 8 phase rows of
 * tx + 16. */
WG_TARGET static void WG_NAME(wg_in43)(const float *const *rows, int xl, int xr, int tx,
                                       float *r, long wt, float *v, long vs) {
    float *ph = r + 6 * wt;
    const long ps = tx + 16;
    WG_NAME(bt43_rows)(rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], r, r + wt,
                       r + 2 * wt, r + 3 * wt, r + 4 * wt, r + 5 * wt, xl, xr);
    for (int i = 0; i < 6; i++) {
        float *o = v + (long)i * 6 * vs;
        WG_NAME(split4)(r + i * wt, tx, ph, ph + ps, ph + 2 * ps, ph + 3 * ps);
        WG_NAME(split4)(r + i * wt + 4, tx, ph + 4 * ps, ph + 5 * ps, ph + 6 * ps, ph + 7 * ps);
        WG_NAME(b43_tiles)(ph, ph + ps, ph + 2 * ps, ph + 3 * ps, ph + 4 * ps, ph + 5 * ps, tx,
                           o, o + vs, o + 2 * vs, o + 3 * vs, o + 4 * vs, o + 5 * vs);
    }
}

WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(bt23_rows)(const float *restrict d0, const float *restrict d1, const float *restrict d2,
                   const float *restrict d3, float *restrict o0, float *restrict o1,
                   float *restrict o2, float *restrict o3, int x0, int x1) {
    for (int x = x0; x < x1; x++) {
        o0[x] = d0[x] - d2[x];
        o1[x] = d1[x] + d2[x];
        o2[x] = d2[x] - d1[x];
        o3[x] = d1[x] - d3[x];
    }
}

WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(split2)(const float *restrict r, int n, float *restrict p0, float *restrict p1) {
    for (int t = 0; t < n; t++) {
        p0[t] = r[2 * t];
        p1[t] = r[2 * t + 1];
    }
}

/* the 4 columns of tile t: p0[t], p1[t], q0[t], q1[t] (= p0, p1[t + 1]) */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(b23_tiles)(const float *restrict p0, const float *restrict p1,
                   const float *restrict q0, const float *restrict q1, int tx,
                   float *restrict v0, float *restrict v1, float *restrict v2,
                   float *restrict v3) {
    for (int t = 0; t < tx; t++) {
        v0[t] = p0[t] - q0[t];
        v1[t] = p1[t] + q0[t];
        v2[t] = q0[t] - p1[t];
        v3[t] = p1[t] - q1[t];
    }
}

/* F(2,3) twin of wg_in43: 4 rows of wt >= 2 tx + 2 floats, then 4 phase rows. */
WG_TARGET static void WG_NAME(wg_in23)(const float *const *rows, int xl, int xr, int tx,
                                       float *r, long wt, float *v, long vs) {
    float *ph = r + 4 * wt;
    const long ps = tx + 16;
    WG_NAME(bt23_rows)(rows[0], rows[1], rows[2], rows[3], r, r + wt, r + 2 * wt, r + 3 * wt,
                       xl, xr);
    for (int i = 0; i < 4; i++) {
        float *o = v + (long)i * 4 * vs;
        WG_NAME(split2)(r + i * wt, tx, ph, ph + ps);
        WG_NAME(split2)(r + i * wt + 2, tx, ph + 2 * ps, ph + 3 * ps);
        WG_NAME(b23_tiles)(ph, ph + ps, ph + 2 * ps, ph + 3 * ps, tx, o, o + vs, o + 2 * vs,
                           o + 3 * vs);
    }
}

/* -- output: A^T along the positions' rows, then A along x per tile, + bias --------------- */
/* s_k[t] = (A^T m)_k over the 6 rows m_i (positions i*6 + j of one column j). */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(at43_rows)(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                   const float *restrict m3, const float *restrict m4, const float *restrict m5,
                   float *restrict s0, float *restrict s1, float *restrict s2,
                   float *restrict s3, int tx) {
    for (int t = 0; t < tx; t++) {
        float a = m1[t] + m2[t], b = m1[t] - m2[t], c = m3[t] + m4[t], d = m3[t] - m4[t];
        s0[t] = m0[t] + a + c;
        s1[t] = b + 2.0f * d;
        s2[t] = a + 4.0f * c;
        s3[t] = b + 8.0f * d + m5[t];
    }
}

/* o[4t + k] = (s A)_k + bias for the 6 rows s_j (stride ss) of one output row's tiles. */
WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(a43_tiles)(const float *restrict s, long ss, int tx, float bias, float *restrict o) {
    for (int t = 0; t < tx; t++) {
        float m0 = s[t], m1 = s[ss + t], m2 = s[2 * ss + t], m3 = s[3 * ss + t];
        float m4 = s[4 * ss + t], m5 = s[5 * ss + t];
        float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        o[4 * t] = m0 + a + c + bias;
        o[4 * t + 1] = b + 2.0f * d + bias;
        o[4 * t + 2] = a + 4.0f * c + bias;
        o[4 * t + 3] = b + 8.0f * d + m5 + bias;
    }
}

/* One tile row of one output channel: position p of tile t at m[p * ms + t]; writes the 4
 * output rows (4 tx floats each, bias added) to o, o + ow, ... s: scratch of 24 * ss. */
WG_TARGET static void WG_NAME(wg_out43)(const float *m, long ms, int tx, float bias, float *s,
                                        long ss, float *o, long ow) {
    for (int j = 0; j < 6; j++) { /* s[k][j] = column j of A^T M, s + (k * 6 + j) * ss */
        const float *c = m + j * ms;
        WG_NAME(at43_rows)(c, c + 6 * ms, c + 12 * ms, c + 18 * ms, c + 24 * ms, c + 30 * ms,
                           s + j * ss, s + (6 + j) * ss, s + (12 + j) * ss, s + (18 + j) * ss,
                           tx);
    }
    for (int k = 0; k < 4; k++) WG_NAME(a43_tiles)(s + k * 6 * ss, ss, tx, bias, o + k * ow);
}

WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(at23_rows)(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                   const float *restrict m3, float *restrict s0, float *restrict s1, int tx) {
    for (int t = 0; t < tx; t++) {
        s0[t] = m0[t] + m1[t] + m2[t];
        s1[t] = m1[t] - m2[t] - m3[t];
    }
}

WG_TARGET static inline __attribute__((always_inline)) void
WG_NAME(a23_tiles)(const float *restrict s, long ss, int tx, float bias, float *restrict o) {
    for (int t = 0; t < tx; t++) {
        float m0 = s[t], m1 = s[ss + t], m2 = s[2 * ss + t], m3 = s[3 * ss + t];
        o[2 * t] = m0 + m1 + m2 + bias;
        o[2 * t + 1] = m1 - m2 - m3 + bias;
    }
}

/* F(2,3) twin of wg_out43: 2 output rows, s of 8 * ss floats. */
WG_TARGET static void WG_NAME(wg_out23)(const float *m, long ms, int tx, float bias, float *s,
                                        long ss, float *o, long ow) {
    for (int j = 0; j < 4; j++) {
        const float *c = m + j * ms;
        WG_NAME(at23_rows)(c, c + 4 * ms, c + 8 * ms, c + 12 * ms, s + j * ss,
                           s + (4 + j) * ss, tx);
    }
    for (int k = 0; k < 2; k++) WG_NAME(a23_tiles)(s + k * 4 * ss, ss, tx, bias, o + k * ow);
}

/* y[x] = clamp(o[x], lo, hi) for x < n: the cropped copy of an output row (NaN passes). */
WG_TARGET static void WG_NAME(wg_crop)(const float *restrict o, float lo, float hi,
                                       float *restrict y, int n) {
    for (int x = 0; x < n; x++) {
        float v = o[x] < lo ? lo : o[x];
        y[x] = v > hi ? hi : v;
    }
}
