/* minhash_text.c - the text side of MinHash: normalization into words, paragraph breaks, and the
 * XXH3-64 hashes of word n-gram shingles. The one file that hashes shingles, so it inlines xxHash
 * (short keys then cost a few ns). docs/minhash.md "Normalization" is the definition. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <emmintrin.h>

#include "common/error.h"
#include "common/minhash_internal.h"
#include "common/utf8.h"

/* ASCII letters and digits to their lowercase byte; every other byte 0. One lookup per byte keeps
 * the ASCII fast path a tight loop (normalization bounds end-to-end speed once OPH is used). */
static const uint8_t ascii_word[256] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0,    0,    0,    0,    0,    0,
    0,    0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0,    0,    0,    0,    0,
    0,    0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
};

/* SWAR byte-range test (Bit Twiddling Hacks, "hasbetween"): 0x80 in every byte of x with
 * m < byte < n, exact per byte for 0 <= m <= 127, n <= 128; bytes >= 0x80 never match. Words are
 * little-endian loads, so the lowest set flag is the first byte in text order. */
#define ONES UINT64_C(0x0101010101010101)
#define BETWEEN(x, m, n)                                                                           \
    (((ONES * (127 + (n)) - ((x) & (ONES * 127))) & ~(x) &                                         \
      (((x) & (ONES * 127)) + ONES * (127 - (m)))) &                                               \
     (ONES * 128))

enum cp_class { CP_WORD, CP_SEPARATOR, CP_IGNORABLE };

/* Non-ASCII punctuation and spaces separate words; format characters (soft hyphen, zero-width and
 * bidi controls, BOM) are dropped without splitting, so "trig\u200Bger" is "trigger": hiding a
 * trigger phrase behind invisible characters must not change its shingles. */
static enum cp_class cp_classify(uint32_t cp)
{
    if (cp == 0xAD)
        return CP_IGNORABLE;
    if (cp < 0xA0)
        return CP_SEPARATOR;
    if (cp <= 0xBF) {
        if (cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
            (cp >= 0xBC && cp <= 0xBE))
            return CP_WORD;
        return CP_SEPARATOR;
    }
    if (cp == 0xD7 || cp == 0xF7)
        return CP_SEPARATOR;
    if (cp >= 0x2000 && cp <= 0x206F) {
        if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
            (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206F))
            return CP_IGNORABLE;
        return CP_SEPARATOR;
    }
    if (cp >= 0x3000 && cp <= 0x3003)
        return CP_SEPARATOR;
    if (cp == 0xFEFF)
        return CP_IGNORABLE;
    return CP_WORD;
}

/* Simple (one to one) lowercase of Latin-1 Supplement, Latin Extended-A, basic Greek and Cyrillic,
 * from Unicode's UnicodeData.txt; other code points are kept. */
