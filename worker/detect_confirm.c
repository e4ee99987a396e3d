/* detect_confirm.c - passes 2 and 3: which patterns of a corpus-wide set occur in a document (long
 * ones as substrings of its single-spaced text, short ones as whole n-grams or glued pieces), and
 * whether an occurrence is in role: followed by a payload (the tests of detect_turn.c or, in pass
 * 3, repeated sentences). The distinct hits carry what the report's rules need. */
#include "worker/detect_internal.h"
#include <ctype.h>

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* n-grams are short: inlined XXH3 skips a call and the length dispatch */
#include <xxhash.h>

#include "common/u64map.h"
#include "common/utf8.h"

#define ROLE_TESTS 4 /* occurrences of one pattern tested for a role per document */

/* One confirm call: what ps_patset_scan's callback needs. */
struct confirm {
    struct ps_detect *d;
    struct ps_detect_doc *doc;
    const uint32_t *rank;                /* of the set's patterns, by id */
    const struct ps_detect_heavy *heavy; /* pass 3's test of repeated sentences, NULL in pass 2 */
    size_t last_tok;                     /* the token of the last long match located */
    /* what the last hit in role computed from its next token: the n-grams that end at one token
     * (a lead's one-, two- and three-word forms) share it, and matches come in order of end */
    size_t memo_next, memo_after; /* SIZE_MAX: none yet */
    uint64_t memo_words;
    uint32_t memo_sketch[PS_DETECT_SKETCH];
};

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* MinHash of the after-window's tokens [j, j + window): token hashes permuted by odd multipliers
 * (multiply-shift), the minimum of each kept. Only in-role occurrences pay for it. */
static void sketch_from(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t j,
                        uint32_t *out)
{
    static const uint64_t mul[PS_DETECT_SKETCH] = {
        0x9E3779B97F4A7C15u, 0xC2B2AE3D27D4EB4Fu, 0x165667B19E3779F9u, 0xD6E8FEB86659FD93u,
        0xFF51AFD7ED558CCDu, 0xC4CEB9FE1A85EC53u, 0x94D049BB133111EBu, 0xBF58476D1CE4E5B9u};
    size_t e = j + d->o.window < doc->n_tok ? j + d->o.window : doc->n_tok;
    uint32_t m0 = UINT32_MAX, m1 = UINT32_MAX, m2 = UINT32_MAX, m3 = UINT32_MAX;
    uint32_t m4 = UINT32_MAX, m5 = UINT32_MAX, m6 = UINT32_MAX, m7 = UINT32_MAX;

    /* eight minima in registers, written out (as sentence_keys in clusters.c): as a loop over
     * `out`, gcc kept them in memory */
    _Static_assert(PS_DETECT_SKETCH == 8, "sketch_from keeps eight minima");
    for (size_t i = j; i < e; i++) {
        uint64_t h = doc->tfp[i]; /* brought by the tokens */

        m0 = min_u32(m0, (uint32_t)((h * mul[0]) >> 32));
        m1 = min_u32(m1, (uint32_t)((h * mul[1]) >> 32));
        m2 = min_u32(m2, (uint32_t)((h * mul[2]) >> 32));
        m3 = min_u32(m3, (uint32_t)((h * mul[3]) >> 32));
        m4 = min_u32(m4, (uint32_t)((h * mul[4]) >> 32));
        m5 = min_u32(m5, (uint32_t)((h * mul[5]) >> 32));
        m6 = min_u32(m6, (uint32_t)((h * mul[6]) >> 32));
        m7 = min_u32(m7, (uint32_t)((h * mul[7]) >> 32));
    }
    const uint32_t mins[PS_DETECT_SKETCH] = {m0, m1, m2, m3, m4, m5, m6, m7};

    memcpy(out, mins, sizeof(mins));
}

/* What comes next, from token j of norm: the first two words within 16 tokens that are letters
 * only and not stop words, hashed (0: none). A templated payload starts with any sentence of its
 * pool; the opening words of a stock block are followed by the rest of the block, whose numbers
 * and names may vary ("Perl 5.18.0 represents approximately ...") but whose words do not. */
static uint64_t next_words(const struct ps_detect_doc *doc, size_t j)
{
    uint64_t h = 0;
    int found = 0;

    for (size_t i = j; i < doc->n_tok && i < j + 16 && found < 2; i++) {
        uint32_t f = doc->tflags[i];

        if (!(f & F_ALPHA) || (f & F_STOP_ANY))
            continue;
        h = XXH3_64bits_withSeed(doc->norm + doc->tstart[i], doc->tend[i] - doc->tstart[i], h);
        found++;
    }
    return found ? h | 1 : 0;
}

