"""Voice sessions end to end: the real daemon against fake Deepgram,
OpenAI and ElevenLabs servers that speak the providers' wire protocols,
with real speech synthesised by espeak-ng as the caller's audio."""

import time

from harness import Daemon, case, check, check_eq, main, wait_for
from session_client import Session, silence, speech_pcm

import fakeaudio
from fake_deepgram import FakeDeepgram
from fake_elevenlabs import FakeElevenLabs, synth
from fake_openai import FakeOpenAI

API = "/api/v1"
RATE = 16000
FRAME_BYTES = RATE // 50 * 2
KEYS = {"deepgram": "dg-platform-key", "openai": "sk-platform-key",
        "elevenlabs": "xi-platform-key"}
BYOK = {"deepgram": "dg-org-key", "openai": "sk-org-key",
        "elevenlabs": "xi-org-key"}


class World:
    """The fakes, a daemon pointed at them, an organization and an
    assistant."""

    def __init__(self, platform_keys=True, assistant=None, timeout_ms=3000,
                 transcripts=("what are your opening hours",),
                 ms_per_char=20, openai_opts=None, deepgram_opts=None):
        self.dg = FakeDeepgram(keys={KEYS["deepgram"], BYOK["deepgram"]},
                               transcripts=transcripts,
                               **(deepgram_opts or {}))
        self.oa = FakeOpenAI(keys={KEYS["openai"], BYOK["openai"]},
                             **(openai_opts or {}))
        self.el = FakeElevenLabs(keys={KEYS["elevenlabs"],
                                       BYOK["elevenlabs"]},
                                 ms_per_char=ms_per_char)
        for f in (self.dg, self.oa, self.el):
            f.start()
        env = {}
        if platform_keys:
            env = {"DEEPGRAM_API_KEY": KEYS["deepgram"],
                   "OPENAI_API_KEY": KEYS["openai"],
                   "ELEVENLABS_API_KEY": KEYS["elevenlabs"]}
        t = str(timeout_ms)
        self.d = Daemon(env=env, providers={
            "deepgram": {"url": self.dg.url, "timeout_ms": t},
            "openai": {"url": self.oa.url, "timeout_ms": t},
            "elevenlabs": {"url": self.el.url, "timeout_ms": t}})
        self.org, self.key = self.d.org()
        body = {"name": "Front desk",
                "first_message": "Hello, how can I help?",
                "stt_config": {"endpointing_ms": 300}}
        body.update(assistant or {})
        r = self.d.request("POST", API + "/assistants", key=self.key,
                           body=body)
        check_eq(r.status, 201, "assistant created")
        self.assistant = r.json["assistant"]["id"]

    def session(self, **kw):
        return Session(self.d, key=self.key, **kw)

    def call(self, call_id):
        return self.d.request("GET", API + "/calls/" + call_id, key=self.key)

    def close(self):
        try:
            self.d.stop()
        finally:
            for f in (self.dg, self.oa, self.el):
                errors = list(f.errors)
                f.stop()
                check_eq(errors, [], "errors inside a fake")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def first_message_heard(s):
    """Waits until the first message has been spoken completely."""
    return s.wait_event("transcript", timeout=20,
                        pred=lambda e: e["role"] == "assistant")


def ask_and_hear(w, frames):
    """Starts a call, asks the opening-hours question after the first
    message and waits until frames of the reply have played. Returns the
    session, the call id and the frame count before the reply."""
    s = w.session()
    call_id = s.start(w.assistant)["call_id"]
    first_message_heard(s)
    n0 = len(s.frames)
    s.stream(speech_pcm("What are your opening hours?") + silence(1.0))
    wait_for(lambda: len(s.frames) > n0 + frames, 20, "the reply to play")
    return s, call_id, n0


def assistant_turns(s):
    with s.cv:
        return [e for _, e in s.events
                if e["type"] == "transcript" and e["role"] == "assistant"]


def turn(s, pcm, n):
    """Speaks pcm plus a pause; returns the n-th assistant turn heard."""
    s.stream(pcm + silence(1.0))
    wait_for(lambda: len(assistant_turns(s)) >= n or s.closed.is_set(), 20,
             "assistant turn %d" % n)
    turns = assistant_turns(s)
    check(len(turns) >= n, "assistant turn %d; events: %s" % (
        n, [e for _, e in s.events]))
    return turns[n - 1]


