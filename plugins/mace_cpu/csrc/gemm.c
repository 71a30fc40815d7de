/* GEMM driver: cache blocking, operand packing, threading, the fused epilogue, and the
 * portable micro-kernel. The ISA micro-kernels live in gemm_x86.c and gemm_neon.c.
 *
 * C (M x N) = A (M x K) * B (K x N), blocked BLIS-style:
 *   K in blocks of isa->kc (split evenly); A is read in MR-tall panels (kc x MR) and B in
 *   NR-wide slivers (kc x NR, a sliver stays in L1); the micro-kernel computes one
 *   MR x NR tile of C in registers, starting from the bias and clamping at the end.
 * Packed layouts (both operands, "tile" = MR for A, NR for B, X = M or N):
 *   for each K block [k0, k0+kc): for each panel p: kc x tile floats, at offset
 *   k0 * round_up(X, tile) + p * tile * kc. A weight packed once (mc_pack_*_full) is read
 *   in place; a DENSE operand is packed per block into per-thread scratch.
 * Weights kept as fp16 (MC_SRC_PACKED_F16) are widened into that scratch: A per block (it
 * serves every sliver of B), B per sliver just before use (kc x NR floats, still in L1 when
 * the micro-kernels read it; a whole block would go through L2 when M is small).
 * Convolutions skip B packing (mc_src kinds ROWS and BUILT): the rows micro-kernel loads
 * row k of a sliver from b + koff[k], i.e. straight from the (padded) image or from
 * column-matrix rows built per block; only a narrow last sliver is copied.
 * Threads split the job into (sub-problem, M chunk, N chunk) tasks.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* -- K blocking (a function of K only, so prepacked operands match the driver) ---------- */
static int k_block(const mc_isa_info *isa, int k) {
    int nblocks = MC_CEIL_DIV(k, isa->kc);
    return MC_CEIL_DIV(k, nblocks);
}

size_t mc_packed_size(const mc_isa_info *isa, int x, int k, int tile) {
    (void)isa;
    return (size_t)MC_ROUND_UP(x, tile) * (size_t)k;
}

/* -- packing -------------------------------------------------------------------------- */
/* Panels of `tile` rows of X (rows [x0, x0+xc), clipped at x_total) over k in [k0, k0+kc):
 * dst[(p * kc + kk) * tile + r] = src[(x0 + p*tile + r) * xs + (k0 + kk) * ks]. */
static void pack_panels(const mc_isa_info *isa, const float *src, long xs, long ks, int x0,
                        int xc, int x_total, int k0, int kc, int tile, float *dst) {
    for (int p = 0; p < xc; p += tile) {
        int rows = MC_MIN(tile, x_total - (x0 + p));
        float *d = dst + (size_t)(p / tile) * kc * tile;
        if (ks == 1 && rows == tile) {
            /* rows contiguous in k: read each row once, write strided */
            for (int r = 0; r < tile; r++) {
                const float *s = src + (long)(x0 + p + r) * xs + k0;
                for (int kk = 0; kk < kc; kk++) d[kk * tile + r] = s[kk];
            }
            continue;
        }
        for (int kk = 0; kk < kc; kk++) {
            const float *s = src + (long)(k0 + kk) * ks + (long)(x0 + p) * xs;
            float *dk = d + kk * tile;
            if (xs == 1) {
                isa->copy(dk, s, 0, rows, tile);
                continue;
            }
            int r = 0;
            for (; r < rows; r++) dk[r] = s[(long)r * xs];
            for (; r < tile; r++) dk[r] = 0.0f;
        }
    }
}

static void pack_full(const mc_isa_info *isa, const float *src, long xs, long ks, int x, int k,
                      int tile, float *dst) {
    int kb = k_block(isa, k);
    long xpad = MC_ROUND_UP(x, tile);
    for (int k0 = 0; k0 < k; k0 += kb) {
        int kc = MC_MIN(kb, k - k0);
        pack_panels(isa, src, xs, ks, 0, (int)xpad, x, k0, kc, tile, dst + (size_t)k0 * xpad);
    }
}

void mc_pack_a_full(const mc_isa_info *isa, const float *src, long rs, long cs, int m, int k,
                    float *dst) {
    pack_full(isa, src, rs, cs, m, k, isa->mr, dst);
}

