/*
 * misc.h - ids, timestamps and small string helpers.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_MISC_H
#define SV_MISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A UUID in text form, with its terminating NUL. */
#define SV_ID_LEN 37

/* Writes a random (version 4) UUID. Needs sodium_init() first. */
void sv_uuid(char out[SV_ID_LEN]);

/* True for the lower-case 8-4-4-4-12 hex form that sv_uuid() writes. */
bool sv_uuid_valid(const char *s);

/* Writes the current UTC time as "2026-12-03T10:00:00Z". */
#define SV_TIME_LEN 21
void sv_time_iso(char out[SV_TIME_LEN]);

/* Milliseconds of a monotonic clock. */
uint64_t sv_now_ms(void);

#endif
