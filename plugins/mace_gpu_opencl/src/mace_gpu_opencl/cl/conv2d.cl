/* 2-D convolutions with bias and fused activation.
 *
 * Global size: (output channel blocks, output column blocks, N * OH rows).
 * conv2d / conv2d_3x3 / conv2d_1x1 (group 1) compute 4 output channels x 4 columns per
 * work item. Filters are packed [OCB][KH][KW][ICB][4 ic][4 oc]: for one input texel,
 * four float4 rows of output channels.
 * depthwise: one filter per channel, packed [CB][KH][KW][4].
 * depthwise_1: depthwise with one column per work item (more work items for small planes).
 * conv2d_grouped: any group count; one column per work item, filters in ONNX order
 * [M][C/group][KH][KW] read one weight at a time.
 * The GEMM kernels (conv2d_gemm, conv2d_gemm8, conv2d_splitk_sum, conv2d_gemv) are in
 * conv_gemm.cl.
 * Bias: float4 per output channel block (zero padded), always fp32.
 */

#define STORE_COLUMN(j, acc)                                                              \
    if (ow0 + (j) < out_w)                                                                \
        STORE(out, out_pitch, ocb * out_w + ow0 + (j), row,                               \
              mask_lanes(activate(acc, act, a0, a1), ocb, out_c));

/* Four output columns of one output channel block; kh_ and kw_ may be constants. */
inline void conv_tile(CONV_ARGS, const int kh_, const int kw_) {
    const int ocb = get_global_id(0);
    const int ow0 = get_global_id(1) * 4;
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow0 >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int ih0 = (row - n * out_h) * sh - pt;
    const int iw0 = ow0 * sw - pl;
    const int in_cb = (in_c + 3) / 4;
    float4 acc0 = bias[ocb], acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int icb = 0; icb < in_cb; ++icb) {
        const int xb = icb * in_w;
        for (int ky = 0; ky < kh_; ++ky) {
            const int ih = ih0 + ky * dh;
            if (ih < 0 || ih >= in_h) continue;
            const int y = n * in_h + ih;
            for (int kx = 0; kx < kw_; ++kx) {
                const int widx = (((ocb * kh_ + ky) * kw_ + kx) * in_cb + icb) * 4;
                const float4 w0 = WLOAD4(filter, widx), w1 = WLOAD4(filter, widx + 1);
                const float4 w2 = WLOAD4(filter, widx + 2), w3 = WLOAD4(filter, widx + 3);
                const int ix = iw0 + kx * dw;
                if (ix >= 0 && ix < in_w) {
                    const float4 v = LOAD(in, in_pitch, xb + ix, y);
                    ACCUMULATE(acc0, v)
                }
                if (ix + sw >= 0 && ix + sw < in_w) {
                    const float4 v = LOAD(in, in_pitch, xb + ix + sw, y);
                    ACCUMULATE(acc1, v)
                }
                if (ix + 2 * sw >= 0 && ix + 2 * sw < in_w) {
                    const float4 v = LOAD(in, in_pitch, xb + ix + 2 * sw, y);
                    ACCUMULATE(acc2, v)
                }
                if (ix + 3 * sw >= 0 && ix + 3 * sw < in_w) {
                    const float4 v = LOAD(in, in_pitch, xb + ix + 3 * sw, y);
                    ACCUMULATE(acc3, v)
                }
            }
        }
    }
    STORE_COLUMN(0, acc0)
    STORE_COLUMN(1, acc1)
    STORE_COLUMN(2, acc2)
    STORE_COLUMN(3, acc3)
}

__kernel void conv2d(CONV_ARGS) { conv_tile(CONV_PASS, kh, kw); }

__kernel void conv2d_3x3(CONV_ARGS) { conv_tile(CONV_PASS, 3, 3); }