static uint32_t cp_lower(uint32_t cp)
{
    if (cp < 0x100)
        return (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ? cp + 0x20 : cp;
    if (cp < 0x180) {
        if (cp == 0x130)
            return 0x69;
        if (cp == 0x178)
            return 0xFF;
        if (cp <= 0x12F || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
            return cp | 1;
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            return (cp & 1) ? cp + 1 : cp;
        return cp;
    }
    if (cp >= 0x386 && cp <= 0x3A9) {
        if (cp >= 0x391 && cp != 0x3A2)
            return cp + 0x20;
        if (cp == 0x386)
            return 0x3AC;
        if (cp >= 0x388 && cp <= 0x38A)
            return cp + 0x25;
        if (cp == 0x38C)
            return 0x3CC;
        if (cp == 0x38E || cp == 0x38F)
            return cp + 0x3F;
        return cp;
    }
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 0x50;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 0x20;
    return cp;
}

static char *utf8_encode(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

void ps_minhash_words_release(struct ps_minhash_words *w)
{
    free(w->norm);
    free(w->nstart);
    free(w->obegin);
    free(w->oend);
    free(w->para);
    free(w->hashes);
    memset(w, 0, sizeof(*w));
}

static void grow_words(struct ps_minhash_words *w)
{
    size_t cap = w->words_cap < 64 ? 64 : w->words_cap * 2;

    w->nstart = ps_xrealloc(w->nstart, cap * sizeof(*w->nstart));
    w->obegin = ps_xrealloc(w->obegin, cap * sizeof(*w->obegin));
    w->oend = ps_xrealloc(w->oend, cap * sizeof(*w->oend));
    w->words_cap = cap;
}

static void push_para(struct ps_minhash_words *w, size_t first_word)
{
    if (w->n_paras == w->para_cap) {
        w->para_cap = w->para_cap < 16 ? 16 : w->para_cap * 2;
        w->para = ps_xrealloc(w->para, w->para_cap * sizeof(*w->para));
    }
    w->para[w->n_paras++] = (uint32_t)first_word;
}

static bool is_ascii_space(unsigned c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* norm keeps room past the content for the 8- and 16-byte overlapping copies */
#define NORM_SLACK 64

/* One 64-byte block of pure ASCII, classified with SSE2 (baseline x86-64): bit p of a mask is
 * byte p. The block path is ps_minhash_normalize_bytes() with the branches per byte replaced by
 * a loop per word; tests compare the two on random text. */
struct block64 {
    uint64_t word;        /* ASCII letters and digits */
    uint64_t newline;     /* '\n' */
    uint64_t content;     /* anything but ASCII whitespace: ends a blank line */
    uint8_t low[64 + 16]; /* the block lowercased, + slack for 16-byte copies */
};

static uint64_t below(unsigned p)
{
    return p >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << p) - 1;
}

static int ctz64_or_64(uint64_t x)
{
    return x == 0 ? 64 : __builtin_ctzll(x);
}

/* At least one 16-byte copy, even for an empty run (o has the slack): most words fit in one. */
static void copy_run(char *o, const uint8_t *low, unsigned from, unsigned to)
{
    unsigned k = from;

    do {
        memcpy(o + (k - from), low + k, 16);
        k += 16;
    } while (k < to);
}

static bool classify64(const unsigned char *src, struct block64 *b)
{
    uint64_t word = 0, nl = 0, content = 0;

    for (int q = 0; q < 4; q++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(src + 16 * q));
        __m128i upper, lower, digit, ws;

        if (_mm_movemask_epi8(v) != 0)
            return false;
        upper = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                              _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
        lower = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                              _mm_cmplt_epi8(v, _mm_set1_epi8('z' + 1)));
        digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                              _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
        /* ' ' and \t \n \v \f \r (0x09 to 0x0D) */
        ws = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                          _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x08)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8(0x0E))));
        word |=
            (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(upper, lower), digit))
            << (16 * q);
        nl |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')))
              << (16 * q);
        content |= (uint64_t)(unsigned)(~_mm_movemask_epi8(ws) & 0xFFFF) << (16 * q);
        _mm_storeu_si128((__m128i *)(void *)(b->low + 16 * q),
                         _mm_add_epi8(v, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
    }
    b->word = word;
    b->newline = nl;
    b->content = content;
    return true;
}

