/* detect_tokenize.c - the parts of a prepared document: tokens (8 bytes at a time between
 * candidate spaces) with their stop-word bits, features and fingerprints (from a memo of the
 * commonest words), the single-spaced copy that confirm searches, and each token's next
 * occurrence for its role tests. Each is computed once per document, when a stage first asks for
 * it. */
#include "worker/detect_internal.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* tokens are short: inlined XXH3 skips a call and the length dispatch */
#include <xxhash.h>

#include "common/utf8.h"

#define PLAIN_MAX 12 /* longest plain word; gibberish words run together to 10-13 and more */

static const char *const stop_words[] = {
    "a",        "about",   "above",   "across",   "after",    "again",   "against", "all",
    "almost",   "along",   "already", "also",     "although", "always",  "am",      "among",
    "an",       "and",     "another", "any",      "anything", "are",     "around",  "as",
    "at",       "be",      "because", "been",     "before",   "being",   "below",   "between",
    "both",     "but",     "by",      "can",      "cannot",   "could",   "did",     "do",
    "does",     "doing",   "done",    "down",     "during",   "each",    "either",  "else",
    "enough",   "even",    "ever",    "every",    "few",      "for",     "from",    "further",
    "had",      "has",     "have",    "having",   "he",       "her",     "here",    "hers",
    "herself",  "him",     "himself", "his",      "how",      "however", "i",       "if",
    "in",       "into",    "is",      "it",       "its",      "itself",  "just",    "least",
    "less",     "like",    "many",    "may",      "me",       "might",   "more",    "most",
    "much",     "must",    "my",      "myself",   "neither",  "never",   "no",      "nor",
    "not",      "nothing", "now",     "of",       "off",      "often",   "on",      "once",
    "one",      "only",    "onto",    "or",       "other",    "others",  "our",     "ours",
    "out",      "over",    "own",     "per",      "perhaps",  "quite",   "rather",  "same",
    "shall",    "she",     "should",  "since",    "so",       "some",    "still",   "such",
    "than",     "that",    "the",     "their",    "theirs",   "them",    "then",    "there",
    "these",    "they",    "this",    "those",    "though",   "through", "thus",    "to",
    "too",      "toward",  "towards", "under",    "unless",   "until",   "up",      "upon",
    "us",       "very",    "via",     "was",      "we",       "well",    "were",    "what",
    "whatever", "when",    "where",   "whether",  "which",    "while",   "who",     "whom",
    "whose",    "why",     "will",    "with",     "within",   "without", "would",   "yet",
    "you",      "your",    "yours",   "yourself",
};

/* Function words of German, French and Spanish that are ASCII and at most 8 letters (the key
 * packs 8 bytes); enough to put prose in these languages at 25-40 % stop words. */
static const char *const stop_words_de[] = {
    "der",   "die",    "das",    "den",    "dem",    "des",   "ein",   "eine", "einer", "eines",
    "einem", "einen",  "und",    "oder",   "aber",   "nicht", "ist",   "sind", "war",   "waren",
    "wird",  "werden", "wurde",  "wurden", "hat",    "haben", "hatte", "sich", "mit",   "von",
    "zu",    "zum",    "zur",    "im",     "auf",    "aus",   "bei",   "nach", "vor",   "durch",
    "als",   "auch",   "wie",    "wenn",   "dass",   "es",    "er",    "sie",  "wir",   "ihr",
    "ich",   "du",     "man",    "kann",   "nur",    "noch",  "schon", "sehr", "dann",  "hier",
    "diese", "dieser", "dieses", "diesem", "diesen", "kein",  "keine", "alle", "bis",   "ohne",
    "um",    "gegen",  "sein",   "seine",  "ihre",   "wo",    "was",   "wer",
};
static const char *const stop_words_fr[] = {
    "le",    "la",    "les",  "un",    "une",  "des",  "du",    "de",    "et",    "ou",
    "mais",  "ne",    "pas",  "est",   "sont", "ont",  "il",    "elle",  "ils",   "elles",
    "nous",  "vous",  "je",   "tu",    "on",   "ce",   "cet",   "cette", "ces",   "qui",
    "que",   "quoi",  "dont", "dans",  "sur",  "sous", "avec",  "pour",  "par",   "sans",
    "entre", "vers",  "chez", "au",    "aux",  "en",   "se",    "sa",    "son",   "ses",
    "leur",  "leurs", "plus", "moins", "tout", "tous", "comme", "si",    "aussi", "donc",
    "car",   "ni",    "lui",  "y",     "fait", "peut", "doit",  "ainsi", "alors",
};
static const char *const stop_words_es[] = {
    "el",    "la",   "los",   "las",  "un",     "una",   "unos",  "unas",  "y",     "o",
    "pero",  "no",   "es",    "son",  "era",    "fue",   "ser",   "de",    "del",   "al",
    "en",    "con",  "por",   "para", "sin",    "sobre", "entre", "hasta", "desde", "que",
    "quien", "cual", "donde", "como", "cuando", "su",    "sus",   "se",    "lo",    "le",
    "les",   "muy",  "ya",    "este", "esta",   "estos", "estas", "ese",   "esa",   "puede",
};

