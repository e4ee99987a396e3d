/* opts.c - one option table drives defaults, environment, command line, --help and the
 * printed effective config, so the four can never disagree. Values are parsed by common/units
 * so "64M" means the same on the command line, in the environment and in a default. */
#include "cli/opts.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"

/* Width of the flag column in --help; longer flags push their help to the next line. */
#define HELP_COL_MAX 34
/* How much of a bad value is quoted back in messages. */
#define QUOTE_MAX 48

static bool has_bounds(const struct ps_opt *o)
{
    return o->min != 0 || o->max != 0;
}

static bool has_dbounds(const struct ps_opt *o)
{
    return o->dmin != 0.0 || o->dmax != 0.0;
}

static bool eq_nocase(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        if (x != *b)
            return false;
    }
    return *a == *b;
}

static bool parse_bool_word(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (eq_nocase(s, yes[i])) {
            *out = true;
            return true;
        }
        if (eq_nocase(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

void ps_opts_list_release(struct ps_strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void list_push(struct ps_strlist *l, const char *s, size_t n)
{
    l->items = ps_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = ps_xstrndup(s, n);
}

/* Comma-separated text (environment, default) into the list; empty items are skipped. */
static void list_split(struct ps_strlist *l, const char *s)
{
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (n > 0)
            list_push(l, s, n);
        s += n + (comma != NULL ? 1 : 0);
    }
}

static void fmt_bound(const struct ps_opt *o, uint64_t v, char *dst, size_t dst_cap)
{
    if (o->type == PS_OPT_SIZE)
        ps_units_format_size(v, dst, dst_cap);
    else if (o->type == PS_OPT_DURATION)
        ps_units_format_duration_ms(v, dst, dst_cap);
    else
        snprintf(dst, dst_cap, "%" PRIu64, v);
}

/* Parse `text` (borrowed, must outlive the target for STRING/SECRET) into o->target. `src` names
 * where the text came from ("--workers", "POISONSCAN_WORKERS", "default of --workers"). */
static enum ps_err apply(const struct ps_opt *o, const char *text, const char *src,
                         struct ps_errdetail *ed)
{
    struct ps_errdetail sub;
    enum ps_err err;

    switch (o->type) {
    case PS_OPT_BOOL:
        if (!parse_bool_word(text, o->target)) {
            ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is not a boolean (true/false, 1/0, yes/no)",
                             src, QUOTE_MAX, text);
            return PS_ERR_USAGE;
        }
        return PS_OK;
    case PS_OPT_STRING:
    case PS_OPT_SECRET:
        *(const char **)o->target = text;
        return PS_OK;
    case PS_OPT_SIZE:
    case PS_OPT_DURATION:
    case PS_OPT_U64: {
        uint64_t v = 0, lo = 0, hi = UINT64_MAX;
        char b[PS_UNITS_DURATION_STRLEN];

        if (has_bounds(o)) {
            lo = o->min;
            hi = o->max;
        }
        if (o->type == PS_OPT_SIZE)
            err = ps_units_parse_size(text, &v, &sub);
        else if (o->type == PS_OPT_DURATION)
            err = ps_units_parse_duration_ms(text, &v, &sub);
        else
            err = ps_units_parse_u64(text, lo, hi, &v, &sub);
        if (err != PS_OK) {
            ps_errdetail_set(ed, NULL, 0, "%s: %s", src, sub.msg);
            return err;
        }
        if (v < lo || v > hi) {
            fmt_bound(o, v < lo ? lo : hi, b, sizeof(b));
            ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is %s the %s %s", src, QUOTE_MAX, text,
                             v < lo ? "below" : "above", v < lo ? "minimum" : "maximum", b);
            return PS_ERR_USAGE;
        }
        *(uint64_t *)o->target = v;
        return PS_OK;
    }
    case PS_OPT_DOUBLE: {
        char *end;
        double v;

        /* strtod would also take blanks, hex floats, "inf" and "nan": allow plain decimals. */
        if (!((text[0] >= '0' && text[0] <= '9') || text[0] == '-' || text[0] == '+' ||
              text[0] == '.') ||
            strpbrk(text, "xXnN") != NULL) {
            ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is not a number", src, QUOTE_MAX, text);
            return PS_ERR_USAGE;
        }
        errno = 0;
        v = strtod(text, &end);
        if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) {
            ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is not a finite number", src, QUOTE_MAX,
                             text);
            return PS_ERR_USAGE;
        }
        if (has_dbounds(o) && (v < o->dmin || v > o->dmax)) {
            ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is %s the %s %g", src, QUOTE_MAX, text,
                             v < o->dmin ? "below" : "above", v < o->dmin ? "minimum" : "maximum",
                             v < o->dmin ? o->dmin : o->dmax);
            return PS_ERR_USAGE;
        }
        *(double *)o->target = v;
        return PS_OK;
    }
    case PS_OPT_LIST:
        list_push(o->target, text, strlen(text));
        return PS_OK;
    case PS_OPT_ENUM: {
        size_t i, n = 0;
        char words[160];

        for (i = 0; o->choices[i] != NULL; i++) {
            if (strcmp(text, o->choices[i]) == 0) {
                *(int *)o->target = (int)i;
                return PS_OK;
            }
        }
        words[0] = '\0';
        for (i = 0; o->choices[i] != NULL && n < sizeof(words); i++) {
            int w =
                snprintf(words + n, sizeof(words) - n, "%s%s", i > 0 ? ", " : "", o->choices[i]);
            if (w < 0)
                break;
            n += (size_t)w;
        }
        ps_errdetail_set(ed, NULL, 0, "%s: '%.*s' is not one of: %s", src, QUOTE_MAX, text, words);
        return PS_ERR_USAGE;
    }
    }
    ps_bug("option --%s has unknown type %d", o->flag, (int)o->type);
}