void mc_pack_b_full(const mc_isa_info *isa, const float *src, long rs, long cs, int k, int n,
                    float *dst) {
    pack_full(isa, src, cs, rs, n, k, isa->nr, dst);
}

/* -- portable micro-kernel (4 x 8; gcc vectorises the inner loops) -------------------- */
static inline __attribute__((always_inline)) void
ukr_scalar(int kc, const float *a, const float *b, const long *koff, float *c, long ldc,
           const mc_tile_ep *ep) {
    float t[4][8];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 8; j++)
            t[r][j] = ep->load_c ? c[r * ldc + j] : (ep->bias ? ep->bias[r] : 0.0f);
    for (int k = 0; k < kc; k++, a += 4) {
        const float *br = koff ? b + koff[k] : b + 8 * k;
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < 8; j++) t[r][j] += a[r] * br[j];
    }
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 8; j++) {
            float v = t[r][j];
            if (ep->clamp) {
                v = v < ep->lo ? ep->lo : v;
                v = v > ep->hi ? ep->hi : v;
            }
            c[r * ldc + j] = v;
        }
}

void mc_ukr_scalar(int kc, const float *a, const float *b, float *c, long ldc,
                   const mc_tile_ep *ep) {
    ukr_scalar(kc, a, b, NULL, c, ldc, ep);
}

void mc_ukr_rows_scalar(int kc, const float *a, const float *b, const long *koff, float *c,
                        long ldc, const mc_tile_ep *ep) {
    ukr_scalar(kc, a, b, koff, c, ldc, ep);
}

void mc_copy_scalar(float *dst, const float *src, int lo, int hi, int count) {
    lo = MC_MAX(0, MC_MIN(lo, count));
    hi = MC_MAX(lo, MC_MIN(hi, count));
    int t = 0;
    for (; t < lo; t++) dst[t] = 0.0f;
    for (; t < hi; t++) dst[t] = src[t];
    for (; t < count; t++) dst[t] = 0.0f;
}

void mc_copy2_scalar(float *dst, const float *src, int lo, int hi, int count) {
    lo = MC_MAX(0, MC_MIN(lo, count));
    hi = MC_MAX(lo, MC_MIN(hi, count));
    int t = 0;
    for (; t < lo; t++) dst[t] = 0.0f;
    for (; t < hi; t++) dst[t] = src[2 * t];
    for (; t < count; t++) dst[t] = 0.0f;
}

/* -- epilogue --------------------------------------------------------------------------
 * Conv's epilogue (row bias, then none / ReLU / Clip) runs inside the micro-kernel, another
 * activation after it on whole finished blocks (mc_gemm_act_rows). An epilogue the kernel
 * cannot take (alpha, column or full bias) runs here whole on the finished tile, while it
 * is in L1: alpha, bias, then the activation. */
static void epilogue(const mc_epilogue *ep, int isa, const mc_gemm_sub *s, float *c,
                     long ldc, int i0, int j0, int mr, int nr) {
    const float beta = ep->beta;
    for (int r = 0; r < mr; r++) {
        float *row = c + (long)r * ldc;
        if (ep->alpha != 1.0f)
            for (int j = 0; j < nr; j++) row[j] *= ep->alpha;
        if (ep->bias_kind == MC_BIAS_ROW) {
            float v = beta * s->bias[i0 + r];
            for (int j = 0; j < nr; j++) row[j] += v;
        } else if (ep->bias_kind == MC_BIAS_COL) {
            const float *bv = s->bias + j0;
            for (int j = 0; j < nr; j++) row[j] += beta * bv[j];
        } else if (ep->bias_kind == MC_BIAS_FULL) {
            const float *bv = s->bias + (long)(i0 + r) * s->ld_bias + j0;
            for (int j = 0; j < nr; j++) row[j] += beta * bv[j];
        }
        if (ep->act.kind != MC_ACT_NONE) mc_act_apply(&ep->act, isa, row, row, nr);
    }
}

/* -- the job -------------------------------------------------------------------------- */
typedef struct {
    const mc_isa_info *isa;
    int m, n, k, kb;
    const mc_gemm_sub *subs;
    const mc_epilogue *ep;
    int mcs, ncs;           /* rows of the tallest M chunk, columns of the widest N chunk */
    int m_chunks, n_chunks; /* chunk i: panels (slivers) [i * P / chunks, (i+1) * P / chunks) */
    mc_threads *t;
    int failed;
} job;

