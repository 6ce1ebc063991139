/*
 * server.h - the HTTP listeners: REST API and session websockets, on TCP
 * and on a unix socket, served by libwebsockets on the daemon's libuv
 * loop (foreign-loop mode).
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_SERVER_H
#define SV_SERVER_H

#include <stdbool.h>

struct lws_vhost;
struct sv_daemon;
struct sv_server;

/*
 * Creates the lws context on d->loop and opens the listeners named in
 * d->cfg. Logs the bound TCP address (useful with port 0). Returns 0 or a
 * negative errno. lws closes its loop handles asynchronously, so even on
 * failure *out may be set: the caller then stops and frees it as below.
 */
int sv_server_start(struct sv_server **out, struct sv_daemon *d);

/* The TCP port actually bound, or 0 when TCP is off. */
int sv_server_port(const struct sv_server *s);

/*
 * Starts closing every listener and connection. The caller keeps running
 * the loop until sv_server_is_closed(), then calls sv_server_free().
 */
void sv_server_stop(struct sv_server *s);
bool sv_server_is_closed(const struct sv_server *s);
void sv_server_free(struct sv_server *s);

struct sv_daemon *sv_server_daemon(struct sv_server *s);

/* The client-only vhost that provider websockets connect through. */
struct lws_vhost *sv_server_client_vhost(struct sv_server *s);

#endif