static uint64_t stop_key(const unsigned char *p, size_t len)
{
    uint64_t k = 0;
    size_t j;

    /* | 0x20 lower-cases ASCII letters; callers pass letters only */
    for (j = 0; j < len; j++)
        k |= (uint64_t)(p[j] | 0x20) << (8 * j);
    return k;
}

static size_t stop_slot(uint64_t key)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - STOP_LOG2));
}

/* The F_STOP* bits of a packed word, 0 if it is no stop word. */
static uint32_t stop_bits(const struct ps_detect *d, uint64_t key)
{
    size_t i = stop_slot(key);

    while (d->stop[i] != 0) {
        if (d->stop[i] == key)
            return d->stop_lang[i];
        i = (i + 1) & (STOP_SLOTS - 1);
    }
    return 0;
}

void ps_detect_stop_add(struct ps_detect *d, const char *word, uint32_t bits)
{
    size_t len = strlen(word), s;
    uint64_t key;

    if (len == 0 || len > STOP_MAX_LEN)
        ps_bug("stop word '%s' does not fit a 64-bit key", word);
    key = stop_key((const unsigned char *)word, len);
    s = stop_slot(key);
    while (d->stop[s] != 0 && d->stop[s] != key)
        s = (s + 1) & (STOP_SLOTS - 1);
    d->stop[s] = key;
    d->stop_lang[s] |= bits;
}

static void add_stop_words(struct ps_detect *d, const char *const *words, size_t n, uint32_t bit)
{
    for (size_t i = 0; i < n; i++)
        ps_detect_stop_add(d, words[i], bit);
}

void ps_detect_tables_init(struct ps_detect *d)
{
    size_t c;

    for (c = 0; c < 256; c++) {
        uint16_t k = 0;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
            k = C_SPACE;
        else if (c >= 'a' && c <= 'z')
            k = C_LOWER;
        else if (c >= 'A' && c <= 'Z')
            k = C_UPPER;
        else if (c >= '0' && c <= '9')
            k = C_DIGIT;
        else if (c >= 0x80)
            k = C_HIGH;
        else if (c == '\'' || c == '-')
            k = C_PUNCT;
        else if (strchr("!\"(),.:;?[]", (int)c) != NULL && c != 0)
            k = C_PUNCT | C_HARD; /* prose punctuation */
        else
            k = C_PUNCT | C_HARD | C_CODE; /* the rest of ASCII: symbols, controls, DEL */
        if (c == 0xC2 || c == 0xE1 || c == 0xE2 || c == 0xE3)
            k |= C_ULEAD;
        d->cls[c] = k;
        d->sent_cls[c] = 0;
        if (c == '"' || c == '\'' || c == ')' || c == ']' || c == 0)
            d->sent_cls[c] = S_CLOSE;
        else if (c == '.' || c == '!' || c == '?')
            d->sent_cls[c] = S_TERM;
    }
    memset(d->stop, 0, sizeof(d->stop));
    memset(d->stop_lang, 0, sizeof(d->stop_lang));
#define ADD(words, bit) add_stop_words(d, words, sizeof(words) / sizeof(words[0]), bit)
    ADD(stop_words, F_STOP);
    ADD(stop_words_de, F_STOP_DE);
    ADD(stop_words_fr, F_STOP_FR);
    ADD(stop_words_es, F_STOP_ES);
#undef ADD
}

