#!/usr/bin/env python3
# fake_elevenlabs.py - local stand-in for ElevenLabs text-to-speech.
#
# Serves the HTTP streaming TTS route (protocols.md C.2), the WebSocket
# stream-input route (C.3, C.4), voices/user/models listings for key
# checks (C.5) and the error shapes of C.6. Audio is a deterministic
# vowel-like buzz whose length is proportional to the text (ms_per_char),
# in the requested raw format (s16le PCM or mu-law). See
# docs/testing-fakes.md.
#
# SPDX-License-Identifier: MIT

import asyncio
import base64
import json
import os
import sys
import threading
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeaudio  # noqa: E402
import fakebase  # noqa: E402
import wsproto  # noqa: E402
from fakebase import FakeServer, split_behaviour  # noqa: E402

MODELS = ["eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2",
          "eleven_flash_v2", "eleven_turbo_v2"]
DEFAULT_VOICES = {"21m00Tcm4TlvDq8ikWAM": "Rachel",
                  "EXAVITQu4vr4xnSDxMKL": "Sarah"}
# output_format -> (sample rate, bytes per sample); mu-law is 1 byte.
FORMATS = {"pcm_8000": (8000, 2), "pcm_16000": (16000, 2),
           "pcm_22050": (22050, 2), "pcm_24000": (24000, 2),
           "pcm_32000": (32000, 2), "pcm_44100": (44100, 2),
           "pcm_48000": (48000, 2), "ulaw_8000": (8000, 1)}
KNOWN_FORMATS = set(FORMATS) | {
    "mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64",
    "mp3_44100_96", "mp3_44100_128", "mp3_44100_192", "alaw_8000",
    "opus_48000_32", "opus_48000_64", "opus_48000_96", "opus_48000_128",
    "opus_48000_192"}
SECRET_FIELDS = ("xi_api_key", "xi-api-key", "authorization")
INACTIVITY_REASON = ("Have not received a new text input within the "
                     "timeout of %s seconds. Streaming input terminated. "
                     "Please make sure to send text input regularly or "
                     "send a close message.")

_cache_lock = threading.Lock()
_cache = {}


def _base_audio(fmt):
    """One second of the buzz in fmt, computed once per format. The buzz
    (140 Hz, 4 Hz wobble) repeats every second, so copies join without
    a click."""
    with _cache_lock:
        if fmt not in _cache:
            rate, _ = FORMATS[fmt]
            pcm = fakeaudio.pcm_to_bytes(
                fakeaudio.voice_like(rate, rate, amp=8000.0))
            if fmt.startswith("ulaw"):
                pcm = fakeaudio.ulaw_encode(pcm)
            _cache[fmt] = pcm
        return _cache[fmt]


def audio_ms(text, ms_per_char, speed=1.0):
    """Duration in ms of the audio for text."""
    return len(text) * ms_per_char / (speed or 1.0)


def synth(text, fmt, ms_per_char=55.0, speed=1.0):
    """Raw audio for text: len(text) * ms_per_char / speed ms of signal in
    fmt; len = round(rate * ms / 1000) samples."""
    rate, width = FORMATS[fmt]
    ms = audio_ms(text, ms_per_char, speed)
    n = int(round(rate * ms / 1000.0)) * width
    base = _base_audio(fmt)
    reps = n // len(base) + 1
    return (base * reps)[:n] if reps > 1 else base[:n]


def _detail(status, message):
    return {"detail": {"status": status, "message": message}}


def _speed(settings):
    try:
        s = float((settings or {}).get("speed") or 1.0)
    except (TypeError, ValueError, AttributeError):
        return 1.0
    return s if 0.5 <= s <= 2.0 else 1.0


