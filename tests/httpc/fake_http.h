/*
 * fake_http.h - starts and stops fake_http.py for the httpc tests.
 *
 * Test process only, before and after its loop runs.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_TEST_FAKE_HTTP_H
#define SV_TEST_FAKE_HTTP_H

#include <sys/types.h>

struct fake_http {
    pid_t pid;
    int stdin_fd; /* closing it makes the server exit */
    int port;
};

/*
 * Runs tests/httpc/fake_http.py (found through $SV_SOURCE_DIR) and waits
 * for its port. Skips the test when the variable is unset; fails it when
 * the server does not start.
 */
void fake_http_start(struct fake_http *f);

/* Stops the server and reaps it. */
void fake_http_stop(struct fake_http *f);

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
int fake_http_closed_port(void);

#endif
