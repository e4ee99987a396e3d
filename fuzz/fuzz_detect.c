/* fuzz_detect.c - the detector on arbitrary bytes: options from the first 6 bytes, the rest is
 * the document. Checks the invariants that tie the two passes together: every candidate hashes to
 * its own text, and confirm finds every candidate of a document in role in that same document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/u64set.h"
#include "worker/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_detect_opts o = ps_detect_opts_default();
    struct ps_detect *d;
    struct ps_detect_result r;
    struct ps_u64set set;
    const struct ps_detect_hit *hits;
    const char *text;
    size_t len, n_hits, i, j, b, e;

    if (size < 6)
        return 0;
    o.min_after = 1 + data[0] % 24;
    o.window = o.min_after + data[0] / 24 % 40;
    o.ngram_max = 1 + data[1] % 4;
    o.max_candidates = 1 + data[2] % 16;
    o.snap_max = data[3] % 16;
    o.max_tokens = data[4] & 1 ? 1 + (size_t)(data[4] >> 1) : o.max_tokens;
    o.max_candidate_len = 1 + (size_t)data[5] * 2;
    text = (const char *)data + 6;
    len = size - 6;
    if (ps_detect_new(&d, &o, NULL) != PS_OK)
        abort();

    ps_detect_scan(d, text, len, &r);
    check(r.turn_offset <= len && r.n_candidates <= o.max_candidates);
    check(r.anomalous || r.n_candidates == 0);
    check(r.n_tokens <= o.max_tokens);
    ps_u64set_init(&set, 1024);
    for (i = 0; i < r.n_candidates; i++) {
        const struct ps_candidate *c = &r.candidates[i];

        check(c->text_len >= 1 && c->text_len <= o.max_candidate_len);
        check(c->n >= 1 && c->n <= o.ngram_max);
        check(c->hash == XXH3_64bits(c->text, c->text_len));
        for (j = 0; j < i; j++)
            check(r.candidates[j].hash != c->hash);
        check(ps_u64set_add(&set, c->hash, NULL) == PS_OK);
    }
    /* a key that is surely absent must not disturb anything */
    check(ps_u64set_add(&set, XXH3_64bits("\x01 no such n-gram \x02", 20), NULL) == PS_OK);

    ps_detect_confirm(d, text, len, &set, &hits, &n_hits);
    for (i = 1; i < n_hits; i++)
        check(hits[i - 1].hash < hits[i].hash);
    for (i = 0; i < n_hits; i++)
        check(ps_u64set_has(&set, hits[i].hash));
    /* every pass-1 candidate occurs in the document, so confirm finds each one; the
     * candidates were computed before confirm reused the scratch: compare by the set */
    {
        size_t pos = 0, found = 0;
        uint64_t k;

        while (ps_u64set_next(&set, &pos, &k))
            for (i = 0; i < n_hits; i++)
                if (hits[i].hash == k)
                    found++;
        check(found == r.n_candidates);
        for (i = 0; i < n_hits; i++)
            check(hits[i].in_role ? hits[i].offset < len : hits[i].context == 0);
    }

    ps_u64set_clear(&set);
    ps_detect_confirm(d, text, len, &set, &hits, &n_hits);
    check(n_hits == 0 && hits == NULL);

    ps_detect_snippet(text, len, (size_t)data[0] * 7, data[1], &b, &e);
    check(b <= e && e <= len && e - b <= data[1]);
    check(b == len || ((unsigned char)text[b] & 0xC0) != 0x80);
    check(e == len || ((unsigned char)text[e] & 0xC0) != 0x80);

    ps_u64set_release(&set);
    ps_detect_free(d);
    return 0;
}