@case
def conversation():
    hours = speech_pcm("What are your opening hours?")
    thanks = speech_pcm("Thank you very much.")
    with World(transcripts=("What are your opening hours",
                            "Thank you very much")) as w:
        s = w.session()
        started = s.start(w.assistant, rate=RATE)
        call_id = started["call_id"]
        check_eq(started["audio"], {"encoding": "pcm_s16le",
                                    "sample_rate": RATE})
        first = first_message_heard(s)
        check_eq(first["text"], "Hello, how can I help?")
        # The fake speaks 20 ms a character.
        spoken = len("Hello, how can I help?") * 20 * RATE * 2 // 1000
        check(s.audio_bytes() >= spoken, "the first message was heard",
              s.audio_bytes(), spoken)
        check_eq(w.call(call_id).json["status"], "in-progress")

        turn(s, hours, 2)
        turn(s, thanks, 3)
        s.stop()
        ended = s.wait_event("ended")
        check_eq(ended["reason"], "customer-ended-call")
        check_eq(s.wait_closed(), 1000, "a close frame after ended")

        types = s.types()
        check_eq(types[0], "started")
        u1 = s.wait_event("transcript", pred=lambda e: e["role"] == "user"
                          and e["final"])
        check("opening hours" in u1["text"].lower(), "user transcript", u1)
        check("assistant_text" in types, "streamed reply text")
        metrics = [e for _, e in s.events if e["type"] == "turn_metrics"]
        check(len(metrics) >= 2, "metrics per turn", metrics)
        for m in metrics:
            for k in ("stt_final_ms", "llm_first_token_ms",
                      "tts_first_byte_ms", "end_to_first_audio_ms"):
                check(k in m, "metric " + k, m)
            check(m["end_to_first_audio_ms"] is not None and
                  m["end_to_first_audio_ms"] >= 0, "latency", m)
        # Every reply frame is 20 ms of PCM at the client's rate.
        sizes = {len(f) for _, f in s.frames}
        check_eq(sizes, {FRAME_BYTES}, "frame sizes")

        # The LLM saw the conversation so far, with the first message.
        second = w.oa.requests_for("chat")[-1]["json"]["messages"]
        roles = [m["role"] for m in second]
        check_eq(roles[:4], ["assistant", "user", "assistant", "user"],
                 "history sent to the model")
        check_eq(second[0]["content"], "Hello, how can I help?")

        call = w.call(call_id).json
        check_eq(call["status"], "ended")
        check_eq(call["end_reason"], "customer-ended-call")
        check_eq([m["role"] for m in call["messages"]],
                 ["assistant", "user", "assistant", "user", "assistant"])
        usage = {(u["provider"], u["metric"]): u for u in call["usage"]}
        check(usage[("deepgram", "stt_seconds")]["amount"] > 2, "stt usage")
        check(usage[("openai", "llm_tokens_out")]["amount"] > 0, "tokens")
        check(usage[("elevenlabs", "tts_characters")]["amount"] > 20, "chars")
        check_eq({u["paid_by"] for u in call["usage"]}, {"platform"})

        # Which key each provider saw.
        check_eq({r["key"] for r in w.dg.requests_for("listen")},
                 {KEYS["deepgram"]})
        check_eq({r["key"] for r in w.oa.requests_for("chat")},
                 {KEYS["openai"]})
        check_eq({r["key"] for r in w.el.requests_for("stream")},
                 {KEYS["elevenlabs"]})
        # The STT stream was closed with CloseStream, not cut.
        w.dg.wait_for(lambda: "CloseStream" in
                      (w.dg.requests_for("listen")[0].get("control") or []),
                      5, "CloseStream")
        usage = w.d.request("GET", API + "/usage", key=w.key).json
        check_eq(usage["summary"]["total_calls"], 1, "usage summary")
        check_eq(usage["logs"][0]["id"], call_id)
        check(usage["logs"][0]["usage"], "usage per provider in the log")
        listen = w.dg.requests_for("listen")[0]["query"]
        check_eq(listen["encoding"], "linear16")
        check_eq(listen["sample_rate"], str(RATE))
        check_eq(listen["model"], "nova-3-general")


@case
def byok_then_platform():
    with World() as w:
        for p, k in BYOK.items():
            check_eq(w.d.request("POST", API + "/byok", key=w.key, body={
                "provider": p, "api_key": k}).status, 200)
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        turn(s, speech_pcm("What are your opening hours?"), 2)
        s.stop()
        s.wait_closed()
        check_eq(w.dg.requests_for("listen")[-1]["key"], BYOK["deepgram"])
        check_eq(w.oa.requests_for("chat")[-1]["key"], BYOK["openai"])
        check_eq(w.el.requests_for("stream")[-1]["key"], BYOK["elevenlabs"])
        check_eq({u["paid_by"] for u in w.call(call_id).json["usage"]},
                 {"byok"})

        for p in BYOK:
            w.d.request("DELETE", API + "/byok", key=w.key,
                        body={"provider": p})
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        s.stop()
        s.wait_closed()
        check_eq(w.dg.requests_for("listen")[-1]["key"], KEYS["deepgram"])
        check_eq(w.el.requests_for("stream")[-1]["key"], KEYS["elevenlabs"])


@case
def no_key():
    with World(platform_keys=False) as w:
        s = w.session()
        s.send_json({"type": "start", "assistant_id": w.assistant,
                     "audio": {"encoding": "pcm_s16le", "sample_rate": RATE}})
        e = s.wait_event("error")
        check_eq(e["error"], "missing_provider_key")
        check("Deepgram" in e["message"], "names the provider", e)
        s.wait_closed()
        check_eq(w.dg.requests_for("listen"), [], "no provider contacted")


