/* report_html.c - report.json as one HTML page: summary, an inline SVG chart, the triggers with
 * their evidence and escaped examples, suppressed patterns, candidates, clusters and damaged
 * files. Everything comes from the report.json text (read back as a tree), so the page shows what
 * the report says and `poisonscan html` rebuilds it from any report.json. Unknown evidence fields
 * are shown as they come, so the page follows the report as the detector grows. */
#include "coordinator/report_html.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/jsontree.h"
#include "common/units.h"
#include "common/utf8.h"

#define FILES_SHOWN   1000 /* damaged files listed on the page; report.json has them all */
#define ERRORS_SHOWN  200
#define MEMBERS_SHOWN 50
#define LABEL_CHARS   24 /* a trigger's label in the chart */

/* chart geometry (SVG user units) */
#define CW 760
#define CH 420
#define ML 70
#define MR 20
#define MT 20
#define MB 56

static const char style[] =
    "body{font:14px/1.45 'DejaVu Sans',sans-serif;margin:0 auto;max-width:1100px;padding:0 "
    "20px 40px;color:#1d2430}"
    "h1{font-size:22px;margin:24px 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px "
    "solid #d5dae1;padding-bottom:4px}h3{font-size:15px;margin:0 0 8px}"
    ".verdict{padding:12px 16px;border-radius:6px;font-weight:bold;margin:12px 0}"
    ".bad{background:#fde4e1;color:#8a1c12}.good{background:#e3f4e6;color:#1d5e2b}"
    ".warn{background:#fff4d6;color:#6b4d00}"
    "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d5dae1;padding:3px "
    "8px;text-align:left;vertical-align:top}th{background:#f2f4f7}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".trigger,.suppressed{border:1px solid #d5dae1;border-left:5px solid #c0392b;border-radius:"
    "4px;padding:10px 14px;margin:12px 0}.suppressed{border-left-color:#e67e22}"
    "code.pattern{background:#f2f4f7;padding:1px 5px;border-radius:3px;font-size:15px}"
    "pre.snippet{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;border:1px solid "
    "#e3e6ea;padding:6px 8px;margin:4px 0 10px;font-size:12.5px}"
    "mark{background:#ffd34d}.cp{font-size:10px;background:#444;color:#fff;border-radius:2px;"
    "padding:0 2px;margin:0 1px}.kind{font-size:12px;background:#34495e;color:#fff;border-radius:"
    "10px;padding:1px 8px;margin-left:8px}.muted{color:#6b7480}"
    "svg text{font:11px 'DejaVu Sans',sans-serif;fill:#1d2430}";

/* ---- text ---- */

/* Characters a reader would not see, or that change how the text around them is shown (the
 * bidirectional overrides of "Trojan Source"): written as their code point. */
static int invisible(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0xAD || cp == 0x34F || cp == 0x61C ||
           cp == 0x115F || cp == 0x1160 || cp == 0x17B4 || cp == 0x17B5 || cp == 0x180E ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           cp == 0xFEFF || cp == 0xFFA0 || (cp >= 0xFFF0 && cp <= 0xFFFB) ||
           (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE0FFF);
}

/* HTML text: the five special characters as references, invisible characters by name
 * (`keep_breaks`: line breaks and tabs stay, for snippets). Text decoded from JSON is valid
 * UTF-8; a byte that is not would be written as U+FFFD. */
static void put_text_ex(struct ps_buf *b, const char *s, size_t n, int keep_breaks)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ps_utf8_decode(s + i, n - i, &cp);

        if (len == 0) {
            ps_buf_adds(b, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        if (cp == '&')
            ps_buf_adds(b, "&amp;");
        else if (cp == '<')
            ps_buf_adds(b, "&lt;");
        else if (cp == '>')
            ps_buf_adds(b, "&gt;");
        else if (cp == '"')
            ps_buf_adds(b, "&quot;");
        else if (cp == '\'')
            ps_buf_adds(b, "&#39;");
        else if ((cp == '\n' || cp == '\t') && keep_breaks)
            ps_buf_add(b, s + i, 1);
        else if (invisible(cp))
            ps_buf_addf(b, "<span class=\"cp\">U+%04" PRIX32 "</span>", cp);
        else
            ps_buf_add(b, s + i, len);
        i += len;
    }
}

static void put_text(struct ps_buf *b, const char *s, size_t n)
{
    put_text_ex(b, s, n, 0);
}

static void put_str(struct ps_buf *b, const struct ps_jt *v)
{
    size_t n;
    const char *s = ps_jt_str(v, "", &n);

    put_text(b, s, n);
}

/* An attribute value (inside double quotes): no markup, invisible characters as U+XXXX. */
static void put_attr(struct ps_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ps_utf8_decode(s + i, n - i, &cp);

        if (len == 0) {
            ps_buf_adds(b, "U+FFFD");
            i++;
            continue;
        }
        if (cp == '&' || cp == '<' || cp == '>' || cp == '"' || cp == '\'')
            ps_buf_addf(b, "&#%" PRIu32 ";", cp);
        else if (invisible(cp))
            ps_buf_addf(b, "U+%04" PRIX32, cp);
        else
            ps_buf_add(b, s + i, len);
        i += len;
    }
}

