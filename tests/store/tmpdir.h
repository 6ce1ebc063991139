/*
 * tmpdir.h - a private scratch directory per test case, and file helpers
 * for the store and vault tests.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_TEST_TMPDIR_H
#define SV_TEST_TMPDIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* Makes a new empty directory below $TMPDIR (or /tmp) into dir. */
static inline void tmp_make(char *dir, size_t len)
{
    const char *base = getenv("TMPDIR");

    if (base == NULL)
        base = "/tmp";
    snprintf(dir, len, "%s/sv_store_XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        SV_FAIL("mkdtemp(%s) failed", dir);
}


/* Removes the (flat) directory and the files in it. */
static inline void tmp_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) < 0)
            rmdir(path);
    }
    closedir(d);
    rmdir(dir);
}


/* Writes data to path, creating it with exactly the given mode. */
static inline void write_file(const char *path, const void *data, size_t len,
                              mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    CHECK(fd >= 0);
    CHECK(fchmod(fd, mode) == 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}


/* Reads the whole file into a new buffer; NULL when it does not exist. */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;
    size_t got;
    size_t n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap = cap == 0 ? 4096 : cap * 2;
            data = realloc(data, cap + 1);
            CHECK(data != NULL);
        }
        got = fread(data + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    data[n] = '\0';
    *len = n;

    return data;
}


/* True when needle occurs anywhere in the bytes of the file at path. */
static inline bool file_contains(const char *path, const void *needle,
                                 size_t needle_len)
{
    size_t len = 0;
    char *data = read_file(path, &len);
    bool found;

    if (data == NULL)
        return false;
    found = memmem(data, len, needle, needle_len) != NULL;
    free(data);

    return found;
}

#endif