static void set_zero(const struct ps_opt *o)
{
    switch (o->type) {
    case PS_OPT_BOOL:
        *(bool *)o->target = false;
        break;
    case PS_OPT_STRING:
    case PS_OPT_SECRET:
        *(const char **)o->target = NULL;
        break;
    case PS_OPT_SIZE:
    case PS_OPT_DURATION:
    case PS_OPT_U64:
        *(uint64_t *)o->target = 0;
        break;
    case PS_OPT_DOUBLE:
        *(double *)o->target = 0.0;
        break;
    case PS_OPT_LIST: {
        struct ps_strlist *l = o->target;
        l->items = NULL;
        l->n = 0;
        break;
    }
    case PS_OPT_ENUM:
        *(int *)o->target = -1;
        break;
    }
}

/* Environment and defaults: lists take comma-separated text, everything else one value. */
static enum ps_err apply_text(const struct ps_opt *o, const char *text, const char *src,
                              struct ps_errdetail *ed)
{
    if (o->type == PS_OPT_LIST) {
        ps_opts_list_release(o->target);
        list_split(o->target, text);
        return PS_OK;
    }
    return apply(o, text, src, ed);
}

static void check_table(const struct ps_opt *table, size_t n_opts)
{
    size_t i, j;

    for (i = 0; i < n_opts; i++) {
        const struct ps_opt *o = &table[i];
        if (o->flag == NULL || o->flag[0] == '\0' || o->target == NULL)
            ps_bug("option %zu has no flag or no target", i);
        if (strcmp(o->flag, "help") == 0 || strchr(o->flag, '=') != NULL)
            ps_bug("option --%s: reserved or malformed name", o->flag);
        if (o->type == PS_OPT_ENUM && o->choices == NULL)
            ps_bug("option --%s: enum without choices", o->flag);
        for (j = 0; j < i; j++) {
            if (strcmp(table[j].flag, o->flag) == 0)
                ps_bug("option --%s listed twice", o->flag);
        }
    }
}

static const struct ps_opt *find(const struct ps_opt *table, size_t n_opts, const char *name,
                                 size_t name_len, size_t *index)
{
    size_t i;

    for (i = 0; i < n_opts; i++) {
        if (strlen(table[i].flag) == name_len && memcmp(table[i].flag, name, name_len) == 0) {
            *index = i;
            return &table[i];
        }
    }
    return NULL;
}

static void push_positional(struct ps_opts_result *res, char *arg)
{
    res->positional =
        ps_xrealloc(res->positional, (res->n_positional + 1) * sizeof(*res->positional));
    res->positional[res->n_positional++] = arg;
}

static enum ps_err parse_defaults_and_env(const struct ps_opt *table, size_t n_opts,
                                          struct ps_errdetail *ed)
{
    char src[128];
    enum ps_err err;
    size_t i;

