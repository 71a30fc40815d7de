/* GEMM in fp16 arithmetic (cpu_precision="float16"): AArch64 CPUs with FEAT_FP16
 * (HWCAP_ASIMDHP: FMLA on 8 halves per q register, twice the lanes of fp32).
 *
 * Used by the GEMM convolutions (1x1, shifted, im2col) and by Gemm / MatMul with a constant
 * B, when their plan holds the packed weights as fp16 (mc_*_create_f16) and the plan's ISA
 * is neon on such a CPU (mc_f16_arith_supported); elsewhere those plans run mc_gemm_job.
 *
 * Layouts are the neon ones of the fp32 driver (gemm.c): A in 8-row panels, B in 8-column
 * slivers, K in blocks of k_block(). A prepacked fp16 operand is read in place; anything
 * else is rounded to fp16 (nearest even, vcvt_f16_f32) per block into per-thread scratch:
 * the activations (Gemm's A: dense; conv's B: image rows read through koff, or im2col
 * rows built per block). The micro-kernel computes an 8 x 16 tile of C from one A panel
 * and two neighbouring B slivers (8 x 8 on an odd last sliver): 16 fp16 accumulators,
 * FMLA by element (vfmaq_laneq_f16).
 *
 * Accumulation: products are summed in fp16 over at most MC_F16_CHUNK steps of K, then the
 * partial sums are widened and added into the fp32 tile in C (which starts from the bias),
 * so rounding in fp16 grows with the chunk (64 terms), not with K; overflow of fp16
 * (|x| > 65504 in the activations or a partial sum) gives Inf, as in any fp16 engine.
 * The epilogue (bias, clamp in the kernel; alpha, other biases and activations on the
 * finished tile) is the fp32 driver's. The micro-kernel alone carries
 * target("arch=armv8.2-a+fp16"), so the library still runs on ARMv8.0 cores.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(MC_ARM64) && defined(__linux__)
#include <arm_neon.h>
#include <sys/auxv.h>
#define MC_F16_ARITH 1
#endif

#define MC_F16_CHUNK 64 /* K steps summed in fp16 before the fp32 add */

int mc_f16_arith_supported(int isa) {
#ifdef MC_F16_ARITH
    static int known; /* 0: not checked, 1: no, 2: yes */
    if (isa != MC_ISA_NEON || !mc_isa_supported(isa)) return 0;
    if (!known) {
        unsigned long hw = getauxval(AT_HWCAP);
        known = ((hw >> 9) & 1) && ((hw >> 10) & 1) ? 2 : 1; /* HWCAP_FPHP, HWCAP_ASIMDHP */
    }
    return known == 2;
#else
    (void)isa;
    return 0;
#endif
}

#ifndef MC_F16_ARITH
int mc_gemm_f16_job(mc_threads *t, const mc_isa_info *isa, int m, int n, int k, int nsub,
                    const mc_gemm_sub *subs, const mc_epilogue *ep) {
    (void)t, (void)isa, (void)m, (void)n, (void)k, (void)nsub, (void)subs, (void)ep;
    return MC_ERR_ISA;
}
#else
enum { MR = 8, NR = 8, TW = 16 }; /* panel height, sliver width, tile width */

/* -- micro-kernel ---------------------------------------------------------------------- */
#define F16_TARGET __attribute__((target("arch=armv8.2-a+fp16")))
#define LD16(p) vreinterpretq_f16_u16(vld1q_u16(p))

/* C[8 x 8*(1+wide)] (row stride ldc) = start + A (kc x 8 halves) * [b0 | b1] (kc x 8 halves
 * each), see mc_tile_ep; fp16 sums per chunk of MC_F16_CHUNK, fp32 in C between chunks. */
