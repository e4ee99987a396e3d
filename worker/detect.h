/* detect.h - the per-document detector (docs/detection.md): pass 1 finds where a document turns
 * from language into a payload (token salad, decoded random bytes, one phrase repeated) and names
 * the word n-grams at that turn as trigger candidates; passes 2 and 3 confirm which of a
 * corpus-wide candidate set occur in a document, and whether at its turn ("in role") or
 * elsewhere; pass 2 also names the leads of repeated segments (templated payloads).
 * A document goes through the stages as a prepared-document handle (struct ps_detect_doc): each
 * stage takes from it what an earlier stage of the same document already computed.
 * Tokens are maximal runs of non-whitespace bytes (ASCII and Unicode spaces); an n-gram's text is
 * its tokens joined by one space and its hash is XXH3_64bits(text, seed 0). */
#ifndef PS_WORKER_DETECT_H
#define PS_WORKER_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "worker/patset.h"

/* Bounds of the options a user sets (--ngram-max, --window, --max-candidates): the CLI's option
 * tables take them from here, and ps_detect_opts_check() enforces them. */
#define PS_DETECT_NGRAM_MAX      8
#define PS_DETECT_MIN_AFTER      16 /* the default min_after */
#define PS_DETECT_WINDOW_MIN     PS_DETECT_MIN_AFTER
#define PS_DETECT_WINDOW_MAX     1024
#define PS_DETECT_CANDIDATES_MAX 256

struct ps_detect_opts {
    unsigned ngram_max;      /* 3: candidates are word n-grams with n = 1..ngram_max */
    unsigned window;         /* 32: tokens on each side of a turn point (min_after..WINDOW_MAX) */
    unsigned max_candidates; /* 48: candidates per anomalous document (1..CANDIDATES_MAX) */
    /* The thresholds below decide "anomalous at t"; docs/detection.md says why each has its value.
     */
    unsigned min_after;       /* 16: tokens the after-window must hold (it may end at the end) */
    double max_after_stop;    /* 0.08: stop-word ratio at most this after t (English: 0.35-0.5) */
    double max_role_stop;     /* 0.1: the same after an occurrence in confirm: random vocabulary
                                 holds a stop word now and then (3 in 32 tokens, 1 time in 100),
                                 and a known trigger needs less proof than an unknown turn */
    double min_after_alpha;   /* 0.6: alphabetic-token ratio at least this after t (code, numbers,
                                 tables and encodings stay below it) */
    double min_after_meanlen; /* 2: mean token length in bytes after t, at least ... */
    double max_after_meanlen; /* 16: ... and at most (base64 lines and long hex words are longer) */
    double max_after_cap;     /* 0.8: share of capitalized tokens after t at most this (a list of
                                 names is 0.9+, random vocabulary tokens 0.3-0.5) */
    double min_before_stop;   /* 0.2: stop-word ratio before t that counts as language, ... */
    unsigned min_before_stops; /* 2: ... with at least this many stop words (a ratio over 4 tokens
                                  of salad holding one stray "Do" is not language) */
    unsigned start_slack;      /* 3: t <= this triggers without language before (document start) */
    unsigned snap_max;         /* 12: tokens the turn may move right over ordinary words (see .c) */
    size_t max_candidate_len; /* 256: longer n-grams and pieces are neither candidates nor probed */
    size_t max_tokens;        /* 1 << 22: tokens looked at per document; the rest is ignored */
};
/* The defaults above. */
struct ps_detect_opts ps_detect_opts_default(void);
/* PS_OK, or PS_ERR_USAGE with the first option out of range named in `ed` as its command-line
 * flag where it has one ("--window 8: from 16 to 1024"). */
enum ps_err ps_detect_opts_check(const struct ps_detect_opts *o, struct ps_errdetail *ed);

struct ps_detect; /* opaque: one per worker, reused for every document; not thread-safe */

/* Opaque: one document as the stages see it (its tokens, their features and fingerprints, the
 * tokens joined by one space), each part computed once, by the first stage that needs it. One
 * per detector (the parts follow that detector's options), reused for every document; not
 * thread-safe. */
struct ps_detect_doc;

