/* test_minhash_variants.c - every SIMD level this machine supports gives the same bits as the
 * scalar reference and as the golden vectors (tests/golden/minhash_vectors.h), on random and
 * real text, empty and one-word texts and hash counts around each vector width. Levels the CPU
 * lacks are skipped visibly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h"
#include "common/minhash.h"
#include "common/minhash_internal.h"
#include "tests/golden/minhash_vectors.h"

static struct ps_minhash *engine_at(enum ps_simd level, unsigned k, unsigned ngram,
                                    enum ps_minhash_method method, uint64_t seed)
{
    struct ps_minhash_opts o = ps_minhash_opts_default();
    struct ps_minhash *m = NULL;

    o.k = k;
    o.ngram = ngram;
    o.method = method;
    o.seed = seed;
    o.simd = level;
    assert_int_equal(ps_minhash_new(&m, &o, NULL), PS_OK);
    assert_int_equal(ps_minhash_simd(m), level);
    return m;
}

static bool level_or_skip(enum ps_simd level)
{
    if (!ps_cpu_simd_supported(level)) {
        print_message("SIMD level %s not supported on this machine: skipped\n",
                      ps_simd_name(level));
        return false;
    }
    return true;
}

static void check_golden(enum ps_simd level)
{
    size_t n_cases = sizeof(minhash_golden) / sizeof(minhash_golden[0]);
    uint32_t sig[PS_MINHASH_K_MAX];

    for (size_t c = 0; c < n_cases; c++) {
        const struct minhash_golden *g = &minhash_golden[c];
        struct ps_minhash *m =
            engine_at(level, g->k, g->ngram, (enum ps_minhash_method)g->method, g->seed);
        size_t n = 0;

        assert_int_equal(ps_minhash_text(m, g->text, g->len, sig, &n), PS_OK);
        assert_int_equal(n, g->n_shingles);
        if (memcmp(sig, g->sig, g->k * sizeof(*sig)) != 0)
            fail_msg("%s: golden case %zu differs", ps_simd_name(level), c);
        ps_minhash_free(m);
    }
}

/* Kernel: hash counts around every vector width, every k shape the kernels branch on. */
static void check_kernel_against_scalar(enum ps_simd level)
{
    const unsigned ks[] = {16, 32, 48, 64, 80, 112, 128, 256, 1008, 1024};
    const size_t ns[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000};
    uint64_t *h = malloc(1000 * sizeof(*h)), s = 0x5eed;
    uint32_t *want = malloc(PS_MINHASH_K_MAX * 4), *got = malloc(PS_MINHASH_K_MAX * 4);

    for (size_t i = 0; i < 1000; i++)
        h[i] = ps_minhash_splitmix64(&s);
    h[5] = 0;
    h[6] = UINT64_MAX;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        for (int method = 0; method < 2; method++) {
            struct ps_minhash *ref =
                engine_at(PS_SIMD_SCALAR, ks[ki], 5, (enum ps_minhash_method)method, ki + 1);
            struct ps_minhash *m =
                engine_at(level, ks[ki], 5, (enum ps_minhash_method)method, ki + 1);

            for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
                ps_minhash_from_hashes(ref, h, ns[ni], want);
                ps_minhash_from_hashes(m, h, ns[ni], got);
                if (memcmp(want, got, ks[ki] * 4) != 0)
                    fail_msg("%s: k %u method %d n %zu differs from scalar", ps_simd_name(level),
                             ks[ki], method, ns[ni]);
            }
            ps_minhash_free(ref);
            ps_minhash_free(m);
        }
    }
    free(h);
    free(want);
    free(got);
}

static size_t random_text(char *dst, size_t cap, uint64_t *s)
{
    static const char *const pieces[] = {"the", "of", "Poison", "DATA", " ", "  ", "\n", "\n\n",
                                         ",", ". ", "\xc3\xa9t\xc3\xa9",
                                         /* split: \xb3d would be one escape */
                                         ("\xc5\x81\xc3\xb3"
                                          "d\xc5\xba"),
                                         "\xe2\x80\x8b", "\xff", "\xe2\x80\x94", "x", "42", "\t"};
    size_t len = 0;

    while (len + 16 < cap) {
        const char *p = pieces[ps_minhash_splitmix64(s) % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);

        memcpy(dst + len, p, l);
        len += l;
        if (ps_minhash_splitmix64(s) % 50 == 0)
            break;
    }
    return len;
}

static void compare_text(struct ps_minhash *ref, struct ps_minhash *m, const char *text, size_t len,
                         const char *what)
{
    uint32_t want[PS_MINHASH_K_MAX], got[PS_MINHASH_K_MAX];
    size_t nw = 0, ng = 0;
    unsigned k = ps_minhash_k(ref);

    assert_int_equal(ps_minhash_text(ref, text, len, want, &nw), PS_OK);
    assert_int_equal(ps_minhash_text(m, text, len, got, &ng), PS_OK);
    assert_int_equal(nw, ng);
    if (memcmp(want, got, k * 4) != 0)
        fail_msg("%s: text '%s' (%zu bytes) differs from scalar", ps_simd_name(ps_minhash_simd(m)),
                 what, len);
}

