/* test_status_view.c - `poisonscan status`'s view: rates, percent and ETA from the progress hash,
 * every text line within 80 columns even for extreme figures, and a JSON line that parses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/status_view.h"
#include "common/json.h"
#include "common/utf8.h"

#define NOW 1800000000ULL

static struct ps_status running(void)
{
    struct ps_status p;

    memset(&p, 0, sizeof(p));
    snprintf(p.state, sizeof(p.state), "running");
    p.v[PS_STATUS_PASS] = 1;
    p.v[PS_STATUS_SHARDS_TOTAL] = 64;
    p.v[PS_STATUS_SHARDS_DONE] = 16;
    p.v[PS_STATUS_BYTES_TOTAL] = 4000000000ULL;
    p.v[PS_STATUS_BYTES_DONE] = 1000000000ULL;
    p.v[PS_STATUS_DOCS_DONE] = 200000;
    p.v[PS_STATUS_ERRORS] = 9;
    p.v[PS_STATUS_DAMAGED_FILES] = 3;
    p.v[PS_STATUS_WORKERS] = 12;
    p.v[PS_STATUS_STARTED_AT] = NOW - 200;
    p.v[PS_STATUS_PASS_STARTED_AT] = NOW - 100;
    p.v[PS_STATUS_UPDATED_AT] = NOW - 1;
    return p;
}

/* Every line ends in '\n' and is at most 80 columns (code points: the view is ASCII but for the
 * job id). Returns the number of lines. */