static void normalize(struct ps_minhash_words *w, const char *text, size_t len, bool blocks)
{
    const unsigned char *s = (const unsigned char *)text;
    char *o, *norm;
    uint32_t *nstart, *obegin, *oend;
    size_t i = 0, nw = 0, word_end = 0, words_cap;
    bool in_word = false, line_blank = false, pending_break = false;

    /* the normalized text is never longer than the input: every mapping keeps or shrinks the
     * UTF-8 length and runs of separators become one space */
    if (w->norm_cap < len + NORM_SLACK) {
        free(w->norm);
        w->norm_cap = len + NORM_SLACK < 4096 ? 4096 : len + NORM_SLACK + len / 4;
        w->norm = ps_xmalloc(w->norm_cap);
    }
    if (w->words_cap == 0)
        grow_words(w);
    norm = w->norm;
    o = norm;
    w->n_paras = 0;
    /* the word arrays in locals: every byte stored through o may alias w, and reloading them
     * per word cost a third of normalizing */
    nstart = w->nstart;
    obegin = w->obegin;
    oend = w->oend;
    words_cap = w->words_cap;

    /* a word starts a paragraph when it is the first or a blank line came before it */
#define START_WORD(pos)                                                                            \
    do {                                                                                           \
        if (nw + 1 >= words_cap) {                                                                 \
            grow_words(w);                                                                         \
            nstart = w->nstart;                                                                    \
            obegin = w->obegin;                                                                    \
            oend = w->oend;                                                                        \
            words_cap = w->words_cap;                                                              \
        }                                                                                          \
        if (nw == 0) {                                                                             \
            push_para(w, 0);                                                                       \
        } else {                                                                                   \
            if (pending_break)                                                                     \
                push_para(w, nw);                                                                  \
            *o++ = ' ';                                                                            \
        }                                                                                          \
        pending_break = false;                                                                     \
        line_blank = false;                                                                        \
        nstart[nw] = (uint32_t)(o - norm);                                                         \
        obegin[nw] = (uint32_t)(pos);                                                              \
        in_word = true;                                                                            \
    } while (0)
#define END_WORD()                                                                                 \
    do {                                                                                           \
        oend[nw++] = (uint32_t)word_end;                                                           \
        in_word = false;                                                                           \
    } while (0)

    while (i < len) {
        size_t stop_at = len;

        if (blocks && len - i >= 64) {
            struct block64 b;

            if (classify64(s + i, &b)) {
                uint64_t wm = b.word, starts, ev;
                int last_nl = -1;

                /* a word that runs in from the previous block */
                if (in_word) {
                    unsigned e = wm & 1 ? (unsigned)ctz64_or_64(~wm) : 0;

                    copy_run(o, b.low, 0, e);
                    o += e;
                    /* e == 0: the word ended before this block, maybe behind ignorable code
                     * points that do not move its end */
                    if (e > 0)
                        word_end = i + e;
                    if (e < 64)
                        END_WORD();
                    starts = wm & ~((wm << 1) | 1);
                } else {
                    starts = wm & ~(wm << 1);
                }
                /* words and newlines in text order; the lowest set bit is the next event */
                ev = starts | b.newline;
                while (ev != 0) {
                    unsigned p = (unsigned)__builtin_ctzll(ev);

                    ev &= ev - 1;
                    if ((b.newline >> p) & 1) {
                        uint64_t between =
                            last_nl < 0 ? below(p) : below(p) & ~below((unsigned)last_nl + 1);

                        /* the line that ends here is blank: a newline before it, no content */
                        if ((b.content & between) == 0 && (last_nl >= 0 || line_blank))
                            pending_break = true;
                        last_nl = (int)p;
                        /* the line after this newline starts blank */
                        line_blank = true;
                        continue;
                    }
                    {
                        unsigned e = p + (unsigned)ctz64_or_64(~(wm >> p));

                        START_WORD(i + p);
                        copy_run(o, b.low, p, e);
                        o += e - p;
                        word_end = i + e;
                        if (e < 64)
                            END_WORD();
                    }
                }
                /* blank-line state at the block end: content after the last newline? */
                if (last_nl >= 0)
                    line_blank = (b.content & ~below((unsigned)last_nl + 1)) == 0;
                else if (b.content != 0)
                    line_blank = false;
                i += 64;
                continue;
            }
            stop_at = i + 64;
        }
        while (i < stop_at && i < len) {
            unsigned c = s[i];
            uint8_t l = ascii_word[c];

            if (l != 0) {
                if (!in_word)
                    START_WORD(i);
                /* eight bytes at a time: lowercase them all, keep the ones up to the first non-word
                 * byte (norm has 8 bytes of slack and the output never runs ahead of the input) */
                while (i + 8 <= len) {
                    uint64_t x, lw, stop;

                    memcpy(&x, s + i, 8);
                    lw = x | (BETWEEN(x, 'A' - 1, 'Z' + 1) >> 2);
                    memcpy(o, &lw, 8);
                    stop = ~(BETWEEN(x, '0' - 1, '9' + 1) |
                             BETWEEN(x | (ONES * 0x20), 'a' - 1, 'z' + 1)) &
                           (ONES * 0x80);
                    if (stop == 0) {
                        o += 8;
                        i += 8;
                        continue;
                    }
                    stop = (unsigned)__builtin_ctzll(stop) / 8;
                    o += stop;
                    i += stop;
                    goto word_done;
                }
                while (i < len && (l = ascii_word[s[i]]) != 0) {
                    *o++ = (char)l;
                    i++;
                }
            word_done:
                word_end = i;
                continue;
            }
            if (c < 0x80) {
                if (in_word)
                    END_WORD();
                if (c == '\n') {
                    if (line_blank)
                        pending_break = true;
                    line_blank = true;
                } else if (!is_ascii_space(c)) {
                    line_blank = false;
                }
                i++;
                continue;
            }
            {
                uint32_t cp = 0;
                size_t n = ps_utf8_decode((const char *)s + i, len - i, &cp);

                if (n == 0) {
                    /* an invalid byte is kept verbatim as a one-byte word character */
                    if (!in_word)
                        START_WORD(i);
                    *o++ = (char)c;
                    i++;
                    word_end = i;
                    continue;
                }
                switch (cp_classify(cp)) {
                case CP_IGNORABLE:
                    break;
                case CP_SEPARATOR:
                    if (in_word)
                        END_WORD();
                    line_blank = false;
                    break;
                case CP_WORD:
                    if (!in_word)
                        START_WORD(i);
                    o = utf8_encode(o, cp_lower(cp));
                    word_end = i + n;
                    break;
                }
                i += n;
            }
        }
    }
    if (in_word)
        END_WORD();
#undef START_WORD
#undef END_WORD
    w->n_words = nw;
    /* sentinel: word i ends at nstart[i + 1] - 1 for every i, the last one included */
    nstart[nw] = (uint32_t)(o - norm) + 1;
}