static void grow_tokens(const struct ps_detect *d, struct ps_detect_doc *doc)
{
    size_t cap = doc->tok_cap != 0 ? doc->tok_cap * 2 : 1024;

    if (cap > d->o.max_tokens)
        cap = d->o.max_tokens;
    doc->tstart = ps_xrealloc(doc->tstart, cap * sizeof(*doc->tstart));
    doc->tend = ps_xrealloc(doc->tend, cap * sizeof(*doc->tend));
    doc->tflags = ps_xrealloc(doc->tflags, cap * sizeof(*doc->tflags));
    doc->tfp = ps_xrealloc(doc->tfp, cap * sizeof(*doc->tfp));
    doc->tok_cap = cap;
}

/* Runs of hard punctuation and of everything else in a token: 3 or more means it has glued
 * pieces ("<SUDO>),", "'<x>"); the common "word," or "(word" has two. */
static unsigned hard_runs(const uint16_t *cls, const unsigned char *p, size_t len)
{
    unsigned runs = 1;
    size_t j;

    for (j = 1; j < len; j++)
        runs += ((cls[p[j]] ^ cls[p[j - 1]]) & C_HARD) != 0;
    return runs;
}

uint8_t ps_detect_token_flags(const struct ps_detect *d, const unsigned char *p, size_t len)
{
    const uint16_t *cls = d->cls;
    size_t s = 0, e = len, j;
    unsigned edge = 0, rest = 0, all, first;
    uint8_t f = 0;

    while (s < e && (cls[p[s]] & C_PUNCT))
        edge |= cls[p[s++]];
    while (e > s && (cls[p[e - 1]] & C_PUNCT))
        edge |= cls[p[--e]];
    if (s == e) /* punctuation only: "(", "--" in prose are ordinary, "{" or "=>" are not */
        return (edge & C_CODE) ? 0 : F_PLAIN;
    for (j = s + 1; j < e; j++)
        rest |= cls[p[j]];
    first = cls[p[s]];
    all = rest | first;
    if (first & (C_UPPER | C_HIGH))
        f |= F_CAP;
    if ((all & C_HARD) || ((edge & C_HARD) && hard_runs(cls, p, len) >= 3))
        f |= F_SPLIT;
    if (!(all & (C_DIGIT | C_HARD)) && !(edge & C_CODE))
        f |= F_ALPHA;
    /* plain: Word, word, WORD (acronyms) or a number; ' or - inside, prose punctuation at the
     * edges. C_HARD covers C_CODE, and bytes >= 0x80 fail every branch. */
    if (e - s <= PLAIN_MAX && !(edge & C_CODE) && !(all & C_HARD) &&
        (!(all & ~(unsigned)C_DIGIT) ||
         ((first & (C_LOWER | C_UPPER)) && !(rest & ~(unsigned)(C_LOWER | C_PUNCT))) ||
         !(all & ~(unsigned)(C_UPPER | C_PUNCT))))
        f |= F_PLAIN;
    return f;
}

/* The tokenizer reads 8 bytes at a time: the byte-wise loads below compile to one load on the
 * usual targets and give the same little-endian word everywhere. */
#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* High bit set in each byte that is <= 0x20 or >= 0x80 (whitespace can only be among them).
 * Borrows can set false bits, but only above a true one, so the lowest set bit is exact. */
static inline uint64_t special_bytes(uint64_t w)
{
    return (((w - 0x21 * ONES) & ~w) | w) & HIGHS;
}

static inline int lowest_byte(uint64_t m)
{
    return __builtin_ctzll(m) >> 3;
}

/* Letters of the 8 bytes w (a high bit per byte), and which of them are capitals; 0 when any
 * byte is no ASCII letter. As in stop_flag: with no byte >= 0x80, y | 0x20 is a letter iff it
 * lies in 0x61..0x7A. */
static inline uint64_t letters8(uint64_t w, uint64_t *upper)
{
    uint64_t y = w | 0x20 * ONES;
    uint64_t letters = (y + 0x1F * ONES) & ~(y + 0x05 * ONES) & HIGHS;

    if ((w & HIGHS) || letters != HIGHS)
        return 0;
    *upper = letters & ~((w & 0x20 * ONES) << 2); /* a letter without the 0x20 bit */
    return letters;
}

