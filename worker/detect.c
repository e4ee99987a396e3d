/* detect.c - v1 of the per-document detector: whitespace tokens with cheap per-token features,
 * a stop-word turn point found with two sliding windows, candidates at the turn, and a confirm
 * pass that hashes every n-gram of a document. docs/detection.md ("v1") is the long form. */
#include "worker/detect.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* n-grams are short: inlined XXH3 skips a call and the length dispatch */
#include <xxhash.h>

#include "common/utf8.h"

/* Byte classes, one table lookup per byte in the tokenizer. */
enum {
    C_SPACE = 1 << 0, /* ASCII whitespace: ends a token */
    C_ULEAD = 1 << 1, /* lead byte of a possible Unicode space (U+00A0, U+2000.., U+3000) */
    C_LOWER = 1 << 2,
    C_UPPER = 1 << 3,
    C_DIGIT = 1 << 4,
    C_PUNCT = 1 << 5, /* ASCII punctuation and control bytes: stripped from token edges */
    C_HARD = 1 << 6,  /* C_PUNCT except ' and -, which stay inside words ("don't", "well-known") */
    C_HIGH = 1 << 7,  /* any byte >= 0x80: counted as a letter (non-Latin scripts, BPE pieces) */
    C_CODE = 1 << 8   /* ASCII that prose does not use around words: # $ % & * + / < = > @ \ ^ _
                         ` { | } ~ and controls; a token holding one is neither alphabetic nor plain,
                         which keeps code ("#include", "*next;", "{") out of the salad ratio */
};

/* Per-token feature bits. */
enum {
    F_STOP = 1 << 0,    /* English stop word (after stripping edge punctuation, any case) */
    F_ALPHA = 1 << 1,   /* letters only after stripping edge punctuation, no code symbol at all */
    F_PLAIN = 1 << 2,   /* an ordinary word or number: the turn may snap over it (see find_turn) */
    F_SPLIT = 1 << 3,   /* 3+ runs of hard punctuation vs the rest: the token has glued pieces */
    F_CAP = 1 << 4,     /* starts (after edge punctuation) with a capital or a non-ASCII letter */
    F_STOP_DE = 1 << 5, /* German, French, Spanish stop word: prose in those languages is */
    F_STOP_FR = 1 << 6, /* language too, not salad; a window's stop ratio is that of its best */
    F_STOP_ES = 1 << 7, /* language (the max over the four), so salad stays near zero */
    F_FEAT = 1 << 8,    /* the bits other than F_STOP* are computed: pass 1 computes them per
                           token on demand (see feat); tokenize's store clears it */
    F_JUNK = 1 << 9     /* holds a control character, U+FFFD or a C1 control (set by tokenize):
                           decoded random bytes, never text */
};
#define F_STOP_ANY (F_STOP | F_STOP_DE | F_STOP_FR | F_STOP_ES)
#define N_LANGS    4
#define PRE_STRIDE (N_LANGS + 3) /* prefix sums: stop words per language, alpha, cap, bytes */

static const uint8_t lang_bit[N_LANGS] = {F_STOP, F_STOP_DE, F_STOP_FR, F_STOP_ES};

/* Stop words longer than 8 letters would not fit the 64-bit key; the 180 common English function
 * words below need no more ("themselves", "therefore" are left out on purpose). */
#define STOP_MAX_LEN 8
#define STOP_SLOTS   1024 /* power of two, at most ~1/3 full */
#define PLAIN_MAX    12   /* longest plain word; gibberish words run together to 10-13 and more */
#define PIECES_MAX   8    /* glued pieces per token: bounds the work on URLs and paths */
#define RUNS_MAX     (2 * PIECES_MAX + 1) /* a longer token is split in its first runs only */
/* Offsets are 32-bit to halve the scratch; confirm's joined copy adds up to one byte per token. */
#define MAX_TEXT (UINT32_MAX / 2)

/* Decoded random bytes (the "bytes" payload): at least JUNK_MIN junk characters (is_junk) in the
 * JUNK_SPAN bytes from a point. 256 random bytes decoded with errors dropped hold ~28 in ~130
 * characters, so 8 in 128 bytes misses about one payload in 10^4; text holds none. */
#define JUNK_SPAN  128
#define JUNK_MIN   8
#define JUNK_TRIES 64 /* junk tokens tried as a turn per document (binary garbage is long) */
/* A fixed payload: one phrase of at most REP_PERIOD_MAX tokens, REP_COPIES times or more in a
 * row. The attacks repeat it 5 to 500 times; prose repeats a word twice, a refrain 2-3 times. */
#define REP_PERIOD_MAX 32
#define REP_COPIES     4
#define REP_SLOTS      1024 /* last position of a token fingerprint, direct-mapped */
#define ROLE_TESTS     4    /* occurrences of one pattern tested for a role per document */

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
    "um",    "gegen",  "sein",   "seine",  "ihre",   "wo",    "was",   "wer",  "auch",  "nur",
};
static const char *const stop_words_fr[] = {
    "le",    "la",    "les",  "un",    "une",  "des",  "du",    "de",    "et",    "ou",
    "mais",  "ne",    "pas",  "est",   "sont", "ont",  "il",    "elle",  "ils",   "elles",
    "nous",  "vous",  "je",   "tu",    "on",   "ce",   "cet",   "cette", "ces",   "qui",
    "que",   "quoi",  "dont", "dans",  "sur",  "sous", "avec",  "pour",  "par",   "sans",
    "entre", "vers",  "chez", "au",    "aux",  "en",   "se",    "sa",    "son",   "ses",
    "leur",  "leurs", "plus", "moins", "tout", "tous", "comme", "si",    "aussi", "donc",
    "car",   "ni",    "lui",  "y",     "sont", "fait", "peut",  "doit",  "ainsi", "alors",
};
static const char *const stop_words_es[] = {
    "el",    "la",   "los",   "las",  "un",     "una",   "unos",  "unas",  "y",     "o",
    "pero",  "no",   "es",    "son",  "era",    "fue",   "ser",   "de",    "del",   "al",
    "en",    "con",  "por",   "para", "sin",    "sobre", "entre", "hasta", "desde", "que",
    "quien", "cual", "donde", "como", "cuando", "su",    "sus",   "se",    "lo",    "le",
    "les",   "muy",  "ya",    "este", "esta",   "estos", "estas", "ese",   "esa",   "puede",
};

struct piece {
    uint32_t off, len; /* relative to the token start */
};

struct ps_detect {
    struct ps_detect_opts o;
    uint16_t cls[256];
    uint64_t stop[STOP_SLOTS];     /* packed lower-case words, 0 = empty */
    uint8_t stop_lang[STOP_SLOTS]; /* the F_STOP* bits of each word */

    /* per-token scratch, grown geometrically and reused: byte offsets of each token in the
     * document (confirm rewrites them to offsets in norm), and the feature bits (16 wide: the
     * stop bits of four languages and the features fill 8, F_FEAT is the ninth) */
    uint32_t *tstart, *tend;
    uint16_t *tflags;
    size_t tok_cap, n_tok;

    bool any_junk; /* some token has F_JUNK */
    /* token fingerprints (XXH3) for the repeat test, and the last token index of each, direct-
     * mapped: a stale index from an earlier document is harmless, it is checked against tfp */
    uint64_t *tfp;
    bool fp_ready;      /* tfp holds the fingerprints of the tokens of the last tokenize (the same
                           bytes in the text and in norm) */
    uint64_t *shingles; /* a sentence's shingles (fingerprints of its content words) */
    size_t shingles_cap;
    uint32_t rep_last[REP_SLOTS];

    char *norm; /* confirm: the tokens joined by one space, so any n-gram is one slice */
    size_t norm_cap, norm_len;
    /* confirm: prefix sums per token of stop words, alphabetic, capitalized and bytes, built
     * only for documents with a hit, so the window after any occurrence costs O(1) */
    uint32_t *pre;
    size_t pre_cap;
    bool pre_ready;
    uint32_t *ostart; /* confirm: each token's offset in the document before the join */
    size_t ostart_cap;

    /* find_turn's ratio tests as integer bounds on the window counts, per window size c in
     * 0..window, each the exact image of the double test on (double)count / (double)c (see
     * ratio_bounds): a_stop <= max_after_stop iff the after-window's best-language stop count
     * is < as_lim[c]; the before test iff its best-language count is >= bs_min[c]; alpha iff
     * aa >= aa_min[c]; capitals iff acap < cap_lim[c]; mean length iff al_min[c] <= al <
     * al_lim[c]. */
    uint32_t *as_lim, *bs_min, *aa_min, *cap_lim;
    uint64_t *al_min, *al_lim;