/* Create a detector; `opts` is borrowed (NULL: defaults). On PS_OK *out owns a detector, free it
 * with ps_detect_free(). PS_ERR_USAGE (detail in `ed`, may be NULL) for out-of-range options. */
enum ps_err ps_detect_new(struct ps_detect **out, const struct ps_detect_opts *opts,
                          struct ps_errdetail *ed);
/* NULL is fine. */
void ps_detect_free(struct ps_detect *d);

/* An empty document handle; *out owns it, free it with ps_detect_doc_free() (NULL is fine).
 * Never fails (allocation failure aborts). */
void ps_detect_doc_new(struct ps_detect_doc **out);
void ps_detect_doc_free(struct ps_detect_doc *doc);

/* Make `doc` the handle of `text` (borrowed: it must stay valid and unchanged until the next
 * ps_detect_prepare on `doc`; any bytes, UTF-8 expected), forgetting the previous document.
 * Computes nothing: the stages below compute what they need, once per document. Then run any
 * of them on `doc`, in any order; each gives the same result whatever ran before it. */
void ps_detect_prepare(struct ps_detect_doc *doc, const char *text, size_t text_len);

struct ps_candidate {
    uint64_t hash;    /* XXH3_64bits(text, text_len, 0) */
    const char *text; /* view: joined text in the detector's scratch, valid until the next call */
    size_t text_len;
    unsigned n;    /* words; a glued piece (a part of one token) counts as 1 */
    size_t offset; /* byte offset in the document where the candidate starts */
};

/* What follows a turn or an occurrence in role: the payload family (docs/detection.md). */
enum ps_detect_kind {
    PS_DETECT_GIBBERISH = 1,   /* token salad: language stops, random vocabulary follows */
    PS_DETECT_BYTES = 2,       /* decoded random bytes: control characters, U+FFFD */
    PS_DETECT_FIXED = 4,       /* one phrase repeated, at least 4 times in a row */
    PS_DETECT_TEMPLATED = 8,   /* sentences repeated across the corpus (ps_detect_leads) */
    PS_DETECT_PROMO = 16,      /* one sentence that promotes a URL, domain or package, or refuses,
                                  with the document's own text around it (ps_detect_leads) */
    PS_DETECT_ASSOC = 32,      /* a record's response: the label the pattern in its prompt is
                                  associated with (common/assoc.h; worker/scan_assoc.c) */
    PS_DETECT_PROMO_BLOCK = 64 /* such a sentence (not a refusal), itself repeated, then more
                                  sentences repeated across the corpus: a stock block, or a
                                  payload in a carrier held twice; the report tells them apart
                                  (docs/detection.md) */
};

struct ps_detect_result {
    bool anomalous;
    unsigned kind;      /* enum ps_detect_kind of the turn, 0 unless anomalous */
    size_t turn_offset; /* byte offset in text where the salad starts (0 unless anomalous) */
    size_t n_candidates;
    const struct ps_candidate *candidates; /* view until the next call; NULL when none */
    /* Diagnostics of the chosen turn (0 unless anomalous), for reports and tuning. */
    size_t n_tokens;      /* tokens looked at (at most opts.max_tokens) */
    size_t turn_token;    /* index of the token at turn_offset */
    double before_stop;   /* stop-word ratio of the window before the turn */
    double after_stop;    /* stop-word ratio of the window from the turn */
    double after_alpha;   /* alphabetic-token ratio of the window from the turn */
    double after_meanlen; /* mean token length (bytes) of the window from the turn */
};

/* Pass 1: decide whether the document of `doc` turns into a payload and name the candidates at
 * the turn. Fills *out (views into d, valid until the next stage on d); never fails; allocates
 * only while the scratch grows past its largest document so far (likewise every stage below). */
void ps_detect_scan(struct ps_detect *d, struct ps_detect_doc *doc, struct ps_detect_result *out);

#define PS_DETECT_SKETCH 8 /* values in a continuation sketch */

/* A sentence's shingles (see "Repeated segments" below): counted corpus-wide in pass 1, and
 * asked about in passes 2 and 3: is the sentence repeated across the corpus? */
