/* Pooling over NHWC4 storage.
 *
 * pool2d: max or average window; global size (channel blocks, OW, N * OH). Taps outside
 * the input are skipped; the average divides by the taps inside the input, or (with
 * count_pad) inside the input plus its explicit pads, never the ceil_mode overhang.
 * global_pool: max or mean over H x W; global size (channel blocks, N); rows are summed
 * separately then added, which keeps fp32 sums of large planes accurate.
 */

__kernel void pool2d(TIN in, int in_pitch, int in_h, int in_w, TOUT out, int out_pitch,
                     int out_h, int out_w, int out_c, int rows, int kh, int kw, int sh, int sw,
                     int pt, int pl, int dh, int dw, int pb, int pr, int is_avg, int count_pad) {
    const int cb = get_global_id(0);
    const int ow = get_global_id(1);
    const int row = get_global_id(2);
    if (cb * 4 >= out_c || ow >= out_w || row >= rows) return;
    const int n = row / out_h;
    const int ih0 = (row - n * out_h) * sh - pt;
    const int iw0 = ow * sw - pl;
    float4 acc = is_avg ? (float4)(0.0f) : (float4)(-INFINITY);
    int count = 0;
    for (int ky = 0; ky < kh; ++ky) {
        const int ih = ih0 + ky * dh;
        const bool in_rows = ih >= 0 && ih < in_h;
        const bool pad_rows = ih >= -pt && ih < in_h + pb;
        for (int kx = 0; kx < kw; ++kx) {
            const int iw = iw0 + kx * dw;
            if (in_rows && iw >= 0 && iw < in_w) {
                const float4 v = LOAD(in, in_pitch, cb * in_w + iw, n * in_h + ih);
                acc = is_avg ? acc + v : fmax(acc, v);
                count += !count_pad;
            }
            count += count_pad && pad_rows && iw >= -pl && iw < in_w + pr;
        }
    }
    const float4 res = is_avg ? acc / (float)max(count, 1) : acc;
    STORE(out, out_pitch, cb * out_w + ow, row, mask_lanes(res, cb, out_c));
}

__kernel void global_pool(TIN in, int in_pitch, int in_h, int in_w, TOUT out, int out_pitch,
                          int out_c, int batch, int is_avg) {
    const int cb = get_global_id(0);
    const int n = get_global_id(1);
    if (cb * 4 >= out_c || n >= batch) return;
    float4 acc = is_avg ? (float4)(0.0f) : (float4)(-INFINITY);
    for (int h = 0; h < in_h; ++h) {
        float4 part = is_avg ? (float4)(0.0f) : (float4)(-INFINITY);
        for (int w = 0; w < in_w; ++w) {
            const float4 v = LOAD(in, in_pitch, cb * in_w + w, n * in_h + h);
            part = is_avg ? part + v : fmax(part, v);
        }
        acc = is_avg ? acc + part : fmax(acc, part);
    }
    const float4 res = is_avg ? acc / (float)(in_h * in_w) : acc;
    STORE(out, out_pitch, cb, n, mask_lanes(res, cb, out_c));
}
