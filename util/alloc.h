/*
 * alloc.h - allocation that never fails, and invariant checks.
 *
 * Out of memory is fatal (the process aborts and systemd restarts it):
 * branches that are never taken are never tested. SV_ASSERT stays on in
 * release builds; it is for invariants, never for input.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ALLOC_H
#define SV_ALLOC_H

#include <stddef.h>

void *sv_xmalloc(size_t size);
void *sv_xcalloc(size_t n, size_t size);
void *sv_xrealloc(void *ptr, size_t size);
char *sv_xstrdup(const char *s);
char *sv_xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *sv_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void sv_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#define SV_ASSERT(expr)                                                        \
    ((expr) ? (void)0 : sv_assert_fail(#expr, __FILE__, __LINE__))

#define SV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define sv_container_of(ptr, type, member)                                     \
    ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
