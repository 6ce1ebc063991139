/*
 * buf.h - a growable byte buffer, always NUL-terminated for convenience.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_BUF_H
#define SV_BUF_H

#include <stddef.h>

struct sv_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

void sv_buf_append(struct sv_buf *b, const void *data, size_t len);
void sv_buf_printf(struct sv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes, keeping the rest. */
void sv_buf_consume(struct sv_buf *b, size_t n);
void sv_buf_reset(struct sv_buf *b);
/* Wipes the contents (for buffers that held secrets) and frees them. */
void sv_buf_free(struct sv_buf *b);

#endif