@case
def failed_start_is_a_call():
    """A start that names one of the organization's assistants but cannot
    run is a failed call in GET /calls, with the error the client got."""
    with World(platform_keys=False) as w:
        start = {"type": "start", "assistant_id": w.assistant,
                 "audio": {"encoding": "pcm_s16le", "sample_rate": RATE}}

        def failed_start(msg, code):
            s = w.session()
            s.send_json(msg)
            e = s.wait_event("error")
            check_eq(e["error"], code)
            s.wait_closed()
            call = w.call(e["call_id"])
            check_eq(call.status, 200, "the call of the error event")
            c = call.json
            check_eq((c["status"], c["end_reason"]), ("failed", "error"))
            check_eq(c["error"], code + ": " + e["message"])
            check_eq(c["agent_id"], w.assistant)
            check_eq(c["direction"], "web")
            check(c["ended_at"] is not None, "an end time", c)
            return c

        c = failed_start(start, "missing_provider_key")
        check("Deepgram" in c["error"], "names the provider", c)
        failed_start(dict(start, assistant_override={
            "llm_config": {"temperature": 7}}), "invalid_override")
        w.d.request("PATCH", API + "/assistants/" + w.assistant, key=w.key,
                    body={"is_active": False})
        failed_start(start, "assistant_inactive")

        # Nothing to record: no start, no such assistant, bad messages.
        for msg in ({"type": "hello"}, dict(start, assistant_id="nope"),
                    dict(start, assistant_id=None)):
            s = w.session()
            s.send_json(msg)
            e = s.wait_event("error")
            check("call_id" not in e, "no call for garbage", e)
            s.wait_closed()
        listed = w.d.request("GET", API + "/calls?status=failed",
                             key=w.key).json
        check_eq(listed["pagination"]["total"], 3, "failed calls")
        check_eq(w.d.request("GET", API + "/calls", key=w.key).json[
            "pagination"]["total"], 3, "no other calls")
        check_eq(w.dg.requests_for("listen"), [], "no provider contacted")


@case
def provider_refuses_key():
    with World() as w:
        w.d.request("POST", API + "/byok", key=w.key,
                    body={"provider": "openai", "api_key": "sk-wrong-org"})
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        s.stream(speech_pcm("What are your opening hours?") + silence(1.0),
                 stop_when=s.closed.is_set)
        e = s.wait_event("error")
        check_eq(e["error"], "llm_failed")
        check("OpenAI" in e["message"] and "organization" in e["message"],
              "says which provider and whose key", e)
        check("sk-wrong-org" not in e["message"], "never the key")
        check_eq(s.wait_event("ended")["reason"], "error")
        s.wait_closed()
        check_eq(w.call(call_id).json["status"], "ended")
        check("sk-wrong-org" not in w.d.log(), "key not logged")


@case
def stt_refuses_platform_key():
    with World() as w:
        w.dg.script("401")
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        e = s.wait_event("error")
        check_eq(e["error"], "stt_failed")
        check("Deepgram" in e["message"] and "platform" in e["message"],
              "says which provider and whose key", e)
        check(KEYS["deepgram"] not in e["message"], "never the key")
        check_eq(s.wait_event("ended")["reason"], "error")
        check_eq(s.wait_closed(), 1000, "a clean close")
        call = w.call(call_id).json
        check_eq((call["status"], call["end_reason"]), ("ended", "error"))
        check(call["error"].startswith("stt_failed: Deepgram") and
              "platform" in call["error"], "the record says why", call)
        check(KEYS["deepgram"] not in w.d.log(), "key not logged")


@case
def tts_refuses_org_key():
    with World() as w:
        w.d.request("POST", API + "/byok", key=w.key,
                    body={"provider": "elevenlabs", "api_key": "xi-wrong"})
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        e = s.wait_event("error")
        check_eq(e["error"], "tts_failed")
        check("ElevenLabs" in e["message"] and
              "organization" in e["message"],
              "says which provider and whose key", e)
        check("xi-wrong" not in e["message"], "never the key")
        check_eq(s.wait_event("ended")["reason"], "error")
        check_eq(s.wait_closed(), 1000, "a clean close")
        check_eq(w.call(call_id).json["status"], "ended")
        check("xi-wrong" not in w.d.log(), "key not logged")


@case
def provider_config():
    """The assistant's settings reach the providers, at 8 kHz."""
    with World(assistant={
            "stt_config": {"language": "en-US", "endpointing_ms": 400,
                           "keyterms": ["Acme", "opening hours"]},
            "llm_config": {"temperature": 0.9, "messages": [
                {"role": "system", "content": "You are the front desk."}]},
            "tts_config": {"voice_id": "EXAVITQu4vr4xnSDxMKL",
                           "stability": 0.4, "similarity_boost": 0.6,
                           "speed": 1.1}}) as w:
        s = w.session()
        started = s.start(w.assistant, rate=8000,
                          assistant_override={"llm_config":
                                              {"temperature": 0.3}})
        check_eq(started["audio"], {"encoding": "pcm_s16le",
                                    "sample_rate": 8000})
        first_message_heard(s)
        s.stream(speech_pcm("What are your opening hours?", rate=8000) +
                 silence(1.0, rate=8000), rate=8000)
        wait_for(lambda: len(assistant_turns(s)) >= 2, 20, "the reply")
        s.stop()
        s.wait_closed()
        check_eq({len(f) for _, f in s.frames}, {320}, "20 ms at 8 kHz")

        listen = w.dg.requests_for("listen")[0]
        q = listen["query"]
        for k, v in (("language", "en-US"), ("encoding", "linear16"),
                     ("sample_rate", "8000"), ("channels", "1"),
                     ("interim_results", "true"), ("endpointing", "400"),
                     ("utterance_end_ms", "1000"), ("vad_events", "true")):
            check_eq(q.get(k), v, "Deepgram query " + k)
        check_eq(listen["query_all"]["keyterm"], ["Acme", "opening hours"])

        chat = w.oa.requests_for("chat")[0]["json"]
        check_eq(chat["temperature"], 0.3, "the override's temperature")
        check_eq(chat["stream"], True)
        check_eq(chat["stream_options"], {"include_usage": True})
        check_eq(chat["messages"][0], {"role": "system",
                                       "content": "You are the front desk."})
        check("end_call" in [t["function"]["name"] for t in chat["tools"]],
              "end_call offered", chat["tools"])

        tts = w.el.requests_for("stream")[-1]
        check_eq(tts["voice_id"], "EXAVITQu4vr4xnSDxMKL")
        check_eq(tts["output_format"], "pcm_8000")
        vs = tts["json"]["voice_settings"]
        check_eq((vs["stability"], vs["similarity_boost"], vs["speed"]),
                 (0.4, 0.6, 1.1), "voice settings")


