/*
 * thread.h - worker threads for blocking, CPU-bound engines.
 *
 * The local speech engines (espeak-ng, pocketsphinx) compute for
 * milliseconds to seconds at a time, so they run on threads of their own
 * and hand results back to the loop with uv_async_send(). Such a thread
 * must never take the process's signals: systemd's SIGTERM and friends
 * belong to the loop thread, where libuv's signal handles wait for them.
 *
 * Any thread may call these.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_THREAD_H
#define SV_THREAD_H

#include <pthread.h>

/*
 * Starts fn(arg) on a new joinable thread with every signal blocked and
 * the name given (at most 15 characters, shown by top and gdb). Returns 0
 * and sets *out, or a negative errno (-EAGAIN when the system is out of
 * threads). The caller joins the thread with pthread_join().
 */
int sv_thread_spawn(pthread_t *out, const char *name, void *(*fn)(void *),
                    void *arg);

#endif