    for (i = 0; i < n_opts; i++) {
        set_zero(&table[i]);
        if (table[i].def != NULL) {
            snprintf(src, sizeof(src), "default of --%s", table[i].flag);
            err = apply_text(&table[i], table[i].def, src, ed);
            if (err != PS_OK)
                return err;
        }
    }
    for (i = 0; i < n_opts; i++) {
        const char *v = table[i].env != NULL ? getenv(table[i].env) : NULL;
        if (v == NULL || v[0] == '\0')
            continue;
        err = apply_text(&table[i], v, table[i].env, ed);
        if (err != PS_OK)
            return err;
    }
    return PS_OK;
}

enum ps_err ps_opts_parse(const struct ps_opt *table, size_t n_opts, int argc, char **argv,
                          const char *usage, FILE *help_out, struct ps_opts_result *res,
                          struct ps_errdetail *ed)
{
    const char *cmd = argc > 0 && argv[0] != NULL ? argv[0] : "poisonscan";
    bool *on_cli = NULL;
    bool options_done = false;
    enum ps_err err;
    char src[128];
    int i;

    check_table(table, n_opts);
    memset(res, 0, sizeof(*res));
    err = parse_defaults_and_env(table, n_opts, ed);
    if (err != PS_OK)
        return err;
    on_cli = ps_xcalloc(n_opts > 0 ? n_opts : 1, sizeof(bool));
    for (i = 1; i < argc && err == PS_OK; i++) {
        char *a = argv[i];
        const struct ps_opt *o;
        const char *name, *eq, *value;
        size_t idx = 0, name_len;

        if (options_done || a[0] != '-' || a[1] == '\0') {
            push_positional(res, a);
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ps_opts_print_help(help_out != NULL ? help_out : stdout, usage, table, n_opts);
            res->help_shown = true;
            break;
        }
        if (a[1] != '-') {
            ps_errdetail_set(ed, NULL, 0, "%s: unknown option '%.*s' (see --help)", cmd, QUOTE_MAX,
                             a);
            err = PS_ERR_USAGE;
            break;
        }
        name = a + 2;
        eq = strchr(name, '=');
        name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        o = find(table, n_opts, name, name_len, &idx);
        if (o == NULL) {
            ps_errdetail_set(ed, NULL, 0, "%s: unknown option '--%.*s' (see --help)", cmd,
                             name_len < QUOTE_MAX ? (int)name_len : QUOTE_MAX, name);
            err = PS_ERR_USAGE;
            break;
        }
        snprintf(src, sizeof(src), "--%s", o->flag);
        if (o->type == PS_OPT_BOOL && eq == NULL) {
            *(bool *)o->target = true;
            continue;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            ps_errdetail_set(ed, NULL, 0, "%s needs a value", src);
            err = PS_ERR_USAGE;
            break;
        }
        if (o->type == PS_OPT_LIST && !on_cli[idx])
            ps_opts_list_release(o->target); /* the command line replaces env and default */
        on_cli[idx] = true;
        err = apply(o, value, src, ed);
    }
    free(on_cli);
    return err;
}

static const char *metavar_of(const struct ps_opt *o, char *dst, size_t dst_cap)
{
    size_t i, n = 0;

    if (o->metavar != NULL)
        return o->metavar;
    switch (o->type) {
    case PS_OPT_BOOL:
        return "";
    case PS_OPT_STRING:
    case PS_OPT_LIST:
        return "TEXT";
    case PS_OPT_SECRET:
        return "SECRET";
    case PS_OPT_SIZE:
        return "SIZE";
    case PS_OPT_DURATION:
        return "DURATION";
    case PS_OPT_U64:
        return "N";
    case PS_OPT_DOUBLE:
        return "X";
    case PS_OPT_ENUM:
        for (i = 0; o->choices[i] != NULL && n + 1 < dst_cap; i++) {
            int w = snprintf(dst + n, dst_cap - n, "%s%s", i == 0 ? "{" : "|", o->choices[i]);
            if (w < 0)
                break;
            n += (size_t)w;
        }
        if (n + 1 < dst_cap)
            snprintf(dst + n, dst_cap - n, "}");
        return dst;
    }
    return "VALUE";
}

