/* attrs.h - one Dolma attribute file (docs/attributes.md): a line per document of one input
 * file, in the order of its documents, so that a mixer can read it beside the documents file:
 *   {"id":"<id>","attributes":{"poisonscan__flagged":[[0,N,F]],"poisonscan__payload_seen":[[0,N,P]]}}
 * N is the document text's length in Unicode code points (Dolma's spans count characters); F is
 * 1.0 for a flagged document (a line of flagged.jsonl) and 0.0 otherwise; P is 1.0 when
 * flagged.jsonl says "payload_seen": true, else 0.0. The id is the document's id as the reader
 * returned it: as written when it is a JSON literal (a number: doc->id_literal), else a JSON
 * string, escaped; a mixer compares the two files' ids as JSON values.
 *
 * The file is compressed as its input file is (plain, zstd, gzip: same name, same container),
 * written to "<path>.tmp.<pid>" in the same folder (created with its parents) and renamed over
 * `path` by ps_attrs_close() after an fsync, so a reader never sees half a file and a retry
 * writes the same file again. Not thread-safe; one writer per file. */
#ifndef PS_WORKER_ATTRS_H
#define PS_WORKER_ATTRS_H

#include <stddef.h>

#include "common/error.h"
#include "common/format.h"
#include "common/reader.h"

enum ps_attrs_flag {
    PS_ATTRS_CLEAN = 0,   /* not flagged */
    PS_ATTRS_FLAGGED = 1, /* flagged, payload not seen */
    PS_ATTRS_PAYLOAD = 2  /* flagged, payload seen */
};

struct ps_attrs_writer; /* opaque */

/* Start the attribute file `path` (borrowed; absolute or relative) compressed as `container`.
 * PS_OK with *out set, or PS_ERR_IO (folder or file cannot be created) / PS_ERR_ZSTD with `ed`
 * naming the path; *out is then NULL. */
enum ps_err ps_attrs_open(struct ps_attrs_writer **out, const char *path,
                          enum ps_format_container container, struct ps_errdetail *ed);

/* The line of `doc` (borrowed: text and id are read). PS_OK, or PS_ERR_IO / PS_ERR_ZSTD with
 * `ed` (disk full, ...); after an error only ps_attrs_abort() is left to call. */
enum ps_err ps_attrs_add(struct ps_attrs_writer *w, const struct ps_doc *doc,
                         enum ps_attrs_flag flag, struct ps_errdetail *ed);

/* Finish the stream, fsync, rename the temporary file over `path`, free `w`. PS_OK or
 * PS_ERR_IO / PS_ERR_ZSTD with `ed`; either way `w` is freed and no temporary file is left. */
enum ps_err ps_attrs_close(struct ps_attrs_writer *w, struct ps_errdetail *ed);

/* Drop the file: remove the temporary file, free `w` (NULL is fine). `path` is untouched. */
void ps_attrs_abort(struct ps_attrs_writer *w);

#endif