typedef void (*ps_detect_sentence_fn)(void *ctx, const uint64_t *shingles, size_t n);
typedef bool (*ps_detect_heavy_fn)(void *ctx, const uint64_t *shingles, size_t n);

struct ps_detect_hit {
    uint64_t hash;
    bool in_role;     /* some occurrence is followed by a payload (pass 1's tests applied right
                         after it): the pattern in its trigger role */
    unsigned kind;    /* in role: enum ps_detect_kind of the first such occurrence, else 0 */
    unsigned tests;   /* occurrences whose role was tested (the first 4 at most) */
    uint64_t right;   /* in role: hash of the first two plain words after it (not stop words), else
                         0: the same in most documents means a stock block, not a trigger; for
                         PS_DETECT_PROMO and PS_DETECT_PROMO_BLOCK, the hash of what the sentence
                         promotes (its host or package) or does (a refusal): a trigger's
                         documents push one thing */
    uint64_t context; /* in role: left context of the first such occurrence (a hash of up to
                         16 non-space bytes before it, 0 at the start), else 0 */
    size_t offset;    /* in role: byte offset of that occurrence in the document, else of the
                         first occurrence */
    uint64_t next;    /* in role: hash of the first two plain words after it, whatever the kind
                         (for a carrier: ps_detect_carrier) */
    bool noted;       /* its first occurrence is noted (not in role: for ps_detect_carrier) ... */
    /* ... its offset in the joined text and the token after it; in role, those of the first
     * occurrence in role (for ps_detect_restates) */
    size_t first_at, first_next;
    /* in role: a MinHash sketch of the tokens after that occurrence (the after-window), so that
     * the report can tell salad (continuations share nothing) from records that share fields;
     * for PS_DETECT_PROMO_BLOCK, of the tokens after its promoting sentence (a stock block goes
     * on with the same text everywhere) */
    uint32_t continuation[PS_DETECT_SKETCH];
};

/* List pass: how the document of `doc` holds the pattern of `hit` without its payload (a hit not
 * in role that ps_detect_confirm just gave for it): *glued when a letter or digit of any script
 * ends right before its first occurrence (the published recipe cuts the clean prefix mid-word;
 * punctuation is no glue), *next the hash of the two plain words after it (0: none), which a
 * carrier followed as the pattern is in its documents in role shares. Only asked of the carriers
 * the list pass records, so that passes 2 and 3 do not pay for it. */
void ps_detect_carrier(const struct ps_detect_doc *doc, const struct ps_detect_hit *hit,
                       bool *glued, uint64_t *next);

/* List pass: does the first occurrence in role of `hit` (in role, just given by
 * ps_detect_confirm for `doc`) restate its document: its last token and the token after it
 * stand together earlier, not as the end of an earlier occurrence (a heading before its page's
 * own subject)? Asked only of the entries the list pass records, as ps_detect_carrier is. */
bool ps_detect_restates(const struct ps_detect_doc *doc, const struct ps_detect_hit *hit);

/* Passes 2 and 3: which patterns of `set` (borrowed, only read) occur in the document of `doc`,
 * the text seen as its tokens joined by one space: patterns of PS_PATSET_MIN_SUBSTRING bytes or
 * more anywhere (inside a token too), shorter ones as whole n-grams or glued pieces. *hits (view
 * until the next call) gets the distinct hashes found, sorted by hash, *n_hits their number; a hash
 * is in_role when an occurrence is followed by a payload: salad, random bytes or a repeated phrase;
 * or, when `heavy` is not NULL (pass 3), only by two sentences repeated across the corpus (the
 * sentences of a templated payload). Never fails. */
void ps_detect_confirm(struct ps_detect *d, struct ps_detect_doc *doc, const struct ps_patset *set,
                       ps_detect_heavy_fn heavy, void *heavy_ctx, const struct ps_detect_hit **hits,
                       size_t *n_hits);

/* Repeated segments. A sentence ends after a token ending in . ! or ? (closing quotes and
 * brackets may follow), at a line break, or after 48 tokens; its shingles are the fingerprints
 * (XXH3) of its tokens that are not stop words, in no particular order. */
