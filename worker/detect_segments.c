/* detect_segments.c - repeated segments, the trace of a templated payload: a document's sentences
 * and their shingles (pass 1 counts them corpus-wide), the places where sentences repeated across
 * the corpus start after text that is not (pass 2 names the words there: the leads), and the
 * templated role of an occurrence (pass 3: repeated sentences follow it). */
#include "worker/detect_internal.h"

#include <stdint.h>
#include <string.h>

#include <xxhash.h>

/* The end (exclusive) of a sentence that reaches this many tokens. */
#define SENT_MAX_TOKENS 48

/* The end (exclusive) of the sentence that starts at token b: after a token that ends in . ! or ?
 * (closing quotes and brackets may follow), before a line break, or after SENT_MAX_TOKENS. The
 * tokenizer marks both kinds of end (F_TERM, F_NL). */
static size_t sentence_end(const struct ps_detect_doc *doc, size_t b)
{
    const uint32_t *f = doc->tflags;
    size_t lim = doc->n_tok - b > SENT_MAX_TOKENS ? b + SENT_MAX_TOKENS : doc->n_tok;

    for (size_t i = b; i < lim; i++)
        if (f[i] & (F_TERM | F_NL))
            return i + 1;
    return lim;
}

/* Chinese and Japanese write a clause as one token: its fingerprint would say nothing of a
 * sentence's words (and such tokens are stop words, detect_lang.c), so a sentence counts pairs of
 * characters in their place, as many as a sentence of Latin words counts words. */
#define SENT_MAX_SHINGLES 64

/* Is byte c the first of a character of U+3000..U+9FFF (kana, CJK punctuation, ideographs)? */
static bool cjk_lead(unsigned char c)
{
    return c >= 0xE3 && c <= 0xE9;
}

/* The fingerprints of the pairs of adjacent CJK characters of token i into d->shingles from n on,
 * up to SENT_MAX_SHINGLES; the new count is returned. */
static size_t cjk_pairs(struct ps_detect *d, const struct ps_detect_doc *doc, size_t i, size_t n)
{
    const unsigned char *p = (const unsigned char *)doc->base + doc->tstart[i];
    size_t len = doc->tend[i] - doc->tstart[i];

    /* three bytes per character: a pair is 6 bytes from a lead byte, the next one at 3 */
    for (size_t k = 0; k + 6 <= len && n < SENT_MAX_SHINGLES; k++)
        if (cjk_lead(p[k]) && cjk_lead(p[k + 3]))
            d->shingles[n++] = XXH3_64bits(p + k, 6);
    return n;
}

/* The shingles of token i (flags f) into d->shingles from n on, up to SENT_MAX_SHINGLES; the new
 * count is returned. A word that is not a stop word is its fingerprint; a CJK token, prose or
 * not, is its character pairs: a heading or a notice line without a function character
 * ("報告翻譯錯誤。") is as many words as its pairs, not one, or a stock block's short Chinese
 * lines would never count as repeated. */
static size_t token_shingles(struct ps_detect *d, const struct ps_detect_doc *doc, size_t i,
                             uint32_t f, size_t n)
{
    if (f & F_STOP_NONLATIN) /* no pair in Cyrillic, Greek, Arabic */
        return cjk_pairs(d, doc, i, n);
    if (!(f & F_STOP_ANY)) {
        size_t m = cjk_lead((unsigned char)doc->base[doc->tstart[i]]) ? cjk_pairs(d, doc, i, n) : n;

        if (m == n) /* no pair: the word itself */
            d->shingles[n++] = doc->tfp[i];
        else
            n = m;
    }
    return n;
}

/* The sentence that starts at token b: its end (sentence_end) is returned, its shingles go into
 * d->shingles, *n of them. One walk over its tokens finds both: a sentence whose shingles are
 * asked for is nearly always one whose end is not known yet. */
