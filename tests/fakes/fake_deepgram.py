#!/usr/bin/env python3
# fake_deepgram.py - local stand-in for Deepgram live speech-to-text.
#
# Serves the WebSocket /v1/listen (protocols.md A.1-A.6) and the REST key
# check GET /v1/projects (A.7). It cannot recognise speech: an energy VAD
# finds utterances in the caller audio (stream time counted from bytes and
# sample_rate) and each utterance is answered with the next text of a
# transcript script, with SpeechStarted, interim and final Results and
# UtteranceEnd as the real service sends them. See docs/testing-fakes.md.
#
# SPDX-License-Identifier: MIT

import asyncio
import collections
import datetime
import hashlib
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeaudio  # noqa: E402
import fakebase  # noqa: E402
import wsproto  # noqa: E402
from fakebase import FakeServer, new_request_id, split_behaviour  # noqa

MODELS = ["nova-3", "nova-3-general", "nova-3-medical", "nova-2",
          "nova-2-general", "nova-2-phonecall"]
ENCODINGS = {"linear16", "mulaw", "alaw"}
MODEL_UUID = "00000000-0000-4000-8000-00000000abcd"
PROJECT_ID = "2d0f2c4e-7a55-4c1b-9a3e-000000000001"


def dg_error(err_code, err_msg, rid):
    return {"err_code": err_code, "err_msg": err_msg, "request_id": rid}


def _word(tok):
    return re.sub(r"[^\w'-]", "", tok).lower() or tok.lower()


def _is_true(v):
    return str(v).lower() == "true"