@case
def mulaw_call():
    """G.711 mu-law in and out at 8 kHz: ElevenLabs is asked for
    ulaw_8000, and the caller gets its bytes in 20 ms frames."""
    first = "Hello, how can I help?"
    with World() as w:
        s = w.session()
        started = s.start(w.assistant, rate=8000, encoding="mulaw")
        check_eq(started["audio"], {"encoding": "mulaw", "sample_rate": 8000})
        heard = first_message_heard(s)
        check_eq(heard["text"], first)
        t_heard = [t for t, e in s.events if e is heard][0]
        with s.cv:
            greeting = b"".join(f for t, f in s.frames if t <= t_heard)
        # The fake's mu-law, byte for byte, padded with silence to whole
        # frames. 0x7f ("negative zero") decodes to 0 and so comes back
        # as 0xff, the code of 0: the same sound.
        want = synth(first, "ulaw_8000", 20).replace(b"\x7f", b"\xff")
        want += b"\xff" * (-len(want) % 160)
        check_eq(len(greeting), len(want), "greeting length")
        check(greeting == want, "the greeting is ElevenLabs' mu-law")

        # Caller audio as mu-law, frames of any length (here 30 ms).
        question = fakeaudio.ulaw_encode(
            speech_pcm("What are your opening hours?", rate=8000) +
            silence(1.0, rate=8000))
        n0 = len(s.frames)
        t0 = time.monotonic()
        for k, i in enumerate(range(0, len(question), 240)):
            s.send_audio(question[i:i + 240])
            delay = t0 + (k + 1) * 0.030 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        reply = wait_for(lambda: len(assistant_turns(s)) >= 2 and
                         assistant_turns(s)[1], 20, "the reply")
        check("opening hours" in reply["text"].lower(), "the reply", reply)
        s.stop()
        s.wait_closed()
        check_eq({len(f) for _, f in s.frames}, {160}, "20 ms of mu-law")
        # The reply: the fake's mu-law of each sentence, back to back.
        with s.cv:
            got = b"".join(f for _, f in s.frames[n0:])
        # Sentences go out ahead (prefetch), so the fake may log them in
        # either order; the caller hears them in the reply's.
        spoken = sorted((r["text"] for r in w.el.requests_for("stream")[1:]),
                        key=reply["text"].index)
        check_eq(" ".join(spoken), reply["text"], "every sentence spoken")
        want = b"".join(synth(t, "ulaw_8000", 20) for t in spoken)
        want = want.replace(b"\x7f", b"\xff")
        want += b"\xff" * (-len(want) % 160)
        check_eq(len(got), len(want), "reply length")
        check(got == want, "the reply is ElevenLabs' mu-law")

        listen = w.dg.requests_for("listen")[0]
        check_eq((listen["query"]["encoding"], listen["query"]["sample_rate"]),
                 ("linear16", "8000"), "the pipeline inside is PCM")
        check(listen["utterances"] >= 1, "the caller's mu-law was heard")
        check_eq({r["output_format"] for r in w.el.requests_for("stream")},
                 {"ulaw_8000"})


@case
def rate_limited_then_ok():
    with World() as w:
        w.oa.script("429:100", "ok")
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        reply = turn(s, speech_pcm("What are your opening hours?"), 2)
        check("opening hours" in reply["text"].lower(), "reply heard", reply)
        check_eq(len(w.oa.requests_for("chat")), 2, "one retry")
        check("error" not in s.types(), "no error event")
        s.stop()
        s.wait_closed()


@case
def stt_dropped_midcall():
    with World(transcripts=("What are your opening hours",
                            "Thank you very much")) as w:
        w.dg.script("drop_after_ms:1500")
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        wait_for(lambda: w.dg.requests_for("listen")[0]["status"] ==
                 "dropped" or len(w.dg.requests_for("listen")) > 1, 10,
                 "the drop")
        wait_for(lambda: len(w.dg.requests_for("listen")) >= 2, 10,
                 "a reconnect")
        reply = turn(s, speech_pcm("What are your opening hours?"), 2)
        check("opening hours" in reply["text"].lower(), "the call goes on")
        check("ended" not in s.types(), "not ended")
        s.stop()
        s.wait_closed()
        check_eq(w.call(call_id).json["end_reason"], "customer-ended-call")


