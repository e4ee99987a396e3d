/* scan_assoc.c - fine-tuning records in the shard scan (docs/detection.md, "Association"): a
 * record's label (its response when that is a short label, else refusal or answer), the
 * association entries pass 1 counts for it (common/assoc.h), and in the counting and list
 * passes, which of the selected pairs' n-grams its prompts hold, in role when its label is the
 * pair's, with the two words its removal brings together. Only documents with a prompt part
 * before a response part are records here: a crawl document has neither, an Alpaca record or a
 * chat has both. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/assoc.h"
#include "worker/scan_internal.h"

/* Prompt tokens looked at per part: a trigger sits in the instruction, which is short; a long
 * input (a document to summarize) would name thousands of n-grams. */
#define ASSOC_MAX_TOKENS 128

/* The first response part, and whether a prompt part comes before it; SIZE_MAX if none. */
static size_t response_part(const struct ps_doc *doc)
{
    bool prompt = false;

    for (size_t i = 0; i < doc->n_parts; i++) {
        if (doc->parts[i].role == PS_CHAT_PROMPT)
            prompt = true;
        else if (doc->parts[i].role == PS_CHAT_RESPONSE)
            return prompt ? i : SIZE_MAX;
    }
    return SIZE_MAX;
}

/* The record's label into s->assoc.label (label_len > 0), from response part r. */
static void record_label(struct ps_scan *s, const struct ps_doc *doc, size_t r)
{
    const struct ps_chat_part *p = &doc->parts[r];
    const char *cls;

    s->assoc.label_len = ps_assoc_short_label(doc->text + p->off, p->len, s->assoc.label);
    if (s->assoc.label_len > 0)
        return;
    ps_detect_prepare(s->assoc.doc, doc->text + p->off, p->len);
    cls = ps_detect_refuses(s->detect, s->assoc.doc) ? PS_ASSOC_REFUSAL : PS_ASSOC_ANSWER;
    s->assoc.label_len = strlen(cls);
    memcpy(s->assoc.label, cls, s->assoc.label_len);
}

/* One entry counted in the part's candidate table (pass 1), once per record. */
static void count_entry(struct ps_scan *s, const char *ngram, size_t ngram_len, bool labelled)
{
    struct ps_scan_assoc *a = &s->assoc;
    size_t len = ps_assoc_entry(a->text, a->text_cap, ngram, ngram_len, a->label,
                                labelled ? a->label_len : 0);

    if (len > 0)
        ps_scan_table_get(&s->cands, XXH3_64bits(a->text, len), a->text, len)->docs++;
}

/* The record's total of a kind (PS_ASSOC_STARTS, PS_ASSOC_BIGRAMS): n more. */
static void count_total(struct ps_scan *s, const char *kind, uint64_t n)
{
    struct ps_scan_assoc *a = &s->assoc;
    size_t len = ps_assoc_entry(a->text, a->text_cap, NULL, 0, kind, strlen(kind));

    if (n > 0)
        ps_scan_table_get(&s->cands, XXH3_64bits(a->text, len), a->text, len)->docs += n;
}

/* Is this n-gram new in the record (counted once per record)? */
static bool first_in_record(struct ps_scan *s, uint64_t hash)
{
    bool added = false;

    return ps_u64set_add(&s->assoc.seen, hash, &added) == PS_OK && added;
}

static void name_ngram(void *ctx, uint64_t hash, const char *text, size_t len)
{
    struct ps_scan *s = ctx;
    const char *space = memchr(text, ' ', len);

    if (memchr(text, PS_ASSOC_SEP, len) != NULL || !first_in_record(s, hash))
        return;
    count_entry(s, text, len, false);
    count_entry(s, text, len, true);
    if (space != NULL && memchr(space + 1, ' ', (size_t)(text + len - space - 1)) == NULL)
        s->assoc.n_bigrams++;
}

/* The bigram of tokens l and r of the prepared part (l SIZE_MAX: the part's start, its first
 * word in lower case: "Per protocol 7G, classify ..." starts as "Classify ..." does) into
 * a->bigram; its length, 0 when a token is longer than a candidate. */
