/* Winograd F(m x m, 3 x 3) convolution (3x3, stride 1, dilation 1, group 1) in one launch,
 * with bias and fused activation (the argument list WINO_ARGS below).
 *
 * Output tiles of m x m pixels (m = 2: F(2,3), 4x4 input patches; m = 4: F(4,3), 6x6
 * patches), A = m + 2, NP = A * A transform positions. With U = G g G^T (the filters,
 * transformed once on the host) and V = B^T d B (the input patches), each position p is a
 * GEMM M[p] (tiles x out channels) = V[p] (tiles x in channels) * U[p] (in x out channels),
 * and the output tile is A^T M A. A work-group of NT = NP * T/4 * O/4 work items owns T
 * tiles by O output channels for all NP positions; work item (p, tiles i + T/4 * (0..3),
 * channels 4j..4j+3) keeps a 4x4 register block of M[p]. K advances KC input channels (KC/4 texel
 * blocks) a step; the input rows and the filter slice U[.][KC][O] of a step are loaded
 * into registers during the step before. A step:
 *   F(2,3): job (row i of V, texel block, tile) combines the two patch rows that row i of
 *      B^T needs, applies the row transform and writes V[i][0..3] to Vs[p][k/4][tile]
 *      (a float4 of 4 channels each);
 *   F(4,3): job (patch row, texel block, tile) writes the row transform d B to Ts; after a
 *      barrier, job (patch column, ...) applies B^T to a column of Ts and writes Vs
 *      (rows of B^T have 3-4 terms of 6 texels: loading them per V row costs too many
 *      registers);
 *   then the filter registers go to Us, a barrier, the next step's loads are issued and the
 *   register-blocked GEMM over the step's KC channels runs (per 4 channels: 4 float4
 *   of V, 4 tiles, and 4 of U, 64 FMAs). DB = 1 double-buffers Vs / Us (F(2,3)): one barrier a step instead of
 *   two.
 * After the last step M goes through local memory (Ms[p][tile][O], over Vs/Us/Ts) and the
 * output transform A^T M A is done in two passes (columns in place, then rows), each
 * output texel getting bias and activation. The transformed input never goes to global
 * memory and the layer is one launch (an empty one takes 5-7 us of event time on an H100);
 * the cost: a work-group recomputes the input transform of its tiles for its O channels.
 *
 * Split over K (nsplit > 1, global id 1 = slice): each slice transforms its partial M
 * (A^T M A is linear, so slices add after the transform) and stores float4 partial outputs
 * partial[(slice * P + pixel) * OCB + ocb] (P = N * OH * OW). sum_here = 0:
 * conv2d_splitk_sum of conv_gemm.cl adds them up with bias and activation in a second
 * launch. sum_here = 1: the slice makes its stores visible device-wide (PTX membar.gl on
 * NVIDIA, MACE_NV_MEMBAR, as CUDA's __threadfence: mem_fence is only membar.cta there),
 * counts itself done in counters[tile block, channel block], and the slice that counts
 * last reads every slice's partials past the L1 cache (volatile loads), adds bias and
 * activation, stores, and resets the counter (CAS atomics on float bits instead: 12-14 us
 * per slice at 56x56x64 on an H100).
 *
 * Global size (NT * ceil(M / O), nsplit, ceil(tiles / T)), local (NT, 1, 1); ``rows`` is the
 * number of tiles N * tiles_h * tiles_w. Filters: U packed [M / O][steps][NP][KC][O]
 * (zero padded; steps = ceil(C / KC)), always fp32: rounding U to half is an error in the
 * transformed domain, which A^T (.) A amplifies (F(4,3) with half U: 6e-3 of max |y| on
 * N(0, 1) data, twice the error of rounding the filters themselves).
 */

/* 1-D transforms of A float4 values (4 channels each): Lavin & Gray's matrices, points
 * 0, +-1, (+-2,) infinity. Input: v = B^T d. Output: y = A^T m. */
#define WINO_IN2(d, v)                                                                    \
    v[0] = d[0] - d[2];                                                                   \
    v[1] = d[1] + d[2];                                                                   \
    v[2] = d[2] - d[1];                                                                   \
    v[3] = d[1] - d[3];

