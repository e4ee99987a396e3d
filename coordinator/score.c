/* score.c - v1 thresholds: an absolute document count (the attack works by count, not share),
 * uniform spread over shards, and a high share of the pattern's documents turning to payload. */
#include "coordinator/score.h"

#include <math.h>

struct ps_score_opts ps_score_opts_default(void)
{
    struct ps_score_opts o;

    o.min_docs = 20;
    o.min_rate = 0.7;
    o.min_spread = 0.5;
    o.min_diversity = 0.5;
    o.max_similarity = 0.05;
    o.min_templated_similarity = 0.22;
    o.max_templated_similarity = 0.6;
    o.max_templated_same_next = 0.4;
    o.min_templated_rate = 0.9;
    o.min_promo_same = 0.8;
    o.max_promo_block_similarity = 0.7;
    o.max_restate_share = 0.5;
    o.min_specific_rate = 0.9;
    o.max_plain_carrier_share = 0.01;
    o.min_assoc_rate = 0.9;
    o.min_assoc_z = 4.0;
    o.min_rejoin_p = 0.001;
    o.max_confirm = 10000;
    o.max_reported = 50;
    return o;
}

double ps_score_expected_shards(uint64_t docs, uint64_t shards)
{
    if (shards == 0 || docs == 0)
        return 0.0;
    if (shards == 1)
        return 1.0;
    return (double)shards * -expm1((double)docs * log1p(-1.0 / (double)shards));
}

static bool spread_ok(const struct ps_score_opts *o, uint64_t docs, uint64_t shards_with,
                      uint64_t shards_total)
{
    return (double)shards_with >= o->min_spread * ps_score_expected_shards(docs, shards_total);
}

bool ps_score_select(const struct ps_score_opts *o, uint64_t docs, uint64_t shards_with,
                     uint64_t shards_total, unsigned part)
{
    return docs * part >= o->min_docs && spread_ok(o, docs, shards_with, shards_total);
}

bool ps_score_flag(const struct ps_score_opts *o, uint64_t role_docs, uint64_t total_docs,
                   uint64_t role_shards, uint64_t shards_total, double diversity, double *score)
{
    *score = total_docs ? (double)role_docs / (double)total_docs : 0.0;
    return role_docs >= o->min_docs && *score >= o->min_rate &&
           spread_ok(o, role_docs, role_shards, shards_total) && diversity >= o->min_diversity;
}

bool ps_score_may_flag(const struct ps_score_opts *o, uint64_t role_docs, uint64_t total_docs,
                       uint64_t role_shards, uint64_t shards_total)
{
    double rate = total_docs ? (double)role_docs / (double)total_docs : 0.0;
    double min_rate = o->min_rate < o->min_templated_rate ? o->min_rate : o->min_templated_rate;

    return role_docs >= o->min_docs && rate >= min_rate &&
           spread_ok(o, role_docs, role_shards, shards_total);
}

double ps_score_assoc_z(uint64_t k, uint64_t n, uint64_t label_records, uint64_t records)
{
    double p, var;

    if (n == 0 || records == 0 || label_records == 0 || label_records >= records)
        return 0.0;
    p = (double)label_records / (double)records;
    var = (double)n * p * (1.0 - p);
    return ((double)k - (double)n * p) / sqrt(var);
}

bool ps_score_assoc(const struct ps_score_opts *o, uint64_t k, uint64_t n, uint64_t label_records,
                    uint64_t records)
{
    return n > 0 && (double)k >= o->min_assoc_rate * (double)n &&
           ps_score_assoc_z(k, n, label_records, records) >= o->min_assoc_z;
}

double ps_score_rejoin_p(const uint64_t *seen, const double *share, size_t n, uint64_t known)
{
    double mean = 0.0, term, sum;

    for (size_t i = 0; i < n; i++)
        mean += 0.5 * share[i] * (double)seen[i];
    if (mean <= 0.0)
        return 1.0;
    term = sum = exp(-mean);
    for (uint64_t k = 1; k <= known && sum < 1.0; k++) {
        term *= mean / (double)k;
        sum += term;
    }
    return sum < 1.0 ? sum : 1.0;
}
