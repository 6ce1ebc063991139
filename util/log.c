/*
 * log.c - stderr logging with syslog priorities (see log.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sv_log_threshold = SV_LOG_NOTICE;
static bool use_prefix;


static const char *level_name(int level)
{
    static const char *names[] = {"emerg", "alert",  "crit", "err",
                                  "warn",  "notice", "info", "debug"};

    if (level < 0 || level > 7)
        return "?";
    return names[level];
}


void sv_log_init(int level)
{
    sv_log_threshold = level;
    use_prefix = getenv("JOURNAL_STREAM") != NULL;
}


int sv_log_level_parse(const char *name)
{
    for (int level = SV_LOG_ERR; level <= SV_LOG_DEBUG; level++) {
        if (strcmp(name, level_name(level)) == 0)
            return level;
    }
    if (strcmp(name, "error") == 0)
        return SV_LOG_ERR;
    if (strcmp(name, "warning") == 0)
        return SV_LOG_WARN;
    return -EINVAL;
}


void sv_log_write(int level, const char *fmt, ...)
{
    char line[2048];
    size_t len = 0;
    va_list ap;
    int n;

    if (use_prefix) {
        n = snprintf(line, sizeof(line), "<%d>", level);
    } else {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(
            line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s ",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, ts.tv_nsec / 1000000, level_name(level));
    }
    len = (size_t)n;

    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    len += (size_t)n;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;

    /* A message is one line: fold embedded newlines. */
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';
    (void)!write(STDERR_FILENO, line, len);
}