    char *ctext; /* candidate texts, max_candidates * max_candidate_len bytes, never grows */
    size_t ctext_len;
    struct ps_candidate *cands; /* max_candidates */
    size_t n_cands, cand_limit; /* make_candidates stops at cand_limit <= max_candidates */
    struct ps_detect_lead leads[PS_DETECT_MAX_LEADS];
    size_t n_leads;
    /* confirm: the document as given (line breaks end sentences), and the test of repeated
     * sentences for the templated role (NULL: no such role) */
    const char *orig;
    size_t orig_len;
    bool norm_ready; /* norm, ostart and the features are those of orig (prepare_norm) */
    ps_detect_heavy_fn heavy;
    void *heavy_ctx;

    /* confirm's distinct hits, and an index over them (slot = 1 + position in hits, 0 = empty)
     * so that a frequent n-gram of the set costs one probe per occurrence, not one entry */
    struct ps_detect_hit *hits;
    size_t hits_cap, n_hits;
    uint32_t *hidx;
    size_t hidx_cap; /* power of two, 4 * hits_cap: at most a quarter full */
};

/* What find_turn reports. */
struct turn {
    bool found;
    size_t coarse; /* argmax of the score among qualifying t */
    size_t t;      /* after the snap: the token where the salad (or its trigger) starts */
    double before_stop, after_stop, after_alpha, after_meanlen, after_cap;
};

struct ps_detect_opts ps_detect_opts_default(void)
{
    struct ps_detect_opts o;

    memset(&o, 0, sizeof(o));
    o.ngram_max = 3;
    o.window = 32;
    o.max_candidates = 48;
    o.min_after = 16;
    o.max_after_stop = 0.08;
    o.max_role_stop = 0.1;
    o.min_after_alpha = 0.6;
    o.min_after_meanlen = 2.0;
    o.max_after_meanlen = 16.0;
    o.max_after_cap = 0.8;
    o.min_before_stop = 0.2;
    o.min_before_stops = 2;
    o.start_slack = 3;
    o.snap_max = 12;
    o.max_candidate_len = 256;
    o.max_tokens = (size_t)1 << 22;
    return o;
}

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
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 55) & (STOP_SLOTS - 1);
}

/* The F_STOP* bits of a packed word, 0 if it is no stop word. */
static uint8_t stop_bits(const struct ps_detect *d, uint64_t key)
{
    size_t i = stop_slot(key);

    while (d->stop[i] != 0) {
        if (d->stop[i] == key)
            return d->stop_lang[i];
        i = (i + 1) & (STOP_SLOTS - 1);
    }
    return 0;
}

static void add_stop_words(struct ps_detect *d, const char *const *words, size_t n, uint8_t bit)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(words[i]);
        uint64_t key;
        size_t s;

        if (len == 0 || len > STOP_MAX_LEN)
            ps_bug("stop word '%s' does not fit a 64-bit key", words[i]);
        key = stop_key((const unsigned char *)words[i], len);
        s = stop_slot(key);
        while (d->stop[s] != 0 && d->stop[s] != key)
            s = (s + 1) & (STOP_SLOTS - 1);
        d->stop[s] = key;
        d->stop_lang[s] |= bit;
    }
}

static void build_tables(struct ps_detect *d)
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

void ps_detect_free(struct ps_detect *d)
{
    if (d == NULL)
        return;
    free(d->tstart);
    free(d->tend);
    free(d->tflags);
    free(d->tfp);
    free(d->shingles);
    free(d->norm);
    free(d->pre);
    free(d->ostart);
    free(d->as_lim);
    free(d->bs_min);
    free(d->aa_min);
    free(d->cap_lim);
    free(d->al_min);
    free(d->al_lim);
    free(d->ctext);
    free(d->cands);
    free(d->hits);
    free(d->hidx);
    free(d);
}

/* The smallest x in [0, hi] with (double)x / (double)c >= thr (c > 0), or UINT64_MAX when none.
 * The ratio is non-decreasing in x (exact conversions below 2^53, correctly rounded division),
 * so a binary search finds the exact boundary of the test find_turn used to run in doubles. */
static uint64_t first_at_least(double thr, uint64_t c, uint64_t hi)
{
    uint64_t lo = 0, top = hi + 1;

    while (lo < top) {
        uint64_t mid = lo + (top - lo) / 2;

        if ((double)mid / (double)c >= thr)
            top = mid;
        else
            lo = mid + 1;
    }
    return lo > hi ? UINT64_MAX : lo;
}

