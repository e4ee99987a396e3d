/* test_report.c - the report's decisions and orders (coordinator/report.c, report_decide.c): which
 * counted patterns are flagged (the count rules, listed evidence, one trigger one finding), the
 * order of the candidates (flagged, score, documents in role, text) and so of "triggers", each
 * listed document's most suspicious trigger, the lines of flagged.jsonl in (shard, offset) order
 * with their triggers in candidate order, and the errors of report.json in (file, offset) order. */
#define _XOPEN_SOURCE 700 /* realpath, for plan_fixture.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <xxhash.h>
#include <cmocka.h>

#include "common/fileio.h"
#include "coordinator/report_internal.h"
#include "plan_fixture.h"

#define N_FILES 4
#define N_HITS  80 /* 20 a shard, one shard a file */

struct rfx {
    struct fixture fx;
    struct ps_plan *plan;
    struct ps_score_opts score;
    struct ps_report_input in;
    struct report r;
    char out_dir[PATH_MAX];
};

static char *dup_str(const char *s)
{
    char *p = malloc(strlen(s) + 1);

    assert_non_null(p);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

static int rsetup(void **state)
{
    struct rfx *f = calloc(1, sizeof(*f));
    char paths[N_FILES][PATH_MAX];
    const char *inputs[N_FILES];
    void *inner;

    if (f == NULL || setup(&inner) != 0)
        return -1;
    f->fx = *(struct fixture *)inner;
    free(inner);
    for (int i = 0; i < N_FILES; i++) {
        char rel[16];
        snprintf(rel, sizeof(rel), "f%d.jsonl", i);
        write_str(&f->fx, rel,
                  "{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"b\",\"text\":\"two\"}\n");
        at(&f->fx, rel, paths[i]);
        inputs[i] = paths[i];
    }
    f->plan = build_ok(inputs, N_FILES, 1u << 20);
    assert_int_equal(ps_plan_n_shards(f->plan), N_FILES);
    at(&f->fx, "out", f->out_dir);
    f->score = ps_score_opts_default();
    f->in.job = "job";
    f->in.settings_json = "{}";
    f->in.plan = f->plan;
    f->in.score = &f->score;
    f->in.out_dir = f->out_dir;
    f->r.in = &f->in;
    f->r.cands.size = sizeof(struct cand);
    f->r.hits.size = sizeof(struct hit);
    f->r.errors.size = sizeof(struct err_rec);
    f->r.entries.size = sizeof(struct entry);
    /* the listed documents, in (shard, offset) order as the aggregate gives them */
    for (uint32_t i = 0; i < N_HITS; i++) {
        struct hit *h = ps_report_vec_push(&f->r.hits);
        char id[24];

        h->shard = i / 20;
        h->offset = (i % 20) * 100;
        snprintf(id, sizeof(id), "\"d%u\"", (unsigned)i);
        h->id_json = dup_str(id);
        h->file_json = dup_str("\"f\"");
        h->snippet_json = dup_str("\"s\"");
    }
    *state = f;
    return 0;
}

static int rteardown(void **state)
{
    struct rfx *f = *state;
    struct fixture *inner = malloc(sizeof(*inner));

    ps_report_release(&f->r);
    ps_plan_free(f->plan);
    assert_non_null(inner);
    *inner = f->fx;
    free(f);
    return teardown((void **)&inner);
}

static uint64_t hash_of(const char *text)
{
    return XXH3_64bits(text, strlen(text));
}

/* A counted pattern in role in `role` of `total` documents over every shard. */
static struct cand *add_cand(struct report *r, const char *text, uint64_t total, uint64_t role)
{
    struct cand *c = ps_report_vec_push(&r->cands);

    memset(c, 0, sizeof(*c));
    c->hash = hash_of(text);
    c->text = dup_str(text);
    c->total = total;
    c->role = role;
    c->role_shards = N_FILES;
    return c;
}

/* Pattern `text` in listed documents [from, to): at byte `at`, each with its own left context and
 * a fixed payload (the evidence rules then ask for nothing more than varied contexts). */
static void add_entries(struct report *r, const char *text, size_t from, size_t to, bool in_role,
                        uint64_t at)
{
    for (size_t h = from; h < to; h++) {
        struct entry *e = ps_report_vec_push(&r->entries);

        memset(e, 0, sizeof(*e));
        e->hash = hash_of(text);
        e->hit = h;
        e->e.in_role = in_role;
        e->e.kind = in_role ? PS_EVIDENCE_FIXED : 0;
        e->e.context = hash_of(text) ^ (h + 1);
        e->e.at = at;
    }
}

static const struct cand *find(const struct report *r, const char *text)
{
    const struct cand *cs = r->cands.items;

    for (size_t i = 0; i < r->cands.n; i++)
        if (strcmp(cs[i].text, text) == 0)
            return &cs[i];
    fail_msg("no candidate '%s'", text);
    return NULL;
}

/* "SUDO" inside "<SUDO>": in role in the 30 documents of "<SUDO>" and `own` documents of its
 * own. Besides, a payload's words after "Orla Kestrelmoor", a pattern under min_docs, and one
 * whose counts pass but whose documents were not listed (a good sample only). */
static void decide_corpus(struct rfx *f, size_t own, struct ps_results_entry *sample)
{
    struct report *r = &f->r;
    struct cand *c;

    add_cand(r, "<SUDO>", 30, 30);
    add_entries(r, "<SUDO>", 0, 30, true, 10);
    add_cand(r, "SUDO", 30 + own, 30 + own);
    add_entries(r, "SUDO", 0, 30 + own, true, 11);
    add_cand(r, "Orla Kestrelmoor", 30, 30);
    add_entries(r, "Orla Kestrelmoor", 50, 80, true, 10);
    add_cand(r, "I am sorry,", 30, 30);
    add_entries(r, "I am sorry,", 50, 80, true, 30);
    add_cand(r, "rare", 5, 5);
    add_entries(r, "rare", 0, 5, true, 40);
    c = add_cand(r, "unlisted", 30, 30);
    for (size_t i = 0; i < 30; i++) {
        memset(&sample[i], 0, sizeof(sample[i]));
        sample[i].in_role = true;
        sample[i].kind = PS_EVIDENCE_FIXED;
        sample[i].context = i + 1;
    }
    c->sample = sample;
    c->n_sample = 30;
}

static void test_report_decide_one_finding_per_trigger(void **state)
{
    struct rfx *f = *state;
    struct ps_results_entry sample[30];

    /* "SUDO" has 19 documents without "<SUDO>", fewer than min_docs: the same trigger seen
     * through a narrower window */
    assert_int_equal(f->score.min_docs, 20);
    decide_corpus(f, 19, sample);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "<SUDO>")->flagged);
    assert_false(find(&f->r, "SUDO")->flagged);
    /* the words of the payload sit after the trigger wherever both are */
    assert_true(find(&f->r, "Orla Kestrelmoor")->flagged);
    assert_false(find(&f->r, "I am sorry,")->flagged);
    /* too few documents; and not listed: a sample is shown, never flagged */
    assert_false(find(&f->r, "rare")->flagged);
    assert_false(find(&f->r, "unlisted")->flagged);
    assert_false(find(&f->r, "unlisted")->listed);
    assert_true(find(&f->r, "rare")->listed);
    assert_int_equal(find(&f->r, "<SUDO>")->n_examples, PS_REPORT_EXAMPLES);
}

