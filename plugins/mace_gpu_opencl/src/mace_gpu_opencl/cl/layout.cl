/* Data movement over NHWC4 storage. Each output lane is gathered from the input lane that
 * holds its logical element; global size (grid width, grid rows) of the output unless
 * noted. A view is (n, c, h, w); texel (x, y) = (cb * w + iw, in * h + ih).
 */

inline float read_lane(TIN t, int pitch, int vc, int vh, int vw, int n, int c, int h,
                       int w) {
    return lane(LOAD(t, pitch, (c >> 2) * vw + w, n * vh + h), c & 3);
}

/* Output coordinates of grid texel (x, y): n, channel block, h, w. */
#define OUT_COORDS                                                                        \
    const int x = get_global_id(0);                                                       \
    const int y = get_global_id(1);                                                       \
    if (x >= on_w * ((on_c + 3) / 4) || y >= on_n * on_h) return;                         \
    const int cb = x / on_w, w = x - cb * on_w;                                           \
    const int n = y / on_h, h = y - n * on_h;

#define VIEW_ARGS(p) int p##_n, int p##_c, int p##_h, int p##_w

/* Stores output texel (x, y) of OUT_COORDS: lane i gets the expression LANE evaluated for
 * channel c = cb * 4 + i, 0 past the last channel. */
#define STORE_LANES(LANE)                                                                 \
    {                                                                                     \
        float r[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                            \
        for (int i = 0; i < 4; ++i) {                                                     \
            const int c = cb * 4 + i;                                                     \
            if (c >= on_c) break;                                                         \
            r[i] = (LANE);                                                                \
        }                                                                                 \
        STORE(out, out_pitch, x, y, (float4)(r[0], r[1], r[2], r[3]));                    \
    }

/* Lane (n, c, h, w) of view ``on`` read from ``in`` as the same row-major element. */
inline float relayout_lane(TIN in, int in_pitch, int in_c, int in_h, int in_w, int on_c,
                           int on_h, int on_w, int n, int c, int h, int w) {
    int flat = ((n * on_c + c) * on_h + h) * on_w + w;
    const int iw = flat % in_w;
    flat /= in_w;
    const int ih = flat % in_h;
    flat /= in_h;
    return read_lane(in, in_pitch, in_c, in_h, in_w, flat / in_c, flat % in_c, ih, iw);
}

/* Same elements in row-major order, another view (Reshape, Flatten, broadcast ranks). */
__kernel void relayout(TIN in, int in_pitch, VIEW_ARGS(in), TOUT out, int out_pitch,
                       VIEW_ARGS(on)) {
    OUT_COORDS
    STORE_LANES(relayout_lane(in, in_pitch, in_c, in_h, in_w, on_c, on_h, on_w, n, c, h, w))
}

/* Copy every texel of the input to the output shifted by whole (n, cb, h, w) offsets
 * (Concat along N, H, W, or along C at a multiple of 4). Global size: input grid. */
__kernel void copy_region(TIN in, int in_pitch, VIEW_ARGS(in), TOUT out, int out_pitch,
                          VIEW_ARGS(on), int off_n, int off_cb, int off_h, int off_w) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= in_w * ((in_c + 3) / 4) || y >= in_n * in_h) return;
    const int cb = x / in_w, w = x - cb * in_w;
    const int n = y / in_h, h = y - n * in_h;
    const float4 v = LOAD(in, in_pitch, x, y);
    STORE(out, out_pitch, (cb + off_cb) * on_w + w + off_w, (n + off_n) * on_h + h + off_h, v);
}

/* Concat of two inputs along C at any channel count: lanes < split come from a. */
__kernel void concat_lanes(TIN a, int a_pitch, TIN b, int b_pitch, int split, TOUT out,
                           int out_pitch, VIEW_ARGS(on)) {
    OUT_COORDS
    STORE_LANES(c < split ? read_lane(a, a_pitch, split, on_h, on_w, n, c, h, w)
                          : read_lane(b, b_pitch, on_c - split, on_h, on_w, n, c - split, h, w))
}

/* Lane (n, c, h, w) of DepthToSpace (to_space = 1) or SpaceToDepth (0) output. */
inline float depth_space_lane(TIN in, int in_pitch, int in_c, int in_h, int in_w, int on_c,
                              int bs, int to_space, int crd, int n, int c, int h, int w) {
    int ic, ih, iw;
    if (to_space) {
        const int blk = (h % bs) * bs + (w % bs);
        ic = crd ? c * bs * bs + blk : blk * on_c + c;
        ih = h / bs;
        iw = w / bs;
    } else {
        const int blk = crd ? c % (bs * bs) : c / in_c;
        ic = crd ? c / (bs * bs) : c % in_c;
        ih = h * bs + blk / bs;
        iw = w * bs + blk % bs;
    }
    return read_lane(in, in_pitch, in_c, in_h, in_w, n, ic, ih, iw);
}

