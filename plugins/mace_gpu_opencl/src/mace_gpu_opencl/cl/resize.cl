/* Resize of H and W by host-computed tables (so coordinates round exactly as the
 * reference's float64 math): per output row ys = (row0, row1), yw = (weight0, weight1),
 * per output column xs, xw likewise. Nearest reads one texel; linear blends four.
 * Global size: output grid (CB * OW, N * OH).
 */

__kernel void resize(TIN in, int in_pitch, int in_h, int in_w, TOUT out, int out_pitch,
                     int out_h, int out_w, int width, int rows, __global const int2 *ys,
                     __global const float2 *yw, __global const int2 *xs,
                     __global const float2 *xw, int linear) {
    const int x = get_global_id(0);
    const int y = get_global_id(1);
    if (x >= width || y >= rows) return;
    const int cb = x / out_w, ow = x - cb * out_w;
    const int n = y / out_h, oh = y - n * out_h;
    const int2 sy = ys[oh] + n * in_h;
    const int2 sx = xs[ow] + cb * in_w;
    float4 r;
    if (linear) {
        const float2 wy = yw[oh], wx = xw[ow];
        const float4 top = wx.x * LOAD(in, in_pitch, sx.x, sy.x)
                         + wx.y * LOAD(in, in_pitch, sx.y, sy.x);
        const float4 bottom = wx.x * LOAD(in, in_pitch, sx.x, sy.y)
                            + wx.y * LOAD(in, in_pitch, sx.y, sy.y);
        r = wy.x * top + wy.y * bottom;
    } else {
        r = LOAD(in, in_pitch, sx.x, sy.x);
    }
    STORE(out, out_pitch, x, y, r);
}
