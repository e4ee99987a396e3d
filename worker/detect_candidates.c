/* detect_candidates.c - the trigger candidates named around a token: the tokens themselves, the
 * n-grams ending there (joined by one space) and the pieces glued into a token, with or without
 * punctuation between them. Pass 1 names them at the turn, pass 2 at the start of a repeated
 * segment; the corpus counts then pick out the one that repeats. */
#include "worker/detect_internal.h"

#include <string.h>

#define XXH_INLINE_ALL  /* candidates are short: inlined XXH3 skips a call and the length dispatch \
                         */
#include <xxhash.h>

#define RUNS_MAX (2 * PIECES_MAX + 1) /* a longer token is split in its first runs only */

#define GLUE_CUTS   6  /* glue cuts looked at per token */
#define GLUE_PIECES 32 /* spans between them, at most C(8, 2) - 1 */
#define GLUE_MIN    4  /* shorter spans are no trigger (the benchmark's "part of at least 4") */

#define CONTEXT_BYTES 16

/* Glued pieces of one token (see docs/detection.md): split at runs of hard punctuation; a word
 * run with punctuation on both sides gives itself plus the symmetric part of its brackets
 * ("documen.<SUDO>gib" -> "<SUDO>"), a word run at an edge of the token gives itself alone. */
size_t ps_detect_split_pieces(const struct ps_detect *d, const unsigned char *p, size_t len,
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

/* The left context of a candidate starting at base[at]: up to CONTEXT_BYTES non-space bytes
 * before it, hashed. Boilerplate repeats its context; a trigger spliced into varied documents
 * does not. 0 means nothing stands before it (document start). */
uint64_t ps_detect_left_context(const struct ps_detect *d, const char *base, size_t at)
{
    unsigned char buf[CONTEXT_BYTES];
    size_t n = 0;

    while (at > 0 && n < CONTEXT_BYTES) {
        unsigned char c = (unsigned char)base[--at];
        if (!(d->cls[c] & C_SPACE))
            buf[CONTEXT_BYTES - 1 - n++] = c;
    }
    return n == 0 ? 0 : XXH3_64bits(buf + CONTEXT_BYTES - n, n) | 1;
}

/* Take the text just written at ctext + off as a candidate unless its hash is already there.
 * ctext never moves (its size is fixed at creation), so the views stay valid. */
static void add_candidate(struct ps_detect *d, const struct ps_detect_doc *doc, size_t at,
                          size_t off, size_t len, unsigned n)
{
    const unsigned char *c = (const unsigned char *)d->ctext + off;
    uint64_t h;
    size_t i;

    /* a trigger is text: junk belongs to the payload. A candidate is whole tokens or a piece of
     * one cut at ASCII punctuation, so it holds junk only if a token of the document does. */
    for (i = 0; doc->any_junk && i < len; i++)
        if ((c[i] < 0x20 || c[i] == 0xC2 || c[i] == 0xEF) && ps_detect_is_junk(c + i, len - i))
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
    d->n_cands++;
    d->ctext_len = off + len;
}

static bool cands_full(const struct ps_detect *d)
{
    return d->n_cands >= d->cand_limit;
}

/* The n-gram of n tokens ending at token e, joined by one space. */
static void add_ngram(struct ps_detect *d, const struct ps_detect_doc *doc, size_t e, unsigned n)
{
    size_t first, len = 0, i, off = d->ctext_len;

    if (cands_full(d) || e + 1 < n || e >= doc->n_tok)
        return;
    first = e + 1 - n;
    for (i = first; i <= e; i++)
        len += doc->tend[i] - doc->tstart[i] + (i > first);
    if (len > d->o.max_candidate_len)
        return;
    for (i = first; i <= e; i++) {
        if (i > first)
            d->ctext[off++] = ' ';
        memcpy(d->ctext + off, doc->base + doc->tstart[i], doc->tend[i] - doc->tstart[i]);
        off += doc->tend[i] - doc->tstart[i];
    }
    add_candidate(d, doc, doc->tstart[first], d->ctext_len, len, n);
}

static void add_pieces(struct ps_detect *d, struct ps_detect_doc *doc, size_t e)
{
    const unsigned char *tok;
    struct piece pc[PIECES_MAX];
    size_t np, i;

    if (e >= doc->n_tok || !(doc->tflags[e] & F_SPLIT))
        return;
    tok = (const unsigned char *)doc->base + doc->tstart[e];
    np = ps_detect_split_pieces(d, tok, doc->tend[e] - doc->tstart[e], pc);
    for (i = 0; i < np && !cands_full(d); i++) {
        memcpy(d->ctext + d->ctext_len, tok + pc[i].off, pc[i].len);
        add_candidate(d, doc, doc->tstart[e] + pc[i].off, d->ctext_len, pc[i].len, 1);
    }
}

static void add_glue_pieces(struct ps_detect *d, struct ps_detect_doc *doc, size_t e)
{
    const unsigned char *tok;
    struct piece pc[GLUE_PIECES];
    size_t np, i;

    if (e >= doc->n_tok || (doc->tflags[e] & F_PLAIN) || doc->tend[e] - doc->tstart[e] <= GLUE_MIN)
        return;
    tok = (const unsigned char *)doc->base + doc->tstart[e];
    np = glue_pieces(d, tok, doc->tend[e] - doc->tstart[e], pc);
    for (i = 0; i < np && !cands_full(d); i++) {
        memcpy(d->ctext + d->ctext_len, tok + pc[i].off, pc[i].len);
        add_candidate(d, doc, doc->tstart[e] + pc[i].off, d->ctext_len, pc[i].len, 1);
    }
}

/* Candidates around turn t, most likely first, so that max_candidates cuts the least useful.
 * The turn is placed to a token or three: stop words cannot tell where among the last ordinary
 * words the salad starts, and the snap stops at the first odd token, which may be prose's own
 * ("C<#>") a few tokens before the trigger. So every token from t-2 to t+6 and its glued pieces
 * are candidates, and so are the longer n-grams ending at t-4..t+3 (a phrase of ordinary words
 * before salad that opens with capitalized words is where the snap runs past the trigger); the
 * global counts pick out the one that repeats, because the rest is random salad or varied prose. */
void ps_detect_turn_candidates(struct ps_detect *d, struct ps_detect_doc *doc, size_t t)
{
    static const int order[] = {0, 1, -1, 2, 3, 4, 5, 6, -2};
    static const int ends[] = {0, 1, -1, 2, 3, -2, -3, -4};
    unsigned n;
    size_t k;

    for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        if (order[k] < 0 && t < (size_t)-order[k])
            continue;
        add_ngram(d, doc, t + (size_t)(ptrdiff_t)order[k], 1);
        add_pieces(d, doc, t + (size_t)(ptrdiff_t)order[k]);
        add_glue_pieces(d, doc, t + (size_t)(ptrdiff_t)order[k]);
    }
    for (n = 2; n <= d->o.ngram_max; n++)
        for (k = 0; k < sizeof(ends) / sizeof(ends[0]); k++)
            if (ends[k] >= 0 || t >= (size_t)-ends[k])
                add_ngram(d, doc, t + (size_t)(ptrdiff_t)ends[k], n);
}

