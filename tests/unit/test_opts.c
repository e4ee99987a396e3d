/* test_opts.c - the option table: defaults, environment over default, command line over
 * environment, both value spellings, repeatable lists, bounds and their messages, unknown and
 * incomplete options, "--", --help text, and secrets that never reach any output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opts.h"

struct cfg {
    uint64_t workers;
    uint64_t shard_size;
    uint64_t timeout_ms;
    double threshold;
    bool verbose;
    bool color;
    const char *out;
    const char *password;
    struct ps_strlist tags;
    int format;
};

static struct cfg c;

static const char *const formats[] = {"json", "text", "csv", NULL};

static const struct ps_opt table[] = {
    {.flag = "workers",
     .env = "POISONSCAN_T_WORKERS",
     .type = PS_OPT_U64,
     .target = &c.workers,
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "worker threads"},
    {.flag = "shard-size",
     .env = "POISONSCAN_T_SHARD_SIZE",
     .type = PS_OPT_SIZE,
     .target = &c.shard_size,
     .def = "256M",
     .min = 1 << 20,
     .max = 1ULL << 40,
     .help = "bytes per shard"},
    {.flag = "timeout",
     .env = "POISONSCAN_T_TIMEOUT",
     .type = PS_OPT_DURATION,
     .target = &c.timeout_ms,
     .def = "30s",
     .help = "lease timeout"},
    {.flag = "threshold",
     .env = "POISONSCAN_T_THRESHOLD",
     .type = PS_OPT_DOUBLE,
     .target = &c.threshold,
     .def = "0.8",
     .dmin = 0.0,
     .dmax = 1.0,
     .help = "jaccard threshold"},
    {.flag = "verbose",
     .env = "POISONSCAN_T_VERBOSE",
     .type = PS_OPT_BOOL,
     .target = &c.verbose,
     .help = "say more"},
    {.flag = "color",
     .type = PS_OPT_BOOL,
     .target = &c.color,
     .def = "true",
     .help = "colour output"},
    {.flag = "out",
     .env = "POISONSCAN_T_OUT",
     .type = PS_OPT_STRING,
     .target = &c.out,
     .help = "report path",
     .metavar = "PATH"},
    {.flag = "redis-password",
     .env = "POISONSCAN_T_PASSWORD",
     .type = PS_OPT_SECRET,
     .target = &c.password,
     .def = "hunter2default",
     .help = "redis AUTH password"},
    {.flag = "tag",
     .env = "POISONSCAN_T_TAGS",
     .type = PS_OPT_LIST,
     .target = &c.tags,
     .def = "d1,d2",
     .help = "label"},
    {.flag = "format",
     .env = "POISONSCAN_T_FORMAT",
     .type = PS_OPT_ENUM,
     .target = &c.format,
     .def = "text",
     .choices = formats,
     .help = "report format"},
};
#define N_OPTS (sizeof(table) / sizeof(table[0]))

static const char *const env_names[] = {
    "POISONSCAN_T_WORKERS",   "POISONSCAN_T_SHARD_SIZE", "POISONSCAN_T_TIMEOUT",
    "POISONSCAN_T_THRESHOLD", "POISONSCAN_T_VERBOSE",    "POISONSCAN_T_OUT",
    "POISONSCAN_T_PASSWORD",  "POISONSCAN_T_TAGS",       "POISONSCAN_T_FORMAT"};

static struct ps_opts_result res;
static struct ps_errdetail ed;
static bool parsed; /* the table's lists hold allocations only after a parse */

static int setup(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    memset(&c, 0x5a, sizeof(c)); /* parse must not rely on initialised targets */
    memset(&res, 0, sizeof(res));
    memset(&ed, 0, sizeof(ed));
    parsed = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (parsed)
        ps_opts_release(table, N_OPTS, &res);
    return 0;
}

/* Parse a NULL-terminated argument list; argv[0] is "scan". */
static enum ps_err parse(const char *first, ...)
{
    static char *argv[32];
    va_list ap;
    int argc = 0;
    const char *a;

