/*
 * ratelimit.c - per-client request windows (see ratelimit.h).
 *
 * A chained hash table keyed by client; each entry keeps the start of its
 * current window and a count. Lookups prune expired entries of the bucket
 * they walk, so idle clients cost nothing for long.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define BUCKETS  1024
#define WINDOW_S 60

struct entry {
    struct entry *next;
    time_t window_start;
    unsigned count;
    char client[]; /* NUL-terminated */
};

struct sv_ratelimit {
    unsigned per_minute;
    struct entry *bucket[BUCKETS];
};


static size_t hash(const char *s)
{
    size_t h = 5381;

    while (*s != '\0')
        h = h * 33 + (unsigned char)*s++;
    return h % BUCKETS;
}


struct sv_ratelimit *sv_ratelimit_new(unsigned per_minute)
{
    struct sv_ratelimit *rl = sv_xcalloc(1, sizeof(*rl));

    rl->per_minute = per_minute;
    return rl;
}


void sv_ratelimit_free(struct sv_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry *e = rl->bucket[i];

        while (e != NULL) {
            struct entry *next = e->next;

            free(e);
            e = next;
        }
    }
    free(rl);
}


bool sv_ratelimit_take(struct sv_ratelimit *rl, const char *client, time_t now,
                       bool is_free, struct sv_rate *rate)
{
    time_t window = now - now % WINDOW_S;
    struct entry **pp = &rl->bucket[hash(client)];
    struct entry *found = NULL;

    while (*pp != NULL) {
        struct entry *e = *pp;

        if (strcmp(e->client, client) == 0) {
            found = e;
            pp = &e->next;
        } else if (e->window_start < window) {
            *pp = e->next;
            free(e);
        } else {
            pp = &e->next;
        }
    }
    if (found == NULL) {
        size_t len = strlen(client);

        found = sv_xcalloc(1, sizeof(*found) + len + 1);
        memcpy(found->client, client, len);
        found->next = rl->bucket[hash(client)];
        rl->bucket[hash(client)] = found;
    }
    if (found->window_start != window) {
        found->window_start = window;
        found->count = 0;
    }

    rate->limit = rl->per_minute;
    rate->reset = (long)(window + WINDOW_S);
    rate->retry_after_s = 0;
    if (is_free) {
        rate->remaining = rl->per_minute - found->count;
        return true;
    }
    if (found->count >= rl->per_minute) {
        rate->remaining = 0;
        rate->retry_after_s = (unsigned)(window + WINDOW_S - now);
        if (rate->retry_after_s == 0)
            rate->retry_after_s = 1;
        return false;
    }
    found->count++;
    rate->remaining = rl->per_minute - found->count;
    return true;
}