/* word_flags of 9 to 16 letters, from two loads that overlap inside the word (none past it):
 * the first holds the first byte, the second does not. Out of line: inlined, it made the
 * common short word's test too big to inline where every token asks. */
__attribute__((noinline)) static uint8_t long_word_flags(const unsigned char *p, size_t len)
{
    uint64_t up1, up2;
    uint8_t f = F_ALPHA;

    if (letters8(load64(p), &up1) == 0 || letters8(load64(p + len - 8), &up2) == 0)
        return 0;
    if (up1 & 0x80)
        f |= F_CAP;
    /* Word, word, WORD; not wOrd */
    if (len <= PLAIN_MAX &&
        ((!(up1 & ~UINT64_C(0x80)) && up2 == 0) || (up1 == HIGHS && up2 == HIGHS)))
        f |= F_PLAIN;
    return f;
}

/* always_inline, here and in the two callers below: every token the memo misses asks, and gcc
 * stops inlining the chain as soon as it grows (a call per token). */
__attribute__((always_inline)) static inline uint8_t word_flags(const unsigned char *p, size_t len)
{
    uint64_t keep, w, y, letters, upper;
    uint8_t f = F_ALPHA;

    if (len == 0 || len > 16)
        return 0;
    if (len > 8)
        return long_word_flags(p, len);
    keep = len == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * len)) - 1;
    w = load64(p) & keep;
    y = w | (0x20 * ONES & keep);
    /* as in letters8, the bytes past the word masked off */
    letters = (y + 0x1F * ONES) & ~(y + 0x05 * ONES) & HIGHS & keep;
    if ((w & HIGHS) || letters != (HIGHS & keep))
        return 0;
    upper = letters & ~((w & 0x20 * ONES) << 2);
    if (upper & 0x80)
        f |= F_CAP;
    if (!(upper & ~UINT64_C(0x80)) || upper == letters) /* Word, word, WORD; not wOrd */
        f |= F_PLAIN;
    return f;
}

/* A sentence's or clause's closing mark: prose punctuation (C_HARD, not C_CODE) that leaves a
 * word's features as they are ("word," has two runs, no split). */
static inline bool closing_mark(unsigned char c)
{
    switch (c) {
    case ',':
    case '.':
    case ':':
    case ';':
    case '!':
    case '?':
    case ')':
    case ']':
    case '"':
        return true;
    default:
        return false;
    }
}

/* word_flags, or those of the word before one closing mark ("word,", "end."). */
__attribute__((always_inline)) static inline uint8_t word_or_clause_flags(const unsigned char *p,
                                                                          size_t len)
{
    uint8_t f = word_flags(p, len);

    if (f == 0 && len >= 2 && closing_mark(p[len - 1]))
        f = word_flags(p, len - 1);
    return f;
}

uint8_t ps_detect_word_flags(const unsigned char *p, size_t len)
{
    return word_or_clause_flags(p, len);
}

/* The bytes of [0, len) of the 8 at p that are no ASCII letter (a high bit each), len <= 8, and
 * in *key those bytes lower-cased with | 0x20 (stop_key's packing). With no byte >= 0x80, y | 0x20
 * is a letter iff it lies in 0x61..0x7A; a byte >= 0x80 can carry into the bytes above it, so only
 * the lowest set bit is exact when one is there. */
static inline uint64_t non_letters(const unsigned char *p, size_t len, uint64_t *key)
{
    uint64_t keep = len == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * len)) - 1;
    uint64_t w = load64(p) & keep;
    uint64_t y = w | (0x20 * ONES & keep);
    uint64_t letters = (y + 0x1F * ONES) & ~(y + 0x05 * ONES) & ~w & HIGHS;

    *key = y;
    return ~letters & HIGHS & keep;
}

/* F_STOP for token [s, e) of p (n bytes in all): strip edge punctuation, then a word of at most
 * STOP_MAX_LEN ASCII letters, in any case, that is in the stop list, or a word with a byte >= 0x80
 * that detect_lang.c knows. */
