/* bench_digest.c - one XXH3 over every pass-1 result of shard files (per document: anomalous,
 * turn offset and token, each candidate's hash, text, words, offset and context, plus the
 * reader's record errors), so that a speed-up can prove it changed no result. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "common/reader.h"
#include "worker/detect.h"

static void fold(XXH3_state_t *st, const void *p, size_t n)
{
    if (XXH3_64bits_update(st, p, n) != XXH_OK)
        ps_bug("xxh3 update");
}

static void fold_u64(XXH3_state_t *st, uint64_t v)
{
    fold(st, &v, sizeof(v));
}

int main(int argc, char **argv)
{
    struct ps_reader_opts ro = ps_reader_opts_default();
    struct ps_detect *d;
    struct ps_errdetail ed = {0};
    XXH3_state_t *st = XXH3_createState();
    uint64_t docs = 0, anomalous = 0, cands = 0, errors = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    if (st == NULL || XXH3_64bits_reset(st) != XXH_OK || ps_detect_new(&d, NULL, &ed) != PS_OK) {
        fprintf(stderr, "bench_digest: setup failed\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct ps_reader *r;

        if (ps_reader_open(&r, argv[i], 0, UINT64_MAX, &ro, &ed) != PS_OK) {
            fprintf(stderr, "bench_digest: '%s': %s\n", argv[i], ed.msg);
            return 1;
        }
        for (;;) {
            struct ps_detect_result res;
            struct ps_doc doc;
            bool has_doc;
            enum ps_err err = ps_reader_next(r, &doc, &has_doc);

            if (err == PS_OK && !has_doc)
                break;
            if (err != PS_OK) {
                const struct ps_errdetail *e = ps_reader_last_error(r);
                fold_u64(st, 0xE0E0E0E0u);
                fold_u64(st, e->offset);
                fold(st, e->msg, strlen(e->msg));
                errors++;
                if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT)
                    continue;
                break;
            }
            docs++;
            fold_u64(st, doc.offset);
            fold_u64(st, doc.text_len);
            fold(st, doc.id, doc.id_len);
            ps_detect_scan(d, doc.text, doc.text_len, &res);
            fold_u64(st, res.anomalous);
            if (!res.anomalous)
                continue;
            anomalous++;
            fold_u64(st, res.turn_offset);
            fold_u64(st, res.turn_token);
            fold_u64(st, res.n_tokens);
            fold(st, &res.before_stop, sizeof(double));
            fold(st, &res.after_stop, sizeof(double));
            fold(st, &res.after_alpha, sizeof(double));
            fold(st, &res.after_meanlen, sizeof(double));
            fold_u64(st, res.n_candidates);
            for (size_t k = 0; k < res.n_candidates; k++) {
                const struct ps_candidate *c = &res.candidates[k];
                fold_u64(st, c->hash);
                fold_u64(st, c->n);
                fold_u64(st, c->offset);
                fold_u64(st, c->context);
                fold(st, c->text, c->text_len);
                cands++;
            }
        }
        ps_reader_free(r);
    }
    printf("docs=%" PRIu64 " anomalous=%" PRIu64 " candidates=%" PRIu64 " errors=%" PRIu64
           " digest=%016" PRIx64 "\n",
           docs, anomalous, cands, errors, (uint64_t)XXH3_64bits_digest(st));
    XXH3_freeState(st);
    ps_detect_free(d);
    return 0;
}
