/*
 * fake_http.c - runs the fake HTTP server (see fake_http.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"


void fake_http_start(struct fake_http *f)
{
    const char *src = getenv("SV_SOURCE_DIR");
    char script[4096];
    char line[32];
    int in_pipe[2];
    int out_pipe[2];
    size_t len = 0;
    ssize_t n;

    if (src == NULL)
        SV_SKIP("SV_SOURCE_DIR is not set");
    snprintf(script, sizeof(script), "%s/tests/httpc/fake_http.py", src);
    CHECK(pipe(in_pipe) == 0);
    CHECK(pipe(out_pipe) == 0);
    f->pid = fork();
    CHECK(f->pid >= 0);
    if (f->pid == 0) {
        /* The stdin pipe ends the server too; this covers a killed test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execlp("python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    f->stdin_fd = in_pipe[1];
    /* The first line is the port; read it byte by byte up to the newline. */
    while (len < sizeof(line) - 1) {
        n = read(out_pipe[0], line + len, 1);
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out_pipe[0]);
    f->port = atoi(line);
    if (f->port <= 0)
        SV_FAIL("fake_http.py did not start (read \"%s\")", line);
}


void fake_http_stop(struct fake_http *f)
{
    int status;

    close(f->stdin_fd);
    CHECK(waitpid(f->pid, &status, 0) == f->pid);
}


int fake_http_closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    CHECK(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}
