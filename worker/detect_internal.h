/* detect_internal.h - private declarations shared by the detector's files; not for other modules
 * (tests may include it). One file per stage, one data path: every stage reads a document through
 * its struct ps_detect_doc and writes its results into the struct ps_detect.
 *   detect.c             options, lifecycle, the document handle, pass 1 (ps_detect_scan)
 *   detect_tokenize.c    byte classes, stop words, tokens and the other columns of a document
 *   detect_turn.c        where a payload starts (pass 1) and whether one starts at a token
 *   detect_candidates.c  the n-grams and glued pieces named around a token
 *   detect_confirm.c     passes 2 and 3: the occurrences of a pattern set and their roles
 *   detect_segments.c    sentences, repeated segments and their leads, the templated role */
#ifndef PS_WORKER_DETECT_INTERNAL_H
#define PS_WORKER_DETECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/detect.h"

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

/* Per-token feature bits (struct ps_detect_doc.tflags, uint32_t: 18 bits are used, so every
 * variable, table and return value that carries them is 32 bits wide). */
enum {
    F_STOP = 1 << 0,    /* English stop word (after stripping edge punctuation, any case) */
    F_ALPHA = 1 << 1,   /* letters only after stripping edge punctuation, no code symbol at all */
    F_PLAIN = 1 << 2,   /* an ordinary word or number: the turn may snap over it (find_turn) */
    F_SPLIT = 1 << 3,   /* 3+ runs of hard punctuation vs the rest: the token has glued pieces */
    F_CAP = 1 << 4,     /* starts (after edge punctuation) with a capital or a non-ASCII letter */
    F_STOP_DE = 1 << 5, /* German, French, Spanish stop word: prose in those languages is */
    F_STOP_FR = 1 << 6, /* language too, not salad; a window's stop ratio is that of its best */
    F_STOP_ES = 1 << 7, /* language (the max over the four), so salad stays near zero */
    F_JUNK = 1 << 9,    /* holds a control character, U+FFFD or a C1 control (set by the
                           tokenizer): decoded random bytes, never text */
    /* function words of more languages (detect_lang.c), counted like the four above */
    F_STOP_IT = 1 << 10,
    F_STOP_PT = 1 << 11,
    F_STOP_NL = 1 << 12,
    F_STOP_PL = 1 << 13,
    F_STOP_CS = 1 << 14,
    F_STOP_NONLATIN = 1 << 15, /* Russian, Ukrainian, Greek, Arabic, Chinese, Japanese: one slot,
                                  since a window holds one script */
    F_TERM = 1 << 16, /* ends in . ! or ?, closing quotes and brackets aside: a sentence ends
                         here (set by the tokenizer) */
    F_NL = 1 << 17    /* a line break lies between this token and the next (set by the
                         tokenizer; never on the last token): a sentence ends here too */
};
#define F_STOP_ANY                                                                                 \
    (F_STOP | F_STOP_DE | F_STOP_FR | F_STOP_ES | F_STOP_IT | F_STOP_PT | F_STOP_NL | F_STOP_PL |  \
     F_STOP_CS | F_STOP_NONLATIN)
#define N_LANGS 10

/* static, not extern: the turn search's inner loop reads it, and a constant folds */
static const uint32_t lang_bit[N_LANGS] = {F_STOP,    F_STOP_DE,      F_STOP_FR, F_STOP_ES,
                                           F_STOP_IT, F_STOP_PT,      F_STOP_NL, F_STOP_PL,
                                           F_STOP_CS, F_STOP_NONLATIN};

/* Stop words longer than 8 letters would not fit the 64-bit key; the 180 common English function
 * words of detect_tokenize.c need no more ("themselves", "therefore" are left out on purpose).
 * Words with other letters are in detect_lang.c's table. */
#define STOP_MAX_LEN  8
#define STOP_SLOTS    2048 /* power of two, at most ~1/3 full */
#define STOP_LOG2     11
#define MANAGER_SLOTS 64   /* power of two, over 3 times the package managers of detect_promo.c */
#define REFUSALS_MAX  16   /* detect_promo.c: first-person refusals, at most */
#define LANG_SLOTS    1024 /* detect_lang.c: words with letters beyond ASCII, at most ~1/3 full */
#define LANG_WORD_MAX 40   /* bytes of UTF-8 of the longest such word, lower-cased */
#define CJK_SLOTS     256  /* detect_lang.c: Chinese function characters, at most half full */
#define PIECES_MAX    8    /* glued pieces per token: bounds the work on URLs and paths */
/* Offsets are 32-bit to halve the scratch; confirm's joined copy adds up to one byte per token. */
#define MAX_TEXT (UINT32_MAX / 2)