static size_t check_width(const struct ps_buf *b)
{
    size_t lines = 0, col = 0;

    assert_true(b->len > 0 && b->data[b->len - 1] == '\n');
    assert_true(ps_utf8_is_valid(b->data, b->len));
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\n') {
            assert_in_range(col, 1, 80);
            col = 0;
            lines++;
        } else if (((unsigned char)b->data[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return lines;
}

static void test_status_rates_of_a_running_pass(void **state)
{
    struct ps_status p = running();
    struct ps_status_rates r;

    (void)state;
    ps_status_rates(&p, NOW, &r);
    assert_false(r.finished);
    assert_int_equal(r.elapsed_s, 200);
    assert_int_equal(r.pass_elapsed_s, 100);
    assert_true(r.percent > 24.99 && r.percent < 25.01);
    assert_true(r.bytes_per_s > 9.99e6 && r.bytes_per_s < 10.01e6);
    assert_true(r.docs_per_s > 1999.0 && r.docs_per_s < 2001.0);
    assert_true(r.has_eta);
    assert_int_equal(r.eta_s, 300); /* 3 GB left at 10 MB/s */
    assert_int_equal(r.stale_s, 0);
}

static void test_status_text_view_shows_everything_in_80_columns(void **state)
{
    struct ps_status p = running();
    struct ps_buf b;

    (void)state;
    ps_buf_init(&b, 1 << 20);
    ps_status_render_text("nightly-01", &p, NOW, &b);
    assert_int_equal(check_width(&b), 8);
    assert_non_null(strstr(b.data, "job      nightly-01\n"));
    assert_non_null(strstr(b.data, "running, pass 1 (scan), elapsed 3m20s"));
    assert_non_null(strstr(b.data, "[##########..............................]  25.0%  ETA 5m00s"));
    assert_non_null(strstr(b.data, "shards   16 of 64 done, 0 failed"));
    assert_non_null(strstr(b.data, "docs     200000 read in this pass, 2000/s"));
    assert_non_null(strstr(b.data, "workers  12 alive"));
    assert_non_null(strstr(b.data, "errors   9 input errors in 3 damaged files"));
    assert_non_null(strstr(b.data, "/s\n"));
    ps_buf_release(&b);
}

static void test_status_text_view_fits_with_extreme_figures(void **state)
{
    struct ps_status p = running();
    char job[65];
    struct ps_buf b;

    (void)state;
    memset(job, 'j', 64);
    job[64] = '\0';
    snprintf(p.state, sizeof(p.state), "finalizing");
    p.v[PS_STATUS_PASS] = 3;
    p.v[PS_STATUS_SHARDS_TOTAL] = 4000000000ULL;
    p.v[PS_STATUS_SHARDS_DONE] = 3999999999ULL;
    p.v[PS_STATUS_SHARDS_FAILED] = 4000000000ULL;
    p.v[PS_STATUS_BYTES_TOTAL] = UINT64_MAX / 2;
    p.v[PS_STATUS_BYTES_DONE] = UINT64_MAX / 3;
    p.v[PS_STATUS_DOCS_DONE] = UINT64_MAX / 3;
    p.v[PS_STATUS_ERRORS] = 999999999999ULL;
    p.v[PS_STATUS_DAMAGED_FILES] = 999999999999ULL;
    p.v[PS_STATUS_WORKERS] = 100000;
    p.v[PS_STATUS_STARTED_AT] = 1;
    p.v[PS_STATUS_PASS_STARTED_AT] = NOW - 1;
    p.v[PS_STATUS_UPDATED_AT] = NOW - 100000;
    ps_buf_init(&b, 1 << 20);
    ps_status_render_text(job, &p, NOW, &b);
    assert_int_equal(check_width(&b), 9); /* with the stale warning */
    assert_non_null(strstr(b.data, "is the coordinator running?"));
    ps_buf_release(&b);
}

static void test_status_done_job_is_complete_without_eta(void **state)
{
    struct ps_status p = running();
    struct ps_status_rates r;
    struct ps_buf b;

    (void)state;
    snprintf(p.state, sizeof(p.state), "done");
    p.v[PS_STATUS_PASS] = 4;
    p.v[PS_STATUS_SHARDS_DONE] = 64;
    p.v[PS_STATUS_BYTES_DONE] = p.v[PS_STATUS_BYTES_TOTAL];
    p.v[PS_STATUS_STARTED_AT] = NOW - 6000;
    p.v[PS_STATUS_UPDATED_AT] = NOW - 5000; /* finished long ago: neither stale nor still ticking */
    ps_status_rates(&p, NOW, &r);
    assert_true(r.finished);
    assert_false(r.has_eta);
    assert_int_equal(r.stale_s, 0);
    assert_int_equal(r.elapsed_s, 1000);
    ps_buf_init(&b, 1 << 20);
    ps_status_render_text("j", &p, NOW, &b);
    check_width(&b);
    assert_non_null(strstr(b.data, "done, pass 4 (list), took "));
    assert_non_null(strstr(b.data, "] 100.0%\n"));
    assert_null(strstr(b.data, "ETA"));
    ps_buf_release(&b);
}

static void test_status_list_pass_counts_shards(void **state)
{
    struct ps_status p = running();
    struct ps_status_rates r;

    (void)state;
    snprintf(p.state, sizeof(p.state), "confirming");
    p.v[PS_STATUS_PASS] = 4;
    p.v[PS_STATUS_SHARDS_DONE] = 48; /* the shards it need not read are done at once */
    p.v[PS_STATUS_BYTES_DONE] = 10;
    ps_status_rates(&p, NOW, &r);
    assert_true(r.percent > 74.99 && r.percent < 75.01);
    assert_false(r.has_eta);
}

static void test_status_json_line_parses(void **state)
{
    struct ps_status p = running();
    struct ps_json *j = ps_json_new(NULL);
    struct ps_json_field f[] = {{.key = "job", .key_len = 3},
                                {.key = "state", .key_len = 5},
                                {.key = "damaged_files", .key_len = 13},
                                {.key = "eta_s", .key_len = 5},
                                {.key = "rate_bytes_per_s", .key_len = 16},
                                {.key = "percent", .key_len = 7}};
    struct ps_buf b;

    (void)state;
    ps_buf_init(&b, 1 << 20);
    ps_status_render_json("a\"b", &p, NOW, &b);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_int_equal(ps_json_parse_line(j, b.data, b.len - 1, f, 6, NULL), PS_OK);
    assert_int_equal(f[0].val_len, 3);
    assert_memory_equal(f[0].val, "a\"b", 3);
    assert_memory_equal(f[1].val, "running", 7);
    assert_memory_equal(f[2].val, "3", 1);
    assert_memory_equal(f[3].val, "300", 3);
    assert_memory_equal(f[4].val, "10000000", 8);
    assert_memory_equal(f[5].val, "25.0", 4);
    snprintf(p.state, sizeof(p.state), "done");
    ps_buf_reset(&b);
    ps_status_render_json("a", &p, NOW, &b);
    assert_int_equal(ps_json_parse_line(j, b.data, b.len - 1, f, 6, NULL), PS_OK);
    assert_int_equal(f[3].val_len, 4);
    assert_memory_equal(f[3].val, "null", 4);
    ps_buf_release(&b);
    ps_json_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_rates_of_a_running_pass),
        cmocka_unit_test(test_status_text_view_shows_everything_in_80_columns),
        cmocka_unit_test(test_status_text_view_fits_with_extreme_figures),
        cmocka_unit_test(test_status_done_job_is_complete_without_eta),
        cmocka_unit_test(test_status_list_pass_counts_shards),
        cmocka_unit_test(test_status_json_line_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