static inline __attribute__((always_inline)) F16_TARGET void
ukr_f16(int kc, const uint16_t *a, const uint16_t *b0, const uint16_t *b1, float *c, long ldc,
        const mc_tile_ep *ep, const int wide) {
    for (int k0 = 0; k0 < kc; k0 += MC_F16_CHUNK) {
        const int k1 = MC_MIN(kc, k0 + MC_F16_CHUNK);
        float16x8_t z = vreinterpretq_f16_u16(vdupq_n_u16(0));
        float16x8_t l0 = z, l1 = z, l2 = z, l3 = z, l4 = z, l5 = z, l6 = z, l7 = z;
        float16x8_t h0 = z, h1 = z, h2 = z, h3 = z, h4 = z, h5 = z, h6 = z, h7 = z;
#pragma GCC unroll 2
        for (int k = k0; k < k1; k++) {
            const float16x8_t av = LD16(a + MR * k), bl = LD16(b0 + NR * k);
            l0 = vfmaq_laneq_f16(l0, bl, av, 0);
            l1 = vfmaq_laneq_f16(l1, bl, av, 1);
            l2 = vfmaq_laneq_f16(l2, bl, av, 2);
            l3 = vfmaq_laneq_f16(l3, bl, av, 3);
            l4 = vfmaq_laneq_f16(l4, bl, av, 4);
            l5 = vfmaq_laneq_f16(l5, bl, av, 5);
            l6 = vfmaq_laneq_f16(l6, bl, av, 6);
            l7 = vfmaq_laneq_f16(l7, bl, av, 7);
            if (wide) {
                const float16x8_t bh = LD16(b1 + NR * k);
                h0 = vfmaq_laneq_f16(h0, bh, av, 0);
                h1 = vfmaq_laneq_f16(h1, bh, av, 1);
                h2 = vfmaq_laneq_f16(h2, bh, av, 2);
                h3 = vfmaq_laneq_f16(h3, bh, av, 3);
                h4 = vfmaq_laneq_f16(h4, bh, av, 4);
                h5 = vfmaq_laneq_f16(h5, bh, av, 5);
                h6 = vfmaq_laneq_f16(h6, bh, av, 6);
                h7 = vfmaq_laneq_f16(h7, bh, av, 7);
            }
        }
        const int from_c = k0 > 0 || ep->load_c, clamp = k1 == kc && ep->clamp;
        const float32x4_t lo = vdupq_n_f32(ep->lo), hi = vdupq_n_f32(ep->hi);
        /* the fp32 tile: start (C or bias) + widened partial sums, clamped after the last */
#define FLUSH4(r, v, off)                                                                 \
    {                                                                                     \
        float32x4_t s = from_c ? vld1q_f32(c + (r) * ldc + (off))                         \
                               : vdupq_n_f32(ep->bias ? ep->bias[r] : 0.0f);              \
        s = vaddq_f32(s, v);                                                              \
        if (clamp) s = vminq_f32(hi, vmaxq_f32(lo, s));                                   \
        vst1q_f32(c + (r) * ldc + (off), s);                                              \
    }
#define FLUSH(r)                                                                          \
    FLUSH4(r, vcvt_f32_f16(vget_low_f16(l##r)), 0)                                        \
    FLUSH4(r, vcvt_high_f32_f16(l##r), 4)                                                 \
    if (wide) {                                                                           \
        FLUSH4(r, vcvt_f32_f16(vget_low_f16(h##r)), 8)                                    \
        FLUSH4(r, vcvt_high_f32_f16(h##r), 12)                                            \
    }
        FLUSH(0) FLUSH(1) FLUSH(2) FLUSH(3) FLUSH(4) FLUSH(5) FLUSH(6) FLUSH(7)
#undef FLUSH
#undef FLUSH4
    }
}

static F16_TARGET void ukr_f16_8x16(int kc, const uint16_t *a, const uint16_t *b0,
                                    const uint16_t *b1, float *c, long ldc,
                                    const mc_tile_ep *ep) {
    ukr_f16(kc, a, b0, b1, c, ldc, ep, 1);
}

static F16_TARGET void ukr_f16_8x8(int kc, const uint16_t *a, const uint16_t *b0, float *c,
                                   long ldc, const mc_tile_ep *ep) {
    ukr_f16(kc, a, b0, NULL, c, ldc, ep, 0);
}

/* -- rounding to fp16 ---------------------------------------------------------------------- */
/* dst[0..8) = fp16(src[0..cols)), zeros after (cols <= 8; src read only below cols). */
static inline void half8(const float *src, int cols, uint16_t *dst) {
    float tmp[8];
    if (cols < 8) {
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, src, sizeof(float) * (size_t)MC_MAX(cols, 0));
        src = tmp;
    }
    float16x8_t h = vcombine_f16(vcvt_f16_f32(vld1q_f32(src)), vcvt_f16_f32(vld1q_f32(src + 4)));
    vst1q_u16(dst, vreinterpretq_u16_f16(h));
}

/* B block [k0, k0+kc) x [n0, n0+nc) as fp16 slivers (dst[(s*kc + kk)*8 + j]); row kk of the
 * source starts at rows[kk] (column n0), or at fbuf + kk*ld when rows is NULL. */
static void pack_b_rows(const float *base, const long *koff, const float *fbuf, long ld,
                        int kc, int nc, uint16_t *dst) {
    for (int s = 0; s * NR < nc; s++) {
        const int cols = MC_MIN(NR, nc - s * NR);
        uint16_t *d = dst + (size_t)s * kc * NR;
        for (int kk = 0; kk < kc; kk++) {
            const float *row = koff ? base + koff[kk] : fbuf + kk * ld;
            half8(row + s * NR, cols, d + kk * NR);
        }
    }
}

/* A rows [m0, m0+mc) (element (i, k) = p[i*rs + k*cs]) over [k0, k0+kc) as fp16 panels. */
static void pack_a_dense(const mc_src *src, int m, int m0, int mc, int k0, int kc,
                         uint16_t *dst) {
    for (int p = 0; p < mc; p += MR) {
        const int rows = MC_MIN(MR, m - (m0 + p));
        uint16_t *d = dst + (size_t)(p / MR) * kc * MR;
        for (int kk = 0; kk < kc; kk++) {
            float col[MR];
            const float *s = src->p + (long)(m0 + p) * src->rs + (long)(k0 + kk) * src->cs;
            for (int r = 0; r < rows; r++) col[r] = s[(long)r * src->rs];
            half8(col, rows, d + kk * MR);
        }
    }
}

/* -- the job ----------------------------------------------------------------------------- */
typedef struct {
    int m, n, k, kb;
    const mc_gemm_sub *subs;
    const mc_epilogue *ep;
    const mc_isa_info *isa;
    int mcs, ncs, m_chunks, n_chunks;
    mc_threads *t;
    int failed;
} job;

static void fail(job *j, int code) { __atomic_store_n(&j->failed, code, __ATOMIC_RELAXED); }

static void f16_task(void *raw, long task, int tid) {
    job *j = raw;
    const mc_epilogue *ep = j->ep;
    long per_sub = (long)j->m_chunks * j->n_chunks;
    const mc_gemm_sub *s = &j->subs[task / per_sub];
    int mi = (int)((task % per_sub) / j->n_chunks), ni = (int)(task % j->n_chunks);
    int m0 = mi * j->mcs, m1 = MC_MIN(j->m, m0 + j->mcs);
    int n0 = ni * j->ncs, n1 = MC_MIN(j->n, n0 + j->ncs);
    int mcb = MC_MIN(j->isa->mc, j->mcs);
    const long ldb = MC_ROUND_UP(j->ncs, TW);
    const int built = s->b.kind == MC_SRC_BUILT;
    uint16_t *bbuf = (uint16_t *)mc_ws_get(j->t, tid, MC_WS_B,
                                           sizeof(uint16_t) * (size_t)j->kb * ldb);
    uint16_t *abuf = (uint16_t *)mc_ws_get(j->t, tid, MC_WS_A, sizeof(uint16_t) *
                                           (size_t)j->kb * MC_ROUND_UP(mcb, MR));
    float *tmp = mc_ws_get(j->t, tid, MC_WS_TMP,
                           sizeof(float) * (MR * TW + (built ? (size_t)j->kb * ldb : 0)));
    if (!bbuf || !abuf || !tmp) {
        fail(j, MC_ERR_NOMEM);
        return;
    }
    float *fbuf = tmp + MR * TW; /* BUILT: the fp32 rows of a block */
    /* what the micro-kernel fuses, as in gemm.c */
    const mc_ep_split split = mc_split_epilogue(ep);
    const int in_kernel = split.in_kernel, clamp = split.clamp, post = split.post;
    mc_tile_ep tep = split.tep;
    for (int k0 = 0; k0 < j->k; k0 += j->kb) {
        const int kc = MC_MIN(j->kb, j->k - k0), last = k0 + kc == j->k;
        tep.load_c = k0 > 0;
        tep.clamp = last && clamp;
        const uint16_t *bp = bbuf; /* slivers of [n0, n1) in this K block */
        if (s->b.kind == MC_SRC_PACKED_F16) {
            bp = s->b.h + (size_t)k0 * MC_ROUND_UP(j->n, NR) + (size_t)n0 * kc;
        } else if (s->b.kind == MC_SRC_ROWS) {
            pack_b_rows(s->b.p + n0, s->b.koff + k0, NULL, 0, kc, n1 - n0, bbuf);
        } else if (built) {
            s->b.build(j->isa, s->b.ctx, k0, kc, n0, n1 - n0, fbuf, ldb);
            pack_b_rows(NULL, NULL, fbuf, ldb, kc, n1 - n0, bbuf);
        } else {
            fail(j, MC_ERR_ARG);
            return;
        }
        for (int mb = m0; mb < m1; mb += mcb) {
            const int mbl = MC_MIN(mcb, m1 - mb);
            const uint16_t *ap = abuf;
            if (s->a.kind == MC_SRC_PACKED_F16) {
                ap = s->a.h + (size_t)k0 * MC_ROUND_UP(j->m, MR) + (size_t)mb * kc;
            } else if (s->a.kind == MC_SRC_DENSE) {
                pack_a_dense(&s->a, j->m, mb, mbl, k0, kc, abuf);
            } else {
                fail(j, MC_ERR_ARG);
                return;
            }
            for (int jj = n0; jj < n1; jj += TW) {
                const int nr = MC_MIN(TW, n1 - jj), wide = nr > NR;
                const uint16_t *b0 = bp + (size_t)(jj - n0) * kc, *b1 = b0 + (size_t)NR * kc;
                for (int i = mb; i < mb + mbl; i += MR) {
                    const int mr = MC_MIN(MR, mb + mbl - i);
                    const uint16_t *as = ap + (size_t)(i - mb) * kc;
                    float *cp = s->c + (long)i * s->ldc + jj;
                    tep.bias = in_kernel && ep->bias_kind == MC_BIAS_ROW ? s->bias + i : NULL;
                    if (mr == MR && (nr == TW || nr == NR)) {
                        if (wide)
                            ukr_f16_8x16(kc, as, b0, b1, cp, s->ldc, &tep);
                        else
                            ukr_f16_8x8(kc, as, b0, cp, s->ldc, &tep);
                    } else { /* edge: through an 8 x 16 scratch tile */
                        float bias[MR] = {0};
                        mc_tile_ep e = tep;
                        if (e.bias) {
                            for (int r = 0; r < mr; r++) bias[r] = e.bias[r];
                            e.bias = bias;
                        }
                        if (e.load_c)
                            for (int r = 0; r < mr; r++)
                                memcpy(tmp + r * TW, cp + r * s->ldc, sizeof(float) * nr);
                        if (wide)
                            ukr_f16_8x16(kc, as, b0, b1, tmp, TW, &e);
                        else
                            ukr_f16_8x8(kc, as, b0, tmp, TW, &e);
                        for (int r = 0; r < mr; r++)
                            memcpy(cp + r * s->ldc, tmp + r * TW, sizeof(float) * nr);
                    }
                    if (last && post && !in_kernel)
                        mc_gemm_epilogue_tile(ep, j->isa->id, s, cp, s->ldc, i, jj, mr, nr);
                }
            }
            if (last && post && in_kernel)
                mc_gemm_act_rows(ep, j->isa->id, s, mb, mb + mbl, n0, n1);
        }
    }
}

int mc_gemm_f16_job(mc_threads *t, const mc_isa_info *isa, int m, int n, int k, int nsub,
                    const mc_gemm_sub *subs, const mc_epilogue *ep) {
    if (m <= 0 || n <= 0 || nsub <= 0) return MC_OK;
    if (k <= 0 || isa->mr != MR || isa->nr != NR || !mc_f16_arith_supported(isa->id))
        return k <= 0 ? MC_ERR_ARG : MC_ERR_ISA;
    /* fp16 FMLA does twice the flops of fp32 per instruction */
    int threads = mc_threads_for(t, 1.0 * m * (double)n * k * nsub * MC_NS_PER_GEMM_FLOP);
    long want = threads > 1 ? 3L * threads : 1;
    int n_chunks = MC_CEIL_DIV(n, isa->nc), m_chunks = 1;
    int max_n_chunks = MC_CEIL_DIV(n, TW), max_m_chunks = MC_CEIL_DIV(m, MR);
    while ((long)nsub * n_chunks * m_chunks < want) { /* as mc_gemm_job: N first */
        if (n_chunks < max_n_chunks && MC_CEIL_DIV(n, n_chunks + 1) >= 4 * TW) n_chunks++;
        else if (m_chunks < max_m_chunks) m_chunks++;
        else if (n_chunks < max_n_chunks) n_chunks++;
        else break;
    }
    job j = {m, n, k, MC_CEIL_DIV(k, MC_CEIL_DIV(k, isa->kc)), subs, ep, isa, 0, 0, 0, 0, t, 0};
    j.ncs = MC_ROUND_UP(MC_CEIL_DIV(n, n_chunks), TW);
    j.mcs = MC_ROUND_UP(MC_CEIL_DIV(m, m_chunks), MR);
    j.n_chunks = MC_CEIL_DIV(n, j.ncs);
    j.m_chunks = MC_CEIL_DIV(m, j.mcs);
    mc_parallel(t, threads, (long)nsub * j.m_chunks * j.n_chunks, f16_task, &j);
    return j.failed;
}
#endif