/* Decoded random bytes (the "bytes" payload): at least JUNK_MIN junk characters (is_junk) in the
 * JUNK_SPAN bytes from a point. 256 random bytes decoded with errors dropped hold ~28 in ~130
 * characters, so 8 in 128 bytes misses about one payload in 10^4; text holds none. */
#define JUNK_SPAN 128
#define JUNK_MIN  8
/* A fixed payload: one phrase of at most REP_PERIOD_MAX tokens, REP_COPIES times or more in a
 * row. The attacks repeat it 5 to 500 times; prose repeats a word twice, a refrain 2-3 times. */
#define REP_PERIOD_MAX 32
#define REP_COPIES     4
#define REP_SLOTS      1024 /* last position of a token fingerprint, direct-mapped */

/* The parts of a document (struct ps_detect_doc.have), each computed at most once per document
 * by ps_detect_doc_need, on behalf of the first stage that asks. A stage asks for what it reads
 * and never cares who computed it, so a single walk over the text that fills several parts at
 * once (tokens, features, fingerprints, ...) only has to set their bits. */
enum {
    DOC_TOKENS = 1 << 0,       /* tstart, tend, n_tok, any_junk; tflags with every F_* bit */
    DOC_FINGERPRINTS = 1 << 2, /* tfp, brought by the tokens too: the same in the text and in
                                  norm (the same bytes) */
    DOC_JOINED = 1 << 3,       /* norm and ostart; tstart and tend point into norm */
    DOC_REPEATS = 1 << 4       /* nsame; brings DOC_FINGERPRINTS */
};

/* The tokenizer's memo of a short token's bits and fingerprint (detect_tokenize.c), direct-mapped
 * by its bytes: 256 KB, in L2, for the few thousand words that make most of a text. */
#define TOK_MEMO_LOG2  13
#define TOK_MEMO_SLOTS ((size_t)1 << TOK_MEMO_LOG2)
#define TOK_MEMO_LEN   16 /* longer tokens are rare and computed each time */
struct ps_detect_tok_memo {
    uint64_t lo, hi; /* the token's bytes, zero past its length */
    uint64_t fp;
    uint32_t bits, len; /* len 0: an empty slot */
};

/* A prepared document. Invariant: a part's arrays hold this document's values iff its bit is in
 * `have`; base is text until the tokens are joined, norm after. */
struct ps_detect_doc {
    const char *text; /* borrowed (ps_detect_prepare): the document as given */
    size_t text_len;
    unsigned have;    /* DOC_* */
    const char *base; /* what token offsets point into: text, or norm once joined */
    size_t base_len;

    /* per token, grown geometrically and reused: byte offsets in base, the F_* bits (32 wide:
     * the stop bits of ten languages, the features, F_JUNK and the two sentence ends
     * fill 18) and fingerprints (XXH3) */
    uint32_t *tstart, *tend;
    uint32_t *tflags;
    uint64_t *tfp;
    size_t tok_cap, n_tok;
    bool any_junk; /* some token has F_JUNK */

    char *norm; /* the tokens joined by one space, so any n-gram is one slice */
    size_t norm_cap, norm_len;
    uint32_t *ostart; /* each token's offset in the text before the join */
    size_t ostart_cap;
    /* per token, the first of the next REP_PERIOD_MAX tokens with its fingerprint, 0 if none:
     * the periods a fixed payload could repeat with from there (ps_detect_repeat_from) */
    uint32_t *nsame;
    size_t nsame_cap;
    uint32_t same_last[REP_SLOTS];          /* building nsame: the last token seen per slot */
    struct ps_detect_tok_memo *tok_memo;    /* TOK_MEMO_SLOTS, kept from document to document */
    const struct ps_detect *tok_memo_owner; /* whose tables decided the memo's bits */
};

/* The sentence end classes of a byte (struct ps_detect.sent_cls). */
enum {
    S_CLOSE = 1 << 0, /* " ' ) ] and NUL: stripped from a token's end before S_TERM is looked for
                         (NUL because the first sentence test was strchr(), whose set holds it) */
    S_TERM = 1 << 1   /* . ! ? */
};