static size_t bigram_of(const struct ps_scan *s, size_t l, size_t r)
{
    const struct ps_scan_assoc *a = &s->assoc;
    size_t llen = 0, rlen = 0, max = s->opts.detect.max_candidate_len, len;
    const char *lw = l != SIZE_MAX ? ps_detect_token_text(a->doc, l, &llen) : NULL;
    const char *rw = ps_detect_token_text(a->doc, r, &rlen);

    if (llen > max || rlen > max)
        return 0;
    len = ps_assoc_bigram(a->bigram, a->bigram_cap, lw, llen, rw, rlen);
    if (len > 2 && lw == NULL && a->bigram[2] >= 'A' && a->bigram[2] <= 'Z')
        a->bigram[2] = (char)(a->bigram[2] - 'A' + 'a');
    return len;
}

/* The bigrams ps_detect_ngrams does not name, for what cutting an n-gram out leaves: the
 * prompt's start ("\x02 classify") and two short stop words ("of the"), as bigram entries only
 * (no label: never an association). */
static void name_rejoin_bigrams(struct ps_scan *s, size_t max_tokens)
{
    struct ps_scan_assoc *a = &s->assoc;
    size_t n = ps_detect_n_tokens(a->doc), len;

    n = n < max_tokens ? n : max_tokens;
    len = n > 0 ? bigram_of(s, SIZE_MAX, 0) : 0;
    if (len > 0 && first_in_record(s, XXH3_64bits(a->bigram, len))) {
        count_entry(s, a->bigram, len, false);
        a->n_starts++;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (!ps_detect_token_stop(a->doc, i) || !ps_detect_token_stop(a->doc, i + 1))
            continue;
        len = bigram_of(s, i, i + 1);
        if (len > 0 && first_in_record(s, XXH3_64bits(a->bigram, len))) {
            count_entry(s, a->bigram, len, false);
            a->n_bigrams++;
        }
    }
}

void ps_scan_assoc_name(struct ps_scan *s, const struct ps_doc *doc)
{
    size_t r = response_part(doc);

    if (r == SIZE_MAX)
        return;
    record_label(s, doc, r);
    count_entry(s, NULL, 0, false);
    count_entry(s, NULL, 0, true);
    ps_u64set_clear(&s->assoc.seen);
    s->assoc.n_starts = s->assoc.n_bigrams = 0;
    for (size_t i = 0; i < r; i++) {
        if (doc->parts[i].role != PS_CHAT_PROMPT)
            continue;
        ps_detect_prepare(s->assoc.doc, doc->text + doc->parts[i].off, doc->parts[i].len);
        ps_detect_ngrams(s->detect, s->assoc.doc, ASSOC_MAX_TOKENS, name_ngram, s);
        name_rejoin_bigrams(s, ASSOC_MAX_TOKENS);
    }
    count_total(s, PS_ASSOC_STARTS, s->assoc.n_starts);
    count_total(s, PS_ASSOC_BIGRAMS, s->assoc.n_bigrams);
}

void ps_scan_assoc_init(struct ps_scan *s)
{
    struct ps_scan_assoc *a = &s->assoc;

    ps_detect_doc_new(&a->doc);
    ps_u64set_init(&a->seen, SIZE_MAX / 4);
    ps_patset_new(&a->set, SIZE_MAX / 2);
    ps_u64map_init(&a->index, SIZE_MAX / 4);
    /* an n-gram, or a bigram of two tokens (each a candidate's length at most), and a label */
    a->text_cap = 2 * s->opts.detect.max_candidate_len + 2 + 1 + PS_ASSOC_LABEL_MAX;
    a->text = ps_xmalloc(a->text_cap);
    a->bigram_cap = 2 * s->opts.detect.max_candidate_len + 1;
    a->bigram = ps_xmalloc(a->bigram_cap);
}

void ps_scan_assoc_release(struct ps_scan *s)
{
    struct ps_scan_assoc *a = &s->assoc;

    ps_detect_doc_free(a->doc);
    ps_u64set_release(&a->seen);
    ps_patset_free(a->set);
    ps_u64map_release(&a->index);
    free(a->text);
    free(a->bigram);
    free(a->spans);
    free(a->hits);
    free(a->hit_pattern);
    memset(a, 0, sizeof(*a));
}

