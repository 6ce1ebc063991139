"""BYOK key validation against local fake providers (validate_keys)."""

import time

from harness import Daemon, case, check, check_eq, main

from fake_deepgram import FakeDeepgram
from fake_elevenlabs import FakeElevenLabs
from fake_openai import FakeOpenAI
from fake_resend import FakeResend

API = "/api/v1"


def daemon_for(name, fake, timeout_ms=1000):
    return Daemon(providers={name: {"url": fake.url, "validate_keys": "true",
                                    "timeout_ms": str(timeout_ms)}})


def stored(d, key, provider):
    r = d.request("GET", API + "/byok", key=key)
    return r.json["byok_keys"][provider + "_secret_id"]


def accept_and_refuse(name, fake_cls, route):
    with fake_cls(keys={"good-key"}) as fake, daemon_for(name, fake) as d:
        _, key = d.org()
        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": name, "api_key": "good-key"})
        check_eq(r.status, 200, "good key accepted")
        check(stored(d, key, name), "good key stored")
        seen = [q for q in fake.requests_for(route) if q["key"] == "good-key"]
        check(seen, "the provider was asked with the posted key")

        d.request("DELETE", API + "/byok", key=key, body={"provider": name})
        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": name, "api_key": "bad-key"})
        check_eq(r.status, 422, "bad key refused")
        check_eq(r.json["error"], "invalid_api_key")
        check("bad-key" not in r.raw.decode(), "key not echoed")
        check_eq(stored(d, key, name), None, "bad key not stored")
        check_eq(fake.errors, [], "fake errors")


@case
def openai_check():
    accept_and_refuse("openai", FakeOpenAI, "models")


@case
def deepgram_check():
    accept_and_refuse("deepgram", FakeDeepgram, "projects")


@case
def elevenlabs_check():
    accept_and_refuse("elevenlabs", FakeElevenLabs, "voices")


@case
def resend_check():
    accept_and_refuse("resend", FakeResend, "domains")


@case
def hanging_provider():
    with FakeOpenAI(keys={"good-key"}) as fake, \
            daemon_for("openai", fake, timeout_ms=500) as d:
        fake.set_default("hang", route="models")
        _, key = d.org()
        t0 = time.monotonic()
        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": "openai", "api_key": "good-key"})
        took = time.monotonic() - t0
        check_eq(r.status, 502, "unreachable provider")
        check_eq(r.json["error"], "provider_unreachable")
        check("timed out" in r.json["message"], "says it timed out", r)
        # The configured time-out (0.5 s) ends it, not some other error.
        check(0.45 <= took < 5, "answered at the time-out", took)
        check(fake.requests_for("models"), "the provider was asked")
        check_eq(stored(d, key, "openai"), None, "nothing stored")
        # The daemon keeps serving.
        check_eq(d.request("GET", "/healthz").status, 200)


@case
def unreachable_provider():
    with Daemon(providers={"openai": {"url": "http://127.0.0.1:9/v1",
                                      "validate_keys": "true"}}) as d:
        _, key = d.org()
        r = d.request("POST", API + "/byok", key=key,
                      body={"provider": "openai", "api_key": "good-key"})
        check_eq(r.status, 502, "connection refused")
        check_eq(r.json["error"], "provider_unreachable")


@case
def client_leaves_during_check():
    with FakeOpenAI(keys={"good-key"}) as fake, \
            daemon_for("openai", fake, timeout_ms=3000) as d:
        fake.set_default("hang", route="models")
        _, key = d.org()
        import http.client
        import json
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        conn.request("POST", API + "/byok",
                     body=json.dumps({"provider": "openai",
                                      "api_key": "good-key"}),
                     headers={"Authorization": "Bearer " + key,
                              "Content-Type": "application/json"})
        fake.wait_requests(1, route="models", timeout=5)
        conn.close()
        # The pending check is cancelled; the daemon stays healthy.
        check_eq(d.request("GET", "/healthz").status, 200)
        check_eq(stored(d, key, "openai"), None)
        check_eq(d.stop(), 0, "clean exit")


if __name__ == "__main__":
    main()