static uint32_t stop_flag(const struct ps_detect *d, const unsigned char *p, size_t s, size_t e,
                          size_t n)
{
    const uint16_t *cls = d->cls;
    size_t len = e - s;
    uint64_t key, odd;

    /* the common case, letters only: check and build the key for all bytes at once */
    if (len <= STOP_MAX_LEN && s + 8 <= n && non_letters(p + s, len, &key) == 0)
        return stop_bits(d, key);
    if ((cls[p[s]] & (C_LOWER | C_UPPER)) && (cls[p[e - 1]] & (C_LOWER | C_UPPER)) &&
        len > STOP_MAX_LEN)
        return 0; /* no punctuation to strip: too long */
    while (s < e && (cls[p[s]] & C_PUNCT))
        s++;
    while (e > s && (cls[p[e - 1]] & C_PUNCT))
        e--;
    if (s == e)
        return 0;
    if (e - s <= STOP_MAX_LEN && s + 8 <= n) { /* a short word once its punctuation is off */
        odd = non_letters(p + s, e - s, &key);
        if (odd == 0)
            return stop_bits(d, key);
        return p[s + (size_t)lowest_byte(odd)] >= 0x80 ? ps_detect_lang_word(d, p + s, e - s) : 0;
    }
    for (len = s; len < e; len++)
        if (!(cls[p[len]] & (C_LOWER | C_UPPER)))
            return (cls[p[len]] & C_HIGH) ? ps_detect_lang_word(d, p + s, e - s) : 0;
    if (e - s > STOP_MAX_LEN)
        return 0;
    return stop_bits(d, stop_key(p + s, e - s));
}

/* F_TERM for token [s, e) of p. */
static uint32_t term_flag(const struct ps_detect *d, const unsigned char *p, size_t s, size_t e)
{
    if (d->sent_cls[p[e - 1]] == 0) /* most tokens end in a letter: one look settles them */
        return 0;
    while (e > s && (d->sent_cls[p[e - 1]] & S_CLOSE))
        e--;
    return e > s && (d->sent_cls[p[e - 1]] & S_TERM) ? F_TERM : 0;
}

/* What a token's bytes alone decide: its F_* bits but F_JUNK and F_NL (stop words, sentence
 * end, features), and its fingerprint. */
static inline uint32_t token_bits(const struct ps_detect *d, const unsigned char *p, size_t s,
                                  size_t e, size_t n)
{
    uint32_t f = s + 8 <= n ? word_or_clause_flags(p + s, e - s) : 0;

    if (f == 0)
        f = ps_detect_token_flags(d, p + s, e - s);
    return f | stop_flag(d, p, s, e, n) | term_flag(d, p, s, e);
}

/* Token [s, s + len) of p, len <= TOK_MEMO_LEN, with 16 bytes readable at s: its bits and
 * fingerprint from doc->tok_memo, computed and kept there on a miss. Text repeats a few thousand
 * words most of the time: a hit costs a small share of the stop-word, feature and XXH3 work. */
static inline uint32_t memo_bits(const struct ps_detect *d, struct ps_detect_doc *doc,
                                 const unsigned char *p, size_t s, size_t len, size_t n,
                                 uint64_t *fp)
{
    uint64_t lo = load64(p + s), hi = load64(p + s + 8);
    struct ps_detect_tok_memo *m;

    if (len < 8) {
        lo &= (UINT64_C(1) << (8 * len)) - 1;
        hi = 0;
    } else if (len < 16) {
        hi &= (UINT64_C(1) << (8 * (len - 8))) - 1;
    }
    m = &doc->tok_memo[((lo ^ (hi + len) * UINT64_C(0xC2B2AE3D27D4EB4F)) *
                        UINT64_C(0x9E3779B97F4A7C15)) >>
                       (64 - TOK_MEMO_LOG2)];
    if (m->len != len || m->lo != lo || m->hi != hi) {
        m->lo = lo;
        m->hi = hi;
        m->len = (uint32_t)len;
        m->bits = token_bits(d, p, s, s + len, n);
        m->fp = XXH3_64bits(p + s, len);
    }
    *fp = m->fp;
    return m->bits;
}

/* The memo holds what d's tables decide: a document object used with another detector empties it.
 */