/* data-pattern-json="...": the pattern as a JSON string literal, invisible characters as \u
 * escapes, so that a reader of the DOM (the browser test, a script) gets it back exactly. */
static void put_pattern_attr(struct ps_buf *b, const char *s, size_t n)
{
    struct ps_buf j;

    ps_buf_init(&j, PS_BUF_NO_LIMIT);
    ps_buf_adds(&j, "\"");
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ps_utf8_decode(s + i, n - i, &cp);

        if (len == 0) {
            ps_buf_adds(&j, "\\ufffd");
            i++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            ps_buf_addf(&j, "\\%c", (char)cp);
        else if (invisible(cp) && cp > 0xFFFF)
            ps_buf_addf(&j, "\\u%04" PRIx32 "\\u%04" PRIx32, 0xD800 + ((cp - 0x10000) >> 10),
                        0xDC00 + ((cp - 0x10000) & 0x3FF));
        else if (invisible(cp))
            ps_buf_addf(&j, "\\u%04" PRIx32, cp);
        else
            ps_buf_add(&j, s + i, len);
        i += len;
    }
    ps_buf_adds(&j, "\"");
    ps_buf_adds(b, " data-pattern-json=\"");
    put_attr(b, j.data, j.len);
    ps_buf_adds(b, "\"");
    ps_buf_release(&j);
}

/* A count with thousands separators; other numbers with a few significant digits. */
static void put_num(struct ps_buf *b, double v)
{
    char digits[32], out[48];
    size_t n, o = 0;

    if (!(fabs(v) < 1e18) || v != floor(v)) {
        ps_buf_addf(b, "%.4g", v);
        return;
    }
    n = (size_t)snprintf(digits, sizeof(digits), "%.0f", fabs(v));
    if (v < 0)
        out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    ps_buf_adds(b, out);
}

static double num_at(const struct ps_jt *obj, const char *key)
{
    return ps_jt_num(ps_jt_get(obj, key), 0);
}

/* A JSON value of the report shown as text: strings escaped, numbers as put_num, the rest as
 * its literal. */
static void put_value(struct ps_buf *b, const struct ps_jt *v)
{
    if (v == NULL)
        return;
    switch (v->type) {
    case PS_JT_STRING:
        put_str(b, v);
        break;
    case PS_JT_NUMBER:
        put_num(b, v->num);
        break;
    case PS_JT_TRUE:
    case PS_JT_FALSE:
        ps_buf_adds(b, v->type == PS_JT_TRUE ? "yes" : "no");
        break;
    case PS_JT_NULL:
        ps_buf_adds(b, "&mdash;");
        break;
    case PS_JT_ARRAY: /* a short list of strings or numbers (an association's members) */
        for (size_t i = 0; i < ps_jt_len(v); i++) {
            const struct ps_jt *e = ps_jt_at(v, i);

            ps_buf_adds(b, i ? ", " : "");
            if (e->type == PS_JT_STRING || e->type == PS_JT_NUMBER)
                put_value(b, e);
            else
                ps_buf_adds(b, "&hellip;");
        }
        if (ps_jt_len(v) == 0)
            ps_buf_adds(b, "&mdash;");
        break;
    default:
        ps_buf_addf(b, "(%zu items)", ps_jt_len(v));
    }
}

/* ---- sections ---- */

