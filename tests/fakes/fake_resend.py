#!/usr/bin/env python3
# fake_resend.py - local stand-in for the Resend email API.
#
# Serves POST /emails (protocols.md D.1), GET /emails/{id}, and GET
# /domains for key checks (D.4) with the error shapes of D.2 and the
# rate-limit headers of D.3 on every response. Sent emails are kept in
# fake.emails for tests to inspect. See docs/testing-fakes.md.
#
# SPDX-License-Identifier: MIT

import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakebase  # noqa: E402
from fakebase import FakeServer, bearer, split_behaviour  # noqa: E402

ADDR = r"[^\s@<>]+@([^\s@<>]+\.[^\s@<>]+)"
FROM_RE = re.compile(r"^(?:%s|[^<>]*<%s>)$" % (ADDR, ADDR))
TO_RE = re.compile(r"^(?:%s|[^<>]*<%s>)$" % (ADDR, ADDR))


def _err(status, name, message):
    return {"statusCode": status, "message": message, "name": name}


class FakeResend(FakeServer):
    """Options:
    send_only_keys    keys valid for sending only (GET /domains gives 401
                      restricted_api_key); they need not be in keys
    verified_domains  sender domains accepted (None: any); others get 403
    rate_limit        requests per second advertised in ratelimit-* headers
    enforce_rate_limit  answer 429 beyond rate_limit requests per second
    retry_after       seconds in retry-after on 429
    invalid_key_status  status for an unknown key (401; older docs 403)
    """

    NAME = "resend"
    OPTIONS = {
        "send_only_keys": (),
        "verified_domains": None,
        "rate_limit": 5,
        "enforce_rate_limit": False,
        "retry_after": 1,
        "invalid_key_status": 401,
    }
    ROUTES = [
        ("POST", r"^/emails/?$", "emails", "route_send", "main"),
        ("GET", r"^/emails/(?P<email_id>[^/]+)$", "email", "route_get",
         "email"),
        ("GET", r"^/domains/?$", "domains", "route_domains", "domains"),
    ]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._emails = []
        self._idem = {}
        self._window = (0, 0)

    @property
    def emails(self):
        """Bodies of the accepted emails, each with its "id" added."""
        with self._lock:
            return list(self._emails)

    def not_found_body(self, req):
        return _err(404, "not_found", "The requested endpoint does not "
                    "exist.")

    def extract_key(self, req):
        return bearer(req.header("authorization"))

    def _rl_headers(self, count=True):
        now = int(time.monotonic())
        start, n = self._window
        if start != now:
            start, n = now, 0
        if count:
            n += 1
        self._window = (start, n)
        limit = int(self.opt["rate_limit"])
        return {"ratelimit-limit": str(limit),
                "ratelimit-remaining": str(max(0, limit - n)),
                "ratelimit-reset": "1",
                "ratelimit-policy": "%d;w=1" % limit}, n > limit

    async def _send(self, conn, entry, status, body, rl):
        await self.reply_json(conn, entry, status, body, rl)

    async def _gate(self, conn, req, entry, name, send_only_ok):
        """User-Agent, key and scripted checks; True when replied."""
        rl, over = self._rl_headers()
        if not req.header("user-agent"):
            h = {"content-type": "text/plain; charset=UTF-8"}
            h.update(rl)
            await self.reply(conn, entry, 403, b"error code: 1010", h)
            return True, rl
        key = entry["key"]
        if req.header("authorization") is None:
            await self._send(conn, entry, 401, _err(
                401, "missing_api_key", "Missing API key in the "
                "authorization header. Include the following header "
                "Authorization: Bearer YOUR_API_KEY in the request."), rl)
            return True, rl
        send_only = key in self.opt["send_only_keys"]
        if name == "401" or (key not in self.keys and not send_only):
            st = int(self.opt["invalid_key_status"])
            await self._send(conn, entry, st, _err(
                st, "validation_error", "API key is invalid"), rl)
            return True, rl
        if send_only and not send_only_ok:
            await self._send(conn, entry, 401, _err(
                401, "restricted_api_key", "This API key is restricted to "
                "only send emails"), rl)
            return True, rl
        if name.startswith("429") or (over and
                                      self.opt["enforce_rate_limit"]):
            which = {"429_daily": "daily_quota_exceeded",
                     "429_monthly": "monthly_quota_exceeded"}.get(
                         name, "rate_limit_exceeded")
            msg = "Too many requests. You can only make %s requests per " \
                "second. See rate limit response headers for more " \
                "information." % self.opt["rate_limit"] \
                if which == "rate_limit_exceeded" else \
                "You have reached your %s sending quota." % which.split(
                    "_")[0]
            h = dict(rl)
            h["retry-after"] = str(self.opt["retry_after"])
            await self._send(conn, entry, 429, _err(429, which, msg), h)
            return True, rl
        if name == "500":
            await self._send(conn, entry, 500, _err(
                500, "application_error", "An unexpected error occurred."),
                rl)
            return True, rl
        if name == "500_text":
            h = {"content-type": "text/html"}
            h.update(rl)
            await self.reply(conn, entry, 500, b"<html>Internal Server "
                             b"Error</html>", h)
            return True, rl
        if name == "503":
            await self._send(conn, entry, 503, _err(
                503, "internal_server_error", "Service unavailable."), rl)
            return True, rl
        if name == "403":
            await self._send(conn, entry, 403, _err(
                403, "validation_error", "You can only send testing emails "
                "to your own email address."), rl)
            return True, rl
        return False, rl

    def _check_email(self, body):
        """(status, name, message) of the first problem, or None."""
        if not isinstance(body, dict):
            return 422, "validation_error", "Invalid JSON body."
        for f in ("from", "to", "subject"):
            v = body.get(f)
            if v is None or v == "" or v == []:
                return 422, "missing_required_field", "Missing `%s` " \
                    "field." % f
        if not any(isinstance(body.get(f), str) and body.get(f)
                   for f in ("html", "text", "react", "template")):
            return 422, "missing_required_field", "Missing `html` or " \
                "`text` field."
        frm = body["from"]
        if not isinstance(frm, str) or not FROM_RE.match(frm.strip()):
            return 422, "invalid_from_address", "Invalid `from` field. " \
                "The email address needs to follow the `email@example.com`" \
                " or `Name <email@example.com>` format."
        for f in ("to", "cc", "bcc", "reply_to"):
            v = body.get(f)
            if v is None:
                continue
            items = v if isinstance(v, list) else [v]
            if f == "to" and len(items) > 50:
                return 422, "validation_error", "Too many recipients."
            for it in items:
                if not isinstance(it, str) or not TO_RE.match(it.strip()):
                    return 422, "validation_error", "Invalid `%s` field." \
                        % f
        if not isinstance(body["subject"], str):
            return 422, "validation_error", "Invalid `subject` field."
        dom = self.opt["verified_domains"]
        if dom is not None:
            m = FROM_RE.match(frm.strip())
            d = (m.group(1) or m.group(2)).lower()
            if d not in {x.lower() for x in dom}:
                return 403, "validation_error", "The %s domain is not " \
                    "verified. Please, add and verify your domain." % d
        return None

    async def route_send(self, conn, req, entry):
        name, _ = split_behaviour(entry["behaviour"])
        done, rl = await self._gate(conn, req, entry, name, True)
        if done:
            return
        idem = req.header("idempotency-key")
        entry["idempotency_key"] = idem
        if idem is not None and not 1 <= len(idem) <= 256:
            await self._send(conn, entry, 400, _err(
                400, "invalid_idempotency_key", "The key must be between "
                "1-256 chars."), rl)
            return
        try:
            body = req.json()
        except ValueError:
            await self._send(conn, entry, 422, _err(
                422, "validation_error", "Invalid JSON body."), rl)
            return
        entry["json"] = body
        bad = self._check_email(body)
        if bad:
            await self._send(conn, entry, bad[0], _err(*bad), rl)
            return
        if idem is not None:
            prev = self._idem.get((entry["key"], idem))
            if prev is not None:
                if prev[1] != req.body:
                    await self._send(conn, entry, 409, _err(
                        409, "invalid_idempotent_request", "Same "
                        "idempotency key used with a different request "
                        "payload."), rl)
                    return
                entry["email_id"] = prev[0]
                entry["replayed"] = True
                await self._send(conn, entry, 200, {"id": prev[0]}, rl)
                return
        eid = str(uuid.uuid4())
        if idem is not None:
            self._idem[(entry["key"], idem)] = (eid, req.body)
        entry["email_id"] = eid
        with self._lock:
            email = dict(body)
            email["id"] = eid
            self._emails.append(email)
        await self._send(conn, entry, 200, {"id": eid}, rl)

    async def route_get(self, conn, req, entry, email_id):
        name, _ = split_behaviour(entry["behaviour"])
        done, rl = await self._gate(conn, req, entry, name, False)
        if done:
            return
        for e in self.emails:
            if e["id"] == email_id:
                out = {"object": "email", "id": e["id"], "from": e["from"],
                       "to": e["to"] if isinstance(e["to"], list)
                       else [e["to"]], "subject": e["subject"],
                       "html": e.get("html"), "text": e.get("text"),
                       "last_event": "delivered"}
                await self._send(conn, entry, 200, out, rl)
                return
        await self._send(conn, entry, 404, _err(404, "not_found",
                                                "Email not found"), rl)

    async def route_domains(self, conn, req, entry):
        name, _ = split_behaviour(entry["behaviour"])
        done, rl = await self._gate(conn, req, entry, name, False)
        if done:
            return
        doms = self.opt["verified_domains"] or ["example.com"]
        data = [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, d)), "name": d,
                 "status": "verified", "created_at":
                 "2025-01-01 00:00:00.000000+00", "region": "us-east-1"}
                for d in doms]
        await self._send(conn, entry, 200, {"object": "list", "data": data},
                         rl)


if __name__ == "__main__":
    sys.exit(fakebase.run_cli(FakeResend))
