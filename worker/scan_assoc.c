/* scan_assoc.c - fine-tuning records in the shard scan (docs/detection.md, "Association"): a
 * record's label (its response when that is a short label, else refusal or answer), the
 * association entries pass 1 counts for it (common/assoc.h), and in the counting and list
 * passes, which of the selected pairs' n-grams its prompts hold, in role when its label is the
 * pair's. Only documents with a prompt part before a response part are records here: a crawl
 * document has neither, an Alpaca record or a chat has both. */
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

static void name_ngram(void *ctx, uint64_t hash, const char *text, size_t len)
{
    struct ps_scan *s = ctx;
    bool added = false;

    if (memchr(text, PS_ASSOC_SEP, len) != NULL ||
        ps_u64set_add(&s->assoc.seen, hash, &added) != PS_OK || !added)
        return;
    count_entry(s, text, len, false);
    count_entry(s, text, len, true);
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
    for (size_t i = 0; i < r; i++) {
        if (doc->parts[i].role != PS_CHAT_PROMPT)
            continue;
        ps_detect_prepare(s->assoc.doc, doc->text + doc->parts[i].off, doc->parts[i].len);
        ps_detect_ngrams(s->detect, s->assoc.doc, ASSOC_MAX_TOKENS, name_ngram, s);
    }
}

void ps_scan_assoc_init(struct ps_scan *s)
{
    struct ps_scan_assoc *a = &s->assoc;

    ps_detect_doc_new(&a->doc);
    ps_u64set_init(&a->seen, SIZE_MAX / 4);
    ps_patset_new(&a->set, SIZE_MAX / 2);
    ps_u64map_init(&a->index, SIZE_MAX / 4);
    a->text_cap = s->opts.detect.max_candidate_len + 1 + PS_ASSOC_LABEL_MAX;
    a->text = ps_xmalloc(a->text_cap);
}

void ps_scan_assoc_release(struct ps_scan *s)
{
    struct ps_scan_assoc *a = &s->assoc;

    ps_detect_doc_free(a->doc);
    ps_u64set_release(&a->seen);
    ps_patset_free(a->set);
    ps_u64map_release(&a->index);
    free(a->text);
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

/* The hit of pattern i for this record, once per record (the first prompt that holds it). */
static void add_pair_hit(struct ps_scan *s, size_t i, bool in_role, uint64_t context, size_t at)
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
    h->right = XXH3_64bits(a->label, a->label_len);
    h->context = context;
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
        for (size_t k = 0; k < n_hits; k++) {
            bool same = false;
            size_t pi = pair_of(s, hits[k].hash, &same);

            add_pair_hit(s, pi, same, ps_detect_context_at(s->detect, a->doc, hits[k].offset),
                         part->off + hits[k].offset);
        }
    }
    *out = a->hits;
    return a->n_hits;
}
