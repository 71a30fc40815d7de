/* Golden-file test harness of the mace-cpu kernels, for running the AArch64 build under
 * qemu-aarch64 (or natively on any CPU).
 *
 *   harness GOLDEN_FILE
 *
 * GOLDEN_FILE (written by tests/neon/golden.py from the numpy reference kernels, little
 * endian): "MCG1", u32 case count, then per case
 *   u32 kind, u32 n, i32[n] ints, u32 n, f32[n] floats, u32 count, count x (u32 n, f32[n])
 * where the arrays are the inputs followed by the expected output (K_CONV16 / K_GEMM16: the
 * weights are fp16 values, given to the _f16 plans as halves). Every case runs on
 * every ISA this CPU supports, serially and on a 2-thread pool; pass rule:
 * max |ours - expected| <= 1e-5 * max |expected|, 1e-4 for Winograd (which loses about a
 * digit, see tests/test_cpu_winograd.py), exact equality for the int8 GEMM (K_Q8GEMM, whose
 * lines are followed by the int8 path the plan ran). Exit status 0 when all pass.
 *
 * Conv cases run the direct algorithms (MACE_CPU_CONV_ALGO=shifted keeps 3x3 stride-1 ones
 * off Winograd); Winograd cases force F(4,3) or F(2,3) and fail if the plan did not take it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mace_cpu.h"

enum { K_CONV = 1, K_GEMM = 2, K_POOL = 3, K_GAP = 4, K_BINARY = 5, K_UNARY = 6,
       K_SOFTMAX = 7, K_COPY = 8, K_RESIZE = 9, K_LAYERNORM = 10, K_AFFINE = 11,
       K_REDUCE = 12, K_CONVT = 13, K_MATMUL = 14, K_CONV16 = 15, K_GEMM16 = 16,
       K_WINOGRAD = 17 };
enum { K_Q8GEMM = 18 }; /* int8 GEMM: ints m n k a_signed b_signed; arrays a b za zb y */
/* expand (optional: all its ints 0, arrays empty), depthwise, project convs as one op
 * (mc_block_create / mc_block_run) where the block takes them, else one by one:
 * ints 3 x (conv fields, act), floats 3 x (act a, b), arrays x, 3 x (w, b), y */
enum { K_BLOCK = 19 };
static int g_block_ran; /* the last case ran fused */
/* fp16 arithmetic (cpu_precision="float16"): K_CONV16 / K_GEMM16 whose plans are switched to
 * it; it must be taken exactly where mc_f16_arith_supported(isa) says so (else the case
 * fails). Pass rule when it ran: F16_ARITH_TOL (see tests/test_cpu_neon.py). */
enum { K_CONV16A = 32, K_GEMM16A = 33 };
#define F16_ARITH_TOL 1e-2
static int g_f16_ran; /* the last case ran in fp16 arithmetic */
#define MAX_ARRAYS 8

typedef struct {
    uint32_t kind, nints, nfloats, narrays;
    int32_t ints[64];
    float floats[8];
    uint32_t len[MAX_ARRAYS];
    float *arr[MAX_ARRAYS];
} gcase;

static int read_u32(FILE *f, uint32_t *v) { return fread(v, 4, 1, f) == 1; }

static int read_case(FILE *f, gcase *c) {
    memset(c, 0, sizeof *c);
    if (!read_u32(f, &c->kind) || !read_u32(f, &c->nints) || c->nints > 64) return 0;
    if (fread(c->ints, 4, c->nints, f) != c->nints) return 0;
    if (!read_u32(f, &c->nfloats) || c->nfloats > 8) return 0;
    if (fread(c->floats, 4, c->nfloats, f) != c->nfloats) return 0;
    if (!read_u32(f, &c->narrays) || c->narrays > MAX_ARRAYS) return 0;
    for (uint32_t i = 0; i < c->narrays; i++) {
        if (!read_u32(f, &c->len[i])) return 0;
        c->arr[i] = malloc(sizeof(float) * (c->len[i] ? c->len[i] : 1));
        if (!c->arr[i] || fread(c->arr[i], 4, c->len[i], f) != c->len[i]) return 0;
    }
    return 1;
}

static float *opt(const gcase *c, int i) { return c->len[i] ? c->arr[i] : NULL; }

/* Float array i as ints / longs (index tables and offsets travel as exact floats). */
static int *ints_of(const gcase *c, int i) {
    int *out = malloc(sizeof(int) * (c->len[i] ? c->len[i] : 1));
    for (uint32_t k = 0; out && k < c->len[i]; k++) out[k] = (int)c->arr[i][k];
    return out;
}

