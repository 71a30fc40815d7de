/* AArch64 NEON GEMM micro-kernel: 8 x 8 tile, 16 q-register accumulators.
 *
 * Per k: the 8 A values are two q registers used lane by lane (FMLA by element), the B
 * row is two q registers. Baseline ARMv8.0 (no dotprod/fp16 needed). Accumulators start
 * from C, the bias or zero and are clamped before the store (mc_tile_ep).
 */
#include "internal.h"

#ifdef MC_ARM64
#include <arm_neon.h>

/* koff == NULL: packed sliver (NR floats per k); else row k is b + koff[k] */
static inline __attribute__((always_inline)) void
ukr_neon(int kc, const float *a, const float *b, const long *koff, float *c, long ldc,
         const mc_tile_ep *ep) {
    float32x4_t c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
#define INIT(r)                                                                           \
    if (ep->load_c) {                                                                     \
        c##r##0 = vld1q_f32(c + (r) * ldc);                                               \
        c##r##1 = vld1q_f32(c + (r) * ldc + 4);                                           \
    } else {                                                                              \
        c##r##0 = c##r##1 = vdupq_n_f32(ep->bias ? ep->bias[r] : 0.0f);                   \
    }
    INIT(0) INIT(1) INIT(2) INIT(3) INIT(4) INIT(5) INIT(6) INIT(7)
#undef INIT
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float *br = koff ? b + koff[k] : b + 8 * k;
        float32x4_t b0 = vld1q_f32(br), b1 = vld1q_f32(br + 4);
#define ROW(r, av, lane)                                                                  \
    c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane);                                     \
    c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane);
        ROW(0, a0, 0) ROW(1, a0, 1) ROW(2, a0, 2) ROW(3, a0, 3)
        ROW(4, a1, 0) ROW(5, a1, 1) ROW(6, a1, 2) ROW(7, a1, 3)
#undef ROW
        a += 8;
    }
    if (ep->clamp) { /* vmaxq / vminq return NaN when an operand is NaN, as numpy does */
        const float32x4_t vlo = vdupq_n_f32(ep->lo), vhi = vdupq_n_f32(ep->hi);
#define CLAMP(r)                                                                          \
    c##r##0 = vminq_f32(vhi, vmaxq_f32(vlo, c##r##0));                                    \
    c##r##1 = vminq_f32(vhi, vmaxq_f32(vlo, c##r##1));
        CLAMP(0) CLAMP(1) CLAMP(2) CLAMP(3) CLAMP(4) CLAMP(5) CLAMP(6) CLAMP(7)
#undef CLAMP
    }
#define STORE(r)                                                                          \
    vst1q_f32(c + (r) * ldc, c##r##0);                                                    \
    vst1q_f32(c + (r) * ldc + 4, c##r##1);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
#undef STORE
}

void mc_ukr_neon(int kc, const float *a, const float *b, float *c, long ldc,
                 const mc_tile_ep *ep) {
    ukr_neon(kc, a, b, NULL, c, ldc, ep);
}

void mc_ukr_rows_neon(int kc, const float *a, const float *b, const long *koff, float *c,
                      long ldc, const mc_tile_ep *ep) {
    ukr_neon(kc, a, b, koff, c, ldc, ep);
}
#endif