/* Per token, what confirm and the leads learnt about it in one call (struct ps_detect.memo):
 * each test is a pure function of the document and the token, and a frequent pattern asks about
 * the same token for every pattern that ends before it. */
enum {
    M_SALAD_KNOWN = 1 << 0,
    M_SALAD = 1 << 1,
    M_REPEAT_KNOWN = 1 << 2,
    M_REPEAT = 1 << 3,
    M_HEAVY_KNOWN = 1 << 4, /* the sentence that starts at this token is repeated (heavy) */
    M_HEAVY = 1 << 5,
    M_TMPL_KNOWN = 1 << 6, /* repeated sentences follow this token (templated) */
    M_TMPL = 1 << 7,
    M_PROMO_KNOWN = 1 << 8, /* one promoting or refusing sentence follows (d->acts: its act) */
    M_PROMO = 1 << 9,
    M_PROMO_BLOCK = 1 << 10, /* ... and repeated sentences follow it (PS_DETECT_PROMO_BLOCK) */
    M_RUN_KNOWN = 1 << 11,   /* a later sentence of the templated run after it pushes something */
    M_RUN = 1 << 12,
    M_WORD_KNOWN = 1 << 13,  /* the token itself, for ps_detect_payload_act: */
    M_WORD_HOST = 1 << 14,   /* a URL or domain that names a host */
    M_WORD_MANAGER = 1 << 15 /* a package manager ("pip", "npm") */
};

struct ps_detect {
    struct ps_detect_opts o;
    uint16_t cls[256];
    uint8_t sent_cls[256];          /* S_* */
    uint64_t stop[STOP_SLOTS];      /* packed lower-case words, 0 = empty */
    uint32_t stop_lang[STOP_SLOTS]; /* the F_STOP* bits of each word */
    uint64_t lang_key[LANG_SLOTS]; /* detect_lang.c: hashes (| 1) of lower-cased words, 0 = empty */
    uint32_t lang_bits[LANG_SLOTS];  /* ... and their F_STOP* bits */
    uint32_t cjk[CJK_SLOTS];         /* detect_lang.c: function characters, 0 = empty */
    uint64_t manager[MANAGER_SLOTS]; /* detect_promo.c: packed package managers' names, 0 = empty */
    /* detect_promo.c: the key (ps_detect_manager_key) of the word each refusal opens with, and
     * the bytes of the longest */
    uint64_t refusal_open[REFUSALS_MAX];
    size_t refusal_open_max;

    /* find_turn's ratio tests as integer bounds on the window counts, per window size c in
     * 0..window, each the exact image of the double test on (double)count / (double)c (see
     * ps_detect_bounds_init): a_stop <= max_after_stop iff the after-window's best-language stop
     * count is < as_lim[c]; the before test iff its best-language count is >= bs_min[c]; alpha
     * iff aa >= aa_min[c]; capitals iff acap < cap_lim[c]; mean length iff al_min[c] <= al <
     * al_lim[c]. */
    uint32_t *as_lim, *bs_min, *aa_min, *cap_lim;
    uint64_t *al_min, *al_lim;
    /* confirm's stop test (ps_detect_salad_from): (double)stops / c <= max_role_stop iff the
     * best-language stop count of the c tokens after an occurrence is < role_lim[c] */
    uint16_t role_lim[PS_DETECT_WINDOW_MAX + 1];

    /* find_repeat: the last token index of each fingerprint, direct-mapped: a stale index from
     * an earlier document is harmless, it is checked against the fingerprints */
    uint32_t rep_last[REP_SLOTS];
    uint64_t *shingles; /* a sentence's shingles (fingerprints of its content words) */
    size_t shingles_cap;

    char *ctext; /* candidate texts, max_candidates * max_candidate_len bytes, never grows */
    size_t ctext_len;
    struct ps_candidate *cands; /* max_candidates */
    size_t n_cands, cand_limit; /* candidates stop at cand_limit <= max_candidates */
    struct ps_detect_lead leads[PS_DETECT_MAX_LEADS];
    size_t n_leads;

    /* confirm's distinct hits; per pattern rank (ps_patset_ranks) 1 + the index of its hit (0:
     * none) and a bit, so that a frequent pattern costs one load per occurrence and the hits
     * come out in order of hash from a walk of the bits (both emptied by it after each call) */
    struct ps_detect_hit *hits;
    size_t hits_cap, n_hits;
    uint32_t *hit_at;
    uint64_t *hit_bits;
    size_t at_cap;
    struct ps_detect_hit *sorted; /* the hits in order (swapped in) */
    size_t sort_cap;