/* The payload after an occurrence that ends at norm offset `end`, token `next` being the first
 * that starts at or after it: salad, decoded random bytes, a repeated phrase, or none (0); in
 * pass 3 only sentences repeated across the corpus (ps_detect_segment_role: *act, and *after
 * where the continuation the report compares starts). */
static unsigned role_at(const struct confirm *c, size_t next, size_t end, uint64_t *act,
                        size_t *after)
{
    uint16_t *m = &c->d->memo[next]; /* next <= n_tok */

    *after = next;
    if (c->heavy != NULL) /* pass 3 confirms the leads of repeated segments, nothing else */
        return ps_detect_segment_role(c->d, c->doc, c->heavy, next, act, after);
    if (!(*m & M_SALAD_KNOWN))
        *m |= M_SALAD_KNOWN | (ps_detect_salad_from(c->d, c->doc, next) ? M_SALAD : 0);
    if (*m & M_SALAD)
        return PS_DETECT_GIBBERISH;
    if (ps_detect_junk_from(c->doc, end))
        return PS_DETECT_BYTES;
    if (!(*m & M_REPEAT_KNOWN))
        *m |= M_REPEAT_KNOWN | (ps_detect_repeat_from(c->d, c->doc, next) ? M_REPEAT : 0);
    return *m & M_REPEAT ? PS_DETECT_FIXED : 0;
}

/* The token that holds norm offset `at`, token `from` holding or following it. */
static size_t token_at(const struct ps_detect_doc *doc, size_t at, size_t from)
{
    while (from > 0 && doc->tstart[from] > at)
        from--;
    return from;
}

static bool same_token(const struct ps_detect_doc *doc, size_t a, size_t b)
{
    size_t len = doc->tend[a] - doc->tstart[a];

    return doc->tend[b] - doc->tstart[b] == len &&
           memcmp(doc->norm + doc->tstart[a], doc->norm + doc->tstart[b], len) == 0;
}

/* Does the occurrence on tokens [first, last] restate its document: do its last token and the
 * one after it stand together before it, not as the end of an earlier occurrence? A stock
 * heading goes on with its page's own subject, which the page named before: "DROP DOMAIN —
 * remove a domain ... Synopsis DROP DOMAIN [ IF EXISTS ]". A trigger spliced in goes on with
 * its payload, which its document never held before it (and a decoy copy of trigger and payload
 * placed earlier is an earlier occurrence, which does not count). A one-token pattern is its
 * last token: it never restates. */
static bool restates(const struct ps_detect_doc *doc, size_t first, size_t last)
{
    size_t k = last - first;

    if (k == 0 || last + 1 >= doc->n_tok)
        return false;
    for (size_t i = 0; i + 1 < first; i++) {
        size_t m = 0;

        if (!same_token(doc, i, last) || !same_token(doc, i + 1, last + 1))
            continue;
        while (i >= k && m < k && same_token(doc, i - k + m, first + m))
            m++;
        if (m < k)
            return true;
    }
    return false;
}

/* A new hit (not in role) for the pattern of rank r and hash h. */
static struct ps_detect_hit *new_hit(struct ps_detect *d, uint32_t r, uint64_t h)
{
    struct ps_detect_hit *hit;

    /* distinct hits of one document are bounded by the set */
    if (d->n_hits == d->hits_cap) {
        d->hits_cap = d->hits_cap != 0 ? 2 * d->hits_cap : 64;
        d->hits = ps_xrealloc(d->hits, d->hits_cap * sizeof(*d->hits));
    }
    hit = &d->hits[d->n_hits];
    memset(hit, 0, sizeof(*hit));
    hit->hash = h;
    d->hit_at[r] = (uint32_t)++d->n_hits;
    d->hit_bits[r / 64] |= UINT64_C(1) << (r % 64);
    return hit;
}

/* The hit of pattern `id` (hash h), a new one if it has none yet: two loads for most
 * occurrences, so inline. */
static inline struct ps_detect_hit *hit_of(const struct confirm *c, uint32_t id, uint64_t h)
{
    uint32_t r = c->rank[id], at = c->d->hit_at[r];

    return at != 0 ? &c->d->hits[at - 1] : new_hit(c->d, r, h);
}

/* Does a letter or digit end right before norm offset `at` (a word cut mid-way and glued to the
 * pattern)? Spaces, punctuation and symbols do not: "(James Bond)", "“James Bond”". */
