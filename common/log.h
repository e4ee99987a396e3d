/* log.h - one line per event on stderr: UTC time, role[pid], level, module, message.
 * The level is tested before anything is formatted. common/ modules never log. */
#ifndef PS_COMMON_LOG_H
#define PS_COMMON_LOG_H

enum ps_log_level { PS_LOG_DEBUG = 0, PS_LOG_INFO, PS_LOG_WARN, PS_LOG_ERROR, PS_LOG_OFF };

extern enum ps_log_level ps_log_threshold;

/* `role` is borrowed for the life of the process ("coordinator", "worker", ...). */
void ps_log_set_role(const char *role);
void ps_log_set_level(enum ps_log_level level);
/* Parse "debug|info|warn|error|off"; returns 0 on success, -1 if unknown. */
int ps_log_parse_level(const char *s, enum ps_log_level *out);

void ps_log_emit(enum ps_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ps_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) >= ps_log_threshold)                                                           \
            ps_log_emit((level), (module), __VA_ARGS__);                                           \
    } while (0)

#endif