static void memo_own(const struct ps_detect *d, struct ps_detect_doc *doc)
{
    if (doc->tok_memo == NULL)
        doc->tok_memo = ps_xcalloc(TOK_MEMO_SLOTS, sizeof(*doc->tok_memo));
    else if (doc->tok_memo_owner != d)
        memset(doc->tok_memo, 0, TOK_MEMO_SLOTS * sizeof(*doc->tok_memo));
    doc->tok_memo_owner = d;
}

/* Split the text into tokens: fills tstart/tend, tflags with every F_* bit, the
 * fingerprints, n_tok and any_junk. Text past MAX_TEXT bytes or tokens past max_tokens are
 * ignored (the reader caps documents far below either). */
static void tokenize(const struct ps_detect *d, struct ps_detect_doc *doc)
{
    const unsigned char *p = (const unsigned char *)doc->text;
    const uint16_t *cls = d->cls;
    size_t n = doc->text_len < MAX_TEXT ? doc->text_len : MAX_TEXT;
    size_t i = 0, nt = 0, cap = doc->tok_cap, max_tokens = d->o.max_tokens;
    /* locals, not doc->...: the compiler cannot always prove the stores below leave the fields
     * alone, and reloading them for every token cost about half the tokenizer's time (measured
     * when tflags was uint8_t, which may alias anything) */
    uint32_t *tstart = doc->tstart, *tend = doc->tend;
    uint32_t *tfl = doc->tflags;
    uint64_t *tfp = doc->tfp;
    unsigned junk, any_junk = 0, nl = 0;

    memo_own(d, doc);

    while (i < n) {
        size_t s;
        unsigned c = cls[p[i]];

        if (c & C_SPACE) {
            nl |= p[i] == '\n';
            i++;
            continue;
        }
        if (c & C_ULEAD) {
            size_t k = ps_utf8_space_len(p + i, n - i);

            if (k != 0) {
                i += k;
                continue;
            }
        }
        /* p[i] starts a token; find its end: jump to the next byte that may be a space */
        s = i;
        junk = ps_detect_is_junk(p + i, n - i) ? F_JUNK : 0;
        i++;
        for (;;) {
            if (i + 8 <= n) {
                uint64_t m = special_bytes(load64(p + i));

                if (m == 0) {
                    i += 8;
                    continue;
                }
                i += (size_t)lowest_byte(m);
            } else if (i >= n) {
                break;
            }
            c = cls[p[i]];
            if ((c & C_SPACE) || ((c & C_ULEAD) && ps_utf8_space_len(p + i, n - i) != 0))
                break;
            if (ps_detect_is_junk(p + i, n - i))
                junk = F_JUNK;
            i++;
        }
        if (nt == cap) {
            grow_tokens(d, doc);
            cap = doc->tok_cap;
            tstart = doc->tstart;
            tend = doc->tend;
            tfl = doc->tflags;
            tfp = doc->tfp;
        }
        if (nl && nt > 0)
            tfl[nt - 1] |= F_NL;
        nl = 0;
        tstart[nt] = (uint32_t)s;
        tend[nt] = (uint32_t)i;
        if (i - s <= TOK_MEMO_LEN && s + 16 <= n) {
            tfl[nt] = memo_bits(d, doc, p, s, i - s, n, &tfp[nt]) | junk;
        } else {
            tfl[nt] = token_bits(d, p, s, i, n) | junk;
            tfp[nt] = XXH3_64bits(p + s, i - s);
        }
        any_junk |= junk;
        if (++nt == max_tokens)
            break;
    }
    doc->n_tok = nt;
    doc->any_junk = any_junk != 0;
    doc->base = doc->text;
    doc->base_len = doc->text_len;
    doc->have = DOC_TOKENS | DOC_FINGERPRINTS;
}

/* Join the tokens with one space into norm and point the token offsets into it (ostart keeps the
 * original ones): confirm and the leads of repeated segments both work on it. */
