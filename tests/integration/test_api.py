"""REST API tests against the real sovereignd binary (../shared/API.md)."""

import os
import signal
import socket
import sqlite3
import stat
import subprocess
import threading

from harness import (Daemon, case, check, check_eq, main, wait_for,
                     SOVEREIGND)

from fake_deepgram import FakeDeepgram
from fake_elevenlabs import FakeElevenLabs
from fake_openai import FakeOpenAI
from fake_resend import FakeResend

API = "/api/v1"
PROVIDERS = ["deepgram", "openai", "elevenlabs", "resend"]


def byok_ids(resp):
    return resp.json["byok_keys"]


@case
def healthz():
    with Daemon() as d:
        r = d.request("GET", "/healthz")
        check_eq(r.status, 200, "healthz status")
        check_eq(r.json["status"], "ok")
        check_eq(d.request("POST", "/healthz").status, 405, "POST healthz")
        check_eq(d.request("GET", "/nowhere").status, 404, "unknown path")


@case
def auth():
    with Daemon() as d:
        org, key = d.org()
        r = d.request("GET", API + "/assistants")
        check_eq(r.status, 401, "no key")
        check_eq(r.json["error"], "unauthorized")
        check_eq(d.request("GET", API + "/assistants", key="sv_" + "A" * 43)
                 .status, 401, "unknown key")
        check_eq(d.request("GET", API + "/assistants",
                           headers={"Authorization": "Basic " + key})
                 .status, 401, "wrong scheme")
        check_eq(d.request("GET", API + "/assistants", key=key).status, 200)
        # A second key works; a revoked one stops working at once.
        k2 = d.ctl("key", "create", org)
        check_eq(d.request("GET", API + "/byok", key=k2["api_key"]).status,
                 200, "second key")
        listed = d.ctl("key", "list", org)["keys"]
        check_eq(len(listed), 2, "two keys listed")
        check("api_key" not in str(listed) and key not in str(listed),
              "key list shows no key material")
        d.ctl("key", "revoke", k2["id"])
        check_eq(d.request("GET", API + "/byok", key=k2["api_key"]).status,
                 401, "revoked key")
        check_eq(d.request("GET", API + "/byok", key=key).status, 200)


@case
def byok_flow():
    with Daemon() as d:
        org, key = d.org()
        r = d.request("GET", API + "/byok", key=key)
        check_eq(r.status, 200)
        check_eq(byok_ids(r), {p + "_secret_id": None for p in PROVIDERS})

        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": "openai", "api_key": "sk-test-one"})
        check_eq(r.status, 200, "post key")
        check_eq(r.json["success"], True)
        first = byok_ids(r)["openai_secret_id"]
        check(first and len(first) == 36, "secret id is a uuid", first)
        check_eq(byok_ids(d.request("GET", API + "/byok", key=key))
                 ["openai_secret_id"], first)

        # Rotation: a new key replaces the old under a new secret id.
        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": "openai", "api_key": "sk-test-two"})
        check_eq(r.status, 200)
        second = byok_ids(r)["openai_secret_id"]
        check(second != first, "rotation gives a new secret id")

        r = d.request("DELETE", API + "/byok", key=key,
                      body={"provider": "openai"})
        check_eq(r.status, 200, "delete")
        check_eq(byok_ids(r)["openai_secret_id"], None)
        check_eq(byok_ids(d.request("GET", API + "/byok", key=key))
                 ["openai_secret_id"], None)