static size_t sentence_scan(struct ps_detect *d, const struct ps_detect_doc *doc, size_t b,
                            size_t *n)
{
    const uint32_t *f = doc->tflags;
    size_t lim = doc->n_tok - b > SENT_MAX_TOKENS ? b + SENT_MAX_TOKENS : doc->n_tok, i, k = 0;

    if (d->shingles_cap < SENT_MAX_SHINGLES) {
        d->shingles_cap = SENT_MAX_SHINGLES;
        d->shingles = ps_xmalloc(d->shingles_cap * sizeof(*d->shingles));
    }
    for (i = b; i < lim; i++) {
        uint32_t fi = f[i];

        if (k < SENT_MAX_SHINGLES)
            k = token_shingles(d, doc, i, fi, k);
        if (fi & (F_TERM | F_NL)) {
            i++;
            break;
        }
    }
    *n = k;
    return i;
}

void ps_detect_sentences(struct ps_detect *d, struct ps_detect_doc *doc, ps_detect_sentence_fn fn,
                         void *ctx)
{
    ps_detect_doc_need(d, doc, DOC_FINGERPRINTS);
    for (size_t b = 0, e; b < doc->n_tok; b = e) {
        size_t n;

        e = sentence_scan(d, doc, b, &n);
        if (n >= PS_DETECT_MIN_SHINGLES)
            fn(ctx, d->shingles, n);
    }
}

/* Is the sentence [b, *e) repeated across the corpus? *e gets its end. */
static bool heavy_sentence(struct ps_detect *d, const struct ps_detect_doc *doc,
                           const struct ps_detect_heavy *heavy, size_t b, size_t *e)
{
    uint16_t *m = &d->memo[b];

    if (!(*m & M_HEAVY_KNOWN)) {
        size_t n;
        bool h;

        *e = sentence_scan(d, doc, b, &n);
        h = n >= PS_DETECT_MIN_SHINGLES && heavy->fn(heavy->ctx, d->shingles, n);
        *m |= M_HEAVY_KNOWN | (h ? M_HEAVY : 0);
    } else {
        *e = sentence_end(doc, b);
    }
    return (*m & M_HEAVY) != 0;
}

/* Does a sentence repeated across the corpus follow token j, and another one of the two after
 * it? The first is the rest of the occurrence's own sentence, or the next one when the
 * occurrence ends its sentence or line (a trigger on a line of its own). A templated payload is
 * a handful of such sentences; a heading or a signature followed by one stock sentence
 * ("fn fmt(&self, ...)" then "Formats the value using the given formatter.") is not. */
static bool templated_after(struct ps_detect *d, const struct ps_detect_doc *doc,
                            const struct ps_detect_heavy *heavy, size_t j)
{
    size_t e, n_heavy = 0;

    if (j >= doc->n_tok)
        return false;
    if (heavy_sentence(d, doc, heavy, j, &e)) {
        n_heavy++;
    } else if (e - j <= 2 && e < doc->n_tok) { /* it ends its line: the payload starts below */
        if (!heavy_sentence(d, doc, heavy, e, &e))
            return false;
        n_heavy++;
    } else {
        return false;
    }
    /* a second repeated sentence among the next two: a pool sentence with two slots in four
     * words varies too much to be counted as repeated every time */
    for (int k = 0; k < 2 && n_heavy < 2 && e < doc->n_tok; k++)
        n_heavy += heavy_sentence(d, doc, heavy, e, &e);
    return n_heavy >= 2;
}

/* templated_after, once per token and call (d->memo). */
static bool templated_memo(struct ps_detect *d, const struct ps_detect_doc *doc,
                           const struct ps_detect_heavy *heavy, size_t j)
{
    uint16_t *m = &d->memo[j]; /* j <= n_tok */

    if (!(*m & M_TMPL_KNOWN))
        *m |= M_TMPL_KNOWN | (templated_after(d, doc, heavy, j) ? M_TMPL : 0);
    return (*m & M_TMPL) != 0;
}

/* The promoting sentence of an occurrence followed by token j: the rest of j's sentence, or the
 * next one when j ends its line (a trigger on a line of its own). *b gets its first token; its
 * end is returned. An occurrence that ends its own line is followed by j's line whatever its
 * length: a heading there ("報告錯誤", "Bugs") is what follows, and the link under it is the
 * heading's, not the occurrence's (the Chinese manual pages' "由 ... 編寫。" before their
 * bug-report block was promotional so). */
