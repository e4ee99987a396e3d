/* test_cli_bounds.c - every bounded option of `scan` and `coordinator` at, just inside and just
 * outside its bounds: a value outside is a usage error naming the option; a value the option
 * table takes is either refused by ps_cli_coord_check (naming the option: exit 3 before any
 * work) or accepted by the scanner every worker builds from the lease's settings. Never does the
 * CLI take a value that a worker then refuses (the shard would fail on every worker). Also the
 * three reproduced bugs of the architecture issue and `--partitions 3`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clsketch.h"
#include "worker/scan.h"
#include "worker/worker.h"

enum verdict { PARSE_REFUSED, CHECK_REFUSED, ACCEPTED };

/* Parse `--flag value` (plus `extra`, may be NULL) as subcommand `embedded ? scan : coordinator`
 * would, check it as the CLI does and, if accepted, build the worker's scanner from the
 * settings the leases would carry. A refusal must name `flag` in its message. */
static enum verdict try_value(bool embedded, const char *flag, const char *value,
                              const char *const *extra)
{
    struct ps_opt table[PS_CLI_COORD_OPTS];
    struct ps_cli_coord v;
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_coordinator_opts o;
    char opt[96], *argv[16];
    int argc = 0, owned;
    size_t n = ps_cli_coord_table(table, &v, embedded);
    enum verdict out = ACCEPTED;

    snprintf(opt, sizeof(opt), "--%s", flag);
    argv[argc++] = strdup(embedded ? "scan" : "coordinator");
    argv[argc++] = strdup(opt);
    argv[argc++] = strdup(value);
    argv[argc++] = strdup("--signatures"); /* so that --signature-k is checked too */
    argv[argc++] = strdup("/nonexistent/sigs");
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[argc++] = strdup(extra[i]);
    argv[argc++] = strdup("corpus");
    owned = argc;
    if (ps_opts_parse(table, n, argc, argv, "test", stdout, &res, &ed) != PS_OK) {
        out = PARSE_REFUSED;
    } else {
        ps_cli_coord_opts(&v, (const char *const *)res.positional, res.n_positional, &o);
        o.n_redis = 1;
        if (!ps_cli_coord_check(&o, &ed)) {
            out = CHECK_REFUSED;
        } else {
            /* what a worker does with a lease of these settings (worker.c ensure_scan) */
            Poisonscan__ScanSettings st;
            struct ps_scan_opts so;
            struct ps_scan *scan = NULL;
            struct ps_errdetail wed = {0};
            unsigned log2 = o.cluster_sketch_log2 ? o.cluster_sketch_log2 : PS_CLSKETCH_LOG2_MIN;

            ps_coordinator_scan_settings(&o, o.clusters ? log2 : 0, o.partitions, o.signatures_dir,
                                         &st);
            ps_worker_scan_opts(&st, &so);
            if (ps_scan_new(&scan, &so, &wed) != PS_OK)
                fail_msg("--%s %s: accepted by the CLI, refused by the worker: %s", flag, value,
                         wed.msg);
            ps_scan_free(scan);
        }
    }
    if (out != ACCEPTED && strstr(ed.msg, opt) == NULL)
        fail_msg("--%s %s refused without naming the option: '%s'", flag, value, ed.msg);
    ps_opts_release(table, n, &res);
    for (int i = 0; i < owned; i++)
        free(argv[i]);
    return out;
}

static void format_value(const struct ps_opt *t, uint64_t u, double d, char *buf, size_t cap)
{
    if (t->type == PS_OPT_DOUBLE)
        snprintf(buf, cap, "%.17g", d);
    else if (t->type == PS_OPT_DURATION)
        snprintf(buf, cap, "%" PRIu64 "ms", u);
    else
        snprintf(buf, cap, "%" PRIu64, u);
}

/* One option: at min and max accepted by the table; min - 1 and max + 1 refused by it; every
 * value in between consistent (try_value). */
static void walk_option(bool embedded, const struct ps_opt *t, int *walked)
{
    char buf[64];

    if (t->type == PS_OPT_DOUBLE) {
        if (t->dmin == 0 && t->dmax == 0)
            return;
        const double in[] = {t->dmin, t->dmin * 1.5, t->dmax * 0.999, t->dmax};
        for (size_t i = 0; i < 4; i++) {
            format_value(t, 0, in[i], buf, sizeof(buf));
            if (i == 0 || i == 3)
                assert_int_not_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
            else
                (void)try_value(embedded, t->flag, buf, NULL);
        }
        format_value(t, 0, t->dmin / 2, buf, sizeof(buf));
        assert_int_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
        format_value(t, 0, t->dmax * 1.001 + 1e-9, buf, sizeof(buf));
        assert_int_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
    } else if (t->type == PS_OPT_U64 || t->type == PS_OPT_SIZE || t->type == PS_OPT_DURATION) {
        if (t->min == 0 && t->max == 0)
            return;
        const uint64_t in[] = {t->min, t->min + 1, t->max - 1, t->max};
        for (size_t i = 0; i < 4; i++) {
            format_value(t, in[i], 0, buf, sizeof(buf));
            if (i == 0 || i == 3)
                assert_int_not_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
            else
                (void)try_value(embedded, t->flag, buf, NULL);
        }
        if (t->min > 0) {
            format_value(t, t->min - 1, 0, buf, sizeof(buf));
            assert_int_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
        }
        format_value(t, t->max + 1, 0, buf, sizeof(buf));
        assert_int_equal(try_value(embedded, t->flag, buf, NULL), PARSE_REFUSED);
    } else {
        return;
    }
    (*walked)++;
}