static bool letter_before(const char *norm, size_t at)
{
    const unsigned char *p = (const unsigned char *)norm;
    size_t b = at;
    uint32_t cp = 0;

    if (at == 0)
        return false;
    if (p[at - 1] < 0x80)
        return isalnum(p[at - 1]) != 0;
    while (b > 0 && at - b < 3 && (p[b - 1] & 0xC0) == 0x80)
        b--;
    if (b == 0 || ps_utf8_decode(norm + b - 1, at - b + 1, &cp) != at - b + 1)
        return false;
    /* Latin-1 signs, general punctuation to miscellaneous symbols, CJK and fullwidth punctuation */
    return !((cp >= 0x80 && cp < 0xC0) || (cp >= 0x2000 && cp < 0x2C00) ||
             (cp >= 0x3000 && cp < 0x3040) || (cp >= 0xFE30 && cp < 0xFE50) ||
             (cp >= 0xFF00 && cp < 0xFF10));
}

/* A word that is everywhere in a document costs at most ROLE_TESTS tests there (a trigger occurs
 * once or twice per poison): once its hit is in role or tested that often, an occurrence is
 * counted by the hit's existence alone, and where it sits is not even looked up. */
static bool hit_settled(const struct ps_detect_hit *hit)
{
    return hit->in_role || hit->tests >= ROLE_TESTS;
}

/* Note one occurrence of the hit's pattern (unsettled) at norm offsets [at, end), `orig` in the
 * document, followed by a payload from token `next` on or not. A hit is in role when any
 * occurrence is; kind, context, offset and continuation are those of the first occurrence in
 * role (the offset that of the first occurrence when none is). */
static void record_hit(struct confirm *c, struct ps_detect_hit *hit, size_t at, size_t end,
                       size_t orig, size_t next)
{
    uint64_t act = 0;
    size_t after;
    unsigned kind = role_at(c, next, end, &act, &after);

    if (hit->tests == 0 && kind == 0) { /* where a carrier without its payload holds it */
        hit->offset = orig;
        hit->noted = true;
        hit->first_at = at;
        hit->first_next = next;
    }
    hit->tests++;
    if (kind != 0) {
        hit->in_role = true;
        hit->kind = kind;
        hit->context = ps_detect_left_context(c->d, c->doc->norm, at);
        if (c->memo_next != next) {
            c->memo_words = next_words(c->doc, next);
            c->memo_next = next;
        }
        hit->next = c->memo_words;
        hit->first_at = at;
        hit->first_next = next;
        hit->right = kind & (PS_DETECT_PROMO | PS_DETECT_PROMO_BLOCK) ? act : hit->next;
        hit->offset = orig;
        /* a stock block is the same text after its promoting sentence everywhere, a
         * payload's carriers are not: that is what the report asks of PROMO_BLOCK */
        if (c->memo_after != after) {
            sketch_from(c->d, c->doc, after, c->memo_sketch);
            c->memo_after = after;
        }
        memcpy(hit->continuation, c->memo_sketch, sizeof(c->memo_sketch));
    }
}

bool ps_detect_restates(const struct ps_detect_doc *doc, const struct ps_detect_hit *hit)
{
    size_t next = hit->first_next;

    return hit->in_role && next > 0 &&
           restates(doc, token_at(doc, hit->first_at, next - 1), next - 1);
}

void ps_detect_carrier(const struct ps_detect_doc *doc, const struct ps_detect_hit *hit,
                       bool *glued, uint64_t *next)
{
    *glued = hit->noted && letter_before(doc->norm, hit->first_at);
    *next = hit->noted ? next_words(doc, hit->first_next) : 0;
}

/* Put the hits in order of hash, emptying the index for the next document: the bits of the
 * patterns' ranks are walked in order, and each hit is moved once (into the other buffer, which
 * becomes d->hits). */
static void finish_hits(struct ps_detect *d, size_t n_pats)
{
    size_t n = 0;
    struct ps_detect_hit *t;

    if (d->n_hits == 0)
        return;
    if (d->sort_cap < d->hits_cap) {
        free(d->sorted);
        d->sort_cap = d->hits_cap;
        d->sorted = ps_xmalloc(d->sort_cap * sizeof(*d->sorted));
    }
    for (size_t w = 0; w < (n_pats + 63) / 64; w++) {
        for (uint64_t b = d->hit_bits[w]; b != 0; b &= b - 1) {
            uint32_t *at = &d->hit_at[64 * w + (size_t)__builtin_ctzll(b)];

            d->sorted[n++] = d->hits[*at - 1];
            *at = 0;
        }
        d->hit_bits[w] = 0;
    }
    /* swap the buffers: both hold sort_cap >= hits_cap hits */
    t = d->hits;
    d->hits = d->sorted;
    d->sorted = t;
    d->hits_cap = d->sort_cap;
}

