/* reader_txt.c - the plain-text layout: the whole file is one document, its path the id. The
 * file is held once, bounded by max_line like any other record; a bigger one is read through
 * without being held and reported. */
#include "common/reader_internal.h"

#include <inttypes.h>
#include <string.h>

enum ps_err ps_reader_next_txt(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    size_t have;
    enum ps_err err;

    r->stop = true; /* one document at most, whatever happens */
    while (!r->eof && r->win_len - r->win_pos <= r->max_line) {
        err = ps_reader_fill(r);
        if (err != PS_OK)
            return err;
    }
    have = r->win_len - r->win_pos;
    if (have > r->max_line) {
        uint64_t dropped;

        err = ps_reader_drop(r, UINT64_MAX, &dropped);
        r->stats.bytes += dropped;
        if (err != PS_OK)
            return err;
        return ps_reader_record_error(
            r, PS_ERR_LIMIT, 0, "text file of %" PRIu64 " bytes is longer than max_line (%zu)",
            dropped, r->max_line);
    }
    r->stats.bytes += have;
    if (have == 0)
        return PS_OK;
    doc->text = r->win + r->win_pos;
    doc->text_len = have;
    r->win_pos = r->win_len;
    err = ps_reader_check_text(r, doc->text, have, 0);
    if (err != PS_OK)
        return err;
    doc->id = r->path;
    doc->id_len = strlen(r->path);
    doc->id_literal = false;
    doc->offset = 0;
    doc->line_len = have;
    ps_reader_text_parts(r, doc);
    ps_reader_count_doc(r, doc);
    *has_doc = true;
    return PS_OK;
}