static long *longs_of(const gcase *c, int i) {
    long *out = malloc(sizeof(long) * (c->len[i] ? c->len[i] : 1));
    for (uint32_t k = 0; out && k < c->len[i]; k++) out[k] = (long)c->arr[i][k];
    return out;
}

/* Float array i as IEEE halves (its values are fp16 values: exact). */
static unsigned short *halves_of(const gcase *c, int i) {
    unsigned short *out = malloc(sizeof(unsigned short) * (c->len[i] ? c->len[i] : 1));
    if (out) mc_float_to_half(c->arr[i], out, c->len[i]);
    return out;
}

/* Conv / Gemm with fp16 weights; a plan that did not keep them as fp16 fails the case. */
static int run_f16(const gcase *c, int isa, mc_threads *t, float *y) {
    const int32_t *v = c->ints;
    const float *fl = c->floats;
    unsigned short *w = halves_of(c, 1);
    int rc = MC_ERR_NOMEM, f16 = 0;
    const int arith = c->kind == K_CONV16A || c->kind == K_GEMM16A;
    if (w && (c->kind == K_CONV16 || c->kind == K_CONV16A)) {
        mc_conv_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                            v[11], v[12], v[13], v[14], v[15], v[16], fl[0], fl[1]};
        mc_conv *plan = mc_conv_create_f16(&p, w, opt(c, 2), isa);
        if (plan) {
            mc_conv_weight_bytes(plan, &f16);
            g_f16_ran = arith && mc_conv_use_f16_arith(plan);
            f16 = f16 && g_f16_ran == (arith && mc_f16_arith_supported(isa));
            rc = f16 ? mc_conv_run(plan, t, c->arr[0], y) : MC_ERR_ARG;
            mc_conv_destroy(plan);
        }
    } else if (w) {
        mc_gemm_params p = {v[0], v[1], v[2], v[3], v[4], fl[0], fl[1], v[5], v[6], fl[2],
                            fl[3]};
        mc_gemm *plan = mc_gemm_create_f16(&p, w, isa);
        if (plan) {
            mc_gemm_weight_bytes(plan, &f16);
            g_f16_ran = arith && mc_gemm_use_f16_arith(plan);
            f16 = f16 && g_f16_ran == (arith && mc_f16_arith_supported(isa));
            rc = f16 ? mc_gemm_run(plan, t, c->arr[0], NULL, opt(c, 2), y) : MC_ERR_ARG;
            mc_gemm_destroy(plan);
        }
    }
    free(w);
    return rc;
}

/* The int8 path the last K_Q8GEMM plan ran (printed, so tests can check which one). */
static int q8_last_path = -1;

static int run_q8(const gcase *c, int isa, mc_threads *t, float *y) {
    const int32_t *v = c->ints;
    long m = v[0], n = v[1], k = v[2];
    signed char *a = malloc(m * k + 1), *b = malloc(k * n + 1);
    int *za = ints_of(c, 2), *zb = ints_of(c, 3), *out = malloc(sizeof(int) * (m * n + 1));
    int rc = MC_ERR_NOMEM;
    q8_last_path = -1;
    if (a && b && za && zb && out) {
        for (long i = 0; i < m * k; i++) a[i] = (signed char)(int)c->arr[0][i];
        for (long i = 0; i < k * n; i++) b[i] = (signed char)(int)c->arr[1][i];
        mc_q8gemm *plan = mc_q8gemm_create(n, k, b, v[4], zb, c->len[3], isa);
        if (plan) {
            q8_last_path = mc_q8gemm_path(plan);
            rc = mc_q8gemm_run(plan, t, m, a, v[3], za, c->len[2], out);
            for (long i = 0; rc == MC_OK && i < m * n; i++) y[i] = (float)out[i];
            mc_q8gemm_destroy(plan);
        }
    }
    free(a), free(b), free(za), free(zb), free(out);
    return rc;
}

static mc_conv *block_conv(const gcase *c, int i, int isa) {
    const int32_t *v = c->ints + 17 * i;
    if (!v[0]) return NULL;
    mc_conv_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                        v[11], v[12], v[13], v[14], v[15], v[16], c->floats[2 * i],
                        c->floats[2 * i + 1]};
    return mc_conv_create(&p, c->arr[1 + 2 * i], opt(c, 2 + 2 * i), isa);
}