class FakeDeepgram(FakeServer):
    """Options:
    models          extra accepted model ids (besides MODELS)
    transcripts     texts answered to successive utterances of a
                    connection (cycled); queue_transcripts() overrides
    vad_threshold   frame RMS (16-bit units) counted as speech
    vad_frame_ms    VAD frame length
    min_speech_ms   speech needed before an utterance starts
    min_silence_ms  lower bound of the endpointing silence (the crude VAD
                    would split words at 10 ms, Deepgram's default)
    interim_ms      stream time between interim Results
    result_delay_ms wall-clock delay added to every server message
    idle_timeout    seconds without a client frame before 1011 NET-0001
    max_payload     largest accepted WebSocket message
    speech_final    False: finals after the endpointing pause carry
                    speech_final false (endpointing that never fires, as
                    in background noise), so only UtteranceEnd ends a turn
    """

    NAME = "deepgram"
    url_scheme = "ws"
    OPTIONS = {
        "models": (),
        "transcripts": ("hello there",),
        "vad_threshold": 400.0,
        "vad_frame_ms": 20,
        "min_speech_ms": 60,
        "min_silence_ms": 100,
        "interim_ms": 400,
        "result_delay_ms": 0,
        "idle_timeout": 10.0,
        "max_payload": 1 << 20,
        "speech_final": True,
    }
    ROUTES = [
        ("GET", r"^/v1/listen/?$", "listen", "route_listen", "main", True),
        ("GET", r"^/v1/projects/?$", "projects", "route_projects", "projects"),
        ("GET", r"^/v1/models/?$", "models", "route_models", "models"),
    ]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._texts = collections.deque()

    def queue_transcripts(self, *texts):
        """Texts for the next utterances on any connection, used before
        the per-connection transcripts option."""
        with self._lock:
            self._texts.extend(texts)

    def next_text(self, session_texts):
        with self._lock:
            if self._texts:
                return self._texts.popleft()
        return next(session_texts)

    def extract_key(self, req):
        auth = req.header("authorization")
        if auth:
            scheme, _, tok = auth.strip().partition(" ")
            if scheme.lower() in ("token", "bearer") and tok.strip():
                return tok.strip()
            return None
        proto = req.header("sec-websocket-protocol")
        if proto:
            parts = [p.strip() for p in proto.split(",")]
            if len(parts) == 2 and parts[0].lower() == "token":
                return parts[1]
        return None

    def models(self):
        return MODELS + [m for m in self.opt["models"] if m not in MODELS]

    async def _fail(self, conn, entry, status, code, msg, rid, ws=False):
        h = {"dg-request-id": rid}
        if ws:
            h["dg-error"] = msg
        await self.reply_json(conn, entry, status, dg_error(code, msg, rid),
                              h, close=ws)

    async def _common_errors(self, conn, entry, name, rid, ws=False):
        """Auth and scripted failures; True when a reply was sent."""
        if name == "401" or entry["key"] not in self.keys:
            await self._fail(conn, entry, 401, "INVALID_AUTH",
                             "Invalid credentials.", rid, ws)
            return True
        scripted = {
            "402": ("ASR_PAYMENT_REQUIRED", "Project does not have enough "
                    "credits for an ASR request."),
            "403": ("INSUFFICIENT_PERMISSIONS", "Project does not have "
                    "access to the requested model."),
            "429": ("TOO_MANY_REQUESTS",
                    "Too many requests. Please try again later"),
            "500": ("INTERNAL_SERVER_ERROR", "Internal server error."),
            "503": ("Service Unavailable", "Please try again later"),
        }
        if name in scripted:
            code, msg = scripted[name]
            await self._fail(conn, entry, int(name), code, msg, rid, ws)
            return True
        return False

    async def route_projects(self, conn, req, entry):
        rid = new_request_id()
        name, _ = split_behaviour(entry["behaviour"])
        if await self._common_errors(conn, entry, name, rid):
            return
        await self.reply_json(conn, entry, 200, {"projects": [
            {"project_id": PROJECT_ID, "name": "Fake Project"}]},
            {"dg-request-id": rid})

    async def route_models(self, conn, req, entry):
        stt = [{"name": m, "canonical_name": m, "architecture":
                m.rsplit("-", 1)[0] if m.count("-") > 1 else m,
                "languages": ["en", "en-US"], "version": "2025-01-01.0",
                "uuid": MODEL_UUID, "batch": True, "streaming": True,
                "formatted_output": True} for m in self.models()]
        await self.reply_json(conn, entry, 200, {"stt": stt, "tts": []},
                              {"dg-request-id": new_request_id()})

    def _check_params(self, q):
        """Returns an error message for bad query parameters, or None."""
        model = q.get("model")
        if model is not None and model not in self.models():
            return "No such model/language/tier combination found: %s" \
                % model
        enc = q.get("encoding")
        if enc is not None:
            if enc not in ENCODINGS:
                return "encoding %s is not supported by this fake" % enc
            if "sample_rate" not in q:
                return "sample_rate is required when encoding is given"
        for k in ("sample_rate", "channels", "utterance_end_ms"):
            if k in q and not q[k].isdigit():
                return "Invalid value for %s" % k
        ep = q.get("endpointing")
        if ep is not None and ep != "false" and not ep.isdigit():
            return "Invalid value for endpointing"
        if q.get("channels", "1") == "0" or q.get("sample_rate") == "0":
            return "Invalid audio format"
        return None

    async def route_listen(self, conn, req, entry):
        rid = new_request_id()
        entry.update({"request_id": rid, "audio_bytes": 0, "keepalives": 0,
                      "control": [], "sent": [], "finals": [],
                      "utterances": 0, "close": None, "client_close": None,
                      "closed": False})
        name, arg = split_behaviour(entry["behaviour"])
        if await self._common_errors(conn, entry, name, rid, ws=True):
            return
        bad = self._check_params(req.query)
        if bad:
            await self._fail(conn, entry, 400, "Bad Request", bad, rid, True)
            return
        sub = None
        if not req.header("authorization") and \
                req.header("sec-websocket-protocol"):
            sub = "token"
        ws = await wsproto.ws_handshake(conn, req, {"dg-request-id": rid},
                                        subprotocol=sub,
                                        max_payload=self.opt["max_payload"])
        if ws is None:
            entry["status"] = 400
            return
        entry["status"] = 101
        self.changed()
        sess = _Session(self, ws, req, entry, rid, name, arg)
        try:
            await sess.run()
        finally:
            entry["closed"] = True
            self.changed()


