/* Fused activations over a run of floats, included once per ISA by activation.c with
 * ACT_NAME(name) (adds the ISA suffix) and ACT_TARGET (the target attribute) defined.
 * Plain C loops without calls, so the compiler vectorises them for that target: exp is
 * computed inline (vexp below), with the formulas of mace_core/ops/fused_activation.py.
 * Comparisons keep NaN as it is (a NaN compares false, so the input passes through).
 */

/* e^x for x in float range, relative error about 2e-7: x = n ln2 + r with |r| <= ln2/2
 * (n rounded with the 1.5 * 2^23 trick, ln2 split in two), e^r by its degree-6 Taylor
 * polynomial, 2^n built in the exponent bits. x is clamped to [-87.3, 88.7], so the result
 * stays a normal float (e^88.7 ~ 3.3e38 stands in for inf, e^-87.3 ~ 1.2e-38 for 0). */
ACT_TARGET static inline __attribute__((always_inline)) float ACT_NAME(vexp)(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + shift) - shift;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return p * scale.f;
}

/* tanh: an odd polynomial below |x| = 0.625 (no cancellation), 1 - 2 / (e^2|x| + 1)
 * above, with the sign put back. */
ACT_TARGET static inline __attribute__((always_inline)) float ACT_NAME(vtanh)(float x) {
    float ax = x < 0.0f ? -x : x, z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float big = 1.0f - 2.0f / (ACT_NAME(vexp)(2.0f * ax) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

ACT_TARGET void ACT_NAME(act_run)(int kind, float a, float b, const float *x, float *y,
                                  long n) {
    switch (kind) {
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
    case MC_ACT_SIGMOID:
        for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + ACT_NAME(vexp)(-x[i]));
        return;
    case MC_ACT_TANH:
        for (long i = 0; i < n; i++) y[i] = ACT_NAME(vtanh)(x[i]);
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
    case MC_ACT_SWISH:
        for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + ACT_NAME(vexp)(-a * x[i]));
        return;
    case MC_UN_NEG:
        for (long i = 0; i < n; i++) y[i] = -x[i];
        return;
    case MC_UN_ABS:
        for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? -x[i] : x[i];
        return;
    case MC_UN_SQRT:
        for (long i = 0; i < n; i++) y[i] = sqrtf(x[i]);
        return;
    case MC_UN_EXP: /* exact overflow / underflow at the ends, as numpy */
        for (long i = 0; i < n; i++) {
            float v = ACT_NAME(vexp)(x[i]);
            v = x[i] > 88.72283f ? INFINITY : v;
            y[i] = x[i] < -103.97208f ? 0.0f : v;
        }
        return;
    case MC_UN_LOG:
        for (long i = 0; i < n; i++) y[i] = logf(x[i]);
        return;
    case MC_UN_RECIPROCAL:
        for (long i = 0; i < n; i++) y[i] = 1.0f / x[i];
        return;
    default:
        if (x != y)
            for (long i = 0; i < n; i++) y[i] = x[i];
        return;
    }
}