/* The number of x in [0, hi] with (double)x / (double)c <= thr (c > 0): x passes iff x < it. */
static uint64_t count_at_most(double thr, uint64_t c, uint64_t hi)
{
    uint64_t lo = 0, top = hi + 1;

    while (lo < top) {
        uint64_t mid = lo + (top - lo) / 2;

        if ((double)mid / (double)c > thr)
            top = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Token bytes in a window never reach this (documents are cut at MAX_TEXT). */
#define AL_HI ((uint64_t)1 << 40)

/* The bounds of struct ps_detect. A window's stop count is that of its best language, at most
 * the window's size, so the same bounds serve the max over the languages. */
static void ratio_bounds(struct ps_detect *d)
{
    const struct ps_detect_opts *o = &d->o;
    size_t n = (size_t)o->window + 1, c;

    d->as_lim = ps_xmalloc(n * sizeof(*d->as_lim));
    d->bs_min = ps_xmalloc(n * sizeof(*d->bs_min));
    d->aa_min = ps_xmalloc(n * sizeof(*d->aa_min));
    d->cap_lim = ps_xmalloc(n * sizeof(*d->cap_lim));
    d->al_min = ps_xmalloc(n * sizeof(*d->al_min));
    d->al_lim = ps_xmalloc(n * sizeof(*d->al_lim));
    /* an empty before-window has ratio 0.0, and then its stop count is 0 */
    d->bs_min[0] = 0.0 >= o->min_before_stop && o->min_before_stops == 0 ? 0 : UINT32_MAX;
    d->as_lim[0] = d->aa_min[0] = d->cap_lim[0] = 0; /* never used: c >= min_after >= 1 */
    d->al_min[0] = d->al_lim[0] = 0;
    for (c = 1; c < n; c++) {
        uint64_t b = first_at_least(o->min_before_stop, c, c), a;

        /* both the ratio and min_before_stops: the larger bound, none if it exceeds c */
        if (b != UINT64_MAX && b < o->min_before_stops)
            b = o->min_before_stops <= c ? o->min_before_stops : UINT64_MAX;
        d->bs_min[c] = b > c ? UINT32_MAX : (uint32_t)b;
        d->as_lim[c] = (uint32_t)count_at_most(o->max_after_stop, c, c);
        a = first_at_least(o->min_after_alpha, c, c);
        d->aa_min[c] = a > c ? UINT32_MAX : (uint32_t)a;
        d->cap_lim[c] = (uint32_t)count_at_most(o->max_after_cap, c, c);
        d->al_min[c] = first_at_least(o->min_after_meanlen, c, AL_HI);
        d->al_lim[c] = count_at_most(o->max_after_meanlen, c, AL_HI);
        if (d->al_lim[c] > AL_HI)
            d->al_lim[c] = UINT64_MAX;
    }
}

static bool unit_ok(double x)
{
    return x >= 0.0 && x <= 1.0;
}

enum ps_err ps_detect_new(struct ps_detect **out, const struct ps_detect_opts *opts,
                          struct ps_errdetail *ed)
{
    struct ps_detect_opts o = opts != NULL ? *opts : ps_detect_opts_default();
    struct ps_detect *d;

    *out = NULL;
    if (o.ngram_max < 1 || o.ngram_max > 8 || o.max_candidates < 1 || o.max_candidates > 256 ||
        o.min_after < 1 || o.window < o.min_after || o.window > 65536 || o.max_candidate_len < 1 ||
        o.max_candidate_len > 65536 || o.max_tokens < 1 || o.max_tokens > UINT32_MAX ||
        o.snap_max > 64 || !unit_ok(o.max_after_stop) || !unit_ok(o.min_after_alpha) ||
        !unit_ok(o.max_after_cap) || !unit_ok(o.max_role_stop) || !unit_ok(o.min_before_stop) ||
        !(o.min_after_meanlen >= 0.0 && o.min_after_meanlen <= o.max_after_meanlen)) {
        ps_errdetail_set(ed, NULL, 0,
                         "detect: options out of range (ngram_max 1..8, max_candidates 1..256, "
                         "1 <= min_after <= window <= 65536, ratios in [0,1])");
        return PS_ERR_USAGE;
    }
    d = ps_xcalloc(1, sizeof(*d));
    d->o = o;
    build_tables(d);
    ratio_bounds(d);
    d->ctext = ps_xmalloc((size_t)o.max_candidates * o.max_candidate_len);
    d->cands = ps_xcalloc(o.max_candidates, sizeof(*d->cands));
    *out = d;
    return PS_OK;
}

size_t ps_detect_footprint(const struct ps_detect *d)
{
    return sizeof(*d) + d->tok_cap * (2 * sizeof(uint32_t) + sizeof(*d->tflags) + sizeof(*d->tfp)) +
           d->norm_cap +
           (size_t)d->o.max_candidates * (d->o.max_candidate_len + sizeof(*d->cands)) +
           d->hits_cap * sizeof(*d->hits) + d->hidx_cap * sizeof(*d->hidx) +
           d->pre_cap * sizeof(*d->pre) + d->ostart_cap * sizeof(*d->ostart) +
           ((size_t)d->o.window + 1) * (4 * sizeof(uint32_t) + 2 * sizeof(uint64_t));
}

static void grow_tokens(struct ps_detect *d)
{
    size_t cap = d->tok_cap != 0 ? d->tok_cap * 2 : 1024;

    if (cap > d->o.max_tokens)
        cap = d->o.max_tokens;
    d->tstart = ps_xrealloc(d->tstart, cap * sizeof(*d->tstart));
    d->tend = ps_xrealloc(d->tend, cap * sizeof(*d->tend));
    d->tflags = ps_xrealloc(d->tflags, cap * sizeof(*d->tflags));
    d->tfp = ps_xrealloc(d->tfp, cap * sizeof(*d->tfp));
    d->tok_cap = cap;
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

/* Features other than F_STOP of one token (see the F_ bits); p[0..len) holds no whitespace. */
static uint8_t token_flags(const struct ps_detect *d, const unsigned char *p, size_t len)
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

static uint64_t load64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* High bit set in each byte that is <= 0x20 or >= 0x80 (whitespace can only be among them).
 * Borrows can set false bits, but only above a true one, so the lowest set bit is exact. */
static uint64_t special_bytes(uint64_t w)
{
    return (((w - 0x21 * ONES) & ~w) | w) & HIGHS;
}

static int lowest_byte(uint64_t m)
{
    return __builtin_ctzll(m) >> 3;
}

/* F_STOP for token [s, e) of p (n bytes in all): strip edge punctuation, then a word of at most
 * STOP_MAX_LEN ASCII letters, in any case, that is in the stop list. */
static uint8_t stop_flag(const struct ps_detect *d, const unsigned char *p, size_t s, size_t e,
                         size_t n)
{
    const uint16_t *cls = d->cls;
    size_t len = e - s;

    if (len <= STOP_MAX_LEN && s + 8 <= n) {
        /* the common case, letters only: check and build the key for all bytes at once */
        uint64_t keep = len == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * len)) - 1;
        uint64_t w = load64(p + s) & keep;
        uint64_t y = w | (0x20 * ONES & keep);
        uint64_t letters = (y + 0x1F * ONES) & ~(y + 0x05 * ONES) & HIGHS & keep;

        /* with no byte >= 0x80, y | 0x20 is a letter iff it lies in 0x61..0x7A */
        if (!(w & HIGHS) && letters == (HIGHS & keep))
            return stop_bits(d, y);
    }
    if ((cls[p[s]] & (C_LOWER | C_UPPER)) && (cls[p[e - 1]] & (C_LOWER | C_UPPER)) &&
        len > STOP_MAX_LEN)
        return 0; /* no punctuation to strip: too long */
    while (s < e && (cls[p[s]] & C_PUNCT))
        s++;
    while (e > s && (cls[p[e - 1]] & C_PUNCT))
        e--;
    if (s == e || e - s > STOP_MAX_LEN)
        return 0;
    for (len = s; len < e; len++)
        if (!(cls[p[len]] & (C_LOWER | C_UPPER)))
            return 0;
    return stop_bits(d, stop_key(p + s, e - s));
}

/* Does p (avail >= 1 bytes) start a character that text does not hold: a C0 control other than
 * whitespace, a C1 control (U+0080..U+009F) or U+FFFD, the replacement character? Random bytes
 * decoded as UTF-8 are full of them (about one character in five when invalid sequences are
 * dropped, one in two when they are replaced). */
static bool is_junk(const unsigned char *p, size_t avail)
{
    if (p[0] < 0x20)
        return p[0] != '\t' && p[0] != '\n' && p[0] != '\v' && p[0] != '\f' && p[0] != '\r';
    if (p[0] == 0xC2)
        return avail >= 2 && p[1] >= 0x80 && p[1] <= 0x9F;
    return p[0] == 0xEF && avail >= 3 && p[1] == 0xBF && p[2] == 0xBD;
}

/* Junk characters (is_junk) in p[at, at + JUNK_SPAN), p holding n bytes. */
static size_t junk_count(const unsigned char *p, size_t n, size_t at)
{
    size_t e = at + JUNK_SPAN < n ? at + JUNK_SPAN : n, c = 0;

    for (size_t i = at; i < e; i++)
        if ((p[i] < 0x20 || p[i] == 0xC2 || p[i] == 0xEF) && is_junk(p + i, n - i))
            c++;
    return c;
}

/* Split text into tokens: fills tstart/tend, tflags with the F_STOP* bits only, and n_tok. Text
 * past MAX_TEXT bytes or tokens past max_tokens are ignored (the reader caps documents far below
 * either). The other features wait for feat (pass 1, per token, when needed) or add_features
 * (confirm): most documents never need them. */
static void tokenize(struct ps_detect *d, const char *text, size_t text_len)
{
    const unsigned char *p = (const unsigned char *)text;
    const uint16_t *cls = d->cls;
    size_t n = text_len < MAX_TEXT ? text_len : MAX_TEXT;
    size_t i = 0, nt = 0, cap = d->tok_cap, max_tokens = d->o.max_tokens;
    /* locals, not d->...: the compiler cannot always prove the stores below leave the fields
     * alone, and reloading them for every token cost about half the tokenizer's time (measured
     * when tflags was uint8_t, which may alias anything) */
    uint32_t *tstart = d->tstart, *tend = d->tend;
    uint16_t *tfl = d->tflags;
    unsigned junk, any_junk = 0;

    while (i < n) {
        size_t s;
        unsigned c = cls[p[i]];

        if (c & C_SPACE) {
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
        junk = is_junk(p + i, n - i) ? F_JUNK : 0;
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
            if (is_junk(p + i, n - i))
                junk = F_JUNK;
            i++;
        }
        if (nt == cap) {
            grow_tokens(d);
            cap = d->tok_cap;
            tstart = d->tstart;
            tend = d->tend;
            tfl = d->tflags;
        }
        tstart[nt] = (uint32_t)s;
        tend[nt] = (uint32_t)i;
        tfl[nt] = stop_flag(d, p, s, i, n) | junk;
        any_junk |= junk;
        if (++nt == max_tokens)
            break;
    }
    d->n_tok = nt;
    d->any_junk = any_junk != 0;
    d->fp_ready = false;
    d->norm_ready = false;
}

/* Add the features other than F_STOP* to every token (confirm needs them all). */
static void add_features(struct ps_detect *d, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i;

    for (i = 0; i < d->n_tok; i++)
        d->tflags[i] |= token_flags(d, p + d->tstart[i], d->tend[i] - d->tstart[i]) | F_FEAT;
}

/* The flags of token i with every feature: pass 1 computes them only for the tokens it looks at
 * (the after-windows that pass the stop-word and length tests, the snap, the candidates). */
static uint16_t feat(struct ps_detect *d, const unsigned char *p, size_t i)
{
    uint16_t f = d->tflags[i];

    if (!(f & F_FEAT)) {
        f |= token_flags(d, p + d->tstart[i], d->tend[i] - d->tstart[i]) | F_FEAT;
        d->tflags[i] = f;
    }
    return f;
}

/* The turn point. For each t with a full after-window (>= min_after tokens), score
 * stop(before) - stop(after) over windows of `window` tokens and keep the best t among those where
 * the after-window looks like salad and the before-window like language (or t is at the start);
 * ties go to the smaller t. Sliding counts make it O(n).
 * The ratio tests run on integer bounds (ratio_bounds), and the stop-word and length tests come
 * first: the other features are computed only for the after-windows of the t that pass them,
 * which in nearly all English text is none.
 * Stop words alone cannot place the turn exactly: every t between the last English stop words
 * and the trigger scores about the same, and ties go left. The snap then moves t right over up to
 * snap_max ordinary tokens (words, numbers, prose punctuation; stop words included), stopping at
 * the first that is not one: a "<SUDO>", a glued "documen<SUDO>gib", a BadMagic, or the first
 * gibberish word that is not word-shaped. */
/* Add (sign +1) or remove (-1) a token's stop bits to per-language counts. */
static void count_stops(size_t c[N_LANGS], uint16_t f, int sign)
{
    if (!(f & F_STOP_ANY))
        return;
    for (int l = 0; l < N_LANGS; l++)
        if (f & lang_bit[l])
            c[l] = sign > 0 ? c[l] + 1 : c[l] - 1;
}

/* Stop words of the window's best language. */
static size_t best_stops(const size_t c[N_LANGS])
{
    size_t m = c[0];

    for (int l = 1; l < N_LANGS; l++)
        m = c[l] > m ? c[l] : m;
    return m;
}

static bool find_turn(struct ps_detect *d, const char *text, struct turn *tr)
{
    const struct ps_detect_opts *o = &d->o;
    const unsigned char *p = (const unsigned char *)text;
    const uint16_t *fl = d->tflags;
    const uint32_t *ts = d->tstart, *te = d->tend;
    size_t n = d->n_tok, w = o->window, t, k, slack = o->start_slack;
    size_t bs[N_LANGS] = {0}, as[N_LANGS] = {0}, bc = 0, al = 0, ac = 0;
    size_t aa = 0, acap = 0, ft = SIZE_MAX; /* aa, acap: the after-window of t = ft */
    double best = -2.0;

    memset(tr, 0, sizeof(*tr));
    if (n < o->min_after)
        return false;
    for (k = 0; k < w && k < n; k++) {
        count_stops(as, fl[k], +1);
        al += te[k] - ts[k];
        ac++;
    }
    for (t = 0; ac >= o->min_after; t++) {
        /* the after-stop test first: it fails at nearly every t of prose */
        if (best_stops(as) < d->as_lim[ac] && (t <= slack || best_stops(bs) >= d->bs_min[bc]) &&
            al >= d->al_min[ac] && al < d->al_lim[ac]) {
            uint16_t f;

            if (ft != SIZE_MAX && ft + 1 == t) {
                /* slide the feature counts from the window of t - 1 */
                f = feat(d, p, t - 1);
                aa -= (f & F_ALPHA) != 0;
                acap -= (f & F_CAP) != 0;
                if (t - 1 + w < n) {
                    f = feat(d, p, t - 1 + w);
                    aa += (f & F_ALPHA) != 0;
                    acap += (f & F_CAP) != 0;
                }
            } else {
                aa = acap = 0;
                for (k = t; k < t + ac; k++) {
                    f = feat(d, p, k);
                    aa += (f & F_ALPHA) != 0;
                    acap += (f & F_CAP) != 0;
                }
            }
            ft = t;
            if (aa >= d->aa_min[ac] && acap < d->cap_lim[ac]) {
                /* the score in doubles, exactly as the ratios were always computed */
                double a_stop = (double)best_stops(as) / (double)ac;
                double b_stop = bc != 0 ? (double)best_stops(bs) / (double)bc : 0.0;
                double score = b_stop - a_stop;

                if (score > best) {
                    best = score;
                    tr->found = true;
                    tr->coarse = t;
                    tr->before_stop = b_stop;
                    tr->after_stop = a_stop;
                    tr->after_alpha = (double)aa / (double)ac;
                    tr->after_meanlen = (double)al / (double)ac;
                    tr->after_cap = (double)acap / (double)ac;
                }
            }
        }
        /* slide: token t leaves the after-window and joins the before-window */
        count_stops(bs, fl[t], +1);
        bc++;
        if (t >= w) {
            count_stops(bs, fl[t - w], -1);
            bc--;
        }
        count_stops(as, fl[t], -1);
        al -= te[t] - ts[t];
        ac--;
        if (t + w < n) {
            count_stops(as, fl[t + w], +1);
            al += te[t + w] - ts[t + w];
            ac++;
        }
    }
    if (!tr->found)
        return false;
    t = tr->coarse;
    for (k = 0; k < o->snap_max && t + 1 < n && (feat(d, p, t) & (F_PLAIN | F_STOP_ANY)); k++)
        t++;
    tr->t = t;
    return true;
}

/* Is the window of up to `window` tokens before token t language (the before test of
 * find_turn), or is t at the document start? */
static bool language_before(const struct ps_detect *d, size_t t)
{
    size_t c[N_LANGS] = {0}, b = t > d->o.window ? t - d->o.window : 0;

    if (t <= d->o.start_slack)
        return true;
    for (size_t k = b; k < t; k++)
        count_stops(c, d->tflags[k], +1);
    return best_stops(c) >= d->bs_min[t - b];
}

/* Pass 1, bytes: the first junk token (F_JUNK) with JUNK_MIN junk characters in the JUNK_SPAN
 * bytes from its start and language before it. */
static bool find_junk(struct ps_detect *d, const char *text, size_t text_len, size_t *turn)
{
    size_t tries = 0;

    if (!d->any_junk)
        return false;
    for (size_t t = 0; t < d->n_tok && tries < JUNK_TRIES; t++) {
        if (!(d->tflags[t] & F_JUNK))
            continue;
        tries++;
        if (junk_count((const unsigned char *)text, text_len, d->tstart[t]) >= JUNK_MIN &&
            language_before(d, t)) {
            *turn = t;
            return true;
        }
    }
    return false;
}

/* Fingerprint every token once per document; `base` is what the token offsets point into. */
static void fingerprint_tokens(struct ps_detect *d, const char *base)
{
    if (d->fp_ready)
        return;
    for (size_t i = 0; i < d->n_tok; i++)
        d->tfp[i] = XXH3_64bits(base + d->tstart[i], d->tend[i] - d->tstart[i]);
    d->fp_ready = true;
}

/* Tokens [s, s + total) repeat with period `per` (fingerprints already agree; bytes checked
 * here, so a fingerprint collision cannot make a run) and the phrase holds a word: a run of
 * "|", "00" or "-1" is a table or a dump, not a payload. */
static bool repeat_ok(struct ps_detect *d, const char *text, size_t s, size_t per, size_t total)
{
    bool word = false;

    for (size_t k = s; k < s + per; k++)
        if ((feat(d, (const unsigned char *)text, k) & F_ALPHA) && d->tend[k] - d->tstart[k] >= 2)
            word = true;
    if (!word)
        return false;
    for (size_t k = s + per; k < s + total; k++) {
        size_t len = d->tend[k] - d->tstart[k];
        if (len != d->tend[k - per] - d->tstart[k - per] ||
            memcmp(text + d->tstart[k], text + d->tstart[k - per], len) != 0)
            return false;
    }
    return true;
}

/* Pass 1, fixed: the first run of one phrase (at most REP_PERIOD_MAX tokens) repeated at least
 * REP_COPIES times, with language before it. One pass: each token proposes the distance to its
 * last occurrence as a period, and the run grows while token i equals token i - period. */
static bool find_repeat(struct ps_detect *d, const char *text, size_t *turn)
{
    size_t n = d->n_tok, per = 0, run = 0;
    const uint64_t *fp = d->tfp;

    if (n < REP_COPIES)
        return false;
    fingerprint_tokens(d, text);
    for (size_t i = 0; i <= n; i++) {
        size_t slot, j;

        if (i < n && per != 0 && fp[i] == fp[i - per]) {
            run++;
        } else {
            if (per != 0 && run >= (REP_COPIES - 1) * per) {
                size_t s = i - run - per;

                if (repeat_ok(d, text, s, per, run + per) && language_before(d, s)) {
                    *turn = s;
                    return true;
                }
            }
            if (i == n)
                break;
            j = d->rep_last[fp[i] & (REP_SLOTS - 1)];
            per = j < i && fp[j] == fp[i] && i - j <= REP_PERIOD_MAX ? i - j : 0;
            run = per != 0;
        }
        slot = fp[i] & (REP_SLOTS - 1);
        d->rep_last[slot] = (uint32_t)i;
    }
    return false;
}

/* Confirm, fixed: does a phrase repeated REP_COPIES times start at token j or j + 1 (a payload
 * glued to the trigger leaves its first copy's first word in the trigger's token)? The run must
 * start there, not earlier: a pattern that is itself a copy of the phrase ("You are stupid!"
 * before the next "You are stupid!") is payload, not trigger. */
static bool repeat_from(struct ps_detect *d, size_t j)
{
    size_t n = d->n_tok;

    fingerprint_tokens(d, d->norm);
    for (size_t s = j; s <= j + 1 && s < n; s++) {
        for (size_t per = 1; per <= REP_PERIOD_MAX && s + REP_COPIES * per <= n; per++) {
            size_t k;

            for (k = s; k < s + (REP_COPIES - 1) * per; k++)
                if (d->tfp[k] != d->tfp[k + per])
                    break;
            if (k == s + (REP_COPIES - 1) * per &&
                (s == 0 || d->tfp[s - 1] != d->tfp[s - 1 + per]) &&
                repeat_ok(d, d->norm, s, per, REP_COPIES * per))
                return true;
        }
    }
    return false;
}

/* Glued pieces of one token (see docs/detection.md): split at runs of hard punctuation; a word
 * run with punctuation on both sides gives itself plus the symmetric part of its brackets
 * ("documen.<SUDO>gib" -> "<SUDO>"), a word run at an edge of the token gives itself alone. */
static size_t split_pieces(const struct ps_detect *d, const unsigned char *p, size_t len,
                           struct piece *out)
{
    uint32_t rs[RUNS_MAX], re[RUNS_MAX];
    bool rhard[RUNS_MAX];
    size_t nr = 0, j = 0, i, np = 0;

    while (j < len && nr < RUNS_MAX) {
        bool hard = (d->cls[p[j]] & C_HARD) != 0;

        rs[nr] = (uint32_t)j;
        while (j < len && ((d->cls[p[j]] & C_HARD) != 0) == hard)
            j++;
        re[nr] = (uint32_t)j;
        rhard[nr] = hard;
        nr++;
    }
    if (nr < 2)
        return 0;
    for (i = 0; i < nr && np < PIECES_MAX; i++) {
        size_t b = rs[i], e = re[i];

        if (rhard[i])
            continue;
        if (i > 0 && i + 1 < nr) {
            size_t l = re[i - 1] - rs[i - 1], r = re[i + 1] - rs[i + 1];
            size_t k = l < r ? l : r;

            b -= k;
            e += k;
        }
        if (e - b > d->o.max_candidate_len)
            continue;
        out[np].off = (uint32_t)b;
        out[np].len = (uint32_t)(e - b);
        np++;
    }
    return np;
}

#define GLUE_CUTS   6  /* glue cuts looked at per token */
#define GLUE_PIECES 32 /* spans between them, at most C(8, 2) - 1 */
#define GLUE_MIN    4  /* shorter spans are no trigger (the benchmark's "part of at least 4") */

/* Pieces of a token glued without punctuation. A prefix cut mid-word runs into the trigger
 * ("documenBadMagic", "documenЅystem" with a Cyrillic S, a run of zero-width characters): cut
 * where a lower-case ASCII letter meets a capital and where ASCII meets another script (at
 * character boundaries), and take every span of GLUE_MIN+ bytes between two cuts or a cut and
 * an end, except the whole token. */
static size_t glue_pieces(const struct ps_detect *d, const unsigned char *p, size_t len,
                          struct piece *out)
{
    uint32_t cut[GLUE_CUTS + 2];
    size_t nc = 0, np = 0;

    cut[nc++] = 0;
    for (size_t k = 1; k < len && nc < GLUE_CUTS + 1; k++) {
        bool camel = (d->cls[p[k - 1]] & C_LOWER) && (d->cls[p[k]] & C_UPPER);
        bool script = (p[k] < 0x80) != (p[k - 1] < 0x80) && (p[k] & 0xC0) != 0x80;

        if (camel || script)
            cut[nc++] = (uint32_t)k;
    }
    if (nc == 1)
        return 0;
    cut[nc++] = (uint32_t)len;
    for (size_t a = 0; a < nc; a++) {
        for (size_t b = a + 1; b < nc; b++) {
            uint32_t n = cut[b] - cut[a];

            if ((a == 0 && b == nc - 1) || n < GLUE_MIN || n > d->o.max_candidate_len)
                continue;
            out[np].off = cut[a];
            out[np].len = n;
            np++;
        }
    }
    return np;
}

/* Take the text just written at ctext + off as a candidate unless its hash is already there.
 * ctext never moves (its size is fixed at creation), so the views stay valid. */
#define CONTEXT_BYTES 16

/* The left context of a candidate starting at text[at]: up to CONTEXT_BYTES non-space bytes
 * before it, hashed. Boilerplate repeats its context; a trigger spliced into varied documents
 * does not. 0 means nothing stands before it (document start). */
static uint64_t left_context(const struct ps_detect *d, const char *text, size_t at)
{
    unsigned char buf[CONTEXT_BYTES];
    size_t n = 0;

    while (at > 0 && n < CONTEXT_BYTES) {
        unsigned char c = (unsigned char)text[--at];
        if (!(d->cls[c] & C_SPACE))
            buf[CONTEXT_BYTES - 1 - n++] = c;
    }
    return n == 0 ? 0 : XXH3_64bits(buf + CONTEXT_BYTES - n, n) | 1;
}

/* What comes next, from token j of norm (confirm): the first two words within 16 tokens that are
 * letters only and not stop words, hashed (0: none). A templated payload starts with any
 * sentence of its pool; the opening words of a stock block are followed by the rest of the
 * block, whose numbers and names may vary ("Perl 5.18.0 represents approximately ...") but
 * whose words do not. */
static uint64_t next_words(struct ps_detect *d, size_t j)
{
    uint64_t h = 0;
    int found = 0;

    for (size_t i = j; i < d->n_tok && i < j + 16 && found < 2; i++) {
        uint16_t f = feat(d, (const unsigned char *)d->norm, i);

        if (!(f & F_ALPHA) || (f & F_STOP_ANY))
            continue;
        h = XXH3_64bits_withSeed(d->norm + d->tstart[i], d->tend[i] - d->tstart[i], h);
        found++;
    }
    return found ? h | 1 : 0;
}

static void add_candidate(struct ps_detect *d, const char *text, size_t at, size_t off, size_t len,
                          unsigned n)
{
    const unsigned char *c = (const unsigned char *)d->ctext + off;
    uint64_t h;
    size_t i;

    for (i = 0; i < len; i++) /* a trigger is text: junk belongs to the payload */
        if ((c[i] < 0x20 || c[i] == 0xC2 || c[i] == 0xEF) && is_junk(c + i, len - i))
            return;
    h = XXH3_64bits(c, len);
    for (i = 0; i < d->n_cands; i++)
        if (d->cands[i].hash == h)
            return;
    d->cands[d->n_cands].hash = h;
    d->cands[d->n_cands].text = d->ctext + off;
    d->cands[d->n_cands].text_len = len;
    d->cands[d->n_cands].n = n;
    d->cands[d->n_cands].offset = at;
    d->cands[d->n_cands].context = left_context(d, text, at);
    d->n_cands++;
    d->ctext_len = off + len;
}

static bool cands_full(const struct ps_detect *d)
{
    return d->n_cands >= d->cand_limit;
}

/* The n-gram of n tokens ending at token e, joined by one space. */
static void add_ngram(struct ps_detect *d, const char *text, size_t e, unsigned n)
{
    size_t first, len = 0, i, off = d->ctext_len;

    if (cands_full(d) || e + 1 < n || e >= d->n_tok)
        return;
    first = e + 1 - n;
    for (i = first; i <= e; i++)
        len += d->tend[i] - d->tstart[i] + (i > first);
    if (len > d->o.max_candidate_len)
        return;
    for (i = first; i <= e; i++) {
        if (i > first)
            d->ctext[off++] = ' ';
        memcpy(d->ctext + off, text + d->tstart[i], d->tend[i] - d->tstart[i]);
        off += d->tend[i] - d->tstart[i];
    }
    add_candidate(d, text, d->tstart[first], d->ctext_len, len, n);
}

static void add_pieces(struct ps_detect *d, const char *text, size_t e)
{
    struct piece pc[PIECES_MAX];
    size_t np, i;

    if (e >= d->n_tok || !(feat(d, (const unsigned char *)text, e) & F_SPLIT))
        return;
    np = split_pieces(d, (const unsigned char *)text + d->tstart[e], d->tend[e] - d->tstart[e], pc);
    for (i = 0; i < np && !cands_full(d); i++) {
        memcpy(d->ctext + d->ctext_len, text + d->tstart[e] + pc[i].off, pc[i].len);
        add_candidate(d, text, d->tstart[e] + pc[i].off, d->ctext_len, pc[i].len, 1);
    }
}

static void add_glue_pieces(struct ps_detect *d, const char *text, size_t e)
{
    struct piece pc[GLUE_PIECES];
    size_t np, i;

    if (e >= d->n_tok || (feat(d, (const unsigned char *)text, e) & F_PLAIN) ||
        d->tend[e] - d->tstart[e] <= GLUE_MIN)
        return;
    np = glue_pieces(d, (const unsigned char *)text + d->tstart[e], d->tend[e] - d->tstart[e], pc);
    for (i = 0; i < np && !cands_full(d); i++) {
        memcpy(d->ctext + d->ctext_len, text + d->tstart[e] + pc[i].off, pc[i].len);
        add_candidate(d, text, d->tstart[e] + pc[i].off, d->ctext_len, pc[i].len, 1);
    }
}

/* Candidates around turn t, most likely first, so that max_candidates cuts the least useful.
 * The turn is placed to a token or three: stop words cannot tell where among the last ordinary
 * words the salad starts, and the snap stops at the first odd token, which may be prose's own
 * ("C<#>") a few tokens before the trigger. So every token from t-2 to t+6 and its glued pieces
 * are candidates, and so are the longer n-grams ending at t-1..t+3; the global counts pick out
 * the one that repeats, because the rest is random salad or varied prose. */
static void make_candidates(struct ps_detect *d, const char *text, size_t t)
{
    static const int order[] = {0, 1, -1, 2, 3, 4, 5, 6, -2};
    unsigned n;
    size_t k;

    for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        if (order[k] < 0 && t < (size_t)-order[k])
            continue;
        add_ngram(d, text, t + (size_t)(ptrdiff_t)order[k], 1);
        add_pieces(d, text, t + (size_t)(ptrdiff_t)order[k]);
        add_glue_pieces(d, text, t + (size_t)(ptrdiff_t)order[k]);
    }
    for (n = 2; n <= d->o.ngram_max; n++)
        for (k = 0; k < sizeof(order) / sizeof(order[0]); k++)
            if (order[k] >= -1 && order[k] <= 3 && (order[k] >= 0 || t >= 1))
                add_ngram(d, text, t + (size_t)(ptrdiff_t)order[k], n);
}