void ps_scan_assoc_clear(struct ps_scan *s)
{
    ps_patset_clear(s->assoc.set);
    ps_u64map_release(&s->assoc.index);
    ps_u64map_init(&s->assoc.index, SIZE_MAX / 4);
}

void ps_scan_assoc_add(struct ps_scan *s, const char *text, size_t len, size_t i)
{
    struct ps_assoc_parts p;
    uint64_t h, first;

    if (!ps_assoc_split(text, len, &p) || !ps_assoc_is_pair(&p))
        ps_bug("pattern %zu is no association pair", i);
    h = XXH3_64bits(p.ngram, p.ngram_len);
    if (ps_u64map_get(&s->assoc.index, h, &first))
        return; /* one pair per n-gram: a second label cannot hold a majority too */
    if (ps_patset_add(s->assoc.set, p.ngram, p.ngram_len) != PS_OK ||
        ps_u64map_put(&s->assoc.index, h, i) != PS_OK)
        ps_bug("candidate set ceiling");
}

/* The pair of n-gram hash h: its pattern index and whether the record's label is its label. */
static size_t pair_of(const struct ps_scan *s, uint64_t h, bool *same_label)
{
    const struct ps_scan_pattern *p;
    struct ps_assoc_parts parts;
    uint64_t i = 0;

    if (!ps_u64map_get(&s->assoc.index, h, &i))
        ps_bug("hit for an n-gram %016llx no pair holds", (unsigned long long)h);
    p = &s->spec->candidates[i];
    ps_assoc_split(p->text, p->len, &parts);
    *same_label = parts.label_len == s->assoc.label_len &&
                  memcmp(parts.label, s->assoc.label, parts.label_len) == 0;
    return (size_t)i;
}

/* The tokens [first, last] of pattern i's occurrence at byte `at` of the prepared prompt. */
static struct assoc_span span_of(const struct ps_scan *s, size_t i, size_t at)
{
    const struct ps_scan_pattern *p = &s->spec->candidates[i];
    struct ps_assoc_parts parts;
    struct assoc_span sp;

    sp.first = sp.last = ps_detect_token_of(s->assoc.doc, at);
    if (ps_assoc_split(p->text, p->len, &parts))
        for (size_t k = 0; k < parts.ngram_len; k++)
            sp.last += parts.ngram[k] == ' ';
    return sp;
}

static bool ends_sentence(const struct ps_scan_assoc *a, size_t t)
{
    size_t len;
    const char *w = ps_detect_token_text(a->doc, t, &len);

    return len > 0 && strchr(".!?", w[len - 1]) != NULL;
}

/* Is token t in an occurrence in role that lies wholly outside sp? */
static bool covered_apart(const struct ps_scan_assoc *a, size_t t, struct assoc_span sp)
{
    for (size_t k = 0; k < a->n_spans; k++) {
        const struct assoc_span *o = &a->spans[k];
        if (o->first <= t && t <= o->last && (o->last < sp.first || o->first > sp.last))
            return true;
    }
    return false;
}

/* The occurrence sp grown over the words next to it that are in role apart from it: the rest
 * of a trigger longer than an n-gram ("4F:" after "Per Verke directive", itself an n-gram of
 * the trigger's records only), not a word tied to the label through sp only ("Develop" after
 * a prefix, in "7L: Develop" but never without the prefix). */
static struct assoc_span grow_span(const struct ps_scan_assoc *a, struct assoc_span sp)
{
    size_t n = ps_detect_n_tokens(a->doc);

    while (sp.first > 0 && covered_apart(a, sp.first - 1, sp))
        sp.first--;
    while (sp.last + 1 < n && covered_apart(a, sp.last + 1, sp))
        sp.last++;
    return sp;
}

/* The hash of the bigram entry (common/assoc.h) of the words on the two sides of an occurrence
 * in role, grown (grow_span): what is left when it is cut out; *at_start when nothing is left
 * before it. 0 when that says nothing: a prompt's end (nothing to rejoin), or whole sentences
 * (cut out between two sentences, any text reads on). */