static int run_block(const gcase *c, int isa, mc_threads *t, float *y) {
    mc_conv *e = block_conv(c, 0, isa), *d = block_conv(c, 1, isa), *p = block_conv(c, 2, isa);
    int rc = MC_ERR_NOMEM;
    if (d && p && (e || !c->ints[0])) {
        mc_block *b = mc_block_create(e, d, p);
        g_block_ran = b != NULL;
        if (b) {
            rc = mc_block_run(b, t, c->arr[0], y);
            mc_block_destroy(b);
        } else { /* the ops one by one */
            const int32_t *vd = c->ints + 17;
            float *t1 = malloc(sizeof(float) * vd[1] * vd[2] * vd[3]);
            float *t2 = malloc(sizeof(float) * vd[4] * vd[7] * vd[8]);
            rc = t1 && t2 ? MC_OK : MC_ERR_NOMEM;
            const float *x = c->arr[0];
            if (rc == MC_OK && e) {
                rc = mc_conv_run(e, t, x, t1);
                x = t1;
            }
            if (rc == MC_OK) rc = mc_conv_run(d, t, x, t2);
            if (rc == MC_OK) rc = mc_conv_run(p, t, t2, y);
            free(t1);
            free(t2);
        }
    }
    mc_conv_destroy(e);
    mc_conv_destroy(d);
    mc_conv_destroy(p);
    return rc;
}

static int run_more(const gcase *c, int isa, mc_threads *t, float *y) {
    const int32_t *v = c->ints;
    const float *fl = c->floats;
    switch (c->kind) {
    case K_COPY: {
        long shape[8], ss[8], ds[8];
        for (int a = 0; a < v[0]; a++) {
            shape[a] = v[1 + a];
            ss[a] = v[1 + v[0] + a];
            ds[a] = v[1 + 2 * v[0] + a];
        }
        return mc_copy_nd(t, v[0], shape, c->arr[0], ss, y, ds);
    }
    case K_RESIZE: {
        int *iy = ints_of(c, 1), *ix = ints_of(c, 3);
        mc_resize_params r = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], iy, c->arr[2], ix,
                              c->arr[4]};
        int rc = iy && ix ? mc_resize2d(&r, t, c->arr[0], y) : MC_ERR_NOMEM;
        free(iy);
        free(ix);
        return rc;
    }
    case K_LAYERNORM:
        return mc_layernorm(t, isa, v[0], v[1], c->arr[0], c->arr[1], opt(c, 2), fl[0], y);
    case K_AFFINE:
        return mc_affine(t, isa, v[0], v[1], v[2], c->arr[0], c->arr[1], c->arr[2], v[3], fl[0],
                         fl[1], y);
    case K_REDUCE: return mc_reduce(t, isa, v[0], v[1], v[2], v[3], c->arr[0], y);
    case K_CONVT: {
        mc_conv_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                            v[11], v[12], v[13], v[14], v[15], v[16], fl[0], fl[1]};
        mc_convt *plan = mc_convt_create(&p, c->arr[1], opt(c, 2), isa);
        if (!plan) return MC_ERR_NOMEM;
        int rc = mc_convt_run(plan, t, c->arr[0], y);
        mc_convt_destroy(plan);
        return rc;
    }
    case K_WINOGRAD: {
        mc_conv_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                            v[11], v[12], v[13], v[14], v[15], v[16], fl[0], fl[1]};
        setenv("MACE_CPU_CONV_ALGO", v[17] == 4 ? "winograd43" : "winograd23", 1);
        mc_conv *plan = mc_conv_create(&p, c->arr[1], opt(c, 2), isa);
        setenv("MACE_CPU_CONV_ALGO", "shifted", 1);
        if (!plan) return MC_ERR_NOMEM;
        int rc = mc_conv_wino_tile(plan) == v[17] ? mc_conv_run(plan, t, c->arr[0], y)
                                                  : MC_ERR_ARG;
        mc_conv_destroy(plan);
        return rc;
    }
    case K_MATMUL: {
        long *ao = longs_of(c, 2), *bo = longs_of(c, 3);
        int rc = ao && bo ? mc_matmul_batched(t, isa, v[0], v[1], v[2], v[3], c->arr[0], ao,
                                              c->arr[1], bo, v[4], fl[0], fl[1], y)
                          : MC_ERR_NOMEM;
        free(ao);
        free(bo);
        return rc;
    }
    case K_CONV16:
    case K_GEMM16:
    case K_CONV16A:
    case K_GEMM16A: return run_f16(c, isa, t, y);
    case K_Q8GEMM: return run_q8(c, isa, t, y);
    case K_BLOCK: return run_block(c, isa, t, y);
    default: return MC_ERR_ARG;
    }
}