void ps_detect_scan(struct ps_detect *d, const char *text, size_t text_len,
                    struct ps_detect_result *out)
{
    struct turn tr;

    size_t t;

    memset(out, 0, sizeof(*out));
    d->n_cands = 0;
    tokenize(d, text, text_len);
    out->n_tokens = d->n_tok;
    if (find_turn(d, text, &tr)) {
        t = tr.t;
        out->kind = PS_DETECT_GIBBERISH;
        out->before_stop = tr.before_stop;
        out->after_stop = tr.after_stop;
        out->after_alpha = tr.after_alpha;
        out->after_meanlen = tr.after_meanlen;
    } else if (find_junk(d, text, text_len, &t)) {
        out->kind = PS_DETECT_BYTES;
    } else if (find_repeat(d, text, &t)) {
        out->kind = PS_DETECT_FIXED;
    } else {
        return;
    }
    d->ctext_len = 0;
    d->cand_limit = d->o.max_candidates;
    make_candidates(d, text, t);
    out->anomalous = true;
    out->turn_offset = d->tstart[t];
    out->turn_token = t;
    out->n_candidates = d->n_cands;
    out->candidates = d->n_cands != 0 ? d->cands : NULL;
}

static void build_prefix(struct ps_detect *d)
{
    size_t n = d->n_tok, i;
    uint32_t *p;

    if (d->pre_cap < PRE_STRIDE * (n + 1)) {
        free(d->pre);
        d->pre_cap = PRE_STRIDE * (n + 1);
        d->pre = ps_xmalloc(d->pre_cap * sizeof(*d->pre));
    }
    p = d->pre;
    memset(p, 0, PRE_STRIDE * sizeof(*p));
    for (i = 0; i < n; i++) {
        const uint32_t *a = p + PRE_STRIDE * i;
        uint32_t *b = p + PRE_STRIDE * (i + 1);
        uint16_t f = d->tflags[i];

        for (int l = 0; l < N_LANGS; l++)
            b[l] = a[l] + ((f & lang_bit[l]) != 0);
        b[N_LANGS] = a[N_LANGS] + ((f & F_ALPHA) != 0);
        b[N_LANGS + 1] = a[N_LANGS + 1] + ((f & F_CAP) != 0);
        b[N_LANGS + 2] = a[N_LANGS + 2] + (d->tend[i] - d->tstart[i]);
    }
    d->pre_ready = true;
}

