/*
 * ratelimit.h - fixed one-minute windows of requests per client.
 *
 * A client is a string (an API key id, or "ip:" and an address for
 * requests without a valid key). Memory stays bounded: windows that
 * ended are dropped as the table is walked.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_RATELIMIT_H
#define SV_RATELIMIT_H

#include <stdbool.h>
#include <time.h>

struct sv_ratelimit;

struct sv_rate {
    unsigned limit;
    unsigned remaining;
    long reset;             /* Unix seconds when the window ends */
    unsigned retry_after_s; /* > 0 when this request is refused */
};

struct sv_ratelimit *sv_ratelimit_new(unsigned per_minute);
void sv_ratelimit_free(struct sv_ratelimit *rl);

/*
 * Counts one request of client at time now; false when over the limit.
 * With is_free, fills rate as it stands and counts nothing (always true).
 */
bool sv_ratelimit_take(struct sv_ratelimit *rl, const char *client, time_t now,
                       bool is_free, struct sv_rate *rate);

#endif
