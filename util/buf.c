/*
 * buf.c - growable byte buffer (see buf.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/alloc.h"


static void reserve(struct sv_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need <= b->cap)
        return;
    if (b->cap == 0)
        b->cap = 256;
    while (b->cap < need)
        b->cap *= 2;
    b->data = sv_xrealloc(b->data, b->cap);
}


void sv_buf_append(struct sv_buf *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}


void sv_buf_printf(struct sv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}


void sv_buf_consume(struct sv_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0';
}


void sv_buf_reset(struct sv_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}


void sv_buf_free(struct sv_buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
