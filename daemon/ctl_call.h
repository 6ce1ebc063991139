/*
 * ctl_call.h - "sovereignctl call": a voice call with an assistant from
 * the command line, the client side of docs/session-protocol.md.
 *
 * Main thread; the call runs its own libuv loop until it is over.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_CTL_CALL_H
#define SV_CTL_CALL_H

#include <stdio.h>

/* Process exit statuses of sovereignctl's commands. */
#define SV_CTL_EXIT_OK    0
#define SV_CTL_EXIT_FAIL  1
#define SV_CTL_EXIT_USAGE 2

/* Writes the call command's usage lines to f. */
void sv_ctl_call_usage(FILE *f);

/*
 * Runs the call command. argv[0] is "call" and its options follow.
 * config_path names the daemon's config file, read only when neither
 * --socket nor --url says where the daemon is. The API key comes from
 * --key or $SOVEREIGN_API_KEY and is never printed. Prints the
 * conversation to stdout and problems to stderr, and returns the
 * process exit status: SV_CTL_EXIT_OK when the call ended normally,
 * SV_CTL_EXIT_FAIL when it could not start or failed, SV_CTL_EXIT_USAGE
 * for bad arguments.
 */
int sv_ctl_call(const char *config_path, int argc, char **argv);

#endif