void ps_minhash_normalize(struct ps_minhash_words *w, const char *text, size_t len)
{
    normalize(w, text, len, true);
}

void ps_minhash_normalize_bytes(struct ps_minhash_words *w, const char *text, size_t len)
{
    normalize(w, text, len, false);
}

static void reserve_hashes(struct ps_minhash_words *w, size_t n)
{
    if (w->hashes_cap < n) {
        free(w->hashes);
        w->hashes_cap = n + n / 4;
        w->hashes = ps_xmalloc(w->hashes_cap * sizeof(*w->hashes));
    }
}

/* hashes[j] for j in [from, to): the join of words [j, j + span) */
static void hash_from(struct ps_minhash_words *w, size_t from, size_t to, size_t span,
                      uint64_t seed)
{
    for (size_t j = from; j < to; j++) {
        uint32_t b = w->nstart[j];
        uint32_t e = w->nstart[j + span] - 1;

        w->hashes[j] = XXH3_64bits_withSeed(w->norm + b, e - b, seed);
    }
}

size_t ps_minhash_hash_shingles(struct ps_minhash_words *w, unsigned ngram, uint64_t seed)
{
    size_t n;

    if (w->n_words == 0)
        return 0;
    n = w->n_words >= ngram ? w->n_words - ngram + 1 : 1;
    reserve_hashes(w, n);
    hash_from(w, 0, n, ngram <= w->n_words ? ngram : w->n_words, seed);
    return n;
}

void ps_minhash_hash_span(struct ps_minhash_words *w, size_t first, size_t count, unsigned ngram,
                          uint64_t seed)
{
    reserve_hashes(w, w->n_words - ngram + 1); /* room for every span of the text at once */
    hash_from(w, first, first + count - ngram + 1, ngram, seed);
}

/* A word starts a run of bytes that are ASCII letters, digits or >= 0x80, or follows a non-ASCII
 * separator inside such a run, whose lead byte is >= 0xC0: runs plus lead bytes bound the words
 * from above, and for pure ASCII are exactly them. *prev: the last byte was in a run. */
static unsigned bound16(__m128i v, unsigned *prev)
{
    __m128i lc = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lc, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(lc, _mm_set1_epi8('z' + 1)));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    __m128i high = _mm_cmplt_epi8(v, _mm_setzero_si128());
    __m128i lead = _mm_and_si128(high, _mm_cmpgt_epi8(v, _mm_set1_epi8((char)0xBF)));
    uint32_t run = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), high));
    uint32_t x = (run & ~((run << 1) | *prev)) | (uint32_t)_mm_movemask_epi8(lead) << 16;

    *prev = run >> 15;
    /* population count without POPCNT (not in baseline x86-64) */
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

size_t ps_minhash_words_bound(const char *text, size_t text_len, size_t enough)
{
    size_t n = 0;
    unsigned prev = 0;

    for (size_t i = 0; i < text_len && n < enough; i += 16) {
        unsigned char tail[16] = {0}; /* NUL separates and leads nothing */
        const void *p = text + i;

        if (text_len - i < 16) {
            memcpy(tail, text + i, text_len - i);
            p = tail;
        }
        n += bound16(_mm_loadu_si128((const __m128i *)p), &prev);
    }
    return n < enough ? n : enough;
}

uint64_t ps_minhash_hash_words(const struct ps_minhash_words *w, size_t first, size_t count,
                               uint64_t seed)
{
    uint32_t b = w->nstart[first];
    uint32_t e = w->nstart[first + count] - 1;

    return XXH3_64bits_withSeed(w->norm + b, e - b, seed);
}

uint64_t ps_minhash_hash_bytes(const void *src, size_t src_len, uint64_t seed)
{
    return XXH3_64bits_withSeed(src, src_len, seed);
}
