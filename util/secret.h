/*
 * secret.h - strings that hold key material.
 *
 * A secret lives in sodium guarded memory (locked, excluded from core
 * dumps, wiped on free). Use these for platform keys, decrypted BYOK keys
 * and any buffer that held them. Any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_SECRET_H
#define SV_SECRET_H

#include <stddef.h>

/* Guarded, NUL-terminated copy of s[0..len); aborts when out of memory. */
char *sv_secret_dup(const char *s, size_t len);

/* Wipes and frees a secret; NULL is a no-op. */
void sv_secret_free(char *s);

#endif
