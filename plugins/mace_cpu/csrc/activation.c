/* Fused activations, with the formulas of mace_core/ops/fused_activation.py in float32:
 * the loops of activation_body.h compiled for each ISA (AVX-512, AVX2 + FMA, and the
 * baseline: SSE2 on x86-64, NEON on aarch64), picked by the caller's ISA id.
 */
#include <math.h>
#include <stdint.h>

#include "internal.h"

#define ACT_NAME(name) name##_base
#define ACT_TARGET
#include "activation_body.h"
#undef ACT_NAME
#undef ACT_TARGET

#ifdef MC_X86
#define ACT_NAME(name) name##_avx2
#define ACT_TARGET MC_TARGET_AVX2
#include "activation_body.h"
#undef ACT_NAME
#undef ACT_TARGET

#define ACT_NAME(name) name##_avx512
#define ACT_TARGET MC_TARGET_AVX512
#include "activation_body.h"
#undef ACT_NAME
#undef ACT_TARGET
#endif

void mc_act_apply(const mc_act *act, int isa, const float *x, float *y, long n) {
    if (act->kind == MC_ACT_NONE && x == y) return;
#ifdef MC_X86
    if (isa == MC_ISA_AVX512) {
        act_run_avx512(act->kind, act->a, act->b, x, y, n);
        return;
    }
    if (isa == MC_ISA_AVX2) {
        act_run_avx2(act->kind, act->a, act->b, x, y, n);
        return;
    }
#else
    (void)isa;
#endif
    act_run_base(act->kind, act->a, act->b, x, y, n);
}
