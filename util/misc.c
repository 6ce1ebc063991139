/*
 * misc.c - ids, timestamps (see misc.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/misc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>


void sv_uuid(char out[SV_ID_LEN])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, SV_ID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}


bool sv_uuid_valid(const char *s)
{
    for (int i = 0; i < SV_ID_LEN - 1; i++) {
        char c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[SV_ID_LEN - 1] == '\0';
}


void sv_time_iso(char out[SV_TIME_LEN])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, SV_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


uint64_t sv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
