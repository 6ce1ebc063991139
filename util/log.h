/*
 * log.h - one-line log messages to stderr, with syslog priorities.
 *
 * Under journald (JOURNAL_STREAM set) each line starts with a "<N>"
 * priority prefix and carries no timestamp; elsewhere it starts with a
 * timestamp and the level name. Messages read "module: text"; calls add
 * "[call-id] " after the module. The level is tested before formatting.
 *
 * Never pass an API key, an Authorization header or a decrypted secret.
 * Any thread may log; each message is written with one write(2).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_LOG_H
#define SV_LOG_H

#include <stdarg.h>

enum sv_log_level {
    SV_LOG_ERR = 3,
    SV_LOG_WARN = 4,
    SV_LOG_NOTICE = 5,
    SV_LOG_INFO = 6,
    SV_LOG_DEBUG = 7,
};

/* The process-wide threshold; set once at start-up, read everywhere. */
extern int sv_log_threshold;

/* Chooses the line format (journald or terminal) and the threshold. */
void sv_log_init(int level);

/* Parses "err", "warn", "notice", "info" or "debug"; -EINVAL otherwise. */
int sv_log_level_parse(const char *name);

void sv_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define sv_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= sv_log_threshold)                                       \
            sv_log_write((level), __VA_ARGS__);                                \
    } while (0)

#endif
