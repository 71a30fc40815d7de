/* Depthwise kernels on one N x C plane, included once per ISA by depthwise.c with
 * DW_NAME(name) (adds the ISA suffix) and DW_TARGET (the target attribute) defined.
 * The inner loops are plain C written so the compiler vectorises them for that target.
 */

/* 3x3, dilation 1, stride S (1 or 2): interior pixels in one vectorised loop, borders
 * with bounds checks. Rows outside the image read `zero` (w zeros). */
#define DW3X3_INTERIOR(S)                                                                 \
    for (int ox = lo; ox < hi; ox++) {                                                    \
        int ix = ox * (S) - p->pl;                                                        \
        yr[ox] = bias + k[0] * r0[ix] + k[1] * r0[ix + 1] + k[2] * r0[ix + 2] +           \
                 k[3] * r1[ix] + k[4] * r1[ix + 1] + k[5] * r1[ix + 2] + k[6] * r2[ix] +  \
                 k[7] * r2[ix + 1] + k[8] * r2[ix + 2];                                   \
    }

DW_TARGET static void DW_NAME(dw3x3_plane)(const mc_conv_params *p, const float *x,
                                           const float *k, float bias, float *y,
                                           const float *zero) {
    const int w = p->w, s = p->sh, ow = p->ow;
    int lo = MC_MIN(MC_CEIL_DIV(p->pl, s), ow);
    int hi = w - 3 + p->pl >= 0 ? (w - 3 + p->pl) / s + 1 : 0;
    hi = MC_MAX(lo, MC_MIN(hi, ow));
    for (int oy = 0; oy < p->oh; oy++) {
        int iy = oy * s - p->pt;
        const float *rows[3];
        for (int r = 0; r < 3; r++)
            rows[r] = (iy + r >= 0 && iy + r < p->h) ? x + (long)(iy + r) * w : zero;
        const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
        float *yr = y + (long)oy * ow;
        for (int side = 0; side < 2; side++) {
            for (int ox = side ? hi : 0; ox < (side ? ow : lo); ox++) {
                float acc = bias;
                for (int kx = 0; kx < 3; kx++) {
                    int ix = ox * s - p->pl + kx;
                    if (ix < 0 || ix >= w) continue;
                    acc += k[kx] * r0[ix] + k[3 + kx] * r1[ix] + k[6 + kx] * r2[ix];
                }
                yr[ox] = acc;
            }
        }
        if (s == 1) {
            DW3X3_INTERIOR(1)
        } else {
            DW3X3_INTERIOR(2)
        }
    }
}

/* Any kernel, stride and dilation: accumulate tap by tap over output rows. */
DW_TARGET static void DW_NAME(dw_plane)(const mc_conv_params *p, const float *x,
                                        const float *k, float bias, float *y) {
    const int w = p->w, ow = p->ow, sw = p->sw;
    for (int oy = 0; oy < p->oh; oy++) {
        float *yr = y + (long)oy * ow;
        for (int ox = 0; ox < ow; ox++) yr[ox] = bias;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = oy * p->sh - p->pt + ky * p->dh;
            if (iy < 0 || iy >= p->h) continue;
            const float *row = x + (long)iy * w;
            for (int kx = 0; kx < p->kw; kx++) {
                const float wv = k[ky * p->kw + kx];
                int ix0 = kx * p->dw - p->pl;
                int lo = ix0 >= 0 ? 0 : MC_CEIL_DIV(-ix0, sw);
                int hi = ix0 >= w ? 0 : MC_CEIL_DIV(w - ix0, sw);
                lo = MC_MIN(lo, ow);
                hi = MC_MAX(lo, MC_MIN(hi, ow));
                if (sw == 1) {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * row[ox + ix0];
                } else if (sw == 2) {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * row[2 * ox + ix0];
                } else {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * row[ox * sw + ix0];
                }
            }
        }
    }
}

#undef DW3X3_INTERIOR