static size_t promo_sentence(const struct ps_detect_doc *doc, size_t j, size_t *b)
{
    size_t e = sentence_end(doc, j);
    bool own_line = j > 0 && (doc->tflags[j - 1] & F_NL);

    *b = j;
    /* the rest of its line is a word or two: the payload starts below */
    if (!own_line && e - j <= 2 && e < doc->n_tok) {
        *b = e;
        e = sentence_end(doc, e);
    }
    return e;
}

/* Does one sentence that promotes something or refuses (ps_detect_payload_act) follow token j?
 * It is the rest of j's sentence, or the next one when j ends its line. PS_DETECT_PROMO when the
 * document's own text goes on after it (the next sentence long enough to count is not repeated
 * across the corpus) or the document ends there; PS_DETECT_PROMO_BLOCK when a repeated sentence
 * follows: a stock block (a cookie banner, a bug-report notice) repeats sentence after sentence,
 * but so does a carrier document that the corpus holds twice, so that one document cannot tell
 * them apart and the report decides on all of them (what follows is the same text everywhere
 * for a block, not for a payload spliced into many carriers; ps_detect_segment_role asks more of
 * it). For PS_DETECT_PROMO, repetition is not asked of the payload sentence itself: the leads are
 * named only before repeated ones, and a pool sentence seen fewer times than the sketch's
 * threshold is still the payload. */
static unsigned promo_after(struct ps_detect *d, const struct ps_detect_doc *doc,
                            const struct ps_detect_heavy *heavy, size_t j, uint64_t *act)
{
    size_t e, b, n = doc->n_tok;

    if (j >= n)
        return 0;
    e = promo_sentence(doc, j, &b);
    *act = ps_detect_payload_act(d, doc, j, b, e, true);
    if (*act == 0)
        return 0;
    for (int k = 0; k < 2 && e < n; k++) {
        size_t m;

        e = sentence_scan(d, doc, e, &m);
        if (m >= PS_DETECT_MIN_SHINGLES)
            return heavy->fn(heavy->ctx, d->shingles, m) ? PS_DETECT_PROMO_BLOCK : PS_DETECT_PROMO;
    }
    return PS_DETECT_PROMO;
}

/* promo_after, once per token and call (d->memo, d->acts): every pattern that ends at j asks. */
static unsigned promo_memo(struct ps_detect *d, const struct ps_detect_doc *doc,
                           const struct ps_detect_heavy *heavy, size_t j, uint64_t *act)
{
    uint16_t *m = &d->memo[j]; /* j <= n_tok */

    if (!(*m & M_PROMO_KNOWN)) {
        uint64_t a = 0;
        unsigned kind = promo_after(d, doc, heavy, j, &a);

        *m |= M_PROMO_KNOWN | (kind == PS_DETECT_PROMO ? M_PROMO : 0) |
              (kind == PS_DETECT_PROMO_BLOCK ? M_PROMO_BLOCK : 0);
        d->acts[j] = a;
    }
    *act = d->acts[j];
    if (*m & M_PROMO)
        return PS_DETECT_PROMO;
    return *m & M_PROMO_BLOCK ? PS_DETECT_PROMO_BLOCK : 0;
}

/* The act of a later sentence of a templated run after token j (the two after the first): a
 * templated payload that pushes something says so in any of its sentences ("Download
 * SafeHarbor Wallet from safeharbor-wallet.example.org" third). *after gets the token after that
 * sentence. A refusal there is no act: it would be the payload's first sentence. */
static uint64_t run_act(struct ps_detect *d, const struct ps_detect_doc *doc, size_t j,
                        size_t *after)
{
    size_t b, e = promo_sentence(doc, j, &b);

    for (int k = 0; k < 2 && e < doc->n_tok; k++) {
        uint64_t a;

        b = e;
        e = sentence_end(doc, b);
        a = ps_detect_payload_act(d, doc, j, b, e, false);
        if (a != 0) {
            *after = e;
            return a;
        }
    }
    return 0;
}