@case
def byok_bad_input():
    with Daemon() as d:
        org, key = d.org()
        bad = [
            ({"provider": "nope", "api_key": "x"}, "provider"),
            ({"api_key": "x"}, "provider"),
            ({"provider": "openai"}, "api_key"),
            ({"provider": "openai", "api_key": ""}, "api_key"),
            ({"provider": "openai", "api_key": "a\nb"}, "api_key"),
            ({"provider": "openai", "api_key": "a b"}, "api_key"),
            ({"provider": "openai", "api_key": 42}, "api_key"),
            ({"provider": "openai", "api_key": "k" * 5000}, "api_key"),
        ]
        for body, param in bad:
            r = d.request("POST", API + "/byok", key=key, body=body)
            check_eq(r.status, 400, "status for %r" % (body,))
            check_eq(r.json.get("param"), param, "param for %r" % (body,))
            check("error" in r.json and "message" in r.json, "error body")
        r = d.request("POST", API + "/byok", key=key, raw=b"{not json")
        check_eq(r.status, 400, "bad json")
        check_eq(r.json["error"], "invalid_json")
        r = d.request("POST", API + "/byok", key=key, raw=b"[1,2]")
        check_eq(r.status, 400, "array body")
        r = d.request("POST", API + "/byok", key=key, raw=b"provider=openai",
                      content_type="application/x-www-form-urlencoded")
        check_eq(r.status, 415, "not json")
        r = d.request("POST", API + "/byok", key=key,
                      raw=b'{"provider": "openai", "api_key": "' +
                      b"x" * 70000 + b'"}')
        check_eq(r.status, 413, "too large")
        check_eq(d.request("PUT", API + "/byok", key=key, body={}).status,
                 405, "PUT byok")
        # Nothing was stored by any of it.
        check_eq(set(byok_ids(d.request("GET", API + "/byok", key=key))
                     .values()), {None}, "nothing stored")


@case
def byok_config():
    with Daemon() as d:
        org, key = d.org()
        r = d.request("GET", API + "/byok/config", key=key)
        check_eq(r.status, 200)
        by_id = {p["id"]: p for p in r.json["providers"]}
        for p in PROVIDERS:
            check(p in by_id, "provider listed", p)
        check_eq(by_id["deepgram"]["category"], "stt")
        check_eq(by_id["openai"]["category"], "llm")
        check_eq(by_id["elevenlabs"]["category"], "tts")
        check_eq(by_id["resend"]["category"], "notifications")
        dg_default = [m["id"] for m in by_id["deepgram"]["models"]
                      if m["default"]]
        check_eq(dg_default, ["nova-3-general"])
        oa = {m["id"]: m["default"] for m in by_id["openai"]["models"]}
        check_eq(oa.get("gpt-4o-mini"), True)
        check("gpt-4o" in oa, "gpt-4o listed")
        check(by_id["openai"]["docsUrl"].startswith("https://"), "docsUrl")


@case
def assistants_crud():
    with Daemon() as d:
        org, key = d.org()
        r = d.request("POST", API + "/assistants", key=key,
                      body={"name": "Front desk", "first_message": "Hallo!",
                            "webhook_secret": "whsec-123",
                            "llm_config": {"temperature": 0.2}})
        check_eq(r.status, 201, "create")
        a = r.json["assistant"]
        aid = a["id"]
        check_eq(a["name"], "Front desk")
        check_eq(a["is_active"], True)
        check_eq(a["llm_config"]["temperature"], 0.2)
        check_eq(a["llm_config"]["model"], "gpt-4o-mini", "default model")
        check_eq(a["stt_config"]["model"], "nova-3-general")
        check(a["webhook_secret"] != "whsec-123", "webhook secret masked")
        check(a["created_at"].endswith("Z"), "created_at")

        r = d.request("GET", API + "/assistants/" + aid, key=key)
        check_eq(r.status, 200)
        check_eq(r.json["assistant"]["first_message"], "Hallo!")
        r = d.request("GET", API + "/assistants", key=key)
        check_eq([x["id"] for x in r.json["assistants"]], [aid])

        r = d.request("PATCH", API + "/assistants/" + aid, key=key,
                      body={"name": "Renamed",
                            "tts_config": {"speed": 1.5}})
        check_eq(r.status, 200, "patch")
        b = r.json["assistant"]
        check_eq(b["name"], "Renamed")
        check_eq(b["first_message"], "Hallo!", "untouched field kept")
        check_eq(b["tts_config"]["speed"], 1.5)
        check_eq(b["tts_config"]["voice_id"], a["tts_config"]["voice_id"],
                 "config merged, not replaced")

        # The deprecated /agents alias serves the same objects.
        r = d.request("GET", API + "/agents/" + aid, key=key)
        check_eq(r.json["assistant"]["name"], "Renamed")

        check_eq(d.request("DELETE", API + "/assistants/" + aid, key=key)
                 .json, {"success": True})
        check_eq(d.request("GET", API + "/assistants/" + aid, key=key)
                 .status, 404, "gone")
        check_eq(d.request("DELETE", API + "/assistants/" + aid, key=key)
                 .status, 404, "delete twice")
        check_eq(d.request("PATCH", API + "/assistants/nope", key=key,
                           body={"name": "x"}).status, 404)