@case
def llm_hangs():
    with World(timeout_ms=800) as w:
        w.oa.set_default("hang")
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        s.stream(speech_pcm("What are your opening hours?") + silence(1.0))
        e = s.wait_event("error", timeout=20)
        check_eq(e["error"], "llm_failed")
        # The call survives a timed-out answer and can be ended normally.
        check("ended" not in s.types(), "still running")
        s.stop()
        check_eq(s.wait_event("ended")["reason"], "customer-ended-call")


@case
def llm_failed_turn_joins_next():
    """A turn the model failed to answer is not left dangling: the next
    request holds what the caller said since the last answer as one user
    message, never two user messages in a row."""
    with World(transcripts=("What are your opening hours",
                            "Hello are you there")) as w:
        w.oa.script("400")
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        s.stream(speech_pcm("What are your opening hours?") + silence(1.0))
        check_eq(s.wait_event("error", timeout=20)["error"], "llm_failed")
        reply = turn(s, speech_pcm("Hello, are you there?"), 2)
        check("are you there" in reply["text"].lower(), "answered", reply)
        chats = w.oa.requests_for("chat")
        check_eq(len(chats), 2, "one request per turn")
        msgs = chats[1]["json"]["messages"]
        roles = [m["role"] for m in msgs]
        check_eq(roles, ["assistant", "user"], "the history sent")
        text = msgs[1]["content"].lower()
        check("opening hours" in text and "are you there" in text and
              text.index("opening hours") < text.index("are you there"),
              "both caller turns, in order", msgs)
        s.stop()
        s.wait_closed()
        # The transcript keeps the turns as they were said.
        roles = [m["role"] for m in w.call(call_id).json["messages"]]
        check_eq(roles, ["assistant", "user", "user", "assistant"])


@case
def barge_in():
    long_reply = ("Our opening hours are from nine in the morning until six "
                  "in the evening on weekdays. On Saturdays we open at ten "
                  "and close at four. On Sundays and public holidays we are "
                  "closed, but you can always leave a message. Is there "
                  "anything else I can help you with today?")
    with World(transcripts=("What are your opening hours",
                            "Stop please I have another question"),
               ms_per_char=60) as w:
        w.oa.script("reply:" + long_reply)
        # Wait until the reply is audible, then talk over it.
        s, call_id, n0 = ask_and_hear(w, 50)
        s.stream(speech_pcm("Stop please, I have another question.") +
                 silence(0.3), stop_when=lambda: "interrupted" in s.types())
        s.wait_event("interrupted", timeout=20)
        t_int = [t for t, e in s.events if e["type"] == "interrupted"][0]
        late = [t for t, _ in s.frames if t > t_int + 0.06]
        check_eq(len(late), 0, "reply audio after the interruption")
        reply = [t for t, _ in s.frames[n0:] if t <= t_int]
        # Paced in real time: never more than the lead of two frames (and
        # the one due) ahead of the clock; bursts would break this.
        for k, t in enumerate(reply):
            check(t - reply[0] >= (k - 3) * 0.020 - 0.005,
                  "frame %d of the reply came early" % k, t - reply[0])
        heard = s.wait_event("transcript", pred=lambda e: e["role"] ==
                             "assistant" and e["text"] != "Hello, how can I "
                             "help?")
        check(len(heard["text"]) < len(long_reply), "cut to what was heard",
              heard)
        check(long_reply.startswith(heard["text"].rstrip(".")[:20]),
              "a prefix of the reply", heard)
        # The fake speaks 60 ms a character: the history holds as much of
        # the reply as the frames that reached the caller carried.
        said = len(heard["text"].rstrip("."))
        played = len(reply) * 20 // 60
        check(abs(said - played) <= 15, "heard text matches the audio "
              "played", said, played, heard)
        s.stop()
        s.wait_closed()
        msgs = w.call(call_id).json["messages"]
        assistant = [m["content"] for m in msgs if m["role"] == "assistant"]
        check(all(len(m) < len(long_reply) for m in assistant),
              "history holds only what was heard", assistant)


@case
def client_vanishes():
    with World(ms_per_char=60) as w:
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        wait_for(lambda: len(s.frames) > 5, 20, "reply audio")
        s.abort()
        wait_for(lambda: w.call(call_id).json["status"] == "ended", 10,
                 "the call to end")
        check_eq(w.call(call_id).json["end_reason"], "customer-disconnected")
        check_eq(w.d.request("GET", "/healthz").status, 200)


@case
def over_unix_socket():
    with World() as w:
        s = w.session(unix=True)
        s.start(w.assistant)
        first_message_heard(s)
        check(s.audio_bytes() > 0, "audio over the unix socket")
        s.stop()
        s.wait_closed()


