/* log.c - the stderr line format of poisonscan (time, role[pid], level, module, message). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum ps_log_level ps_log_threshold = PS_LOG_INFO;
static const char *log_role = "poisonscan";

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ps_log_set_role(const char *role)
{
    log_role = role;
}

void ps_log_set_level(enum ps_log_level level)
{
    ps_log_threshold = level;
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

void ps_log_emit(enum ps_log_level level, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          ".%03dZ %s[%d] %s %s: ", (int)(tv.tv_usec / 1000), log_role,
                          (int)getpid(), level_names[level], module);
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
    }
    /* one write per line, so lines from several processes sharing stderr do not interleave */
    n = strlen(line);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}
