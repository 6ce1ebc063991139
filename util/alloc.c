/*
 * alloc.c - aborting allocators (see alloc.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"


static void oom(size_t size)
{
    sv_log_write(SV_LOG_ERR, "alloc: out of memory (%zu bytes)", size);
    abort();
}


void *sv_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}


void *sv_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}


void *sv_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}


char *sv_xstrdup(const char *s)
{
    return sv_xstrndup(s, strlen(s));
}


char *sv_xstrndup(const char *s, size_t n)
{
    char *p = sv_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}


char *sv_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return p;
}


void sv_assert_fail(const char *expr, const char *file, int line)
{
    sv_log_write(SV_LOG_ERR, "assert: %s failed at %s:%d", expr, file, line);
    abort();
}
