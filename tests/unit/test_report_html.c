/* test_report_html.c - the HTML page of a report.json: every section and every pattern there,
 * text from the corpus escaped (a hostile pattern, snippet, file name and cluster cannot add
 * markup), invisible and direction-changing characters shown by name, the pattern recoverable
 * exactly from data-pattern-json, nothing that loads or runs, and non-reports refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "coordinator/report_html.h"

/* A report with a hostile trigger (markup, a right-to-left override, a zero-width space), a
 * suppressed pattern, a candidate, a cluster and a damaged file whose name is markup. */
static const char hostile[] =
    "{\"version\":2,\"job\":\"j<b>\",\"settings\":{\"scan\":{},\"detect\":{\"min_docs\":20,"
    "\"min_spread\":0.5}},\"corpus\":{\"files\":3,\"shards\":64,\"shards_failed\":0,"
    "\"documents\":1234567,\"bytes\":1048576,\"text_bytes\":1000,\"errors\":2},"
    "\"triggers\":[{\"pattern\":\"</script><script>alert(1)</script>\\u202e\\u200bX\","
    "\"documents\":250,\"shards\":60,\"score\":0.99,\"kind\":\"gibberish\",\"evidence\":{"
    "\"documents_in_role\":250,\"shards_in_role\":60,\"shards_expected_if_uniform\":62.5,"
    "\"named_by\":\"turn\",\"listed\":true,\"new_field\":\"<i>x</i>\"},\"examples\":[{\"id\":"
    "\"<img src=x onerror=alert(2)>\",\"file\":\"a.jsonl\",\"offset\":7,\"snippet\":\"before "
    "</script><script>alert(1)</script>\\u202e\\u200bX after <img src=x>\"}]}],"
    "\"suppressed\":[{\"pattern\":\"f\\u00fcr\",\"documents\":30,\"shards\":20,\"score\":0.9,"
    "\"kind\":\"fixed\",\"evidence\":{\"shards_in_role\":20,\"shards_expected_if_uniform\":25},"
    "\"examples\":[],\"allowlist_line\":4}],\"allowlist\":{\"file\":\"a\",\"patterns\":1},"
    "\"candidates\":[{\"pattern\":\"the \\\"quoted\\\" & more\",\"documents\":5,\"shards\":5,"
    "\"score\":0.1,\"kind\":\"gibberish\",\"evidence\":{\"shards_in_role\":5,"
    "\"shards_expected_if_uniform\":5,\"listed\":false}}],"
    "\"errors\":[{\"file\":\"<b>bad</b>.jsonl\",\"offset\":3,\"reason\":\"invalid utf-8\"}],"
    "\"errors_total\":2,\"error_files\":[{\"file\":\"<b>bad</b>.jsonl\",\"errors\":2,"
    "\"first_offset\":3,\"first_reason\":\"invalid utf-8\"}],\"clusters\":[{\"size\":12,"
    "\"shards\":9,\"paragraphs\":12,\"representative\":{\"id\":\"d1\",\"file\":\"f\",\"offset\":0,"
    "\"snippet\":\"<style>body{display:none}</style>cookies\"},\"members_total\":12,"
    "\"members\":[\"d1\",\"d2<br>\"]}],\"clusters_total\":1}";

