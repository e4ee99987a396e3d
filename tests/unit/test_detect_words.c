/* test_detect_words.c - the tokenizer's fast path for plain words (ps_detect_word_flags) against
 * the definition of a token's features (ps_detect_token_flags): the same flags for every token of
 * 1 to 16 ASCII letters, with or without one closing mark after them, and 0 (not taken) for every
 * other token. Also a token's bits and fingerprint inside a text (8-byte loads, the tokenizer's
 * memo) against those at its end (byte-wise, no memo), and the promo words' key from one load
 * against its byte walk. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
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

/* A token's bits and fingerprint: alone in a text (its last 16 bytes are computed byte by byte,
 * without the tokenizer's memo) and inside one, followed by a space and padding (8-byte loads,
 * the memo). */
struct token_view {
    uint32_t bits;
    uint64_t fp;
};

static struct token_view view_of(const struct ps_detect *d, struct ps_detect_doc *doc,
                                 const char *text, size_t n_tok)
{
    ps_detect_prepare(doc, text, strlen(text));
    ps_detect_doc_need(d, doc, DOC_TOKENS);
    assert_int_equal(doc->n_tok, n_tok);
    return (struct token_view){doc->tflags[0], doc->tfp[0]};
}

static uint32_t stop_bits_of(const struct ps_detect *d, struct ps_detect_doc *doc,
                             const char *token, uint32_t *inside)
{
    char buf[64];
    struct token_view alone = view_of(d, doc, token, 1), in;

    assert_true(strlen(token) + 20 < sizeof(buf));
    snprintf(buf, sizeof(buf), "%s zzzzzzzzzzzzzzzz", token);
    in = view_of(d, doc, buf, 2);
    if (alone.bits != in.bits || alone.fp != in.fp)
        fail_msg("'%s': bits %#x alone, %#x inside a text; fingerprints %s", token, alone.bits,
                 in.bits, alone.fp == in.fp ? "equal" : "differ");
    *inside = in.bits & F_STOP_ANY;
    return alone.bits & F_STOP_ANY;
}

static void test_detect_stop_bits(void **state)
{
    static const struct {
        const char *token;
        uint32_t bits; /* of these, F_STOP_ANY must hold exactly these */
    } known[] = {
        {"the", F_STOP},       {"The", F_STOP},     {"(THE,", F_STOP}, {"\"the\".", F_STOP},
        {"der", F_STOP_DE},    {"Der:", F_STOP_DE}, {"xyz,", 0},       {"the's", 0},
        {"((((((the", F_STOP}, {"abcdefghi,", 0},   {"theory.", 0},    {"--", 0},
    };
    static const char *const pieces[] = {"the",
                                         "The",
                                         "der",
                                         "und",
                                         "les",
                                         "los",
                                         "of",
                                         "and",
                                         "abcdefgh",
                                         "abcdefghi",
                                         "x",
                                         "caf\xc3\xa9",
                                         "\xc3\xa9t\xc3\xa9",
                                         "\xe3\x81\xae",
                                         "9",
                                         "don't"};
    static const char punct[] = "(),.:;\"'-[]?!@_";
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = NULL;
    uint64_t x = 0x2545F4914F6CDD1Du;
    uint32_t inside, alone;

    (void)state;
    ps_detect_doc_new(&doc);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        uint32_t want = known[i].bits;

        alone = stop_bits_of(d, doc, known[i].token, &inside);

        if ((want != 0 && (alone & want) != want) || (want == 0 && alone != 0) || alone != inside)
            fail_msg("'%s': %#x alone, %#x inside a text, want %#x", known[i].token, alone, inside,
                     want);
    }
    /* more tokens than the memo has slots: collisions and words that share their first bytes */
    for (int n = 0; n < 100000; n++) {
        char token[40];
        size_t len = 0;

        /* up to 3 marks, a piece or two, up to 3 marks */
        for (int part = 0; part < 4; part++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (part == 0 || part == 3) {
                for (unsigned k = 0; k < x % 4; k++)
                    token[len++] = punct[(x >> (8 + 5 * k)) % (sizeof(punct) - 1)];
            } else if (part == 1 || x % 3 == 0) {
                const char *w = pieces[(x >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];

                memcpy(token + len, w, strlen(w));
                len += strlen(w);
            }
        }
        token[len] = '\0';
        alone = stop_bits_of(d, doc, token, &inside);
        if (alone != inside)
            fail_msg("'%s': %#x alone, %#x inside a text", token, alone, inside);
    }
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* The package manager key from one 8-byte load (ps_detect_manager_key8) against the byte walk:
 * the same key and dot for every length 0 to 8, with any byte in the word and past it. */
static void test_detect_manager_key8_random(void **state)
{
    /* either side of 'A'..'Z', '.', and the same with bit 7 set */
    static const unsigned char edges[] = {'@',  'A',  'M',  'Z',  '[',  '`',  'a',
                                          'z',  '{',  '.',  '-',  '0',  0x00, 0x7F,
                                          0xC0, 0xC1, 0xDA, 0xDB, 0xAE, 0x80, 0xFF};
    uint64_t x = 0x9E3779B97F4A7C15u;

    (void)state;
    for (int n = 0; n < 200000; n++) {
        char buf[8];
        size_t len;
        bool dot, dot8;
        uint64_t key, key8;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len = x % 9;
        for (size_t i = 0; i < sizeof(buf); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (char)(x % 2 ? edges[(x >> 8) % sizeof(edges)] : (unsigned char)(x >> 16));
        }
        key = ps_detect_manager_key(buf, len, &dot);
        key8 = ps_detect_manager_key8(buf, len, &dot8);
        assert_int_equal(key8, key);
        assert_int_equal(dot8, dot);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_word_flags_cases),
        cmocka_unit_test(test_detect_word_flags_random),
        cmocka_unit_test(test_detect_stop_bits),
        cmocka_unit_test(test_detect_manager_key8_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