class FakeElevenLabs(FakeServer):
    """Options:
    voices               voice ids of every key's library (list), or
                         {key: [ids]}; None: DEFAULT_VOICES
    models               extra accepted model ids (besides MODELS)
    ms_per_char          audio duration per text character
    first_byte_ms        delay before the first audio of a request or of
                         each WebSocket generation
    chunk_ms             audio per HTTP chunk
    chunk_interval_ms    delay between HTTP chunks
    ws_chunk_chars       text characters per WebSocket audio message
    ws_inactivity_timeout  overrides the inactivity_timeout query (s)
    max_chars            longer texts get 400 max_character_limit_exceeded
    no_user_read_keys    valid keys that get 401 missing_permissions on
                         GET /v1/user
    """

    NAME = "elevenlabs"
    OPTIONS = {
        "voices": None,
        "models": (),
        "ms_per_char": 55.0,
        "first_byte_ms": 0,
        "chunk_ms": 100,
        "chunk_interval_ms": 0,
        "ws_chunk_chars": 60,
        "ws_inactivity_timeout": None,
        "max_chars": 10000,
        "no_user_read_keys": (),
    }
    ROUTES = [
        ("GET", r"^/v1/text-to-speech/(?P<voice_id>[^/]+)/stream-input$",
         "ws", "route_ws", "main", True),
        ("POST", r"^/v1/text-to-speech/(?P<voice_id>[^/]+)/stream$",
         "stream", "route_tts", "main"),
        ("POST", r"^/v1/text-to-speech/(?P<voice_id>[^/]+)$",
         "tts", "route_tts", "main"),
        ("GET", r"^/v1/voices$", "voices", "route_voices", "voices"),
        ("GET", r"^/v2/voices$", "voices2", "route_voices", "voices"),
        ("GET", r"^/v1/voices/(?P<voice_id>[^/]+)$", "voice",
         "route_voice", "voices"),
        ("GET", r"^/v1/user$", "user", "route_user", "user"),
        ("GET", r"^/v1/models$", "models", "route_models", "models"),
    ]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.characters = 0

    def extract_key(self, req):
        return req.header("xi-api-key")

    def voices_for(self, key):
        v = self.opt["voices"]
        if v is None:
            return list(DEFAULT_VOICES)
        if isinstance(v, dict):
            return list(v.get(key, ()))
        return list(v)

    def models(self):
        return MODELS + [m for m in self.opt["models"] if m not in MODELS]

    def _voice_obj(self, vid):
        return {"voice_id": vid, "name": DEFAULT_VOICES.get(vid, "Voice " +
                                                             vid[:6]),
                "category": "premade", "labels": {"accent": "american"},
                "description": None, "preview_url": None, "settings": None,
                "high_quality_base_model_ids": ["eleven_flash_v2_5"],
                "is_owner": False}

    async def _err(self, conn, entry, status, body, close=False):
        await self.reply_json(conn, entry, status, body,
                              {"request-id": uuid.uuid4().hex}, close=close)

    async def _reject_key(self, conn, entry, close=False):
        msg = "Invalid API key" if entry["key"] else \
            "Missing API key. Provide it in the xi-api-key header."
        await self._err(conn, entry, 401, _detail("invalid_api_key", msg),
                        close)

    async def _scripted(self, conn, entry, name, close=False):
        """Answers a scripted error status; True when it did."""
        scripted = {
            "quota": (401, "quota_exceeded", "This request exceeds your "
                      "quota of 10000. You have 0 credits remaining."),
            "429": (429, "too_many_concurrent_requests", "Too many "
                    "concurrent requests for your plan."),
            "429_busy": (429, "system_busy", "We are experiencing heavy "
                         "traffic, please try again."),
            "500": (500, "internal_error", "We are sorry, something went "
                    "wrong."),
            "503": (503, "service_unavailable", "Service unavailable."),
        }
        if name not in scripted:
            return False
        status, code, msg = scripted[name]
        await self._err(conn, entry, status, _detail(code, msg), close)
        return True

    async def _auth_and_script(self, conn, entry, name):
        """401 for a bad key, then scripted errors; True when replied."""
        if name == "401" or entry["key"] not in self.keys:
            await self._reject_key(conn, entry)
            return True
        return await self._scripted(conn, entry, name)

    # ----- REST ------------------------------------------------------------

    async def route_voices(self, conn, req, entry):
        name, _ = split_behaviour(entry["behaviour"])
        if await self._auth_and_script(conn, entry, name):
            return
        voices = [self._voice_obj(v) for v in self.voices_for(entry["key"])]
        body = {"voices": voices}
        if req.path.startswith("/v2/"):
            body.update(has_more=False, total_count=len(voices),
                        next_page_token=None)
        await self.reply_json(conn, entry, 200, body)

    async def route_voice(self, conn, req, entry, voice_id):
        name, _ = split_behaviour(entry["behaviour"])
        if await self._auth_and_script(conn, entry, name):
            return
        if voice_id not in self.voices_for(entry["key"]):
            await self._err(conn, entry, 404, self._no_voice(voice_id))
            return
        await self.reply_json(conn, entry, 200, self._voice_obj(voice_id))

    async def route_user(self, conn, req, entry):
        name, _ = split_behaviour(entry["behaviour"])
        if await self._auth_and_script(conn, entry, name):
            return
        if entry["key"] in self.opt["no_user_read_keys"]:
            await self._err(conn, entry, 401, _detail(
                "missing_permissions", "The API key you used is missing "
                "the permission user_read to execute this operation."))
            return
        await self.reply_json(conn, entry, 200, {
            "user_id": "fake-user", "is_new_user": False,
            "subscription": {"tier": "creator", "status": "active",
                             "character_count": self.characters,
                             "character_limit": 100000}})

    async def route_models(self, conn, req, entry):
        name, _ = split_behaviour(entry["behaviour"])
        if await self._auth_and_script(conn, entry, name):
            return
        await self.reply_json(conn, entry, 200, [
            {"model_id": m, "name": m.replace("_", " ").title(),
             "can_do_text_to_speech": True, "can_use_style": True,
             "can_use_speaker_boost": True,
             "languages": [{"language_id": "en", "name": "English"}],
             "max_characters_request_subscribed_user": 40000}
            for m in self.models()])

    def _no_voice(self, vid):
        return _detail("voice_not_found", "A voice with voice_id %s was not "
                       "found." % vid)

    def _format_error(self, fmt):
        """(status, body) when fmt cannot be served, else None."""
        if fmt not in KNOWN_FORMATS:
            return 422, {"detail": [{"loc": ["query", "output_format"],
                                     "msg": "value is not a valid "
                                            "enumeration member",
                                     "type": "type_error.enum"}]}
        if fmt not in FORMATS:
            return 400, _detail("unsupported_output_format", "The fake "
                                "serves only pcm_* and ulaw_8000, not %s."
                                % fmt)
        return None

    # ----- HTTP TTS --------------------------------------------------------

    async def route_tts(self, conn, req, entry, voice_id):
        name, arg = split_behaviour(entry["behaviour"])
        entry.update(voice_id=voice_id, audio_bytes=0, chunks=0)
        if await self._auth_and_script(conn, entry, name):
            return
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("text"),
                                                        str):
            await self._err(conn, entry, 422, {"detail": [
                {"loc": ["body", "text"], "msg": "field required",
                 "type": "value_error.missing"}]})
            return
        entry["json"] = body
        text = body["text"]
        fmt = req.query.get("output_format", "mp3_44100_128")
        entry["output_format"] = fmt
        bad = self._format_error(fmt)
        if bad:
            await self._err(conn, entry, *bad)
            return
        if voice_id not in self.voices_for(entry["key"]):
            await self._err(conn, entry, 404, self._no_voice(voice_id))
            return
        model = body.get("model_id", "eleven_multilingual_v2")
        if model not in self.models():
            await self._err(conn, entry, 400, _detail(
                "model_not_found", "A model with model ID %s does not "
                "exist." % model))
            return
        if not text.strip():
            await self._err(conn, entry, 400, _detail(
                "invalid_text", "Text must contain at least one "
                "non-whitespace character."))
            return
        if len(text) > self.opt["max_chars"]:
            await self._err(conn, entry, 400, _detail(
                "max_character_limit_exceeded", "Text is too long."))
            return
        audio = synth(text, fmt, self.opt["ms_per_char"],
                      _speed(body.get("voice_settings")))
        self.characters += len(text)
        entry["text"] = text
        await self.sleep_ms(self.opt["first_byte_ms"])
        ctype = "audio/basic" if fmt.startswith("ulaw") else "audio/pcm"
        h = {"content-type": ctype, "request-id": uuid.uuid4().hex,
             "history-item-id": uuid.uuid4().hex[:20],
             "x-character-count": str(len(text))}
        if not req.path.endswith("/stream"):
            entry["audio_bytes"] = len(audio)
            await self.reply(conn, entry, 200, audio, h)
            return
        entry["status"] = 200
        await conn.start_chunked(200, h)
        rate, width = FORMATS[fmt]
        step = max(width, int(rate * self.opt["chunk_ms"] / 1000) * width)
        limit = int(arg) if name in ("drop_after", "stall") else None
        for off in range(0, len(audio), step):
            piece = audio[off:off + step]
            if limit is not None and off + len(piece) > limit:
                await conn.write_chunk(piece[:max(0, limit - off)])
                entry["audio_bytes"] += max(0, limit - off)
                entry["status"] = "dropped" if name == "drop_after" \
                    else "stalled"
                self.changed()
                if name == "drop_after":
                    conn.abort()
                else:
                    await self.hang(conn)
                return
            if off > 0:
                await self.sleep_ms(self.opt["chunk_interval_ms"])
            await conn.write_chunk(piece)
            entry["audio_bytes"] += len(piece)
            entry["chunks"] += 1
            self.changed()
        await conn.end_chunked()
        entry["done"] = True

    # ----- WebSocket stream-input -----------------------------------------

    async def route_ws(self, conn, req, entry, voice_id):
        name, arg = split_behaviour(entry["behaviour"])
        entry.update(voice_id=voice_id, audio_bytes=0, messages=[],
                     text="", generations=0, close=None, client_close=None,
                     closed=False, auth_via=None, sent=[])
        fmt = req.query.get("output_format", "mp3_44100_128")
        entry["output_format"] = fmt
        # A header key is checked at the upgrade, a key in the first
        # message when it arrives (close 1008). "quota" closes 1008 after
        # the first text, as C.4 describes; other scripted errors refuse
        # the upgrade.
        key = entry["key"]
        if name == "401" or (key is not None and key not in self.keys):
            await self._reject_key(conn, entry, close=True)
            return
        if name != "quota" and await self._scripted(conn, entry, name,
                                                    close=True):
            return
        if key is not None:
            entry["auth_via"] = "header"
        bad = self._format_error(fmt)
        if bad:
            await self._err(conn, entry, *bad, close=True)
            return
        model = req.query.get("model_id", "eleven_multilingual_v2")
        if model not in self.models():
            await self._err(conn, entry, 400, _detail(
                "model_not_found", "A model with model ID %s does not "
                "exist." % model), close=True)
            return
        ws = await wsproto.ws_handshake(conn, req,
                                        {"request-id": uuid.uuid4().hex})
        if ws is None:
            entry["status"] = 400
            return
        entry["status"] = 101
        self.changed()
        timeout = self.opt["ws_inactivity_timeout"]
        if timeout is None:
            try:
                timeout = min(180.0, float(req.query.get(
                    "inactivity_timeout", "20")))
            except ValueError:
                timeout = 20.0
        sess = _WsSession(self, ws, entry, voice_id, fmt, timeout, name,
                          arg)
        try:
            await sess.run()
        finally:
            entry["closed"] = True
            self.changed()


