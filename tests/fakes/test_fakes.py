#!/usr/bin/env python3
# test_fakes.py - self-tests of the fake provider servers.
#
# Each case drives one fake with a small client of its own (wsclient.py,
# http.client or a raw socket) and checks the wire behaviour promised in
# protocols.md and docs/testing-fakes.md. Run as "test_fakes.py <case>";
# exit 0 pass, 1 fail, 77 skip.
#
# SPDX-License-Identifier: MIT

import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fakeaudio  # noqa: E402
import wsproto  # noqa: E402
from fake_deepgram import FakeDeepgram  # noqa: E402
from fake_elevenlabs import FakeElevenLabs, synth  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402
from fake_resend import FakeResend  # noqa: E402
from wsclient import Closed, HandshakeError, WsClient  # noqa: E402

VOICE = "21m00Tcm4TlvDq8ikWAM"
DG_Q = ("/v1/listen?model=nova-3&language=en&encoding=linear16"
        "&sample_rate=16000&channels=1&interim_results=true&punctuate=true"
        "&smart_format=true&endpointing=300&utterance_end_ms=1000"
        "&vad_events=true&keyterm=table&keyterm=booking")
TOKEN = {"Authorization": "Token good-key"}


class Skip(Exception):
    pass


def check(cond, what, *values):
    if not cond:
        raise AssertionError(what + ("" if not values else ": " +
                                     ", ".join(repr(v) for v in values)))


def check_eq(a, b, what):
    if a != b:
        raise AssertionError("%s: got %r, expected %r" % (what, a, b))


def expect_handshake(url, headers, status):
    try:
        ws = WsClient(url, headers)
    except HandshakeError as e:
        check_eq(e.status, status, "handshake status for " + url)
        return e
    ws.abort()
    raise AssertionError("handshake unexpectedly succeeded: " + url)


def http_req(fake, method, path, body=None, headers=None, timeout=5):
    """(status, headers dict, body bytes) on a fresh connection."""
    c = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    data = r.read()
    h = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, h, data