/* A block of an fp16 packed operand (panels of one K block: contiguous) as fp32 in buf. */
static const float *widen(const job *j, const uint16_t *h, size_t count, float *buf) {
    mc_half_to_float(j->isa->id, h, buf, (long)count);
    return buf;
}

static const float *get_b(const job *j, const mc_src *src, int k0, int kc, int n0, int nc,
                          float *buf) {
    const int nr = j->isa->nr;
    if (src->kind == MC_SRC_PACKED)
        return src->p + (size_t)k0 * MC_ROUND_UP(j->n, nr) + (size_t)n0 * kc;
    pack_panels(j->isa, src->p, src->cs, src->rs, n0, MC_ROUND_UP(nc, nr), j->n, k0, kc, nr,
                buf);
    return buf;
}

static const float *get_a(const job *j, const mc_src *src, int k0, int kc, int m0, int mc,
                          float *buf) {
    const int mr = j->isa->mr;
    if (src->kind == MC_SRC_PACKED)
        return src->p + (size_t)k0 * MC_ROUND_UP(j->m, mr) + (size_t)m0 * kc;
    if (src->kind == MC_SRC_PACKED_F16) /* the block's panels are one run: widen it */
        return widen(j, src->h + (size_t)k0 * MC_ROUND_UP(j->m, mr) + (size_t)m0 * kc,
                     (size_t)kc * MC_ROUND_UP(mc, mr), buf);
    pack_panels(j->isa, src->p, src->rs, src->cs, m0, MC_ROUND_UP(mc, mr), j->m, k0, kc, mr,
                buf);
    return buf;
}

/* An edge tile (mr < MR or nr < NR) goes through a full-size scratch tile. B is a packed
 * sliver, or (koff != NULL) rows read in place. */
static void edge_tile(const mc_isa_info *isa, int kc, const float *as, const float *bs,
                      const long *koff, float *c, long ldc, int mr, int nr,
                      const mc_tile_ep *tep, float *tmp) {
    const int NR = isa->nr;
    float bias[MC_MAX_MR] = {0};
    mc_tile_ep e = *tep;
    if (e.bias) {
        for (int r = 0; r < mr; r++) bias[r] = e.bias[r];
        e.bias = bias;
    }
    if (e.load_c)
        for (int r = 0; r < mr; r++) memcpy(tmp + r * NR, c + r * ldc, sizeof(float) * nr);
    if (koff)
        isa->ukr_rows(kc, as, bs, koff, tmp, NR, &e);
    else if (nr <= isa->nr_narrow)
        isa->ukr_narrow(kc, as, bs, tmp, NR, &e);
    else
        isa->ukr(kc, as, bs, tmp, NR, &e);
    for (int r = 0; r < mr; r++) memcpy(c + r * ldc, tmp + r * NR, sizeof(float) * nr);
}

/* B rows read in place (ROWS) are copied into a packed sliver first when at least
 * ROWS_PACK_MIN_M rows of A read each sliver and either K is at most ROWS_PACK_MAX_K (K
 * streams from far-apart planes cost more than one copy shared by the panels) or rows lie
 * a multiple of 4 KB apart (32x32, 64x64 planes: every row of the sliver maps to the same
 * L1 sets and they evict each other between panels). With few panels, or larger K on
 * planes that do not alias, the copy costs more than it saves (measured, 1x1 convs). */
#define ROWS_PACK_MAX_K 16
#define ROWS_PACK_MIN_M 40

/* Chunk i of `chunks` over x (in units of `tile`: panels or slivers): [*x0, *x1), the
 * units spread evenly (chunks differ by one unit at most). */
static void chunk_range(int x, int tile, int chunks, int i, int *x0, int *x1) {
    const long units = MC_CEIL_DIV(x, tile);
    *x0 = tile * (int)(units * i / chunks);
    *x1 = MC_MIN(x, tile * (int)(units * (i + 1) / chunks));
}

