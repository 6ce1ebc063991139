/*
 * thread.c - worker threads with the signals blocked (see thread.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "util/thread.h"

#include <errno.h>
#include <signal.h>


int sv_thread_spawn(pthread_t *out, const char *name, void *(*fn)(void *),
                    void *arg)
{
    sigset_t all;
    sigset_t old;
    pthread_t t;
    int err;

    /* A new thread inherits the mask of its creator: block, spawn, undo. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return -err;

    /* The name is for people only, so a failure to set it does not count. */
    (void)pthread_setname_np(t, name);
    *out = t;
    return 0;
}