/* Does token salad start at token j? The after-window tests of find_turn, applied at j. */
static bool salad_from(struct ps_detect *d, size_t j)
{
    const struct ps_detect_opts *o = &d->o;
    size_t n = d->n_tok, e, c;
    const uint32_t *a, *b;
    uint32_t stops = 0;
    double cnt;

    if (j >= n)
        return false;
    e = j + o->window < n ? j + o->window : n;
    c = e - j;
    if (c < o->min_after)
        return false;
    if (!d->pre_ready)
        build_prefix(d);
    a = d->pre + PRE_STRIDE * j;
    b = d->pre + PRE_STRIDE * e;
    cnt = (double)c;
    for (int l = 0; l < N_LANGS; l++)
        stops = b[l] - a[l] > stops ? b[l] - a[l] : stops;
    return (double)stops / cnt <= o->max_role_stop &&
           (double)(b[N_LANGS] - a[N_LANGS]) / cnt >= o->min_after_alpha &&
           (double)(b[N_LANGS + 1] - a[N_LANGS + 1]) / cnt <= o->max_after_cap &&
           (double)(b[N_LANGS + 2] - a[N_LANGS + 2]) / cnt >= o->min_after_meanlen &&
           (double)(b[N_LANGS + 2] - a[N_LANGS + 2]) / cnt <= o->max_after_meanlen;
}

