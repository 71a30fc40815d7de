/* Direct 3x3 stride-2 convolution of few input channels (AVX-512): a network's first layer,
 * RGB in (MobileNets: 3 x 224 x 224 -> 32 x 112 x 112, bias and ReLU6).
 *
 * im2col + GEMM spends most of its time on the column matrix there (27 rows of 12544
 * gathered pixels, built and read back for a GEMM of K = 27). Here nothing is built: for
 * an output row and 16 output pixels, each input row the 3x3 window touches (C x 3 of
 * them) is loaded once as 33 floats (two masked vectors and one scalar; the masks zero the
 * padding) and split into the three stride-2 vectors of its taps kx = 0, 1, 2 by
 * permutes; 16 output channels accumulate in 16 registers (16 outputs x 16 pixels), each
 * tap an FMA with one weight broadcast from the packed filters [M/16][C][3][3][16]. The
 * accumulators go straight to the NCHW output rows (16 contiguous pixels per channel).
 * Bias and ReLU / Clip are fused; other activations run on each finished output row.
 * Threads take ranges of output rows. Sums run over (c, ky, kx) in order, one FMA each.
 */
#include <math.h>

#include "internal.h"

#define DS_OC 16 /* output channels per block */

int mc_direct_s2_applies(const mc_conv_params *p, int isa) {
    return isa == MC_ISA_AVX512 && p->group == 1 && p->kh == 3 && p->kw == 3 && p->sh == 2 &&
           p->sw == 2 && p->dh == 1 && p->dw == 1 && p->c <= MC_DIRECT_S2_MAX_C &&
           p->ow >= 16;
}

size_t mc_direct_s2_packed_size(const mc_conv_params *p) {
    return (size_t)MC_ROUND_UP(p->m, DS_OC) * p->c * 9;
}

/* M x C x 3 x 3 -> [M/16][C][3][3][16], zero padded to whole blocks of 16 channels. */
float *mc_direct_s2_pack(const mc_conv_params *p, const float *w) {
    float *dst = mc_aligned_alloc(sizeof(float) * mc_direct_s2_packed_size(p));
    if (!dst) return NULL;
    const int blocks = MC_CEIL_DIV(p->m, DS_OC);
    for (int b = 0; b < blocks; b++)
        for (int tap = 0; tap < p->c * 9; tap++)
            for (int o = 0; o < DS_OC; o++) {
                const int m = b * DS_OC + o;
                dst[((size_t)b * p->c * 9 + tap) * DS_OC + o] = m < p->m ? w[(size_t)m * p->c * 9 + tap]
                                                                         : 0.0f;
            }
    return dst;
}

typedef struct {
    const mc_conv_params *p;
    const float *w, *bias, *x;
    float *y;
    long rows, per_task; /* output rows of all images, and per task */
} ds_job;

#ifdef MC_X86
#include <immintrin.h>

