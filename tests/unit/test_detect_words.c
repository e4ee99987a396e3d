/* test_detect_words.c - the tokenizer's fast path for plain words (ps_detect_word_flags) against
 * the definition of a token's features (ps_detect_token_flags): the same flags for every token of
 * 1 to 16 ASCII letters, with or without one closing mark after them, and 0 (not taken) for every
 * other token. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "worker/detect_internal.h"

static struct ps_detect *new_detect(void)
{
    struct ps_detect *d = NULL;
    struct ps_errdetail ed;

    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    return d;
}

static bool ascii_letters(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
            return false;
    return true;
}

/* Token p[0..len) followed by `pad` (the fast path loads 8 bytes whatever the length). */
static void check(const struct ps_detect *d, const char *token, const char *pad)
{
    unsigned char buf[48];
    size_t len = strlen(token);
    uint8_t fast;

    assert_true(len + strlen(pad) < sizeof(buf) && len + strlen(pad) >= 8);
    memcpy(buf, token, len);
    memcpy(buf + len, pad, strlen(pad));
    fast = ps_detect_word_flags(buf, len);
    if ((len >= 1 && len <= 16 && ascii_letters(buf, len)) ||
        (len >= 2 && len <= 17 && ascii_letters(buf, len - 1) &&
         strchr(",.:;!?)]\"", buf[len - 1])))
        assert_int_equal(fast, ps_detect_token_flags(d, buf, len));
    else
        assert_int_equal(fast, 0);
}

static void test_detect_word_flags_cases(void **state)
{
    static const char *const tokens[] = {"a",
                                         "I",
                                         "Word",
                                         "word",
                                         "WORD",
                                         "wOrd",
                                         "WoRD",
                                         "abcdefgh",
                                         "ABCDEFGH",
                                         "Abcdefgh",
                                         "abcdefghi",
                                         "word,",
                                         "(word",
                                         "don't",
                                         "e-mail",
                                         "x86",
                                         "@",
                                         "Zz",
                                         "zZ",
                                         "caf\xc3\xa9",
                                         "`z",
                                         "z{",
                                         "[",
                                         "{",
                                         "",
                                         "end.",
                                         "Word,",
                                         "WORD:",
                                         "wOrd;",
                                         "abcdefgh)",
                                         "abcdefghi.",
                                         "a\"",
                                         "x.,",
                                         ".",
                                         "(word)",
                                         "word(",
                                         "x86.",
                                         "abcdefghijkl",
                                         "Abcdefghijkl",
                                         "ABCDEFGHIJKL",
                                         "abcdefghijklm",
                                         "Abcdefghijklmnop",
                                         "ABCDEFGHIJKLMNOP",
                                         "abcdefghiJklmnop",
                                         "abcdefghijklmnopq",
                                         "Documentation,",
                                         "documentatiOn",
                                         "DOCUMENTATIOn",
                                         "implementations.",
                                         "abcdefgh\xc3\xa9",
                                         "abcdefghijklmnop)",
                                         "abcdefghijklmnopq.",
                                         "abcdefgh9ijk",
                                         "9bcdefghijk",
                                         "abcdefghijk-"};
    static const char *const pads[] = {"        ", "ZZZZZZZZ", "\x80\x80\x80\x80\x80\x80\x80\x80"};
    struct ps_detect *d = new_detect();

    (void)state;
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        for (size_t k = 0; k < sizeof(pads) / sizeof(pads[0]); k++)
            check(d, tokens[i], pads[k]);
    ps_detect_free(d);
}

/* Random tokens over the bytes either side of each range the fast path tests. */
static void test_detect_word_flags_random(void **state)
{
    static const char alphabet[] = "aAzZmM@[`{09.,-'(_\x7f\xc3\xa9)]:;!?\"";
    struct ps_detect *d = new_detect();
    uint64_t x = 0x9E3779B97F4A7C15u;

    (void)state;
    for (int n = 0; n < 200000; n++) {
        char token[24], pad[9];
        size_t len;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len = 1 + x % 19;
        /* mostly letters, so that long tokens reach the second load's test */
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            token[i] = x % 4 != 0
                           ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(x >> 8) % 52]
                           : alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
        }
        token[len] = '\0';
        for (size_t i = 0; i < 8; i++)
            pad[i] = alphabet[(x >> (3 + 7 * i)) % (sizeof(alphabet) - 1)];
        pad[8] = '\0';
        check(d, token, pad);
    }
    ps_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_word_flags_cases),
        cmocka_unit_test(test_detect_word_flags_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
