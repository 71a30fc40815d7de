/* Convolutions as GEMMs, with bias and fused activation (argument list CONV_ARGS of
 * common.h, plus the split-K arguments).
 *
 * conv2d_gemm, conv2d_gemm8 (group 1, any window): implicit GEMM through local memory,
 * optionally split over K and summed by conv2d_splitk_sum; conv2d_gemv: 1x1 of at most 4
 * output pixels (FC layers). Bias: float4 per output channel block, always fp32.
 */

/* Implicit GEMM (group 1, any window, stride, dilation and padding).
 *
 * Rows of the GEMM are the P = N * OH * OW output pixels (``rows`` is P here), columns the
 * output channel blocks, K the (tap, input channel block) pairs. Work-group (16, 1, 16): a
 * tile of 16 * PX pixels by 16 * NO output channel blocks; work item (lx, lz) computes
 * blocks lx, lx + 16, ... (NO of them) of pixels lz, lz + 16, ... (PX of them). K advances
 * GEMM_BK input channel blocks (32 channels) of one tap at a time through local memory;
 * the global loads of the next step are issued before the arithmetic of the current one.
 * Global size (16 * ceil(OCB / (16 * NO)), nsplit, 16 * ceil(P / (16 * PX))). With
 * nsplit > 1, slice get_global_id(1) takes an even share of the K steps and stores float4
 * partial sums partial[(slice * P + p) * OCB + ocb], which conv2d_splitk_sum adds up with
 * the bias and the activation (a second launch: OpenCL orders work-groups of one launch
 * only through its end; adding the slices in the last work-group to finish, counted with
 * an atomic, gave stale sums on an H100). Filters are packed [KH][KW][ICBp][4 ic][OCBp]
 * (float4 of 4 output channels), zero padded to ICBp = ceil(ICB / GEMM_BK) * GEMM_BK and
 * OCBp = ceil(OCB / 32) * 32.
 */
#define GEMM_BK 8

#define GEMM_ARGS CONV_ARGS, int nsplit, __global float4 *partial

/* Activation, lane mask and store of output texel (ocb, pixel p) of a (pixels x blocks)
 * GEMM result. */
inline void gemm_store(TOUT out, int out_pitch, int out_h, int out_w, int out_c, int ocb,
                       int p, float4 v, int act, float a0, float a1) {
    const int plane = out_h * out_w;
    const int n = p / plane;
    const int r = p - n * plane;
    const int oh = r / out_w;
    STORE(out, out_pitch, ocb * out_w + r - oh * out_w, n * out_h + oh,
          mask_lanes(activate(v, act, a0, a1), ocb, out_c));
}

/* Global loads of K step s into registers: ra (input texels), rb (filter rows). */
#define GEMM_FETCH(s)                                                                     \
    {                                                                                     \
        const int tap = (s) / nkb;                                                        \
        const int icb0 = ((s) - tap * nkb) * GEMM_BK;                                     \
        const int ky = tap / kw, kx = tap - ky * kw;                                      \
        const int ih = a_ih0 + ky * dh, iw = a_iw0 + kx * dw;                             \
        const bool inside = a_ok && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;         \
        const int y = a_n * in_h + ih;                                                    \
        for (int j = 0; j < 4; ++j) {                                                     \
            const int icb = icb0 + a_k0 + j * a_kstep;                                    \
            if (j < PX / 2)                                                               \
                ra[j] = (inside && icb < in_cb) ? LOAD(in, in_pitch, icb * in_w + iw, y)  \
                                                : (float4)(0.0f);                         \
        }                                                                                 \
        const int fbase = (tap * icbp + icb0) * 4 * ocbp + ocb0;                          \
        for (int j = 0; j < 4; ++j) {                                                     \
            const int e = tid + 256 * j;                                                  \
            if (j < 2 * NO) rb[j] = WLOAD4(filter, fbase + (e / BN) * ocbp + e % BN);     \
        }                                                                                 \
    }