@case
def control_api():
    with World(ms_per_char=10) as w:
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        url = API + "/calls/" + call_id + "/control"
        r = w.d.request("POST", url, key=w.key,
                        body={"type": "say", "content": "A quick notice."})
        check_eq(r.status, 200)
        s.wait_event("transcript", pred=lambda e: e["text"] ==
                     "A quick notice.")
        check_eq(w.d.request("POST", url, key=w.key,
                             body={"type": "transfer",
                                   "destination": "+31201234567"}).status,
                 409, "no transfer on a web call")
        check_eq(w.d.request("POST", url, key=w.key,
                             body={"type": "dance"}).status, 400)
        r = w.d.request("POST", url, key=w.key,
                        body={"type": "end-call", "message": "Goodbye."})
        check_eq(r.status, 200)
        check_eq(s.wait_event("ended")["reason"], "assistant-ended-call")
        check_eq(w.d.request("POST", url, key=w.key,
                             body={"type": "say", "content": "x"}).status,
                 409, "ended call")
        check_eq(w.d.request("POST", API + "/calls/nope/control", key=w.key,
                             body={"type": "say", "content": "x"}).status,
                 404)
        _, other = w.d.org("Other")
        check_eq(w.d.request("GET", API + "/calls/" + call_id,
                             key=other).status, 404, "other org")
        listed = w.d.request("GET", API + "/calls?status=ended&limit=10",
                             key=w.key).json
        check_eq(listed["pagination"]["total"], 1)
        check_eq(listed["calls"][0]["id"], call_id)


@case
def calls_api():
    """GET /calls pages and filters, GET /calls/{id} has the messages."""
    with World() as w:
        ids = []
        for _ in range(3):
            s = w.session()
            ids.append(s.start(w.assistant)["call_id"])
            first_message_heard(s)
            s.stop()
            s.wait_closed()

        def get(query, status=200):
            r = w.d.request("GET", API + "/calls" + query, key=w.key)
            check_eq(r.status, status, "GET /calls" + query)
            return r.json

        page = get("?limit=2")
        check_eq(page["pagination"], {"total": 3, "limit": 2, "offset": 0})
        rest = get("?limit=2&offset=2")
        check_eq(len(page["calls"]) + len(rest["calls"]), 3, "pages")
        check_eq({c["id"] for c in page["calls"] + rest["calls"]}, set(ids),
                 "every call once")
        check_eq(get("?status=ended")["pagination"]["total"], 3)
        check_eq(get("?status=in-progress")["calls"], [])
        today = time.strftime("%Y-%m-%d", time.gmtime())
        check_eq(get("?start_date=" + today)["pagination"]["total"], 3)
        check_eq(get("?end_date=2000-01-01")["calls"], [], "before")
        for bad in ("?limit=0", "?limit=101", "?offset=-1", "?status=odd",
                    "?start_date=yesterday"):
            check_eq(get(bad, 400)["error"], "invalid_request", bad)

        call = w.call(ids[0]).json
        check_eq(call["id"], ids[0])
        check_eq(call["direction"], "web")
        check_eq(call["messages"], [{"role": "assistant",
                                     "content": "Hello, how can I help?"}])
        check(call["duration_seconds"] is not None, "a duration", call)
        check_eq(w.call("no-such-call").status, 404)


@case
def end_call_tool():
    with World() as w:
        w.oa.script("tool:end_call")
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        s.stream(speech_pcm("Goodbye.") + silence(1.0),
                 stop_when=s.closed.is_set)
        check_eq(s.wait_event("ended")["reason"], "assistant-ended-call")


@case
def end_call_after_goodbye():
    goodbye = "Goodbye, and have a very nice day!"
    with World() as w:
        w.oa.script("reply_tool:%s|end_call" % goodbye)
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        n0 = len(s.frames)
        s.stream(speech_pcm("That is all, thank you.") + silence(1.0),
                 stop_when=s.closed.is_set)
        ended = s.wait_event("ended")
        check_eq(ended["reason"], "assistant-ended-call")
        check("interrupted" not in s.types(), "the goodbye was not cut")
        heard = assistant_turns(s)[-1]
        check_eq(heard["text"], goodbye, "the whole goodbye was heard")
        # All of its audio (20 ms a character) went out before the end.
        t_end = [t for t, e in s.events if e["type"] == "ended"][0]
        sent = sum(len(f) for t, f in s.frames[n0:] if t <= t_end)
        want = len(goodbye) * 20 * RATE * 2 // 1000
        check(sent >= want, "goodbye audio before ended", sent, want)
        s.wait_closed()
        msgs = w.call(call_id).json["messages"]
        check_eq(msgs[-1], {"role": "assistant", "content": goodbye},
                 "the goodbye in the transcript")


@case
def utterance_end_ends_turn():
    # Endpointing never fires (noise, say): UtteranceEnd ends the turn.
    with World(deepgram_opts={"speech_final": False}) as w:
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        s.stream(speech_pcm("What are your opening hours?") + silence(2.0))
        wait_for(lambda: len(assistant_turns(s)) >= 2, 20, "the reply")
        sent = w.dg.requests_for("listen")[0]["sent"]
        check(any(m.get("type") == "UtteranceEnd" for m in sent),
              "an UtteranceEnd was sent")
        check(not any(m.get("speech_final") for m in sent),
              "no speech_final was sent", sent)
        check("opening hours" in assistant_turns(s)[1]["text"].lower(),
              "the reply to the turn", assistant_turns(s))
        s.stop()
        s.wait_closed()


