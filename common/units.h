/* units.h - the one parser for sizes ("64M"), durations ("30s") and bounded integers that come
 * from flags, environment variables and config text, and a formatter for human-readable sizes.
 * Every number goes through strtoull + end pointer + errno and every multiplication is checked. */
#ifndef PS_COMMON_UNITS_H
#define PS_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Longest text ps_units_format_size() writes, terminator included ("18446744073709551615 B"). */
#define PS_UNITS_SIZE_STRLEN 32
/* Longest text ps_units_format_duration_ms() writes, terminator included. */
#define PS_UNITS_DURATION_STRLEN 48

/* Parse a byte size: decimal digits, then an optional single space, then an optional unit.
 *   none or B                          bytes
 *   K M G T P  (either case)           binary: 1024, 1024^2, ... (so "64M" is 64 MiB)
 *   KiB MiB GiB TiB PiB  (any case)    binary, the same as the single letters
 *   KB MB GB TB PB  (any case)         decimal: 1000, 1000^2, ... (disk-vendor units)
 * No sign, no fraction, no leading blank, no hex; "0" is accepted (callers bound it).
 * `s` borrowed; *out written only on PS_OK.
 * @return PS_OK, or PS_ERR_USAGE (empty, bad digits, unknown unit, does not fit in 64 bits)
 *         with the offending text quoted in `ed` (may be NULL). Thread-safe. */
enum ps_err ps_units_parse_size(const char *s, uint64_t *out, struct ps_errdetail *ed);

/* Parse a duration into milliseconds: one or more "<digits><unit>" parts added up ("1h30m",
 * "2s500ms"), units ms, s, m, h, d (lower case). A bare number with no unit means SECONDS
 * ("30" == "30s") and is allowed only as the whole text. No sign, no fraction, no blanks.
 * `s` borrowed; *out written only on PS_OK.
 * @return PS_OK or PS_ERR_USAGE (malformed, unknown unit, overflows uint64 ms). Thread-safe. */
enum ps_err ps_units_parse_duration_ms(const char *s, uint64_t *out, struct ps_errdetail *ed);

/* Parse a plain decimal unsigned integer and check min <= value <= max.
 * `s` borrowed; *out written only on PS_OK.
 * @return PS_OK or PS_ERR_USAGE ("'0' is below the minimum 1", "... above the maximum ...",
 *         not a number, overflow). Thread-safe. */
enum ps_err ps_units_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                               struct ps_errdetail *ed);

/* Write `bytes` for humans into dst (dst_cap bytes, borrowed; truncated, always terminated
 * when dst_cap > 0): "512 B", "64 KiB", "1.5 GiB" (binary units, one decimal when inexact).
 * Thread-safe. */
void ps_units_format_size(uint64_t bytes, char *dst, size_t dst_cap);

/* Write a millisecond duration for humans as whole-unit parts, largest first, zero parts left
 * out: "250ms", "30s", "1h2m3s500ms", "2d", "0ms". The text parses back to the same value with
 * ps_units_parse_duration_ms(). Same buffer rules as above. PS_UNITS_DURATION_STRLEN fits all. */
void ps_units_format_duration_ms(uint64_t ms, char *dst, size_t dst_cap);

/* The decimal digits of v at dst (room for PS_UNITS_U64_DIGITS, not terminated); returns how
 * many. For records written in bulk (lease records, the plan), where snprintf costs as much as
 * the rest of the record. */
#define PS_UNITS_U64_DIGITS 20
size_t ps_units_put_u64(char *dst, uint64_t v);

#endif