    argv[argc++] = (char *)(uintptr_t) "scan";
    va_start(ap, first);
    for (a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)(uintptr_t)a;
    va_end(ap);
    argv[argc] = NULL;
    if (parsed)
        ps_opts_release(table, N_OPTS, &res);
    parsed = true;
    return ps_opts_parse(table, N_OPTS, argc, argv, "poisonscan scan [options] PATH...", NULL, &res,
                         &ed);
}

static void test_opts_defaults_apply_to_every_type(void **state)
{
    (void)state;
    assert_int_equal(parse(NULL), PS_OK);
    assert_int_equal(c.workers, 4);
    assert_true(c.shard_size == 256ULL << 20);
    assert_int_equal(c.timeout_ms, 30000);
    assert_true(c.threshold == 0.8);
    assert_false(c.verbose);
    assert_true(c.color);
    assert_null(c.out);
    assert_string_equal(c.password, "hunter2default");
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.items[0], "d1");
    assert_string_equal(c.tags.items[1], "d2");
    assert_int_equal(c.format, 1);
    assert_int_equal(res.n_positional, 0);
    assert_false(res.help_shown);
}

static void test_opts_env_overrides_default(void **state)
{
    (void)state;
    setenv("POISONSCAN_T_WORKERS", "16", 1);
    setenv("POISONSCAN_T_SHARD_SIZE", "64MiB", 1);
    setenv("POISONSCAN_T_TIMEOUT", "2m", 1);
    setenv("POISONSCAN_T_VERBOSE", "yes", 1);
    setenv("POISONSCAN_T_TAGS", "e1,,e2,", 1);
    setenv("POISONSCAN_T_FORMAT", "csv", 1);
    setenv("POISONSCAN_T_OUT", "", 1); /* empty counts as unset */
    assert_int_equal(parse(NULL), PS_OK);
    assert_int_equal(c.workers, 16);
    assert_true(c.shard_size == 64ULL << 20);
    assert_int_equal(c.timeout_ms, 120000);
    assert_true(c.verbose);
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.items[0], "e1");
    assert_string_equal(c.tags.items[1], "e2");
    assert_int_equal(c.format, 2);
    assert_null(c.out);
}

static void test_opts_cli_overrides_env(void **state)
{
    (void)state;
    setenv("POISONSCAN_T_WORKERS", "16", 1);
    setenv("POISONSCAN_T_OUT", "/env/out.json", 1);
    setenv("POISONSCAN_T_TAGS", "e1,e2", 1);
    assert_int_equal(parse("--workers", "32", "--out=/cli/out.json", "--tag", "c1", NULL), PS_OK);
    assert_int_equal(c.workers, 32);
    assert_string_equal(c.out, "/cli/out.json");
    assert_int_equal(c.tags.n, 1); /* replaced, not appended to env's */
    assert_string_equal(c.tags.items[0], "c1");
}

static void test_opts_equals_and_separate_value_spellings(void **state)
{
    (void)state;
    assert_int_equal(parse("--workers=7", "--threshold", "0.25", "--timeout=1h30m", "--shard-size",
                           "2G", "--format=json", NULL),
                     PS_OK);
    assert_int_equal(c.workers, 7);
    assert_true(c.threshold == 0.25);
    assert_int_equal(c.timeout_ms, 5400000);
    assert_true(c.shard_size == 2ULL << 30);
    assert_int_equal(c.format, 0);
    /* an '=' inside the value stays in the value */
    assert_int_equal(parse("--out=a=b", NULL), PS_OK);
    assert_string_equal(c.out, "a=b");
    /* a value may look like an option */
    assert_int_equal(parse("--out", "--workers", NULL), PS_OK);
    assert_string_equal(c.out, "--workers");
    assert_int_equal(c.workers, 4);
}

static void test_opts_repeated_list_and_last_scalar_wins(void **state)
{
    (void)state;
    assert_int_equal(
        parse("--tag", "a", "--workers", "2", "--tag=b", "--tag", "c,d", "--workers", "3", NULL),
        PS_OK);
    assert_int_equal(c.tags.n, 3);
    assert_string_equal(c.tags.items[0], "a");
    assert_string_equal(c.tags.items[1], "b");
    assert_string_equal(c.tags.items[2], "c,d"); /* no comma splitting on the command line */
    assert_int_equal(c.workers, 3);
}