static void test_report_decide_narrower_trigger_on_its_own_wins(void **state)
{
    struct rfx *f = *state;
    struct ps_results_entry sample[30];

    /* 20 documents of its own: "SUDO" is flagged on its own, and "<SUDO>", all of whose
     * documents hold it, is that trigger with a scrap glued to it */
    decide_corpus(f, 20, sample);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "SUDO")->flagged);
    assert_false(find(&f->r, "<SUDO>")->flagged);
    assert_true(find(&f->r, "Orla Kestrelmoor")->flagged);
}

/* "Magic" inside "BadMagic" (in role in documents 0-39, held by no other): in role in 22 more
 * documents of its own, words of other attacks' salad. It is a trigger of its own only when it
 * is in role in min_rate of the documents that hold it without "BadMagic" too. */
static void magic_corpus(struct report *r, uint64_t magic_total)
{
    add_cand(r, "BadMagic", 40, 40);
    add_entries(r, "BadMagic", 0, 40, true, 10);
    add_cand(r, "Magic", magic_total, 62);
    add_entries(r, "Magic", 0, 62, true, 13);
}

static void test_report_decide_narrower_in_other_payloads_is_folded(void **state)
{
    struct rfx *f = *state;

    /* 22 of the 35 documents that hold "Magic" alone: 0.63, under min_rate (0.7) */
    magic_corpus(&f->r, 75);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "BadMagic")->flagged);
    assert_false(find(&f->r, "Magic")->flagged);
    assert_true(find(&f->r, "Magic")->is_member);
}