/* Candidates around a segment start t: the start is placed to within a few tokens (a repeated
 * suffix may take in the last words before the payload), so every token from t-2 to t+6 with its
 * glued pieces and the n-grams ending there; the segments stage then drops all but those that
 * stand right before the repeated sentences. */
void ps_detect_lead_candidates(struct ps_detect *d, struct ps_detect_doc *doc, size_t t)
{
    for (size_t k = t >= 2 ? t - 2 : 0; k <= t + 6 && k < doc->n_tok; k++) {
        add_ngram(d, doc, k, 1);
        add_pieces(d, doc, k);
        add_glue_pieces(d, doc, k);
        for (unsigned n = 2; n <= d->o.ngram_max; n++)
            add_ngram(d, doc, k, n);
    }
}

/* Is token i a stop word of a few letters (prose that any prompt holds: "the", "of the")?
 * A token of CJK prose carries a stop bit too (detect_lang.c); past STOP_MAX_LEN bytes (three
 * characters) it is a clause, not a function word, and counts. */
static bool short_stop(const struct ps_detect_doc *doc, size_t i)
{
    return (doc->tflags[i] & F_STOP_ANY) && doc->tend[i] - doc->tstart[i] <= STOP_MAX_LEN;
}

void ps_detect_ngrams(struct ps_detect *d, struct ps_detect_doc *doc, size_t max_tokens,
                      ps_detect_ngram_fn fn, void *ctx)
{
    size_t n_tok;

    ps_detect_doc_need(d, doc, DOC_JOINED);
    n_tok = doc->n_tok < max_tokens ? doc->n_tok : max_tokens;
    for (size_t e = 0; e < n_tok; e++) {
        bool all_stop = true;

        for (unsigned n = 1; n <= d->o.ngram_max && n <= e + 1; n++) {
            size_t first = e + 1 - n, len = doc->tend[e] - doc->tstart[first];
            const char *text = doc->base + doc->tstart[first];

            all_stop = all_stop && short_stop(doc, first);
            if (len > d->o.max_candidate_len)
                break;
            if (all_stop)
                continue;
            fn(ctx, XXH3_64bits(text, len), text, len);
        }
    }
}

size_t ps_detect_n_tokens(const struct ps_detect_doc *doc)
{
    return doc->n_tok;
}

const char *ps_detect_token_text(const struct ps_detect_doc *doc, size_t i, size_t *len)
{
    *len = doc->tend[i] - doc->tstart[i];
    return doc->base + doc->tstart[i];
}

bool ps_detect_token_stop(const struct ps_detect_doc *doc, size_t i)
{
    return short_stop(doc, i);
}

uint64_t ps_detect_context_at(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t at)
{
    return ps_detect_left_context(d, doc->text, at < doc->text_len ? at : doc->text_len);
}