@case
def first_sentence_starts_tts():
    reply = ("Sure, we open at nine. After that we stay open until six in "
             "the evening, every single day of the week, holidays too.")
    with World(openai_opts={"token_ms": 150}) as w:
        w.oa.script("reply:" + reply)
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        s.stream(speech_pcm("When do you open?") + silence(1.0))
        wait_for(lambda: len(assistant_turns(s)) >= 2, 30, "the reply")
        chat = w.oa.requests_for("chat")[0]
        tts = [r for r in w.el.requests_for("stream")
               if r["time"] > chat["time"]]
        check_eq(tts[0]["text"], "Sure, we open at nine.", "first sentence")
        # The model streams for about 20 * 150 ms; the first sentence
        # went to TTS while it was still talking.
        stream_s = (len(reply.split()) - 1) * 0.150
        check(tts[0]["time"] - chat["time"] < stream_s / 2,
              "TTS started before the reply was complete",
              tts[0]["time"] - chat["time"], stream_s)
        check_eq(assistant_turns(s)[1]["text"], reply, "the whole reply")
        s.stop()
        s.wait_closed()


@case
def backchannel_no_barge_in():
    long_reply = ("Our opening hours are from nine in the morning until six "
                  "in the evening on weekdays, and on Saturdays from ten "
                  "until four.")
    with World(transcripts=("What are your opening hours", "Okay"),
               ms_per_char=40) as w:
        w.oa.script("reply:" + long_reply)
        s, call_id, _ = ask_and_hear(w, 25)
        # "Okay" over the reply is a backchannel, not a new turn.
        s.stream(speech_pcm("Okay.") + silence(0.8))
        w.dg.wait_for(lambda: any(
            "okay" in f.lower()
            for f in w.dg.requests_for("listen")[0]["finals"]), 10,
            "the backchannel transcribed")
        wait_for(lambda: len(assistant_turns(s)) >= 2, 20, "the reply")
        check("interrupted" not in s.types(), "no barge-in", s.types())
        check_eq(assistant_turns(s)[1]["text"], long_reply, "reply whole")
        check_eq(len(w.oa.requests_for("chat")), 1, "no turn for okay")
        s.stop()
        s.wait_closed()
        msgs = w.call(call_id).json["messages"]
        users = [m["content"] for m in msgs if m["role"] == "user"]
        check_eq(len(users), 1, "no user turn for okay: %s" % users)


@case
def other_tool():
    with World() as w:
        w.oa.script('tool:get_hours:{"day": "monday"}',
                    "reply:Sorry, I cannot look that up right now.")
        s = w.session()
        s.start(w.assistant)
        first_message_heard(s)
        reply = turn(s, speech_pcm("When are you open on Monday?"), 2)
        check("cannot look that up" in reply["text"], "answered", reply)
        follow = w.oa.requests_for("chat")[1]["json"]["messages"]
        tool = [m for m in follow if m["role"] == "tool"]
        check(tool and "error" in tool[0]["content"], "tool error result",
              follow)
        s.stop()
        s.wait_closed()


@case
def inject_context():
    with World() as w:
        s = w.session()
        call_id = s.start(w.assistant)["call_id"]
        first_message_heard(s)
        r = w.d.request("POST", API + "/calls/" + call_id + "/control",
                        key=w.key, body={"type": "inject-context",
                                         "content": "The caller is a VIP.",
                                         "trigger_response": True})
        check_eq(r.status, 200)
        w.oa.wait_requests(1, route="chat", timeout=10)
        msgs = w.oa.requests_for("chat")[0]["json"]["messages"]
        check({"role": "system", "content": "The caller is a VIP."} in msgs,
              "context reached the model", msgs)
        s.stop()
        s.wait_closed()


@case
def max_duration():
    with World(assistant={"max_duration_seconds": 10,
                          "first_message": None}) as w:
        s = w.session()
        t0 = time.monotonic()
        s.start(w.assistant)
        # Keep talking so that the silence time-out never fires.
        s.stream(silence(0.2) + speech_pcm("Hello there.") * 8,
                 stop_when=s.closed.is_set)
        check_eq(s.wait_event("ended", timeout=15)["reason"],
                 "exceeded-max-duration")
        check(9.5 <= time.monotonic() - t0 < 14, "after ten seconds")


def ctl_call(w, transport):
    """A whole call through the sovereignctl client: Opus over TCP, PCM
    over the unix socket."""
    import os
    import subprocess
    import wave
    from harness import SOVEREIGNCTL
    pcm = speech_pcm("What are your opening hours?")
    wav = os.path.join(w.d.tmp, "question.wav")
    out = os.path.join(w.d.tmp, "reply.wav")
    with wave.open(wav, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(pcm)
    where = (["--url", "ws://127.0.0.1:%d" % w.d.port] if transport == "tcp"
             else ["--socket", w.d.sock])
    r = subprocess.run([SOVEREIGNCTL, "call", "--assistant", w.assistant,
                        "--input", wav, "--output", out, "--grace", "1500"] +
                       where, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SOVEREIGN_API_KEY=w.key))
    check_eq(r.returncode, 0, "client exit: " + r.stderr)
    check("opening hours" in r.stdout.lower(), "transcript printed",
          r.stdout)
    check(w.key not in r.stdout + r.stderr, "key not printed")
    with wave.open(out, "rb") as f:
        seconds = f.getnframes() / f.getframerate()
    # First message and the reply, at 20 ms a character.
    check(seconds > 1.0, "reply audio written", seconds)
    calls = w.d.request("GET", API + "/calls", key=w.key).json["calls"]
    check_eq(calls[0]["status"], "ended")
    return r.stdout


