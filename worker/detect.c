/* detect.c - the detector's options and lifecycle, the prepared-document handle, and pass 1
 * (ps_detect_scan): the turn of a document and the candidates there. The stages live one per
 * file (detect_internal.h lists them); docs/detection.md is the long form. */
#include "worker/detect_internal.h"

#include <stdlib.h>
#include <string.h>

struct ps_detect_opts ps_detect_opts_default(void)
{
    struct ps_detect_opts o;

    memset(&o, 0, sizeof(o));
    o.ngram_max = 3;
    o.window = 32;
    o.max_candidates = 48;
    o.min_after = PS_DETECT_MIN_AFTER;
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

static bool unit_ok(double x)
{
    return x >= 0.0 && x <= 1.0;
}

enum ps_err ps_detect_opts_check(const struct ps_detect_opts *o, struct ps_errdetail *ed)
{
    if (o->ngram_max < 1 || o->ngram_max > PS_DETECT_NGRAM_MAX) {
        ps_errdetail_set(ed, NULL, 0, "--ngram-max %u: from 1 to %u", o->ngram_max,
                         PS_DETECT_NGRAM_MAX);
        return PS_ERR_USAGE;
    }
    if (o->max_candidates < 1 || o->max_candidates > PS_DETECT_CANDIDATES_MAX) {
        ps_errdetail_set(ed, NULL, 0, "--max-candidates %u: from 1 to %u", o->max_candidates,
                         PS_DETECT_CANDIDATES_MAX);
        return PS_ERR_USAGE;
    }
    if (o->min_after < 1 || o->window < o->min_after || o->window > PS_DETECT_WINDOW_MAX) {
        ps_errdetail_set(ed, NULL, 0,
                         "--window %u: from %u (the words a turn needs after it) to %u", o->window,
                         o->min_after, PS_DETECT_WINDOW_MAX);
        return PS_ERR_USAGE;
    }
    if (o->max_candidate_len < 1 || o->max_candidate_len > 65536 || o->max_tokens < 1 ||
        o->max_tokens > UINT32_MAX || o->snap_max > 64 || !unit_ok(o->max_after_stop) ||
        !unit_ok(o->min_after_alpha) || !unit_ok(o->max_after_cap) || !unit_ok(o->max_role_stop) ||
        !unit_ok(o->min_before_stop) ||
        !(o->min_after_meanlen >= 0.0 && o->min_after_meanlen <= o->max_after_meanlen)) {
        ps_errdetail_set(ed, NULL, 0, "detect: internal thresholds out of range (ratios in [0,1])");
        return PS_ERR_USAGE;
    }
    return PS_OK;
}

enum ps_err ps_detect_new(struct ps_detect **out, const struct ps_detect_opts *opts,
                          struct ps_errdetail *ed)
{
    struct ps_detect_opts o = opts != NULL ? *opts : ps_detect_opts_default();
    struct ps_detect *d;

