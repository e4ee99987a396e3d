/* wire_check.c - decoding and validation of received messages (wire.h: ps_wire_decode,
 * ps_wire_validate). Every byte that arrives is untrusted: it is bounded, scanned field by field
 * and validated before the caller sees a single field (docs/protocol.md). */
#include "common/wire.h"
#include "common/wire_internal.h"

#include "common/clsketch.h"
#include "common/partition.h"
#include "common/pass.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Envelope -> Lease -> ScanSettings is the deepest nesting of the schema; anything deeper is
 * an unknown field we skip without looking inside. */
#define SCAN_DEPTH_MAX 8

struct ps_wire_limits ps_wire_limits_coordinator(void)
{
    struct ps_wire_limits lim = {
        .max_msg = (size_t)1 << 20, .max_string = 4096, .max_candidates = 1000000};
    return lim;
}

struct ps_wire_limits ps_wire_limits_worker(void)
{
    struct ps_wire_limits lim = {
        .max_msg = (size_t)64 << 20, .max_string = 4096, .max_candidates = 1000000};
    return lim;
}

enum ps_err ps_wire_proto_fail(struct ps_errdetail *ed, const char *fmt, ...)
{
    va_list ap;

    if (ed != NULL) {
        ed->file = NULL;
        ed->offset = 0;
        va_start(ap, fmt);
        vsnprintf(ed->msg, sizeof(ed->msg), fmt, ap);
        va_end(ap);
    }
    return PS_ERR_PROTO;
}

/* Printable ASCII without space: what a routing id, a job id or a capability may hold, so that
 * they can go into log lines and Redis keys as they are. */
bool ps_wire_is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p == end)
            return false;
        b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* protobuf-c hands strings out NUL-terminated, so a NUL inside one would silently cut it short
 * (a path "a.jsonl\0../../etc" would read as "a.jsonl"). Only the raw bytes show it: walk the
 * wire format with the generated descriptors and look inside every known string field. Counts the
 * known fields at the top level (the envelope's bodies) in *n_known. */
static enum ps_err scan_raw(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *desc,
                            int depth, size_t *n_known, struct ps_errdetail *ed)
{
    const uint8_t *end = p + len;

    while (p < end) {
        const ProtobufCFieldDescriptor *f;
        uint64_t tag, v;

        if (!read_varint(&p, end, &tag))
            return ps_wire_proto_fail(ed, "%s: truncated field tag", desc->name);
        if ((tag >> 3) == 0 || (tag >> 3) > 536870911u)
            return ps_wire_proto_fail(ed, "%s: field number %" PRIu64 " out of range", desc->name,
                                      tag >> 3);
        f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (f != NULL && n_known != NULL)
            ++*n_known;
        switch (tag & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return ps_wire_proto_fail(ed, "%s: truncated varint", desc->name);
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return ps_wire_proto_fail(ed, "%s: truncated fixed64", desc->name);
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return ps_wire_proto_fail(ed, "%s: truncated fixed32", desc->name);
            p += 4;
            break;
        case 2:
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return ps_wire_proto_fail(ed, "%s: length-delimited field runs past the end",
                                          desc->name);
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
                return ps_wire_proto_fail(ed, "%s.%s holds a NUL byte", desc->name, f->name);
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                enum ps_err err;
                if (depth >= SCAN_DEPTH_MAX)
                    return ps_wire_proto_fail(ed, "%s: nested too deeply", desc->name);
                err = scan_raw(p, (size_t)v, f->descriptor, depth + 1, NULL, ed);
                if (err != PS_OK)
                    return err;
            }
            p += v;
            break;
        default:
            return ps_wire_proto_fail(ed, "%s: unsupported wire type %u", desc->name,
                                      (unsigned)(tag & 7));
        }
    }
    return PS_OK;
}

enum str_kind {
    STR_TEXT,  /* any valid UTF-8 without NUL */
    STR_TOKEN, /* printable ASCII without space */
};