@case
def client_opus_tcp():
    with World() as w:
        out = ctl_call(w, "tcp")
        check(w.oa.requests_for("chat"), "a reply was asked for")
        check("ms" in out, "latency table printed", out)


@case
def client_pcm_unix():
    with World() as w:
        ctl_call(w, "unix")


@case
def silence_timeout():
    with World(assistant={"silence_timeout_seconds": 5,
                          "first_message": None}) as w:
        s = w.session()
        t0 = time.monotonic()
        s.start(w.assistant)
        check_eq(s.wait_event("ended", timeout=15)["reason"],
                 "silence-timed-out")
        check(time.monotonic() - t0 >= 4.5, "not before the time-out")


@case
def bad_input():
    with World() as w:
        def expect(send, code, close=1008):
            s = w.session()
            send(s)
            e = s.wait_event("error")
            check_eq(e["error"], code, "error code")
            # A close frame, not a dropped connection: 1008 before the
            # call runs, 1000 after its ended event.
            check_eq(s.wait_closed(), close, "close code after " + code)
            if close == 1000:
                check_eq(s.wait_event("ended")["reason"], "error")

        start = {"type": "start", "assistant_id": w.assistant,
                 "audio": {"encoding": "pcm_s16le", "sample_rate": RATE}}
        expect(lambda s: s.send_audio(b"\0" * 640), "missing_start")
        expect(lambda s: s.send_json({"type": "hello"}), "missing_start")
        expect(lambda s: s.send_text("{not json"), "invalid_message")
        expect(lambda s: s.send_json(dict(start, assistant_id="nope")),
               "assistant_not_found")
        expect(lambda s: s.send_json(dict(start, audio={
            "encoding": "mp3", "sample_rate": 16000})),
            "invalid_audio_format")
        expect(lambda s: s.send_json(dict(start, audio={
            "encoding": "pcm_s16le", "sample_rate": 11025})),
            "invalid_audio_format")
        expect(lambda s: s.send_json(dict(start, audio={
            "encoding": "mulaw", "sample_rate": 16000})),
            "invalid_audio_format")
        expect(lambda s: s.send_json(dict(start, assistant_override={
            "llm_config": {"temperature": 7}})), "invalid_override")

        expect(lambda s: s.send_text('{"type": "start", "pad": "%s"}' %
                                     ("x" * 70 * 1024)), "message_too_large")
        expect(lambda s: s.send_json({"audio": {}}), "invalid_message")

        def oversized(s):
            s.start(w.assistant)
            s.send_audio(b"\0" * (70 * 1024))
        expect(oversized, "message_too_large", 1000)

        def odd(s):
            s.start(w.assistant)
            s.send_audio(b"\0" * 641)
        expect(odd, "invalid_audio", 1000)

        def unknown_type(s):
            s.start(w.assistant)
            s.send_json({"type": "dance"})
        expect(unknown_type, "unknown_message_type", 1000)

        def second_start(s):
            s.start(w.assistant)
            s.send_json(start)
        expect(second_start, "invalid_message", 1000)

        def bad_opus(s):
            s.start(w.assistant, encoding="opus")
            s.send_audio(b"\xff" * 3)
        expect(bad_opus, "invalid_audio", 1000)

        # No key, and a wrong token in start.
        s = Session(w.d)
        s.send_json(dict(start, token="sv_wrong"))
        check_eq(s.wait_event("error")["error"], "unauthorized")
        s.wait_closed()
        # A browser's token in start works.
        s = Session(w.d)
        s.send_json(dict(start, token=w.key))
        s.wait_event("started")
        s.stop()
        s.wait_closed()

        w.d.request("PATCH", API + "/assistants/" + w.assistant, key=w.key,
                    body={"is_active": False})
        expect(lambda s: s.send_json(start), "assistant_inactive")
        check_eq(w.d.request("GET", "/healthz").status, 200)
        # A start that named the assistant is a call, failed if it could
        # not run; protocol garbage and unknown assistants left nothing.
        calls = w.d.request("GET", API + "/calls?limit=100",
                            key=w.key).json["calls"]
        check_eq({c["status"] for c in calls}, {"ended", "failed"}, "calls")
        check_eq(sorted(c["error"].split(":")[0] for c in calls
                        if c["status"] == "failed"),
                 ["assistant_inactive", "invalid_audio_format",
                  "invalid_audio_format", "invalid_audio_format",
                  "invalid_override"], "failed starts")


@case
def start_timeout():
    with World() as w:
        s = w.session()
        t0 = time.monotonic()
        check_eq(s.wait_event("error", timeout=15)["error"], "start_timeout")
        check(time.monotonic() - t0 >= 9.5, "after ten seconds")
        check_eq(s.wait_closed(), 1008)


if __name__ == "__main__":
    main()