/* 1x1 without padding (any stride): also Gemm / MatMul on (M, K, 1, 1) views. */
__kernel void conv2d_1x1(CONV_ARGS) {
    const int ocb = get_global_id(0);
    const int ow0 = get_global_id(1) * 4;
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow0 >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int y = n * in_h + (row - n * out_h) * sh;
    const int iw0 = ow0 * sw;
    const int in_cb = (in_c + 3) / 4;
    const int last = out_w - ow0;
    float4 acc0 = bias[ocb], acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int icb = 0; icb < in_cb; ++icb) {
        const int widx = (ocb * in_cb + icb) * 4;
        const float4 w0 = WLOAD4(filter, widx), w1 = WLOAD4(filter, widx + 1);
        const float4 w2 = WLOAD4(filter, widx + 2), w3 = WLOAD4(filter, widx + 3);
        const int xb = icb * in_w + iw0;
        const float4 v0 = LOAD(in, in_pitch, xb, y);
        ACCUMULATE(acc0, v0)
        if (last > 1) {
            const float4 v1 = LOAD(in, in_pitch, xb + sw, y);
            ACCUMULATE(acc1, v1)
        }
        if (last > 2) {
            const float4 v2 = LOAD(in, in_pitch, xb + 2 * sw, y);
            ACCUMULATE(acc2, v2)
        }
        if (last > 3) {
            const float4 v3 = LOAD(in, in_pitch, xb + 3 * sw, y);
            ACCUMULATE(acc3, v3)
        }
    }
    STORE_COLUMN(0, acc0)
    STORE_COLUMN(1, acc1)
    STORE_COLUMN(2, acc2)
    STORE_COLUMN(3, acc3)
}

/* Depthwise (group == C == M): four columns of one channel block. */
__kernel void depthwise(CONV_ARGS) {
    const int ocb = get_global_id(0);
    const int ow0 = get_global_id(1) * 4;
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow0 >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int ih0 = (row - n * out_h) * sh - pt;
    const int iw0 = ow0 * sw - pl;
    const int xb = ocb * in_w;
    float4 acc0 = bias[ocb], acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int ky = 0; ky < kh; ++ky) {
        const int ih = ih0 + ky * dh;
        if (ih < 0 || ih >= in_h) continue;
        const int y = n * in_h + ih;
        for (int kx = 0; kx < kw; ++kx) {
            const float4 w = WLOAD4(filter, (ocb * kh + ky) * kw + kx);
            const int ix = iw0 + kx * dw;
            if (ix >= 0 && ix < in_w) acc0 += LOAD(in, in_pitch, xb + ix, y) * w;
            if (ix + sw >= 0 && ix + sw < in_w) acc1 += LOAD(in, in_pitch, xb + ix + sw, y) * w;
            if (ix + 2 * sw >= 0 && ix + 2 * sw < in_w)
                acc2 += LOAD(in, in_pitch, xb + ix + 2 * sw, y) * w;
            if (ix + 3 * sw >= 0 && ix + 3 * sw < in_w)
                acc3 += LOAD(in, in_pitch, xb + ix + 3 * sw, y) * w;
        }
    }
    STORE_COLUMN(0, acc0)
    STORE_COLUMN(1, acc1)
    STORE_COLUMN(2, acc2)
    STORE_COLUMN(3, acc3)
}

/* Any group count: one output column, four output channels, scalar weights. */
__kernel void conv2d_grouped(CONV_ARGS) {
    const int ocb = get_global_id(0);
    const int ow = get_global_id(1);
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int ih0 = (row - n * out_h) * sh - pt;
    const int iw0 = ow * sw - pl;
    const int cg = in_c / group, mg = out_c / group;
    const float4 b = bias[ocb];
    float r[4] = {b.x, b.y, b.z, b.w};
    for (int j = 0; j < 4; ++j) {
        const int oc = ocb * 4 + j;
        if (oc >= out_c) {
            r[j] = 0.0f;
            continue;
        }
        const int c0 = (oc / mg) * cg;
        float acc = r[j];
        for (int ic = 0; ic < cg; ++ic) {
            const int c = c0 + ic;
            const int xb = (c >> 2) * in_w;
            for (int ky = 0; ky < kh; ++ky) {
                const int ih = ih0 + ky * dh;
                if (ih < 0 || ih >= in_h) continue;
                for (int kx = 0; kx < kw; ++kx) {
                    const int ix = iw0 + kx * dw;
                    if (ix < 0 || ix >= in_w) continue;
                    const float v = lane(LOAD(in, in_pitch, xb + ix, n * in_h + ih), c & 3);
                    acc += v * WLOAD1(filter, ((oc * cg + ic) * kh + ky) * kw + kx);
                }
            }
        }
        r[j] = acc;
    }
    const float4 res = activate((float4)(r[0], r[1], r[2], r[3]), act, a0, a1);
    STORE(out, out_pitch, ocb * out_w + ow, row, mask_lanes(res, ocb, out_c));
}

