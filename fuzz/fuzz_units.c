/* fuzz_units.c - arbitrary text through the size, duration and u64 parsers. The first byte picks
 * the parser (and the u64 bounds); a parsed duration must survive format + parse unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_errdetail ed;
    uint64_t v = 0, back = 0;
    char text[PS_UNITS_DURATION_STRLEN];
    char *s;
    uint8_t sel;

    if (size < 1)
        return 0;
    sel = data[0];
    s = ps_xstrndup((const char *)data + 1, size - 1); /* stops at an embedded NUL */
    switch (sel & 0x03) {
    case 0:
        if (ps_units_parse_size(s, &v, &ed) == PS_OK) {
            ps_units_format_size(v, text, sizeof(text));
            if (strlen(text) >= PS_UNITS_SIZE_STRLEN)
                abort();
        }
        break;
    case 1:
        if (ps_units_parse_duration_ms(s, &v, &ed) == PS_OK) {
            ps_units_format_duration_ms(v, text, sizeof(text));
            if (ps_units_parse_duration_ms(text, &back, &ed) != PS_OK || back != v)
                abort();
        }
        break;
    default: {
        uint64_t min = (uint64_t)((sel >> 2) & 0x1f) * 1000;
        uint64_t max = (sel & 0x80) ? UINT64_MAX : min + 100000;
        if (ps_units_parse_u64(s, min, max, &v, &ed) == PS_OK && (v < min || v > max))
            abort();
        break;
    }
    }
    free(s);
    return 0;
}