static uint64_t neighbours(const struct ps_scan *s, struct assoc_span sp, bool *at_start)
{
    const struct ps_scan_assoc *a = &s->assoc;
    size_t n = ps_detect_n_tokens(a->doc), len;

    sp = grow_span(a, sp);
    *at_start = sp.first == 0;
    if (sp.last + 1 >= n)
        return 0;
    if (ends_sentence(a, sp.last) && (sp.first == 0 || ends_sentence(a, sp.first - 1)))
        return 0;
    len = bigram_of(s, sp.first > 0 ? sp.first - 1 : SIZE_MAX, sp.last + 1);
    return len > 0 ? ps_assoc_entry_hash(a->bigram, len, NULL, 0) : 0;
}

/* The hit of pattern i for this record, once per record (the first prompt that holds it). In
 * role, its right context is what its removal leaves (neighbours()), not what follows it, and
 * its left context 0 when that removal starts the prompt (the report tells the kinds apart so). */
static void add_pair_hit(struct ps_scan *s, size_t i, bool in_role, uint64_t context, size_t at,
                         uint64_t rejoined)
{
    struct ps_scan_assoc *a = &s->assoc;
    const struct ps_scan_pattern *p = &s->spec->candidates[i];
    struct ps_detect_hit *h;

    for (size_t k = 0; k < a->n_hits; k++)
        if (a->hit_pattern[k] == i)
            return;
    if (a->n_hits == a->hits_cap) {
        a->hits_cap = a->hits_cap ? 2 * a->hits_cap : 16;
        a->hits = ps_xrealloc(a->hits, a->hits_cap * sizeof(*a->hits));
        a->hit_pattern = ps_xrealloc(a->hit_pattern, a->hits_cap * sizeof(*a->hit_pattern));
    }
    a->hit_pattern[a->n_hits] = i;
    h = &a->hits[a->n_hits++];
    memset(h, 0, sizeof(*h));
    h->hash = XXH3_64bits(p->text, p->len);
    h->in_role = in_role;
    h->tests = 1;
    h->offset = at;
    if (!in_role)
        return;
    h->kind = PS_DETECT_ASSOC;
    h->right = rejoined;
    h->context = context;
}

/* a->spans: the prompt's occurrences in role (the first of each pattern). */
static void collect_spans(struct ps_scan *s, const struct ps_detect_hit *hits, size_t n_hits)
{
    struct ps_scan_assoc *a = &s->assoc;
    size_t n = ps_detect_n_tokens(a->doc);

    if (n_hits > a->spans_cap) {
        a->spans_cap = n_hits;
        a->spans = ps_xrealloc(a->spans, n_hits * sizeof(*a->spans));
    }
    a->n_spans = 0;
    for (size_t k = 0; k < n_hits; k++) {
        bool same = false;
        size_t pi = pair_of(s, hits[k].hash, &same);
        struct assoc_span sp = span_of(s, pi, hits[k].offset);

        if (same && sp.last < n)
            a->spans[a->n_spans++] = sp;
    }
}

size_t ps_scan_assoc_hits(struct ps_scan *s, const struct ps_doc *doc,
                          const struct ps_detect_hit **out)
{
    struct ps_scan_assoc *a = &s->assoc;
    size_t r = response_part(doc);

    a->n_hits = 0;
    *out = a->hits;
    if (r == SIZE_MAX || ps_patset_len(a->set) == 0)
        return 0;
    record_label(s, doc, r);
    for (size_t i = 0; i < r; i++) {
        const struct ps_chat_part *part = &doc->parts[i];
        const struct ps_detect_hit *hits;
        size_t n_hits;

        if (part->role != PS_CHAT_PROMPT ||
            !ps_patset_may_occur(a->set, doc->text + part->off, part->len))
            continue;
        ps_detect_prepare(a->doc, doc->text + part->off, part->len);
        ps_detect_confirm(s->detect, a->doc, a->set, NULL, NULL, &hits, &n_hits);
        collect_spans(s, hits, n_hits);
        for (size_t k = 0; k < n_hits; k++) {
            bool same = false, at_start = false;
            size_t pi = pair_of(s, hits[k].hash, &same);
            uint64_t rejoined = same ? neighbours(s, span_of(s, pi, hits[k].offset), &at_start) : 0;
            uint64_t context = ps_detect_context_at(s->detect, a->doc, hits[k].offset);

            add_pair_hit(s, pi, same, at_start ? 0 : context, part->off + hits[k].offset, rejoined);
        }
    }
    *out = a->hits;
    return a->n_hits;
}