    *out = NULL;
    if (ps_detect_opts_check(&o, ed) != PS_OK)
        return PS_ERR_USAGE;
    d = ps_xcalloc(1, sizeof(*d));
    d->o = o;
    ps_detect_tables_init(d);
    ps_detect_lang_init(d);
    ps_detect_promo_init(d);
    ps_detect_bounds_init(d);
    d->ctext = ps_xmalloc((size_t)o.max_candidates * o.max_candidate_len);
    d->cands = ps_xcalloc(o.max_candidates, sizeof(*d->cands));
    *out = d;
    return PS_OK;
}

void ps_detect_free(struct ps_detect *d)
{
    if (d == NULL)
        return;
    free(d->as_lim);
    free(d->bs_min);
    free(d->aa_min);
    free(d->cap_lim);
    free(d->al_min);
    free(d->al_lim);
    free(d->shingles);
    free(d->ctext);
    free(d->cands);
    free(d->hits);
    free(d->sorted);
    free(d->hit_at);
    free(d->hit_bits);
    free(d->memo);
    free(d->acts);
    free(d);
}

void ps_detect_memo_reset(struct ps_detect *d, size_t n)
{
    if (d->memo_cap < n + 1) {
        free(d->memo);
        free(d->acts);
        d->memo_cap = n + 1 > 2 * d->memo_cap ? n + 1 : 2 * d->memo_cap;
        d->memo = ps_xmalloc(d->memo_cap * sizeof(*d->memo));
        d->acts = ps_xmalloc(d->memo_cap * sizeof(*d->acts));
    }
    memset(d->memo, 0, (n + 1) * sizeof(*d->memo));
}

size_t ps_detect_footprint(const struct ps_detect *d)
{
    return sizeof(*d) + (size_t)d->o.max_candidates * (d->o.max_candidate_len + sizeof(*d->cands)) +
           d->hits_cap * sizeof(*d->hits) + d->at_cap * sizeof(*d->hit_at) +
           (d->at_cap + 63) / 64 * sizeof(*d->hit_bits) + d->sort_cap * sizeof(*d->sorted) +
           d->shingles_cap * sizeof(*d->shingles) +
           d->memo_cap * (sizeof(*d->memo) + sizeof(*d->acts)) +
           ((size_t)d->o.window + 1) * (4 * sizeof(uint32_t) + 2 * sizeof(uint64_t));
}

void ps_detect_doc_new(struct ps_detect_doc **out)
{
    *out = ps_xcalloc(1, sizeof(**out));
}

void ps_detect_doc_free(struct ps_detect_doc *doc)
{
    if (doc == NULL)
        return;
    free(doc->tstart);
    free(doc->tend);
    free(doc->tflags);
    free(doc->tfp);
    free(doc->norm);
    free(doc->ostart);
    free(doc->nsame);
    free(doc->tok_memo);
    free(doc);
}

void ps_detect_prepare(struct ps_detect_doc *doc, const char *text, size_t text_len)
{
    doc->text = text;
    doc->text_len = text_len;
    doc->have = 0;
}

size_t ps_detect_doc_footprint(const struct ps_detect_doc *doc)
{
    return sizeof(*doc) +
           doc->tok_cap * (2 * sizeof(uint32_t) + sizeof(*doc->tflags) + sizeof(*doc->tfp)) +
           doc->norm_cap + doc->ostart_cap * sizeof(*doc->ostart) +
           doc->nsame_cap * sizeof(*doc->nsame) +
           (doc->tok_memo != NULL ? TOK_MEMO_SLOTS * sizeof(*doc->tok_memo) : 0);
}

void ps_detect_scan(struct ps_detect *d, struct ps_detect_doc *doc, struct ps_detect_result *out)
{
    struct ps_detect_turn tr;
    size_t t;

    memset(out, 0, sizeof(*out));
    d->n_cands = 0;
    if (doc->have & DOC_JOINED) /* pass 1 reads offsets and bytes in the text as given */
        doc->have = 0;
    ps_detect_doc_need(d, doc, DOC_TOKENS);
    out->n_tokens = doc->n_tok;
    if (ps_detect_find_turn(d, doc, &tr)) {
        t = tr.t;
        out->kind = PS_DETECT_GIBBERISH;
        out->before_stop = tr.before_stop;
        out->after_stop = tr.after_stop;
        out->after_alpha = tr.after_alpha;
        out->after_meanlen = tr.after_meanlen;
    } else if (ps_detect_find_junk(d, doc, &t)) {
        out->kind = PS_DETECT_BYTES;
    } else if (ps_detect_find_repeat(d, doc, &t)) {
        out->kind = PS_DETECT_FIXED;
    } else {
        return;
    }
    d->ctext_len = 0;
    d->cand_limit = d->o.max_candidates;
    ps_detect_turn_candidates(d, doc, t);
    out->anomalous = true;
    out->turn_offset = doc->tstart[t];
    out->turn_token = t;
    out->n_candidates = d->n_cands;
    out->candidates = d->n_cands != 0 ? d->cands : NULL;
}