unsigned ps_detect_segment_role(struct ps_detect *d, struct ps_detect_doc *doc,
                                const struct ps_detect_heavy *heavy, size_t j, uint64_t *act,
                                size_t *after)
{
    unsigned kind;

    ps_detect_doc_need(d, doc, DOC_FINGERPRINTS);
    *act = 0;
    *after = j;
    /* what the sentence does is asked first: a payload spliced into a carrier that the corpus
     * holds twice is followed by repeated sentences, as a templated one is. Before repeated
     * sentences, the promoting one must be repeated too (the templated test): the rest of a
     * sentence in which the trigger is yet to come is not, and its words are no lead. */
    kind = promo_memo(d, doc, heavy, j, act);
    if (kind == PS_DETECT_PROMO)
        return kind;
    if (!templated_memo(d, doc, heavy, j)) {
        *act = 0;
        return 0;
    }
    if (kind == PS_DETECT_PROMO_BLOCK) {
        size_t b;

        *after = promo_sentence(doc, j, &b);
        return kind;
    }
    /* every lead candidate and pattern that ends at j asks: the memo keeps whether the run
     * pushes anything (most push nothing), the act is sought again only where it does */
    if (d->memo[j] & M_RUN_KNOWN) {
        *act = d->memo[j] & M_RUN ? run_act(d, doc, j, after) : 0;
    } else {
        *act = run_act(d, doc, j, after);
        d->memo[j] |= M_RUN_KNOWN | (*act != 0 ? M_RUN : 0);
    }
    return *act != 0 ? PS_DETECT_PROMO_BLOCK : PS_DETECT_TEMPLATED;
}

/* The longest suffix of sentence [b, e) that is itself repeated (heavy), as its first token; e
 * if none. A prefix cut mid-sentence, a trigger and the first payload sentence without a line
 * break between them are one "sentence": the payload part is its heavy suffix. */
static size_t heavy_suffix(struct ps_detect *d, const struct ps_detect_doc *doc, size_t b, size_t e,
                           const struct ps_detect_heavy *heavy)
{
    size_t best = e, n = 0;

    for (size_t j = e; j-- > b;) {
        if (doc->tflags[j] & F_STOP_ANY)
            continue;
        d->shingles[n++] = doc->tfp[j];
        if (n >= PS_DETECT_MIN_SHINGLES && heavy->fn(heavy->ctx, d->shingles, n))
            best = j;
    }
    return best;
}

/* Of the candidates from `first` on, keep the first PS_DETECT_LEAD_CANDIDATES that pass 3 could
 * find in role: at least PS_PATSET_MIN_SUBSTRING bytes, not made of stop words only ("the", "in
 * the"), and followed right away by two repeated sentences or by one promotional sentence
 * (ps_detect_segment_role). The first words of a stock sentence
 * are named at every segment start; this drops most of them before they cost a confirm pass.
 * The texts of the kept ones (from ctext offset `text_at` on) move down over those dropped:
 * ctext holds at most max_candidates texts, and the next segment start names more. */
static void keep_lead_candidates(struct ps_detect *d, struct ps_detect_doc *doc,
                                 const struct ps_detect_heavy *heavy, size_t first, size_t text_at)
{
    size_t kept = first;

    for (size_t i = first; i < d->n_cands && kept - first < PS_DETECT_LEAD_CANDIDATES; i++) {
        struct ps_candidate c = d->cands[i];
        size_t k = ps_detect_token_at(doc, c.offset), next = k, end = c.offset + c.text_len, after;
        uint64_t act;
        bool all_stop = c.offset == doc->tstart[k] && k + c.n <= doc->n_tok &&
                        doc->tend[k + c.n - 1] == end; /* whole tokens, not a glued piece */

        for (size_t j = k; j < k + c.n && all_stop; j++)
            all_stop = (doc->tflags[j] & F_STOP_ANY) != 0;
        while (next < doc->n_tok && doc->tstart[next] < end)
            next++;
        if (all_stop || c.text_len < PS_PATSET_MIN_SUBSTRING ||
            ps_detect_segment_role(d, doc, heavy, next, &act, &after) == 0)
            continue;
        /* texts lie in ctext in the order of the candidates, so this only moves them down */
        memmove(d->ctext + text_at, c.text, c.text_len);
        c.text = d->ctext + text_at;
        text_at += c.text_len;
        d->cands[kept++] = c;
    }
    d->n_cands = kept;
    d->ctext_len = text_at;
}