def raw_chunks(port, method, path, body, headers, timeout=5):
    """Sends one request with Connection: close on a raw socket and
    returns (status, headers, [chunk payloads]) of a chunked reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    body = body.encode() if isinstance(body, str) else body
    h = {"Host": "127.0.0.1", "Connection": "close",
         "Content-Length": str(len(body))}
    h.update(headers)
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    s.sendall(head.encode() + body)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hd = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hd[k.strip().lower()] = v.strip()
    chunks = []
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        n = int(size_line, 16)
        if n == 0:
            break
        chunks.append(rest[:n])
        rest = rest[n + 2:]
    return status, hd, chunks


def parse_sse(raw):
    """(list of data payloads, number of comment lines)."""
    events, data, comments = [], [], 0
    for line in raw.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                events.append("\n".join(data))
                data = []
        elif line.startswith(":"):
            comments += 1
        elif line.startswith("data:"):
            v = line[5:]
            data.append(v[1:] if v.startswith(" ") else v)
    return events, comments


def sse_text(raw):
    """Concatenated delta contents of an SSE chat stream."""
    events, _ = parse_sse(raw)
    return "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1] if json.loads(e)["choices"])


def chat_body(text="what time is it?", **extra):
    b = {"model": "gpt-4o-mini", "stream": True,
         "messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": text}]}
    b.update(extra)
    return b


BEARER = {"Authorization": "Bearer good-key",
          "Content-Type": "application/json"}


def send_audio(ws, audio, chunk=3200):
    for i in range(0, len(audio), chunk):
        ws.send_bytes(audio[i:i + chunk])


# ----- generic HTTP/WebSocket machinery -----------------------------------

def case_ws_frames():
    with FakeDeepgram(max_payload=4096) as f:
        ws = WsClient(f.url + DG_Q, TOKEN)
        # A KeepAlive text message in three fragments with a ping between.
        text = json.dumps({"type": "KeepAlive"}).encode()
        ws.send_frame(wsproto.OP_TEXT, text[:4], fin=False)
        ws.ping(b"hi")
        ws.send_frame(wsproto.OP_CONT, text[4:9], fin=False)
        ws.send_frame(wsproto.OP_CONT, text[9:], fin=True)
        op, data = ws.recv()
        check_eq((op, data), (wsproto.OP_PONG, b"hi"), "pong")
        f.wait_for(lambda: f.requests[-1]["keepalives"] == 1,
                   what="fragmented KeepAlive")
        ws.close(1000)
        f.wait_for(lambda: f.requests[-1]["closed"], what="closed")
        check_eq(ws.close_frame[0], 1000, "server echoed close code")
        check_eq(f.requests[-1]["client_close"], (1000, ""), "client close")

        # Oversized message -> 1009.
        ws = WsClient(f.url + DG_Q, TOKEN)
        ws.send_bytes(b"\0" * 5000)
        msgs, close = ws.messages_until_close()
        check_eq(close[0], 1009, "payload limit close code")

        # Unmasked client frame -> 1002.
        ws = WsClient(f.url + DG_Q, TOKEN)
        ws.sock.sendall(wsproto.build_frame(wsproto.OP_TEXT, b"{}"))
        msgs, close = ws.messages_until_close()
        check_eq(close[0], 1002, "unmasked frame close code")

        # A plain GET on the WebSocket route is refused.
        st, _, _ = http_req(f, "GET", "/v1/listen", headers=TOKEN)
        check_eq(st, 426, "plain GET on ws route")
        check_eq(f.errors, [], "fake errors")


def case_http_basics():
    with FakeOpenAI(keys={"k1", "k2"}) as f:
        check_eq(f.url, "http://127.0.0.1:%d/v1" % f.port, "url")
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
        for key in ("k1", "k2"):
            c.request("GET", "/v1/models?x=1&x=2",
                      headers={"Authorization": "Bearer " + key})
            r = c.getresponse()
            r.read()
            check_eq(r.status, 200, "models with " + key)
        # Expect: 100-continue and a chunked request body.
        body = json.dumps(chat_body("chunked body")).encode()
        c.putrequest("POST", "/v1/chat/completions")
        c.putheader("Authorization", "Bearer k1")
        c.putheader("Transfer-Encoding", "chunked")
        c.putheader("Expect", "100-continue")
        c.endheaders()
        for i in range(0, len(body), 10):
            part = body[i:i + 10]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        raw = r.read().decode()
        check_eq(r.status, 200, "chunked request status")
        check_eq(sse_text(raw), "You said: chunked body. Anything else?",
                 "reply echoes body")
        c.close()
        reqs = f.requests
        check_eq(len(reqs), 3, "logged requests")
        check_eq([r["key"] for r in reqs], ["k1", "k2", "k1"], "keys")
        check_eq(reqs[0]["query"], {"x": "1"}, "query first values")
        check_eq(reqs[0]["query_all"], {"x": ["1", "2"]}, "query_all")
        check("authorization" not in reqs[0]["headers"],
              "secret header kept out of log")
        check(reqs[0]["time"] <= reqs[1]["time"], "times ordered")
        st, _, _ = http_req(f, "GET", "/nope")
        check_eq(st, 404, "unknown path")
        try:
            f.wait_for(lambda: False, timeout=0.1, what="never")
            raise AssertionError("wait_for did not time out")
        except TimeoutError as e:
            check("never" in str(e), "timeout names the wait", str(e))
        try:
            FakeOpenAI(no_such_option=1)
            raise AssertionError("unknown option accepted")
        except TypeError:
            pass
        check_eq(f.errors, [], "fake errors")


# ----- Deepgram -------------------------------------------------------------

def case_dg_auth():
    with FakeDeepgram(keys={"good-key"}) as f:
        url = f.url + DG_Q
        e = expect_handshake(url, {}, 401)
        check_eq(e.json()["err_code"], "INVALID_AUTH", "err_code")
        check("dg-error" in e.headers and "dg-request-id" in e.headers,
              "dg headers on 401", e.headers)
        check_eq(e.json()["request_id"], e.headers["dg-request-id"],
                 "request id matches")
        expect_handshake(url, {"Authorization": "Token bad"}, 401)
        check_eq(f.requests[-1]["key"], "bad", "wrong key logged")
        for auth in ("Token good-key", "token good-key"):
            ws = WsClient(url, {"Authorization": auth})
            check("dg-request-id" in ws.headers, "dg-request-id on 101")
            ws.close()
        ws = WsClient(url, subprotocols=["token", "good-key"])
        check_eq(ws.headers.get("sec-websocket-protocol"), "token",
                 "subprotocol echoed")
        ws.close()
        check_eq(f.requests[-1]["key"], "good-key", "subprotocol key")
        check_eq(f.requests[-1]["query_all"]["keyterm"],
                 ["table", "booking"], "repeated keyterm")
        e = expect_handshake(f.url + "/v1/listen?model=whisper-9", TOKEN,
                             400)
        check("dg-error" in e.headers, "dg-error on 400")
        expect_handshake(f.url + "/v1/listen?encoding=linear16", TOKEN, 400)
        for m in ("nova-3-general", "nova-2-phonecall", "nova-3-medical"):
            WsClient(f.url + "/v1/listen?model=" + m, TOKEN).close()
        f.script("402", "429")
        e = expect_handshake(url, TOKEN, 402)
        check_eq(e.json()["err_code"], "ASR_PAYMENT_REQUIRED", "402 code")
        e = expect_handshake(url, TOKEN, 429)
        check_eq(e.json()["err_code"], "TOO_MANY_REQUESTS", "429 code")
        WsClient(url, TOKEN).close()
        st, h, body = http_req(f, "GET", "/v1/projects", headers=TOKEN)
        check_eq(st, 200, "projects status")
        check(json.loads(body)["projects"], "projects listed")
        st, h, body = http_req(f, "GET", "/v1/projects",
                               headers={"Authorization": "Token nope"})
        check_eq(st, 401, "projects with bad key")
        check_eq(json.loads(body)["err_code"], "INVALID_AUTH", "401 body")
        check_eq(f.errors, [], "fake errors")


def _dg_types(msgs):
    out = []
    for m in msgs:
        if m["type"] == "Results":
            out.append("final" if m["is_final"] else "interim")
            if m["speech_final"]:
                out[-1] = "speech_final"
        else:
            out.append(m["type"])
    return out


def case_dg_session():
    with FakeDeepgram(transcripts=["book a table for two"]) as f:
        f.queue_transcripts("I need help")
        ws = WsClient(f.url + DG_Q, TOKEN)
        audio = fakeaudio.speech_like([
            ("silence", 300), ("speech", 1500), ("silence", 1400),
            ("noise", 900), ("silence", 1400)])
        send_audio(ws, audio)
        ws.send_json({"type": "KeepAlive"})
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check_eq(close, (1000, ""), "close after CloseStream")
        types = _dg_types(msgs)
        # Collapse runs of interims for the order check.
        seq = [t for i, t in enumerate(types)
               if t != "interim" or types[i - 1] != "interim"]
        check_eq(seq, ["SpeechStarted", "interim", "speech_final",
                       "UtteranceEnd", "SpeechStarted", "interim",
                       "speech_final", "UtteranceEnd", "Metadata"],
                 "message order")
        finals = [m for m in msgs if m["type"] == "Results"
                  and m["is_final"]]
        alts = [m["channel"]["alternatives"][0] for m in finals]
        check_eq([a["transcript"] for a in alts],
                 ["I need help.", "Book a table for two."], "transcripts")
        w = alts[1]["words"]
        check_eq([x["word"] for x in w], ["book", "a", "table", "for",
                                          "two"], "words")
        check_eq(w[-1]["punctuated_word"], "two.", "punctuated word")
        for x in w:
            check(x["start"] < x["end"] and 0 < x["confidence"] <= 1,
                  "word timing", x)
        check(abs(msgs[0]["timestamp"] - 0.3) < 0.03, "speech onset",
              msgs[0])
        f0 = finals[0]
        check(abs(f0["start"] - 0.3) < 0.03, "final start", f0["start"])
        check_eq(f0["channel_index"], [0, 1], "channel_index")
        ue = [m for m in msgs if m["type"] == "UtteranceEnd"]
        check(abs(ue[0]["last_word_end"] - 1.8) < 0.03, "last_word_end",
              ue[0])
        interims = [m for m in msgs if m["type"] == "Results"
                    and not m["is_final"]]
        check(len(interims[0]["channel"]["alternatives"][0]["words"]) <
              len(finals[0]["channel"]["alternatives"][0]["words"]),
              "interim has partial words")
        meta = msgs[-1]
        check_eq(meta["sha256"], hashlib.sha256(audio).hexdigest(), "sha")
        check(abs(meta["duration"] - len(audio) / 32000.0) < 0.03,
              "metadata duration", meta["duration"])
        e = f.wait_for(lambda: f.requests[-1]["closed"] and f.requests[-1])
        check_eq(e["audio_bytes"], len(audio), "audio bytes recorded")
        check_eq(e["keepalives"], 1, "keepalive counted")
        check_eq(e["close"], (1000, ""), "close logged")
        check_eq(e["utterances"], 2, "utterances")
        check_eq(f.errors, [], "fake errors")


def case_dg_formats():
    q = ("/v1/listen?model=nova-2-phonecall&encoding=mulaw&sample_rate=8000"
         "&endpointing=200")
    with FakeDeepgram(transcripts=["first one", "second one"]) as f:
        ws = WsClient(f.url + q, TOKEN)
        audio = fakeaudio.speech_like([
            ("speech", 800), ("silence", 600), ("speech", 700),
            ("silence", 600)], rate=8000, encoding="mulaw")
        send_audio(ws, audio, 160)
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check_eq(close[0], 1000, "close code")
        check_eq(_dg_types(msgs), ["speech_final", "speech_final",
                                   "Metadata"], "types without extras")
        check_eq([m["channel"]["alternatives"][0]["transcript"]
                  for m in msgs[:2]], ["first one", "second one"],
                 "unpunctuated transcripts")
        check(abs(msgs[1]["start"] - 1.4) < 0.03, "second start",
              msgs[1]["start"])

        # Stereo linear16: the VAD listens to channel 0 only.
        mono = fakeaudio.speech_like([("silence", 200), ("speech", 600),
                                      ("silence", 600)])
        quiet = fakeaudio.speech_like([("noise", 1400)])
        a, b = fakeaudio.pcm_from_bytes(mono), fakeaudio.pcm_from_bytes(
            quiet)
        stereo = fakeaudio.pcm_to_bytes(v for pair in zip(a, b)
                                        for v in pair)
        ws = WsClient(f.url + "/v1/listen?encoding=linear16&sample_rate="
                      "16000&channels=2&vad_events=true", TOKEN)
        send_audio(ws, stereo)
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check_eq(_dg_types(msgs), ["SpeechStarted", "speech_final",
                                   "Metadata"], "stereo types")
        check_eq(msgs[0]["channel"], [0, 2], "SpeechStarted channel")
        check(abs(msgs[0]["timestamp"] - 0.2) < 0.03, "stereo onset")
        check_eq(msgs[1]["channel_index"], [0, 2], "channel_index")

        # Containerised WAV without encoding: rate comes from the header.
        pcm = fakeaudio.speech_like([("silence", 500), ("speech", 500),
                                     ("silence", 500)], rate=8000)
        wav = (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
               struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) +
               b"data" + struct.pack("<I", len(pcm)) + pcm)
        ws = WsClient(f.url + "/v1/listen?vad_events=true", TOKEN)
        send_audio(ws, wav, 1000)
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check(abs(msgs[0]["timestamp"] - 0.5) < 0.03, "wav onset",
              msgs[0])
        check(abs(msgs[-1]["duration"] - 1.5) < 0.03, "wav duration",
              msgs[-1])


def case_dg_finalize():
    with FakeDeepgram() as f:
        ws = WsClient(f.url + DG_Q, TOKEN)
        send_audio(ws, fakeaudio.speech_like([("speech", 1000)]))
        ws.send_json({"type": "Finalize"})
        m = ws.recv_json()
        while m["type"] != "Results" or not m["is_final"]:
            m = ws.recv_json()
        check(m["from_finalize"] is True, "from_finalize", m)
        check(m["speech_final"] is False, "not speech_final", m)
        check_eq(m["channel"]["alternatives"][0]["transcript"],
                 "Hello there.", "default transcript")
        # Nothing pending: Finalize produces nothing, CloseStream closes.
        ws.send_json({"type": "Finalize"})
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check_eq(_dg_types(msgs), ["UtteranceEnd", "Metadata"]
                 if msgs[0]["type"] == "UtteranceEnd" else ["Metadata"],
                 "after finalize")
        check_eq(close[0], 1000, "close")
        check_eq(f.requests[-1]["control"],
                 ["Finalize", "Finalize", "CloseStream"], "control log")


def case_dg_timeouts():
    with FakeDeepgram(idle_timeout=0.3) as f:
        ws = WsClient(f.url + DG_Q, TOKEN)
        t0 = time.monotonic()
        msgs, close = ws.messages_until_close()
        check_eq(close, (1011, "NET-0001"), "idle close")
        check(time.monotonic() - t0 >= 0.25, "idle waited")
        ws = WsClient(f.url + DG_Q, TOKEN)
        ws.send_bytes(b"\0" * 640)
        ws.send_bytes(b"")
        msgs, close = ws.messages_until_close()
        check_eq(close, (1008, "DATA-0000"), "empty binary close")
        f.script("close:1011:NET-0000")
        ws = WsClient(f.url + DG_Q, TOKEN)
        ws.send_bytes(b"\0" * 640)
        msgs, close = ws.messages_until_close()
        check_eq(close, (1011, "NET-0000"), "scripted close")


def case_dg_drop():
    with FakeDeepgram() as f:
        f.script("drop_after:32000", "drop_after_ms:200")
        ws = WsClient(f.url + DG_Q, TOKEN)
        got = None
        try:
            for _ in range(100):
                ws.send_bytes(b"\0" * 3200)
            ws.recv(2.0)
        except (Closed, OSError) as e:
            got = e
        check(isinstance(got, (Closed, OSError)), "connection dropped")
        if isinstance(got, Closed):
            check_eq(got.code, 1006, "no close frame")
        e = f.wait_for(lambda: f.requests[-1]["closed"] and f.requests[-1])
        check_eq(e["close"], "dropped", "drop logged")
        check(32000 <= e["audio_bytes"] < 40000, "dropped after N bytes",
              e["audio_bytes"])
        ws = WsClient(f.url + DG_Q, TOKEN)
        t0 = time.monotonic()
        try:
            ws.recv(3.0)
            raise AssertionError("expected drop")
        except Closed as c:
            check_eq(c.code, 1006, "timed drop without close frame")
        check(time.monotonic() - t0 >= 0.15, "dropped after the delay")
        ws = WsClient(f.url + DG_Q, TOKEN)
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        check_eq(close[0], 1000, "script exhausted: normal session")


def case_dg_latency():
    with FakeDeepgram(result_delay_ms=300) as f:
        ws = WsClient(f.url + DG_Q, TOKEN)
        send_audio(ws, fakeaudio.speech_like([("speech", 600),
                                              ("silence", 400)]))
        t0 = time.monotonic()
        m = ws.recv_json()
        check(time.monotonic() - t0 >= 0.25, "result delayed")
        check_eq(m["type"], "SpeechStarted", "first message")
        ws.close()


def case_dg_espeak():
    espeak = shutil.which("espeak-ng")
    if not espeak:
        raise Skip("espeak-ng not installed")
    wav = subprocess.run([espeak, "--stdout", "-s", "150",
                          "Hello, I would like to book a table. "
                          "For two people please."],
                         capture_output=True, check=True).stdout
    sox = shutil.which("sox")
    if sox:
        pcm = subprocess.run([sox, "-t", "wav", "-", "-t", "raw", "-r",
                              "16000", "-e", "signed", "-b", "16", "-c",
                              "1", "-"], input=wav, capture_output=True,
                             check=True).stdout
    else:
        # espeak-ng writes 22050 Hz mono s16le after a 44-byte header.
        pcm = fakeaudio.resample_linear(wav[44:], 22050, 16000)
    pcm = pcm + b"\0" * 32000
    with FakeDeepgram(transcripts=["hello", "book", "two"]) as f:
        ws = WsClient(f.url + DG_Q, TOKEN)
        send_audio(ws, pcm)
        ws.send_json({"type": "CloseStream"})
        msgs, close = ws.messages_until_close()
        types = _dg_types(msgs)
        check_eq(close[0], 1000, "close")
        check(types and types[0] == "SpeechStarted", "speech detected",
              types)
        check("speech_final" in types, "utterance ended", types)
        check_eq(types[-1], "Metadata", "metadata last")
        u = f.requests[-1]["utterances"]
        check(1 <= u <= 6, "plausible utterance count", u)


# ----- OpenAI ---------------------------------------------------------------

def _stream(f, body, headers=BEARER):
    st, h, data = http_req(f, "POST", "/v1/chat/completions", body, headers)
    return st, h, data.decode()


def case_oa_stream():
    with FakeOpenAI() as f:
        body = chat_body(stream_options={"include_usage": True})
        status, h, chunks = raw_chunks(f.port, "POST",
                                       "/v1/chat/completions",
                                       json.dumps(body), BEARER)
        check_eq(status, 200, "status")
        check(h["content-type"].startswith("text/event-stream"), "ctype")
        check("x-request-id" in h, "x-request-id")
        raw = b"".join(chunks).decode()
        events, comments = parse_sse(raw)
        check(comments >= 1, "keep-alive comments present", comments)
        split = [c for c in chunks if not c.endswith(b"\n\n")]
        check(len(split) >= len(events) // 2, "events split across writes")
        check_eq(events[-1], "[DONE]", "terminator")
        objs = [json.loads(e) for e in events[:-1]]
        check_eq(objs[0]["choices"][0]["delta"].get("role"), "assistant",
                 "role chunk first")
        text = "".join(o["choices"][0]["delta"].get("content") or ""
                       for o in objs if o["choices"])
        check_eq(text, "You said: what time is it. Anything else?", "reply")
        fin = [o for o in objs if o["choices"] and
               o["choices"][0]["finish_reason"]]
        check_eq(len(fin), 1, "one finish chunk")
        check_eq(fin[0]["choices"][0]["finish_reason"], "stop", "finish")
        check_eq(objs[-1]["choices"], [], "usage chunk has no choices")
        check(objs[-1]["usage"]["total_tokens"] > 0, "usage")
        check(all(o["usage"] is None for o in objs[:-1]), "usage nulls")
        check(len({o["id"] for o in objs}) == 1, "same id on all chunks")
        e = f.requests[-1]
        check_eq(e["json"], body, "request json recorded")
        check_eq(e["key"], "good-key", "key recorded")

        # Without include_usage: no usage chunk; CRLF framing; scripts.
        f.configure(crlf=True, keepalive_every=1)
        f.script("reply:Scripted answer.")
        st, _, data = _stream(f, chat_body())
        check("\r\n\r\n" in data, "crlf framing")
        events, comments = parse_sse(data)
        objs = [json.loads(e) for e in events[:-1]]
        check(all("usage" not in o for o in objs), "no usage field")
        text = "".join(o["choices"][0]["delta"].get("content") or ""
                       for o in objs)
        check_eq(text, "Scripted answer.", "scripted reply")
        check(comments >= len(events) - 1, "keep-alive before every event")

        f.configure(reply="Fixed.", first_token_ms=200, token_ms=20)
        t0 = time.monotonic()
        st, _, data = _stream(f, chat_body())
        check(time.monotonic() - t0 >= 0.2, "first-token delay")
        check_eq(sse_text(data), "Fixed.", "fixed reply option")

        f.configure(reply=None, first_token_ms=0, token_ms=0)
        st, _, data = _stream(f, chat_body(max_completion_tokens=2))
        events, _ = parse_sse(data)
        check_eq(sse_text(data), "You said:", "truncated reply")
        check_eq(json.loads(events[-2])["choices"][0]["finish_reason"],
                 "length", "finish_reason length")


def case_oa_tool():
    with FakeOpenAI() as f:
        tools = [{"type": "function", "function": {
            "name": "end_call", "description": "Hang up",
            "parameters": {"type": "object", "properties": {
                "reason": {"type": "string"}}}}}]
        f.script('tool:end_call:{"reason":"caller said goodbye"}',
                 "tool:end_call")
        for want in ({"reason": "caller said goodbye"}, {}):
            st, _, data = _stream(f, chat_body(tools=tools,
                                               tool_choice="auto"))
            check_eq(st, 200, "status")
            events, _ = parse_sse(data)
            objs = [json.loads(e) for e in events[:-1]]
            frags = [o["choices"][0]["delta"]["tool_calls"][0]
                     for o in objs
                     if o["choices"][0]["delta"].get("tool_calls")]
            check(len(frags) >= 3, "header + >= 2 argument fragments",
                  len(frags))
            check(frags[0]["id"].startswith("call_") and
                  frags[0]["function"]["name"] == "end_call", "first frag")
            check(all("id" not in x for x in frags[1:]), "id once")
            args = "".join(x["function"]["arguments"] for x in frags)
            check_eq(json.loads(args), want, "arguments")
            check(sum(1 for x in frags[1:] if x["function"]["arguments"])
                  >= 2, "arguments fragmented")
            check_eq(objs[-1]["choices"][0]["finish_reason"], "tool_calls",
                     "finish_reason")
        # Text and a tool call in one answer.
        f.script("reply_tool:Goodbye, take care.|end_call")
        st, _, data = _stream(f, chat_body(tools=tools))
        check_eq(st, 200, "status")
        events, _ = parse_sse(data)
        objs = [json.loads(e) for e in events[:-1]]
        deltas = [o["choices"][0]["delta"] for o in objs if o["choices"]]
        check_eq("".join(d.get("content") or "" for d in deltas),
                 "Goodbye, take care.", "text before the tool call")
        calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
        check_eq(calls[0]["function"]["name"], "end_call", "tool name")
        check(all("content" not in d for d in deltas
                  if d.get("tool_calls")), "no content with the tool call")
        check_eq(objs[-1]["choices"][0]["finish_reason"], "tool_calls",
                 "finish_reason")
        # The tool result turn is accepted back.
        hist = chat_body()
        hist["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": "end_call", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]
        st, _, _ = _stream(f, hist)
        check_eq(st, 200, "history with tool turn")


def case_oa_errors():
    with FakeOpenAI(models=["my-local-model"], retry_after_ms=1500) as f:
        def err(st, data):
            return st, json.loads(data)["error"]
        st, e = err(*_stream(f, chat_body(), {})[::2])
        check_eq((st, e["code"]), (401, "invalid_api_key"), "missing key")
        st, e = err(*_stream(f, chat_body(),
                             {"Authorization": "Bearer bad"})[::2])
        check_eq((st, e["code"]), (401, "invalid_api_key"), "bad key")
        check("bad" not in e["message"], "key not echoed")
        st, e = err(*_stream(f, chat_body(model="gpt-9"))[::2])
        check_eq((st, e["code"]), (404, "model_not_found"), "unknown model")
        st, _, _ = _stream(f, chat_body(model="my-local-model"))
        check_eq(st, 200, "extra model accepted")
        for bad, param in (({"stream": False}, "stream"),
                           ({"stream": False, "stream_options":
                             {"include_usage": True}}, "stream_options"),
                           ({"messages": []}, "messages"),
                           ({"messages": [{"role": "robot",
                                           "content": "x"}]},
                            "messages[0].role"),
                           ({"temperature": 3}, "temperature")):
            st, e = err(*_stream(f, chat_body(**bad))[::2])
            check_eq((st, e["param"]), (400, param), "validation %r" % bad)
        f.script("429", "429_quota", "500", "503", "429_noretry")
        st, h, data = _stream(f, chat_body())
        check_eq((st, json.loads(data)["error"]["code"]),
                 (429, "rate_limit_exceeded"), "429 rate")
        check_eq((h["retry-after-ms"], h["retry-after"]), ("1500", "2"),
                 "retry headers")
        st, h, data = _stream(f, chat_body())
        check_eq((st, json.loads(data)["error"]["code"]),
                 (429, "insufficient_quota"), "429 quota")
        check("retry-after" not in h, "no retry-after on quota")
        st, _, data = _stream(f, chat_body())
        check_eq((st, json.loads(data)["error"]["type"]),
                 (500, "server_error"), "500")
        st, _, _ = _stream(f, chat_body())
        check_eq(st, 503, "503")
        st, h, _ = _stream(f, chat_body())
        check_eq((st, h.get("x-should-retry")), (429, "false"),
                 "x-should-retry")
        st, _, _ = _stream(f, chat_body())
        check_eq(st, 200, "script exhausted")
        st, _, data = http_req(f, "GET", "/v1/models", headers=BEARER)
        ids = [m["id"] for m in json.loads(data)["data"]]
        check("gpt-4o-mini" in ids and "my-local-model" in ids, "models")
        st, _, _ = http_req(f, "GET", "/v1/models",
                            headers={"Authorization": "Bearer x"})
        check_eq(st, 401, "models bad key")
        st, _, _ = http_req(f, "GET", "/v1/models/gpt-4.1-nano",
                            headers=BEARER)
        check_eq(st, 200, "one model")
        f.script("500", route="models")
        st, _, _ = http_req(f, "GET", "/v1/models", headers=BEARER)
        check_eq(st, 500, "scripted models route")


def case_oa_midstream():
    with FakeOpenAI(reply="one two three four five") as f:
        f.script("error_mid:2", "drop_after:2", "hang", "stall:1")
        st, _, data = _stream(f, chat_body())
        events, _ = parse_sse(data)
        last = json.loads(events[-1])
        check("error" in last and "[DONE]" not in events, "error event",
              events[-1])
        check_eq(len(events), 4, "role + 2 content + error")
        try:
            _stream(f, chat_body())
            raise AssertionError("expected a broken stream")
        except (http.client.IncompleteRead, ConnectionError):
            pass
        check_eq(f.requests[-1]["status"], "dropped", "drop logged")
        for what in ("hang", "stall"):
            t0 = time.monotonic()
            try:
                http_req(f, "POST", "/v1/chat/completions", chat_body(),
                         BEARER, timeout=0.5)
                raise AssertionError("expected a timeout on " + what)
            except (socket.timeout, TimeoutError):
                pass
            check(time.monotonic() - t0 >= 0.45, what + " waited")
        check_eq(f.requests[-2]["status"], "hang", "hang logged")
        check_eq(f.requests[-1]["status"], "stalled", "stall logged")
        # A client leaving mid-stream is not an error of the fake.
        f.configure(token_ms=30)
        s = socket.create_connection(("127.0.0.1", f.port))
        body = json.dumps(chat_body()).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer good-key\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        check(s.recv(100).startswith(b"HTTP/1.1 200"), "stream started")
        s.close()
        n = len(f.requests)
        st, _, _ = _stream(f, chat_body())
        check_eq(st, 200, "next request served")
        f.wait_for(lambda: f.requests[n - 1]["status"] == 200 and
                   f.open_connections == 0, what="abandoned stream ended")
        check_eq(f.errors, [], "fake errors")


# ----- ElevenLabs ----------------------------------------------------------

XI = {"xi-api-key": "good-key", "Content-Type": "application/json"}
FORMAT_RATES = {"pcm_8000": (8000, 2), "pcm_16000": (16000, 2),
                "pcm_22050": (22050, 2), "pcm_24000": (24000, 2),
                "pcm_44100": (44100, 2), "pcm_48000": (48000, 2),
                "ulaw_8000": (8000, 1)}


def case_el_stream():
    text = "Thanks for calling, how can I help?"
    with FakeElevenLabs(voices={"good-key": [VOICE], "other": ["v2"]},
                        keys={"good-key", "other"}) as f:
        for fmt, (rate, width) in FORMAT_RATES.items():
            st, h, audio = http_req(
                f, "POST", "/v1/text-to-speech/%s/stream?output_format=%s"
                % (VOICE, fmt), {"text": text,
                                 "model_id": "eleven_flash_v2_5"}, XI)
            check_eq(st, 200, fmt)
            want = int(round(rate * len(text) * 0.055)) * width
            check_eq(len(audio), want, "length of " + fmt)
            check(f.requests[-1]["chunks"] >= 2, "several chunks", fmt)
            pcm = fakeaudio.ulaw_decode(audio) if width == 1 else audio
            level = fakeaudio.rms(pcm)
            check(level > 2000, "audible signal", fmt, level)
        check_eq(audio, synth(text, "ulaw_8000"), "deterministic audio")
        st, _, body = http_req(f, "POST", "/v1/text-to-speech/v2/stream"
                               "?output_format=pcm_16000", {"text": "hi"},
                               XI)
        check_eq((st, json.loads(body)["detail"]["status"]),
                 (404, "voice_not_found"), "voice of another key")
        st, _, _ = http_req(f, "POST", "/v1/text-to-speech/v2/stream"
                            "?output_format=pcm_16000", {"text": "hi"},
                            {"xi-api-key": "other"})
        check_eq(st, 200, "voice in own library")
        st, _, body = http_req(f, "POST", "/v1/text-to-speech/%s/stream"
                               "?output_format=pcm_16000" % VOICE,
                               {"model_id": "eleven_flash_v2_5"}, XI)
        d = json.loads(body)["detail"]
        check_eq((st, d[0]["loc"]), (422, ["body", "text"]), "422 list")
        st, _, body = http_req(f, "POST", "/v1/text-to-speech/%s/stream"
                               "?output_format=pcm_16000" % VOICE,
                               {"text": "hi"}, {"xi-api-key": "nope"})
        check_eq((st, json.loads(body)["detail"]["status"]),
                 (401, "invalid_api_key"), "bad key")
        f.script("quota", "429", "drop_after:1000")
        for st_want, code in ((401, "quota_exceeded"),
                              (429, "too_many_concurrent_requests")):
            st, _, body = http_req(f, "POST", "/v1/text-to-speech/%s/stream"
                                   "?output_format=pcm_16000" % VOICE,
                                   {"text": "hi"}, XI)
            check_eq((st, json.loads(body)["detail"]["status"]),
                     (st_want, code), "scripted " + code)
        try:
            http_req(f, "POST", "/v1/text-to-speech/%s/stream"
                     "?output_format=pcm_16000" % VOICE, {"text": text}, XI)
            raise AssertionError("expected a dropped stream")
        except (http.client.IncompleteRead, ConnectionError):
            pass
        check_eq(f.requests[-1]["audio_bytes"], 1000, "dropped after N")
        f.configure(first_byte_ms=200)
        t0 = time.monotonic()
        http_req(f, "POST", "/v1/text-to-speech/%s/stream"
                 "?output_format=pcm_16000" % VOICE, {"text": "hi"}, XI)
        check(time.monotonic() - t0 >= 0.2, "first byte delay")
        st, _, body = http_req(f, "GET", "/v1/voices", headers=XI)
        check_eq([v["voice_id"] for v in json.loads(body)["voices"]],
                 [VOICE], "voices of key")
        st, _, body = http_req(f, "GET", "/v1/user", headers=XI)
        check(json.loads(body)["subscription"]["character_count"] > 0,
              "characters counted")
        st, _, _ = http_req(f, "GET", "/v1/voices",
                            headers={"xi-api-key": "x"})
        check_eq(st, 401, "voices with bad key")
        st, _, body = http_req(f, "GET", "/v1/models", headers=XI)
        check(isinstance(json.loads(body), list), "models is an array")
        check_eq(f.errors, [], "fake errors")


def _el_ws(f, query="model_id=eleven_flash_v2_5&output_format=pcm_16000",
           headers=None, voice=VOICE):
    return WsClient("%s/v1/text-to-speech/%s/stream-input?%s"
                    % (f.url.replace("http:", "ws:"), voice, query),
                    headers)


def case_el_ws():
    with FakeElevenLabs() as f:
        check_eq(f.url, "http://127.0.0.1:%d" % f.port, "url")
        ws = _el_ws(f, headers={"xi-api-key": "good-key"})
        ws.send_json({"text": " ", "voice_settings": {"stability": 0.5,
                                                      "speed": 1.0},
                      "generation_config": {"chunk_length_schedule": [50]}})
        sent = "Hello there, thanks for calling the restaurant today. "
        ws.send_json({"text": sent})     # 55 chars >= 50: generates
        m = ws.recv_json()
        check(m.get("audio") and m.get("isFinal") is None, "audio message")
        got = len(base64.b64decode(m["audio"]))
        check_eq(m["alignment"]["chars"][0], "H", "alignment chars")
        ws.send_json({"text": "Bye. ", "flush": True})
        ws.send_json({"text": " "})      # keep-alive
        ws.send_json({"text": ""})       # EOS
        msgs, close = ws.messages_until_close()
        check_eq(msgs[-1], {"isFinal": True}, "final message")
        check_eq(close, (1000, ""), "close 1000")
        got += sum(len(base64.b64decode(x["audio"])) for x in msgs[:-1])
        want = sum(int(round(16000 * len(t) * 0.055)) * 2
                   for t in (sent, "Bye. "))
        check_eq(got, want, "audio bytes for all text")
        e = f.wait_for(lambda: f.requests[-1]["closed"] and f.requests[-1])
        check_eq((e["auth_via"], e["key"]), ("header", "good-key"), "auth")
        check_eq(e["text"], sent + "Bye. ", "text recorded")

        # Key in the first message, both spellings; EOS without flush.
        for field in ("xi_api_key", "xi-api-key"):
            ws = _el_ws(f, "output_format=ulaw_8000")
            ws.send_json({"text": " ", field: "good-key"})
            ws.send_json({"text": "Short. "})
            ws.send_json({"text": ""})
            msgs, close = ws.messages_until_close()
            check_eq(close[0], 1000, "close " + field)
            check_eq(sum(len(base64.b64decode(x["audio"]))
                         for x in msgs[:-1]), int(round(8000 * 7 * 0.055)),
                     "ulaw length " + field)
            e = f.wait_for(lambda: f.requests[-1]["closed"]
                           and f.requests[-1])
            check_eq(e["auth_via"], "message", "auth via message")
            check(all(field not in m for m in e["messages"]),
                  "key not logged")

        def closes_with(first, later=(), query=None, headers=None,
                        voice=VOICE):
            ws = _el_ws(f, query or "output_format=pcm_16000",
                        headers, voice)
            ws.send_json(first)
            for m in later:
                ws.send_json(m)
            msgs, close = ws.messages_until_close()
            check_eq(close[0], 1008, "1008 for %r" % first)
            return close[1]

        closes_with({"text": " ", "xi_api_key": "wrong"})
        closes_with({"text": "Hello", "xi_api_key": "good-key"})
        r = closes_with({"text": " ", "xi_api_key": "good-key"},
                        voice="unknown-voice")
        check("voice_not_found" in r, "voice reason", r)
        r = closes_with({"text": " ", "xi_api_key": "good-key",
                         "voice_settings": {"stability": 0.5}},
                        [{"text": "Hi ", "voice_settings":
                          {"stability": 0.9}}])
        check("voice_settings" in r, "changed settings reason", r)
        f.configure(ws_inactivity_timeout=0.3)
        r = closes_with({"text": " ", "xi_api_key": "good-key"})
        check("timeout" in r, "inactivity reason", r)
        f.configure(ws_inactivity_timeout=None)
        f.script("quota")
        r = closes_with({"text": " ", "xi_api_key": "good-key"},
                        [{"text": "Hi "}])
        check("quota" in r, "quota reason", r)
        try:
            _el_ws(f, headers={"xi-api-key": "wrong"})
            raise AssertionError("bad header key accepted")
        except HandshakeError as e:
            check_eq(e.status, 401, "bad header key refused")
        check_eq(f.errors, [], "fake errors")


# ----- Resend ---------------------------------------------------------------

RS = {"Authorization": "Bearer re_full", "User-Agent": "sovereignd-test",
      "Content-Type": "application/json"}
EMAIL = {"from": "Front Desk <desk@mail.example.com>",
         "to": ["owner@example.com"], "subject": "Missed call",
         "text": "Caller asked about opening hours."}


def case_resend():
    with FakeResend(keys={"re_full"}, send_only_keys={"re_send"},
                    verified_domains=["mail.example.com"]) as f:
        check_eq(f.url, "http://127.0.0.1:%d" % f.port, "url")

        def send(body=EMAIL, headers=RS):
            st, h, data = http_req(f, "POST", "/emails", body, headers)
            for k in ("ratelimit-limit", "ratelimit-remaining",
                      "ratelimit-reset", "ratelimit-policy"):
                check(k in h, "rate-limit header " + k, st)
            try:
                return st, h, json.loads(data)
            except ValueError:
                return st, h, data

        nua = {k: v for k, v in RS.items() if k != "User-Agent"}
        st, _, body = send(headers=nua)
        check_eq(st, 403, "no User-Agent")
        check(isinstance(body, bytes), "1010 body is not JSON")
        st, _, body = send(headers={"User-Agent": "x"})
        check_eq((st, body["name"]), (401, "missing_api_key"), "no key")
        st, _, body = send(headers=dict(RS, Authorization="Bearer re_x"))
        check_eq((st, body["name"]), (401, "validation_error"), "bad key")
        for field in ("from", "to", "subject"):
            b = dict(EMAIL)
            del b[field]
            st, _, body = send(b)
            check_eq((st, body["name"], body["statusCode"]),
                     (422, "missing_required_field", 422), "no " + field)
            check(field in body["message"], "message names field")
        b = dict(EMAIL)
        del b["text"]
        st, _, body = send(b)
        check_eq(st, 422, "no html/text")
        st, _, body = send(dict(EMAIL, **{"from": "not an address"}))
        check_eq((st, body["name"]), (422, "invalid_from_address"), "from")
        st, _, body = send(dict(EMAIL, **{"from": "x@other.org"}))
        check_eq(st, 403, "unverified domain")
        st, _, body = send()
        check_eq(st, 200, "sent")
        st2, _, body2 = send(headers=dict(RS, Authorization="Bearer re_send"))
        check_eq(st2, 200, "send-only key can send")
        check(body["id"] != body2["id"], "distinct ids")
        check_eq([e["id"] for e in f.emails], [body["id"], body2["id"]],
                 "emails kept")
        check_eq(f.emails[0]["subject"], "Missed call", "email body")
        check_eq(f.requests[-1]["key"], "re_send", "key logged")
        idem = dict(RS, **{"Idempotency-Key": "call-123"})
        st, _, a = send(headers=idem)
        st, _, b = send(headers=idem)
        check_eq((st, a["id"]), (200, b["id"]), "idempotent replay")
        check_eq(len(f.emails), 3, "replay not sent twice")
        st, _, c = send(dict(EMAIL, subject="Other"), idem)
        check_eq((st, c["name"]), (409, "invalid_idempotent_request"),
                 "idempotency conflict")
        f.script("429", "429_daily", "500", "500_text")
        st, h, body = send()
        check_eq((st, body["name"], h.get("retry-after")),
                 (429, "rate_limit_exceeded", "1"), "429 rate")
        st, h, body = send()
        check_eq((st, body["name"]), (429, "daily_quota_exceeded"), "daily")
        st, h, body = send()
        check_eq((st, body["name"]), (500, "application_error"), "500")
        st, h, body = send()
        check(st == 500 and isinstance(body, bytes), "non-JSON 500")
        st, _, d = http_req(f, "GET", "/domains", headers=RS)
        check_eq((st, json.loads(d)["data"][0]["name"]),
                 (200, "mail.example.com"), "domains full key")
        st, _, d = http_req(f, "GET", "/domains",
                            headers=dict(RS, Authorization="Bearer re_send"))
        check_eq((st, json.loads(d)["name"]), (401, "restricted_api_key"),
                 "domains send-only key")
        st, _, d = http_req(f, "GET", "/domains",
                            headers=dict(RS, Authorization="Bearer nope"))
        check_eq((st, json.loads(d)["name"]), (401, "validation_error"),
                 "domains invalid key")
        st, _, d = http_req(f, "GET", "/emails/" + a["id"], headers=RS)
        check_eq((st, json.loads(d)["subject"]), (200, "Missed call"),
                 "retrieve email")
        f.configure(enforce_rate_limit=True, rate_limit=2)
        statuses = [send()[0] for _ in range(4)]
        check(429 in statuses, "rate limit enforced", statuses)
        check_eq(f.errors, [], "fake errors")


# ----- CLI and load ---------------------------------------------------------

def case_cli():
    for mod, path, hdr in (
            ("fake_openai.py", "/models", {"Authorization": "Bearer k"}),
            ("fake_deepgram.py", "/v1/projects",
             {"Authorization": "Token k"}),
            ("fake_elevenlabs.py", "/v1/voices", {"xi-api-key": "k"}),
            ("fake_resend.py", "/domains", {"Authorization": "Bearer k",
                                            "User-Agent": "t"})):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, mod),
                              "--key", "k", "--port", "0"],
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().split()
            check_eq(line[0], "PORT", mod + " first line")
            url = p.stdout.readline().split()[1]
            port = int(line[1])
            check(url.endswith(":%d" % port) or
                  url.endswith(":%d/v1" % port), "url line", url)
            prefix = "/v1" if mod == "fake_openai.py" else ""
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", prefix + path, headers=hdr)
            check_eq(c.getresponse().status, 200, mod + " request")
            c.close()
        finally:
            p.terminate()
            rc = p.wait(10)
        check_eq(rc, 0, mod + " exit status")


def case_load():
    """100 concurrent Deepgram sessions and 100 concurrent SSE streams."""
    n = 100
    audio = fakeaudio.speech_like([("speech", 700), ("silence", 500)])
    errors = []
    with FakeDeepgram() as dg, FakeOpenAI(token_ms=5) as oa:
        def dg_session():
            try:
                ws = WsClient(dg.url + DG_Q, TOKEN, timeout=20)
                send_audio(ws, audio)
                ws.send_json({"type": "CloseStream"})
                msgs, close = ws.messages_until_close(20)
                t = _dg_types(msgs)
                if close[0] != 1000 or "speech_final" not in t:
                    errors.append(("dg", close, t))
            except Exception as e:  # noqa: BLE001 - collected below
                errors.append(("dg", repr(e)))

        def oa_stream():
            try:
                st, _, data = http_req(oa, "POST", "/v1/chat/completions",
                                       chat_body(), BEARER, timeout=20)
                if st != 200 or not data.endswith(b"data: [DONE]\n\n"):
                    errors.append(("oa", st))
            except Exception as e:  # noqa: BLE001 - collected below
                errors.append(("oa", repr(e)))

        t0 = time.monotonic()
        threads = [threading.Thread(target=dg_session) for _ in range(n)]
        threads += [threading.Thread(target=oa_stream) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        took = time.monotonic() - t0
        check_eq(errors[:3], [], "errors")
        check_eq(len(dg.requests_for("listen")), n, "dg sessions")
        check_eq(len(oa.requests_for("chat")), n, "oa streams")
        check(took < 20, "load finished in time", took)
        print("load: %d+%d sessions in %.2fs" % (n, n, took))


CASES = {name[5:]: fn for name, fn in globals().items()
         if name.startswith("case_")}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_fakes.py {%s}" % "|".join(CASES))
        return 2
    try:
        CASES[sys.argv[1]]()
    except Skip as s:
        print("SKIP: %s" % s)
        return 77
    except Exception:
        traceback.print_exc()
        return 1
    print("ok %s" % sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