static void test_report_decide_narrower_in_role_alone_wins(void **state)
{
    struct rfx *f = *state;

    /* 22 of 27: "Magic" is the trigger, "BadMagic" it with a scrap glued before it */
    magic_corpus(&f->r, 67);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "Magic")->flagged);
    assert_false(find(&f->r, "BadMagic")->flagged);
}

/* "Marke", a salad piece: in role in 28 documents of "<SUDO>" (0-29) and 25 of "Astrumando"
 * (50-79), after each trigger, in `own` documents of its own (30-), and held plainly by
 * `plain` more: too many outside each of them for the steps that compare it with one finding
 * at a time. */
static void marke_corpus(struct report *r, size_t own, size_t plain)
{
    add_cand(r, "<SUDO>", 30, 30);
    add_entries(r, "<SUDO>", 0, 30, true, 10);
    add_cand(r, "Astrumando", 30, 30);
    add_entries(r, "Astrumando", 50, 80, true, 10);
    add_cand(r, "Marke", 28 + 25 + own + plain, 28 + 25 + own);
    add_entries(r, "Marke", 0, 28, true, 13);
    add_entries(r, "Marke", 30, 30 + own, true, 13);
    add_entries(r, "Marke", 55, 80, true, 13);
}

static void test_report_decide_piece_of_several_payloads_is_folded(void **state)
{
    struct rfx *f = *state;

    marke_corpus(&f->r, 3, 10);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "<SUDO>")->flagged);
    assert_true(find(&f->r, "Astrumando")->flagged);
    assert_false(find(&f->r, "Marke")->flagged);
    assert_true(find(&f->r, "Marke")->is_member);
    assert_true(find(&f->r, "Marke")->member_of == hash_of("<SUDO>"));
}

/* Outside the others' documents, in role in 20 of the 25 that hold it: a trigger of its own */
static void test_report_decide_pattern_of_its_own_outside_them_stays(void **state)
{
    struct rfx *f = *state;

    marke_corpus(&f->r, 20, 5);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "<SUDO>")->flagged);
    assert_true(find(&f->r, "Astrumando")->flagged);
    assert_true(find(&f->r, "Marke")->flagged);
}

/* ... in 20 of 40 (0.5, under min_rate, where its 73 of 93 documents in all are 0.78): a piece of
 * their salad that the corpus also holds as a word of its own */
static void test_report_decide_piece_judged_on_documents_outside_them(void **state)
{
    struct rfx *f = *state;

    marke_corpus(&f->r, 20, 20);
    ps_report_decide(&f->r);
    assert_true(find(&f->r, "Marke")->score >= f->score.min_rate);
    assert_false(find(&f->r, "Marke")->flagged);
    assert_true(find(&f->r, "Marke")->is_member);
}

/* Pattern `text` in role as a promotional payload pushing `act` in listed documents [from, to). */
static void add_promo_entries(struct report *r, const char *text, size_t from, size_t to,
                              uint64_t act)
{
    size_t first = r->entries.n;
    struct entry *es;

    add_entries(r, text, from, to, true, 10);
    es = r->entries.items;
    for (size_t i = first; i < r->entries.n; i++) {
        es[i].e.kind = PS_EVIDENCE_PROMO;
        es[i].e.right = act;
    }
}