/* `s` may be NULL in a hand-built message: protobuf-c packs that as the empty string. */
static enum ps_err check_str(const char *s, const char *what, bool required, enum str_kind kind,
                             size_t max, struct ps_errdetail *ed)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (required && n == 0)
        return ps_wire_proto_fail(ed, "%s is empty", what);
    if (n > max)
        return ps_wire_proto_fail(ed, "%s is %zu bytes, limit %zu", what, n, max);
    if (kind == STR_TOKEN && !ps_wire_is_token(s, n))
        return ps_wire_proto_fail(ed, "%s holds bytes outside printable ASCII", what);
    if (kind == STR_TEXT && !ps_utf8_is_valid(s, n))
        return ps_wire_proto_fail(ed, "%s is not valid UTF-8", what);
    return PS_OK;
}

static enum ps_err check_hello(const Poisonscan__Hello *m, const struct ps_wire_limits *lim,
                               struct ps_errdetail *ed)
{
    enum ps_err err;

    /* First, so that a worker of another version gets this reason and not a field complaint. */
    if (m->protocol_version != PS_WIRE_PROTOCOL_VERSION)
        return ps_wire_proto_fail(ed, "hello: protocol version %" PRIu32 ", this side speaks %u",
                                  m->protocol_version, PS_WIRE_PROTOCOL_VERSION);
    err = check_str(m->routing_id, "hello.routing_id", true, STR_TOKEN, PS_WIRE_ROUTING_ID_MAX, ed);
    if (err == PS_OK)
        err = check_str(m->hostname, "hello.hostname", true, STR_TOKEN, PS_WIRE_ROUTING_ID_MAX, ed);
    if (err == PS_OK)
        err = check_str(m->simd_level, "hello.simd_level", true, STR_TOKEN, PS_WIRE_TOKEN_MAX, ed);
    if (err != PS_OK)
        return err;
    if (m->pid == 0)
        return ps_wire_proto_fail(ed, "hello.pid is 0");
    if (m->credit < 1 || m->credit > PS_WIRE_MAX_CREDIT)
        return ps_wire_proto_fail(ed, "hello.credit %" PRIu32 " outside 1..%u", m->credit,
                                  PS_WIRE_MAX_CREDIT);
    if (m->n_capabilities > PS_WIRE_MAX_CAPABILITIES)
        return ps_wire_proto_fail(ed, "hello has %zu capabilities, limit %u", m->n_capabilities,
                                  PS_WIRE_MAX_CAPABILITIES);
    if (m->n_capabilities > 0 && m->capabilities == NULL)
        return ps_wire_proto_fail(ed, "hello.capabilities is missing");
    for (size_t i = 0; i < m->n_capabilities; i++) {
        err = check_str(m->capabilities[i], "hello.capabilities[]", true, STR_TOKEN,
                        PS_WIRE_TOKEN_MAX, ed);
        if (err != PS_OK)
            return err;
    }
    (void)lim;
    return PS_OK;
}

static enum ps_err check_pass(uint32_t pass, const char *what, struct ps_errdetail *ed)
{
    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        return ps_wire_proto_fail(
            ed,
            "%s.pass %" PRIu32
            " is not 1 (scan), 2 (confirm), 3 (leads), 4 (list) or 5 (attributes)",
            what, pass);
    return PS_OK;
}

