/* Winograd convolution F(4,3) / F(2,3) for 3x3, stride 1, dilation 1 (any group).
 *
 * A tile of (m + 2) x (m + 2) inputs gives m x m outputs, m = 4 or 2: Y = A^T (U . V) A
 * with U = G g G^T (weights, here at plan time) and V = B^T d B (input tiles). Summed over
 * input channels, the element-wise products become one GEMM per tile position p (36 or 16):
 *   M_p [M x T] = U_p [M x C] * V_p [C x T]      (T: tiles of all batch images)
 * i.e. 36 products per 16 outputs instead of 9 x 16: 4x fewer multiplies (F(2,3): 16 per
 * 4, 2.25x), for the price of the transforms and of U, npos / 9 times the weights.
 *
 * A run goes over blocks of tile rows (all of them unless V and M would outgrow a few MiB)
 * in three steps, each split over the thread pool:
 *   input   V[p][c][t] for the block's tile rows of every input channel (tasks: channels;
 *           loops in winograd_body.h); the conv's padding is read as zeros
 *   GEMM    the (position, group) products through gemm.c's driver: U_p packed once in
 *           its A layout, V_p rows read in place (kind ROWS), so every ISA's micro-kernel
 *           runs them; its tasks are positions x blocks of tiles (N chunks)
 *   output  A^T M A per tile of every output channel (tasks: channels), plus bias, cropped
 *           to OH x OW, with the activation (ReLU / Clip fused, others after each row)
 * V and M live in the pool's conv workspace slots, the transforms' row scratch in the
 * per-thread MISC slot: nothing is allocated per run.
 *
 * Accuracy: F(4,3)'s transforms have entries up to 8 (A^T) and 5 (B^T), so the rounding
 * error of the sums is roughly 10x that of the direct conv (relative to the output's scale
 * a few 1e-6 instead of a few 1e-7); F(2,3)'s entries are 0, +-1 (and 1/2 in G) and lose
 * little. tests/test_cpu_winograd.py checks both at 1e-4.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "winograd.h"

#define WG_NAME(name) name##_base
#define WG_TARGET
#include "winograd_body.h"
#undef WG_NAME
#undef WG_TARGET

#ifdef MC_X86
#define WG_NAME(name) name##_avx2
#define WG_TARGET MC_TARGET_AVX2
#include "winograd_body.h"
#undef WG_NAME
#undef WG_TARGET

#define WG_NAME(name) name##_avx512
#define WG_TARGET MC_TARGET_AVX512
#include "winograd_body.h"
#undef WG_NAME
#undef WG_TARGET
#endif

typedef void (*wg_in_fn)(const float *const *rows, int xl, int xr, int tx, float *r, long wt,
                         float *v, long vs);
typedef void (*wg_out_fn)(const float *m, long ms, int tx, float bias, float *s, long ss,
                          float *o, long ow);
typedef void (*wg_crop_fn)(const float *o, float lo, float hi, float *y, int n);

struct mc_wino {
    mc_conv_params p;
    const mc_isa_info *isa;
    int m, a, npos;       /* output tile, input tile (m + 2), positions (a * a) */
    int cg, mg;           /* channels per group */
    int tx, ty, txv;      /* tiles per row, per column of an image; tx in whole vectors */
    long tiles, ld;       /* tiles of the batch; row stride of V and M (block + slack) */
    int rows, br;         /* tile rows of the batch (n * ty); per block */
    long vps, mps;        /* position stride of V (C rows) and M (M rows), plus 64 bytes */
    long wt, ss;          /* row scratch widths: input rows, output A^T M rows */
    size_t apack, scratch; /* floats per packed U_p block; per-thread scratch floats */
    float *u;             /* packed U: block (g * npos + p) */
    long *koff;           /* GEMM row k of V_p: k * ld */
    wg_in_fn in;
    wg_out_fn out;
    wg_crop_fn crop;
};