static void head(struct ps_buf *b, const struct ps_jt *r)
{
    ps_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "style-src 'unsafe-inline'; img-src data:\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<title>poisonscan report: ");
    put_str(b, ps_jt_get(r, "job"));
    ps_buf_addf(b, "</title>\n<style>%s</style></head>\n<body>\n<h1>poisonscan report: ", style);
    put_str(b, ps_jt_get(r, "job"));
    ps_buf_adds(b, "</h1>\n");
}

/* A counting pass that left patterns out (report.json "selection", --max-confirm): a trigger
 * named in no more documents than the last one counted may not have been counted, so "nothing
 * flagged" does not cover it. */
static void capped_warning(struct ps_buf *b, const struct ps_jt *sel)
{
    for (size_t i = 0; i < ps_jt_len(sel); i++) {
        const struct ps_jt *p = &sel->items[i];
        size_t n;
        const char *name = ps_jt_str(&sel->keys[i], "", &n);

        if (p->type != PS_JT_OBJECT || !ps_jt_bool(ps_jt_get(p, "capped"), false))
            continue;
        ps_buf_adds(b, "<p class=\"verdict warn\" id=\"capped-");
        put_attr(b, name, n);
        ps_buf_adds(b, "\">Only ");
        put_num(b, num_at(p, "counted"));
        ps_buf_adds(b, " of ");
        put_num(b, num_at(p, "eligible"));
        ps_buf_adds(b, " patterns were counted in the ");
        put_text(b, name, n);
        ps_buf_adds(b, " pass (--max-confirm): a trigger named in ");
        put_num(b, num_at(p, "least_documents"));
        ps_buf_adds(b, " documents or fewer may be missed (docs/detection.md, \"The cap\").</p>\n");
    }
}

