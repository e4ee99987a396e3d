/* report_html.h - OUT/report.html: the report a person reads, one self-contained page made from
 * the report.json text (docs/report.md): the verdict and the corpus, a chart of every pattern the
 * report lists (documents against shard spread, flagged ones marked), each trigger with its
 * evidence and examples, the suppressed ones, the other candidates, clusters, and the damaged
 * files. No script, no network: a Content-Security-Policy forbids both, every text from the
 * corpus is escaped, and invisible or direction-changing characters are shown by name. */
#ifndef PS_COORDINATOR_REPORT_HTML_H
#define PS_COORDINATOR_REPORT_HTML_H

#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* Append the page for the report.json text `json` (borrowed, json_len bytes) to `out`.
 * PS_ERR_PARSE with `ed` when the text is not JSON or not a report (version 2: corpus,
 * triggers). */
enum ps_err ps_report_html_render(const char *json, size_t json_len, struct ps_buf *out,
                                  struct ps_errdetail *ed);

/* Render and write the page to `path` (borrowed) through a temporary name and a rename.
 * PS_ERR_PARSE as above, PS_ERR_IO when the file cannot be written. */
enum ps_err ps_report_html_write(const char *path, const char *json, size_t json_len,
                                 struct ps_errdetail *ed);

#endif
