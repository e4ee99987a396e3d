/* opts.h - the declarative option table every subcommand uses (STYLE.md section 9): one
 * table parses defaults, POISONSCAN_* environment and command line, validates, prints --help
 * and prints the effective values. Precedence: default < environment < command line.
 *
 * Command-line syntax: "--flag value", "--flag=value", "--bool-flag" (or "--bool-flag=false"),
 * "-h"/"--help", "--" ends options; anything else not starting with '-' (and a lone "-") is a
 * positional argument, and options may come after positionals. Empty environment variables
 * count as unset. A table is plain static data; nothing in it is modified. */
#ifndef PS_CLI_OPTS_H
#define PS_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

enum ps_opt_type {
    PS_OPT_BOOL,     /* bool *: no value on the command line; env/default words true/false,
                        1/0, yes/no, on/off (any case) */
    PS_OPT_STRING,   /* const char **: a view into argv, the environment or `def` */
    PS_OPT_SECRET,   /* const char **: like STRING, but the value is never printed */
    PS_OPT_SIZE,     /* uint64_t *: ps_units_parse_size ("64M", "1GiB"), bounds min/max */
    PS_OPT_DURATION, /* uint64_t *: milliseconds, ps_units_parse_duration_ms, bounds min/max */
    PS_OPT_U64,      /* uint64_t *: plain decimal, bounds min/max */
    PS_OPT_DOUBLE,   /* double *: finite decimal, bounds dmin/dmax */
    PS_OPT_LIST,     /* struct ps_strlist *: repeatable flag, one item per occurrence; env and
                        default text are comma-separated; the command line replaces (does not
                        extend) what environment or default gave */
    PS_OPT_ENUM      /* int *: index into `choices` (exact, case-sensitive match); -1 if unset */
};

/* Items and their strings are owned by the list; ps_opts_release() frees them. */
struct ps_strlist {
    char **items;
    size_t n;
};

struct ps_opt {
    const char *flag; /* "workers" for --workers; required, unique, not "help" */
    const char *env;  /* "POISONSCAN_WORKERS", or NULL for no environment variable */
    enum ps_opt_type type;
    void *target;      /* borrowed: where the value goes, type as listed above; required */
    const char *def;   /* default as text, parsed like input; NULL = zero, false, NULL, -1 */
    uint64_t min, max; /* SIZE, DURATION (ms), U64: both 0 means unbounded */
    double dmin, dmax; /* DOUBLE: both 0 means unbounded */
    const char *const *choices; /* ENUM: NULL-terminated list of allowed words */
    const char *help;           /* one line for --help */
    const char *metavar;        /* value name in --help ("N", "PATH"); NULL picks one by type */
};

struct ps_opts_result {
    char **positional; /* owned array (ps_opts_release); the strings are views into argv */
    size_t n_positional;
    bool help_shown; /* --help was given: help went to `help_out`, nothing else parsed */
};

/* Parse argv[1..argc-1] (argv[0] is the subcommand name, used in messages) against `table`
 * (n_opts entries, borrowed). Every target is first set to its default, then to its environment
 * value, then to command-line values; targets need no initialisation. On --help or -h the help
 * is printed to `help_out` (NULL: stdout) and parsing stops with PS_OK and help_shown set.
 * Call ps_opts_release(table, n_opts, res) afterwards WHATEVER this returned: lists and the
 * positional array may have been allocated before an error.
 * `usage` (borrowed) is the usage line without "usage: " ("poisonscan scan [options] PATH...").
 * @return PS_OK or PS_ERR_USAGE with a message naming the flag or variable in `ed`
 *         ("--workers: '0' is below the minimum 1", "unknown option '--bogus'").
 * A malformed table (missing flag or target, duplicate flag) is a bug: ps_bug() aborts.
 * Not thread-safe (reads the environment). */
enum ps_err ps_opts_parse(const struct ps_opt *table, size_t n_opts, int argc, char **argv,
                          const char *usage, FILE *help_out, struct ps_opts_result *res,
                          struct ps_errdetail *ed);

/* Print "usage: <usage>" and an aligned table of options with metavars, help, defaults,
 * bounds, allowed words and environment names. Secret defaults are shown as "(hidden)". */
void ps_opts_print_help(FILE *out, const char *usage, const struct ps_opt *table, size_t n_opts);

/* Print the current value of every option, one "flag = value" line each, for logs and
 * `--print-config`; secrets print as "(hidden)" or "(unset)", never their value. */
void ps_opts_print_values(FILE *out, const struct ps_opt *table, size_t n_opts);

/* Free every PS_OPT_LIST target's items (leaving {NULL, 0}) and res's positional array (res may
 * be NULL). Safe to call twice. */
void ps_opts_release(const struct ps_opt *table, size_t n_opts, struct ps_opts_result *res);

/* Free a list's items and leave it empty. */
void ps_opts_list_release(struct ps_strlist *l);

#endif
