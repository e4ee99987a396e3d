/* cpu.c - SIMD level detection and the POISONSCAN_SIMD override. Built with baseline flags:
 * it runs before anyone knows whether AVX is there. */
#include "common/cpu.h"

#include <stdlib.h>
#include <string.h>

static const char *const simd_names[PS_SIMD__COUNT] = {
    [PS_SIMD_AUTO] = "auto",
    [PS_SIMD_SCALAR] = "scalar",
    [PS_SIMD_AVX2] = "avx2",
    [PS_SIMD_AVX512] = "avx512",
};

bool ps_cpu_simd_supported(enum ps_simd level)
{
    switch (level) {
    case PS_SIMD_AUTO:
    case PS_SIMD_SCALAR:
        return true;
    case PS_SIMD_AVX2:
#if defined(__x86_64__) || defined(__i386__)
        /* __builtin_cpu_supports consults CPUID and XGETBV (OS saves the YMM state) */
        return __builtin_cpu_supports("avx2");
#else
        return false;
#endif
    case PS_SIMD_AVX512:
#if (defined(__x86_64__) || defined(__i386__)) && defined(PS_HAVE_AVX512_BUILD)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
        return false;
#endif
    case PS_SIMD__COUNT:
        break;
    }
    return false;
}

enum ps_simd ps_cpu_best_simd(void)
{
    if (ps_cpu_simd_supported(PS_SIMD_AVX512))
        return PS_SIMD_AVX512;
    if (ps_cpu_simd_supported(PS_SIMD_AVX2))
        return PS_SIMD_AVX2;
    return PS_SIMD_SCALAR;
}

const char *ps_simd_name(enum ps_simd level)
{
    if ((unsigned)level >= PS_SIMD__COUNT)
        return "unknown";
    return simd_names[level];
}

enum ps_err ps_simd_parse(const char *s, enum ps_simd *out, struct ps_errdetail *ed)
{
    for (unsigned i = 0; i < PS_SIMD__COUNT; i++) {
        if (s != NULL && strcmp(s, simd_names[i]) == 0) {
            *out = (enum ps_simd)i;
            return PS_OK;
        }
    }
    ps_errdetail_set(ed, NULL, 0, "unknown SIMD level '%s' (want auto, scalar, avx2 or avx512)",
                     s != NULL ? s : "(null)");
    return PS_ERR_USAGE;
}

enum ps_err ps_cpu_resolve_simd(enum ps_simd want, enum ps_simd *out, struct ps_errdetail *ed)
{
    enum ps_simd level = want;

    if (level == PS_SIMD_AUTO) {
        const char *env = getenv("POISONSCAN_SIMD");

        if (env != NULL && env[0] != '\0') {
            enum ps_err err = ps_simd_parse(env, &level, ed);

            if (err != PS_OK) {
                ps_errdetail_set(ed, NULL, 0, "POISONSCAN_SIMD: unknown SIMD level '%s'", env);
                return err;
            }
        }
        if (level == PS_SIMD_AUTO)
            level = ps_cpu_best_simd();
    }
    if ((unsigned)level >= PS_SIMD__COUNT) {
        ps_errdetail_set(ed, NULL, 0, "SIMD level %u out of range", (unsigned)level);
        return PS_ERR_USAGE;
    }
    if (!ps_cpu_simd_supported(level)) {
        ps_errdetail_set(ed, NULL, 0, "SIMD level '%s' is not supported by this CPU or build",
                         ps_simd_name(level));
        return PS_ERR_UNSUPPORTED;
    }
    *out = level;
    return PS_OK;
}

enum ps_err ps_cpu_simd_from_env(enum ps_simd *out, struct ps_errdetail *ed)
{
    return ps_cpu_resolve_simd(PS_SIMD_AUTO, out, ed);
}