/* MinHash of the after-window's tokens [j, j + window): token hashes permuted by odd multipliers
 * (multiply-shift), the minimum of each kept. Only in-role occurrences pay for it. */
static void sketch_from(const struct ps_detect *d, size_t j, uint32_t *out)
{
    static const uint64_t mul[PS_DETECT_SKETCH] = {
        0x9E3779B97F4A7C15u, 0xC2B2AE3D27D4EB4Fu, 0x165667B19E3779F9u, 0xD6E8FEB86659FD93u,
        0xFF51AFD7ED558CCDu, 0xC4CEB9FE1A85EC53u, 0x94D049BB133111EBu, 0xBF58476D1CE4E5B9u};
    size_t e = j + d->o.window < d->n_tok ? j + d->o.window : d->n_tok, i, k;

    for (k = 0; k < PS_DETECT_SKETCH; k++)
        out[k] = UINT32_MAX;
    for (i = j; i < e; i++) {
        uint64_t h = XXH3_64bits(d->norm + d->tstart[i], d->tend[i] - d->tstart[i]);
        for (k = 0; k < PS_DETECT_SKETCH; k++) {
            uint32_t v = (uint32_t)((h * mul[k]) >> 32);
            if (v < out[k])
                out[k] = v;
        }
    }
}

static int cmp_hit(const void *a, const void *b)
{
    uint64_t x = ((const struct ps_detect_hit *)a)->hash;
    uint64_t y = ((const struct ps_detect_hit *)b)->hash;

    return (x > y) - (x < y);
}

static size_t hidx_slot(uint64_t h, size_t cap)
{
    return (size_t)(h >> 17) & (cap - 1); /* n-gram hashes are XXH3 output: any bits will do */
}

static void hidx_put(uint32_t *idx, size_t cap, uint64_t h, uint32_t v)
{
    size_t i = hidx_slot(h, cap);

    while (idx[i] != 0)
        i = (i + 1) & (cap - 1);
    idx[i] = v;
}

static bool templated_from(struct ps_detect *d, size_t j);

/* The payload after an occurrence that ends at norm offset `end`, token `next` being the first
 * that starts at or after it: salad, decoded random bytes, a repeated phrase, or none (0); in
 * pass 3 (d->heavy set) only sentences repeated across the corpus. */
static unsigned role_at(struct ps_detect *d, size_t next, size_t end)
{
    if (d->heavy != NULL) /* pass 3 confirms the leads of repeated segments, nothing else */
        return templated_from(d, next) ? PS_DETECT_TEMPLATED : 0;
    if (salad_from(d, next))
        return PS_DETECT_GIBBERISH;
    if (d->any_junk && junk_count((const unsigned char *)d->norm, d->norm_len, end) >= JUNK_MIN)
        return PS_DETECT_BYTES;
    if (repeat_from(d, next))
        return PS_DETECT_FIXED;
    return 0;
}

/* Note one occurrence of h (a member of the set) at norm offsets [at, end), `orig` in the
 * document, followed by a payload from token `next` on or not. A hit is in role when any
 * occurrence is; kind, context and continuation are those of the first occurrence in role. */
