/* Elementwise ops over NHWC4 storage; global size (grid width, grid rows).
 *
 * binary: a (op) b with numpy broadcasting on the 4-D views: an input whose N, H or W is 1
 * repeats along it, one whose C is 1 repeats its single channel over every lane.
 * unary: one activation (see activate() in common.h).
 * affine: per-channel x * scale + shift (BatchNormalization), then an activation.
 * All three apply a fused activation and zero the padding lanes.
 */

#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2
#define OP_DIV 3
#define OP_MAX 4
#define OP_MIN 5
#define OP_PRELU 6
#define OP_POW 7

inline float4 binop(float4 a, float4 b, int op) {
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_MAX: return fmax(a, b);
    case OP_MIN: return fmin(a, b);
    case OP_PRELU: return select(a, a * b, a < 0.0f);
    default: return pow(a, b);
    }
}

/* Texel (n, cb, h, w) of the output, read from an input of view (vn, vc, vh, vw). */
inline float4 load_broadcast(TIN t, int pitch, int vn, int vc, int vh, int vw, int n, int cb,
                             int h, int w) {
    const int y = (vn == 1 ? 0 : n) * vh + (vh == 1 ? 0 : h);
    const int x = vw == 1 ? 0 : w;
    if (vc == 1) return (float4)(LOAD(t, pitch, x, y).x);
    return LOAD(t, pitch, cb * vw + x, y);
}

__kernel void binary(TIN a, int a_pitch, int an, int ac, int ah, int aw, TIN b, int b_pitch,
                     int bn, int bc, int bh, int bw, TOUT out, int out_pitch, int out_c,
                     int out_h, int out_w, int width, int rows, int op, int act, float p0,
                     float p1) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= width || y >= rows) return;
    const int cb = x / out_w, w = x - cb * out_w;
    const int n = y / out_h, h = y - n * out_h;
    const float4 va = load_broadcast(a, a_pitch, an, ac, ah, aw, n, cb, h, w);
    const float4 vb = load_broadcast(b, b_pitch, bn, bc, bh, bw, n, cb, h, w);
    const float4 r = activate(binop(va, vb, op), act, p0, p1);
    STORE(out, out_pitch, x, y, mask_lanes(r, cb, out_c));
}

__kernel void unary(TIN in, int in_pitch, TOUT out, int out_pitch, int out_c, int out_w,
                    int width, int rows, int act, float p0, float p1) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= width || y >= rows) return;
    const float4 r = activate(LOAD(in, in_pitch, x, y), act, p0, p1);
    STORE(out, out_pitch, x, y, mask_lanes(r, x / out_w, out_c));
}

__kernel void affine(TIN in, int in_pitch, __global const float4 *scale,
                     __global const float4 *shift, TOUT out, int out_pitch, int out_c,
                     int out_w, int width, int rows, int act, float p0, float p1) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= width || y >= rows) return;
    const int cb = x / out_w;
    const float4 r = activate(LOAD(in, in_pitch, x, y) * scale[cb] + shift[cb], act, p0, p1);
    STORE(out, out_pitch, x, y, mask_lanes(r, cb, out_c));
}
