/* scan_read.c - reading a shard: the loop over its documents, where its parts end, and the
 * integrity rules (docs/input-format.md). A decoder returns a frame's documents before it checks
 * the frame's checksum, so nothing of a frame may be committed before the reader reports it
 * verified. Two rules keep that:
 *  - a part ends only when every item in it comes from a verified frame; until then it grows
 *    past its boundary, but by one part at most: a frame longer than that (a .zst written as
 *    one frame, as the zstd CLI does) would make the worker's memory grow with the frame, so
 *    the shard's frames are then verified by a reading that scans nothing, and the scan goes on
 *    from the open part (read again, as below) with parts ending at their boundaries up to the
 *    first failed frame;
 *  - a failed frame ends the shard (the reader's stream errors are sticky), so its items can
 *    only be in the open part. Rather than keep every document's effects apart (the candidate
 *    tables, the partitions' blobs, the cluster sketch and the signature file would all need a
 *    second copy and a merge per frame), the shard is read again up to the failed frame: parts
 *    before the open one are neither scanned nor committed again, the open one is scanned
 *    without the failed frame's items, and the signature file is written anew. Reading twice
 *    costs time only for a damaged file; the hot loop pays nothing. */
#include "worker/scan_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/pass.h"

static bool end_part(struct ps_scan *s, const struct ps_scan_callbacks *cb, bool last)
{
    bool go_on = true;

    s->last = last;
    if (cb != NULL && cb->part != NULL && s->part >= s->replay_part)
        go_on = cb->part(cb->ctx, s->part, last);
    s->part++;
    if (!last)
        ps_scan_begin_part(s);
    return go_on;
}

/* What the reader learned about frames with its last call (common/reader.h: events come in
 * frame order, each after every item of its frames). */
static void take_events(struct ps_scan *s, struct ps_reader *r)
{
    struct ps_reader_event ev;

    while (ps_reader_next_event(r, &ev)) {
        if (ev.kind == PS_READER_FRAMES_OK) {
            if (s->good_below != UINT64_MAX)
                s->good_below = ev.last + 1;
        } else {
            s->failed = true;
            s->failed_frame = ev.first;
            s->failed_items = ev.docs + ev.errors;
        }
    }
}

/* Frames below this are verified, for the open part. */
static uint64_t good_below(const struct ps_scan *s)
{
    if (s->verified && s->part >= s->replay_part && s->verified_below > s->good_below)
        return s->verified_below;
    return s->good_below;
}

static void note_frame(struct ps_scan *s, uint64_t frame)
{
    if (frame + 1 > s->part_frames)
        s->part_frames = frame + 1;
}

/* The attributes pass: the line of one document, flagged when the lease says so. */
static enum ps_err write_attrs(struct ps_scan *s, const struct ps_doc *doc, struct ps_errdetail *ed)
{
    const struct ps_scan_spec *spec = s->spec;
    enum ps_attrs_flag flag = PS_ATTRS_CLEAN;

    while (s->attrs_next < spec->n_flagged && spec->flagged[s->attrs_next] >> 1 < doc->offset)
        s->attrs_next++; /* met by no document: counted as missing at the end */
    if (s->attrs_next < spec->n_flagged && spec->flagged[s->attrs_next] >> 1 == doc->offset) {
        flag = spec->flagged[s->attrs_next] & 1 ? PS_ATTRS_PAYLOAD : PS_ATTRS_FLAGGED;
        s->attrs_next++;
        s->attrs_met++;
    }
    return ps_attrs_add(s->attrs, doc, flag, ed);
}

/* A record that does not parse gets a line too (empty id and text, not flagged): an attribute
 * file has a line for each line of its documents file, as mixers read them side by side. */
static enum ps_err write_attrs_error(struct ps_scan *s, struct ps_errdetail *ed)
{
    struct ps_doc none = {0};

    none.text = "";
    none.id = "";
    return ps_attrs_add(s->attrs, &none, PS_ATTRS_CLEAN, ed);
}

/* The loop over the documents; a part ends right before the first document that starts at or
 * past its boundary once every item in the part comes from a verified frame. */
