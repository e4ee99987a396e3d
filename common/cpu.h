/* cpu.h - which SIMD level this process may use: CPUID (through __builtin_cpu_supports, which
 * also checks that the OS saves YMM/ZMM state), what this build compiled, and the
 * POISONSCAN_SIMD override. A forced level the CPU lacks is an error, never a silent fallback. */
#ifndef PS_COMMON_CPU_H
#define PS_COMMON_CPU_H

#include <stdbool.h>

#include "common/error.h"

enum ps_simd {
    PS_SIMD_AUTO = 0, /* resolve at run time: POISONSCAN_SIMD if set, else the best level */
    PS_SIMD_SCALAR,   /* plain C, the reference */
    PS_SIMD_AVX2,     /* AVX2 (Haswell, Zen 1 and later) */
    PS_SIMD_AVX512,   /* AVX-512 F + DQ + BW + VL (Skylake-X, Zen 4 and later) */
    PS_SIMD__COUNT    /* keep last */
};

/* True when both the CPU/OS and this build can run `level` (AUTO and SCALAR: always true).
 * Thread-safe. */
bool ps_cpu_simd_supported(enum ps_simd level);

/* The highest supported level (never AUTO). Thread-safe. */
enum ps_simd ps_cpu_best_simd(void);

/* "auto", "scalar", "avx2", "avx512"; "unknown" outside the enum. Static storage, never NULL. */
const char *ps_simd_name(enum ps_simd level);

/* Parse one of the names above (case-sensitive) into *out.
 * PS_OK, or PS_ERR_USAGE for any other string (`ed` says which; may be NULL). */
enum ps_err ps_simd_parse(const char *s, enum ps_simd *out, struct ps_errdetail *ed);

/* Resolve a wanted level into the level to run:
 * - AUTO: the level named by POISONSCAN_SIMD if it is set and not empty (it may say "auto"),
 *   else ps_cpu_best_simd();
 * - a fixed level: that level.
 * PS_OK with *out set (never AUTO); PS_ERR_USAGE for an unparseable POISONSCAN_SIMD;
 * PS_ERR_UNSUPPORTED when the resolved level is not supported by this CPU or build.
 * Reads the environment: not thread-safe against setenv(). */
enum ps_err ps_cpu_resolve_simd(enum ps_simd want, enum ps_simd *out, struct ps_errdetail *ed);

/* The POISONSCAN_SIMD half of the above: ps_cpu_resolve_simd(PS_SIMD_AUTO, out, ed). */
enum ps_err ps_cpu_simd_from_env(enum ps_simd *out, struct ps_errdetail *ed);

#endif
