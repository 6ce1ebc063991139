/*
 * handlers.h - the REST handlers the router in api.c calls. Each answers
 * its request with sv_http_reply() or sv_http_error(), now or later.
 * req->json is the parsed body (an object) or NULL; req->param the {id}.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_HANDLERS_H
#define SV_HANDLERS_H

#include "daemon/http.h"

typedef void sv_handler_fn(struct sv_http_req *req);

/* byok.c */
sv_handler_fn sv_byok_get;
sv_handler_fn sv_byok_post;
sv_handler_fn sv_byok_delete;
sv_handler_fn sv_byok_config;

/* assistants.c */
sv_handler_fn sv_assistants_list;
sv_handler_fn sv_assistants_create;
sv_handler_fn sv_assistants_get;
sv_handler_fn sv_assistants_patch;
sv_handler_fn sv_assistants_delete;

/* calls.c */
sv_handler_fn sv_calls_list;
sv_handler_fn sv_calls_get;
sv_handler_fn sv_calls_control;
sv_handler_fn sv_usage_list;

#endif
