/* Depthwise convolution as flat loops over a plane: any kernel size (up to MC_DW_GRID_TAPS
 * taps) and dilation, so every vector lane is used even for 7x7 or 4x4 planes.
 *
 * flat (stride 1, output as wide as the input, AVX-512 / AVX2): output pixel p = oy * W + ox
 *   reads tap t at x + p + toff[t]; a per-op table holds, per output vector and tap, the
 *   mask of lanes whose tap lies inside the image (the padding reads zeros), so the input
 *   is read in place.
 * grid (stride 1 or 2, any ISA): the plane is first copied with its zero padding into
 *   scratch as rows of G floats, split into four phase planes (even / odd rows x columns)
 *   for stride 2, so every tap again reads a unit-stride run: output (oy, ox) is grid point
 *   q = oy * G + ox and tap t reads scratch[q + toff[t]], with no masks. Grid points with
 *   ox >= OW are computed and dropped (the crop); reads past the scratch land in slack.
 * Both fuse the clamp of ReLU / Clip (lo / hi are +-inf otherwise).
 */
#include <string.h>

#include "internal.h"

#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

void mc_dw_grid_plan(const mc_conv_params *p, mc_dw_grid *g) {
    const int s = p->sh, ph = s == 2 ? 2 : 1;
    int hp = (p->oh - 1) * s + (p->kh - 1) * p->dh + 1;
    int wp = (p->ow - 1) * s + (p->kw - 1) * p->dw + 1;
    hp = MC_ROUND_UP(hp, ph);
    wp = MC_ROUND_UP(wp, ph);
    g->g = wp / ph;
    g->rows = hp / ph;
    g->plane = (long)g->rows * g->g;
    g->nq = (long)p->oh * g->g;
    g->ntaps = p->kh * p->kw;
    long maxoff = 0;
    for (int ky = 0; ky < p->kh; ky++)
        for (int kx = 0; kx < p->kw; kx++) {
            int r = ky * p->dh, c = kx * p->dw;
            long off = (long)((r % ph) * ph + c % ph) * g->plane + (long)(r / ph) * g->g + c / ph;
            g->toff[ky * p->kw + kx] = off;
            maxoff = MC_MAX(maxoff, off);
        }
    g->filled = g->plane * ph * ph;
    g->scratch = MC_ROUND_UP(MC_MAX(g->filled, maxoff + g->nq), 16) + 256;
}

int mc_dw_flat_plan(const mc_conv_params *p, int lanes, long *toff, uint16_t *masks,
                    long max_masks) {
    const long n = (long)p->oh * p->ow;
    const int ntaps = p->kh * p->kw, nvec = (int)MC_CEIL_DIV(n, lanes);
    if (p->sh != 1 || p->sw != 1 || p->ow != p->w || ntaps > MC_DW_GRID_TAPS ||
        (long)nvec * ntaps > max_masks)
        return 0;
    for (int ky = 0; ky < p->kh; ky++)
        for (int kx = 0; kx < p->kw; kx++)
            toff[ky * p->kw + kx] = (long)(ky * p->dh - p->pt) * p->w + kx * p->dw - p->pl;
    for (int v = 0; masks && v < nvec; v++)
        for (int t = 0; t < ntaps; t++) {
            const int dy = (t / p->kw) * p->dh - p->pt, dx = (t % p->kw) * p->dw - p->pl;
            unsigned bits = 0;
            for (int l = 0; l < lanes; l++) {
                long q = (long)v * lanes + l;
                int oy = (int)(q / p->ow), ox = (int)(q % p->ow);
                int iy = oy + dy, ix = ox + dx;
                if (q < n && iy >= 0 && iy < p->h && ix >= 0 && ix < p->w) bits |= 1u << l;
            }
            masks[(long)v * ntaps + t] = (uint16_t)bits;
        }
    return nvec;
}

/* -- grid: padded (phase-split) copy of a plane, crop of the grid into the output -------- */
NO_LIBCALLS static void fill_scalar(const mc_conv_params *p, const mc_dw_grid *g,
                                    const float *x, float *buf) {
    const int ph = p->sh == 2 ? 2 : 1, G = g->g;
    for (int a = 0; a < ph; a++)
        for (int b = 0; b < ph; b++) {
            float *plane = buf + (long)(a * ph + b) * g->plane;
            /* phase column j is input column ix = j * ph + b - pl */
            for (int i = 0; i < g->rows; i++) {
                float *d = plane + (long)i * G;
                int iy = i * ph + a - p->pt;
                const float *row = x + (long)iy * p->w;
                for (int j = 0; j < G; j++) {
                    int ix = j * ph + b - p->pl;
                    d[j] = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w ? row[ix] : 0.0f;
                }
            }
        }
}

NO_LIBCALLS static void crop_scalar(const mc_conv_params *p, const mc_dw_grid *g,
                                    const float *grid, float *y) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) y[(long)oy * p->ow + ox] = grid[(long)oy * g->g + ox];
}

/* -- grid kernels: dst[q] = clamp(bias + sum_t k[t] * src[q + toff[t]]) for q < nq ------- */
static void grid_scalar(const float *src, const long *toff, const uint16_t *masks,
                        const float *k, int ntaps, float bias, float lo, float hi, float *dst,
                        long nq) {
    (void)masks;
    for (long q0 = 0; q0 < nq; q0 += 64) {
        const int n = (int)MC_MIN(64, nq - q0);
        float acc[64];
        for (int i = 0; i < 64; i++) acc[i] = bias;
        for (int t = 0; t < ntaps; t++) {
            const float w = k[t], *s = src + q0 + toff[t];
            for (int i = 0; i < 64; i++) acc[i] += w * s[i];
        }
        for (int i = 0; i < n; i++) {
            float v = acc[i] < lo ? lo : acc[i];
            dst[q0 + i] = v > hi ? hi : v;
        }
    }
}

#ifdef MC_X86
#include "depthwise_grid_x86.h"
#endif

void mc_dw_grid_ops(int isa, mc_dw_grid_ops_t *ops) {
    ops->fill = fill_scalar;
    ops->crop = crop_scalar;
    ops->grid = grid_scalar;
    ops->flat = NULL;
    ops->flat2 = NULL;
#ifdef MC_X86
    if (isa == MC_ISA_AVX512) {
        ops->flat2 = flat2_avx512;
        ops->fill = fill_avx512;
        ops->crop = crop_avx512;
        ops->grid = grid_avx512;
        ops->flat = flat_avx512;
    } else if (isa == MC_ISA_AVX2) {
        ops->grid = grid_avx2;
        ops->flat = flat_avx2;
    }
#else
    (void)isa;
#endif
}