@case
def agents_alias():
    """/agents serves every assistant method, on the same objects."""
    with Daemon() as d:
        _, key = d.org()
        _, other = d.org("Other")
        r = d.request("POST", API + "/agents", key=key,
                      body={"name": "Via agents"})
        check_eq(r.status, 201, "create under /agents")
        aid = r.json["assistant"]["id"]
        check_eq([a["id"] for a in d.request("GET", API + "/assistants",
                                             key=key).json["assistants"]],
                 [aid], "seen under /assistants")
        check_eq([a["id"] for a in d.request("GET", API + "/agents",
                                             key=key).json["assistants"]],
                 [aid], "listed under /agents")
        r = d.request("PATCH", API + "/agents/" + aid, key=key,
                      body={"first_message": "Hoi"})
        check_eq(r.status, 200, "patch under /agents")
        check_eq(d.request("GET", API + "/assistants/" + aid, key=key)
                 .json["assistant"]["first_message"], "Hoi", "patched")
        r = d.request("POST", API + "/agents", key=key,
                      body={"name": "x", "colour": "red"})
        check_eq((r.status, r.json.get("param")), (400, "colour"),
                 "validation under /agents")
        check_eq(d.request("GET", API + "/agents/" + aid, key=other).status,
                 404, "another org's id under /agents")
        check_eq(d.request("PUT", API + "/agents/" + aid, key=key,
                           body={}).status, 405, "PUT under /agents")
        check_eq(d.request("DELETE", API + "/agents/" + aid, key=key).json,
                 {"success": True}, "delete under /agents")
        check_eq(d.request("GET", API + "/assistants/" + aid, key=key)
                 .status, 404, "gone under /assistants")


@case
def assistants_validation():
    with Daemon() as d:
        org, key = d.org()
        bad = [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "x", "colour": "red"}, "colour"),
            ({"name": "x", "is_active": "yes"}, "is_active"),
            ({"name": "x", "llm_config": {"temperature": 2.5}},
             "llm_config.temperature"),
            ({"name": "x", "llm_config": {"model": "gpt-99"}},
             "llm_config.model"),
            ({"name": "x", "llm_config": {"provider": "deepgram"}},
             "llm_config.provider"),
            ({"name": "x", "llm_config": {"messages": [
                {"role": "wizard", "content": "hi"}]}},
             "llm_config.messages"),
            ({"name": "x", "tts_config": {"speed": 0.1}}, "tts_config.speed"),
            ({"name": "x", "tts_config": {"stability": 1.5}},
             "tts_config.stability"),
            ({"name": "x", "tts_config": {"style": -1}}, "tts_config.style"),
            ({"name": "x", "stt_config": {"model": "whisper"}},
             "stt_config.model"),
            ({"name": "x", "stt_config": {"provider": "nope"}},
             "stt_config.provider"),
            ({"name": "x", "webhook_url": "ftp://x"}, "webhook_url"),
            ({"name": "x", "webhook_events": ["boom"]}, "webhook_events"),
            ({"name": "x", "max_duration_seconds": -5},
             "max_duration_seconds"),
            ({"name": "x", "notification_email": "nobody"},
             "notification_email"),
            ({"name": "x", "llm_config": {"tools": [
                {"type": "function", "function": {"name": "bad name!"}}]}},
             "llm_config.tools"),
        ]
        for body, param in bad:
            r = d.request("POST", API + "/assistants", key=key, body=body)
            check_eq(r.status, 400, "status for %r" % (body,))
            check_eq(r.json.get("param"), param, "param for %r" % (body,))
        check_eq(d.request("GET", API + "/assistants", key=key)
                 .json["assistants"], [], "nothing created")
        ok = d.request("POST", API + "/assistants", key=key, body={
            "name": "Tools", "llm_config": {"model": "gpt-4o", "tools": [
                {"type": "function", "function": {
                    "name": "get_hours", "description": "Opening hours",
                    "parameters": {"type": "object", "properties": {}}},
                 "server": {"url": "https://example.com/tool"},
                 "async": False}],
                "messages": [{"role": "system", "content": "Be brief."}]}})
        check_eq(ok.status, 201, "valid tools")
        aid = ok.json["assistant"]["id"]
        r = d.request("PATCH", API + "/assistants/" + aid, key=key,
                      body={"llm_config": {"temperature": 9}})
        check_eq(r.status, 400, "bad patch")
        check_eq(d.request("GET", API + "/assistants/" + aid, key=key)
                 .json["assistant"]["llm_config"]["model"], "gpt-4o",
                 "bad patch changed nothing")


