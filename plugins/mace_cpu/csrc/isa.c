/* ISA detection and the table of GEMM micro-kernels per ISA.
 *
 * x86-64: avx512f and avx2+fma are checked with __builtin_cpu_supports (which also checks
 * that the OS saves the registers); the kernels carry per-function target attributes, so
 * the library is built without -march flags and runs on any x86-64.
 * aarch64: NEON (ASIMD) is part of the base ISA; the optional extensions (dotprod, fp16,
 * i8mm, sve) are read from getauxval(AT_HWCAP / AT_HWCAP2) and reported.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#if defined(MC_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#endif

const char *mc_version(void) { return MC_VERSION; }

#define UKRS(isa) .ukr = mc_ukr_##isa, .ukr_rows = mc_ukr_rows_##isa
#define BLOCKS .kc = 256, .mc = 144, .nc = 512
static const mc_isa_info k_isas[MC_ISA_COUNT] = {
    {.id = MC_ISA_SCALAR, .name = "scalar", .mr = 4, .nr = 8, BLOCKS, UKRS(scalar),
     .copy = mc_copy_scalar, .copy2 = mc_copy2_scalar},
#ifdef MC_X86
    {.id = MC_ISA_AVX2, .name = "avx2", .mr = 6, .nr = 16, BLOCKS, UKRS(avx2),
     .copy = mc_copy_avx2, .copy2 = mc_copy2_scalar},
    {.id = MC_ISA_AVX512, .name = "avx512", .mr = 8, .nr = 32, BLOCKS, UKRS(avx512),
     .ukr_narrow = mc_ukr_avx512_n16, .nr_narrow = 16, .copy = mc_copy_avx512,
     .copy2 = mc_copy2_avx512},
#else
    {.id = MC_ISA_AVX2, .name = "avx2"},
    {.id = MC_ISA_AVX512, .name = "avx512"},
#endif
#ifdef MC_ARM64
    {.id = MC_ISA_NEON, .name = "neon", .mr = 8, .nr = 8, BLOCKS, UKRS(neon),
     .copy = mc_copy_scalar, .copy2 = mc_copy2_scalar},
#else
    {.id = MC_ISA_NEON, .name = "neon"},
#endif
};

static int detect(int isa) {
    if (k_isas[isa].ukr == NULL) return 0;
#ifdef MC_X86
    __builtin_cpu_init();
    if (isa == MC_ISA_AVX512) return __builtin_cpu_supports("avx512f") != 0;
    if (isa == MC_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 1;
}

int mc_isa_supported(int isa) {
    static int known[MC_ISA_COUNT]; /* 0: not checked yet, 1: no, 2: yes (checked per run) */
    if (isa < 0 || isa >= MC_ISA_COUNT) return 0;
    if (!known[isa]) known[isa] = detect(isa) ? 2 : 1;
    return known[isa] == 2;
}

int mc_isa_best(void) {
    static const int order[] = {MC_ISA_AVX512, MC_ISA_AVX2, MC_ISA_NEON, MC_ISA_SCALAR};
    for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
        if (mc_isa_supported(order[i])) return order[i];
    return MC_ISA_SCALAR;
}

const char *mc_isa_name(int isa) {
    return (isa >= 0 && isa < MC_ISA_COUNT) ? k_isas[isa].name : "unknown";
}

const mc_isa_info *mc_isa_get(int isa) {
    return mc_isa_supported(isa) ? &k_isas[isa] : NULL;
}

int mc_gemm_tile(int isa, int *mr, int *nr, int *kc) {
    const mc_isa_info *info = mc_isa_get(isa);
    if (!info) return MC_ERR_ISA;
    *mr = info->mr;
    *nr = info->nr;
    *kc = info->kc;
    return MC_OK;
}

static void add_flag(char *buf, size_t cap, const char *name, int present) {
    if (!present) return;
    size_t used = strlen(buf);
    snprintf(buf + used, cap - used, "%s%s", used ? " " : "", name);
}

const char *mc_cpu_features(void) {
    static char buf[256];
    buf[0] = 0;
#ifdef MC_X86
    __builtin_cpu_init();
    add_flag(buf, sizeof buf, "sse4.2", __builtin_cpu_supports("sse4.2"));
    add_flag(buf, sizeof buf, "avx", __builtin_cpu_supports("avx"));
    add_flag(buf, sizeof buf, "avx2", __builtin_cpu_supports("avx2"));
    add_flag(buf, sizeof buf, "fma", __builtin_cpu_supports("fma"));
    add_flag(buf, sizeof buf, "avx512f", __builtin_cpu_supports("avx512f"));
    add_flag(buf, sizeof buf, "avx512bw", __builtin_cpu_supports("avx512bw"));
    add_flag(buf, sizeof buf, "avx512vnni", __builtin_cpu_supports("avx512vnni"));
#elif defined(MC_ARM64)
    add_flag(buf, sizeof buf, "asimd", 1);
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    add_flag(buf, sizeof buf, "asimddp", (hw >> 20) & 1); /* HWCAP_ASIMDDP: sdot/udot */
    add_flag(buf, sizeof buf, "fphp", (hw >> 9) & 1);     /* HWCAP_FPHP */
    add_flag(buf, sizeof buf, "asimdhp", (hw >> 10) & 1); /* HWCAP_ASIMDHP: fp16 fma */
    add_flag(buf, sizeof buf, "sve", (hw >> 22) & 1);     /* HWCAP_SVE */
    add_flag(buf, sizeof buf, "i8mm", (hw2 >> 13) & 1);   /* HWCAP2_I8MM */
    add_flag(buf, sizeof buf, "bf16", (hw2 >> 14) & 1);   /* HWCAP2_BF16 */
#endif
#endif
    return buf;
}