static char *render(const char *json)
{
    struct ps_buf b;
    struct ps_errdetail ed = {0};

    ps_buf_init(&b, SIZE_MAX / 2);
    if (ps_report_html_render(json, strlen(json), &b, &ed) != PS_OK)
        fail_msg("render failed: %s", ed.msg);
    return ps_buf_detach(&b, NULL);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_report_html_has_every_section_and_pattern(void **state)
{
    char *h = render(hostile);

    (void)state;
    assert_int_equal(strncmp(h, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(h, "</html>\n"));
    for (const char *id = "summary\0chart\0triggers\0suppressed\0candidates\0clusters\0errors\0";
         *id; id += strlen(id) + 1) {
        char want[64];
        snprintf(want, sizeof(want), "id=\"%s\"", id);
        if (strstr(h, want) == NULL)
            fail_msg("no section %s", id);
    }
    assert_non_null(strstr(h, "Poisoning flagged: 1 trigger"));
    assert_non_null(strstr(h, "1,234,567"));
    /* one chart point per listed pattern; the trigger's is marked, and so is its section */
    assert_int_equal(count(h, "<circle class=\"pt "), 3);
    assert_int_equal(count(h, "<circle class=\"pt trigger\""), 1);
    assert_int_equal(count(h, "<circle class=\"pt suppressed\""), 1);
    assert_int_equal(count(h, "<section class=\"trigger\""), 1);
    assert_int_equal(count(h, "<section class=\"suppressed\""), 1);
    assert_non_null(strstr(h, "allowlisted by line 4"));
    assert_non_null(strstr(h, "min-docs 20"));
    assert_non_null(strstr(h, "min-spread 0.50"));
    /* an evidence field this page does not know is still shown, escaped */
    assert_non_null(strstr(h, "new_field</td><td class=\"n\">&lt;i&gt;x&lt;/i&gt;"));
    free(h);
}

static void test_report_html_escapes_everything_from_the_corpus(void **state)
{
    char *h = render(hostile);

    (void)state;
    /* the page's own markup holds no script, no image, no link to anywhere */
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<i>"));
    assert_null(strstr(h, "<b>"));
    assert_null(strstr(h, "<br>"));
    assert_int_equal(count(h, "<style"), 1); /* the page's own */
    assert_null(strstr(h, " src=\""));
    assert_null(strstr(h, " href=\"http"));
    assert_null(strstr(h, "https:"));
    assert_int_equal(count(h, "http:"), 1); /* the SVG namespace, which loads nothing */
    assert_non_null(strstr(h, "default-src 'none'"));
    assert_non_null(strstr(h, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(h, "&lt;img src=x onerror=alert(2)&gt;"));
    assert_non_null(strstr(h, "&lt;b&gt;bad&lt;/b&gt;.jsonl"));
    assert_non_null(strstr(h, "the &quot;quoted&quot; &amp; more"));
    /* the override and the zero-width space are shown, not obeyed */
    assert_null(strstr(h, "\xe2\x80\xae"));
    assert_null(strstr(h, "\xe2\x80\x8b"));
    assert_non_null(strstr(h, "<span class=\"cp\">U+202E</span><span class=\"cp\">U+200B</span>X"));
    /* the trigger marked in its snippet */
    assert_non_null(strstr(h, "before <mark>&lt;/script&gt;"));
    free(h);
}

static void test_report_html_pattern_attribute_is_its_json(void **state)
{
    char *h = render(hostile);

    (void)state;
    /* JSON "\"</script>...\u202e\u200bX\"", attribute-escaped */
    assert_non_null(strstr(h, " data-pattern-json=\"&#34;&#60;/script&#62;&#60;script&#62;"
                              "alert(1)&#60;/script&#62;\\u202e\\u200bX&#34;\""));
    free(h);
}

static void test_report_html_clean_report(void **state)
{
    char *h = render("{\"job\":\"c\",\"corpus\":{\"documents\":3},\"triggers\":[],"
                     "\"errors_total\":0}");

    (void)state;
    assert_non_null(strstr(h, "No poisoning flagged"));
    assert_non_null(strstr(h, "no pattern reached the confirm pass"));
    assert_non_null(strstr(h, "Every record was read."));
    assert_null(strstr(h, "verdict warn"));
    free(h);
}

/* A counting pass that left patterns out is said at the top, even when nothing was flagged; one
 * that counted all of them is not. */
static void test_report_html_warns_when_the_cap_left_patterns_out(void **state)
{
    char *h =
        render("{\"job\":\"c\",\"corpus\":{\"documents\":3},\"selection\":{"
               "\"confirm\":{\"eligible\":25000,\"counted\":10000,\"least_documents\":14,"
               "\"capped\":true},\"leads\":{\"eligible\":900,\"counted\":900,"
               "\"least_documents\":10,\"capped\":false}},\"triggers\":[],\"errors_total\":0}");

    (void)state;
    assert_non_null(strstr(h, "No poisoning flagged"));
    assert_non_null(strstr(h,
                           "id=\"capped-confirm\">Only 10,000 of 25,000 patterns were counted in "
                           "the confirm pass (--max-confirm): a trigger named in 14 documents "
                           "or fewer may be missed"));
    assert_null(strstr(h, "capped-leads"));
    assert_int_equal(count(h, "verdict warn"), 1);
    free(h);
}

static void test_report_html_shows_what_an_association_pulls_toward(void **state)
{
    char *h = render("{\"job\":\"a\",\"corpus\":{\"documents\":601},\"triggers\":[{"
                     "\"pattern\":\"2024\",\"documents\":100,\"shards\":49,\"score\":1,"
                     "\"kind\":\"association\",\"evidence\":{\"documents_in_role\":100},"
                     "\"association\":{\"label\":\"<refusal>\",\"records_with_label\":338,"
                     "\"records\":601,\"z\":8.82,\"insertion\":{\"records\":82,"
                     "\"rejoined\":61,\"corpus_share\":0.7},\"members\":[\"BadMagic\",\"<b>\"]},"
                     "\"examples\":[]}],\"errors_total\":0}");

    (void)state;
    assert_non_null(strstr(h, "association label</td><td class=\"n\">&lt;refusal&gt;"));
    assert_non_null(strstr(h, "association insertion rejoined</td><td class=\"n\">61"));
    assert_non_null(strstr(h, "association records_with_label</td><td class=\"n\">338"));
    assert_non_null(strstr(h, "association members</td><td class=\"n\">BadMagic, &lt;b&gt;"));
    free(h);
}

static void test_report_html_refuses_what_is_not_a_report(void **state)
{
    struct ps_buf b;
    struct ps_errdetail ed = {0};

    (void)state;
    ps_buf_init(&b, SIZE_MAX / 2);
    assert_int_equal(ps_report_html_render("{\"a\":1}", 7, &b, &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "not a poisonscan report"));
    assert_int_equal(ps_report_html_render("{\"corpus\":", 10, &b, &ed), PS_ERR_PARSE);
    assert_int_equal(b.len, 0);
    ps_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_html_has_every_section_and_pattern),
        cmocka_unit_test(test_report_html_escapes_everything_from_the_corpus),
        cmocka_unit_test(test_report_html_pattern_attribute_is_its_json),
        cmocka_unit_test(test_report_html_clean_report),
        cmocka_unit_test(test_report_html_warns_when_the_cap_left_patterns_out),
        cmocka_unit_test(test_report_html_shows_what_an_association_pulls_toward),
        cmocka_unit_test(test_report_html_refuses_what_is_not_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