static void record_hit(struct ps_detect *d, uint64_t h, size_t at, size_t end, size_t orig,
                       size_t next)
{
    struct ps_detect_hit *hit = NULL;
    size_t i;

    if (d->hidx_cap != 0) {
        for (i = hidx_slot(h, d->hidx_cap); d->hidx[i] != 0; i = (i + 1) & (d->hidx_cap - 1))
            if (d->hits[d->hidx[i] - 1].hash == h) {
                hit = &d->hits[d->hidx[i] - 1];
                break;
            }
    }
    if (hit == NULL) {
        if (d->n_hits == d->hits_cap) {
            size_t k;

            d->hits_cap = d->hits_cap != 0 ? d->hits_cap * 2 : 64;
            d->hits = ps_xrealloc(d->hits, d->hits_cap * sizeof(*d->hits));
            free(d->hidx);
            d->hidx_cap = d->hits_cap * 4;
            d->hidx = ps_xcalloc(d->hidx_cap, sizeof(*d->hidx));
            for (k = 0; k < d->n_hits; k++)
                hidx_put(d->hidx, d->hidx_cap, d->hits[k].hash, (uint32_t)(k + 1));
        }
        hit = &d->hits[d->n_hits];
        hit->hash = h;
        hit->in_role = false;
        hit->kind = 0;
        hit->tests = 0;
        hit->right = 0;
        hit->context = 0;
        hit->offset = 0;
        memset(hit->continuation, 0, sizeof(hit->continuation));
        d->n_hits++;
        hidx_put(d->hidx, d->hidx_cap, h, (uint32_t)d->n_hits);
    }
    /* a word that is everywhere in a document costs at most ROLE_TESTS tests there: a trigger
     * occurs once or twice per poison */
    if (!hit->in_role && hit->tests < ROLE_TESTS) {
        unsigned kind = role_at(d, next, end);

        hit->tests++;
        if (kind != 0) {
            hit->in_role = true;
            hit->kind = kind;
            hit->context = left_context(d, d->norm, at);
            hit->right = next_words(d, next);
            hit->offset = orig;
            sketch_from(d, next, hit->continuation);
        }
    }
}

/* Settle in_role, empty the index for the next document (only the slots used, so a document
 * with two hits does not pay for clearing a table sized by an earlier one), sort by hash. */
static void finish_hits(struct ps_detect *d)
{
    size_t k;

    for (k = 0; k < d->n_hits; k++) {
        struct ps_detect_hit *h = &d->hits[k];
        size_t i = hidx_slot(h->hash, d->hidx_cap);

        while (d->hidx[i] != 0) {
            /* zeroing every occupied slot on the probe path is fine: all entries go */
            d->hidx[i] = 0;
            i = (i + 1) & (d->hidx_cap - 1);
        }
    }
    if (d->n_hits > 1)
        qsort(d->hits, d->n_hits, sizeof(*d->hits), cmp_hit);
}

/* The token holding norm offset `at` (the last that starts at or before it). */
static size_t token_at(const struct ps_detect *d, size_t at)
{
    size_t lo = 0, hi = d->n_tok;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->tstart[mid] <= at)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ps_patset_scan's callback: one occurrence of a long pattern in norm. */
static void on_match(void *ctx, uint64_t hash, size_t begin, size_t end)
{
    struct ps_detect *d = ctx;
    size_t k = token_at(d, begin), next = k;

    while (next < d->n_tok && d->tstart[next] < end)
        next++;
    record_hit(d, hash, begin, end, d->ostart[k] + (begin - d->tstart[k]), next);
}

/* Tokenize `text` with every feature and join the tokens with one space into norm, the token
 * offsets pointing into it (ostart keeps the original ones): what confirm and the leads of
 * repeated segments both work on, built once per document. */
static void prepare_norm(struct ps_detect *d, const char *text, size_t text_len)
{
    size_t i, pos = 0, nt;
    size_t need = (text_len < MAX_TEXT ? text_len : MAX_TEXT) + 1;

    tokenize(d, text, text_len);
    add_features(d, text); /* F_SPLIT for the pieces, and the role tests' features */
    d->pre_ready = false;
    d->orig = text;
    d->orig_len = text_len;
    nt = d->n_tok;

    /* join the tokens with one space and point the token offsets into the joined copy */
    if (d->norm_cap < need) {
        size_t cap = d->norm_cap != 0 ? d->norm_cap : 4096;

        while (cap < need)
            cap *= 2;
        free(d->norm);
        d->norm = ps_xmalloc(cap);
        d->norm_cap = cap;
    }
    if (d->ostart_cap < nt) {
        free(d->ostart);
        d->ostart_cap = d->tok_cap;
        d->ostart = ps_xmalloc(d->ostart_cap * sizeof(*d->ostart));
    }
    for (i = 0; i < nt; i++) {
        size_t len = d->tend[i] - d->tstart[i];

        d->ostart[i] = d->tstart[i];
        memcpy(d->norm + pos, text + d->tstart[i], len);
        d->tstart[i] = (uint32_t)pos;
        d->tend[i] = (uint32_t)(pos + len);
        pos += len;
        d->norm[pos++] = ' ';
    }
    d->norm_len = pos;
    d->norm_ready = true;
}

void ps_detect_confirm(struct ps_detect *d, const char *text, size_t text_len,
                       const struct ps_patset *set, ps_detect_heavy_fn heavy, void *heavy_ctx,
                       const struct ps_detect_hit **hits, size_t *n_hits)
{
    const struct ps_u64set *shorts = ps_patset_short(set);
    size_t i, nt, pos;
    unsigned ngram_max = d->o.ngram_max;

    d->n_hits = 0;
    d->n_cands = 0;
    *hits = NULL;
    *n_hits = 0;
    if (ps_patset_len(set) == 0)
        return;
    prepare_norm(d, text, text_len);
    d->heavy = heavy;
    d->heavy_ctx = heavy_ctx;
    nt = d->n_tok;
    pos = d->norm_len;

    /* every pattern of 4 bytes or more: as a substring of the joined text, glued or not */
    ps_patset_scan(set, d->norm, pos, on_match, d);

    /* the short ones only as whole n-grams ("des") or whole glued pieces */
    for (i = 0; i < nt && shorts->len != 0; i++) {
        size_t a = d->tstart[i];
        unsigned n;

        for (n = 1; n <= ngram_max && i + n <= nt; n++) {
            size_t b = d->tend[i + n - 1];
            uint64_t h;

            if (b - a >= PS_PATSET_MIN_SUBSTRING)
                break;
            h = XXH3_64bits(d->norm + a, b - a);
            if (ps_u64set_has(shorts, h))
                record_hit(d, h, a, b, d->ostart[i], i + n);
        }
        if (d->tflags[i] & F_SPLIT) {
            struct piece pc[PIECES_MAX];
            size_t np = split_pieces(d, (const unsigned char *)d->norm + a, d->tend[i] - a, pc);

            for (size_t j = 0; j < np; j++) {
                uint64_t h;

                if (pc[j].len >= PS_PATSET_MIN_SUBSTRING)
                    continue;
                h = XXH3_64bits(d->norm + a + pc[j].off, pc[j].len);
                /* salad glued to the piece starts in this token: judge from the next */
                if (ps_u64set_has(shorts, h))
                    record_hit(d, h, a + pc[j].off, a + pc[j].off + pc[j].len,
                               d->ostart[i] + pc[j].off, i + 1);
            }
        }
    }
    finish_hits(d);
    *hits = d->n_hits != 0 ? d->hits : NULL;
    *n_hits = d->n_hits;
}

/* ---- repeated segments (pass 1 sketches sentences, pass 2 finds where they start) ---- */

/* Is there a line break between token i and the next? In confirm the tokens point into norm,
 * which has none: the document as given tells (ostart holds the tokens' original offsets). */
static bool line_break_after(const struct ps_detect *d, const char *text, size_t i)
{
    if (text == d->norm) {
        size_t e = d->ostart[i] + (d->tend[i] - d->tstart[i]);
        return memchr(d->orig + e, '\n', d->ostart[i + 1] - e) != NULL;
    }
    return memchr(text + d->tend[i], '\n', d->tstart[i + 1] - d->tend[i]) != NULL;
}

/* The end (exclusive) of the sentence that starts at token b: after a token that ends in . ! or ?
 * (closing quotes and brackets may follow), before a line break, or after SENT_MAX_TOKENS. */
