/* IEEE half precision (fp16) <-> fp32, for weights kept as fp16 inside the plans.
 *
 * Plans of Gemm / MatMul with a constant B and of the GEMM convolutions can hold their
 * packed weights as fp16 (mc_gemm_create_f16, mc_conv_create_f16): half the memory, while
 * the arithmetic stays fp32. The GEMM widens them block by block into per-thread scratch
 * (mc_half_to_float), the skinny kernel as it loads them (gemm_skinny.c).
 *
 * Widening per ISA: avx512 _mm512_cvtph_ps (AVX-512F); avx2 _mm256_cvtph_ps (F16C, checked
 * at run time: the avx2 ISA itself only needs AVX2 + FMA); neon vcvt_f32_f16 (ARMv8.0);
 * otherwise the portable bit conversion below. fp16 -> fp32 is exact, so every path gives
 * the same floats (bit for bit, except that the hardware conversions quiet signalling NaNs).
 * Narrowing (fp32 -> fp16, round to nearest even) runs once, when a plan is made.
 */
#include <string.h>

#include "internal.h"

#ifdef MC_X86
#include <immintrin.h>
#endif
#ifdef MC_ARM64
#include <arm_neon.h>
#endif

static inline float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t float_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* Portable fp16 -> fp32, exact for every value, without branches (so gcc vectorises the
 * loop): the exponent and mantissa shifted into place and rebiased; Inf / NaN get the
 * all-ones exponent; a subnormal or zero m is built as 2^-14 (1 + m / 1024) - 2^-14. */
static inline float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t em = (uint32_t)(h & 0x7fffu) << 13;
    const uint32_t exp = em & 0x0f800000u;
    const uint32_t sub = float_to_bits(bits_to_float(em + (113u << 23)) -
                                       bits_to_float(113u << 23));
    const uint32_t is_special = 0u - (uint32_t)(exp == 0x0f800000u); /* masks, not branches */
    const uint32_t is_sub = 0u - (uint32_t)(exp == 0);
    const uint32_t normal = em + (112u << 23) + (is_special & (112u << 23));
    return bits_to_float(sign | (normal & ~is_sub) | (sub & is_sub));
}

static void widen_scalar(const uint16_t *src, float *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

#ifdef MC_X86
MC_TARGET_AVX512 static void widen_avx512(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    widen_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2,fma,f16c"))) static void widen_f16c(const uint16_t *src, float *dst,
                                                               long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    widen_scalar(src + i, dst + i, n - i);
}

static int has_f16c(void) {
    static int known; /* 0: not checked, 1: no, 2: yes */
    if (!known) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("f16c") ? 2 : 1;
    }
    return known == 2;
}
#endif

#ifdef MC_ARM64
static void widen_neon(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(src + i));
        vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
    }
    widen_scalar(src + i, dst + i, n - i);
}
#endif

void mc_half_to_float(int isa, const unsigned short *src, float *dst, long n) {
#ifdef MC_X86
    if (isa == MC_ISA_AVX512 && mc_isa_supported(MC_ISA_AVX512)) {
        widen_avx512(src, dst, n);
        return;
    }
    if (isa == MC_ISA_AVX2 && mc_isa_supported(MC_ISA_AVX2) && has_f16c()) {
        widen_f16c(src, dst, n);
        return;
    }
#endif
#ifdef MC_ARM64
    if (isa == MC_ISA_NEON) {
        widen_neon(src, dst, n);
        return;
    }
#endif
    (void)isa;
    widen_scalar(src, dst, n);
}

/* fp32 -> fp16, round to nearest even; overflow gives Inf, NaN stays a (quiet) NaN. */
static uint16_t float_to_half(float f) {
    const uint32_t bits = float_to_bits(f);
    const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* Inf, NaN (payload's top bits, quiet bit set) */
        return sign | (abs > 0x7f800000u ? (uint16_t)(0x7e00u | (abs >> 13 & 0x1ffu)) : 0x7c00u);
    if (abs >= 0x477ff000u) return sign | 0x7c00u; /* rounds to >= 65520: Inf */
    if (abs < 0x38800000u) {                        /* below 2^-14: a subnormal half or 0 */
        /* value / 2^-24, rounded to nearest even in fp32 arithmetic (exact below 2^24) */
        const float scaled = bits_to_float(abs) * 0x1p24f;
        float r = (float)(long)scaled;
        const float frac = scaled - r;
        if (frac > 0.5f || (frac == 0.5f && ((long)r & 1))) r += 1.0f;
        return sign | (uint16_t)r;
    }
    /* normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even */
    const uint32_t rebased = abs - (112u << 23);
    const uint32_t round = 0xfffu + ((rebased >> 13) & 1u);
    return sign | (uint16_t)((rebased + round) >> 13);
}

void mc_float_to_half(const float *src, unsigned short *dst, long n) {
    for (long i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}

uint16_t *mc_narrow_plan_weights(float *packed, size_t count) {
    uint16_t *half = mc_aligned_alloc(sizeof(uint16_t) * count);
    if (!half) return NULL;
    mc_float_to_half(packed, half, (long)count);
    mc_aligned_free(packed);
    return half;
}