static void gemm_task(void *raw, long task, int tid) {
    job *j = raw;
    const mc_isa_info *isa = j->isa;
    const mc_epilogue *ep = j->ep;
    const int MR = isa->mr, NR = isa->nr;
    long per_sub = (long)j->m_chunks * j->n_chunks;
    const mc_gemm_sub *s = &j->subs[task / per_sub];
    int mi = (int)((task % per_sub) / j->n_chunks), ni = (int)(task % j->n_chunks);
    int m0, m1, n0, n1;
    chunk_range(j->m, MR, j->m_chunks, mi, &m0, &m1);
    chunk_range(j->n, NR, j->n_chunks, ni, &n0, &n1);
    int mcb = MC_MIN(isa->mc, j->mcs);
    float *bbuf = mc_ws_get(j->t, tid, MC_WS_B, sizeof(float) * (size_t)j->kb *
                            MC_ROUND_UP(j->ncs, NR));
    float *abuf = mc_ws_get(j->t, tid, MC_WS_A, sizeof(float) * (size_t)j->kb *
                            MC_ROUND_UP(mcb, MR));
    float *tmp = mc_ws_get(j->t, tid, MC_WS_TMP, sizeof(float) * (size_t)MR * NR);
    if (!bbuf || !abuf || !tmp) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    /* what the micro-kernel fuses (see epilogue()) */
    const mc_ep_split split = mc_split_epilogue(ep);
    const int in_kernel = split.in_kernel, clamp = split.clamp, post = split.post;
    mc_tile_ep tep = split.tep;
    /* B read in place: straight from the source (ROWS) or from rows built per block */
    const int built = s->b.kind == MC_SRC_BUILT, rows_b = built || s->b.kind == MC_SRC_ROWS;
    const int b16 = s->b.kind == MC_SRC_PACKED_F16;
    const long ldb = MC_ROUND_UP(j->ncs, NR);
    long local_koff[MC_MAX_KC];
    for (int kk = 0; built && kk < j->kb; kk++) local_koff[kk] = kk * ldb;
    for (int k0 = 0; k0 < j->k; k0 += j->kb) {
        int kc = MC_MIN(j->kb, j->k - k0);
        int last = k0 + kc == j->k;
        tep.load_c = k0 > 0;
        tep.clamp = last && clamp;
        const float *bp = NULL;
        const long *koff = built ? local_koff : s->b.koff + k0;
        const int aliased = rows_b && !built && kc > 1 && (koff[1] - koff[0]) % 1024 == 0;
        if (built)
            s->b.build(isa, s->b.ctx, k0, kc, n0, n1 - n0, bbuf, ldb);
        else if (!rows_b && !b16)
            bp = get_b(j, &s->b, k0, kc, n0, n1 - n0, bbuf);
        for (int mb = m0; mb < m1; mb += mcb) {
            int mbl = MC_MIN(mcb, m1 - mb);
            const float *ap = get_a(j, &s->a, k0, kc, mb, mbl, abuf);
            for (int jj = n0; jj < n1; jj += NR) {
                int nr = MC_MIN(NR, n1 - jj);
                const float *bs = built    ? bbuf + (jj - n0)
                                  : rows_b ? s->b.p + jj
                                  : b16    ? widen(j, s->b.h + (size_t)k0 * MC_ROUND_UP(j->n, NR) +
                                                          (size_t)jj * kc,
                                               (size_t)kc * NR, bbuf)
                                           : bp + (size_t)(jj - n0) * kc;
                const long *bkoff = rows_b ? koff : NULL;
                /* narrow last sliver: pack, no overreads; small K, many panels: see above */
                if (!built && rows_b &&
                    (nr < NR || ((j->k <= ROWS_PACK_MAX_K || aliased) && mbl >= ROWS_PACK_MIN_M))) {
                    for (int kk = 0; kk < kc; kk++)
                        isa->copy(bbuf + (size_t)kk * NR, bs + koff[kk], 0, nr, NR);
                    bs = bbuf;
                    bkoff = NULL;
                }
                for (int i = mb; i < mb + mbl; i += MR) {
                    int mr = MC_MIN(MR, mb + mbl - i);
                    const float *as = ap + (size_t)(i - mb) * kc;
                    float *cp = s->c + (long)i * s->ldc + jj;
                    tep.bias = in_kernel && ep->bias_kind == MC_BIAS_ROW ? s->bias + i : NULL;
                    if (mr < MR || nr < NR)
                        edge_tile(isa, kc, as, bs, bkoff, cp, s->ldc, mr, nr, &tep, tmp);
                    else if (bkoff)
                        isa->ukr_rows(kc, as, bs, bkoff, cp, s->ldc, &tep);
                    else
                        isa->ukr(kc, as, bs, cp, s->ldc, &tep);
                    if (last && post && !in_kernel)
                        epilogue(ep, isa->id, s, cp, s->ldc, i, jj, mr, nr);
                }
            }
            if (last && post && in_kernel)
                mc_gemm_act_rows(ep, isa->id, s, mb, mb + mbl, n0, n1);
        }
    }
}