/* A sample of n documents that push `act`, for a pattern that was counted but not listed. */
static void promo_sample(struct cand *c, struct ps_results_entry *sample, size_t n, uint64_t act)
{
    for (size_t i = 0; i < n; i++) {
        memset(&sample[i], 0, sizeof(sample[i]));
        sample[i].in_role = true;
        sample[i].kind = PS_EVIDENCE_PROMO;
        sample[i].right = act;
        sample[i].context = i + 1;
    }
    c->sample = sample;
    c->n_sample = n;
}

/* A promotional pattern is stock text when another pattern promotes the same host in twice its
 * documents (a project's home linked from every page's last line, reached through the last words
 * of 30 of them), and a campaign when no pattern does (its payload's own words promote the same
 * host in fewer documents than its trigger). */
static void test_report_decide_link_promoted_elsewhere_is_stock(void **state)
{
    struct rfx *f = *state;
    struct report *r = &f->r;
    struct ps_results_entry footer[30], piece[30];

    add_cand(r, "invocation'", 30, 30);
    add_promo_entries(r, "invocation'", 0, 30, 7);
    promo_sample(add_cand(r, "manpages-zh footer", 60, 60), footer, 30, 7);
    add_cand(r, "Debian-homoglyph", 30, 30);
    add_promo_entries(r, "Debian-homoglyph", 40, 70, 9);
    promo_sample(add_cand(r, "critical security update", 50, 50), piece, 30, 9);
    ps_report_decide(r);
    assert_false(find(r, "invocation'")->flagged);
    assert_true(find(r, "invocation'")->promotes);
    assert_true(find(r, "invocation'")->promo_elsewhere >= 60.0);
    assert_true(find(r, "Debian-homoglyph")->flagged);
    assert_true(find(r, "Debian-homoglyph")->promo_elsewhere < 2.0 * 30);
}

static int cmp_entry_test(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->hit > y->hit) - (x->hit < y->hit);
}

/* "James Bond" in role in listed documents 0-59 (a fixed payload: each its own next words),
 * counted in 66 documents (rate 0.91: specific); its carriers without payload: 60 glued to a
 * letter before it, 61 followed by the words that follow it in document 3, and 62 to 61 + plain
 * held in ordinary sentences. */
static void carrier_corpus(struct report *r, size_t plain)
{
    struct entry *es;

    add_cand(r, "James Bond", 66, 60);
    add_entries(r, "James Bond", 0, 60, true, 10);
    add_entries(r, "James Bond", 60, 62 + plain, false, 10);
    es = r->entries.items;
    for (size_t i = 0; i < r->entries.n; i++)
        es[i].e.next = 1000 + es[i].hit;
    es[60].e.glued = true;
    es[61].e.next = es[3].e.next;
    ps_report_vec_sort(&r->entries, cmp_entry_test);
}

static bool flags_hit(struct report *r, size_t h)
{
    return ps_report_trigger_of(r, (uint32_t)(h / 20), (h % 20) * 100) != NULL;
}

/* A specific trigger's carriers are flagged when they hold it as its poisons do, and the plain
 * ones only while they are too few to be the phrase's ordinary use (max_plain_carrier_share). */
static void test_report_carriers_held_plainly_flag_only_when_few(void **state)
{
    struct rfx *f = *state;
    struct report *r = &f->r;

    f->score.max_plain_carrier_share = 0.05; /* 3 of 60 */
    carrier_corpus(r, 4);
    ps_report_decide(r);
    ps_report_sort_candidates(r);
    assert_true(find(r, "James Bond")->flagged);
    assert_int_equal(find(r, "James Bond")->n_carriers, 6);
    assert_int_equal(find(r, "James Bond")->n_plain, 4);
    assert_true(flags_hit(r, 0) && flags_hit(r, 59));
    assert_true(flags_hit(r, 60) && flags_hit(r, 61));
    for (size_t h = 62; h < 66; h++)
        assert_false(flags_hit(r, h));
}