#define WINO_IN4(d, v)                                                                    \
    v[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                              \
    v[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);                                            \
    v[2] = d[4] - d[3] + 4.0f * (d[1] - d[2]);                                            \
    v[3] = d[4] - d[2] + 2.0f * (d[3] - d[1]);                                            \
    v[4] = d[4] - d[2] + 2.0f * (d[1] - d[3]);                                            \
    v[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];

#define WINO_OUT2(m, y)                                                                   \
    y[0] = m[0] + m[1] + m[2];                                                            \
    y[1] = m[1] - m[2] - m[3];

#define WINO_OUT4(m, y)                                                                   \
    {                                                                                     \
        const float4 s12 = m[1] + m[2], d12 = m[1] - m[2];                                \
        const float4 s34 = m[3] + m[4], d34 = m[3] - m[4];                                \
        y[0] = m[0] + s12 + s34;                                                          \
        y[1] = d12 + 2.0f * d34;                                                          \
        y[2] = s12 + 4.0f * s34;                                                          \
        y[3] = d12 + 8.0f * d34 + m[5];                                                   \
    }

/* The input, read-only and not aliased (lets the compiler use the read-only data path for
 * buffers; on an H100 buffer storage stayed slower than image storage with it). */
#ifdef STORAGE_IMAGE
#define WINO_TIN TIN
#else
#define WINO_TIN TIN restrict
#endif

/* CONV_ARGS of common.h with fp32 filters (see the top), then split-K and tile grid. */
#define WINO_ARGS                                                                         \
    WINO_TIN in, int in_pitch, int in_h, int in_w, int in_c,                                   \
        __global const float4 *restrict filter, __global const float4 *restrict bias,     \
        TOUT out, int out_pitch, int out_h, int out_w,       \
        int out_c, int rows, int kh, int kw, int sh, int sw, int pt, int pl, int dh,      \
        int dw, int group, int act, float a0, float a1, int nsplit,                       \
        __global float4 *partial, int sum_here, __global int *counters, int tiles_h,      \
        int tiles_w

#define WINO_PASS                                                                         \
    in, in_pitch, in_h, in_w, in_c, filter, bias, out, out_pitch, out_h, out_w, out_c,    \
        rows, kh, kw, sh, sw, pt, pl, dh, dw, group, act, a0, a1, nsplit, partial,        \
        sum_here, counters, tiles_h, tiles_w

/* Loads of K step s into registers: rd[r] (patch row r of the jobs), ru (filter share). */
#define WINO_FETCH(s)                                                                     \
    {                                                                                     \
        for (int r = 0; r < 2; ++r) {                                                     \
            if (r < NLOAD) {                                                              \
                const int icb = (s) * CB + j_cbl[r];                                      \
                const bool ok = j_y[r] >= 0 && icb < in_cb;                               \
                const int xb = icb * in_w + j_iw0[r];                                     \
                for (int b = 0; b < 6; ++b) {                                             \
                    if (b < A) {                                                          \
                        const int iw = j_iw0[r] + b;                                      \
                        rd[r][b] = (ok && iw >= 0 && iw < in_w)                           \
                                       ? LOAD(in, in_pitch, xb + b, j_y[r])               \
                                       : (float4)(0.0f);                                  \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        const int ubase = (oblk * steps + (s)) * USTEP;                                   \
        for (int j = 0; j < 8; ++j)                                                       \
            if (j < UPT) ru[j] = filter[ubase + (MMA ? WINO_MMA_U(j) : tid + j * NT)];    \
    }

/* MMA: the filters of a step go straight to the registers of the one warp that uses them
 * (no local memory): share j = (pp * KC / 8 + kk) * O / 16 + h of lane is the float4 of
 * B fragments for position warp * PW + pp, input channels 8 kk.., n-blocks 2h, 2h + 1 */
#define WINO_MMA_U(j)                                                                     \
    ((warp * PW + (j) / (KC / 8 * (O / 16))) * (KC * OQ) + (j) % (KC / 8 * (O / 16)) * 32 + lane)

/* The tile row of output job (row i of the tile, tile t, channel block o4). */
#define WINO_PIXEL(job)                                                                   \
    const int o4 = (job) % OQ, t = ((job) / OQ) % T, i = (job) / (OQ * T);                \
    const int tg = tblk * T + t, ocb = oblk * OQ + o4;                                    \
    const int n = tg / plane_tiles, rem = tg - n * plane_tiles;                           \
    const int th = rem / tiles_w, tw = rem - th * tiles_w;                                \
    const int oh = th * WM + i, ow0 = tw * WM;                                            \
    const bool inside = tg < rows && ocb < out_cb && oh < out_h;

/* float4 of one position's V in local memory: KC / 4 texel blocks of T tiles
 * (Vs[p][k / 4][tile], float4 = 4 channels), padded so that the float4 a warp's GEMM loads
 * (consecutive tiles of up to 2 or 4 positions, 8 distinct float4) fall in distinct banks:
 * position pitch = 4 (mod 8) with 4 tile groups a position (T = 16), else 2 (mod 8). */
#define WINO_VSP(T, KC) ((KC) * (T) / 4 + ((((T) == 16 ? 4 : 2) - (KC) * (T) / 4 % 8 + 8) % 8))

#ifdef MACE_NV_MMA
/* Tensor cores (MMA = 1, F(2,3), T = 16, KC = 8 or 16, NVIDIA sm_80 and later): each warp
 * of the NT work items owns PW = 16 * 32 / NT positions (4 of 128, 2 of 256) and does their
 * GEMMs with mma.sync m16n8k8 on TF32 operands (16 tiles x 8 channels x 8 input channels,
 * KC / 8 of them a step), fp32 accumulation. fp32 accuracy
 * comes from three products a step (3xTF32): x = hi + lo, hi = x with its 13 low mantissa
 * bits cleared (what a TF32 operand keeps), lo = x - hi (exact in fp32), and
 * a * b ~ hi_a hi_b + hi_a lo_b + lo_a hi_b: the terms left out are ~2^-21 of |a b|.
 * Fragments (PTX ISA, lane = 4 g + q): A (row-major) a0 = V[tile g][k q],
 * a1 = V[g + 8][q], a2 = V[g][q + 4], a3 = V[g + 8][q + 4], read from Vs as floats; B
 * b0 = U[k q][o g], b1 = U[q + 4][g]: the host packs U so that lane's four values for two
 * n-blocks of 8 channels are one float4 (kernels/winograd.py, pack), which the lane loads
 * from global memory itself (WINO_MMA_U: no local memory, whose bandwidth, shared with
 * the L1 cache, bounds these kernels: 14x14x256 12.9 -> 11.6 us on an H100); C c0, c1 =
 * M[g][2q, 2q + 1], c2, c3 = M[g + 8][2q, 2q + 1]. */
#define TF32_HI(x) as_float(as_uint(x) & 0xffffe000u)
#define MMA_TF32(c, a, b0, b1)                                                          \
    __asm__ __volatile__("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, " \
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"                           \
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                          \
                 : "r"(as_uint(a[0])), "r"(as_uint(a[1])), "r"(as_uint(a[2])),             \
                   "r"(as_uint(a[3])), "r"(as_uint(b0)), "r"(as_uint(b1)))
#endif

inline __attribute__((always_inline)) void wino_conv(WINO_ARGS, __local float4 *lds,
                                                     const int WM, const int T, const int O,
                                                     const int KC, const int DB, const int BT,
                                                     const int BO, const int MMA) {
    const int A = WM + 2, NP = A * A, CB = KC / 4, OQ = O / 4;
    const int GT = T / BT, GO = O / BO; /* work items of one position along tiles, channels */
    const int NT = NP * GT * GO;
    /* F(2,3): V-row jobs (1 per work item: KC <= O), 2 patch rows each; F(4,3): patch-row
     * jobs, up to 2 per work item */
    const int JOBS = T * CB * A;
    const int NLOAD = WM == 2 ? 2 : (JOBS + NT - 1) / NT;
    const int USTEP = NP * KC * OQ;                  /* float4 of filters per step */
    const int UPT = USTEP / NT;                      /* of them per work item */
    /* float4 per position, padded (MMA: no Us, the filters stay in registers) */
    const int VSP = WINO_VSP(T, KC), USP = MMA ? 0 : KC * OQ + 1;
    const int TSP = A * A + 1;                       /* float4 per patch in Ts, padded */
    const int BUF = NP * (VSP + USP);
    __local float4 *Ts = lds + (DB ? 2 : 1) * BUF;

    const int tid = get_local_id(0);
    const int oblk = get_global_id(0) / NT;
    const int slice = get_global_id(1);
    const int tblk = get_global_id(2);
    const int in_cb = (in_c + 3) / 4, out_cb = (out_c + 3) / 4;
    const int plane_tiles = tiles_h * tiles_w;
    const int steps = (in_cb + CB - 1) / CB;
    const int s0 = slice * steps / nsplit, s1 = (slice + 1) * steps / nsplit;

    /* jobs: (row, texel block cbl, tile t), t fastest; the patch rows each one loads */
    int j_cbl[2], j_y[2], j_iw0[2], j_t[2], j_row[2];
    float sign = 1.0f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int job = WM == 2 ? tid : tid + r * NT;
        const int t = job % T, rest = job / T;
        j_t[r] = t;
        j_cbl[r] = rest % CB;
        j_row[r] = rest / CB;
        int a = j_row[r];
        if (WM == 2) { /* row i of B^T: d0 - d2, d1 + d2, d2 - d1, d1 - d3 */
            const int i = j_row[r];
            a = r == 0 ? (i == 0 ? 0 : (i == 2 ? 2 : 1)) : (i < 2 ? 2 : (i == 2 ? 1 : 3));
            sign = i == 1 ? 1.0f : -1.0f;
        }
        const int tg = tblk * T + t;
        const int n = tg / plane_tiles, rem = tg - n * plane_tiles;
        const int th = rem / tiles_w, tw = rem - th * tiles_w;
        const int ih = th * WM - pt + a;
        const bool ok = r < NLOAD && job < JOBS && tg < rows && ih >= 0 && ih < in_h;
        j_y[r] = ok ? n * in_h + ih : -1;
        j_iw0[r] = tw * WM - pl;
    }
    /* GEMM block: position gp, tiles gt + GT * (0..BT-1), channel float4 go + GO * (0..BO/4-1) */
    const int gp = tid / (GT * GO);
    const int gt = (tid / GO) % GT, go = tid % GO;

    float4 acc[8][2];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) acc[i][j] = (float4)(0.0f);
    /* MMA: PW positions a warp, PW x O / 8 n-blocks of C fragments */
    const int PW = NP * 32 / NT;
    const int lane = tid & 31, warp = tid >> 5, fg = lane >> 2, fq = lane & 3;
#ifdef MACE_NV_MMA
    float cm[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int k = 0; k < 4; ++k) cm[i][j][k] = 0.0f;
#endif
    float4 rd[2][6], ru[8], ub[8];
    if (s0 < s1) WINO_FETCH(s0)
    for (int s = s0; s < s1; ++s) {
        __local float4 *Vs = lds + (DB ? (s & 1) * BUF : 0);
        __local float4 *Us = Vs + NP * VSP;
        if (WM == 2) {
            /* V row i = (d[a] +- d[b]) B of one patch, texel block, tile */
            if (tid < JOBS) {
                float4 d[4], v[4];
#pragma unroll
                for (int b = 0; b < 4; ++b) d[b] = rd[0][b] + sign * rd[1][b];
                WINO_IN2(d, v)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    Vs[(j_row[0] * 4 + j) * VSP + j_cbl[0] * T + j_t[0]] = v[j];
            }
        } else {
            /* row transforms d B -> Ts */
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                if (r < NLOAD && tid + r * NT < JOBS) {
                    float4 v[6];
                    WINO_IN4(rd[r], v)
                    const int base = (j_cbl[r] * T + j_t[r]) * TSP + j_row[r] * A;
#pragma unroll
                    for (int b = 0; b < 6; ++b) Ts[base + b] = v[b];
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            /* column transforms B^T (d B) -> Vs[p][k/4][tile] */
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                if (r < NLOAD && tid + r * NT < JOBS) {
                    const int col = j_row[r];
                    const int base = (j_cbl[r] * T + j_t[r]) * TSP + col;
                    float4 c[6], v[6];
#pragma unroll
                    for (int a = 0; a < 6; ++a) c[a] = Ts[base + a * A];
                    WINO_IN4(c, v)
#pragma unroll
                    for (int i = 0; i < 6; ++i)
                        Vs[(i * A + col) * VSP + j_cbl[r] * T + j_t[r]] = v[i];
                }
            }
        }
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            if (j < UPT && MMA) {
                ub[j] = ru[j]; /* the registers the next step's loads go to */
            } else if (j < UPT) {
                const int e = tid + j * NT;
                const int p = e / (KC * OQ), rem = e - p * (KC * OQ);
                Us[p * USP + rem] = ru[j];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* next step's loads in flight, then the GEMM of this step */
        if (s + 1 < s1) WINO_FETCH(s + 1)
#ifdef MACE_NV_MMA
        if (MMA) {
#pragma unroll
            for (int pp = 0; pp < 4; ++pp) {
                if (pp >= PW) break;
                const int p = warp * PW + pp;
#pragma unroll
                for (int kk = 0; kk < KC / 8; ++kk) { /* texel blocks 2 kk, 2 kk + 1 */
                    const __local float *va =
                        (const __local float *)(Vs + p * VSP + 2 * kk * T) + fg * 4 + fq;
                    float a[4], ah[4], al[4];
                    a[0] = va[0];
                    a[1] = va[32];
                    a[2] = va[4 * T];
                    a[3] = va[4 * T + 32];
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        ah[i] = TF32_HI(a[i]);
                        al[i] = a[i] - ah[i];
                    }
#pragma unroll
                    for (int h = 0; h < O / 16; ++h) {
                        const float4 b = ub[(pp * (KC / 8) + kk) * (O / 16) + h];
                        const float4 bh = (float4)(TF32_HI(b.x), TF32_HI(b.y), TF32_HI(b.z),
                                                   TF32_HI(b.w));
                        const float4 bl = b - bh;
                        MMA_TF32(cm[pp][2 * h], al, bh.x, bh.y);
                        MMA_TF32(cm[pp][2 * h], ah, bl.x, bl.y);
                        MMA_TF32(cm[pp][2 * h], ah, bh.x, bh.y);
                        MMA_TF32(cm[pp][2 * h + 1], al, bh.z, bh.w);
                        MMA_TF32(cm[pp][2 * h + 1], ah, bl.z, bl.w);
                        MMA_TF32(cm[pp][2 * h + 1], ah, bh.z, bh.w);
                    }
                }
            }
            if (!DB) barrier(CLK_LOCAL_MEM_FENCE);
            continue;
        }
#endif
        const __local float4 *vrow = Vs + gp * VSP + gt;
        const __local float4 *urow = Us + gp * USP + go;
#pragma unroll
        for (int kq = 0; kq < CB; ++kq) {
            float4 v[8], u[4][2];
#pragma unroll
            for (int i = 0; i < 8; ++i)
                if (i < BT) v[i] = vrow[kq * T + i * GT];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j)
                    if (4 * j < BO) u[i][j] = urow[(kq * 4 + i) * OQ + j * GO];
#pragma unroll
            for (int i = 0; i < 8; ++i) { /* one FMA each (a sum of products would not be) */
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    if (i < BT && 4 * j < BO) {
                        acc[i][j] += v[i].x * u[0][j];
                        acc[i][j] += v[i].y * u[1][j];
                        acc[i][j] += v[i].z * u[2][j];
                        acc[i][j] += v[i].w * u[3][j];
                    }
                }
            }
        }
        if (!DB) barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (DB) barrier(CLK_LOCAL_MEM_FENCE);

    /* output transform: M -> Ms[p][tile][O] (float4 of 4 channels; MMA: a tile's row padded
     * to MP = OQ + 2 float4, else the fragment stores of a warp's 8 tiles hit one bank) */
    const int MP = OQ + (MMA ? 2 : 0);
    __local float4 *Ms = lds;
#ifdef MACE_NV_MMA
    if (MMA) {
        __local float *mf = (__local float *)Ms;
#pragma unroll
        for (int pp = 0; pp < 4; ++pp)
#pragma unroll
            for (int nb = 0; nb < O / 8; ++nb) {
                if (pp >= PW) break;
                const int at = ((warp * PW + pp) * T + fg) * 4 * MP + nb * 8 + 2 * fq;
                vstore2((float2)(cm[pp][nb][0], cm[pp][nb][1]), 0, mf + at);
                vstore2((float2)(cm[pp][nb][2], cm[pp][nb][3]), 0, mf + at + 32 * MP);
            }
    } else
#endif
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            if (i < BT && 4 * j < BO) Ms[(gp * T + gt + i * GT) * MP + go + j * GO] = acc[i][j];
    barrier(CLK_LOCAL_MEM_FENCE);
    /* columns: job (j, tile, o4) -> rows 0..m-1 of column j, in place */
    for (int job = tid; job < A * T * OQ; job += NT) {
        const int o4 = job % OQ, t = (job / OQ) % T, col = job / (OQ * T);
        float4 m[6], y[4];
#pragma unroll
        for (int a = 0; a < 6; ++a)
            if (a < A) m[a] = Ms[((a * A + col) * T + t) * MP + o4];
        if (WM == 4) {
            WINO_OUT4(m, y)
        } else {
            WINO_OUT2(m, y)
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
            if (i < WM) Ms[((i * A + col) * T + t) * MP + o4] = y[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* rows: job (i, tile, o4) -> output pixels (i, 0..m-1) of the tile */
    const int pixels = (rows / plane_tiles) * out_h * out_w;
    for (int job = tid; job < WM * T * OQ; job += NT) {
        WINO_PIXEL(job)
        if (!inside) continue;
        float4 m[6], y[4];
#pragma unroll
        for (int j = 0; j < 6; ++j)
            if (j < A) m[j] = Ms[((i * A + j) * T + t) * MP + o4];
        if (WM == 4) {
            WINO_OUT4(m, y)
        } else {
            WINO_OUT2(m, y)
        }
        const float4 b = bias[ocb];
#pragma unroll
        for (int x = 0; x < 4; ++x) {
            if (x < WM && ow0 + x < out_w) {
                const int pix = (n * out_h + oh) * out_w + ow0 + x;
                if (nsplit == 1)
                    STORE(out, out_pitch, ocb * out_w + ow0 + x, n * out_h + oh,
                          mask_lanes(activate(y[x] + b, act, a0, a1), ocb, out_c));
                else
                    partial[(slice * pixels + pix) * out_cb + ocb] = y[x];
            }
        }
    }
    if (nsplit == 1 || !sum_here) return;
    /* in-kernel split-K sum: the last slice of this tile / channel block stores */
    mem_fence(CLK_GLOBAL_MEM_FENCE);
#ifdef MACE_NV_MEMBAR
    asm volatile("membar.gl;" ::: "memory");
#endif
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    __local int *last = (__local int *)lds;
    const int counter = tblk * (get_global_size(0) / NT) + oblk;
    if (tid == 0) last[0] = atomic_inc(counters + counter) == nsplit - 1;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!last[0]) return;
    if (tid == 0) atomic_xchg(counters + counter, 0);
    /* four slices' loads in flight at a time (one after the other, the L2 latency of each
     * slice added up to microseconds) */
    const volatile __global float4 *sums = partial;
    const int stride = pixels * out_cb;
    for (int job = tid; job < WM * T * OQ; job += NT) {
        WINO_PIXEL(job)
        if (!inside) continue;
        const float4 b = bias[ocb];
#pragma unroll
        for (int x = 0; x < 4; ++x) {
            if (x < WM && ow0 + x < out_w) {
                const int at = ((n * out_h + oh) * out_w + ow0 + x) * out_cb + ocb;
                float4 s0 = b, s1 = (float4)(0.0f), s2 = (float4)(0.0f), s3 = (float4)(0.0f);
                int sl = 0;
                for (; sl + 4 <= nsplit; sl += 4) {
                    const float4 p0 = sums[at + sl * stride];
                    const float4 p1 = sums[at + (sl + 1) * stride];
                    const float4 p2 = sums[at + (sl + 2) * stride];
                    const float4 p3 = sums[at + (sl + 3) * stride];
                    s0 += p0;
                    s1 += p1;
                    s2 += p2;
                    s3 += p3;
                }
                for (; sl < nsplit; ++sl) s0 += sums[at + sl * stride];
                STORE(out, out_pitch, ocb * out_w + ow0 + x, n * out_h + oh,
                      mask_lanes(activate((s0 + s1) + (s2 + s3), act, a0, a1), ocb, out_c));
            }
        }
    }
}

/* Local memory in float4: Vs + Us (twice with DB; no Us on tensor cores) + Ts (F(4,3)), or
 * Ms if larger (as in kernels/winograd.py). */
#define WINO_STAGES(WM, T, O, KC, DB, MMA)                                                \
    (((DB) + 1) * (WM + 2) * (WM + 2) * (WINO_VSP(T, KC) + ((MMA) ? 0 : (KC) * (O) / 4 + 1)) + \
     ((WM) == 4 ? (T) * ((KC) / 4) * ((WM + 2) * (WM + 2) + 1) : 0))
#define WINO_RESULT(WM, T, O, MMA) ((WM + 2) * (WM + 2) * (T) * ((O) / 4 + ((MMA) ? 2 : 0)))
#define WINO_LDS(WM, T, O, KC, DB, MMA)                                                   \
    (WINO_STAGES(WM, T, O, KC, DB, MMA) > WINO_RESULT(WM, T, O, MMA)                      \
         ? WINO_STAGES(WM, T, O, KC, DB, MMA)                                             \
         : WINO_RESULT(WM, T, O, MMA))

#define WINO_KERNEL(name, WM, T, O, KC, DB, BT, BO, MMA)                                  \
    __kernel __attribute__((reqd_work_group_size((WM + 2) * (WM + 2) * (T / BT) * (O / BO), \
                                                 1, 1))) void                             \
    name(WINO_ARGS) {                                                                     \
        __local float4 lds[WINO_LDS(WM, T, O, KC, DB, MMA)];                              \
        wino_conv(WINO_PASS, lds, WM, T, O, KC, DB, BT, BO, MMA);                         \
    }

/* name, m, tiles T, output channels O, input channels per step KC, double buffering
 * (kernels/winograd.py keeps the same table). Local memory at most 42 KB (NVIDIA's limit
 * is 48 KB); F(2,3) needs KC <= O (one V-row job per work item). Work-groups of 288 or
 * more work items did not launch on an H100 (registers), so none are listed.
 * -DWINO_PICK=i builds only the i-th (from 1): a session compiles the variants it uses. */
#if !defined(WINO_PICK) || WINO_PICK == 1
WINO_KERNEL(wino4_t4o16, 4, 4, 16, 8, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 2
WINO_KERNEL(wino4_t8o8, 4, 8, 8, 8, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 3
WINO_KERNEL(wino2_t16o16, 2, 16, 16, 8, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 4
WINO_KERNEL(wino2_t16o16k16, 2, 16, 16, 16, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 5
WINO_KERNEL(wino2_t16o16db, 2, 16, 16, 8, 1, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 6
WINO_KERNEL(wino2_t8o16k16, 2, 8, 16, 16, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 7
WINO_KERNEL(wino2_t8o16db, 2, 8, 16, 8, 1, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 8
WINO_KERNEL(wino2_t8o32k16, 2, 8, 32, 16, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 9
WINO_KERNEL(wino2_t8o32db, 2, 8, 32, 8, 1, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 10
WINO_KERNEL(wino2_t8o8, 2, 8, 8, 8, 0, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 11
WINO_KERNEL(wino2_t8o8db, 2, 8, 8, 8, 1, 4, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 12
WINO_KERNEL(wino2_t4o32, 2, 4, 32, 8, 0, 4, 4, 0)
#endif
/* 8 tiles x 8 channels (or 8 x 4) a work item: 16 (12) local loads per 256 (128) FMAs
 * instead of 8 per 64, for 128 or 64 work items */
#if !defined(WINO_PICK) || WINO_PICK == 13
WINO_KERNEL(wino2_t16o32b8, 2, 16, 32, 8, 0, 8, 8, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 14
WINO_KERNEL(wino2_t16o16b8, 2, 16, 16, 8, 0, 8, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 15
WINO_KERNEL(wino2_t8o16b8, 2, 8, 16, 8, 0, 8, 4, 0)
#endif
/* the same two double-buffered: one barrier a step */
#if !defined(WINO_PICK) || WINO_PICK == 16
WINO_KERNEL(wino2_t16o16b8db, 2, 16, 16, 8, 1, 8, 4, 0)
#endif
#if !defined(WINO_PICK) || WINO_PICK == 17
WINO_KERNEL(wino2_t8o16b8db, 2, 8, 16, 8, 1, 8, 4, 0)
#endif
/* on tensor cores (MMA, see above): 128 work items, 4 positions a warp, or 256 and 2;
 * built only where the mma.sync probe compiled (MACE_NV_MMA, kernels/winograd.py) */
#if defined(MACE_NV_MMA) && (!defined(WINO_PICK) || WINO_PICK == 18)
WINO_KERNEL(wino2_t16o16mmadb, 2, 16, 16, 8, 1, 8, 4, 1)
#endif
#if defined(MACE_NV_MMA) && (!defined(WINO_PICK) || WINO_PICK == 19)
WINO_KERNEL(wino2_t16o16k16mma, 2, 16, 16, 16, 0, 4, 4, 1)
#endif
#if defined(MACE_NV_MMA) && (!defined(WINO_PICK) || WINO_PICK == 20)
WINO_KERNEL(wino2_t16o32k16mma, 2, 16, 32, 16, 0, 4, 8, 1)
#endif
