#!/usr/bin/env python3
# dg_fake.py - runs tests/fakes/fake_deepgram.py for test_deepgram.c and
# streams its request log to stdout, so the C test can wait for what the
# fake saw as events on its loop.
#
# Usage: dg_fake.py [--key K] [--opt NAME=JSON] [--script B,B] [--queue T]
# Prints "PORT <n>" first, then "LOG <json>" whenever the summary changes:
# {"open": TCP connections open, "listen": one object per /v1/listen
# request with status, key_ok, query_all, audio_bytes, keepalives,
# control, close, closed, utterances}.
# Stops when stdin reaches EOF; exits 1 when the fake itself raised.
#
# SPDX-License-Identifier: MIT

import argparse
import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import fake_deepgram  # noqa: E402


def summary(fake):
    out = []
    for r in fake.requests_for("listen"):
        out.append({
            "status": r.get("status"),
            "key_ok": r.get("key") in fake.keys,
            "query_all": r.get("query_all"),
            "audio_bytes": r.get("audio_bytes", 0),
            "keepalives": r.get("keepalives", 0),
            "control": list(r.get("control") or []),
            "close": r.get("close"),
            "closed": bool(r.get("closed")),
            "utterances": r.get("utterances", 0),
        })
    return json.dumps({"open": fake.open_connections, "listen": out},
                      sort_keys=True)


def parse_opt(text):
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", action="append", default=[])
    p.add_argument("--opt", action="append", type=parse_opt, default=[])
    p.add_argument("--script", action="append", default=[])
    p.add_argument("--queue", action="append", default=[])
    args = p.parse_args()

    fake = fake_deepgram.FakeDeepgram(keys=set(args.key) or {"good-key"},
                                      **dict(args.opt))
    for s in args.script:
        fake.script(*[b for b in s.split(",") if b])
    if args.queue:
        fake.queue_transcripts(*args.queue)
    fake.start()
    print("PORT %d" % fake.port, flush=True)

    done = threading.Event()

    def watch():
        last = None
        while not done.is_set():
            try:
                now = fake.wait_for(
                    lambda: (lambda s: s if s != last else None)(
                        summary(fake)), timeout=0.5)
            except TimeoutError:
                continue
            last = now
            try:
                print("LOG " + now, flush=True)
            except (BrokenPipeError, ValueError):
                return  # the test went away; stdin ends next

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    sys.stdin.read()
    done.set()
    t.join(5)
    fake.stop()
    if fake.errors:
        sys.stderr.write("dg_fake: the fake raised:\n%s\n" % fake.errors[0])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