/* DepthToSpace (to_space = 1) and SpaceToDepth (0), DCR (crd = 0) or CRD (crd = 1). */
__kernel void depth_space(TIN in, int in_pitch, VIEW_ARGS(in), TOUT out, int out_pitch,
                          VIEW_ARGS(on), int bs, int to_space, int crd) {
    OUT_COORDS
    STORE_LANES(depth_space_lane(in, in_pitch, in_c, in_h, in_w, on_c, bs, to_space, crd, n,
                                 c, h, w))
}

/* Source index along one axis for Pad: the input range is [lo, lo + size) after cropping
 * negative pads, ``begin`` the (positive) pad before it. -1: outside (constant mode). */
inline int pad_source(int o, int begin, int lo, int size, int mode) {
    int i = o - begin;
    if (i >= 0 && i < size) return lo + i;
    if (mode == 0) return -1;
    if (mode == 1) { /* reflect */
        const int period = 2 * (size - 1);
        if (period == 0) return lo;
        i = abs(i) % period;
        i = i < size ? i : period - i;
    } else if (mode == 2) { /* edge */
        i = clamp(i, 0, size - 1);
    } else { /* wrap */
        i = ((i % size) + size) % size;
    }
    return lo + i;
}

/* Lane (n, c, h, w) of the input, or ``value`` where a coordinate is -1 (outside). */
inline float pad_lane(TIN in, int in_pitch, int in_c, int in_h, int in_w, int n, int c,
                      int h, int w, float value) {
    return n < 0 || c < 0 || h < 0 || w < 0 ? value
                                            : read_lane(in, in_pitch, in_c, in_h, in_w, n, c, h, w);
}

/* Pad over all four view axes: begin pads (>= 0), crop starts and kept sizes per axis. */
__kernel void pad(TIN in, int in_pitch, VIEW_ARGS(in), TOUT out, int out_pitch,
                  VIEW_ARGS(on), int4 begin, int4 lo, int4 size, int mode, float value) {
    OUT_COORDS
    const int sn = pad_source(n, begin.s0, lo.s0, size.s0, mode);
    const int sh = pad_source(h, begin.s2, lo.s2, size.s2, mode);
    const int sw = pad_source(w, begin.s3, lo.s3, size.s3, mode);
    STORE_LANES(pad_lane(in, in_pitch, in_c, in_h, in_w, sn,
                         pad_source(c, begin.s1, lo.s1, size.s1, mode), sh, sw, value))
}

/* A host array uploaded as is (plain float32, row-major view n, c, h, w) -> storage texels,
 * padding lanes zero. Global size: output grid. */
__kernel void from_nchw(__global const float *src, TOUT out, int out_pitch, VIEW_ARGS(on)) {
    OUT_COORDS
    const int plane = on_h * on_w;
    const int base = (n * on_c + cb * 4) * plane + h * on_w + w;
    const int valid = on_c - cb * 4;
    float4 v = (float4)(src[base], 0.0f, 0.0f, 0.0f);
    if (valid > 1) v.y = src[base + plane];
    if (valid > 2) v.z = src[base + 2 * plane];
    if (valid > 3) v.w = src[base + 3 * plane];
    STORE(out, out_pitch, x, y, v);
}

/* Input lane start + step * o[src] for output lane o = (n, c, h, w) (per view axis). */
inline float gather_lane(TIN in, int in_pitch, int in_c, int in_h, int in_w, int4 start,
                         int4 step, int4 src, int n, int c, int h, int w) {
    const int o[4] = {n, c, h, w};
    return read_lane(in, in_pitch, in_c, in_h, in_w, start.s0 + step.s0 * o[src.s0],
                     start.s1 + step.s1 * o[src.s1], start.s2 + step.s2 * o[src.s2],
                     start.s3 + step.s3 * o[src.s3]);
}

/* Slice, Split and Transpose: output lane o = (n, c, h, w) reads input lane i with
 * i[a] = start[a] + step[a] * o[src[a]] on each view axis a (src: the output axis that
 * walks input axis a; a permutation). */
__kernel void gather_axes(TIN in, int in_pitch, VIEW_ARGS(in), TOUT out, int out_pitch,
                          VIEW_ARGS(on), int4 start, int4 step, int4 src) {
    OUT_COORDS
    STORE_LANES(gather_lane(in, in_pitch, in_c, in_h, in_w, start, step, src, n, c, h, w))
}
