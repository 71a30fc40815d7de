/* Fused activations, with the formulas of mace_core/ops/fused_activation.py in float32.
 *
 * Comparisons are written so that NaN passes through unchanged, as with numpy. The
 * branch-free ones vectorise; Sigmoid and Tanh call libm per element.
 */
#include <math.h>

#include "internal.h"

float mc_act_one(const mc_act *act, float v) {
    switch (act->kind) {
    case MC_ACT_RELU: return v < 0.0f ? 0.0f : v;
    case MC_ACT_CLIP: v = v < act->a ? act->a : v; return v > act->b ? act->b : v;
    case MC_ACT_LEAKY_RELU: return v >= 0.0f ? v : v * act->a;
    case MC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case MC_ACT_TANH: return tanhf(v);
    case MC_ACT_HARD_SIGMOID: {
        float r = v * act->a + act->b;
        r = r < 0.0f ? 0.0f : r;
        return r > 1.0f ? 1.0f : r;
    }
    case MC_ACT_HARD_SWISH: {
        float r = v / 6.0f + 0.5f;
        r = r < 0.0f ? 0.0f : r;
        return v * (r > 1.0f ? 1.0f : r);
    }
    case MC_ACT_SWISH: return v / (1.0f + expf(-act->a * v));
    default: return v;
    }
}

void mc_act_apply(const mc_act *act, const float *x, float *y, long n) {
    const float a = act->a, b = act->b;
    switch (act->kind) {
    case MC_ACT_NONE:
        if (x != y)
            for (long i = 0; i < n; i++) y[i] = x[i];
        return;
    case MC_ACT_RELU:
        for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        return;
    case MC_ACT_CLIP:
        for (long i = 0; i < n; i++) {
            float v = x[i] < a ? a : x[i];
            y[i] = v > b ? b : v;
        }
        return;
    case MC_ACT_LEAKY_RELU:
        for (long i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : x[i] * a;
        return;
    case MC_ACT_HARD_SIGMOID:
        for (long i = 0; i < n; i++) {
            float r = x[i] * a + b;
            r = r < 0.0f ? 0.0f : r;
            y[i] = r > 1.0f ? 1.0f : r;
        }
        return;
    case MC_ACT_HARD_SWISH:
        for (long i = 0; i < n; i++) {
            float r = x[i] / 6.0f + 0.5f;
            r = r < 0.0f ? 0.0f : r;
            y[i] = x[i] * (r > 1.0f ? 1.0f : r);
        }
        return;
    default:
        for (long i = 0; i < n; i++) y[i] = mc_act_one(act, x[i]);
        return;
    }
}