class _WsSession:
    """One stream-input connection: text buffer and ordered generator."""

    def __init__(self, fake, ws, entry, voice_id, fmt, timeout, bname,
                 barg):
        self.fake = fake
        self.opt = dict(fake.opt)
        self.ws = ws
        self.entry = entry
        self.voice_id = voice_id
        self.fmt = fmt
        self.timeout = timeout
        self.bname = bname
        self.barg = barg
        self.buf = ""
        self.init = None
        self.schedule = [120, 160, 250, 290]
        self.sched_i = 0
        self.jobs = asyncio.Queue()
        self.closing = False
        self.speed = 1.0

    async def run(self):
        gen = asyncio.ensure_future(self._generator())
        try:
            await self._read_loop()
            if self.closing:
                await gen
        finally:
            if not gen.done():
                gen.cancel()
            if not self.ws.closed:
                self.ws.abort()

    def _close(self, code, reason):
        self.closing = True
        self.jobs.put_nowait(("close", code, reason))

    async def _read_loop(self):
        while not self.closing:
            try:
                op, data = await asyncio.wait_for(self.ws.recv(),
                                                  self.timeout)
            except asyncio.TimeoutError:
                t = self.timeout
                self._close(1008, INACTIVITY_REASON %
                            (int(t) if t == int(t) else t))
                return
            except wsproto.WsClosed:
                self.entry["client_close"] = self.ws.recv_close
                return
            if op != wsproto.OP_TEXT:
                self._close(1008, "Binary messages are not supported.")
                return
            try:
                msg = json.loads(data)
                if not isinstance(msg, dict):
                    raise ValueError
            except ValueError:
                self._close(1008, "Invalid message: expected a JSON "
                            "object.")
                return
            self._on_message(msg)
            self.fake.changed()

    def _on_message(self, msg):
        clean = {k: v for k, v in msg.items() if k not in SECRET_FIELDS}
        self.entry["messages"].append(clean)
        text = msg.get("text")
        if self.init is None:
            self._first(msg, text)
            return
        for field in ("voice_settings", "generation_config"):
            if field in msg and msg[field] != self.init.get(field):
                self._close(1008, "%s can only be set in the first "
                            "message and must not change." % field)
                return
        if not isinstance(text, str):
            self._close(1008, "Invalid message: 'text' is required.")
            return
        if self.bname in ("quota", "close") and text.strip():
            if self.bname == "quota":
                code, reason = 1008, "This request exceeds your quota. " \
                    "You have 0 credits remaining."
            else:
                c, _, reason = (self.barg or "1008:error").partition(":")
                code = int(c)
            self._close(code, reason)
            return
        if text == "":
            self._generate(self.buf)
            self.buf = ""
            self.closing = True
            self.jobs.put_nowait(("final",))
            return
        if not text.strip() and not msg.get("flush"):
            return  # keep-alive
        self.buf += text
        self.entry["text"] += text
        if msg.get("flush"):
            self._generate(self.buf)
            self.buf = ""
            return
        need = self.schedule[min(self.sched_i, len(self.schedule) - 1)]
        if msg.get("try_trigger_generation"):
            need = min(need, 50)
        if len(self.buf) >= need:
            self.sched_i += 1
            self._generate(self.buf)
            self.buf = ""

    def _first(self, msg, text):
        if self.entry["key"] is None:
            key = msg.get("xi_api_key") or msg.get("xi-api-key")
            auth = fakebase.bearer(msg.get("authorization"))
            key = key or auth
            self.entry["key"] = key
            self.entry["auth_via"] = "message" if key else None
            if key not in self.fake.keys:
                self._close(1008, "Invalid API key.")
                return
        if text != " ":
            self._close(1008, "The first message must have text set to a "
                        "single space ' '.")
            return
        if self.voice_id not in self.fake.voices_for(self.entry["key"]):
            self._close(1008, "voice_not_found: A voice with voice_id %s "
                        "was not found." % self.voice_id)
            return
        self.init = msg
        gc = msg.get("generation_config") or {}
        sched = gc.get("chunk_length_schedule")
        if isinstance(sched, list) and sched and \
                all(isinstance(x, int) for x in sched):
            self.schedule = sched
        self.speed = _speed(msg.get("voice_settings"))

    def _generate(self, text):
        if text.strip():
            self.jobs.put_nowait(("gen", text))

    def _groups(self, text):
        """Splits text at spaces into pieces of about ws_chunk_chars."""
        out, cur = [], ""
        for word in text.split(" "):
            piece = (cur + " " + word) if cur else word
            if cur and len(piece) > self.opt["ws_chunk_chars"]:
                out.append(cur + " ")
                cur = word
            else:
                cur = piece
        if cur:
            out.append(cur)
        return out

    async def _generator(self):
        while True:
            job = await self.jobs.get()
            if job[0] == "close":
                await self._send_close(job[1], job[2])
                return
            if job[0] == "final":
                await self.ws.send_json({"isFinal": True})
                self.entry["sent"].append({"isFinal": True})
                await self._send_close(1000, "")
                return
            await self.fake.sleep_ms(self.opt["first_byte_ms"])
            self.entry["generations"] += 1
            for piece in self._groups(job[1]):
                await self._send_audio(piece)
                if self.ws.closed:
                    return

    async def _send_audio(self, piece):
        audio = synth(piece, self.fmt, self.opt["ms_per_char"], self.speed)
        if self.bname == "drop_after" and \
                self.entry["audio_bytes"] + len(audio) > int(self.barg):
            self.entry["close"] = "dropped"
            self.fake.changed()
            self.ws.abort()
            return
        per = self.opt["ms_per_char"] / self.speed
        chars = list(piece)
        align = {"chars": chars,
                 "charStartTimesMs": [int(i * per) for i in range(len(chars))],
                 "charDurationsMs": [int(per)] * len(chars)}
        msg = {"audio": base64.b64encode(audio).decode("ascii"),
               "isFinal": None, "normalizedAlignment": align,
               "alignment": align}
        await self.ws.send_json(msg)
        self.fake.characters += len(piece)
        self.entry["audio_bytes"] += len(audio)
        self.entry["sent"].append({"audio_bytes": len(audio),
                                   "text": piece})
        self.fake.changed()

    async def _send_close(self, code, reason):
        self.entry["close"] = (code, reason)
        self.fake.changed()
        await self.ws.close(code, reason)
        self.entry["client_close"] = self.ws.recv_close


if __name__ == "__main__":
    sys.exit(fakebase.run_cli(FakeElevenLabs))
