/* log.h - one line per event on stderr: UTC time, role[pid], level, module, message; or the same
 * fields as one JSON object per line (--log-format json), for log shippers.
 * The level is tested before anything is formatted. common/ modules never log.
 *
 * Secrets: a process registers the secrets it holds (a Redis password, a CURVE secret key) once,
 * before it starts threads; every line is searched for them and each occurrence is written as
 * "***". No code logs a secret on purpose: this is the backstop for an error text that quotes
 * one (a URL, a server's reply). */
#ifndef PS_COMMON_LOG_H
#define PS_COMMON_LOG_H

#include <stddef.h>

enum ps_log_level { PS_LOG_DEBUG = 0, PS_LOG_INFO, PS_LOG_WARN, PS_LOG_ERROR, PS_LOG_OFF };

enum ps_log_format {
    PS_LOG_FORMAT_PLAIN = 0, /* 2026-08-22T10:15:03.412Z worker[4121] warn reader: message */
    PS_LOG_FORMAT_JSON       /* {"time":"...","level":"warn","role":"worker","pid":4121,
                                "module":"reader","msg":"message"} */
};

extern enum ps_log_level ps_log_threshold;

/* Settings; not thread-safe: call them before starting threads. */
/* `role` is borrowed for the life of the process ("coordinator", "worker", ...). */
void ps_log_set_role(const char *role);
void ps_log_set_level(enum ps_log_level level);
void ps_log_set_format(enum ps_log_format format);
/* Parse "debug|info|warn|error|off"; returns 0 on success, -1 if unknown. */
int ps_log_parse_level(const char *s, enum ps_log_level *out);

/* Register a secret (`len` bytes of `secret`, copied) that no line may show. Secrets shorter than
 * PS_LOG_SECRET_MIN bytes are not searched for (they would blank out ordinary words); at most
 * PS_LOG_SECRETS are kept, later ones are ignored. */
#define PS_LOG_SECRET_MIN 4
#define PS_LOG_SECRETS    8
#define PS_LOG_SECRET_MAX 256
void ps_log_add_secret(const char *secret, size_t len);
/* Wipe and forget every registered secret. */
void ps_log_clear_secrets(void);

/* Write one complete line for `msg` (borrowed, NUL-terminated) in the current format into `dst`
 * (dst_cap >= 512), ending in '\n' and NUL-terminated, with secrets replaced. A message too long
 * for the line is cut at a UTF-8 boundary (the JSON object stays whole). Control characters in
 * the message never break the line: plain text writes them as \n, \r or \xNN; JSON escapes them.
 * Returns the line's length. Thread-safe once the settings above are made. */
size_t ps_log_render(char *dst, size_t dst_cap, enum ps_log_level level, const char *module,
                     const char *msg);

void ps_log_emit(enum ps_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ps_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) >= ps_log_threshold)                                                           \
            ps_log_emit((level), (module), __VA_ARGS__);                                           \
    } while (0)

#endif
