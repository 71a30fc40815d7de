/* Prelude of every program: storage access, lane helpers, activations.
 *
 * A tensor is a grid of RGBA texels (4 channels each): texel (x, y) = (cb * W + w, n * H + h).
 * -DSTORAGE_IMAGE: the grid is an image2d_t; otherwise a buffer of texels in row-major grid
 * order, whose row pitch (in texels) every kernel takes next to the tensor.
 * -DSTORAGE_HALF: texels and filters are stored as half (vloada_half / vstorea_half on
 * buffers, CL_HALF_FLOAT images). Arithmetic is always float: no cl_khr_fp16 needed.
 * Buffer texels are read and written whole, as aligned float4 / half4 (every buffer and
 * sub-buffer starts at the device's base alignment): vload4 on a float pointer promises only
 * 4-byte alignment, and NVIDIA's compiler then issues four 32-bit loads per texel.
 * Padding lanes (channels >= C in the last block) are always stored as 0.
 */

#ifdef STORAGE_IMAGE
#define TIN __read_only image2d_t
#define TOUT __write_only image2d_t
__constant sampler_t SAMPLER =
    CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;
#define LOAD(t, pitch, x, y) read_imagef((t), SAMPLER, (int2)((x), (y)))
#define STORE(t, pitch, x, y, v) write_imagef((t), (int2)((x), (y)), (v))
#elif defined(STORAGE_HALF)
#define TIN __global const half *
#define TOUT __global half *
#define LOAD(t, pitch, x, y) vloada_half4((y) * (pitch) + (x), (t))
#define STORE(t, pitch, x, y, v) vstorea_half4_rte((v), (y) * (pitch) + (x), (t))
#else
#define TIN __global const float *
#define TOUT __global float *
#define LOAD(t, pitch, x, y) (((__global const float4 *)(t))[(y) * (pitch) + (x)])
#define STORE(t, pitch, x, y, v) (((__global float4 *)(t))[(y) * (pitch) + (x)] = (v))
#endif

/* Filters: plain buffers in the storage precision. */
#ifdef STORAGE_HALF
#define WPTR __global const half *
#define WLOAD4(p, i) vloada_half4((i), (p))
#define WLOAD1(p, i) vload_half((i), (p))
#else
#define WPTR __global const float *
#define WLOAD4(p, i) (((__global const float4 *)(p))[(i)])
#define WLOAD1(p, i) ((p)[(i)])
#endif

/* Lane i (0..3) of a texel. */
inline float lane(float4 v, int i) {
    return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}

/* Zero the lanes of block cb that lie past the last channel. */
inline float4 mask_lanes(float4 v, int cb, int channels) {
    const int valid = channels - cb * 4;
    if (valid >= 4) return v;
    return (float4)(v.x, valid > 1 ? v.y : 0.0f, valid > 2 ? v.z : 0.0f, 0.0f);
}

/* Activations: the fused ones (see mace_core.ops.fused_activation) and a few more. */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_CLIP 2
#define ACT_LEAKY_RELU 3
#define ACT_SIGMOID 4
#define ACT_TANH 5
#define ACT_HARD_SIGMOID 6
#define ACT_HARD_SWISH 7
#define ACT_ELU 8
#define ACT_SOFTPLUS 9
#define ACT_ABS 10
#define ACT_NEG 11
#define ACT_EXP 12
#define ACT_SQRT 13
#define ACT_SWISH 14 /* x * sigmoid(a * x) (SiLU when a = 1) */
#define ACT_LOG 15

inline float4 activate(float4 v, int act, float a, float b) {
    switch (act) {
    case ACT_RELU: return fmax(v, 0.0f);
    case ACT_CLIP: return fmin(fmax(v, a), b);
    case ACT_LEAKY_RELU: return select(v * a, v, v >= 0.0f);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    case ACT_TANH: return tanh(v);
    case ACT_HARD_SIGMOID: return clamp(v * a + b, 0.0f, 1.0f);
    case ACT_HARD_SWISH: return v * clamp(v / 6.0f + 0.5f, 0.0f, 1.0f);
    case ACT_ELU: return select(a * expm1(fmin(v, 0.0f)), v, v >= 0.0f);
    case ACT_SOFTPLUS: return fmax(v, 0.0f) + log1p(exp(-fabs(v)));
    case ACT_ABS: return fabs(v);
    case ACT_NEG: return -v;
    case ACT_EXP: return exp(v);
    case ACT_SQRT: return sqrt(v);
    case ACT_SWISH: return v / (1.0f + exp(-a * v));
    case ACT_LOG: return log(v);
    default: return v;
    }
}

/* The argument list of the convolution kernels (conv2d.cl, conv_gemm.cl): input, filters,
 * bias, output, geometry, fused activation; and the four-input-channel update of a float4
 * accumulator from input texel v and filter rows w0..w3. */
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
