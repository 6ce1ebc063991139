/*
 * secret.c - guarded secret strings (see secret.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/secret.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/log.h"
#include "util/alloc.h"


char *sv_secret_dup(const char *s, size_t len)
{
    char *p;

    /* Idempotent and cheap after the first call; guarded memory needs it. */
    if (sodium_init() < 0)
        abort();
    p = sodium_malloc(len + 1);
    if (p == NULL) {
        sv_log_write(SV_LOG_ERR, "secret: out of guarded memory");
        abort();
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}


void sv_secret_free(char *s)
{
    /* sodium_free() wipes the whole allocation before releasing it. */
    if (s != NULL)
        sodium_free(s);
}