static void join_tokens(struct ps_detect_doc *doc)
{
    size_t i, pos = 0, nt = doc->n_tok;
    /* + 16: a token is copied 16 bytes at a time, the bytes past it overwritten next */
    size_t need = (doc->text_len < MAX_TEXT ? doc->text_len : MAX_TEXT) + 1 + 16;

    if (doc->norm_cap < need) {
        size_t cap = doc->norm_cap != 0 ? doc->norm_cap : 4096;

        while (cap < need)
            cap *= 2;
        free(doc->norm);
        doc->norm = ps_xmalloc(cap);
        doc->norm_cap = cap;
    }
    if (doc->ostart_cap < nt) {
        free(doc->ostart);
        doc->ostart_cap = doc->tok_cap;
        doc->ostart = ps_xmalloc(doc->ostart_cap * sizeof(*doc->ostart));
    }
    for (i = 0; i < nt; i++) {
        size_t len = doc->tend[i] - doc->tstart[i];

        doc->ostart[i] = doc->tstart[i];
        if (len <= 16 && doc->tstart[i] + 16 <= doc->text_len)
            memcpy(doc->norm + pos, doc->text + doc->tstart[i], 16);
        else
            memcpy(doc->norm + pos, doc->text + doc->tstart[i], len);
        doc->tstart[i] = (uint32_t)pos;
        doc->tend[i] = (uint32_t)(pos + len);
        pos += len;
        doc->norm[pos++] = ' ';
    }
    doc->norm_len = pos;
    doc->base = doc->norm;
    doc->base_len = pos;
}

/* nsame, right to left: the last token seen in a fingerprint's slot (direct-mapped) is the
 * nearest later one of that slot. When it is beyond the window or past the document (a value
 * left by an earlier one), nothing of the slot is in the window; when it holds token i's
 * fingerprint, it is the next; when another, the next can only come after it and the rest of
 * the window is searched. */
static void find_next_same(struct ps_detect_doc *doc)
{
    size_t n = doc->n_tok;
    const uint64_t *fp = doc->tfp;

    if (doc->nsame_cap < n) {
        free(doc->nsame);
        doc->nsame_cap = doc->tok_cap;
        doc->nsame = ps_xmalloc(doc->nsame_cap * sizeof(*doc->nsame));
    }
    for (size_t i = n; i-- > 0;) {
        size_t slot = fp[i] & (REP_SLOTS - 1), k = doc->same_last[slot];
        uint32_t next = 0;

        if (k > i && k < n && k - i <= REP_PERIOD_MAX) {
            size_t lim = n - 1 - i < REP_PERIOD_MAX ? n - 1 : i + REP_PERIOD_MAX;

            for (; k <= lim && next == 0; k++)
                next = fp[k] == fp[i] ? (uint32_t)k : 0;
        }
        doc->nsame[i] = next;
        doc->same_last[slot] = (uint32_t)i;
    }
}

void ps_detect_doc_compute(const struct ps_detect *d, struct ps_detect_doc *doc, unsigned what)
{
    if (what & DOC_REPEATS)
        what |= DOC_FINGERPRINTS;
    if (!(doc->have & DOC_TOKENS))
        tokenize(d, doc);
    what &= ~doc->have;
    if (what & DOC_JOINED)
        join_tokens(doc);
    if (what & DOC_REPEATS)
        find_next_same(doc);
    doc->have |= what;
}

/* The last of n ascending offsets that is at most `at` (0 when none is). */
static size_t last_at_or_before(const uint32_t *starts, size_t n, size_t at)
{
    size_t lo = 0, hi = n;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= at)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

size_t ps_detect_token_at(const struct ps_detect_doc *doc, size_t at)
{
    return last_at_or_before(doc->tstart, doc->n_tok, at);
}

size_t ps_detect_token_near(const struct ps_detect_doc *doc, size_t at, size_t hint)
{
    const uint32_t *ts = doc->tstart;
    size_t n = doc->n_tok, step = 1, lo, hi;

    if (hint >= n || ts[hint] > at)
        return last_at_or_before(ts, n, at);
    /* gallop from the hint: lo is at or before `at`, hi past it (or n) */
    lo = hint;
    hi = hint + 1;
    while (hi < n && ts[hi] <= at) {
        lo = hi;
        step *= 2;
        hi = lo + step < n ? lo + step : n;
    }
    return lo + last_at_or_before(ts + lo, hi - lo, at);
}

size_t ps_detect_token_of(const struct ps_detect_doc *doc, size_t at)
{
    return last_at_or_before(doc->ostart, doc->n_tok, at);
}
