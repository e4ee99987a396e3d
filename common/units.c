/* units.c - size, duration and bounded-integer parsing for flags and environment values.
 * Digits are checked by hand before strtoull because strtoull itself accepts leading blanks,
 * a sign (and negates "-1" into UINT64_MAX) and would hide those mistakes. */
#include "common/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of a bad input is quoted back: enough to recognise it, short enough for msg[200]. */
#define QUOTE_MAX 48

struct unit {
    const char *name;
    uint64_t mult;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        if (lower(*a) != lower(*b))
            return false;
        a++;
        b++;
    }
    return *a == *b;
}

/* Read the run of digits at s into *out; *end is set past them. Returns false when there is no
 * digit or the value does not fit (ERANGE). */
static bool read_digits(const char *s, uint64_t *out, const char **end)
{
    char *e;
    unsigned long long v;

    if (!is_digit(*s))
        return false;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno == ERANGE || e == s)
        return false;
    *out = (uint64_t)v;
    *end = e;
    return true;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b != 0 && a > UINT64_MAX / b)
        return false;
    *out = a * b;
    return true;
}

enum ps_err ps_units_parse_size(const char *s, uint64_t *out, struct ps_errdetail *ed)
{
    static const struct unit units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1ULL << 10},
        {"m", 1ULL << 20},
        {"g", 1ULL << 30},
        {"t", 1ULL << 40},
        {"p", 1ULL << 50},
        {"kib", 1ULL << 10},
        {"mib", 1ULL << 20},
        {"gib", 1ULL << 30},
        {"tib", 1ULL << 40},
        {"pib", 1ULL << 50},
        {"kb", 1000ULL},
        {"mb", 1000ULL * 1000},
        {"gb", 1000ULL * 1000 * 1000},
        {"tb", 1000ULL * 1000 * 1000 * 1000},
        {"pb", 1000ULL * 1000 * 1000 * 1000 * 1000},
    };
    const char *end;
    const char *u;
    uint64_t v;
    size_t i;

    if (s == NULL || *s == '\0') {
        ps_errdetail_set(ed, NULL, 0, "empty size");
        return PS_ERR_USAGE;
    }
    if (!read_digits(s, &v, &end)) {
        ps_errdetail_set(ed, NULL, 0, "'%.*s' is not a size (digits, then K, M, G, KiB, MB, ...)",
                         QUOTE_MAX, s);
        return PS_ERR_USAGE;
    }
    u = end;
    if (*u == ' ' && u[1] != '\0')
        u++;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (eq_nocase(u, units[i].name)) {
            if (!mul_ok(v, units[i].mult, out)) {
                ps_errdetail_set(ed, NULL, 0, "'%.*s' does not fit in 64 bits", QUOTE_MAX, s);
                return PS_ERR_USAGE;
            }
            return PS_OK;
        }
    }
    ps_errdetail_set(ed, NULL, 0, "'%.*s' has an unknown size unit (use K, M, G, T, KiB, MB, ...)",
                     QUOTE_MAX, s);
    return PS_ERR_USAGE;
}

enum ps_err ps_units_parse_duration_ms(const char *s, uint64_t *out, struct ps_errdetail *ed)
{
    /* "ms" before "m" so the longer unit wins. */
    static const struct unit units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60ULL * 1000}, {"h", 3600ULL * 1000}, {"d", 86400ULL * 1000},
    };
    const char *p = s;
    uint64_t total = 0;

    if (s == NULL || *s == '\0') {
        ps_errdetail_set(ed, NULL, 0, "empty duration");
        return PS_ERR_USAGE;
    }
    while (*p != '\0') {
        const char *end;
        uint64_t v, part;
        size_t i, ulen = 0;
        uint64_t mult = 0;

        if (!read_digits(p, &v, &end)) {
            ps_errdetail_set(ed, NULL, 0,
                             "'%.*s' is not a duration (e.g. 500ms, 30s, 2m, 1h, 1h30m)", QUOTE_MAX,
                             s);
            return PS_ERR_USAGE;
        }
        if (*end == '\0' && p == s) {
            mult = 1000; /* a bare number is seconds */
        } else {
            for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t n = strlen(units[i].name);
                if (strncmp(end, units[i].name, n) == 0 && (end[n] == '\0' || is_digit(end[n]))) {
                    mult = units[i].mult;
                    ulen = n;
                    break;
                }
            }
            if (mult == 0) {
                ps_errdetail_set(ed, NULL, 0,
                                 "'%.*s' has a missing or unknown duration unit (ms, s, m, h, d)",
                                 QUOTE_MAX, s);
                return PS_ERR_USAGE;
            }
        }
        if (!mul_ok(v, mult, &part) || total > UINT64_MAX - part) {
            ps_errdetail_set(ed, NULL, 0, "'%.*s' is too long a duration", QUOTE_MAX, s);
            return PS_ERR_USAGE;
        }
        total += part;
        p = end + ulen;
    }
    *out = total;
    return PS_OK;
}