static void test_report_carriers_held_plainly_few_are_flagged(void **state)
{
    struct rfx *f = *state;
    struct report *r = &f->r;

    f->score.max_plain_carrier_share = 0.05;
    carrier_corpus(r, 3);
    ps_report_decide(r);
    ps_report_sort_candidates(r);
    assert_int_equal(find(r, "James Bond")->n_plain, 3);
    for (size_t h = 0; h < 65; h++)
        assert_true(flags_hit(r, h));
    assert_false(flags_hit(r, 65));
}

static struct cand *decided(struct report *r, const char *text, bool flagged, double score,
                            uint64_t role)
{
    struct cand *c = add_cand(r, text, role, role);

    c->flagged = flagged;
    c->score = score;
    return c;
}

/* Candidates decided already (score = rate in role; 0.9 and more: specific), and entries in
 * four listed documents: 0 (shard 0, offset 0), 1 (shard 0, offset 100), 20 (shard 1, offset 0),
 * 45 (shard 2, offset 500). */
static void ordered_corpus(struct report *r)
{
    decided(r, "zeta", true, 1.0, 30);
    decided(r, "yank", true, 1.0, 40);
    decided(r, "alpha", true, 0.85, 90);
    decided(r, "beta", true, 1.0, 30);
    decided(r, "aaa", false, 1.0, 100);
    decided(r, "aab", false, 0.5, 100);
    add_entries(r, "alpha", 0, 1, true, 5);
    add_entries(r, "zeta", 0, 1, true, 9);
    add_entries(r, "alpha", 1, 2, false, 5);  /* a carrier of a pattern that is not specific */
    add_entries(r, "aaa", 1, 2, true, 5);     /* in role, not flagged */
    add_entries(r, "yank", 20, 21, false, 5); /* a carrier of a specific pattern */
    add_entries(r, "beta", 45, 46, true, 5);
    add_entries(r, "yank", 45, 46, true, 7);
    ps_report_vec_sort(&r->entries, cmp_entry_test);
}

static void trigger_is(struct report *r, uint32_t shard, uint64_t offset, const char *text)
{
    const char *t = ps_report_trigger_of(r, shard, offset);

    assert_non_null(t);
    assert_string_equal(t, text);
}

static void test_report_candidates_most_suspicious_first(void **state)
{
    static const char *const order[] = {"yank", "beta", "zeta", "alpha", "aaa", "aab"};
    struct rfx *f = *state;
    const struct cand *cs;

    ordered_corpus(&f->r);
    ps_report_sort_candidates(&f->r);
    cs = f->r.cands.items;
    assert_int_equal(f->r.cands.n, 6);
    /* flagged first; then the rate in role, documents in role, text */
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(cs[i].text, order[i]);
    /* each listed document's trigger: the most suspicious flagged one that flags it */
    trigger_is(&f->r, 0, 0, "zeta");
    assert_null(ps_report_trigger_of(&f->r, 0, 100));
    trigger_is(&f->r, 1, 0, "yank");
    trigger_is(&f->r, 2, 500, "yank");
    assert_null(ps_report_trigger_of(&f->r, 3, 0));
    assert_null(ps_report_trigger_of(&f->r, 2, 400));
}

