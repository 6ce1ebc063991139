/*
 * keycheck.h - asks a provider whether an API key is good, with one
 * cheap authenticated GET (the provider's check_path in registry.h).
 *
 * Results: 2xx means accepted; 401/403 refused. Resend follows
 * protocols.md D.4: 200 accepted, 401 "restricted_api_key" accepted (a
 * send-only key, the common default), any other 400/401/403 refused.
 *
 * 429 counts as accepted: every provider here checks the key before it
 * applies rate limits or quotas, so a 429 says the key authenticated.
 * Refusing it would turn a busy moment into a "bad key" answer for a key
 * that works; should the key be wrong after all, the first real request
 * fails with 401 and is logged there. A WARN line records the case.
 *
 * Loop thread only, like the struct sv_httpc it runs on. Needs
 * sodium_init() first: the key's header line lives in guarded memory.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_KEYCHECK_H
#define SV_KEYCHECK_H

#include "providers/httpc.h"
#include "providers/registry.h"

struct sv_keycheck;

/*
 * The answer, exactly once per started check: 0 accepted; -EACCES
 * refused by the provider; -ETIMEDOUT; -EHOSTUNREACH or -ECONNREFUSED
 * (unreachable); -EPROTO (an unexpected answer: 5xx, 404, a dropped
 * connection, TLS failure, ...); -ECANCELED. The check is freed after cb
 * returns.
 */
typedef void sv_keycheck_cb(void *arg, int result);

/*
 * Checks key (borrowed for the call; copies are wiped) against provider
 * p at base_url (NULL: p->default_url). A ws:// or wss:// base becomes
 * http:// or https://, and p->check_path is appended to it. The whole
 * check, connecting included, is limited to timeout_ms (0: no limit).
 * Returns 0 and sets *out (when out is not NULL; valid until cb runs),
 * or -EINVAL (an empty key, a key with control characters or spaces, a
 * bad base URL) or -ENOTSUP (p takes no key). On error cb is never
 * called.
 */
int sv_keycheck_start(struct sv_httpc *c, const struct sv_provider_info *p,
                      const char *base_url, const char *key,
                      unsigned timeout_ms, sv_keycheck_cb *cb, void *arg,
                      struct sv_keycheck **out);

/* Stops k; cb(-ECANCELED) runs before this returns. */
void sv_keycheck_cancel(struct sv_keycheck *k);

#endif