enum ps_err ps_units_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                               struct ps_errdetail *ed)
{
    const char *end;
    uint64_t v;

    if (s == NULL || *s == '\0') {
        ps_errdetail_set(ed, NULL, 0, "empty number");
        return PS_ERR_USAGE;
    }
    if (!read_digits(s, &v, &end) || *end != '\0') {
        ps_errdetail_set(ed, NULL, 0, "'%.*s' is not an unsigned integer", QUOTE_MAX, s);
        return PS_ERR_USAGE;
    }
    if (v < min) {
        ps_errdetail_set(ed, NULL, 0, "'%.*s' is below the minimum %" PRIu64, QUOTE_MAX, s, min);
        return PS_ERR_USAGE;
    }
    if (v > max) {
        ps_errdetail_set(ed, NULL, 0, "'%.*s' is above the maximum %" PRIu64, QUOTE_MAX, s, max);
        return PS_ERR_USAGE;
    }
    *out = v;
    return PS_OK;
}

void ps_units_format_size(uint64_t bytes, char *dst, size_t dst_cap)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned k = 0;
    uint64_t unit = 1;

    if (dst_cap == 0)
        return;
    while (k + 1 < sizeof(names) / sizeof(names[0]) && bytes / unit >= 1024) {
        unit <<= 10;
        k++;
    }
    if (bytes % unit == 0) {
        snprintf(dst, dst_cap, "%" PRIu64 " %s", bytes / unit, names[k]);
    } else {
        /* Tenths by integer arithmetic, rounded half up, so output never depends on the FPU;
         * rem < unit <= 2^60, so rem * 10 + unit / 2 cannot overflow. */
        uint64_t whole = bytes / unit;
        uint64_t rem = bytes % unit;
        uint64_t tenths = (rem * 10 + unit / 2) / unit;
        if (tenths >= 10) {
            whole++;
            tenths = 0;
        }
        if (tenths == 0)
            snprintf(dst, dst_cap, "%" PRIu64 " %s", whole, names[k]);
        else
            snprintf(dst, dst_cap, "%" PRIu64 ".%" PRIu64 " %s", whole, tenths, names[k]);
    }
}

void ps_units_format_duration_ms(uint64_t ms, char *dst, size_t dst_cap)
{
    static const struct unit units[] = {
        {"d", 86400ULL * 1000}, {"h", 3600ULL * 1000}, {"m", 60ULL * 1000}, {"s", 1000}, {"ms", 1},
    };
    size_t used = 0;
    size_t i;

    if (dst_cap == 0)
        return;
    dst[0] = '\0';
    if (ms == 0) {
        snprintf(dst, dst_cap, "0ms");
        return;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t n = ms / units[i].mult;
        int w;

        if (n == 0)
            continue;
        ms -= n * units[i].mult;
        w = snprintf(dst + used, dst_cap - used, "%" PRIu64 "%s", n, units[i].name);
        if (w < 0 || (size_t)w >= dst_cap - used)
            return; /* truncated: snprintf has terminated it */
        used += (size_t)w;
    }
}

size_t ps_units_put_u64(char *dst, uint64_t v)
{
    char t[PS_UNITS_U64_DIGITS];
    size_t n = 0;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = t[n - 1 - i];
    return n;
}