@case
def tenant_isolation():
    with Daemon() as d:
        _, ka = d.org("A")
        _, kb = d.org("B")
        a = d.request("POST", API + "/assistants", key=ka,
                      body={"name": "A's"}).json["assistant"]["id"]
        for method, body in (("GET", None), ("PATCH", {"name": "mine"}),
                             ("DELETE", None)):
            r = d.request(method, API + "/assistants/" + a, key=kb,
                          body=body)
            check_eq(r.status, 404, "B %s A's assistant" % method)
        check_eq(d.request("GET", API + "/assistants", key=kb)
                 .json["assistants"], [], "B sees none")
        d.request("POST", API + "/byok", key=ka,
                  body={"provider": "deepgram", "api_key": "dg-a"})
        check_eq(byok_ids(d.request("GET", API + "/byok", key=kb))
                 ["deepgram_secret_id"], None, "B sees no key")
        d.request("DELETE", API + "/byok", key=kb,
                  body={"provider": "deepgram"})
        check(byok_ids(d.request("GET", API + "/byok", key=ka))
              ["deepgram_secret_id"], "A's key survives B's delete")
        check_eq(d.request("GET", API + "/assistants/" + a, key=ka).status,
                 200)


@case
def rate_limit():
    with Daemon(rate_limit=5) as d:
        _, key = d.org()
        for i in range(5):
            r = d.request("GET", API + "/byok", key=key)
            check_eq(r.status, 200, "request %d" % i)
            check_eq(r.headers["x-ratelimit-limit"], "5")
            check_eq(r.headers["x-ratelimit-remaining"], str(4 - i))
            check(int(r.headers["x-ratelimit-reset"]) > 1700000000,
                  "reset is unix seconds")
        r = d.request("GET", API + "/byok", key=key)
        check_eq(r.status, 429, "over the limit")
        check_eq(r.json["error"], "rate_limited")
        check(1 <= int(r.headers["retry-after"]) <= 60, "retry-after")
        # Health checks still answer, showing the spent budget.
        r = d.request("GET", "/healthz", key=key)
        check_eq(r.status, 200, "healthz over the limit")
        check_eq(r.headers["x-ratelimit-remaining"], "0")
        # Another key has its own budget.
        _, other = d.org("Other")
        check_eq(d.request("GET", API + "/byok", key=other).status, 200)