static void walk_table(bool embedded)
{
    struct ps_opt table[PS_CLI_COORD_OPTS];
    struct ps_cli_coord v;
    size_t n = ps_cli_coord_table(table, &v, embedded);
    int walked = 0;

    for (size_t i = 0; i < n; i++)
        walk_option(embedded, &table[i], &walked);
    /* the bounded ones today: more than a handful, so the walk cannot pass by finding none */
    assert_true(walked >= 15);
}

static void test_scan_options_walked(void **state)
{
    (void)state;
    walk_table(true);
}

static void test_coordinator_options_walked(void **state)
{
    (void)state;
    walk_table(false);
}

/* --window 8 was taken by the CLI (minimum 8) and refused by every worker (minimum 16). */
static void test_window_below_detector_minimum(void **state)
{
    (void)state;
    assert_int_equal(try_value(true, "window", "8", NULL), PARSE_REFUSED);
    assert_int_equal(try_value(true, "window", "15", NULL), PARSE_REFUSED);
    assert_int_equal(try_value(true, "window", "16", NULL), ACCEPTED);
}

/* --cluster-sketch-log2 5 was refused only inside the coordinator, after connecting to Redis. */
static void test_cluster_sketch_log2_gap(void **state)
{
    (void)state;
    assert_int_equal(try_value(true, "cluster-sketch-log2", "5", NULL), CHECK_REFUSED);
    assert_int_equal(try_value(false, "cluster-sketch-log2", "11", NULL), CHECK_REFUSED);
    assert_int_equal(try_value(true, "cluster-sketch-log2", "0", NULL), ACCEPTED);
    assert_int_equal(try_value(true, "cluster-sketch-log2", "12", NULL), ACCEPTED);
}

/* A --text-field of 1,100 bytes made an invalid report.json (a truncated settings text). */
static void test_long_text_field(void **state)
{
    char field[1101];

    (void)state;
    memset(field, 'k', sizeof(field) - 1);
    field[sizeof(field) - 1] = '\0';
    assert_int_equal(try_value(true, "text-field", field, NULL), CHECK_REFUSED);
    field[PS_READER_FIELD_MAX] = '\0';
    assert_int_equal(try_value(true, "text-field", field, NULL), ACCEPTED);
    memset(field, 'k', sizeof(field) - 1);
    assert_int_equal(try_value(false, "id-field", field, NULL), CHECK_REFUSED);
}

/* --partitions 3 was refused only after redis-server and the workers had started. */
static void test_partitions_power_of_two(void **state)
{
    (void)state;
    assert_int_equal(try_value(true, "partitions", "3", NULL), CHECK_REFUSED);
    assert_int_equal(try_value(true, "partitions", "4", NULL), ACCEPTED);
    assert_int_equal(try_value(true, "signature-k", "24", NULL), CHECK_REFUSED);
    assert_int_equal(try_value(true, "signature-k", "32", NULL), ACCEPTED);
}

/* The whole subcommand exits 3 on each of them, naming the option, before it starts anything:
 * given a Redis endpoint that does not exist and no retry, a run that went on would end with
 * exit 4 ("cannot connect") instead. */
static void test_scan_exits_3_before_any_work(void **state)
{
    const char *bad[][2] = {{"--window", "8"},
                            {"--cluster-sketch-log2", "5"},
                            {"--partitions", "3"},
                            {"--text-field", NULL}};
    char field[PS_READER_FIELD_MAX + 2];

    (void)state;
    memset(field, 'k', sizeof(field) - 1);
    field[sizeof(field) - 1] = '\0';
    bad[3][1] = field;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {strdup("scan"),
                        strdup(bad[i][0]),
                        strdup(bad[i][1]),
                        strdup("--redis"),
                        strdup("unix:///nonexistent/redis.sock"),
                        strdup("--redis-retry"),
                        strdup("0"),
                        strdup("--workers"),
                        strdup("1"),
                        strdup(PS_TEST_DATA_DIR),
                        NULL};
        const int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
        char said[1024] = "";
        FILE *err = tmpfile();
        int saved = dup(2), rc;

        assert_non_null(err);
        fflush(stderr);
        dup2(fileno(err), 2);
        rc = ps_cmd_scan(argc, argv);
        for (int j = 0; j < argc; j++)
            free(argv[j]);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        rewind(err);
        said[fread(said, 1, sizeof(said) - 1, err)] = '\0';
        fclose(err);
        assert_int_equal(rc, PS_EXIT_USAGE);
        if (strstr(said, bad[i][0]) == NULL)
            fail_msg("scan %s: exit 3 without naming the option: %s", bad[i][0], said);
    }
}

int main(int argc, char **argv)
{
    /* a scan that went ahead would start its workers as this executable: stop them at once */
    if (argc > 1 && strcmp(argv[1], "worker") == 0)
        return 99;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_options_walked),
        cmocka_unit_test(test_coordinator_options_walked),
        cmocka_unit_test(test_window_below_detector_minimum),
        cmocka_unit_test(test_cluster_sketch_log2_gap),
        cmocka_unit_test(test_long_text_field),
        cmocka_unit_test(test_partitions_power_of_two),
        cmocka_unit_test(test_scan_exits_3_before_any_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
