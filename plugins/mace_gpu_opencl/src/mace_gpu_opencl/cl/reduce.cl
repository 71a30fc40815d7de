/* Reductions over NHWC4 storage.
 *
 * softmax: along C (axis 1), H (2) or W (3) of the view; log = 1 gives LogSoftmax.
 * Global size: (other grid columns, other grid rows) as set by the host:
 *   axis C: (W, N * H); axis H: (CB * W, N); axis W: (CB, N * H).
 * reduce: sum / mean / max / min over any of the view axes; global size: output grid
 * (the keepdims view). Partial sums per row keep fp32 sums of large planes accurate.
 */

#define RED_SUM 0
#define RED_MEAN 1
#define RED_MAX 2
#define RED_MIN 3

__kernel void softmax(TIN in, int in_pitch, int vn, int vc, int vh, int vw, TOUT out,
                      int out_pitch, int axis, int log_out, int g0, int g1) {
    const int i0 = get_global_id(0);
    const int i1 = get_global_id(1);
    if (i0 >= g0 || i1 >= g1) return;
    const int cbs = (vc + 3) / 4;
    int count, x0, y0, dx, dy;
    if (axis == 1) { count = cbs; x0 = i0; y0 = i1; dx = vw; dy = 0; }
    else if (axis == 2) { count = vh; x0 = i0; y0 = i1 * vh; dx = 0; dy = 1; }
    else { count = vw; x0 = i0 * vw; y0 = i1; dx = 1; dy = 0; }
    float4 peak = (float4)(-INFINITY);
    for (int k = 0; k < count; ++k) {
        float4 v = LOAD(in, in_pitch, x0 + k * dx, y0 + k * dy);
        if (axis == 1) v = select(v, (float4)(-INFINITY), k * 4 + (int4)(0, 1, 2, 3) >= vc);
        peak = fmax(peak, v);
    }
    if (axis == 1) peak = (float4)(fmax(fmax(peak.x, peak.y), fmax(peak.z, peak.w)));
    float4 total = (float4)(0.0f);
    for (int k = 0; k < count; ++k) {
        float4 e = exp(LOAD(in, in_pitch, x0 + k * dx, y0 + k * dy) - peak);
        if (axis == 1) e = select(e, (float4)(0.0f), k * 4 + (int4)(0, 1, 2, 3) >= vc);
        total += e;
    }
    if (axis == 1) total = (float4)(total.x + total.y + total.z + total.w);
    const float4 log_total = log(total);
    for (int k = 0; k < count; ++k) {
        const int x = x0 + k * dx, y = y0 + k * dy;
        const float4 shifted = LOAD(in, in_pitch, x, y) - peak;
        const float4 r = log_out ? shifted - log_total : exp(shifted) / total;
        const int cb = axis == 1 ? k : (axis == 2 ? i0 / vw : i0);
        STORE(out, out_pitch, x, y, mask_lanes(r, cb, vc));
    }
}

inline float4 combine(float4 acc, float4 v, int op) {
    return op == RED_MAX ? fmax(acc, v) : (op == RED_MIN ? fmin(acc, v) : acc + v);
}

/* rn, rc, rh, rw: 1 where the view axis is reduced; the output view has 1 there. */
__kernel void reduce(TIN in, int in_pitch, int vn, int vc, int vh, int vw, TOUT out,
                     int out_pitch, int on_c, int on_h, int on_w, int width, int rows, int rn,
                     int rc, int rh, int rw, int op) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= width || y >= rows) return;
    const int ocb = x / on_w, ow = x - ocb * on_w;
    const int on = y / on_h, oh = y - on * on_h;
    const float init = op == RED_MAX ? -INFINITY : (op == RED_MIN ? INFINITY : 0.0f);
    const int cbs = (vc + 3) / 4;
    float4 acc = (float4)(init);
    for (int n = rn ? 0 : on; n < (rn ? vn : on + 1); ++n) {
        for (int h = rh ? 0 : oh; h < (rh ? vh : oh + 1); ++h) {
            float4 part = (float4)(init);
            for (int cb = rc ? 0 : ocb; cb < (rc ? cbs : ocb + 1); ++cb) {
                for (int w = rw ? 0 : ow; w < (rw ? vw : ow + 1); ++w) {
                    float4 v = LOAD(in, in_pitch, cb * vw + w, n * vh + h);
                    if (rc) v = select(v, (float4)(init), cb * 4 + (int4)(0, 1, 2, 3) >= vc);
                    part = combine(part, v, op);
                }
            }
            acc = combine(acc, part, op);
        }
    }
    if (rc) {
        const float s = op == RED_MAX ? fmax(fmax(acc.x, acc.y), fmax(acc.z, acc.w))
                      : op == RED_MIN ? fmin(fmin(acc.x, acc.y), fmin(acc.z, acc.w))
                                      : acc.x + acc.y + acc.z + acc.w;
        acc = (float4)(s, 0.0f, 0.0f, 0.0f);
    }
    if (op == RED_MEAN) {
        const int count = (rn ? vn : 1) * (rc ? vc : 1) * (rh ? vh : 1) * (rw ? vw : 1);
        acc /= (float)count;
    }
    STORE(out, out_pitch, x, y, mask_lanes(acc, ocb, on_c));
}
