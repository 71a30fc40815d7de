/* The Gemm / MatMul op: Y[M,N] = act(alpha * op(A) op(B) + beta * bias), where op
 * transposes when asked. A constant B (a fully connected layer's weights) is packed once
 * when the plan is made; otherwise both operands are packed block by block per run. A
 * fully connected layer on a few rows (M <= 16, alpha 1, no bias or a column bias with
 * beta 1) runs on the skinny kernel (gemm_skinny.c), where the ISA has it.
 * mc_gemm_create_f16 keeps the packed B as fp16 (bpack16): packed as fp32 first, then
 * narrowed, which is exact since every value came from fp16.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mc_gemm {
    mc_gemm_params p;
    int isa_id;
    const mc_isa_info *isa;
    float *bpack; /* NULL: B comes with each run */
    int skinny;   /* bpack is in the skinny kernel's layout */
    uint16_t *bpack16; /* the packed B as fp16 instead of bpack (mc_gemm_create_f16) */
    size_t bcount;     /* elements of the packed B */
    int f16_arith;     /* runs in fp16 arithmetic (mc_gemm_use_f16_arith) */
};

static void b_strides(const mc_gemm_params *p, long *rs, long *cs) {
    *rs = p->trans_b ? 1 : p->n; /* element (k, j) of op(B) is b[k*rs + j*cs] */
    *cs = p->trans_b ? p->k : 1;
}

mc_gemm *mc_gemm_create(const mc_gemm_params *p, const float *b_const, int isa) {
    const mc_isa_info *info = mc_isa_get(isa);
    if (!info || p->m <= 0 || p->n <= 0 || p->k <= 0) return NULL;
    mc_gemm *plan = calloc(1, sizeof *plan);
    if (!plan) return NULL;
    plan->p = *p;
    plan->isa_id = isa;
    plan->isa = info;
    if (b_const && p->m <= 16 && p->alpha == 1.0f && mc_skinny_supported(isa) &&
        (p->bias_kind == MC_BIAS_NONE || (p->bias_kind == MC_BIAS_COL && p->beta == 1.0f))) {
        long rs, cs;
        b_strides(p, &rs, &cs);
        plan->skinny = 1;
        plan->bpack = mc_skinny_pack(b_const, rs, cs, p->k, p->n);
        plan->bcount = mc_skinny_packed_size(p->k, p->n);
        if (!plan->bpack) {
            free(plan);
            return NULL;
        }
    } else if (b_const) {
        long rs, cs;
        b_strides(p, &rs, &cs);
        plan->bcount = mc_packed_size(info, p->n, p->k, info->nr);
        plan->bpack = mc_aligned_alloc(sizeof(float) * plan->bcount);
        if (!plan->bpack) {
            free(plan);
            return NULL;
        }
        mc_pack_b_full(info, b_const, rs, cs, p->k, p->n, plan->bpack);
    }
    return plan;
}

mc_gemm *mc_gemm_create_f16(const mc_gemm_params *p, const unsigned short *b_const, int isa) {
    if (!b_const || p->m <= 0 || p->n <= 0 || p->k <= 0) return NULL;
    const size_t count = (size_t)p->k * (size_t)p->n;
    float *wide = mc_aligned_alloc(sizeof(float) * count);
    if (!wide) return NULL;
    mc_half_to_float(MC_ISA_SCALAR, b_const, wide, (long)count);
    mc_gemm *plan = mc_gemm_create(p, wide, isa);
    mc_aligned_free(wide);
    if (!plan) return NULL;
    plan->bpack16 = mc_narrow_plan_weights(plan->bpack, plan->bcount);
    if (!plan->bpack16) {
        mc_gemm_destroy(plan);
        return NULL;
    }
    plan->bpack = NULL;
    return plan;
}

long mc_gemm_weight_bytes(const mc_gemm *plan, int *f16) {
    if (f16) *f16 = plan->bpack16 != NULL;
    return plan->bpack16 ? (long)(sizeof(uint16_t) * plan->bcount)
           : plan->bpack ? (long)(sizeof(float) * plan->bcount)
                         : 0;
}

void mc_gemm_destroy(mc_gemm *plan) {
    if (!plan) return;
    mc_aligned_free(plan->bpack16);
    mc_aligned_free(plan->bpack);
    free(plan);
}

int mc_gemm_run(const mc_gemm *plan, mc_threads *t, const float *a, const float *b,
                const float *bias, float *y) {
    const mc_gemm_params *p = &plan->p;
    if (!mc_isa_get(plan->isa_id)) return MC_ERR_ISA;
    if ((!plan->bpack && !plan->bpack16 && !b) || (p->bias_kind != MC_BIAS_NONE && !bias))
        return MC_ERR_ARG;
    if (plan->skinny) {
        const mc_act act = {p->act, p->act_a, p->act_b};
        mc_op_begin(t);
        const long a_sr = p->trans_a ? 1 : p->k, a_sk = p->trans_a ? p->m : 1;
        const float *cb = p->bias_kind == MC_BIAS_COL ? bias : NULL;
        int rc = plan->bpack16 ? mc_skinny_run_f16(t, plan->isa_id, p->m, p->n, p->k, a, a_sr,
                                                   a_sk, plan->bpack16, cb, &act, y, p->n, 1)
                               : mc_skinny_run(t, plan->isa_id, p->m, p->n, p->k, a, a_sr,
                                               a_sk, plan->bpack, cb, &act, y, p->n, 1);
        mc_op_end(t);
        return rc;
    }
    mc_gemm_sub s;
    memset(&s, 0, sizeof s);
    s.a = (mc_src){.kind = MC_SRC_DENSE, .p = a, .rs = p->trans_a ? 1 : p->k,
                    .cs = p->trans_a ? p->m : 1};
    if (plan->bpack16) {
        s.b = (mc_src){.kind = MC_SRC_PACKED_F16, .h = plan->bpack16};
    } else if (plan->bpack) {
        s.b = (mc_src){.kind = MC_SRC_PACKED, .p = plan->bpack};
    } else {
        long rs, cs;
        b_strides(p, &rs, &cs);
        s.b = (mc_src){.kind = MC_SRC_DENSE, .p = b, .rs = rs, .cs = cs};
    }
    s.c = y;
    s.ldc = p->n;
    s.bias = bias;
    s.ld_bias = p->n;
    mc_epilogue ep = {p->alpha, p->beta, p->bias_kind, {p->act, p->act_a, p->act_b}};
    mc_op_begin(t);
    int rc = (plan->f16_arith ? mc_gemm_f16_job : mc_gemm_job)(t, plan->isa, p->m, p->n, p->k,
                                                                1, &s, &ep);
    mc_op_end(t);
    return rc;
}

int mc_gemm_use_f16_arith(mc_gemm *plan) {
    plan->f16_arith = !plan->skinny && plan->bpack16 && mc_f16_arith_supported(plan->isa_id);
    return plan->f16_arith;
}