/* Runs one case; returns the status and writes the output into y. */
static int run_case(const gcase *c, int isa, mc_threads *t, float *y) {
    const int32_t *v = c->ints;
    const float *fl = c->floats;
    switch (c->kind) {
    case K_CONV: {
        mc_conv_params p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                            v[11], v[12], v[13], v[14], v[15], v[16], fl[0], fl[1]};
        mc_conv *plan = mc_conv_create(&p, c->arr[1], opt(c, 2), isa);
        if (!plan) return MC_ERR_NOMEM;
        int rc = mc_conv_run(plan, t, c->arr[0], y);
        mc_conv_destroy(plan);
        return rc;
    }
    case K_GEMM: {
        mc_gemm_params p = {v[0], v[1], v[2], v[3], v[4], fl[0], fl[1], v[5], v[6], fl[2],
                            fl[3]};
        int b_const = v[7];
        mc_gemm *plan = mc_gemm_create(&p, b_const ? c->arr[1] : NULL, isa);
        if (!plan) return MC_ERR_NOMEM;
        int rc = mc_gemm_run(plan, t, c->arr[0], b_const ? NULL : c->arr[1], opt(c, 2), y);
        mc_gemm_destroy(plan);
        return rc;
    }
    case K_POOL: {
        mc_pool_params p = {v[0], v[1], v[2],  v[3],  v[4],  v[5],  v[6],  v[7],  v[8],
                            v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]};
        return mc_pool2d(&p, t, isa, c->arr[0], y);
    }
    case K_GAP: return mc_global_avg_pool(t, isa, v[0], v[1], c->arr[0], y);
    case K_BINARY:
        return mc_binary(t, isa, v[0], v[1], v[2], v[3], c->arr[0], c->arr[1], v[4], v[5], fl[0],
                         fl[1], y);
    case K_UNARY: return mc_unary(t, isa, c->len[0], c->arr[0], v[0], fl[0], fl[1], y);
    case K_SOFTMAX: return mc_softmax(t, isa, v[0], v[1], v[2], c->arr[0], y);
    default: return run_more(c, isa, t, y);
    }
}

static double rel_error(const float *y, const float *ref, uint32_t n) {
    double scale = 0.0, err = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(ref[i])) {
            if (isfinite(y[i]) || isnan(ref[i]) != isnan(y[i])) return INFINITY;
            continue;
        }
        scale = fmax(scale, fabs(ref[i]));
        err = fmax(err, fabs((double)y[i] - ref[i]));
    }
    return scale > 0 ? err / scale : err;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s GOLDEN_FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    char magic[4];
    uint32_t ncases;
    if (!f || fread(magic, 1, 4, f) != 4 || memcmp(magic, "MCG1", 4) || !read_u32(f, &ncases)) {
        fprintf(stderr, "cannot read golden file %s\n", argv[1]);
        return 2;
    }
    printf("mace-cpu %s; cpu features: %s; best isa: %s\n", mc_version(), mc_cpu_features(),
           mc_isa_name(mc_isa_best()));
    setenv("MACE_CPU_CONV_ALGO", "shifted", 1);
    mc_threads *pool = mc_threads_create(2);
    int failures = 0, runs = 0;
    for (uint32_t ci = 0; ci < ncases; ci++) {
        gcase c;
        if (!read_case(f, &c) || c.narrays < 2) {
            fprintf(stderr, "case %u: truncated golden file\n", ci);
            return 2;
        }
        const float *ref = c.arr[c.narrays - 1];
        uint32_t n = c.len[c.narrays - 1];
        float *y = malloc(sizeof(float) * (n ? n : 1));
        for (int isa = 0; isa < MC_ISA_COUNT; isa++) {
            if (!mc_isa_supported(isa)) continue;
            for (int threaded = 0; threaded < 2; threaded++) {
                for (uint32_t i = 0; i < n; i++) y[i] = NAN;
                g_f16_ran = g_block_ran = 0;
                int rc = run_case(&c, isa, threaded ? pool : NULL, y);
                double err = rc == MC_OK ? rel_error(y, ref, n) : INFINITY;
                double tol = c.kind == K_WINOGRAD ? 1e-4 : c.kind == K_Q8GEMM ? 0.0 : 1e-5;
                int ok = err <= (g_f16_ran ? F16_ARITH_TOL : tol);
                failures += !ok;
                runs++;
                printf("case %u kind %u isa %s threads %d: %s (rel err %.2e, status %d)%s%s\n",
                       ci, c.kind, mc_isa_name(isa), threaded ? 2 : 1, ok ? "ok" : "FAIL", err,
                       rc, g_f16_ran ? " fp16 arithmetic" : "", g_block_ran ? " fused" : "");
                if (c.kind == K_Q8GEMM)
                    printf("case %u int8 path %s (isa %s)\n", ci, mc_q8_path_name(q8_last_path),
                           mc_isa_name(isa));
            }
        }
        free(y);
        for (uint32_t i = 0; i < c.narrays; i++) free(c.arr[i]);
    }
    mc_threads_destroy(pool);
    printf("%d runs, %d failed\n", runs, failures);
    return failures ? 1 : 0;
}
