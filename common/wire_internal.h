/* wire_internal.h - what the files of the wire module (wire.c, wire_check.c) share. */
#ifndef PS_WIRE_INTERNAL_H
#define PS_WIRE_INTERNAL_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

/* Fill `ed` with a protocol error (no file, no offset) and return PS_ERR_PROTO. */
enum ps_err ps_wire_proto_fail(struct ps_errdetail *ed, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* true when the n bytes are printable ASCII without spaces (routing ids, job ids). */
bool ps_wire_is_token(const char *s, size_t n);

#endif