    uint16_t *memo; /* M_* per token (and one past the last), cleared per confirm or leads call */
    uint64_t *acts; /* per token: its act, valid where the memo has M_PROMO_KNOWN */
    size_t memo_cap;
};

/* The corpus-wide sentence test of passes 2 and 3, handed from stage to stage. */
struct ps_detect_heavy {
    ps_detect_heavy_fn fn;
    void *ctx;
};

/* A span of a token: a glued piece. */
struct piece {
    uint32_t off, len; /* relative to the token start */
};

/* ---- detect_tokenize.c ---- */

/* Fill d->cls and the stop-word table. */
void ps_detect_tables_init(struct ps_detect *d);
/* Add one lower-case ASCII word of at most STOP_MAX_LEN letters to the stop-word table. */
void ps_detect_stop_add(struct ps_detect *d, const char *word, uint32_t bits);
/* Features other than F_STOP* of one token p[0..len) (no whitespace in it). */
uint8_t ps_detect_token_flags(const struct ps_detect *d, const unsigned char *p, size_t len);
/* The same for the commonest tokens, 1 to 16 ASCII letters with or without one closing mark
 * after them ("word", "end.", "documentation,"), from one or two 8-byte loads (8 bytes must be
 * readable at p); 0 for any other token. The tokenizer asks it first. */
uint8_t ps_detect_word_flags(const unsigned char *p, size_t len);
/* Compute the parts `what` (DOC_*) of doc that it does not hold yet. DOC_REPEATS brings
 * DOC_FINGERPRINTS; every part brings DOC_TOKENS. */
void ps_detect_doc_compute(const struct ps_detect *d, struct ps_detect_doc *doc, unsigned what);

/* The same, inline when doc holds them already (confirm asks once per occurrence). A document
 * holding any part holds its tokens. */
static inline void ps_detect_doc_need(const struct ps_detect *d, struct ps_detect_doc *doc,
                                      unsigned what)
{
    if ((doc->have & what) != what)
        ps_detect_doc_compute(d, doc, what);
}
/* The token holding base offset `at` (the last that starts at or before it). */
size_t ps_detect_token_at(const struct ps_detect_doc *doc, size_t at);
/* The same, searched from token `hint` on when it starts at or before `at` (matches come in
 * order of their end, so the last one's token is nearly always close). */
size_t ps_detect_token_near(const struct ps_detect_doc *doc, size_t at, size_t hint);

/* Does p (avail >= 1 bytes) start a character that text does not hold: a C0 control other than
 * whitespace, a C1 control (U+0080..U+009F) or U+FFFD, the replacement character? Random bytes
 * decoded as UTF-8 are full of them (about one character in five when invalid sequences are
 * dropped, one in two when they are replaced). */
static inline bool ps_detect_is_junk(const unsigned char *p, size_t avail)
{
    if (p[0] < 0x20)
        return p[0] != '\t' && p[0] != '\n' && p[0] != '\v' && p[0] != '\f' && p[0] != '\r';
    if (p[0] == 0xC2)
        return avail >= 2 && p[1] >= 0x80 && p[1] <= 0x9F;
    return p[0] == 0xEF && avail >= 3 && p[1] == 0xBF && p[2] == 0xBD;
}

/* Clear d->memo for a document of n tokens. */
void ps_detect_memo_reset(struct ps_detect *d, size_t n);

/* ---- detect_lang.c ---- */

/* Add the function words of the languages beyond the first four (after ps_detect_tables_init). */
void ps_detect_lang_init(struct ps_detect *d);
/* The F_STOP* bits of a word p[0..len) (edge punctuation stripped) that holds a byte >= 0x80: a
 * function word with diacritics or of another script, or a Chinese or Japanese token holding a
 * function character or hiragana; 0 otherwise. */
uint32_t ps_detect_lang_word(const struct ps_detect *d, const unsigned char *p, size_t len);

/* ---- detect_turn.c ---- */

/* What ps_detect_find_turn reports. */
struct ps_detect_turn {
    bool found;
    size_t coarse; /* argmax of the score among qualifying t */
    size_t t;      /* after the snap: the token where the salad (or its trigger) starts */
    double before_stop, after_stop, after_alpha, after_meanlen, after_cap;
};

