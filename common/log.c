/* log.c - the stderr line of poisonscan, plain (time, role[pid], level, module, message) or one
 * JSON object, with registered secrets blanked out. A line is built in a fixed buffer and written
 * with one write, so nothing allocates (a log line may report an allocation failure) and lines of
 * processes that share stderr do not interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"

#define LINE_CAP 4096
#define MSG_CAP  2048

enum ps_log_level ps_log_threshold = PS_LOG_INFO;
static const char *log_role = "poisonscan";
static enum ps_log_format log_format = PS_LOG_FORMAT_PLAIN;

static struct {
    char text[PS_LOG_SECRET_MAX];
    size_t len;
} secrets[PS_LOG_SECRETS];
static size_t n_secrets;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ps_log_set_role(const char *role)
{
    log_role = role;
}

void ps_log_set_level(enum ps_log_level level)
{
    ps_log_threshold = level;
}

void ps_log_set_format(enum ps_log_format format)
{
    log_format = format;
}

int ps_log_parse_level(const char *s, enum ps_log_level *out)
{
    for (int i = 0; i <= PS_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ps_log_level)i;
            return 0;
        }
    }
    return -1;
}

void ps_log_add_secret(const char *secret, size_t len)
{
    if (len < PS_LOG_SECRET_MIN || len > PS_LOG_SECRET_MAX || n_secrets == PS_LOG_SECRETS)
        return;
    for (size_t i = 0; i < n_secrets; i++)
        if (secrets[i].len == len && memcmp(secrets[i].text, secret, len) == 0)
            return;
    memcpy(secrets[n_secrets].text, secret, len);
    secrets[n_secrets].len = len;
    n_secrets++;
}

void ps_log_clear_secrets(void)
{
    /* volatile: the wipe must not be optimised away as a dead store */
    volatile char *p = (volatile char *)secrets;
    for (size_t i = 0; i < sizeof(secrets); i++)
        p[i] = 0;
    n_secrets = 0;
}

/* Copy `src` into dst (room for cap - 1 bytes and a NUL) with every registered secret replaced
 * by "***"; returns the length. */
static size_t redact(char *dst, size_t cap, const char *src)
{
    size_t n = 0, src_len = strlen(src);

    for (size_t i = 0; i < src_len && n + 1 < cap;) {
        size_t hit = 0;
        for (size_t k = 0; k < n_secrets && hit == 0; k++)
            if (secrets[k].len <= src_len - i &&
                memcmp(src + i, secrets[k].text, secrets[k].len) == 0)
                hit = secrets[k].len;
        if (hit > 0) {
            for (size_t j = 0; j < 3 && n + 1 < cap; j++)
                dst[n++] = '*';
            i += hit;
        } else {
            dst[n++] = src[i++];
        }
    }
    dst[n] = '\0';
    return n;
}

/* A bounded writer: `room` is what may be used before the closing bytes the format needs. */
struct out {
    char *p;
    size_t n, room;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->room - o->n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Each unit (a UTF-8 sequence or an escape) goes in whole or not at all, so a cut message never
 * ends inside a character. `json`: JSON string escapes and U+FFFD for bytes that are not UTF-8;
 * plain: only the control characters that would break the line become visible escapes. */
static void put_text(struct out *o, const char *s, size_t n, bool json)
{
    char esc[8];

    for (size_t i = 0; i < n && !o->full;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t len;

        if (c == '\n' || c == '\r' || (json && (c == '"' || c == '\\' || c == '\t'))) {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
            put(o, esc, 2);
            i++;
        } else if (c < 0x20 && c != '\t') {
            snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", c);
            put(o, esc, strlen(esc));
            i++;
        } else if (c < 0x80) {
            put(o, s + i, 1);
            i++;
        } else if ((len = ps_utf8_decode(s + i, n - i, &cp)) > 0) {
            if (json && (cp == 0x2028 || cp == 0x2029))
                put(o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            else
                put(o, s + i, len);
            i += len;
        } else {
            /* plain text passes a byte that is not UTF-8 as it is (a file name's own bytes) */
            put(o, json ? "\\ufffd" : s + i, json ? 6 : 1);
            i++;
        }
    }
}

static void put_json_string(struct out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    put_text(o, s, n, true);
}

size_t ps_log_render(char *dst, size_t dst_cap, enum ps_log_level level, const char *module,
                     const char *msg)
{
    char ts[40], head[256], clean[MSG_CAP];
    struct timeval tv;
    struct tm tm;
    size_t n;
    bool json = log_format == PS_LOG_FORMAT_JSON;
    /* the closing bytes: '"}' for JSON, then '\n' and the NUL */
    size_t tail = json ? 4 : 2;
    struct out o = {dst, 0, dst_cap - tail, false};

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    redact(clean, sizeof(clean), msg);
    if (json) {
        snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\",\"role\":", ts,
                 level_names[level]);
        puts_(&o, head);
        put_json_string(&o, log_role, strlen(log_role));
        snprintf(head, sizeof(head), "\",\"pid\":%d,\"module\":", (int)getpid());
        puts_(&o, head);
        put_json_string(&o, module, strlen(module));
        puts_(&o, "\",\"msg\":\"");
        /* the header always fits (dst_cap >= 512, our own short names): only the message is cut */
        o.full = false;
        put_text(&o, clean, strlen(clean), true);
        memcpy(dst + o.n, "\"}", 2);
        o.n += 2;
    } else {
        snprintf(head, sizeof(head), "%s %s[%d] %s %s: ", ts, log_role, (int)getpid(),
                 level_names[level], module);
        puts_(&o, head);
        o.full = false;
        put_text(&o, clean, strlen(clean), false);
    }
    dst[o.n++] = '\n';
    dst[o.n] = '\0';
    return o.n;
}

void ps_log_emit(enum ps_log_level level, const char *module, const char *fmt, ...)
{
    char msg[MSG_CAP], line[LINE_CAP];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    n = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= sizeof(msg)) {
        /* cut by vsnprintf: drop a last character it left incomplete */
        uint32_t cp;
        size_t last = sizeof(msg) - 2;
        while (last > 0 && ((unsigned char)msg[last] & 0xC0) == 0x80)
            last--;
        if ((unsigned char)msg[last] >= 0x80 &&
            ps_utf8_decode(msg + last, sizeof(msg) - 1 - last, &cp) == 0)
            msg[last] = '\0';
    }
    n = ps_log_render(line, sizeof(line), level, module, msg);
    fwrite(line, 1, n, stderr);
}