void ps_opts_print_help(FILE *out, const char *usage, const struct ps_opt *table, size_t n_opts)
{
    char mv[128];
    size_t i, width = strlen("-h, --help");

    fprintf(out, "usage: %s\n\noptions:\n", usage != NULL ? usage : "poisonscan [options]");
    for (i = 0; i < n_opts; i++) {
        const char *m = metavar_of(&table[i], mv, sizeof(mv));
        size_t w = 2 + strlen(table[i].flag) + (m[0] != '\0' ? 1 + strlen(m) : 0);
        if (w > width && w <= HELP_COL_MAX)
            width = w;
    }
    for (i = 0; i < n_opts; i++) {
        const struct ps_opt *o = &table[i];
        const char *m = metavar_of(o, mv, sizeof(mv));
        int w = fprintf(out, "  --%s%s%s", o->flag, m[0] != '\0' ? " " : "", m);

        if (w < 0)
            return;
        if ((size_t)w - 2 > width)
            fprintf(out, "\n%*s", (int)width + 2, "");
        else
            fprintf(out, "%*s", (int)(width + 2 - (size_t)w), "");
        fprintf(out, "  %s", o->help != NULL ? o->help : "");
        if (o->def != NULL)
            fprintf(out, " [default: %s]", o->type == PS_OPT_SECRET ? "(hidden)" : o->def);
        if ((o->type == PS_OPT_SIZE || o->type == PS_OPT_DURATION || o->type == PS_OPT_U64) &&
            has_bounds(o)) {
            char lo[PS_UNITS_DURATION_STRLEN], hi[PS_UNITS_DURATION_STRLEN];
            fmt_bound(o, o->min, lo, sizeof(lo));
            fmt_bound(o, o->max, hi, sizeof(hi));
            fprintf(out, " [%s..%s]", lo, hi);
        }
        if (o->type == PS_OPT_DOUBLE && has_dbounds(o))
            fprintf(out, " [%g..%g]", o->dmin, o->dmax);
        if (o->type == PS_OPT_LIST)
            fprintf(out, " [repeatable]");
        if (o->env != NULL)
            fprintf(out, " [env: %s]", o->env);
        fputc('\n', out);
    }
    fprintf(out, "  %-*s  show this help\n", (int)width, "-h, --help");
}

void ps_opts_print_values(FILE *out, const struct ps_opt *table, size_t n_opts)
{
    char b[PS_UNITS_DURATION_STRLEN];
    size_t i, j;

    for (i = 0; i < n_opts; i++) {
        const struct ps_opt *o = &table[i];

        fprintf(out, "%s = ", o->flag);
        switch (o->type) {
        case PS_OPT_BOOL:
            fputs(*(const bool *)o->target ? "true" : "false", out);
            break;
        case PS_OPT_STRING: {
            const char *s = *(const char *const *)o->target;
            fputs(s != NULL ? s : "(unset)", out);
            break;
        }
        case PS_OPT_SECRET:
            fputs(*(const char *const *)o->target != NULL ? "(hidden)" : "(unset)", out);
            break;
        case PS_OPT_SIZE:
            ps_units_format_size(*(const uint64_t *)o->target, b, sizeof(b));
            fprintf(out, "%s (%" PRIu64 ")", b, *(const uint64_t *)o->target);
            break;
        case PS_OPT_DURATION:
            ps_units_format_duration_ms(*(const uint64_t *)o->target, b, sizeof(b));
            fputs(b, out);
            break;
        case PS_OPT_U64:
            fprintf(out, "%" PRIu64, *(const uint64_t *)o->target);
            break;
        case PS_OPT_DOUBLE:
            fprintf(out, "%g", *(const double *)o->target);
            break;
        case PS_OPT_LIST: {
            const struct ps_strlist *l = o->target;
            for (j = 0; j < l->n; j++)
                fprintf(out, "%s%s", j > 0 ? ", " : "", l->items[j]);
            if (l->n == 0)
                fputs("(none)", out);
            break;
        }
        case PS_OPT_ENUM: {
            int k = *(const int *)o->target;
            fputs(k >= 0 ? o->choices[k] : "(unset)", out);
            break;
        }
        }
        fputc('\n', out);
    }
}

void ps_opts_release(const struct ps_opt *table, size_t n_opts, struct ps_opts_result *res)
{
    size_t i;

    for (i = 0; i < n_opts; i++) {
        if (table[i].type == PS_OPT_LIST)
            ps_opts_list_release(table[i].target);
    }
    if (res != NULL) {
        free(res->positional);
        res->positional = NULL;
        res->n_positional = 0;
    }
}