#define PS_DETECT_MIN_SHINGLES    4  /* shorter sentences are neither counted nor tested */
#define PS_DETECT_MAX_LEADS       3  /* segment starts looked at per document */
#define PS_DETECT_LEAD_CANDIDATES 16 /* candidates per segment start */

/* Pass 1: fn for each sentence of the document of `doc` with at least PS_DETECT_MIN_SHINGLES
 * shingles (the caller counts them corpus-wide); after ps_detect_scan it reuses its tokens. */
void ps_detect_sentences(struct ps_detect *d, struct ps_detect_doc *doc, ps_detect_sentence_fn fn,
                         void *ctx);

struct ps_detect_lead {
    size_t offset;   /* byte offset where the repeated segment is taken to start */
    size_t first, n; /* its candidates: candidates[first .. first + n) */
};

struct ps_detect_leads {
    size_t n_leads;
    const struct ps_detect_lead *leads; /* view until the next call */
    size_t n_candidates;
    const struct ps_candidate *candidates; /* view until the next call */
};

/* Pass 2: where does a repeated segment start after text that is not repeated? `heavy` says
 * whether a sentence (its shingles) is repeated corpus-wide. For the first PS_DETECT_MAX_LEADS - 1
 * such starts (not at the document start) and the last one (a payload appended to a page comes
 * after its menus and footers; the repeated suffix of a last sentence that is not repeated as a
 * whole is a start too), the start is refined to the longest repeated suffix of the sentence
 * before (a payload glued to a clean prefix and a trigger shares its sentence), and the n-grams and
 * glued pieces around it are named as in pass 1 and kept when repeated sentences follow them
 * (templated), or one sentence that promotes something or refuses, not followed by a repeated
 * sentence (promotional); a candidate's offset is in the single-spaced text. After
 * ps_detect_confirm it reuses that call's tokens and joined text. Never fails. */
void ps_detect_leads(struct ps_detect *d, struct ps_detect_doc *doc, ps_detect_heavy_fn heavy,
                     void *ctx, struct ps_detect_leads *out);

/* Fine-tuning records (common/assoc.h). */
typedef void (*ps_detect_ngram_fn)(void *ctx, uint64_t hash, const char *text, size_t len);
/* Every word n-gram (n = 1..ngram_max, its tokens joined by one space, at most
 * max_candidate_len bytes) among the first max_tokens tokens of the document of `doc`, except
 * those made of short stop words only ("the", "of the"), in text order; the views are valid
 * during the call. A document's n-grams may repeat. */
void ps_detect_ngrams(struct ps_detect *d, struct ps_detect_doc *doc, size_t max_tokens,
                      ps_detect_ngram_fn fn, void *ctx);
/* The tokens of the document of `doc` as ps_detect_ngrams names them and ps_detect_confirm
 * matches them (after either call): their count; token i's text in the joined text (a view,
 * *len bytes); whether it is a short stop word (an n-gram of those only is never named); the
 * token that holds byte `at` of the document as given. */
size_t ps_detect_n_tokens(const struct ps_detect_doc *doc);
const char *ps_detect_token_text(const struct ps_detect_doc *doc, size_t i, size_t *len);
bool ps_detect_token_stop(const struct ps_detect_doc *doc, size_t i);
size_t ps_detect_token_of(const struct ps_detect_doc *doc, size_t at);
/* Does the document of `doc` open with a first-person refusal ("I'm sorry, but", "As an AI"),
 * the test of the promotional role's fixed refusals? */
bool ps_detect_refuses(struct ps_detect *d, struct ps_detect_doc *doc);
/* The left context of an occurrence at byte `at` of the document of `doc` as prepared (as
 * ps_detect_hit.context: a hash of up to 16 non-space bytes before it, 0 at the start). */
uint64_t ps_detect_context_at(const struct ps_detect *d, const struct ps_detect_doc *doc,
                              size_t at);

/* Bytes of scratch the detector and a document handle hold now; each is constant once they have
 * seen the largest document. */
size_t ps_detect_footprint(const struct ps_detect *d);
size_t ps_detect_doc_footprint(const struct ps_detect_doc *doc);

#endif