def check_rate(r, budget, what, free=False):
    """Checks that r carries the rate-limit headers of budget ({"limit":
    N}) with one more request taken (none when free). The count starts
    again when the one-minute window does (the reset time changes)."""
    reset = r.headers.get("x-ratelimit-reset")
    check(reset is not None and int(reset) > 1700000000,
          what + ": X-RateLimit-Reset", reset)
    if reset != budget.get("reset"):
        budget["reset"], budget["used"] = reset, 0
    budget["used"] += 0 if free else 1
    check_eq(r.headers.get("x-ratelimit-limit"), str(budget["limit"]),
             what + ": X-RateLimit-Limit")
    check_eq(r.headers.get("x-ratelimit-remaining"),
             str(budget["limit"] - budget["used"]),
             what + ": X-RateLimit-Remaining")
    check("retry-after" not in r.headers, what + ": no Retry-After")


def raw_post(path, headers, body=b"", key=None):
    """A POST written by hand, with headers exactly as given."""
    lines = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1"]
    if key is not None:
        lines.append("Authorization: Bearer " + key)
    lines += ["Content-Type: application/json"] + headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@case
def rate_headers_on_every_answer():
    """Every answer carries the rate-limit headers and counts against the
    limit: errors as much as successes, refusals made before the body is
    read (a bad Content-Length, a chunked body, a body over the limit)
    and paths outside /api/v1. A valid key is charged wherever it is sent;
    a request without one is charged to the client's address."""
    with Daemon(rate_limit=40) as d:
        _, key = d.org()
        big = b'{"provider": "openai", "api_key": "' + b"x" * 70000 + b'"}'
        answers = [
            ("GET", API + "/byok", {}, 200),
            ("GET", API + "/nowhere", {}, 404),
            ("PUT", API + "/byok", {"body": {}}, 405),
            ("POST", API + "/byok", {"raw": b"a=b", "content_type":
                                     "application/x-www-form-urlencoded"},
             415),
            ("POST", API + "/byok", {"raw": b"{oops"}, 400),
            ("POST", API + "/byok", {"raw": big}, 413),
            ("GET", API + "/assistants/nope", {}, 404),
            ("GET", "/nowhere", {}, 404),
            ("GET", "/healthz", {}, 200),
            ("POST", "/healthz", {}, 405),
        ]
        keyed = {"limit": 40}
        for method, path, kw, status in answers:
            r = d.request(method, path, key=key, **kw)
            what = "%s %s" % (method, path)
            check_eq(r.status, status, what)
            check_eq(r.json is not None and "error" in r.json, status >= 400,
                     what + ": error body")
            # Health checks show the budget but never use it up.
            check_rate(r, keyed, what,
                       free=(method, path) == ("GET", "/healthz"))
        r = d.request("PUT", API + "/byok", key=key, body={})
        check_eq(r.headers.get("allow"), "GET, POST, DELETE", "Allow header")
        check_rate(r, keyed, "PUT again")

        # Refused before the body is read; the connection closes after
        # the answer, as the stream is out of step.
        early = [
            (["Content-Length: -5"], b"", 400, "invalid_request"),
            (["Content-Length: abc"], b"{}", 400, "invalid_request"),
            (["Content-Length: 2x"], b"{}", 400, "invalid_request"),
            (["Content-Length: 2", "Content-Length: 2"], b"{}", 400,
             "invalid_request"),
            (["Content-Length: 99999999999999999999999"], b"", 413,
             "payload_too_large"),
            (["Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n", 411,
             "length_required"),
        ]
        for headers, body, status, code in early:
            what = " ".join(headers)
            r, closed = d.raw_request(raw_post(API + "/byok", headers, body,
                                               key=key))
            check_eq(r.status, status, what)
            check_eq(r.json and r.json.get("error"), code, what)
            check_rate(r, keyed, what)
            check(closed, what + ": connection closed after the answer")
        r, _ = d.raw_request(raw_post("/healthz", ["Content-Length: -1"],
                                      key=key))
        check_eq(r.status, 400, "bad Content-Length outside /api/v1")
        check_rate(r, keyed, "bad Content-Length outside /api/v1")

        # Without a key the budget is the client address's: the key is
        # checked before the body (a 401, not a 413 or a 400), and paths
        # that need no key carry that budget too.
        anon = {"limit": 40}
        r = d.request("GET", "/nowhere")
        check_eq(r.status, 404, "unknown path without a key")
        check_rate(r, anon, "unknown path without a key")
        for i in range(3):
            r = d.request("GET", "/healthz")
            check_eq(r.status, 200, "healthz without a key")
            check_rate(r, anon, "healthz without a key", free=True)
        r = d.request("GET", "/nowhere")
        check_eq(r.status, 404, "unknown path without a key")
        check_rate(r, anon, "unknown path without a key")
        r = d.request("POST", API + "/byok", raw=big)
        check_eq(r.status, 401, "no key, large body")
        check_rate(r, anon, "no key, large body")
        r, closed = d.raw_request(raw_post(API + "/byok",
                                           ["Content-Length: -5"]))
        check_eq(r.status, 401, "no key, bad Content-Length")
        check_rate(r, anon, "no key, bad Content-Length")
        check(closed, "no key, bad Content-Length: connection closed")
        r, _ = d.raw_request(raw_post("/healthz", ["Content-Length: x"]))
        check_eq(r.status, 400, "no key, bad Content-Length on /healthz")
        check_rate(r, anon, "no key, bad Content-Length on /healthz")
        # The keyed budget was not touched by any of these.
        r = d.request("GET", API + "/byok", key=key)
        check_rate(r, keyed, "keyed budget after the unkeyed requests")


@case
def unix_socket():
    with Daemon() as d:
        _, key = d.org()
        r = d.request("GET", API + "/byok", key=key, unix=True)
        check_eq(r.status, 200, "over the unix socket")
        mode = stat.S_IMODE(os.stat(d.sock).st_mode)
        check_eq(mode & 0o007, 0, "socket not open to others")
    check(not os.path.exists(d.sock), "socket removed at exit")


@case
def restart_keeps_state():
    d = Daemon()
    _, key = d.org()
    aid = d.request("POST", API + "/assistants", key=key,
                    body={"name": "Kept"}).json["assistant"]["id"]
    sid = byok_ids(d.request("POST", API + "/byok", key=key, body={
        "provider": "elevenlabs", "api_key": "xi-kept"}))["elevenlabs_secret_id"]
    check_eq(d.stop(), 0, "clean exit on SIGTERM")
    d.start()
    check_eq(d.request("GET", API + "/assistants/" + aid, key=key)
             .json["assistant"]["name"], "Kept")
    check_eq(byok_ids(d.request("GET", API + "/byok", key=key))
             ["elevenlabs_secret_id"], sid)
    check_eq(d.stop(signal.SIGINT), 0, "clean exit on SIGINT")


@case
def sigkill_during_writes():
    d = Daemon()
    _, key = d.org()
    acked = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                r = d.request("POST", API + "/assistants", key=key,
                              body={"name": "burst %d" % i})
            except OSError:
                return
            if r.status == 201:
                acked.append(r.json["assistant"]["id"])
            i += 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 100, 30, "100 acknowledged writes")
    d.kill()
    stop.set()
    for t in threads:
        t.join()
    d.start()
    ids = {a["id"] for a in d.request("GET", API + "/assistants", key=key)
           .json["assistants"]}
    missing = [a for a in acked if a not in ids]
    check_eq(missing, [], "acknowledged writes lost")
    d.stop()
    db = sqlite3.connect(d.store)
    try:
        check_eq(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)],
                 "integrity check")
    finally:
        db.close()