static void test_opts_bool_flag_and_words(void **state)
{
    (void)state;
    assert_int_equal(parse("--verbose", "--color=false", NULL), PS_OK);
    assert_true(c.verbose);
    assert_false(c.color);
    assert_int_equal(parse("--verbose=OFF", "--color=1", NULL), PS_OK);
    assert_false(c.verbose);
    assert_true(c.color);
    /* a bool flag does not eat the next argument */
    assert_int_equal(parse("--verbose", "false", NULL), PS_OK);
    assert_true(c.verbose);
    assert_int_equal(res.n_positional, 1);
    assert_string_equal(res.positional[0], "false");
    assert_int_equal(parse("--verbose=maybe", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "--verbose"));
}

static void test_opts_bounds_name_the_flag(void **state)
{
    (void)state;
    assert_int_equal(parse("--workers", "0", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--workers: '0' is below the minimum 1");
    assert_int_equal(parse("--workers=257", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--workers: '257' is above the maximum 256");
    assert_int_equal(parse("--shard-size", "4k", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--shard-size: '4k' is below the minimum 1 MiB");
    assert_int_equal(parse("--threshold", "1.5", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--threshold: '1.5' is above the maximum 1");
    assert_int_equal(parse("--threshold", "-0.1", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "below the minimum 0"));
    assert_int_equal(parse("--workers", "256", "--shard-size", "1M", NULL), PS_OK);
}

static void test_opts_bad_values_rejected(void **state)
{
    (void)state;
    assert_int_equal(parse("--workers", "four", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "--workers: 'four'"));
    assert_int_equal(parse("--threshold", "nan", NULL), PS_ERR_USAGE);
    assert_int_equal(parse("--threshold", "inf", NULL), PS_ERR_USAGE);
    assert_int_equal(parse("--threshold", "0x1p-1", NULL), PS_ERR_USAGE);
    assert_int_equal(parse("--threshold", " 0.5", NULL), PS_ERR_USAGE);
    assert_int_equal(parse("--threshold", "0.5x", NULL), PS_ERR_USAGE);
    assert_int_equal(parse("--timeout", "5 minutes", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "--timeout: "));
    assert_int_equal(parse("--format", "xml", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--format: 'xml' is not one of: json, text, csv");
    assert_int_equal(parse("--format", "JSON", NULL), PS_ERR_USAGE);
}

static void test_opts_bad_env_value_names_the_variable(void **state)
{
    (void)state;
    setenv("POISONSCAN_T_WORKERS", "0", 1);
    assert_int_equal(parse(NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "POISONSCAN_T_WORKERS: '0' is below the minimum 1");
}

static void test_opts_unknown_and_incomplete_options(void **state)
{
    (void)state;
    assert_int_equal(parse("--wrokers", "4", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "unknown option '--wrokers'"));
    assert_int_equal(parse("--wrokers=4", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "'--wrokers'"));
    assert_int_equal(parse("-w", NULL), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "unknown option '-w'"));
    assert_int_equal(parse("--workers", NULL), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "--workers needs a value");
    assert_int_equal(parse("--work", "4", NULL), PS_ERR_USAGE); /* no prefix matching */
    assert_int_equal(parse("---workers", "4", NULL), PS_ERR_USAGE);
}

static void test_opts_positionals_and_double_dash(void **state)
{
    (void)state;
    assert_int_equal(parse("a.jsonl", "--workers", "2", "-", "b/", "--", "--verbose", "-h", NULL),
                     PS_OK);
    assert_int_equal(c.workers, 2);
    assert_false(c.verbose);
    assert_false(res.help_shown);
    assert_int_equal(res.n_positional, 5);
    assert_string_equal(res.positional[0], "a.jsonl");
    assert_string_equal(res.positional[1], "-");
    assert_string_equal(res.positional[2], "b/");
    assert_string_equal(res.positional[3], "--verbose");
    assert_string_equal(res.positional[4], "-h");
}

static void capture_help(char **text, size_t *len)
{
    FILE *f = open_memstream(text, len);

    assert_non_null(f);
    ps_opts_print_help(f, "poisonscan scan [options] PATH...", table, N_OPTS);
    fclose(f);
}

/* Column where `needle` starts on its line. */
static size_t column_of(const char *text, const char *needle)
{
    const char *a = strstr(text, needle);
    size_t col = 0;

    assert_non_null(a);
    while (a > text && a[-1] != '\n') {
        a--;
        col++;
    }
    return col;
}

static void test_opts_help_lists_flags_defaults_and_env(void **state)
{
    char *text = NULL;
    size_t len = 0;

    (void)state;
    capture_help(&text, &len);
    assert_non_null(strstr(text, "usage: poisonscan scan [options] PATH..."));
    assert_non_null(strstr(text, "--workers N"));
    assert_non_null(
        strstr(text, "worker threads [default: 4] [1..256] [env: POISONSCAN_T_WORKERS]"));
    assert_non_null(strstr(text, "--shard-size SIZE"));
    assert_non_null(strstr(text, "[1 MiB..1 TiB]"));
    assert_non_null(strstr(text, "--out PATH"));
    assert_non_null(strstr(text, "--format {json|text|csv}"));
    assert_non_null(strstr(text, "[default: 30s]"));
    assert_non_null(strstr(text, "[repeatable]"));
    assert_non_null(strstr(text, "-h, --help"));
    assert_null(strstr(text, "hunter2default"));
    assert_non_null(strstr(text, "[default: (hidden)]"));
    /* help texts start in one column */
    assert_int_equal(column_of(text, "worker threads"), column_of(text, "report path"));
    assert_int_equal(column_of(text, "worker threads"), column_of(text, "show this help"));
    free(text);
}

static void test_opts_help_flag_stops_parsing(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *argv[] = {(char *)(uintptr_t) "scan", (char *)(uintptr_t) "--workers=9",
                    (char *)(uintptr_t) "-h", (char *)(uintptr_t) "--bogus", NULL};

    (void)state;
    assert_non_null(f);
    parsed = true;
    assert_int_equal(ps_opts_parse(table, N_OPTS, 4, argv, "poisonscan scan", f, &res, &ed), PS_OK);
    fclose(f);
    assert_true(res.help_shown);
    assert_non_null(strstr(text, "--redis-password SECRET"));
    free(text);
}

static void test_opts_secret_never_printed(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    setenv("POISONSCAN_T_PASSWORD", "envsecret42", 1);
    assert_int_equal(parse("--redis-password", "clisecret99", "--out", "r.json", NULL), PS_OK);
    assert_string_equal(c.password, "clisecret99");
    f = open_memstream(&text, &len);
    assert_non_null(f);
    ps_opts_print_help(f, "x", table, N_OPTS);
    ps_opts_print_values(f, table, N_OPTS);
    fclose(f);
    assert_null(strstr(text, "clisecret99"));
    assert_null(strstr(text, "envsecret42"));
    assert_null(strstr(text, "hunter2default"));
    assert_non_null(strstr(text, "redis-password = (hidden)"));
    assert_non_null(strstr(text, "out = r.json"));
    assert_non_null(strstr(text, "workers = 4"));
    assert_non_null(strstr(text, "shard-size = 256 MiB (268435456)"));
    assert_non_null(strstr(text, "timeout = 30s"));
    assert_non_null(strstr(text, "tag = d1, d2"));
    assert_non_null(strstr(text, "format = text"));
    free(text);
}

static void test_opts_bad_default_is_reported(void **state)
{
    uint64_t v;
    const struct ps_opt bad[] = {
        {.flag = "n", .type = PS_OPT_U64, .target = &v, .def = "0", .min = 1, .max = 9},
    };
    char *argv[] = {(char *)(uintptr_t) "x", NULL};

    (void)state;
    assert_int_equal(ps_opts_parse(bad, 1, 1, argv, "x", NULL, &res, &ed), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "default of --n: '0' is below the minimum 1");
    ps_opts_release(bad, 1, &res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_opts_defaults_apply_to_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_env_overrides_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_cli_overrides_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_equals_and_separate_value_spellings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_opts_repeated_list_and_last_scalar_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_opts_bool_flag_and_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_bounds_name_the_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_bad_values_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_bad_env_value_names_the_variable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_opts_unknown_and_incomplete_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_positionals_and_double_dash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_help_lists_flags_defaults_and_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_opts_help_flag_stops_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_secret_never_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opts_bad_default_is_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
