/* fuzz_wire.c - arbitrary bytes as one envelope frame through ps_wire_decode() (size bound, NUL
 * scan, protobuf-c unpack, one body, validation), the way a coordinator or worker receives them.
 * Byte 0 picks the limits; whatever decodes must validate and survive a pack/decode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text_helpers(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    char out[64], peer[40];

    if (src == NULL)
        abort();
    memcpy(src, data, size);
    src[size] = '\0';
    ps_wire_copy_text(out, sizeof(out), src);
    if (!ps_utf8_is_valid(out, strlen(out)))
        abort();
    ps_wire_format_peer(peer, sizeof(peer), src, size);
    if (strlen(peer) >= sizeof(peer))
        abort();
    free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_wire_limits lim, relaxed;
    struct ps_errdetail ed;
    Poisonscan__Envelope *env = NULL, *again = NULL;
    enum ps_err err;
    uint8_t sel, *buf;
    size_t n;

    if (size < 1)
        return 0;
    sel = data[0];
    data++;
    size--;
    lim = (sel & 1) ? ps_wire_limits_worker() : ps_wire_limits_coordinator();
    if (sel & 2) {
        lim.max_string = 16;
        lim.max_candidates = 4;
    }
    if (sel & 4)
        lim.max_msg = 64;
    if (sel & 8)
        check_text_helpers(data, size);

    memset(&ed, 0, sizeof(ed));
    err = ps_wire_decode(data, size, &lim, &env, &ed);
    if (err != PS_OK) {
        if (err != PS_ERR_PROTO || env != NULL || ed.msg[0] == '\0')
            abort();
        return 0;
    }
    if (ps_wire_validate(env, &lim, &ed) != PS_OK)
        abort();
    (void)ps_wire_body_name(env->body_case);
    n = poisonscan__envelope__get_packed_size(env);
    buf = malloc(n ? n : 1);
    if (buf == NULL || poisonscan__envelope__pack(env, buf) != n)
        abort();
    /* canonical re-encoding may differ in size from the input; only the size bound is relaxed */
    relaxed = lim;
    relaxed.max_msg = SIZE_MAX;
    if (ps_wire_decode(buf, n, &relaxed, &again, &ed) != PS_OK)
        abort();
    if (again->body_case != env->body_case)
        abort();
    ps_wire_envelope_free(again);
    ps_wire_envelope_free(env);
    free(buf);
    return 0;
}
