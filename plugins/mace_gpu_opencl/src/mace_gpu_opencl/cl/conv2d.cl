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
 * conv2d_gemm / conv2d_gemm8 (group 1, any window): implicit GEMM through local memory,
 * optionally split over K with conv2d_splitk_sum adding the slices (see below).
 * Bias: float4 per output channel block (zero padded), always fp32.
 */

#define CONV_ARGS                                                                         \
    TIN in, int in_pitch, int in_h, int in_w, int in_c, WPTR filter,                      \
        __global const float4 *bias, TOUT out, int out_pitch, int out_h, int out_w,       \
        int out_c, int rows, int kh, int kw, int sh, int sw, int pt, int pl, int dh,      \
        int dw, int group, int act, float a0, float a1

#define CONV_PASS                                                                         \
    in, in_pitch, in_h, in_w, in_c, filter, bias, out, out_pitch, out_h, out_w, out_c,    \
        rows, kh, kw, sh, sw, pt, pl, dh, dw, group, act, a0, a1

#define ACCUMULATE(acc, v)                                                                \
    acc += (v).x * w0;                                                                    \
    acc += (v).y * w1;                                                                    \
    acc += (v).z * w2;                                                                    \
    acc += (v).w * w3;

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

/* Implicit GEMM (group 1, any window, stride, dilation and padding).
 *
 * Rows of the GEMM are the P = N * OH * OW output pixels (``rows`` is P here), columns the
 * output channel blocks, K the (tap, input channel block) pairs. Work-group (16, 1, 16): a
 * tile of 16 * PX pixels by 16 output channel blocks (64 channels); work item (lx, lz)
 * computes block lx of pixels lz, lz + 16, ... (PX of them). K advances GEMM_BK input
 * channel blocks (32 channels) of one tap at a time through local memory.
 * Global size (16 * ceil(OCB / 16), nsplit, 16 * ceil(P / (16 * PX))). With nsplit > 1,
 * slice get_global_id(1) takes an even share of the K steps and stores float4 partial sums
 * partial[(slice * P + p) * OCB + ocb]; conv2d_splitk_sum adds them, the bias and the
 * activation. Filters are packed [KH][KW][ICBp][4 ic][OCBp] (float4 of 4 output channels),
 * zero padded to ICBp = ceil(ICB / GEMM_BK) * GEMM_BK and OCBp = ceil(OCB / 16) * 16.
 */
#define GEMM_BK 8

#define GEMM_ARGS CONV_ARGS, int nsplit, __global float4 *partial

inline __attribute__((always_inline)) void conv_gemm(GEMM_ARGS, __local float4 *As, __local float4 *Bs, const int PX) {
    const int lx = get_local_id(0), lz = get_local_id(2);
    const int tid = lz * 16 + lx;
    const int BM = 16 * PX;
    const int ocb = get_global_id(0);
    const int ocb0 = ocb - lx;
    const int in_cb = (in_c + 3) / 4, out_cb = (out_c + 3) / 4;
    const int icbp = (in_cb + GEMM_BK - 1) / GEMM_BK * GEMM_BK;
    const int ocbp = (out_cb + 15) / 16 * 16;
    const int slice = get_global_id(1);
    const int p0 = (get_global_id(2) / 16) * BM;
    const int plane = out_h * out_w;
    /* the pixel this work item stages into As, and its K rows */
    const int a_col = tid % BM;
    const int ap = p0 + a_col;
    const bool a_ok = ap < rows;
    const int a_n = a_ok ? ap / plane : 0;
    const int a_r = ap - a_n * plane;
    const int a_oh = a_ok ? a_r / out_w : 0;
    const int a_ih0 = a_oh * sh - pt;
    const int a_iw0 = (a_r - a_oh * out_w) * sw - pl;
    const int a_k0 = tid / BM, a_kstep = 256 / BM;
    const int nkb = icbp / GEMM_BK;
    const int steps = kh * kw * nkb;
    const int s0 = slice * steps / nsplit, s1 = (slice + 1) * steps / nsplit;
    float4 acc[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i] = (float4)(0.0f);
    for (int s = s0; s < s1; ++s) {
        const int tap = s / nkb;
        const int icb0 = (s - tap * nkb) * GEMM_BK;
        const int ky = tap / kw, kx = tap - ky * kw;
        const int ih = a_ih0 + ky * dh, iw = a_iw0 + kx * dw;
        const bool inside = a_ok && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
        const int y = a_n * in_h + ih;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (j < PX / 2) {
                const int kk = a_k0 + j * a_kstep;
                const int icb = icb0 + kk;
                float4 v = (float4)(0.0f);
                if (inside && icb < in_cb) v = LOAD(in, in_pitch, icb * in_w + iw, y);
                As[kk * BM + a_col] = v;
            }
        }
        const int fbase = (tap * icbp + icb0) * 4 * ocbp + ocb0;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const int e = tid + 256 * j;
            Bs[e] = WLOAD4(filter, fbase + (e >> 4) * ocbp + (e & 15));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; ++kk) {
            const float4 w0 = Bs[kk * 64 + lx], w1 = Bs[kk * 64 + 16 + lx];
            const float4 w2 = Bs[kk * 64 + 32 + lx], w3 = Bs[kk * 64 + 48 + lx];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                if (i < PX) {
                    const float4 v = As[kk * BM + lz + 16 * i];
                    acc[i] += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3;
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ocb >= out_cb) return;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int p = p0 + lz + 16 * i;
        if (i < PX && p < rows) {
            if (nsplit > 1) {
                partial[(slice * rows + p) * out_cb + ocb] = acc[i];
            } else {
                const int n = p / plane;
                const int r = p - n * plane;
                const int oh = r / out_w;
                STORE(out, out_pitch, ocb * out_w + r - oh * out_w, n * out_h + oh,
                      mask_lanes(activate(acc[i] + bias[ocb], act, a0, a1), ocb, out_c));
            }
        }
    }
}

__kernel __attribute__((reqd_work_group_size(16, 1, 16))) void conv2d_gemm(GEMM_ARGS) {
    __local float4 As[GEMM_BK * 64];
    __local float4 Bs[GEMM_BK * 64];
    conv_gemm(CONV_PASS, nsplit, partial, As, Bs, 4);
}

__kernel __attribute__((reqd_work_group_size(16, 1, 16))) void conv2d_gemm8(GEMM_ARGS) {
    __local float4 As[GEMM_BK * 128];
    __local float4 Bs[GEMM_BK * 64];
    conv_gemm(CONV_PASS, nsplit, partial, As, Bs, 8);
}

/* The sum of conv2d_gemm's nsplit partial slices, plus bias and activation.
 * Global size (OCB, P). */
__kernel void conv2d_splitk_sum(__global const float4 *partial, int nsplit, int total,
                                __global const float4 *bias, TOUT out, int out_pitch,
                                int out_h, int out_w, int out_c, int act, float a0, float a1) {
    const int ocb = get_global_id(0);
    const int p = get_global_id(1);
    const int out_cb = (out_c + 3) / 4;
    if (ocb >= out_cb || p >= total) return;
    float4 acc = bias[ocb];
    for (int s = 0; s < nsplit; ++s) acc += partial[(s * total + p) * out_cb + ocb];
    const int plane = out_h * out_w;
    const int n = p / plane;
    const int r = p - n * plane;
    const int oh = r / out_w;
    STORE(out, out_pitch, ocb * out_w + r - oh * out_w, n * out_h + oh,
          mask_lanes(activate(acc, act, a0, a1), ocb, out_c));
}