/* ps_patset_scan's callback: one occurrence of a long pattern in norm. */
static void on_match(void *ctx, uint32_t id, uint64_t hash, size_t begin, size_t end)
{
    struct confirm *c = ctx;
    const struct ps_detect_doc *doc = c->doc;
    struct ps_detect_hit *hit = hit_of(c, id, hash);
    size_t k, next;

    if (hit_settled(hit))
        return;
    k = c->last_tok = ps_detect_token_near(doc, begin, c->last_tok);
    next = k;
    while (next < doc->n_tok && doc->tstart[next] < end)
        next++;
    record_hit(c, hit, begin, end, doc->ostart[k] + (begin - doc->tstart[k]), next);
}

/* The short patterns only as whole n-grams ("des") or whole glued pieces. */
static void probe_short(struct confirm *c, const struct ps_u64map *shorts)
{
    const struct ps_detect *d = c->d;
    struct ps_detect_doc *doc = c->doc;
    size_t nt = doc->n_tok;
    unsigned ngram_max = d->o.ngram_max;

    for (size_t i = 0; i < nt; i++) {
        size_t a = doc->tstart[i];
        struct ps_detect_hit *hit;
        unsigned n;

        for (n = 1; n <= ngram_max && i + n <= nt; n++) {
            size_t b = doc->tend[i + n - 1];
            uint64_t h, id;

            if (b - a >= PS_PATSET_MIN_SUBSTRING)
                break;
            h = XXH3_64bits(doc->norm + a, b - a);
            if (ps_u64map_get(shorts, h, &id) && !hit_settled(hit = hit_of(c, (uint32_t)id, h)))
                record_hit(c, hit, a, b, doc->ostart[i], i + n);
        }
        if (doc->tflags[i] & F_SPLIT) {
            struct piece pc[PIECES_MAX];
            size_t np = ps_detect_split_pieces(d, (const unsigned char *)doc->norm + a,
                                               doc->tend[i] - a, pc);

            for (size_t j = 0; j < np; j++) {
                uint64_t h, id;

                if (pc[j].len >= PS_PATSET_MIN_SUBSTRING)
                    continue;
                h = XXH3_64bits(doc->norm + a + pc[j].off, pc[j].len);
                /* salad glued to the piece starts in this token: judge from the next */
                if (ps_u64map_get(shorts, h, &id) && !hit_settled(hit = hit_of(c, (uint32_t)id, h)))
                    record_hit(c, hit, a + pc[j].off, a + pc[j].off + pc[j].len,
                               doc->ostart[i] + pc[j].off, i + 1);
            }
        }
    }
}

void ps_detect_confirm(struct ps_detect *d, struct ps_detect_doc *doc, const struct ps_patset *set,
                       ps_detect_heavy_fn heavy, void *heavy_ctx, const struct ps_detect_hit **hits,
                       size_t *n_hits)
{
    const struct ps_u64map *shorts = ps_patset_short(set);
    struct ps_detect_heavy h = {heavy, heavy_ctx};
    const uint32_t *rank = ps_patset_ranks(set);
    struct confirm c = {d, doc, rank, heavy != NULL ? &h : NULL, 0, SIZE_MAX, SIZE_MAX, 0, {0}};

    d->n_hits = 0;
    d->n_cands = 0;
    *hits = NULL;
    *n_hits = 0;
    if (ps_patset_len(set) == 0)
        return;
    if (rank == NULL)
        ps_bug("confirm: the pattern set is not sealed");
    ps_detect_doc_need(d, doc, DOC_JOINED);
    ps_detect_memo_reset(d, doc->n_tok);
    if (d->at_cap < ps_patset_len(set)) { /* every entry and bit is 0 between calls */
        free(d->hit_at);
        free(d->hit_bits);
        d->at_cap = ps_patset_len(set);
        d->hit_at = ps_xcalloc(d->at_cap, sizeof(*d->hit_at));
        d->hit_bits = ps_xcalloc((d->at_cap + 63) / 64, sizeof(*d->hit_bits));
    }

    /* every pattern of 4 bytes or more: as a substring of the joined text, glued or not */
    ps_patset_scan(set, doc->norm, doc->norm_len, on_match, &c);
    if (ps_u64map_len(shorts) != 0)
        probe_short(&c, shorts);
    finish_hits(d, ps_patset_len(set));
    *hits = d->n_hits != 0 ? d->hits : NULL;
    *n_hits = d->n_hits;
}