static enum ps_err scan_loop(struct ps_scan *s, struct ps_reader *r, struct ps_minhash_writer *sigw,
                             const struct ps_scan_callbacks *cb, struct ps_errdetail *ed)
{
    uint64_t next_progress = PROGRESS_EVERY_BYTES;
    uint64_t part_end = s->spec->begin + s->opts.part_bytes;
    enum ps_err err;

    for (;;) {
        struct ps_reader_stats before = s->stats;
        struct ps_doc doc;
        bool has_doc, item, fold;

        err = ps_reader_next(r, &doc, &has_doc);
        take_events(s, r);
        item = has_doc || err == PS_ERR_PARSE || err == PS_ERR_LIMIT;
        if (item && ps_reader_item_frame(r) >= s->stop_frame) {
            s->stopped = true; /* the counts end before this item */
            return PS_OK;
        }
        s->stats = *ps_reader_stats(r);
        if (err == PS_OK && !has_doc)
            return PS_OK;
        fold = s->part >= s->replay_part;
        if (item && !has_doc) {
            note_frame(s, ps_reader_item_frame(r));
            if (fold)
                ps_scan_keep_error(s, ps_reader_last_error(r));
            if (s->attrs != NULL && (err = write_attrs_error(s, ed)) != PS_OK)
                return err;
            continue;
        }
        if (err != PS_OK) {
            /* a corrupt or truncated stream ends the shard; what came before its failed frame
             * stands (ps_scan_shard reads the shard again without that frame) */
            s->failure = *ps_reader_last_error(r);
            ps_scan_keep_error(s, &s->failure);
            return PS_OK;
        }
        if (doc.offset - s->part_start >= 2 * s->opts.part_bytes &&
            s->part_frames > good_below(s) && !s->verified) {
            s->verify_first = true; /* the open part is two parts long, its frame unverified */
            return PS_OK;
        }
        if (doc.offset >= part_end && s->part_frames <= good_below(s)) {
            struct ps_reader_stats now = s->stats;
            s->stats = before; /* the part's counts end before this document */
            if (!end_part(s, cb, false))
                goto abandon;
            s->stats = now;
            s->part_start = doc.offset;
            while (doc.offset >= part_end)
                part_end += s->opts.part_bytes;
            fold = s->part >= s->replay_part;
        }
        note_frame(s, doc.frame);
        if (fold)
            ps_scan_doc(s, &doc);
        if (fold && s->clusters != NULL &&
            (s->spec->pass == PS_PASS_SCAN || s->spec->pass == PS_PASS_CONFIRM) &&
            (err = ps_scan_cluster_doc(s, &doc, ed)) != PS_OK)
            return err;
        if (sigw != NULL && (err = ps_scan_write_signature(s, sigw, &doc, ed)) != PS_OK)
            return err;
        if (s->attrs != NULL && (err = write_attrs(s, &doc, ed)) != PS_OK)
            return err;
        if (cb != NULL && cb->progress != NULL && s->stats.bytes >= next_progress) {
            next_progress = s->stats.bytes + PROGRESS_EVERY_BYTES;
            if (!cb->progress(cb->ctx, s->stats.bytes, s->stats.docs))
                goto abandon;
        }
    }
abandon:
    ps_errdetail_set(ed, s->spec->path, 0, "shard abandoned");
    return PS_ERR_TIMEOUT;
}

/* A frame that held items failed in the first reading: they are in the open part. */
static bool must_read_again(const struct ps_scan *s)
{
    return s->stop_frame == UINT64_MAX && s->failed && s->failed_items > 0;
}

/* The attribute file of a reading that got to its end: every flagged document met (else the
 * file is not the one the report was made from), then renamed into place. */
static enum ps_err close_attrs(struct ps_scan *s, struct ps_errdetail *ed)
{
    struct ps_attrs_writer *w = s->attrs;

    s->attrs = NULL;
    if (s->attrs_met != s->spec->n_flagged) {
        ps_attrs_abort(w);
        ps_errdetail_set(ed, s->spec->path, 0,
                         "%zu of the file's %zu flagged documents are not where the report saw "
                         "them (did the file change?)",
                         s->spec->n_flagged - s->attrs_met, s->spec->n_flagged);
        return PS_ERR_IO;
    }
    return ps_attrs_close(w, ed);
}

/* One reading of the shard from its start: the loop, the signature file and the attribute file. */
static enum ps_err read_shard(struct ps_scan *s, const struct ps_scan_callbacks *cb,
                              struct ps_errdetail *ed)
{
    const struct ps_scan_spec *spec = s->spec;
    struct ps_reader *r = NULL;
    struct ps_minhash_writer *sigw = NULL;
    enum ps_err err;