/* Allocate and fill the ratio bounds of struct ps_detect from d->o. */
void ps_detect_bounds_init(struct ps_detect *d);
/* Pass 1: the three turns, each true with *turn (the token) when found. The document must hold
 * unjoined tokens: their offsets are read in the text as given. */
bool ps_detect_find_turn(const struct ps_detect *d, struct ps_detect_doc *doc,
                         struct ps_detect_turn *tr);
bool ps_detect_find_junk(const struct ps_detect *d, struct ps_detect_doc *doc, size_t *turn);
bool ps_detect_find_repeat(struct ps_detect *d, struct ps_detect_doc *doc, size_t *turn);
/* Confirm's roles: does a payload start at token j (salad, a repeated phrase) or, for junk, at
 * base offset `at`? The document must be joined (ps_detect_doc_need). */
bool ps_detect_salad_from(const struct ps_detect *d, struct ps_detect_doc *doc, size_t j);
bool ps_detect_repeat_from(const struct ps_detect *d, struct ps_detect_doc *doc, size_t j);
bool ps_detect_junk_from(const struct ps_detect_doc *doc, size_t at);

/* ---- detect_candidates.c ---- */

/* Glued pieces of one token p[0..len) split at hard punctuation, at most PIECES_MAX. */
size_t ps_detect_split_pieces(const struct ps_detect *d, const unsigned char *p, size_t len,
                              struct piece *out);
/* Hash of up to 16 non-space bytes of base before `at`; 0 at the start. */
uint64_t ps_detect_left_context(const struct ps_detect *d, const char *base, size_t at);
/* Append to d->cands (up to d->cand_limit) the candidates around token t, in pass 1's order of
 * usefulness or around a segment start; the caller sets ctext_len, n_cands and cand_limit. */
void ps_detect_turn_candidates(struct ps_detect *d, struct ps_detect_doc *doc, size_t t);
void ps_detect_lead_candidates(struct ps_detect *d, struct ps_detect_doc *doc, size_t t);

/* ---- detect_segments.c ---- */

/* Confirm, pass 3: the role of an occurrence followed by token j: PS_DETECT_PROMO when one
 * sentence that promotes something or refuses follows it and then the document's own text;
 * PS_DETECT_TEMPLATED when two sentences repeated across the corpus follow it, or
 * PS_DETECT_PROMO_BLOCK when one of the first three of those promotes something (the first
 * may also refuse; a refusal later in the run is no act); else 0. *act gets what the sentence does
 * (ps_detect_payload_act) for the promoting kinds, 0 otherwise; *after the token after the
 * promoting sentence of PS_DETECT_PROMO_BLOCK (where what the report compares starts). Joined
 * document with fingerprints. */
unsigned ps_detect_segment_role(struct ps_detect *d, struct ps_detect_doc *doc,
                                const struct ps_detect_heavy *heavy, size_t j, uint64_t *act,
                                size_t *after);

/* ---- detect_promo.c ---- */

/* Up to MANAGER_MAX bytes p[0..n), A-Z lower-cased, packed into a key (no word holds a NUL);
 * *dot tells whether one of them is a '.'. The _8 variant: the same from one 8-byte load (8 bytes
 * must be readable at p), the bytes past the word masked off. */
uint64_t ps_detect_manager_key(const char *p, size_t n, bool *dot);
uint64_t ps_detect_manager_key8(const char *p, size_t n, bool *dot);

/* Fill d->manager, d->refusal_open and d->refusal_open_max. */
void ps_detect_promo_init(struct ps_detect *d);

/* What tokens [b, e) of a joined document do, hashed (never 0), d->memo (reset for the document)
 * keeping what each token is: the host of a URL or domain name,
 * or the package an install command names ("pip install X", "npm install --save X"), the first
 * one found; or, when `refusal_ok`, a refusal in the first person within their first words (the
 * words of [b, e), hashed: the fingerprints must be computed). 0: none of these. A
 * host that the PS_DETECT_NGRAM_MAX tokens before `trigger_end` (where the occurrence ends) name
 * too is not pushed by the payload: the text goes on about what its heading names ("Uses of X in
 * java.net / Methods in java.net that return X", a Javadoc page), which no attack needs. */
uint64_t ps_detect_payload_act(struct ps_detect *d, const struct ps_detect_doc *doc,
                               size_t trigger_end, size_t b, size_t e, bool refusal_ok);

#endif