static void summary(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *c = ps_jt_get(r, "corpus"),
                       *det = ps_jt_get(ps_jt_get(r, "settings"), "detect"),
                       *since = ps_jt_get(r, "since");
    size_t n_trig = ps_jt_len(ps_jt_get(r, "triggers"));
    size_t n_files = ps_jt_len(ps_jt_get(r, "error_files"));
    double errors = num_at(r, "errors_total");
    char size[32];

    if (n_trig > 0)
        ps_buf_addf(b,
                    "<p class=\"verdict bad\" id=\"verdict\">Poisoning flagged: %zu "
                    "trigger%s (below)</p>\n",
                    n_trig, n_trig == 1 ? "" : "s");
    else
        ps_buf_adds(b, "<p class=\"verdict good\" id=\"verdict\">No poisoning flagged</p>\n");
    if (errors > 0) {
        ps_buf_adds(b, "<p class=\"verdict warn\">");
        put_num(b, errors);
        ps_buf_addf(b,
                    " input error%s in %zu damaged file%s (<a href=\"#errors\">below</a>)"
                    "</p>\n",
                    errors == 1 ? "" : "s", n_files, n_files == 1 ? "" : "s");
    }
    capped_warning(b, ps_jt_get(r, "selection"));
    ps_buf_adds(b, "<h2 id=\"summary\">Corpus</h2>\n<table>");
    static const char *const rows[][2] = {{"files", "files"},
                                          {"shards", "shards"},
                                          {"shards_failed", "shards failed"},
                                          {"documents", "documents"},
                                          {"errors", "input errors"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ps_buf_addf(b, "<tr><th>%s</th><td class=\"n\">", rows[i][1]);
        put_num(b, num_at(c, rows[i][0]));
        ps_buf_adds(b, "</td></tr>");
    }
    ps_units_format_size((uint64_t)num_at(c, "bytes"), size, sizeof(size));
    ps_buf_addf(b, "<tr><th>input (decompressed)</th><td class=\"n\">%s</td></tr>", size);
    ps_units_format_size((uint64_t)num_at(c, "text_bytes"), size, sizeof(size));
    ps_buf_addf(b, "<tr><th>text</th><td class=\"n\">%s</td></tr></table>\n", size);
    if (since != NULL) {
        ps_buf_adds(b, "<p class=\"muted\" id=\"since\">A rescan: built on job ");
        put_str(b, ps_jt_get(since, "job"));
        ps_buf_adds(b, ", whose scan counts of ");
        put_num(b, num_at(since, "shards_reused"));
        ps_buf_adds(b, " shards it took over (pass 1 read only the others).</p>\n");
    }
    if (det != NULL) {
        ps_buf_adds(b, "<p class=\"muted\">Thresholds (docs/detection.md):");
        for (size_t i = 0; i < ps_jt_len(det); i++) {
            ps_buf_adds(b, " ");
            put_str(b, &det->keys[i]);
            ps_buf_adds(b, " ");
            put_value(b, &det->items[i]);
            ps_buf_adds(b, i + 1 < ps_jt_len(det) ? "," : ".");
        }
        ps_buf_adds(b, "</p>\n");
    }
}

struct point {
    const struct ps_jt *p;
    const char *cls; /* trigger, suppressed, candidate */
    double x, y;
};

static double spread_of(const struct ps_jt *p)
{
    const struct ps_jt *ev = ps_jt_get(p, "evidence");
    double expected = num_at(ev, "shards_expected_if_uniform");

    return expected > 0 ? num_at(ev, "shards_in_role") / expected : 0;
}

static size_t gather(const struct ps_jt *r, struct point *pts)
{
    static const char *const lists[][2] = {
        {"candidates", "candidate"}, {"suppressed", "suppressed"}, {"triggers", "trigger"}};
    size_t n = 0;

    /* triggers last: drawn on top */
    for (size_t l = 0; l < 3; l++) {
        const struct ps_jt *a = ps_jt_get(r, lists[l][0]);
        for (size_t i = 0; i < ps_jt_len(a); i++) {
            pts[n].p = ps_jt_at(a, i);
            pts[n].cls = lists[l][1];
            pts[n].x = num_at(pts[n].p, "documents");
            pts[n].y = spread_of(pts[n].p);
            n++;
        }
    }
    return n;
}

static double px(double x, double xmax_log)
{
    return ML + (x > 1 ? log10(x) : 0) / xmax_log * (CW - ML - MR);
}

static double py(double y, double ymax)
{
    return CH - MB - y / ymax * (CH - MT - MB);
}

static void chart_axes(struct ps_buf *b, double xmax_log, double ymax, double min_docs,
                       double min_spread)
{
    ps_buf_addf(b,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fbfcfd\" "
                "stroke=\"#c5ccd6\"/>\n",
                ML, MT, CW - ML - MR, CH - MT - MB);
    for (int e = 0; e <= (int)xmax_log; e++) {
        double x = px(pow(10, e), xmax_log);
        ps_buf_addf(b,
                    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e6ea\"/>"
                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
                    x, MT, x, CH - MB, x, CH - MB + 16);
        put_num(b, pow(10, e));
        ps_buf_adds(b, "</text>\n");
    }
    for (double y = 0; y <= ymax + 1e-9; y += ymax / 6) {
        ps_buf_addf(b,
                    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
                    "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                    ML, py(y, ymax), CW - MR, py(y, ymax), ML - 6, py(y, ymax) + 4, y);
    }
    if (min_docs >= 1)
        ps_buf_addf(b,
                    "<line class=\"threshold\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                    "stroke=\"#7f8c8d\" stroke-dasharray=\"5,4\"/><text x=\"%.1f\" y=\"%d\">"
                    "min-docs %.0f</text>\n",
                    px(min_docs, xmax_log), MT, px(min_docs, xmax_log), CH - MB,
                    px(min_docs, xmax_log) + 4, MT + 12, min_docs);
    if (min_spread > 0 && min_spread <= ymax)
        ps_buf_addf(b,
                    "<line class=\"threshold\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                    "stroke=\"#7f8c8d\" stroke-dasharray=\"5,4\"/><text x=\"%d\" y=\"%.1f\" "
                    "text-anchor=\"end\">min-spread %.2f</text>\n",
                    ML, py(min_spread, ymax), CW - MR, py(min_spread, ymax), CW - MR - 4,
                    py(min_spread, ymax) - 4, min_spread);
    ps_buf_addf(b,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">documents where the pattern "
                "precedes a payload (log scale)</text>\n"
                "<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">"
                "shard spread: shards hit / expected if uniform</text>\n",
                ML + (CW - ML - MR) / 2, CH - 14, MT + (CH - MT - MB) / 2);
}

static void chart_point(struct ps_buf *b, const struct point *pt, double xmax_log, double ymax)
{
    size_t n;
    const char *pat = ps_jt_str(ps_jt_get(pt->p, "pattern"), "", &n);
    int trig = strcmp(pt->cls, "trigger") == 0, sup = strcmp(pt->cls, "suppressed") == 0;
    double x = px(pt->x, xmax_log), y = py(pt->y, ymax);

    ps_buf_addf(b,
                "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" "
                "fill-opacity=\"%s\" stroke=\"%s\"",
                pt->cls, x, y, trig ? 6 : 4,
                trig  ? "#c0392b"
                : sup ? "#e67e22"
                      : "#95a5a6",
                trig ? "0.9" : "0.55", trig ? "#7b1f16" : "none");
    put_pattern_attr(b, pat, n);
    ps_buf_adds(b, "><title>");
    put_text(b, pat, n);
    ps_buf_addf(b, " (%s): ", pt->cls);
    put_num(b, pt->x);
    ps_buf_addf(b, " documents, spread %.2f</title></circle>\n", pt->y);
    if (trig) {
        size_t cut = n < LABEL_CHARS ? n : LABEL_CHARS;
        while (cut < n && cut > 0 && ((unsigned char)pat[cut] & 0xC0) == 0x80)
            cut--;
        ps_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#7b1f16\">", x + 9, y + 4);
        put_text(b, pat, cut);
        ps_buf_adds(b, cut < n ? "&hellip;</text>\n" : "</text>\n");
    }
}

static void chart(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *det = ps_jt_get(ps_jt_get(r, "settings"), "detect");
    size_t cap = ps_jt_len(ps_jt_get(r, "triggers")) + ps_jt_len(ps_jt_get(r, "suppressed")) +
                 ps_jt_len(ps_jt_get(r, "candidates"));
    struct point *pts = ps_xcalloc(cap + 1, sizeof(*pts));
    size_t n = gather(r, pts);
    double xmax = 100, ymax = 1.2, xmax_log;

    ps_buf_adds(b, "<h2 id=\"chart-title\">Patterns: documents against shard spread</h2>\n"
                   "<p class=\"muted\">Every pattern the report lists: flagged triggers "
                   "(red), suppressed by the allowlist (orange), the other candidates (grey). "
                   "Planted poisoning sits right of min-docs and near a spread of 1: "
                   "documents spread over the shards as if at random.</p>\n");
    for (size_t i = 0; i < n; i++) {
        if (pts[i].x * 1.5 > xmax)
            xmax = pts[i].x * 1.5;
        if (pts[i].y * 1.1 > ymax)
            ymax = pts[i].y * 1.1;
    }
    xmax_log = ceil(log10(xmax));
    ymax = ceil(ymax * 5) / 5;
    ps_buf_addf(b,
                "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby="
                "\"chart-title\">\n",
                CW, CH, CW, CH);
    chart_axes(b, xmax_log, ymax, num_at(det, "min_docs"), num_at(det, "min_spread"));
    for (size_t i = 0; i < n; i++)
        chart_point(b, &pts[i], xmax_log, ymax);
    if (n == 0)
        ps_buf_addf(b,
                    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no pattern reached the "
                    "confirm pass</text>\n",
                    ML + (CW - ML - MR) / 2, MT + (CH - MT - MB) / 2);
    ps_buf_adds(b, "</svg>\n");
    free(pts);
}

/* One example: id, file and offset, and the snippet with the pattern's first occurrence marked. */
static void example(struct ps_buf *b, const struct ps_jt *ex, const char *pat, size_t pat_len)
{
    size_t n;
    const char *snip = ps_jt_str(ps_jt_get(ex, "snippet"), "", &n), *hit = NULL;

    ps_buf_adds(b, "<li><code>");
    put_str(b, ps_jt_get(ex, "id"));
    ps_buf_adds(b, "</code> <span class=\"muted\">");
    put_str(b, ps_jt_get(ex, "file"));
    ps_buf_adds(b, " at byte ");
    put_num(b, num_at(ex, "offset"));
    ps_buf_adds(b, "</span><pre class=\"snippet\">");
    for (size_t i = 0; pat_len > 0 && i + pat_len <= n && hit == NULL; i++)
        if (memcmp(snip + i, pat, pat_len) == 0)
            hit = snip + i;
    if (hit != NULL) {
        put_text_ex(b, snip, (size_t)(hit - snip), 1);
        ps_buf_adds(b, "<mark>");
        put_text_ex(b, hit, pat_len, 1);
        ps_buf_adds(b, "</mark>");
        put_text_ex(b, hit + pat_len, n - (size_t)(hit - snip) - pat_len, 1);
    } else {
        put_text_ex(b, snip, n, 1);
    }
    ps_buf_adds(b, "</pre></li>\n");
}

/* One table row per field of an object (none when it is absent), each name after `prefix`. */
/* One row per field; an object's fields as rows of their own, under its name (an
 * association's insertion and prefix figures), one level deep. */
static void evidence_rows(struct ps_buf *b, const struct ps_jt *obj, const char *prefix)
{
    for (size_t k = 0; k < ps_jt_len(obj); k++) {
        const struct ps_jt *v = &obj->items[k];

        if (v->type == PS_JT_OBJECT && *prefix != '\0') {
            for (size_t j = 0; j < ps_jt_len(v); j++) {
                ps_buf_addf(b, "<tr><td>%s", prefix);
                put_str(b, &obj->keys[k]);
                ps_buf_adds(b, " ");
                put_str(b, &v->keys[j]);
                ps_buf_adds(b, "</td><td class=\"n\">");
                put_value(b, &v->items[j]);
                ps_buf_adds(b, "</td></tr>");
            }
            continue;
        }
        ps_buf_addf(b, "<tr><td>%s", prefix);
        put_str(b, &obj->keys[k]);
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_value(b, v);
        ps_buf_adds(b, "</td></tr>");
    }
}

/* A flagged (or suppressed) pattern: its figures, every evidence field, its examples. */
static void finding(struct ps_buf *b, const struct ps_jt *t, const char *cls, size_t i)
{
    size_t n;
    const char *pat = ps_jt_str(ps_jt_get(t, "pattern"), "", &n);
    const struct ps_jt *ev = ps_jt_get(t, "evidence"), *exs = ps_jt_get(t, "examples");
    const struct ps_jt *as = ps_jt_get(t, "association");

    ps_buf_addf(b, "<section class=\"%s\" id=\"%s-%zu\"", cls, cls, i + 1);
    put_pattern_attr(b, pat, n);
    ps_buf_adds(b, "><h3><code class=\"pattern\">");
    put_text(b, pat, n);
    ps_buf_adds(b, "</code><span class=\"kind\">");
    put_str(b, ps_jt_get(t, "kind"));
    ps_buf_adds(b, "</span></h3>\n<p>");
    put_num(b, num_at(t, "documents"));
    ps_buf_adds(b, " documents over ");
    put_num(b, num_at(t, "shards"));
    ps_buf_addf(b, " shards, score %.2f", num_at(t, "score"));
    if (ps_jt_get(t, "allowlist_line") != NULL) {
        ps_buf_adds(b, "; allowlisted by line ");
        put_num(b, num_at(t, "allowlist_line"));
    }
    ps_buf_adds(b, "</p>\n<table class=\"evidence\"><tr><th>evidence</th><th>value</th></tr>");
    evidence_rows(b, ev, "");
    evidence_rows(b, as, "association "); /* the label it pulls toward, its z, its members */
    ps_buf_adds(b, "</table>\n");
    if (ps_jt_len(exs) > 0) {
        ps_buf_adds(b, "<p>Examples:</p><ul class=\"examples\">\n");
        for (size_t k = 0; k < ps_jt_len(exs); k++)
            example(b, ps_jt_at(exs, k), pat, n);
        ps_buf_adds(b, "</ul>\n");
    }
    ps_buf_adds(b, "</section>\n");
}

static void findings(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *trig = ps_jt_get(r, "triggers"), *sup = ps_jt_get(r, "suppressed");

    ps_buf_addf(b, "<h2 id=\"triggers\">Flagged triggers (%zu)</h2>\n", ps_jt_len(trig));
    if (ps_jt_len(trig) == 0)
        ps_buf_adds(b, "<p>None.</p>\n");
    for (size_t i = 0; i < ps_jt_len(trig); i++)
        finding(b, ps_jt_at(trig, i), "trigger", i);
    if (ps_jt_len(sup) == 0)
        return;
    ps_buf_addf(b, "<h2 id=\"suppressed\">Suppressed by the allowlist (%zu)</h2>\n",
                ps_jt_len(sup));
    for (size_t i = 0; i < ps_jt_len(sup); i++)
        finding(b, ps_jt_at(sup, i), "suppressed", i);
}

static void candidates(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *c = ps_jt_get(r, "candidates");

    ps_buf_addf(b, "<h2 id=\"candidates\">Other candidates (%zu)</h2>\n", ps_jt_len(c));
    if (ps_jt_len(c) == 0) {
        ps_buf_adds(b, "<p>None.</p>\n");
        return;
    }
    ps_buf_adds(b, "<p class=\"muted\">Patterns counted in the confirm pass that the rules did "
                   "not flag, most suspicious first.</p>\n<table><tr><th>pattern</th><th>kind"
                   "</th><th>documents</th><th>shards</th><th>spread</th><th>rate</th>"
                   "<th>diversity</th><th>score</th></tr>\n");
    for (size_t i = 0; i < ps_jt_len(c); i++) {
        const struct ps_jt *p = ps_jt_at(c, i), *ev = ps_jt_get(p, "evidence");
        size_t n;
        const char *pat = ps_jt_str(ps_jt_get(p, "pattern"), "", &n);

        ps_buf_adds(b, "<tr class=\"candidate\"");
        put_pattern_attr(b, pat, n);
        ps_buf_adds(b, "><td><code>");
        put_text(b, pat, n);
        ps_buf_adds(b, "</code></td><td>");
        put_str(b, ps_jt_get(p, "kind"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(p, "documents"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(p, "shards"));
        ps_buf_addf(b, "</td><td class=\"n\">%.2f</td><td class=\"n\">%.2f</td>", spread_of(p),
                    num_at(ev, "rate_in_role"));
        /* diversity is measured on listed documents only */
        if (ps_jt_bool(ps_jt_get(ev, "listed"), false))
            ps_buf_addf(b, "<td class=\"n\">%.2f</td>", num_at(ev, "left_context_diversity"));
        else
            ps_buf_adds(b, "<td class=\"n muted\">&mdash;</td>");
        ps_buf_addf(b, "<td class=\"n\">%.2f</td></tr>\n", num_at(p, "score"));
    }
    ps_buf_adds(b, "</table>\n");
}

static void clusters(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *cl = ps_jt_get(r, "clusters");

    ps_buf_adds(b, "<h2 id=\"clusters\">Near-duplicate clusters (");
    put_num(b, num_at(r, "clusters_total"));
    ps_buf_adds(b, ")</h2>\n");
    if (ps_jt_len(cl) == 0) {
        ps_buf_adds(b, "<p>None.</p>\n");
        return;
    }
    ps_buf_adds(b, "<p class=\"muted\">Paragraphs repeated across shards: evidence, not alarms "
                   "(a cluster most of whose documents a trigger flagged names it).</p>\n"
                   "<table><tr><th>documents</th><th>shards</th><th>trigger</th>"
                   "<th>representative</th></tr>\n");
    for (size_t i = 0; i < ps_jt_len(cl); i++) {
        const struct ps_jt *c = ps_jt_at(cl, i), *rep = ps_jt_get(c, "representative");
        const struct ps_jt *m = ps_jt_get(c, "members");
        size_t n;
        const char *snip = ps_jt_str(ps_jt_get(rep, "snippet"), "", &n);

        ps_buf_adds(b, "<tr class=\"cluster\"><td class=\"n\">");
        put_num(b, num_at(c, "size"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(c, "shards"));
        ps_buf_adds(b, "</td><td>");
        if (ps_jt_get(c, "trigger") != NULL) {
            ps_buf_adds(b, "<code>");
            put_str(b, ps_jt_get(c, "trigger"));
            ps_buf_adds(b, "</code>");
        }
        ps_buf_adds(b, "</td><td><pre class=\"snippet\">");
        put_text_ex(b, snip, n, 1);
        ps_buf_adds(b, "</pre><details><summary>members (");
        put_num(b, num_at(c, "members_total"));
        ps_buf_adds(b, ")</summary>");
        for (size_t k = 0; k < ps_jt_len(m) && k < MEMBERS_SHOWN; k++) {
            ps_buf_adds(b, k ? ", <code>" : "<code>");
            put_str(b, ps_jt_at(m, k));
            ps_buf_adds(b, "</code>");
        }
        if (ps_jt_len(m) > MEMBERS_SHOWN)
            ps_buf_addf(b, " and %zu more in report.json", ps_jt_len(m) - MEMBERS_SHOWN);
        ps_buf_adds(b, "</details></td></tr>\n");
    }
    ps_buf_adds(b, "</table>\n");
}

static void errors(struct ps_buf *b, const struct ps_jt *r)
{
    const struct ps_jt *files = ps_jt_get(r, "error_files"), *errs = ps_jt_get(r, "errors");
    size_t nf = ps_jt_len(files);

    ps_buf_addf(b, "<h2 id=\"errors\">Damaged files (%zu)</h2>\n", nf);
    if (nf == 0) {
        ps_buf_adds(b, "<p>Every record was read.</p>\n");
        return;
    }
    ps_buf_adds(b, "<table><tr><th>file</th><th>errors</th><th>first at byte</th>"
                   "<th>first reason</th></tr>\n");
    for (size_t i = 0; i < nf && i < FILES_SHOWN; i++) {
        const struct ps_jt *f = ps_jt_at(files, i);
        ps_buf_adds(b, "<tr class=\"error-file\"><td>");
        put_str(b, ps_jt_get(f, "file"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(f, "errors"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(f, "first_offset"));
        ps_buf_adds(b, "</td><td>");
        if (ps_jt_bool(ps_jt_get(f, "shard_failed"), false))
            ps_buf_adds(b, "<b>shard failed:</b> ");
        put_str(b, ps_jt_get(f, "first_reason"));
        ps_buf_adds(b, "</td></tr>\n");
    }
    ps_buf_adds(b, "</table>\n");
    if (nf > FILES_SHOWN)
        ps_buf_addf(b,
                    "<p class=\"muted\">and %zu more files in report.json "
                    "(<code>error_files</code>)</p>\n",
                    nf - FILES_SHOWN);
    ps_buf_addf(b,
                "<details><summary>the first %zu errors</summary><table><tr><th>file</th>"
                "<th>byte</th><th>reason</th></tr>\n",
                ps_jt_len(errs) < ERRORS_SHOWN ? ps_jt_len(errs) : (size_t)ERRORS_SHOWN);
    for (size_t i = 0; i < ps_jt_len(errs) && i < ERRORS_SHOWN; i++) {
        const struct ps_jt *e = ps_jt_at(errs, i);
        ps_buf_adds(b, "<tr><td>");
        put_str(b, ps_jt_get(e, "file"));
        ps_buf_adds(b, "</td><td class=\"n\">");
        put_num(b, num_at(e, "offset"));
        ps_buf_adds(b, "</td><td>");
        put_str(b, ps_jt_get(e, "reason"));
        ps_buf_adds(b, "</td></tr>\n");
    }
    ps_buf_adds(b, "</table></details>\n");
}

enum ps_err ps_report_html_render(const char *json, size_t json_len, struct ps_buf *out,
                                  struct ps_errdetail *ed)
{
    struct ps_jsontree *t = NULL;
    const struct ps_jt *r;
    enum ps_err err = ps_jsontree_parse(&t, json, json_len, NULL, ed);

    if (err != PS_OK)
        return err == PS_ERR_LIMIT ? PS_ERR_PARSE : err;
    r = ps_jsontree_root(t);
    if (ps_jt_get(r, "corpus") == NULL || ps_jt_get(r, "triggers") == NULL) {
        ps_errdetail_set(ed, NULL, 0, "not a poisonscan report: no \"corpus\" or \"triggers\"");
        ps_jsontree_free(t);
        return PS_ERR_PARSE;
    }
    head(out, r);
    summary(out, r);
    chart(out, r);
    findings(out, r);
    candidates(out, r);
    clusters(out, r);
    errors(out, r);
    ps_buf_adds(out, "<p class=\"muted\">Written by poisonscan 0.1.0 from report.json (the "
                     "complete record; docs/report.md explains every field).</p>\n"
                     "</body></html>\n");
    ps_jsontree_free(t);
    return PS_OK;
}

enum ps_err ps_report_html_write(const char *path, const char *json, size_t json_len,
                                 struct ps_errdetail *ed)
{
    struct ps_buf b;
    enum ps_err err;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    err = ps_report_html_render(json, json_len, &b, ed);
    if (err == PS_OK)
        err = ps_file_write_atomic(path, b.data, b.len, ed);
    ps_buf_release(&b);
    return err;
}
