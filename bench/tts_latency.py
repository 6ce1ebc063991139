#!/usr/bin/env python3
# tts_latency.py - time from "sentence text ready" to "first audio byte"
# against tests/fakes/fake_elevenlabs.py, for the ways of asking
# ElevenLabs for speech that the TTS adapter could use:
#
#   http_reused  POST .../stream on a kept-alive connection
#   http_fresh   the same POST on a new TCP connection
#   ws_turn      stream-input websocket opened for the turn: connect,
#                upgrade, init message, text, flush
#   ws_open      a further sentence on an already open stream-input
#                socket: text, flush
#
# The fake runs as a separate process (its CLI), so client and server do
# not share an interpreter. All clients are plain blocking Python sockets,
# so their own overhead is alike. Against a local fake without TLS this
# measures client and protocol overhead only: not ElevenLabs' generation
# time, not network round trips, not TLS handshakes (see
# bench/README-tts.md). Not part of ctest.
#
#   python3 bench/tts_latency.py [--runs 50] [--first-byte-ms 50]
#
# SPDX-License-Identifier: MIT

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "tests", "fakes")
sys.path.insert(0, FAKES)

import wsclient  # noqa: E402

KEY = "bench-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"
MODEL = "eleven_flash_v2_5"
TEXT = "Thanks for calling, how can I help you today?"


class HttpConn:
    """One keep-alive HTTP/1.1 connection, just enough for the fake."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = port
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def tts(self, rate, text):
        """Sends one stream request; returns (seconds to the first audio
        byte, audio bytes) measured from the call."""
        t0 = time.perf_counter()
        body = json.dumps({"text": text, "model_id": MODEL}).encode()
        head = ("POST /v1/text-to-speech/%s/stream?output_format=pcm_%d"
                "&optimize_streaming_latency=3 HTTP/1.1\r\n"
                "Host: 127.0.0.1:%d\r\nxi-api-key: %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n"
                "\r\n" % (VOICE, rate, self.port, KEY, len(body)))
        self.sock.sendall(head.encode() + body)
        status = self._until(b"\r\n\r\n").split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError("HTTP %s" % status.decode())
        first = None
        total = 0
        while True:
            size = int(self._until(b"\r\n").strip().split(b";")[0], 16)
            if size == 0:
                self._until(b"\r\n")
                break
            if first is None:
                # The chunk's first data byte.
                self._exact(1)
                first = time.perf_counter() - t0
                self._exact(size - 1)
            else:
                self._exact(size)
            self._until(b"\r\n")
            total += size
        return first, total

    def close(self):
        self.sock.close()


def http_reused(port, rate, runs):
    c = HttpConn(port)
    c.tts(rate, TEXT)  # warm-up: opens the connection
    out = [c.tts(rate, TEXT)[0] for _ in range(runs)]
    c.close()
    return out


def http_fresh(port, rate, runs):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        c = HttpConn(port)
        t1 = time.perf_counter()
        first, _ = c.tts(rate, TEXT)
        out.append(t1 - t0 + first)
        c.close()
    return out


def ws_url(port, rate):
    return ("ws://127.0.0.1:%d/v1/text-to-speech/%s/stream-input"
            "?model_id=%s&output_format=pcm_%d" % (port, VOICE, MODEL, rate))


def ws_generation(ws, t0, chars):
    """Reads one flushed generation; returns seconds from t0 to its first
    audio message (base64 decoded)."""
    first = None
    got = 0
    while got < chars:
        msg = ws.recv_json()
        if not msg.get("audio"):
            continue
        base64.b64decode(msg["audio"])
        if first is None:
            first = time.perf_counter() - t0
        got += len((msg.get("alignment") or {}).get("chars") or [])
    return first


def ws_end(ws):
    ws.send_json({"text": ""})
    ws.messages_until_close()
    ws.abort()


def ws_turn(port, rate, runs):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ws = wsclient.WsClient(ws_url(port, rate),
                               headers={"xi-api-key": KEY}, timeout=10)
        ws.send_json({"text": " ",
                      "voice_settings": {"stability": 0.5,
                                         "similarity_boost": 0.8}})
        ws.send_json({"text": TEXT + " ", "flush": True})
        out.append(ws_generation(ws, t0, len(TEXT)))
        ws_end(ws)
    return out


def ws_open(port, rate, runs):
    ws = wsclient.WsClient(ws_url(port, rate), headers={"xi-api-key": KEY},
                           timeout=10)
    ws.send_json({"text": " "})
    out = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        ws.send_json({"text": TEXT + " ", "flush": True})
        first = ws_generation(ws, t0, len(TEXT))
        if i > 0:  # the first one is the warm-up
            out.append(first)
    ws_end(ws)
    return out


def start_fake(first_byte_ms):
    cmd = [sys.executable, os.path.join(FAKES, "fake_elevenlabs.py"),
           "--key", KEY, "--opt", "first_byte_ms=%d" % first_byte_ms]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        raise RuntimeError("the fake did not start: %r" % line)
    return p, int(line.split()[1])


def main():
    ap = argparse.ArgumentParser(
        description="ElevenLabs first-audio latency against the fake")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--first-byte-ms", type=int, default=50)
    ap.add_argument("--rate", type=int, default=16000)
    args = ap.parse_args()
    fake, port = start_fake(args.first_byte_ms)
    try:
        ways = [("http_reused", http_reused), ("http_fresh", http_fresh),
                ("ws_turn", ws_turn), ("ws_open", ws_open)]
        print("first_byte_ms=%d runs=%d rate=%d text=%d chars" %
              (args.first_byte_ms, args.runs, args.rate, len(TEXT)))
        print("%-12s %9s %9s %9s %9s" % ("way", "median", "p90", "min",
                                         "overhead"))
        for name, fn in ways:
            fn(port, args.rate, 3)  # warm the fake's caches and paths
            ms = sorted(x * 1000.0 for x in fn(port, args.rate, args.runs))
            med = statistics.median(ms)
            p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
            print("%-12s %7.2f ms %6.2f ms %6.2f ms %6.2f ms" %
                  (name, med, p90, ms[0], med - args.first_byte_ms))
    finally:
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