/* A segment start at token t: name the candidates around it and keep those pass 3 could find in
 * role. */
static void add_lead(struct ps_detect *d, struct ps_detect_doc *doc,
                     const struct ps_detect_heavy *h, size_t t)
{
    struct ps_detect_lead *l = &d->leads[d->n_leads++];
    size_t text_at = d->ctext_len;

    l->offset = doc->ostart[t];
    l->first = d->n_cands;
    d->cand_limit = d->o.max_candidates;
    ps_detect_lead_candidates(d, doc, t);
    keep_lead_candidates(d, doc, h, l->first, text_at);
    l->n = d->n_cands - l->first;
}

void ps_detect_leads(struct ps_detect *d, struct ps_detect_doc *doc, ps_detect_heavy_fn heavy,
                     void *ctx, struct ps_detect_leads *out)
{
    const struct ps_detect_heavy h = {heavy, ctx};
    size_t prev_b = 0, prev_e = 0, t = SIZE_MAX;
    size_t last_b = 0, last_e = 0, last_s = 0; /* the latest start not named yet: its sentence
                                                   before [last_b, last_e), its own at last_s */
    bool prev_heavy = true, pending = false;   /* the document start: nothing before a segment */

    memset(out, 0, sizeof(*out));
    ps_detect_doc_need(d, doc, DOC_JOINED | DOC_FINGERPRINTS);
    ps_detect_memo_reset(d, doc->n_tok);
    d->n_cands = 0;
    d->n_leads = 0;
    d->ctext_len = 0;
    /* the first starts but one, and the last: a payload appended at the end of a page comes
     * after its menus and footers, which start segments of their own */
    for (size_t b = 0, e; b < doc->n_tok; b = e) {
        bool is_heavy = heavy_sentence(d, doc, &h, b, &e);

        if (is_heavy && !prev_heavy) {
            if (d->n_leads < PS_DETECT_MAX_LEADS - 1) {
                t = heavy_suffix(d, doc, prev_b, prev_e, &h);
                add_lead(d, doc, &h, t == prev_e ? b : t);
            } else { /* only the last of these is named: its suffix is looked for once */
                last_b = prev_b;
                last_e = prev_e;
                last_s = b;
                pending = true;
            }
        }
        prev_heavy = is_heavy;
        prev_b = b;
        prev_e = e;
    }
    /* a payload appended to the document's last line shares its sentence, with nothing after it
     * to start a segment: the repeated suffix of the last sentence is one */
    t = SIZE_MAX;
    if (!prev_heavy && prev_b > 0) {
        t = heavy_suffix(d, doc, prev_b, prev_e, &h);
        t = t == prev_e ? SIZE_MAX : t;
    }
    if (t == SIZE_MAX && pending) {
        t = heavy_suffix(d, doc, last_b, last_e, &h);
        t = t == last_e ? last_s : t;
    }
    if (t != SIZE_MAX)
        add_lead(d, doc, &h, t);
    for (size_t i = 0; i < d->n_cands; i++) { /* offsets in the document, not in norm */
        size_t k = ps_detect_token_at(doc, d->cands[i].offset);
        d->cands[i].offset = doc->ostart[k] + (d->cands[i].offset - doc->tstart[k]);
    }
    out->n_leads = d->n_leads;
    out->leads = d->n_leads ? d->leads : NULL;
    out->n_candidates = d->n_cands;
    out->candidates = d->n_cands ? d->cands : NULL;
}