static void check_texts_against_scalar(enum ps_simd level)
{
    const char *edge[] = {"",         " ",         "a",      "word",      "One",
                          "\xc3\x89", "two words", "\n\n\n", "a b c d e", "a b c d e f"};
    char *buf = malloc(1 << 16);
    uint64_t s = 99;

    for (int method = 0; method < 2; method++) {
        for (unsigned ngram = 1; ngram <= 6; ngram += 5) {
            struct ps_minhash *ref =
                engine_at(PS_SIMD_SCALAR, 128, ngram, (enum ps_minhash_method)method, 3);
            struct ps_minhash *m = engine_at(level, 128, ngram, (enum ps_minhash_method)method, 3);

            for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
                compare_text(ref, m, edge[i], strlen(edge[i]), edge[i]);
            for (int i = 0; i < 200; i++) {
                size_t len = random_text(buf, (size_t)1 << 16, &s);

                compare_text(ref, m, buf, len, "random");
            }
            ps_minhash_free(ref);
            ps_minhash_free(m);
        }
    }
    free(buf);
}

/* Real text: the licence texts Debian ships, when present. */
static void check_real_text_against_scalar(enum ps_simd level)
{
    const char *dir = "/usr/share/common-licenses";
    struct ps_minhash *ref = engine_at(PS_SIMD_SCALAR, 256, 5, PS_MINHASH_CLASSIC, 11);
    struct ps_minhash *m = engine_at(level, 256, 5, PS_MINHASH_CLASSIC, 11);
    struct ps_minhash *ref_oph = engine_at(PS_SIMD_SCALAR, 128, 5, PS_MINHASH_OPH, 11);
    struct ps_minhash *m_oph = engine_at(level, 128, 5, PS_MINHASH_OPH, 11);
    char *buf = malloc(1 << 20);
    DIR *d = opendir(dir);
    struct dirent *de;
    int n_files = 0;

    while (d != NULL && (de = readdir(d)) != NULL && n_files < 8) {
        char path[512];
        FILE *f;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        f = fopen(path, "rb");
        if (f == NULL)
            continue;
        len = fread(buf, 1, (size_t)1 << 20, f);
        fclose(f);
        compare_text(ref, m, buf, len, de->d_name);
        compare_text(ref_oph, m_oph, buf, len, de->d_name);
        n_files++;
    }
    if (d != NULL)
        closedir(d);
    if (n_files == 0)
        print_message("no files in %s: real-text comparison skipped\n", dir);
    free(buf);
    ps_minhash_free(ref);
    ps_minhash_free(m);
    ps_minhash_free(ref_oph);
    ps_minhash_free(m_oph);
}

static void run_level(enum ps_simd level)
{
    if (!level_or_skip(level)) {
        skip();
        return;
    }
    check_golden(level);
    check_kernel_against_scalar(level);
    check_texts_against_scalar(level);
    check_real_text_against_scalar(level);
}

static void test_minhash_scalar_matches_golden_vectors(void **state)
{
    (void)state;
    run_level(PS_SIMD_SCALAR);
}

static void test_minhash_avx2_is_bit_identical_to_scalar(void **state)
{
    (void)state;
    run_level(PS_SIMD_AVX2);
}

static void test_minhash_avx512_is_bit_identical_to_scalar(void **state)
{
    (void)state;
    run_level(PS_SIMD_AVX512);
}

/* One process can hold engines of different levels side by side. */
static void test_minhash_engines_of_different_levels_coexist(void **state)
{
    struct ps_minhash *a = engine_at(PS_SIMD_SCALAR, 128, 5, PS_MINHASH_CLASSIC, 1);
    struct ps_minhash *b;
    enum ps_simd best = ps_cpu_best_simd();
    const char *t = "a payload spliced into varied documents is near duplicate only as a segment";
    uint32_t sa[128], sb[128];

    (void)state;
    b = engine_at(best, 128, 5, PS_MINHASH_CLASSIC, 1);
    assert_int_equal(ps_minhash_simd(a), PS_SIMD_SCALAR);
    assert_int_equal(ps_minhash_simd(b), best);
    assert_int_equal(ps_minhash_text(a, t, strlen(t), sa, NULL), PS_OK);
    assert_int_equal(ps_minhash_text(b, t, strlen(t), sb, NULL), PS_OK);
    assert_memory_equal(sa, sb, sizeof(sa));
    ps_minhash_free(a);
    ps_minhash_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minhash_scalar_matches_golden_vectors),
        cmocka_unit_test(test_minhash_avx2_is_bit_identical_to_scalar),
        cmocka_unit_test(test_minhash_avx512_is_bit_identical_to_scalar),
        cmocka_unit_test(test_minhash_engines_of_different_levels_coexist),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