inline __attribute__((always_inline)) void conv_gemm(GEMM_ARGS, __local float4 *As,
                                                     __local float4 *Bs, const int PX,
                                                     const int NO) {
    const int lx = get_local_id(0), lz = get_local_id(2);
    const int tid = lz * 16 + lx;
    const int BM = 16 * PX, BN = 16 * NO;
    const int ocb0 = (get_global_id(0) / 16) * BN;
    const int in_cb = (in_c + 3) / 4, out_cb = (out_c + 3) / 4;
    const int icbp = (in_cb + GEMM_BK - 1) / GEMM_BK * GEMM_BK;
    const int ocbp = (out_cb + 31) / 32 * 32;
    const int slice = get_global_id(1);
    const int ptile = get_global_id(2) / 16;
    const int p0 = ptile * BM;
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
    float4 acc[2][8];
    float4 ra[4], rb[4];
#pragma unroll
    for (int o = 0; o < 2; ++o)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[o][i] = (float4)(0.0f);
#pragma unroll
    for (int j = 0; j < 4; ++j) ra[j] = rb[j] = (float4)(0.0f);
    if (s0 < s1) GEMM_FETCH(s0)
    for (int s = s0; s < s1; ++s) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (j < PX / 2) As[(a_k0 + j * a_kstep) * BM + a_col] = ra[j];
            if (j < 2 * NO) Bs[tid + 256 * j] = rb[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (s + 1 < s1) GEMM_FETCH(s + 1)
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; ++kk) {
            float4 w[2][4];
#pragma unroll
            for (int o = 0; o < 2; ++o)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    if (o < NO) w[o][j] = Bs[(kk * 4 + j) * BN + lx + 16 * o];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                if (i < PX) {
                    const float4 v = As[kk * BM + lz + 16 * i];
#pragma unroll
                    for (int o = 0; o < 2; ++o)
                        if (o < NO)
                            acc[o][i] += v.x * w[o][0] + v.y * w[o][1] + v.z * w[o][2] +
                                         v.w * w[o][3];
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (nsplit == 1) {
#pragma unroll
        for (int o = 0; o < 2; ++o) {
            const int ocb = ocb0 + lx + 16 * o;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int p = p0 + lz + 16 * i;
                if (o < NO && i < PX && p < rows && ocb < out_cb)
                    gemm_store(out, out_pitch, out_h, out_w, out_c, ocb, p,
                               acc[o][i] + bias[ocb], act, a0, a1);
            }
        }
        return;
    }
#pragma unroll
    for (int o = 0; o < 2; ++o) {
        const int ocb = ocb0 + lx + 16 * o;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int p = p0 + lz + 16 * i;
            if (o < NO && i < PX && p < rows && ocb < out_cb)
                partial[(slice * rows + p) * out_cb + ocb] = acc[o][i];
        }
    }
}

#define GEMM_KERNEL(name, PX, NO)                                                         \
    __kernel __attribute__((reqd_work_group_size(16, 1, 16))) void name(GEMM_ARGS) {      \
        __local float4 As[GEMM_BK * 16 * PX];                                             \
        __local float4 Bs[GEMM_BK * 64 * NO];                                             \
        conv_gemm(CONV_PASS, nsplit, partial, As, Bs, PX, NO);                            \
    }

/* Measured on an H100 at batch 1, wider tiles per work item (2 channel blocks) were slower:
 * fewer work-groups for the same layer, and each no faster. */
GEMM_KERNEL(conv2d_gemm, 4, 1)
GEMM_KERNEL(conv2d_gemm8, 8, 1)

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
    gemm_store(out, out_pitch, out_h, out_w, out_c, ocb, p, acc, act, a0, a1);
}

/* 1x1 convolution (no padding) of at most 4 output pixels: Gemm / MatMul rows, FC layers.
 * One work-group of 64 per output channel block, splitting the input channel blocks, then
 * a sum in local memory. Filters as conv2d_1x1. Global size (64, 1, OCB); rows = pixels. */
__kernel __attribute__((reqd_work_group_size(64, 1, 1))) void conv2d_gemv(CONV_ARGS) {
    __local float4 red[4 * 64];
    const int lid = get_local_id(0);
    const int ocb = get_global_id(2);
    const int in_cb = (in_c + 3) / 4, out_cb = (out_c + 3) / 4;
    const int plane = out_h * out_w;
    float4 acc[4];
    int ys[4], xs[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        acc[q] = (float4)(0.0f);
        const int n = q / plane;
        const int r = q - n * plane;
        const int oh = r / out_w;
        ys[q] = n * in_h + oh * sh;
        xs[q] = (r - oh * out_w) * sw;
    }
    if (ocb < out_cb) {
        for (int icb = lid; icb < in_cb; icb += 64) {
            const int widx = (ocb * in_cb + icb) * 4;
            const float4 w0 = WLOAD4(filter, widx), w1 = WLOAD4(filter, widx + 1);
            const float4 w2 = WLOAD4(filter, widx + 2), w3 = WLOAD4(filter, widx + 3);
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                if (q < rows) {
                    const float4 v = LOAD(in, in_pitch, icb * in_w + xs[q], ys[q]);
                    ACCUMULATE(acc[q], v)
                }
            }
        }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) red[q * 64 + lid] = acc[q];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_n = 32; half_n > 0; half_n >>= 1) {
        if (lid < half_n) {
#pragma unroll
            for (int q = 0; q < 4; ++q) red[q * 64 + lid] += red[q * 64 + lid + half_n];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < rows && lid < 4 && ocb < out_cb)
        gemm_store(out, out_pitch, out_h, out_w, out_c, ocb, lid, red[lid * 64] + bias[ocb],
                   act, a0, a1);
}