/* Depthwise, one column per work item: global size (channel blocks, OW, N * OH). */
__kernel void depthwise_1(CONV_ARGS) {
    const int ocb = get_global_id(0);
    const int ow = get_global_id(1);
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int ih0 = (row - n * out_h) * sh - pt;
    const int iw0 = ow * sw - pl;
    const int xb = ocb * in_w;
    float4 acc = bias[ocb];
    for (int ky = 0; ky < kh; ++ky) {
        const int ih = ih0 + ky * dh;
        if (ih < 0 || ih >= in_h) continue;
        const int y = n * in_h + ih;
        for (int kx = 0; kx < kw; ++kx) {
            const int ix = iw0 + kx * dw;
            if (ix >= 0 && ix < in_w)
                acc += LOAD(in, in_pitch, xb + ix, y) * WLOAD4(filter, (ocb * kh + ky) * kw + kx);
        }
    }
    STORE(out, out_pitch, ocb * out_w + ow, row,
          mask_lanes(activate(acc, act, a0, a1), ocb, out_c));
}

/* ConvTranspose: output texel (ocb, ow, row) gathers every input pixel that a tap scatters
 * onto it (oh = ih * sh - pt + ky * dh, so ih = (oh + pt - ky * dh) / sh where that
 * divides; likewise for w). Groups (``group``) must hold whole channel blocks unless there
 * is one. Filters: W (C, M / group, KH, KW) as (M, C / group, KH, KW), packed like conv2d's
 * dense filters: [OCB][KH][KW][C / group, padded to 4][4 oc]. */
__kernel void conv_transpose(CONV_ARGS) {
    const int ocb = get_global_id(0);
    const int ow = get_global_id(1);
    const int row = get_global_id(2);
    if (ocb * 4 >= out_c || ow >= out_w || row >= rows) return;
    const int n = row / out_h, oh = row - n * out_h;
    const int gcb = (in_c / group + 3) / 4;               /* input blocks per group */
    const int icb0 = group == 1 ? 0 : ocb / (out_c / group / 4) * gcb;
    float4 acc = bias[ocb];
    for (int ky = 0; ky < kh; ++ky) {
        const int t = oh + pt - ky * dh;
        if (t < 0 || t % sh) continue;
        const int ih = t / sh;
        if (ih >= in_h) continue;
        for (int kx = 0; kx < kw; ++kx) {
            const int u = ow + pl - kx * dw;
            if (u < 0 || u % sw) continue;
            const int iw = u / sw;
            if (iw >= in_w) continue;
            const int widx = ((ocb * kh + ky) * kw + kx) * gcb * 4;
            for (int cb = 0; cb < gcb; ++cb) {
                const float4 v = LOAD(in, in_pitch, (icb0 + cb) * in_w + iw, n * in_h + ih);
                const int wi = widx + cb * 4;
                const float4 w0 = WLOAD4(filter, wi), w1 = WLOAD4(filter, wi + 1);
                const float4 w2 = WLOAD4(filter, wi + 2), w3 = WLOAD4(filter, wi + 3);
                ACCUMULATE(acc, v)
            }
        }
    }
    STORE(out, out_pitch, ocb * out_w + ow, row,
          mask_lanes(activate(acc, act, a0, a1), ocb, out_c));
}