/* Lanes l of 16 with 0 <= start + l < w. */
static inline unsigned lanes_inside(int start, int w) {
    const int lo = MC_MAX(0, -start), hi = MC_MIN(16, w - start);
    return hi <= lo ? 0u : ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

MC_TARGET_AVX512 static void output_row(const ds_job *j, int b, int oy) {
    const mc_conv_params *p = j->p;
    const float *rows[MC_DIRECT_S2_MAX_C * 3];
    int taps[MC_DIRECT_S2_MAX_C * 3], nrows = 0;
    for (int c = 0; c < p->c; c++)
        for (int ky = 0; ky < 3; ky++) {
            const int iy = oy * 2 - p->pt + ky;
            if (iy < 0 || iy >= p->h) continue; /* padding rows add nothing */
            rows[nrows] = j->x + (((long)b * p->c + c) * p->h + iy) * p->w;
            taps[nrows++] = c * 3 + ky;
        }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i next = _mm512_add_epi32(even, _mm512_set1_epi32(2)); /* lane 15: 32, below */
    const int clamp = p->act == MC_ACT_RELU || p->act == MC_ACT_CLIP;
    const __m512 lo = _mm512_set1_ps(p->act == MC_ACT_CLIP ? p->act_a : 0.0f);
    const __m512 hi = _mm512_set1_ps(p->act == MC_ACT_CLIP ? p->act_b : INFINITY);
    const int blocks = MC_CEIL_DIV(p->m, DS_OC);
    for (int x0 = 0; x0 < p->ow; x0 += 16) {
        const int start = 2 * x0 - p->pl; /* input column of tap kx = 0 at pixel x0 */
        const __mmask16 m0 = (__mmask16)lanes_inside(start, p->w);
        const __mmask16 m1 = (__mmask16)lanes_inside(start + 16, p->w);
        const int last_in = start + 32 >= 0 && start + 32 < p->w;
        const __mmask16 keep = (__mmask16)(p->ow - x0 >= 16 ? 0xffffu
                                                            : (1u << (p->ow - x0)) - 1u);
        for (int ob = 0; ob < blocks; ob++) {
            __m512 acc[DS_OC];
#pragma GCC unroll 16
            for (int o = 0; o < DS_OC; o++)
                acc[o] = _mm512_set1_ps(ob * DS_OC + o < p->m ? j->bias[ob * DS_OC + o] : 0.0f);
            for (int r = 0; r < nrows; r++) {
                const float *in = rows[r] + start;
                const __m512 l0 = _mm512_maskz_loadu_ps(m0, in);
                const __m512 l1 = _mm512_maskz_loadu_ps(m1, in + 16);
                const __m512 v0 = _mm512_permutex2var_ps(l0, even, l1);
                const __m512 v1 = _mm512_permutex2var_ps(l0, odd, l1);
                __m512 v2 = _mm512_permutex2var_ps(l0, next, l1);
                v2 = _mm512_mask_mov_ps(v2, (__mmask16)0x8000,
                                        _mm512_set1_ps(last_in ? in[32] : 0.0f));
                const float *wk = j->w + ((size_t)ob * p->c * 9 + taps[r] * 3) * DS_OC;
#pragma GCC unroll 16
                for (int o = 0; o < DS_OC; o++) {
                    acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o]), v0, acc[o]);
                    acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[DS_OC + o]), v1, acc[o]);
                    acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[2 * DS_OC + o]), v2, acc[o]);
                }
            }
            const int outs = MC_MIN(DS_OC, p->m - ob * DS_OC);
            float *dst = j->y + (((long)b * p->m + ob * DS_OC) * p->oh + oy) * p->ow + x0;
            const long plane = (long)p->oh * p->ow;
#pragma GCC unroll 16
            for (int o = 0; o < DS_OC; o++) {
                const __m512 v = clamp ? _mm512_min_ps(hi, _mm512_max_ps(lo, acc[o])) : acc[o];
                if (o < outs) _mm512_mask_storeu_ps(dst + o * plane, keep, v);
            }
        }
    }
    if (!clamp && p->act != MC_ACT_NONE) {
        const mc_act act = {p->act, p->act_a, p->act_b};
        for (int m = 0; m < p->m; m++) {
            float *row = j->y + (((long)b * p->m + m) * p->oh + oy) * p->ow;
            mc_act_apply(&act, MC_ISA_AVX512, row, row, p->ow);
        }
    }
}
#endif

static void ds_task(void *raw, long task, int tid) {
    (void)tid;
    const ds_job *j = raw;
    const long first = task * j->per_task, last = MC_MIN(j->rows, first + j->per_task);
#ifdef MC_X86
    for (long r = first; r < last; r++) output_row(j, (int)(r / j->p->oh), (int)(r % j->p->oh));
#else
    (void)first;
    (void)last;
#endif
}

int mc_direct_s2_run(const mc_conv_params *p, const float *wpack, const float *bias,
                     mc_threads *t, int isa, const float *x, float *y) {
    if (!mc_direct_s2_applies(p, isa)) return MC_ERR_ISA;
    ds_job j = {p, wpack, bias, x, y, (long)p->n * p->oh, 1};
    const double flops = 2.0 * j.rows * p->ow * MC_ROUND_UP(p->m, DS_OC) * p->c * 9;
    const int threads = mc_threads_for(t, flops * MC_NS_PER_GEMM_FLOP);
    j.per_task = MC_MAX(1, j.rows / (4L * threads)); /* about 4 tasks a thread */
    mc_parallel(t, threads, MC_CEIL_DIV(j.rows, j.per_task), ds_task, &j);
    return MC_OK;
}