int mc_gemm_job(mc_threads *t, const mc_isa_info *isa, int m, int n, int k, int nsub,
                const mc_gemm_sub *subs, const mc_epilogue *ep) {
    if (m <= 0 || n <= 0 || nsub <= 0) return MC_OK;
    if (k <= 0) return MC_ERR_ARG;
    const int MR = isa->mr, NR = isa->nr;
    int threads = mc_threads_for(t, 2.0 * m * (double)n * k * nsub * MC_NS_PER_GEMM_FLOP);
    long want = threads > 1 ? 3L * threads : 1;  /* a few tasks per thread for balance */
    const int slivers = MC_CEIL_DIV(n, NR), panels = MC_CEIL_DIV(m, MR);
    int n_chunks = MC_CEIL_DIV(n, isa->nc);
    int m_chunks = 1;
    while ((long)nsub * n_chunks * m_chunks < want) {
        /* split N first (B packing is per chunk), keeping chunks >= 4 slivers wide */
        if (n_chunks < slivers && slivers / (n_chunks + 1) >= 4) n_chunks++;
        else if (m_chunks < panels) m_chunks++;
        else if (n_chunks < slivers) n_chunks++;
        else break;
    }
    /* as many tasks per thread (chunks differ by one sliver / panel at most): with 7 tasks
     * on 2 threads one thread runs 4 and the other waits (1x1 convs at 56x56 and 28x28
     * scaled 1.7x instead of 1.9x from 1 to 2 threads) */
    while (threads > 1 && (long)nsub * n_chunks * m_chunks % threads != 0) {
        if (n_chunks < slivers) n_chunks++;
        else if (m_chunks < panels) m_chunks++;
        else break;
    }
    job j = {isa, m, n, k, k_block(isa, k), subs, ep, 0, 0, 0, 0, t, 0};
    j.n_chunks = n_chunks;
    j.m_chunks = m_chunks;
    j.ncs = NR * MC_CEIL_DIV(slivers, n_chunks);
    j.mcs = MR * MC_CEIL_DIV(panels, m_chunks);
    mc_parallel(t, threads, (long)nsub * j.m_chunks * j.n_chunks, gemm_task, &j);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

int mc_gemm_in_task(mc_threads *t, int tid, const mc_isa_info *isa, int m, int n, int k,
                    const mc_gemm_sub *sub, const mc_epilogue *ep) {
    if (m <= 0 || n <= 0) return MC_OK;
    if (k <= 0) return MC_ERR_ARG;
    job j = {isa, m, n, k, k_block(isa, k), sub, ep, 0, 0, 1, 1, t, 0};
    j.ncs = MC_ROUND_UP(n, isa->nr);
    j.mcs = MC_ROUND_UP(m, isa->mr);
    gemm_task(&j, 0, tid);
    return j.failed ? MC_ERR_NOMEM : MC_OK;
}

/* An activation the micro-kernel does not fuse, on rows [m0, m1) x columns [n0, n1) once
 * they are final: a call a row of an M block and N chunk, not a row of every tile (a call
 * per 32 floats: HardSwish after the first conv of a MobileNet cost 65 us on top of its
 * 160, now 32). */
void mc_gemm_act_rows(const mc_epilogue *ep, int isa, const mc_gemm_sub *s, int m0, int m1,
                      int n0, int n1) {
    for (int i = m0; i < m1; i++) {
        float *row = s->c + (long)i * s->ldc + n0;
        mc_act_apply(&ep->act, isa, row, row, n1 - n0);
    }
}

/* The epilogue above for other drivers of the same operands (gemm_f16.c). */
void mc_gemm_epilogue_tile(const mc_epilogue *ep, int isa, const mc_gemm_sub *s, float *c,
                           long ldc, int i0, int j0, int mr, int nr) {
    epilogue(ep, isa, s, c, ldc, i0, j0, mr, nr);
}