/* G of F(4,3) (6 x 3) and F(2,3) (4 x 3). */
static const double k_g43[6][3] = {{0.25, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const double k_g23[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

/* -- choice --------------------------------------------------------------------------- */
/* Tiles per vector of the transforms' loops (gcc's vectorised width for the ISA). */
static int vector_tiles(const mc_isa_info *isa) {
    return isa->id == MC_ISA_AVX512 ? 16 : isa->id == MC_ISA_AVX2 ? 8 : 4;
}

/* Columns the micro-kernel computes for n of them: full NR slivers, the last one narrow
 * when the ISA has a narrow kernel that covers it. */
static double gemm_columns(const mc_isa_info *isa, long n) {
    long full = n / isa->nr * isa->nr, rest = n - full;
    if (rest == 0) return (double)full;
    return (double)full + (isa->nr_narrow && rest <= isa->nr_narrow ? isa->nr_narrow : isa->nr);
}

/* Estimated time, in micro-kernel multiply-adds, of the conv with output tile m (0: the
 * "shifted" direct GEMM on the padded image, Wp - OW wasted columns per row). Terms: the
 * GEMMs (rows rounded up to MR, columns to the slivers), the transforms (per position,
 * channel and tile, counted in whole vectors), and streaming the weights from memory once
 * per run (U is npos / 9 times the direct weights: 4x for F(4,3)). The two per-ISA weights
 * were fitted to single-thread timings of benchmarks/cpu_kernels.py --winograd layers
 * (AVX-512 and AVX2 on an AMD EPYC Zen 5, x86 "scalar" there too; NEON is a guess between
 * the scalar and AVX2 figures, not measured). */
static double cost(const mc_conv_params *p, const mc_isa_info *isa, int m) {
    const double cg = (double)p->c / p->group, mg = p->m / p->group;
    const double rows = MC_ROUND_UP(p->m / p->group, isa->mr);
    const double transform = isa->id == MC_ISA_AVX512 ? 16.0 : isa->id == MC_ISA_AVX2 ? 10.0
                             : isa->id == MC_ISA_NEON   ? 5.0 : 3.4;
    const double weight = isa->id == MC_ISA_AVX512 ? 10.0 : isa->id == MC_ISA_AVX2 ? 3.0
                          : isa->id == MC_ISA_NEON   ? 1.0 : 0.0;
    if (m == 0)
        return p->group * (p->n * rows * cg * 9.0 * gemm_columns(isa, (long)p->oh * (p->ow + 2)) +
                           weight * 9.0 * cg * mg);
    const int tx = MC_CEIL_DIV(p->ow, m), ty = MC_CEIL_DIV(p->oh, m);
    const long tiles = (long)p->n * tx * ty;
    const int nr = MC_MIN(16, isa->nr_narrow ? isa->nr_narrow : isa->nr);
    const double npos = (double)(m + 2) * (m + 2);
    const double vectors = (double)p->n * ty * MC_ROUND_UP(tx, vector_tiles(isa));
    return p->group * npos * (rows * cg * gemm_columns(isa, MC_ROUND_UP(tiles, nr)) +
                              weight * cg * mg) +
           transform * npos * (p->c + p->m) * vectors;
}

/* Depthwise convs (one channel per group) never get here: conv.c takes them first. */
static int applicable(const mc_conv_params *p) {
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1;
}

/* MACE_CPU_CONV_ALGO: "winograd" (the cheaper tile), "winograd43", "winograd23", or
 * "shifted" (no Winograd); unset or anything else: the cost model decides. */
int mc_wino_choose(const mc_conv_params *p, const mc_isa_info *isa) {
    if (!applicable(p)) return 0;
    const char *forced = getenv("MACE_CPU_CONV_ALGO");
    double c4 = cost(p, isa, 4), c2 = cost(p, isa, 2);
    int best = c4 <= c2 ? 4 : 2;
    if (forced && *forced) {
        if (!strcmp(forced, "winograd")) return best;
        if (!strcmp(forced, "winograd43")) return 4;
        if (!strcmp(forced, "winograd23")) return 2;
        if (!strcmp(forced, "shifted")) return 0;
    }
    return cost(p, isa, best) < cost(p, isa, 0) ? best : 0;
}

/* -- plan ----------------------------------------------------------------------------- */
mc_wino *mc_wino_create(const mc_conv_params *p, const mc_isa_info *isa, int tile,
                        const float *weight) {
    if (tile != 2 && tile != 4) return NULL;
    mc_wino *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->p = *p;
    w->isa = isa;
    w->m = tile;
    w->a = tile + 2;
    w->npos = w->a * w->a;
    w->cg = p->c / p->group;
    w->mg = p->m / p->group;
    w->tx = MC_CEIL_DIV(p->ow, tile);
    w->ty = MC_CEIL_DIV(p->oh, tile);
    /* the transforms run whole vectors of the ISA's width (gcc's vectorised loops) */
    w->txv = MC_ROUND_UP(w->tx, vector_tiles(isa));
    w->tiles = (long)p->n * w->tx * w->ty;
    w->rows = p->n * w->ty;
    /* Blocks of tile rows keep V and M within a few MiB (in cache) on large images, but no
     * smaller than about 128 tiles, which the GEMM needs to run at speed. */
    const double row_bytes = 4.0 * w->npos * (p->c + p->m) * w->tx;
    w->br = (int)MC_MAX(MC_CEIL_DIV(128, w->tx), (long)(8e6 / row_bytes));
    w->br = MC_MAX(1, MC_MIN(w->rows, w->br));
    /* a tile row's vectors run up to txv - tx tiles past its end (into the next row, which
     * is written later, or into the slack after the last one); the GEMM runs to a multiple
     * of 16 (or 8) columns, so its last sliver needs no edge handling: the extra columns
     * read whatever the slack holds and land in M's slack, which no output reads. +16
     * floats per position keeps the 36 position streams off one cache set (their distance
     * would often be a multiple of 4 KiB). */
    w->ld = MC_ROUND_UP((long)w->br * w->tx, 16) + 16;
    w->vps = (long)p->c * w->ld + 16;
    w->mps = (long)p->m * w->ld + 16;
    w->wt = MC_ROUND_UP((long)tile * w->txv + 4, 16);
    w->ss = w->txv;
    /* transformed rows, phase rows, a zero row */
    size_t in_scratch = (size_t)(w->a + 1) * w->wt + (size_t)2 * tile * (w->txv + 16);
    size_t out_scratch = (size_t)w->a * tile * w->ss + (size_t)tile * w->wt;
    w->scratch = MC_MAX(in_scratch, out_scratch);
    w->apack = mc_packed_size(isa, w->mg, w->cg, isa->mr);
    w->u = mc_aligned_alloc(sizeof(float) * w->apack * (size_t)w->npos * p->group);
    w->koff = malloc(sizeof(long) * (size_t)w->cg);
    float *u = malloc(sizeof(float) * (size_t)p->m * w->cg * w->npos);
    if (!w->u || !w->koff || !u) {
        free(u);
        mc_wino_destroy(w);
        return NULL;
    }
    for (int k = 0; k < w->cg; k++) w->koff[k] = (long)k * w->ld;
    /* U = G g G^T in double, as u[(o * cg + c) * npos + p] */
    const double(*g)[3] = tile == 4 ? k_g43 : (const double(*)[3])k_g23;
    for (long oc = 0; oc < (long)p->m * w->cg; oc++) {
        const float *k = weight + oc * 9;
        double gg[6][3]; /* G g */
        for (int i = 0; i < w->a; i++)
            for (int j = 0; j < 3; j++)
                gg[i][j] = g[i][0] * k[j] + g[i][1] * k[3 + j] + g[i][2] * k[6 + j];
        for (int i = 0; i < w->a; i++)
            for (int j = 0; j < w->a; j++)
                u[oc * w->npos + i * w->a + j] =
                    (float)(gg[i][0] * g[j][0] + gg[i][1] * g[j][1] + gg[i][2] * g[j][2]);
    }
    for (int gi = 0; gi < p->group; gi++)
        for (int pos = 0; pos < w->npos; pos++)
            mc_pack_a_full(isa, u + (size_t)gi * w->mg * w->cg * w->npos + pos,
                           (long)w->cg * w->npos, w->npos, w->mg, w->cg,
                           w->u + w->apack * ((size_t)gi * w->npos + pos));
    free(u);
#ifdef MC_X86
    if (isa->id == MC_ISA_AVX512) {
        w->in = tile == 4 ? wg_in43_avx512 : wg_in23_avx512;
        w->out = tile == 4 ? wg_out43_avx512 : wg_out23_avx512;
        w->crop = wg_crop_avx512;
        return w;
    }
    if (isa->id == MC_ISA_AVX2) {
        w->in = tile == 4 ? wg_in43_avx2 : wg_in23_avx2;
        w->out = tile == 4 ? wg_out43_avx2 : wg_out23_avx2;
        w->crop = wg_crop_avx2;
        return w;
    }
#endif
    w->in = tile == 4 ? wg_in43_base : wg_in23_base;
    w->out = tile == 4 ? wg_out43_base : wg_out23_base;
    w->crop = wg_crop_base;
    return w;
}

void mc_wino_destroy(mc_wino *w) {
    if (!w) return;
    mc_aligned_free(w->u);
    free(w->koff);
    free(w);
}

int mc_wino_tile(const mc_wino *w) { return w->m; }

long mc_wino_weight_bytes(const mc_wino *w) {
    return (long)(sizeof(float) * w->apack * (size_t)w->p.group * (size_t)w->npos);
}

/* -- run ------------------------------------------------------------------------------- */
typedef struct {
    const mc_wino *w;
    mc_threads *t;
    const float *x, *bias;
    float *v, *y;        /* V (input step), M (output step: read) */
    int r0, r1;           /* the block's tile rows */
    long units, per_task; /* tile rows of planes */
    int failed;
} wg_job;

/* Units: input channels -> V. One unit runs its images and tile rows in order, so the
 * lanes a tile row writes past its end are overwritten by the rows after it. */
static void input_task(void *raw, long task, int tid) {
    wg_job *j = raw;
    const mc_wino *w = j->w;
    const mc_conv_params *p = &w->p;
    float *r = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * w->scratch);
    if (!r) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    float *zero = r + w->scratch - w->wt;
    const int width = w->m * w->txv + (w->m == 4 ? 4 : 2);
    const int xl = MC_MIN(p->pl, width), xr = MC_MAX(xl, MC_MIN(p->pl + p->w, width));
    memset(r, 0, sizeof(float) * w->scratch); /* the zero row, and the rows' padding */
    const long last = MC_MIN(j->units, (task + 1) * j->per_task);
    for (long c = task * j->per_task; c < last; c++)
        for (int row = j->r0; row < j->r1; row++) {
            const int b = row / w->ty, tyi = row % w->ty;
            const float *src = j->x + ((long)b * p->c + c) * p->h * p->w;
            const float *rows[6];
            for (int i = 0; i < w->a; i++) {
                int iy = tyi * w->m - p->pt + i;
                rows[i] = iy >= 0 && iy < p->h ? src + (long)iy * p->w - p->pl : zero;
            }
            float *v = j->v + c * w->ld + (long)(row - j->r0) * w->tx;
            w->in(rows, xl, xr, w->txv, r, w->wt, v, w->vps);
        }
}

/* Units: output channels -> y planes. The transform runs on chunks of txv tiles: as many
 * whole tile rows as fit (several on small images, whose rows are shorter than a vector),
 * then each row's outputs are cropped into y; the lanes past the chunk's rows are not
 * stored, and the slack after the block keeps their reads inside the buffer. */
static void output_task(void *raw, long task, int tid) {
    wg_job *j = raw;
    const mc_wino *w = j->w;
    const mc_conv_params *p = &w->p;
    float *s = mc_ws_get(j->t, tid, MC_WS_MISC, sizeof(float) * w->scratch);
    if (!s) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    float *o = s + (size_t)w->a * w->m * w->ss;
    const int fused = p->act == MC_ACT_RELU || p->act == MC_ACT_CLIP;
    const float lo = p->act == MC_ACT_RELU ? 0.0f : p->act == MC_ACT_CLIP ? p->act_a : -INFINITY;
    const float hi = p->act == MC_ACT_CLIP ? p->act_b : INFINITY;
    const mc_act act = {p->act, p->act_a, p->act_b};
    const long last = MC_MIN(j->units, (task + 1) * j->per_task);
    const int chunk = MC_MAX(1, w->txv / w->tx); /* tile rows per transform */
    for (long mo = task * j->per_task; mo < last; mo++)
        for (int r0 = j->r0; r0 < j->r1; r0 += chunk) {
            const float *mrow = j->v + mo * w->ld + (long)(r0 - j->r0) * w->tx;
            w->out(mrow, w->mps, w->txv, j->bias[mo], s, w->ss, o, w->wt);
            for (int row = r0; row < MC_MIN(j->r1, r0 + chunk); row++) {
                const int b = row / w->ty, tyi = row % w->ty;
                const float *orow = o + (long)(row - r0) * w->tx * w->m;
                float *y = j->y + (((long)b * p->m + mo) * p->oh + tyi * w->m) * p->ow;
                const int rows = MC_MIN(w->m, p->oh - tyi * w->m);
                for (int k = 0; k < rows; k++)
                    w->crop(orow + k * w->wt, lo, hi, y + (long)k * p->ow, p->ow);
                if (!fused && p->act != MC_ACT_NONE) /* the tile row's output rows at once */
                    mc_act_apply(&act, w->isa->id, y, y, (long)rows * p->ow);
            }
        }
}

static int run_units(const mc_wino *w, mc_threads *t, mc_task_fn fn, wg_job *j, long units) {
    double flops = (double)units * (j->r1 - j->r0) * w->tx * w->npos * 4.0;
    int threads = mc_threads_for(t, flops * MC_NS_PER_DIRECT_FLOP);
    j->units = units;
    j->per_task = MC_CEIL_DIV(units, 4L * threads);
    j->failed = 0;
    mc_parallel(t, threads, MC_CEIL_DIV(units, j->per_task), fn, j);
    return j->failed ? MC_ERR_NOMEM : MC_OK;
}

int mc_wino_run(const mc_wino *w, mc_threads *t, const float *x, const float *bias, float *y) {
    const mc_conv_params *p = &w->p;
    const int nsub = w->npos * p->group;
    const size_t vfloats = (size_t)w->npos * w->vps;
    float *v = mc_ws_get(t, 0, MC_WS_CONV_IN,
                         sizeof(float) * vfloats + sizeof(mc_gemm_sub) * (size_t)nsub);
    float *mb = mc_ws_get(t, 0, MC_WS_CONV_OUT, sizeof(float) * (size_t)w->npos * w->mps);
    if (!v || !mb) return MC_ERR_NOMEM;
    mc_gemm_sub *subs = (mc_gemm_sub *)(v + vfloats);
    memset(subs, 0, sizeof *subs * (size_t)nsub);
    for (int g = 0; g < p->group; g++)
        for (int pos = 0; pos < w->npos; pos++) {
            mc_gemm_sub *s = &subs[g * w->npos + pos];
            s->a = (mc_src){.kind = MC_SRC_PACKED,
                            .p = w->u + w->apack * ((size_t)g * w->npos + pos)};
            s->b = (mc_src){.kind = MC_SRC_ROWS,
                            .p = v + (size_t)pos * w->vps + (size_t)g * w->cg * w->ld,
                            .koff = w->koff};
            s->c = mb + (size_t)pos * w->mps + (size_t)g * w->mg * w->ld;
            s->ldc = w->ld;
        }
    const mc_epilogue ep = {1.0f, 1.0f, MC_BIAS_NONE, {MC_ACT_NONE, 0.0f, 0.0f}};
    const int nr = MC_MIN(16, w->isa->nr_narrow ? w->isa->nr_narrow : w->isa->nr);
    int rc = MC_OK;
    for (int r0 = 0; r0 < w->rows && rc == MC_OK; r0 += w->br) {
        wg_job j = {w, t, x, bias, v, y, r0, MC_MIN(w->rows, r0 + w->br), 0, 0, 0};
        rc = run_units(w, t, input_task, &j, p->c);
        if (rc == MC_OK)
            rc = mc_gemm_job(t, w->isa, w->mg, MC_ROUND_UP((j.r1 - r0) * w->tx, nr), w->cg, nsub,
                             subs, &ep);
        j.v = mb;
        if (rc == MC_OK) rc = run_units(w, t, output_task, &j, p->m);
    }
    return rc;
}