@case
def notify_ready_stopping():
    tmp_sock = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                            "sv-notify-%d.sock" % os.getpid())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(tmp_sock)
    s.settimeout(20)
    try:
        d = Daemon(env={"NOTIFY_SOCKET": tmp_sock, "WATCHDOG_USEC": "200000",
                        "WATCHDOG_PID": ""}, start=False)
        d.env.pop("WATCHDOG_PID")
        d.start()
        got = []
        while not any("READY=1" in m for m in got):
            got.append(s.recv(4096).decode())
        while not any("WATCHDOG=1" in m for m in got):
            got.append(s.recv(4096).decode())
        d.stop()
        while not any("STOPPING=1" in m for m in got):
            got.append(s.recv(4096).decode())
    finally:
        s.close()
        os.unlink(tmp_sock)


@case
def vault_refusals():
    d = Daemon(start=False)
    # Readable by others or by the group: refused, saying why.
    for mode in (0o644, 0o640, 0o604, 0o620):
        os.chmod(d.master, mode)
        d.start(expect_ready=False)
        check(d.wait_exit() != 0, "refused a %o master key" % mode)
        check("%s: mode %04o lets group or others access the master key"
              % (d.master, mode) in d.log_since_start(), "says why",
              d.log_since_start())
        check("ready" not in d.log_since_start(), "never served")
    os.chmod(d.master, 0o600)
    # Malformed.
    with open(d.master, "w") as f:
        f.write("not a key\n")
    d.start(expect_ready=False)
    check(d.wait_exit() != 0, "refused a malformed key")
    check(d.master + ": " in d.log_since_start() and
          "ready" not in d.log_since_start(), "names the file",
          d.log_since_start())
    # Missing.
    os.unlink(d.master)
    d.start(expect_ready=False)
    check(d.wait_exit() != 0, "refused a missing key")
    check(d.master + ": No such file" in d.log_since_start(),
          "names the file", d.log_since_start())
    # vault init writes 0600 and never overwrites.
    d.ctl("vault", "init", parse=False)
    check_eq(stat.S_IMODE(os.stat(d.master).st_mode), 0o600, "mode")
    before = open(d.master).read()
    r = d.ctl("vault", "init", parse=False, check_rc=False)
    check(r.returncode != 0, "refuses to overwrite")
    check_eq(open(d.master).read(), before, "key unchanged")
    d.start()
    d.stop()