    s->part = 0;
    memset(&s->stats, 0, sizeof(s->stats));
    s->failed = s->stopped = s->verify_first = false;
    s->part_start = spec->begin;
    ps_scan_begin_part(s);
    err = ps_reader_open(&r, spec->path, spec->begin, spec->end, &s->opts.reader, ed);
    if (err != PS_OK)
        return err;
    s->good_below = ps_reader_format(r).container == PS_FORMAT_PLAIN ? UINT64_MAX : 0;
    if (spec->pass == PS_PASS_SCAN && s->minhash != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/shard-%06u.sig", s->signatures_dir, spec->shard_id);
        err = ps_minhash_writer_open(&sigw, path, s->minhash, 3, ed);
        if (err != PS_OK)
            goto done;
    }
    if (spec->pass == PS_PASS_ATTRS) {
        s->attrs_next = s->attrs_met = 0;
        err = ps_attrs_open(&s->attrs, spec->attributes_path, ps_reader_format(r).container, ed);
        if (err != PS_OK)
            goto done;
    }
    err = scan_loop(s, r, sigw, cb, ed);
    /* a signature or attribute file with a failed frame's documents is dropped; the next
     * reading writes it */
    if (err == PS_OK && sigw != NULL && !must_read_again(s) && !s->verify_first) {
        err = ps_minhash_writer_close(sigw, ed);
        sigw = NULL;
    }
    if (err == PS_OK && s->attrs != NULL && !must_read_again(s) && !s->verify_first)
        err = close_attrs(s, ed);
done:
    ps_minhash_writer_free(sigw);
    ps_attrs_abort(s->attrs);
    s->attrs = NULL;
    ps_reader_free(r);
    return err;
}

/* A reading that scans nothing: which frame fails first, if any (s->failed, failed_frame,
 * failed_items, failure), so that the next reading may end parts before their frames end. */
static enum ps_err verify_frames(struct ps_scan *s, struct ps_errdetail *ed)
{
    const struct ps_scan_spec *spec = s->spec;
    struct ps_reader *r = NULL;
    enum ps_err err = ps_reader_open(&r, spec->path, spec->begin, spec->end, &s->opts.reader, ed);

    if (err != PS_OK)
        return err;
    s->failed = false;
    s->good_below = 0;
    for (;;) {
        struct ps_doc doc;
        bool has_doc;

        err = ps_reader_next(r, &doc, &has_doc);
        take_events(s, r);
        if (err == PS_OK && !has_doc)
            break;
        if (err != PS_OK && err != PS_ERR_PARSE && err != PS_ERR_LIMIT) {
            s->failure = *ps_reader_last_error(r);
            break;
        }
    }
    ps_reader_free(r);
    s->verified = true;
    s->verified_below = s->failed ? s->failed_frame : UINT64_MAX;
    return PS_OK;
}

enum ps_err ps_scan_shard(struct ps_scan *s, const struct ps_scan_spec *spec,
                          const struct ps_scan_callbacks *cb, struct ps_errdetail *ed)
{
    enum ps_err err;

    s->spec = spec;
    s->stop_frame = UINT64_MAX;
    s->replay_part = 0;
    s->verified = false;
    if (spec->pass != PS_PASS_SCAN)
        ps_scan_load_patterns(s, spec);
    s->opts.reader.format = spec->format != NULL ? *spec->format : ps_format_auto();
    err = read_shard(s, cb, ed);
    if (err == PS_OK && s->verify_first) {
        /* parts before the open one are committed; the rest is read with the frames known */
        uint32_t open_part = s->part;

        err = verify_frames(s, ed);
        if (err == PS_OK) {
            struct ps_errdetail failure = s->failure;
            bool cut = s->failed && s->failed_items > 0;

            s->replay_part = open_part;
            s->stop_frame = cut ? s->failed_frame : UINT64_MAX;
            err = read_shard(s, cb, ed);
            /* stopped at the first item of the open part: move to it, as below */
            if (err == PS_OK && s->stopped && s->part + 1 == open_part)
                end_part(s, cb, false);
            if (err == PS_OK && cut) {
                ps_scan_keep_error(s, &failure);
                s->stats.errors++;
            }
        }
    } else if (err == PS_OK && must_read_again(s)) {
        struct ps_errdetail failure = s->failure;
        uint32_t open_part = s->part;

        s->stop_frame = s->failed_frame;
        s->replay_part = open_part;
        err = read_shard(s, cb, ed);
        /* the open part began with the failed frame's first document, where this reading
         * stopped: the part before it is committed, the open one is empty */
        if (err == PS_OK && s->stopped && s->part + 1 == open_part)
            end_part(s, cb, false);
        if (err == PS_OK && (!s->stopped || s->part != open_part)) {
            /* the file is not what it was a moment ago: let another attempt read it */
            ps_errdetail_set(ed, spec->path, 0,
                             "'%s' read differently the second time (changed while scanned?)",
                             spec->path);
            err = PS_ERR_IO;
        }
        if (err == PS_OK) {
            ps_scan_keep_error(s, &failure);
            s->stats.errors++;
        }
    }
    if (err == PS_OK && !end_part(s, cb, true)) {
        ps_errdetail_set(ed, spec->path, 0, "shard abandoned");
        err = PS_ERR_TIMEOUT;
    }
    return err;
}