static enum ps_err check_settings(const Poisonscan__ScanSettings *s,
                                  const struct ps_wire_limits *lim, struct ps_errdetail *ed)
{
    enum ps_err err;

    if (s == NULL)
        return ps_wire_proto_fail(ed, "lease.settings is missing");
    err =
        check_str(s->text_field, "lease.settings.text_field", true, STR_TEXT, lim->max_string, ed);
    if (err == PS_OK)
        err =
            check_str(s->id_field, "lease.settings.id_field", true, STR_TEXT, lim->max_string, ed);
    if (err != PS_OK)
        return err;
    if (s->max_line == 0)
        return ps_wire_proto_fail(ed, "lease.settings.max_line is 0");
    if (s->ngram_max < 1 || s->ngram_max > PS_WIRE_NGRAM_MAX)
        return ps_wire_proto_fail(ed, "lease.settings.ngram_max %" PRIu32 " outside 1..%u",
                                  s->ngram_max, PS_WIRE_NGRAM_MAX);
    if (s->cluster_log2 != 0 &&
        (s->cluster_log2 < PS_CLSKETCH_LOG2_MIN || s->cluster_log2 > PS_CLSKETCH_LOG2_MAX))
        return ps_wire_proto_fail(ed, "lease.settings.cluster_log2 %" PRIu32 " outside %u..%u",
                                  s->cluster_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
    if (s->partitions > PS_PARTITION_MAX || (s->partitions & (s->partitions - 1)) != 0)
        return ps_wire_proto_fail(
            ed, "lease.settings.partitions %" PRIu32 " is not a power of two to %u", s->partitions,
            PS_PARTITION_MAX);
    if (s->redis_endpoints > PS_PARTITION_MAX)
        return ps_wire_proto_fail(ed, "lease.settings.redis_endpoints %" PRIu32 " over %u",
                                  s->redis_endpoints, PS_PARTITION_MAX);
    if (s->signatures_dir[0] != '\0') {
        err = check_str(s->signatures_dir, "lease.settings.signatures_dir", true, STR_TEXT,
                        lim->max_string, ed);
        if (err != PS_OK)
            return err;
        if (s->signature_k < 16 || s->signature_k > 1024 || s->signature_k % 16 != 0)
            return ps_wire_proto_fail(
                ed, "lease.settings.signature_k %" PRIu32 " not a multiple of 16 in 16..1024",
                s->signature_k);
    }
    return PS_OK;
}

/* The attributes pass names the file to write (absolute: workers run anywhere) and the
 * file's flagged documents; no other pass carries either. */
static enum ps_err check_attributes(const Poisonscan__Lease *m, const struct ps_wire_limits *lim,
                                    struct ps_errdetail *ed)
{
    bool attrs = m->pass == PS_PASS_ATTRS;
    enum ps_err err;

    if (!attrs) {
        if (m->attributes_path[0] != '\0' || m->n_flagged > 0)
            return ps_wire_proto_fail(ed, "lease of pass %" PRIu32 " carries attributes", m->pass);
        return PS_OK;
    }
    err =
        check_str(m->attributes_path, "lease.attributes_path", true, STR_TEXT, lim->max_string, ed);
    if (err != PS_OK)
        return err;
    if (m->attributes_path[0] != '/')
        return ps_wire_proto_fail(ed, "lease.attributes_path is not absolute");
    if (m->n_candidates > 0)
        return ps_wire_proto_fail(ed, "lease carries candidates in pass %" PRIu32, m->pass);
    if (m->n_flagged > lim->max_candidates)
        return ps_wire_proto_fail(ed, "lease has %zu flagged documents, limit %zu", m->n_flagged,
                                  lim->max_candidates);
    if (m->n_flagged > 0 && m->flagged == NULL)
        return ps_wire_proto_fail(ed, "lease.flagged is missing");
    for (size_t i = 1; i < m->n_flagged; i++)
        if (m->flagged[i] >> 1 <= m->flagged[i - 1] >> 1)
            return ps_wire_proto_fail(ed, "lease.flagged[%zu] is not past the one before", i);
    return PS_OK;
}

static enum ps_err check_lease(const Poisonscan__Lease *m, const struct ps_wire_limits *lim,
                               struct ps_errdetail *ed)
{
    enum ps_err err;

    err = check_str(m->job_id, "lease.job_id", true, STR_TOKEN, lim->max_string, ed);
    if (err == PS_OK)
        err = check_pass(m->pass, "lease", ed);
    if (err == PS_OK)
        err = check_str(m->path, "lease.path", true, STR_TEXT, lim->max_string, ed);
    if (err == PS_OK)
        err = check_settings(m->settings, lim, ed);
    if (err != PS_OK)
        return err;
    if (m->attempt < 1)
        return ps_wire_proto_fail(ed, "lease.attempt is 0 (attempts count from 1)");
    if (m->begin > m->end)
        return ps_wire_proto_fail(ed, "lease range [%" PRIu64 ", %" PRIu64 ") is reversed",
                                  m->begin, m->end);
    if ((int)m->format < 0 || (int)m->format > POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL_GZ)
        return ps_wire_proto_fail(ed, "lease.format %d is unknown", (int)m->format);
    if ((int)m->layout < 0 || (int)m->layout > POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_TXT)
        return ps_wire_proto_fail(ed, "lease.layout %d is unknown", (int)m->layout);
    if ((int)m->record < 0 || (int)m->record > POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_CHAT)
        return ps_wire_proto_fail(ed, "lease.record %d is unknown", (int)m->record);
    if (m->record != POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_AUTO &&
        m->layout != POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSONL &&
        m->layout != POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSON)
        return ps_wire_proto_fail(ed, "lease.record %d with layout %d (shapes are for JSON)",
                                  (int)m->record, (int)m->layout);
    if (m->n_candidates > lim->max_candidates)
        return ps_wire_proto_fail(ed, "lease has %zu candidates, limit %zu", m->n_candidates,
                                  lim->max_candidates);
    if (m->n_candidates > 0 && m->candidates == NULL)
        return ps_wire_proto_fail(ed, "lease.candidates is missing");
    for (size_t i = 0; i < m->n_candidates; i++)
        if (m->candidates[i].len == 0 || m->candidates[i].len > lim->max_string)
            return ps_wire_proto_fail(ed, "lease.candidates[%zu] has %zu bytes, allowed 1..%zu", i,
                                      m->candidates[i].len, lim->max_string);
    if (m->n_candidates > 0 && m->pass == PS_PASS_SCAN)
        return ps_wire_proto_fail(ed, "lease carries candidates in pass %" PRIu32, m->pass);
    if (m->n_sample_below != 0 && m->n_sample_below != m->n_candidates)
        return ps_wire_proto_fail(ed, "lease has %zu sample bounds for %zu candidates",
                                  m->n_sample_below, m->n_candidates);
    if (m->leads_from > m->n_candidates)
        return ps_wire_proto_fail(ed, "lease.leads_from %" PRIu32 " past its %zu candidates",
                                  m->leads_from, m->n_candidates);
    if (m->lease_ms < PS_WIRE_LEASE_MS_MIN || m->lease_ms > PS_WIRE_LEASE_MS_MAX)
        return ps_wire_proto_fail(ed, "lease.lease_ms %" PRIu32 " outside %u..%u", m->lease_ms,
                                  PS_WIRE_LEASE_MS_MIN, PS_WIRE_LEASE_MS_MAX);
    return check_attributes(m, lim, ed);
}

static enum ps_err check_heartbeat(const Poisonscan__Heartbeat *m, struct ps_errdetail *ed)
{
    if (m->attempt == 0) {
        if (m->pass != 0 || m->shard_id != 0)
            return ps_wire_proto_fail(
                ed, "idle heartbeat (attempt 0) names pass %" PRIu32 " shard %" PRIu32, m->pass,
                m->shard_id);
        return PS_OK;
    }
    return check_pass(m->pass, "heartbeat", ed);
}

static enum ps_err check_result(const Poisonscan__ShardResult *m, const struct ps_wire_limits *lim,
                                struct ps_errdetail *ed)
{
    enum ps_err err;

    err = check_str(m->job_id, "result.job_id", true, STR_TOKEN, lim->max_string, ed);
    if (err == PS_OK)
        err = check_pass(m->pass, "result", ed);
    if (err == PS_OK)
        err = check_str(m->error, "result.error", false, STR_TEXT, lim->max_string, ed);
    if (err != PS_OK)
        return err;
    if (m->attempt < 1)
        return ps_wire_proto_fail(ed, "result.attempt is 0 (attempts count from 1)");
    switch (m->outcome) {
    case POISONSCAN__OUTCOME__OUTCOME_COMMITTED:
    case POISONSCAN__OUTCOME__OUTCOME_DUPLICATE:
        if (m->retryable)
            return ps_wire_proto_fail(ed, "result is retryable but did not fail");
        break;
    case POISONSCAN__OUTCOME__OUTCOME_FAILED:
        if (m->error == NULL || m->error[0] == '\0')
            return ps_wire_proto_fail(ed, "failed result without an error text");
        break;
    default:
        return ps_wire_proto_fail(ed, "result.outcome %d is unknown", (int)m->outcome);
    }
    return PS_OK;
}

enum ps_err ps_wire_validate(const Poisonscan__Envelope *env, const struct ps_wire_limits *lim,
                             struct ps_errdetail *ed)
{
    switch (env->body_case) {
    case POISONSCAN__ENVELOPE__BODY__NOT_SET:
        break;
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        return env->hello != NULL ? check_hello(env->hello, lim, ed)
                                  : ps_wire_proto_fail(ed, "hello body is missing");
    case POISONSCAN__ENVELOPE__BODY_READY:
        if (env->ready == NULL)
            return ps_wire_proto_fail(ed, "ready body is missing");
        if (env->ready->credit < 1 || env->ready->credit > PS_WIRE_MAX_CREDIT)
            return ps_wire_proto_fail(ed, "ready.credit %" PRIu32 " outside 1..%u",
                                      env->ready->credit, PS_WIRE_MAX_CREDIT);
        return PS_OK;
    case POISONSCAN__ENVELOPE__BODY_LEASE:
        return env->lease != NULL ? check_lease(env->lease, lim, ed)
                                  : ps_wire_proto_fail(ed, "lease body is missing");
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT:
        return env->heartbeat != NULL ? check_heartbeat(env->heartbeat, ed)
                                      : ps_wire_proto_fail(ed, "heartbeat body is missing");
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        return env->result != NULL ? check_result(env->result, lim, ed)
                                   : ps_wire_proto_fail(ed, "result body is missing");
    case POISONSCAN__ENVELOPE__BODY_SHUTDOWN:
        if (env->shutdown == NULL)
            return ps_wire_proto_fail(ed, "shutdown body is missing");
        return check_str(env->shutdown->reason, "shutdown.reason", false, STR_TEXT, lim->max_string,
                         ed);
    case POISONSCAN__ENVELOPE__BODY_GOODBYE:
        if (env->goodbye == NULL)
            return ps_wire_proto_fail(ed, "goodbye body is missing");
        return check_str(env->goodbye->reason, "goodbye.reason", false, STR_TEXT, lim->max_string,
                         ed);
    default:
        return ps_wire_proto_fail(ed, "envelope body %d is unknown", (int)env->body_case);
    }
    return ps_wire_proto_fail(ed, "envelope has no body");
}

enum ps_err ps_wire_decode(const void *src, size_t src_len, const struct ps_wire_limits *lim,
                           Poisonscan__Envelope **env, struct ps_errdetail *ed)
{
    Poisonscan__Envelope *e;
    size_t n_bodies = 0;
    enum ps_err err;

    *env = NULL;
    if (src_len > lim->max_msg)
        return ps_wire_proto_fail(ed, "message of %zu bytes exceeds the limit of %zu", src_len,
                                  lim->max_msg);
    err = scan_raw(src, src_len, &poisonscan__envelope__descriptor, 0, &n_bodies, ed);
    if (err != PS_OK)
        return err;
    /* protobuf-c would keep the last of several oneof members; a sender that writes two bodies
     * is broken, and guessing which one it meant is worse than dropping the message. */
    if (n_bodies == 0)
        return ps_wire_proto_fail(ed, "envelope has no body");
    if (n_bodies > 1)
        return ps_wire_proto_fail(ed, "envelope has %zu bodies", n_bodies);
    e = poisonscan__envelope__unpack(NULL, src_len, src);
    if (e == NULL)
        return ps_wire_proto_fail(ed, "envelope of %zu bytes does not decode", src_len);
    err = ps_wire_validate(e, lim, ed);
    if (err != PS_OK) {
        ps_wire_envelope_free(e);
        return err;
    }
    *env = e;
    return PS_OK;
}

void ps_wire_envelope_free(Poisonscan__Envelope *env)
{
    if (env != NULL)
        poisonscan__envelope__free_unpacked(env, NULL);
}