@case
def config_errors():
    d = Daemon(start=False)
    with open(d.conf) as f:
        line = len(f.read().splitlines()) + 2
    with open(d.conf, "a") as f:
        f.write("[provider.openai]\napi_key = sk-inline\n")
    r = subprocess.run([SOVEREIGND, "--config", d.conf], capture_output=True,
                       text=True, timeout=20)
    check(r.returncode != 0, "inline key refused")
    check("%s:%d: [provider.openai] api_key: keys may not sit in the "
          "config file" % (d.conf, line) in r.stderr,
          "names the file, line and key", r.stderr)
    check("sk-inline" not in r.stderr, "does not print the key")
    # A bad value elsewhere, also through the daemon binary.
    with open(d.conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:0\n\n[store]\n"
                "path = %s\nbogus = 1\n" % d.store)
    r = subprocess.run([SOVEREIGND, "--config", d.conf], capture_output=True,
                       text=True, timeout=20)
    check(r.returncode != 0, "unknown setting refused")
    check("%s:6: [store] bogus: unknown setting" % d.conf in r.stderr,
          "names the file, line and key", r.stderr)
    r = subprocess.run([SOVEREIGND, "--config", "/nonexistent.conf"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode != 0 and "/nonexistent.conf" in r.stderr,
          "missing file named", r.stderr)


def scan_at_rest(d, needles):
    """Fails when one of needles is in the database file, its WAL or its
    shared memory; returns the bytes read, for a positive control."""
    blobs = b""
    for name in os.listdir(d.tmp):
        if name.startswith(os.path.basename(d.store)):
            with open(os.path.join(d.tmp, name), "rb") as f:
                data = f.read()
            for k in needles:
                check(k.encode() not in data,
                      "plaintext %s... found in %s" % (k[:12], name))
            blobs += data
    return blobs


@case
def secrets_never_leak():
    """The plaintext of every key used here (BYOK keys that travel to
    fake providers for a check, a key they refuse, a rotation, the
    organization's API key) is in no log line at debug level, no response
    body, and no byte of the database files, WAL included, before and
    after a checkpoint."""
    keys = {"deepgram": "dg-LEAKCHECK-deepgram-0002",
            "openai": "sk-LEAKCHECK-openai-0001",
            "elevenlabs": "xi-LEAKCHECK-eleven-0003",
            "resend": "re_LEAKCHECK_resend_0004"}
    rotated = "sk-LEAKCHECK-rotated-0005"
    refused = "sk-LEAKCHECK-refused-0006"
    fakes = {"deepgram": FakeDeepgram(keys={keys["deepgram"]}),
             "openai": FakeOpenAI(keys={keys["openai"], rotated}),
             "elevenlabs": FakeElevenLabs(keys={keys["elevenlabs"]}),
             "resend": FakeResend(keys={keys["resend"]})}
    routes = {"deepgram": "projects", "openai": "models",
              "elevenlabs": "voices", "resend": "domains"}
    for f in fakes.values():
        f.start()
    try:
        d = Daemon(log_level="debug", providers={
            p: {"url": f.url, "validate_keys": "true"}
            for p, f in fakes.items()})
        _, api_key = d.org("LeakCheck Org")
        for p in PROVIDERS:
            r = d.request("POST", API + "/byok", key=api_key,
                          body={"provider": p, "api_key": keys[p]})
            check_eq(r.status, 200, "%s key accepted" % p)
        r = d.request("POST", API + "/byok", key=api_key,
                      body={"provider": "openai", "api_key": refused})
        check_eq(r.status, 422, "refused key")
        r = d.request("POST", API + "/byok", key=api_key,
                      body={"provider": "openai", "api_key": rotated})
        check_eq(r.status, 200, "rotation")
        d.request("GET", API + "/byok", key=api_key)
        d.request("DELETE", API + "/byok", key=api_key,
                  body={"provider": "deepgram"})
        # Each key really went to its provider, in the clear, so that the
        # daemon had it in hand while it logged at debug level.
        for p, f in fakes.items():
            sent = {q["key"] for q in f.requests_for(routes[p])}
            check(keys[p] in sent, "%s key sent to the provider" % p, sent)
        check(refused in {q["key"] for q in
                          fakes["openai"].requests_for("models")},
              "refused key sent")
        needles = list(keys.values()) + [rotated, refused, api_key]

        # Killed, the store keeps its WAL as the writes left it.
        d.kill()
        blobs = scan_at_rest(d, needles)
        check(b"LeakCheck Org" in blobs, "the scan reads the database")
        d.start()
        d.request("GET", API + "/byok", key=api_key)
        d.stop()
        blobs = scan_at_rest(d, needles)
        check(b"LeakCheck Org" in blobs, "the scan reads the database")

        log = d.log()
        check("keycheck: openai: key accepted" in log and " debug " in log,
              "the log is at debug level and covers the checks", log[-2000:])
        for k in needles:
            check(k not in log, "plaintext %s... in the log" % k[:12])
            for body in d.responses:
                check(k.encode() not in body,
                      "plaintext %s... in a response" % k[:12])
    finally:
        for f in fakes.values():
            f.stop()


@case
def journal_prefixes():
    """Under systemd (JOURNAL_STREAM set) every line starts with a
    syslog priority and carries no timestamp; on a terminal or a file,
    lines carry a timestamp and the level's name."""
    with Daemon(env={"JOURNAL_STREAM": "8:12345"}, log_level="debug") as d:
        _, key = d.org()
        d.request("GET", API + "/byok", key=key)
    lines = [x for x in d.log().splitlines() if x]
    check(len(lines) > 5, "lines logged", lines)
    for x in lines:
        check(x[:3] in ("<3>", "<4>", "<5>", "<6>", "<7>"),
              "a priority prefix", x)
        check(not x[3:4].isdigit(), "no timestamp", x)
    check(any(x.startswith("<5>sovereignd: ready") for x in lines),
          "ready at NOTICE", lines)
    with Daemon() as d:
        pass
    first = d.log().splitlines()[0]
    check(first[:4].isdigit() and first[10] == "T", "a timestamp", first)


if __name__ == "__main__":
    main()
