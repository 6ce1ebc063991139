/*
 * daemon.h - what one loop of the daemon shares with its request
 * handlers and calls: the configuration, the store, the vault and the
 * HTTP client. main.c owns it; everything else borrows it.
 *
 * Loop thread only, apart from the read-only config and vault.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_DAEMON_H
#define SV_DAEMON_H

#include <uv.h>

struct sv_api;
struct sv_config;
struct sv_httpc;
struct sv_store;
struct sv_vault;
struct sv_server;
struct sv_session;
struct sv_local_audio;
struct sv_opus_worker;

struct sv_daemon {
    uv_loop_t *loop;              /* borrowed */
    const struct sv_config *cfg;  /* borrowed, read-only */
    struct sv_store *store;       /* owned by main; this loop's connection */
    const struct sv_vault *vault; /* borrowed, read-only */
    struct sv_httpc *httpc;       /* owned by main; curl on this loop */
    struct sv_server *server;     /* owned by main */
    struct sv_api *api;           /* owned by main; REST state */
    struct sv_session *sessions;  /* live voice sessions (a list) */
    struct sv_local_audio *local_audio; /* owned by main; NULL when off */
    struct sv_opus_worker *opus;        /* owned by main; encodes reply audio */
};

#endif