class _Session:
    """One /v1/listen connection: VAD state and the ordered sender."""

    def __init__(self, fake, ws, req, entry, rid, bname, barg):
        self.fake = fake
        self.opt = dict(fake.opt)
        self.ws = ws
        self.entry = entry
        self.rid = rid
        self.bname = bname
        self.barg = barg
        q = req.query
        self.q = q
        self.enc = q.get("encoding")
        self.rate = int(q.get("sample_rate") or 16000)
        self.channels = int(q.get("channels") or 1)
        self.interim = _is_true(q.get("interim_results"))
        self.punct = _is_true(q.get("punctuate")) or \
            _is_true(q.get("smart_format"))
        self.vad_events = _is_true(q.get("vad_events"))
        ep = q.get("endpointing", "10")
        self.endpointing = None if ep == "false" else int(ep)
        ue = q.get("utterance_end_ms")
        self.ue_ms = int(ue) if ue and self.interim else None
        self.model = q.get("model", "nova-3")
        width = 2 if (self.enc or "linear16") == "linear16" else 1
        self.width = width
        self.frame_s = self.opt["vad_frame_ms"] / 1000.0
        self.frame_samples = max(1, int(self.rate * self.frame_s))
        self.frame_bytes = self.frame_samples * width * self.channels
        self.frame_s = self.frame_samples / self.rate
        self.pending = bytearray()
        self.frames = 0
        self.sha = hashlib.sha256()
        self.header_checked = self.enc is not None
        texts = list(self.opt["transcripts"]) or ["hello there"]
        self.texts = _cycle(texts)
        self.in_speech = False
        self.speech_run = 0
        self.run_start = 0.0
        self.utt_start = 0.0
        self.last_speech_end = 0.0
        self.last_interim = 0.0
        self.words = []
        self.n_interim = 0
        self.pending_ue = None
        self.out = asyncio.Queue()
        self.idle = float(self.opt["idle_timeout"])
        self.closing = False

    # ----- sending ---------------------------------------------------------

    def send(self, msg):
        due = time.monotonic() + self.opt["result_delay_ms"] / 1000.0
        self.out.put_nowait((due, msg))

    async def _sender(self):
        while True:
            due, msg = await self.out.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if isinstance(msg, tuple):
                code, reason = msg
                self.entry["close"] = (code, reason)
                self.fake.changed()
                await self.ws.close(code, reason)
                self.entry["client_close"] = self.ws.recv_close
                return
            self.entry["sent"].append(msg)
            await self.ws.send_json(msg)
            self.fake.changed()

    # ----- message builders ------------------------------------------------

    def _now(self):
        return self.frames * self.frame_s

    def _alt(self, words, t0, t1, final):
        n = len(words)
        span = max(t1 - t0, 0.05 * n)
        ws = []
        for i, tok in enumerate(words):
            s = t0 + span * i / n
            e = t0 + span * (i + 1) / n
            pw = tok
            if self.punct:
                if i == 0:
                    pw = pw[:1].upper() + pw[1:]
                if final and i == n - 1 and pw[-1:].isalnum():
                    pw += "."
            else:
                pw = _word(tok)
            ws.append({"word": _word(tok), "start": round(s, 3),
                       "end": round(e, 3), "confidence": 0.98,
                       "punctuated_word": pw})
        if self.punct:
            transcript = " ".join(w["punctuated_word"] for w in ws)
        else:
            transcript = " ".join(w["word"] for w in ws)
        return {"transcript": transcript, "confidence": 0.97 if n else 0.0,
                "words": ws}

    def _results(self, words, t_end, is_final, speech_final,
                 from_finalize=False):
        t0 = self.utt_start
        word_end = self.last_speech_end if is_final else t_end
        msg = {"type": "Results", "channel_index": [0, self.channels],
               "start": round(t0, 3), "duration": round(t_end - t0, 3),
               "is_final": is_final, "speech_final": speech_final,
               "from_finalize": from_finalize,
               "channel": {"alternatives": [self._alt(words, t0, word_end,
                                                      is_final)]},
               "metadata": {"request_id": self.rid,
                            "model_info": {"name": "general-" + self.model,
                                           "version": "2025-01-01.0",
                                           "arch": self.model},
                            "model_uuid": MODEL_UUID}}
        if is_final:
            self.entry["finals"].append(
                msg["channel"]["alternatives"][0]["transcript"])
        self.send(msg)

    # ----- VAD -------------------------------------------------------------

    def _onset(self, t):
        self.in_speech = True
        self.utt_start = t
        self.last_speech_end = self._now()
        self.last_interim = t
        self.n_interim = 0
        self.pending_ue = None
        self.words = self.fake.next_text(self.texts).split()
        self.entry["utterances"] += 1
        if self.vad_events:
            self.send({"type": "SpeechStarted",
                       "channel": [0, self.channels],
                       "timestamp": round(t, 3)})

    def _finish(self, speech_final, from_finalize=False):
        self._results(self.words, self._now(), True, speech_final,
                      from_finalize)
        self.in_speech = False
        self.speech_run = 0
        if self.ue_ms is not None:
            self.pending_ue = self.last_speech_end

    def _frame(self, data):
        t0 = self._now()
        self.frames += 1
        t1 = self._now()
        level = fakeaudio.rms(data, self.enc or "linear16", self.channels)
        if level >= self.opt["vad_threshold"]:
            if self.speech_run == 0:
                self.run_start = t0
            self.speech_run += 1
            if not self.in_speech and \
                    self.speech_run * self.frame_s * 1000 >= \
                    self.opt["min_speech_ms"] - 1e-6:
                self._onset(self.run_start)
            if self.in_speech:
                self.last_speech_end = t1
        else:
            self.speech_run = 0
            if self.in_speech:
                gap_ms = (t1 - self.last_speech_end) * 1000
                if self.endpointing is None:
                    limit, sf = max(500, self.opt["min_silence_ms"]), False
                else:
                    limit = max(self.endpointing, self.opt["min_silence_ms"])
                    sf = bool(self.opt["speech_final"])
                if gap_ms >= limit - 1e-6:
                    self._finish(sf)
        if self.in_speech and self.interim and \
                (t1 - self.last_interim) * 1000 >= self.opt["interim_ms"]:
            self.last_interim = t1
            self.n_interim += 1
            n = max(1, min(self.n_interim, len(self.words) - 1))
            self._results(self.words[:n], t1, False, False)
        if self.pending_ue is not None and not self.in_speech and \
                (t1 - self.pending_ue) * 1000 >= self.ue_ms:
            self.send({"type": "UtteranceEnd",
                       "channel": [0, self.channels],
                       "last_word_end": round(self.pending_ue, 3)})
            self.pending_ue = None

    def _skip_wav_header(self):
        """Without encoding, audio is containerised: take rate/channels
        from a WAV header and drop it; anything else is read as 16 kHz
        linear16."""
        buf = bytes(self.pending)
        if not buf.startswith(b"RIFF"):
            self.header_checked = True
            return True
        pos = 12
        while pos + 8 <= len(buf):
            cid, size = buf[pos:pos + 4], struct.unpack(
                "<I", buf[pos + 4:pos + 8])[0]
            if cid == b"fmt " and pos + 16 <= len(buf):
                self.channels, self.rate = struct.unpack(
                    "<HI", buf[pos + 10:pos + 16])
            if cid == b"data":
                del self.pending[:pos + 8]
                self.frame_samples = max(1, int(self.rate *
                                                self.opt["vad_frame_ms"] /
                                                1000))
                self.frame_bytes = self.frame_samples * 2 * self.channels
                self.frame_s = self.frame_samples / self.rate
                self.header_checked = True
                return True
            pos += 8 + size
        return False

    def _audio(self, data):
        self.entry["audio_bytes"] += len(data)
        self.sha.update(data)
        self.pending += data
        if not self.header_checked and not self._skip_wav_header():
            return
        fb = self.frame_bytes
        n = len(self.pending) // fb
        if n == 0:
            return
        buf = bytes(self.pending[:n * fb])
        del self.pending[:n * fb]
        for i in range(n):
            self._frame(buf[i * fb:(i + 1) * fb])

    # ----- main loop -------------------------------------------------------

    async def run(self):
        loop = asyncio.get_running_loop()
        sender = asyncio.ensure_future(self._sender())
        self.reader = asyncio.ensure_future(self._read_loop())
        self.last_rx = time.monotonic()
        self.idle_h = loop.call_later(self.idle, self._idle_check)
        dropper = None
        if self.bname == "drop_after_ms":
            dropper = loop.call_later(float(self.barg) / 1000.0, self._drop)
        try:
            try:
                await self.reader
            except asyncio.CancelledError:
                if not self.closing:
                    raise
            if self.closing:
                await sender
        finally:
            self.idle_h.cancel()
            if dropper is not None:
                dropper.cancel()
            for t in (self.reader, sender):
                if not t.done():
                    t.cancel()
            if not self.ws.closed:
                self.ws.abort()

    def _idle_check(self):
        """Watchdog instead of a timeout per read (which costs a task per
        audio frame): closes 1011 NET-0001 after idle_timeout without a
        data frame."""
        left = self.last_rx + self.idle - time.monotonic()
        if left > 0:
            self.idle_h = asyncio.get_running_loop().call_later(
                left, self._idle_check)
            return
        if not self.closing:
            self._close(1011, "NET-0001")
            self.reader.cancel()

    def _drop(self):
        self.entry["close"] = "dropped"
        self.fake.changed()
        self.ws.abort()

    def _close(self, code, reason):
        self.closing = True
        self.send((code, reason))

    async def _read_loop(self):
        while not self.closing:
            try:
                op, data = await self.ws.recv()
            except wsproto.WsClosed:
                self.entry["client_close"] = self.ws.recv_close
                if self.ws.sent_close is not None and \
                        self.entry["close"] is None:
                    self.entry["close"] = self.ws.sent_close
                return
            self.last_rx = time.monotonic()
            if op == wsproto.OP_BINARY:
                if not data:
                    self._close(1008, "DATA-0000")
                    return
                self._audio(data)
                if self.bname == "drop_after" and \
                        self.entry["audio_bytes"] >= int(self.barg):
                    self._drop()
                    return
                if self.bname == "close":
                    code, _, reason = (self.barg or "1011:NET-0000") \
                        .partition(":")
                    self._close(int(code), reason)
                    return
                self.fake.changed()
                continue
            self._control(data)

    def _control(self, text):
        try:
            msg = wsproto.json.loads(text)
            mtype = msg.get("type")
        except (ValueError, AttributeError):
            mtype = None
        self.entry["control"].append(mtype if mtype else text[:80])
        self.fake.changed()
        if mtype == "KeepAlive":
            self.entry["keepalives"] += 1
        elif mtype == "Finalize":
            if self.in_speech:
                self._finish(False, from_finalize=True)
        elif mtype == "CloseStream":
            if self.in_speech:
                self._finish(False)
            created = datetime.datetime.now(datetime.timezone.utc)
            self.send({"type": "Metadata", "transaction_key": "deprecated",
                       "request_id": self.rid,
                       "sha256": self.sha.hexdigest(),
                       "created": created.strftime("%Y-%m-%dT%H:%M:%S.")
                       + "%03dZ" % (created.microsecond // 1000),
                       "duration": round(self._now(), 3),
                       "channels": self.channels,
                       "models": [MODEL_UUID],
                       "model_info": {MODEL_UUID: {
                           "name": "general-" + self.model,
                           "version": "2025-01-01.0",
                           "arch": self.model}}})
            self._close(1000, "")


def _cycle(items):
    while True:
        for it in items:
            yield it


if __name__ == "__main__":
    sys.exit(fakebase.run_cli(FakeDeepgram))