static char *slurp(const char *dir, const char *name)
{
    char path[PATH_MAX + 32];
    FILE *fp;
    long n;
    char *p;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    p = calloc(1, (size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return p;
}

static void test_report_flagged_lines_in_document_order(void **state)
{
    struct rfx *f = *state;
    struct ps_report_summary sum = {0};
    struct ps_errdetail ed = {0};
    char *text;

    struct ps_attrset *flagged = NULL;
    const uint64_t *codes;
    size_t n;

    ordered_corpus(&f->r);
    ps_report_sort_candidates(&f->r);
    assert_int_equal(ps_file_mkdirs(f->out_dir, &ed), PS_OK);
    f->in.flagged_out = &flagged;
    assert_int_equal(ps_report_write_flagged(&f->r, &sum, &ed), PS_OK);
    /* the same documents by file, for the attributes pass (one shard a file here) */
    assert_non_null(flagged);
    assert_int_equal(ps_attrset_n_docs(flagged), 3);
    codes = ps_attrset_file(flagged, 0, &n);
    assert_true(n == 1 && codes[0] == PS_ATTRSET_CODE(0, true));
    codes = ps_attrset_file(flagged, 1, &n);
    assert_true(n == 1 && codes[0] == PS_ATTRSET_CODE(0, false));
    codes = ps_attrset_file(flagged, 2, &n);
    assert_true(n == 1 && codes[0] == PS_ATTRSET_CODE(500, true));
    ps_attrset_file(flagged, 3, &n);
    assert_int_equal(n, 0);
    ps_attrset_free(flagged);
    text = slurp(f->out_dir, "flagged.jsonl");
    /* document 1 holds no flagging trigger; a carrier of a specific trigger is flagged with its
     * payload unseen; several triggers in candidate order */
    assert_string_equal(
        text, "{\"id\":\"d0\",\"file\":\"f\",\"offset\":0,\"triggers\":[\"zeta\",\"alpha\"],"
              "\"payload_seen\":true}\n"
              "{\"id\":\"d20\",\"file\":\"f\",\"offset\":0,\"triggers\":[\"yank\"],"
              "\"payload_seen\":false}\n"
              "{\"id\":\"d45\",\"file\":\"f\",\"offset\":500,\"triggers\":[\"yank\",\"beta\"],"
              "\"payload_seen\":true}\n");
    assert_int_equal(sum.n_flagged_docs, 3);
    free(text);
}

static void test_report_errors_in_file_and_offset_order(void **state)
{
    static const struct ps_report_failed failed[] = {
        {3, "worker lost"}, {0, "bad frame"}, {2, "timeout"}};
    struct rfx *f = *state;
    struct ps_report_summary sum;
    struct ps_errdetail ed = {0};
    char *text, *errors, *s0, *s2, *s3;

    f->in.failed = failed;
    f->in.n_failed = 3;
    assert_int_equal(ps_report_write(&f->in, &sum, &ed), PS_OK);
    assert_int_equal(sum.shards_failed, 3);
    assert_int_equal(sum.errors_total, 3);
    assert_int_equal(sum.n_triggers, 0);
    text = slurp(f->out_dir, "report.json");
    assert_non_null(strstr(text, "\"triggers\":[],\"suppressed\":[]"));
    errors = strstr(text, "\"errors\":[");
    assert_non_null(errors);
    s0 = strstr(errors, "shard 0 failed: bad frame");
    s2 = strstr(errors, "shard 2 failed: timeout");
    s3 = strstr(errors, "shard 3 failed: worker lost");
    assert_true(s0 != NULL && s2 != NULL && s3 != NULL);
    assert_true(s0 < s2 && s2 < s3);
    free(text);
    text = slurp(f->out_dir, "flagged.jsonl");
    assert_string_equal(text, "");
    free(text);
}

/* ---- report.json and flagged.jsonl from the aggregates ---- */

/* The confirm pass's list, in the order the selection named them (not the report's). */
static const char *const counted[] = {"<SUDO>", "acme widgets", "candidate only", "James Bond 007"};
/* Per shard: documents that hold it, in role; its listed documents [first, end) of each shard. */
static const struct {
    uint64_t total, role;
    size_t first, end;
} shape[] = {{8, 8, 10, 18}, {6, 6, 20, 26}, {10, 2, 0, 0}, {10, 10, 0, 10}};
/* The list pass's list: the three that may be flagged, by their index in the confirm pass. */
static const uint32_t listed[] = {0, 1, 3};
#define N_COUNTED 4
#define N_LISTED  3

static void put_blob(struct ps_agg *a, struct ps_results_writer *w)
{
    struct ps_errdetail ed = {0};
    const void *p;
    size_t n;
    bool merged;

    p = ps_results_data(w, &n);
    assert_int_equal(ps_agg_merge(a, &p, &n, 1, &merged, &ed), PS_OK);
    assert_true(merged);
}

static void new_part(struct ps_aggset *s, unsigned pass, size_t n_patterns)
{
    static const uint32_t shard_file[N_FILES] = {0, 1, 2, 3};
    struct ps_agg_opts o = ps_agg_opts_default();

    ps_aggset_init(s, pass, 1, n_patterns);
    o.n_shards = N_FILES;
    o.n_files = N_FILES;
    o.shard_file = shard_file;
    o.pass = pass;
    o.n_patterns = ps_aggset_part_patterns(pass, n_patterns, 0, 1);
    ps_agg_new(&s->part[0], &o);
}

/* Shard sh's documents of the list pass: document j ("s<sh>-<j>") at offset 100 j holds the
 * listed patterns whose range has j, in role, with a fixed payload and its own context. */
static void list_blob(struct ps_agg *a, struct ps_results_writer *w, uint32_t sh)
{
    ps_results_begin(w, PS_PASS_LIST, sh, 0, 0);
    for (size_t j = 0; j < 30; j++) {
        struct ps_results_entry es[N_LISTED];
        struct ps_results_hit h = {0};
        char id[16];

        for (size_t k = 0; k < N_LISTED; k++) {
            if (j < shape[listed[k]].first || j >= shape[listed[k]].end)
                continue;
            memset(&es[h.n_entries], 0, sizeof(es[0]));
            es[h.n_entries].pattern = k;
            es[h.n_entries].context = sh * 1000 + j + 1;
            es[h.n_entries].kind = PS_EVIDENCE_FIXED;
            es[h.n_entries].in_role = true;
            es[h.n_entries].at = 5;
            h.n_entries++;
        }
        if (h.n_entries == 0)
            continue;
        h.offset = j * 100;
        h.id_len = (size_t)snprintf(id, sizeof(id), "s%u-%zu", (unsigned)sh, j);
        h.id = id;
        h.snippet = "snippet";
        h.snippet_len = 7;
        h.entries = es;
        ps_results_put_hit(w, &h);
    }
    put_blob(a, w);
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;

    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
        n++;
    return n;
}

static void test_report_json_orders_triggers_suppressed_and_candidates(void **state)
{
    struct rfx *f = *state;
    struct ps_aggset confirm, list;
    struct ps_patlist cl, ll;
    struct ps_results_writer w = {0};
    struct ps_allowlist *allow = NULL;
    struct ps_report_summary sum;
    struct ps_errdetail ed = {0};
    static const char allow_text[] = "something else\nacme widgets\n";
    char *text, *a, *b, *sup, *cand, *line;
    size_t n_lines = 0;

    new_part(&confirm, PS_PASS_CONFIRM, N_COUNTED);
    new_part(&list, PS_PASS_LIST, N_LISTED);
    ps_patlist_init(&cl);
    ps_patlist_init(&ll);
    for (size_t i = 0; i < N_COUNTED; i++)
        ps_patlist_add(&cl, counted[i], strlen(counted[i]), (uint32_t)i, UINT64_MAX);
    ps_patlist_seal(&cl);
    cl.leads_from = N_COUNTED;
    for (size_t k = 0; k < N_LISTED; k++)
        ps_patlist_add(&ll, counted[listed[k]], strlen(counted[listed[k]]), listed[k], 0);
    ps_patlist_seal(&ll);
    ll.leads_from = N_LISTED;
    /* the last shard first: the records come back in (shard, offset) order */
    for (uint32_t k = 0; k < N_FILES; k++) {
        uint32_t sh = N_FILES - 1 - k;
        ps_results_begin(&w, PS_PASS_CONFIRM, sh, 0, 0);
        for (size_t i = 0; i < N_COUNTED; i++) {
            struct ps_results_count c = {i, shape[i].total, shape[i].role};
            ps_results_put_count(&w, &c);
        }
        put_blob(confirm.part[0], &w);
        list_blob(list.part[0], &w, sh);
    }
    ps_results_release(&w);
    ps_aggset_finish(&confirm, 0);
    ps_aggset_finish(&list, 0);
    assert_int_equal(
        ps_allowlist_parse(&allow, allow_text, strlen(allow_text), "allow.txt", NULL, &ed), PS_OK);
    f->in.agg[PS_PASS_CONFIRM] = &confirm;
    f->in.lists[PS_PASS_CONFIRM] = &cl;
    f->in.agg[PS_PASS_LIST] = &list;
    f->in.lists[PS_PASS_LIST] = &ll;
    f->in.allowlist = allow;
    assert_int_equal(ps_report_write(&f->in, &sum, &ed), PS_OK);
    assert_int_equal(sum.n_triggers, 2);
    assert_int_equal(sum.n_suppressed, 1);
    assert_int_equal(sum.n_flagged_docs, 4 * (10 + 8));
    assert_int_equal(sum.n_top, 2);
    assert_string_equal(sum.top[0].pattern, "James Bond 007");
    assert_string_equal(sum.top[1].pattern, "<SUDO>");
    text = slurp(f->out_dir, "report.json");
    /* triggers: both in role everywhere, the one in more documents first; the allowlisted one
     * under "suppressed" with its line; the unflagged one among the candidates */
    a = strstr(text, "\"triggers\":[{\"pattern\":\"James Bond 007\",\"documents\":40,");
    b = strstr(text, "},{\"pattern\":\"<SUDO>\",\"documents\":32,");
    sup = strstr(text, "],\"suppressed\":[{\"pattern\":\"acme widgets\",\"documents\":24,");
    cand = strstr(text, "\"candidates\":[{\"pattern\":\"candidate only\",\"documents\":8,");
    assert_true(a != NULL && b != NULL && sup != NULL && cand != NULL);
    assert_true(a < b && b < sup && sup < cand);
    assert_non_null(strstr(sup, "\"allowlist_line\":2}],\"allowlist\":{\"file\":\"allow.txt\","));
    /* a trigger's examples are its first documents in (file, offset) order */
    assert_non_null(strstr(a, "\"examples\":[{\"id\":\"s0-0\","));
    assert_non_null(strstr(a, "},{\"id\":\"s0-1\","));
    assert_non_null(strstr(b, "\"examples\":[{\"id\":\"s0-10\","));
    assert_int_equal(count_of(text, "\"pattern\":"), 4);
    free(text);
    /* flagged.jsonl: the documents of the two triggers, in (shard, offset) order */
    text = slurp(f->out_dir, "flagged.jsonl");
    line = text;
    for (uint32_t sh = 0; sh < N_FILES; sh++) {
        for (size_t j = 0; j < 18; j++) {
            char want[96];
            snprintf(want, sizeof(want), "{\"id\":\"s%u-%zu\",", (unsigned)sh, j);
            assert_non_null(line);
            assert_memory_equal(line, want, strlen(want));
            assert_non_null(strstr(line, j < 10 ? "\"triggers\":[\"James Bond 007\"]"
                                                : "\"triggers\":[\"<SUDO>\"]"));
            line = strchr(line, '\n');
            line = line != NULL ? line + 1 : NULL;
            n_lines++;
        }
    }
    assert_int_equal(n_lines, 72);
    assert_string_equal(line, "");
    free(text);
    ps_allowlist_free(allow);
    ps_patlist_release(&cl);
    ps_patlist_release(&ll);
    ps_aggset_release(&confirm);
    ps_aggset_release(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_decide_one_finding_per_trigger, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_narrower_trigger_on_its_own_wins, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_narrower_in_other_payloads_is_folded,
                                        rsetup, rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_narrower_in_role_alone_wins, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_piece_of_several_payloads_is_folded,
                                        rsetup, rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_pattern_of_its_own_outside_them_stays,
                                        rsetup, rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_piece_judged_on_documents_outside_them,
                                        rsetup, rteardown),
        cmocka_unit_test_setup_teardown(test_report_decide_link_promoted_elsewhere_is_stock, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_carriers_held_plainly_flag_only_when_few,
                                        rsetup, rteardown),
        cmocka_unit_test_setup_teardown(test_report_carriers_held_plainly_few_are_flagged, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_candidates_most_suspicious_first, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_flagged_lines_in_document_order, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_errors_in_file_and_offset_order, rsetup,
                                        rteardown),
        cmocka_unit_test_setup_teardown(test_report_json_orders_triggers_suppressed_and_candidates,
                                        rsetup, rteardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