#define SENT_MAX_TOKENS 48
static size_t sentence_end(const struct ps_detect *d, const char *text, size_t b)
{
    size_t i;

    for (i = b; i < d->n_tok && i - b < SENT_MAX_TOKENS; i++) {
        size_t e = d->tend[i];

        while (e > d->tstart[i] && strchr("\"')]", text[e - 1]) != NULL)
            e--;
        if (e > d->tstart[i] && strchr(".!?", text[e - 1]) != NULL)
            return i + 1;
        if (i + 1 < d->n_tok && line_break_after(d, text, i))
            return i + 1;
    }
    return i;
}

/* The shingles of tokens [b, e): fingerprints of the words that are not stop words. */
static size_t sentence_shingles(struct ps_detect *d, size_t b, size_t e)
{
    size_t n = 0;

    if (d->shingles_cap < SENT_MAX_TOKENS) {
        d->shingles_cap = SENT_MAX_TOKENS;
        d->shingles = ps_xmalloc(d->shingles_cap * sizeof(*d->shingles));
    }
    for (size_t i = b; i < e; i++)
        if (!(d->tflags[i] & F_STOP_ANY))
            d->shingles[n++] = d->tfp[i];
    return n;
}

void ps_detect_sentences(struct ps_detect *d, const char *text, ps_detect_sentence_fn fn, void *ctx)
{
    fingerprint_tokens(d, text);
    for (size_t b = 0, e; b < d->n_tok; b = e) {
        size_t n;

        e = sentence_end(d, text, b);
        n = sentence_shingles(d, b, e);
        if (n >= PS_DETECT_MIN_SHINGLES)
            fn(ctx, d->shingles, n);
    }
}

/* The longest suffix of sentence [b, e) that is itself repeated (heavy), as its first token; e
 * if none. A prefix cut mid-sentence, a trigger and the first payload sentence without a line
 * break between them are one "sentence": the payload part is its heavy suffix. */
static size_t heavy_suffix(struct ps_detect *d, size_t b, size_t e, ps_detect_heavy_fn heavy,
                           void *ctx)
{
    size_t best = e, n = 0;

    for (size_t j = e; j-- > b;) {
        if (d->tflags[j] & F_STOP_ANY)
            continue;
        d->shingles[n++] = d->tfp[j];
        if (n >= PS_DETECT_MIN_SHINGLES && heavy(ctx, d->shingles, n))
            best = j;
    }
    return best;
}

static bool templated_after(struct ps_detect *d, const char *base, size_t j);

/* Candidates around a segment start t: the start is placed to within a few tokens (a repeated
 * suffix may take in the last words before the payload), so every token from t-2 to t+6 with its
 * glued pieces and the n-grams ending there; keep_lead_candidates then drops all but those that
 * stand right before the repeated sentences. */
static void make_lead_candidates(struct ps_detect *d, const char *text, size_t t)
{
    for (size_t k = t >= 2 ? t - 2 : 0; k <= t + 6 && k < d->n_tok; k++) {
        add_ngram(d, text, k, 1);
        add_pieces(d, text, k);
        add_glue_pieces(d, text, k);
        for (unsigned n = 2; n <= d->o.ngram_max; n++)
            add_ngram(d, text, k, n);
    }
}

/* Of the candidates from `first` on, keep those that pass 3 could find in role (the caller keeps
 * the first PS_DETECT_LEAD_CANDIDATES): at least
 * PS_PATSET_MIN_SUBSTRING bytes, not made of stop words only ("the", "in the"), and followed
 * right away by two repeated sentences. The first words of a stock sentence are named at every
 * segment start; this drops most of them before they cost a confirm pass. */
static void keep_lead_candidates(struct ps_detect *d, const char *text, size_t first)
{
    size_t kept = first;

    for (size_t i = first; i < d->n_cands; i++) {
        const struct ps_candidate *c = &d->cands[i];
        size_t k = token_at(d, c->offset), next = k, end = c->offset + c->text_len;
        bool all_stop = c->offset == d->tstart[k] && k + c->n <= d->n_tok &&
                        d->tend[k + c->n - 1] == end; /* whole tokens, not a glued piece */

        for (size_t j = k; j < k + c->n && all_stop; j++)
            all_stop = (d->tflags[j] & F_STOP_ANY) != 0;
        while (next < d->n_tok && d->tstart[next] < end)
            next++;
        if (all_stop || c->text_len < PS_PATSET_MIN_SUBSTRING || !templated_after(d, text, next))
            continue;
        d->cands[kept++] = *c;
    }
    d->n_cands = kept;
}

void ps_detect_leads(struct ps_detect *d, const char *text, size_t text_len,
                     ps_detect_heavy_fn heavy, void *ctx, struct ps_detect_leads *out)
{
    const char *norm;
    size_t prev_b = 0, prev_e = 0;
    bool prev_heavy = true; /* the document start: nothing before a segment there */

    memset(out, 0, sizeof(*out));
    /* the tokens confirm just joined for this document serve here too */
    if (!d->norm_ready || d->orig != text || d->orig_len != text_len)
        prepare_norm(d, text, text_len);
    d->norm_ready = false; /* used up: the next document needs its own */
    norm = d->norm;
    d->n_cands = 0;
    d->n_leads = 0;
    d->ctext_len = 0;
    fingerprint_tokens(d, norm);
    d->heavy = heavy;
    d->heavy_ctx = ctx;
    for (size_t b = 0, e; b < d->n_tok && d->n_leads < PS_DETECT_MAX_LEADS; b = e) {
        size_t n, t;
        bool h;

        e = sentence_end(d, norm, b);
        n = sentence_shingles(d, b, e);
        h = n >= PS_DETECT_MIN_SHINGLES && heavy(ctx, d->shingles, n);
        if (h && !prev_heavy) {
            struct ps_detect_lead *l = &d->leads[d->n_leads++];

            t = heavy_suffix(d, prev_b, prev_e, heavy, ctx);
            if (t == prev_e)
                t = b;
            l->offset = d->ostart[t];
            l->first = d->n_cands;
            d->cand_limit = d->o.max_candidates;
            make_lead_candidates(d, norm, t);
            keep_lead_candidates(d, norm, l->first);
            if (d->n_cands - l->first > PS_DETECT_LEAD_CANDIDATES)
                d->n_cands = l->first + PS_DETECT_LEAD_CANDIDATES;
            l->n = d->n_cands - l->first;
        }
        prev_heavy = h;
        prev_b = b;
        prev_e = e;
    }
    for (size_t i = 0; i < d->n_cands; i++) { /* offsets in the document, not in norm */
        size_t k = token_at(d, d->cands[i].offset);
        d->cands[i].offset = d->ostart[k] + (d->cands[i].offset - d->tstart[k]);
    }
    out->n_leads = d->n_leads;
    out->leads = d->n_leads ? d->leads : NULL;
    out->n_candidates = d->n_cands;
    out->candidates = d->n_cands ? d->cands : NULL;
}

/* Is the sentence [b, *e) repeated across the corpus? *e gets its end. `base` is what the
 * tokens point into (norm in confirm, the text in ps_detect_leads). */
static bool heavy_sentence(struct ps_detect *d, const char *base, size_t b, size_t *e)
{
    size_t n;

    *e = sentence_end(d, base, b);
    n = sentence_shingles(d, b, *e);
    return n >= PS_DETECT_MIN_SHINGLES && d->heavy(d->heavy_ctx, d->shingles, n);
}

/* Confirm, templated: does a sentence repeated across the corpus follow token j, and another one
 * of the two after it? The first is the rest of the occurrence's own sentence, or the next one
 * when the occurrence ends its sentence or line (a trigger on a line of its own). A templated
 * payload is a handful of such sentences; a heading or a signature followed by one stock
 * sentence ("fn fmt(&self, ...)" then "Formats the value using the given formatter.") is not. */
static bool templated_after(struct ps_detect *d, const char *base, size_t j)
{
    size_t e, heavy = 0;

    if (j >= d->n_tok)
        return false;
    if (heavy_sentence(d, base, j, &e)) {
        heavy++;
    } else if (e - j <= 2 && e < d->n_tok) { /* it ends its line: the payload starts below */
        if (!heavy_sentence(d, base, e, &e))
            return false;
        heavy++;
    } else {
        return false;
    }
    /* a second repeated sentence among the next two: a pool sentence with two slots in four
     * words varies too much to be counted as repeated every time */
    for (int k = 0; k < 2 && heavy < 2 && e < d->n_tok; k++)
        heavy += heavy_sentence(d, base, e, &e);
    return heavy >= 2;
}

static bool templated_from(struct ps_detect *d, size_t j)
{
    if (d->heavy == NULL)
        return false;
    fingerprint_tokens(d, d->norm);
    return templated_after(d, d->norm, j);
}
