"""Tests of `sovereignctl call` and `sovereignctl devices`.

The call client runs against fake_session.py, a stand-in for the
daemon's session websocket, over the unix socket and over TCP. Each case
is a function registered with @case; `python3 test_ctl.py NAME` runs one.
Standard library only.
"""

import array
import math
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_session  # noqa: E402
from fake_session import ASSISTANT, KEY, NOKEY_ASSISTANT, FakeSession  # noqa

SOVEREIGNCTL = os.environ.get("SOVEREIGNCTL", "sovereignctl")

_cases = {}


def case(fn):
    _cases[fn.__name__] = fn
    return fn


def check(cond, what, *values):
    if not cond:
        raise AssertionError(what + (": " + repr(values) if values else ""))


def check_eq(a, b, what="values differ"):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc = rc
        self.out = out
        self.err = err
        self.seconds = seconds

    def __repr__(self):
        return "<rc %s, %.2f s\nstdout:\n%s\nstderr:\n%s>" % (
            self.rc, self.seconds, self.out, self.err)


def ctl_env(key=None, home=None, sound=False):
    env = dict(os.environ)
    env.pop("SOVEREIGN_API_KEY", None)
    if key is not None:
        env["SOVEREIGN_API_KEY"] = key
    if home is not None:
        env["HOME"] = home
    if sound:
        # PortAudio's probing leaks ~12 KiB inside ALSA plugins that are
        # unloaded before exit (a bare Pa_Initialize/Pa_Terminate program
        # shows the same), so LeakSanitizer cannot even name them: leak
        # checks are off where PortAudio runs; ASan's other checks stay.
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    return env


def ctl(*args, key=KEY, home=None, timeout=10, sound=False):
    """Runs sovereignctl with the key in the environment (not argv)."""
    t0 = time.monotonic()
    p = subprocess.run([SOVEREIGNCTL] + list(args), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       env=ctl_env(key, home, sound))
    return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def no_key_in(r, key=KEY):
    check(key not in r.out and key not in r.err, "the key was printed", r)


def write_wav(path, seconds, rate=16000, channels=1, freq=440.0):
    n = int(seconds * rate)
    samples = array.array("h")
    for i in range(n):
        v = int(8000 * math.sin(2 * math.pi * freq * i / rate))
        samples.extend([v] * channels)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def read_wav(path):
    with wave.open(path, "rb") as w:
        return (w.getnchannels(), w.getsampwidth(), w.getframerate(),
                w.readframes(w.getnframes()))


class Tmp:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="sv-ctl-")
        self.path = self.dir.name

    def __call__(self, name):
        return os.path.join(self.path, name)


def call_args(where, *extra, wav=None, out="none", assistant=ASSISTANT):
    args = ["call", "--assistant", assistant, "--output", out,
            "--silence", "200", "--grace", "300"]
    if wav is not None:
        args += ["--input", wav]
    return args + list(where) + list(extra)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_call(args, key=KEY, stdout=subprocess.PIPE, home=None,
               sound=False):
    return subprocess.Popen([SOVEREIGNCTL] + args, stdout=stdout,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL,
                            env=ctl_env(key, home, sound))


# ---- devices ----

@case
def devices():
    """Lists whatever PortAudio finds here (often nothing) and exits 0."""
    r = ctl("devices", key=None, sound=True)
    check_eq(r.rc, 0, "exit status")
    check("No sound devices found" in r.out or "host API" in r.out,
          "a listing or a no-devices note", r)
    check_eq(r.err, "", "stderr (the sound libraries' chatter is hidden)")
    # Bad arguments are a usage error.
    check_eq(ctl("devices", "--bogus", key=None, sound=True).rc, 2,
             "bad argument")


@case
def devices_null():
    """With ALSA's null device as the default, it is listed and marked."""
    t = Tmp()
    with open(t(".asoundrc"), "w") as f:
        f.write("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    r = ctl("devices", key=None, home=t.path, sound=True)
    check_eq(r.rc, 0, "exit status")
    lines = [ln for ln in r.out.splitlines() if "default" in ln]
    check(lines, "the default device is listed", r)
    check("[default input and output]" in lines[0], "marked as default", r)
    check("ALSA" in lines[0], "host API shown", r)


# ---- argument and connection errors ----

@case
def usage_errors():
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.1)
    r = ctl("call", "--socket", t("none.sock"), "--input", wav)
    check_eq(r.rc, 2, "missing --assistant")
    check("--assistant ID is required" in r.err, "says what is missing", r)
    check_eq(ctl("call", "--assistant", "x", "--rate", "11025").rc, 2,
             "bad --rate")
    check_eq(ctl("call", "--assistant", "x", "--encoding", "mp3").rc, 2,
             "bad --encoding")
    check_eq(ctl("call", "--assistant", "x", "--socket", "a", "--url",
                 "ws://127.0.0.1:1").rc, 2, "--socket with --url")
    check_eq(ctl("call", "--assistant", "x", "--frobnicate").rc, 2,
             "unknown option")
    for url in ("http://127.0.0.1:1", "ws://127.0.0.1:99999", "ws://:80",
                "ws://[::1"):
        r = ctl("call", "--assistant", "x", "--url", url)
        check_eq(r.rc, 2, "bad --url " + url)
        check("--url wants ws://HOST:PORT" in r.err, "says the form", r)
    r = ctl("call", "--assistant", "x", "--socket", t("none.sock"), key=None)
    check_eq(r.rc, 2, "no key")
    check("SOVEREIGN_API_KEY" in r.err, "says where the key comes from", r)
    # A mistyped key option must not echo the key.
    secret = "sk-do-not-print-me"
    r = ctl("call", "--assistant", "x", "--kye=" + secret)
    check_eq(r.rc, 2, "mistyped option")
    no_key_in(r, secret)
    r = ctl("call", "--assistant", "x", "--url", "--key", secret)
    check_eq(r.rc, 2, "stray argument")
    no_key_in(r, secret)
    r = ctl("call", "--help")
    check_eq(r.rc, 0, "--help")
    check("--assistant" in r.out, "--help prints the usage", r)


@case
def no_socket():
    """A socket path that does not exist: the daemon is not running."""
    t = Tmp()
    r = ctl("call", "--assistant", ASSISTANT, "--socket", t("sv.sock"),
            "--output", "none")
    check_eq(r.rc, 1, "exit status")
    check("no socket at " + t("sv.sock") in r.err, "names the socket", r)
    check("Is sovereignd running" in r.err, "suggests the cause", r)
    no_key_in(r)


@case
def stale_socket():
    """A socket file nobody listens on, left by a killed daemon."""
    t = Tmp()
    s = socket.socket(socket.AF_UNIX)
    s.bind(t("sv.sock"))
    try:
        wav = t("in.wav")
        write_wav(wav, 0.1)
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav))
    finally:
        s.close()
    check_eq(r.rc, 1, "exit status")
    check("Connection refused" in r.err and "Is sovereignd running" in r.err,
          "a clear message", r)


@case
def refused_tcp():
    """A closed TCP port."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.1)
    url = "ws://127.0.0.1:%d" % free_port()
    r = ctl(*call_args(["--url", url], wav=wav))
    check_eq(r.rc, 1, "exit status")
    check("cannot connect to " + url in r.err, "names the address", r)
    check("Connection refused" in r.err, "gives the cause", r)
    no_key_in(r)


@case
def config_endpoint():
    """Without --socket or --url, the config's unix_socket is used."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    conf = t("sovereignd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = off\nunix_socket = %s\n" % t("sv.sock"))
    with FakeSession(unix_path=t("sv.sock")) as fake:
        r = ctl("--config", conf, *call_args([], wav=wav))
        check_eq(r.rc, 0, "exit status: %r" % r)
        check_eq(fake.sessions[0].start["audio"]["encoding"], "pcm_s16le",
                 "PCM over the unix socket by default")
    # A config without a usable address says so.
    with open(conf, "w") as f:
        f.write("[server]\nlisten = off\n")
    r = ctl("--config", conf, *call_args([], wav=wav))
    check_eq(r.rc, 1, "no address")
    check("--socket or --url" in r.err, "suggests the options", r)
    r = ctl("--config", t("missing.conf"), *call_args([], wav=wav))
    check_eq(r.rc, 1, "missing config")
    check("missing.conf" in r.err, "names the file", r)


# ---- errors from the daemon ----

@case
def unauthorized():
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    wrong = "sk-wrong-key-4242"
    with FakeSession(unix_path=t("sv.sock")) as fake:
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav), key=wrong)
        s = fake.sessions[0]
    check_eq(r.rc, 1, "exit status")
    check("refused the API key (unauthorized)" in r.err, "clear message", r)
    no_key_in(r, wrong)
    check_eq(s.headers.get("authorization"), "Bearer " + wrong,
             "the key travels in the Authorization header")
    check("token" not in s.start, "and not in start")
    check_eq(s.frames, [], "no audio before started")


@case
def key_option():
    """--key works like the environment variable, and is not printed."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    with FakeSession(unix_path=t("sv.sock")) as fake:
        r = ctl(*call_args(["--socket", t("sv.sock")], "--key", KEY,
                           wav=wav), key="sk-overridden")
        check_eq(r.rc, 0, "exit status: %r" % r)
        check_eq(fake.sessions[0].headers.get("authorization"),
                 "Bearer " + KEY, "header")
    no_key_in(r)


@case
def unknown_assistant():
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    other = "99999999-0000-4000-8000-000000000000"
    with FakeSession(unix_path=t("sv.sock")) as fake:
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav,
                           assistant=other))
        check_eq(fake.sessions[0].start["assistant_id"], other, "start")
    check_eq(r.rc, 1, "exit status")
    check("no assistant " + other in r.err and "assistant_not_found" in r.err,
          "clear message", r)


@case
def missing_provider_key():
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    with FakeSession(unix_path=t("sv.sock")):
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav,
                           assistant=NOKEY_ASSISTANT))
    check_eq(r.rc, 1, "exit status")
    check("no provider key (missing_provider_key): no key for deepgram"
          in r.err, "names the provider", r)


@case
def dropped():
    """The daemon goes away in the middle of the call."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    with FakeSession(unix_path=t("sv.sock"), mode="drop"):
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav))
    check_eq(r.rc, 1, "exit status")
    check("closed the connection before the call ended" in r.err,
          "clear message", r)


# ---- whole calls ----

def check_conversation(r, turns):
    lines = r.out.splitlines()
    check_eq(lines.count("You: hello there"), turns, "user lines: %r" % r)
    check_eq(lines.count("Assistant: Hi there! How can I help?"), turns,
             "assistant lines: %r" % r)
    check("hell" not in r.out.replace("hello there", ""),
          "no interim transcripts without a terminal", r)
    head = ("turn  STT final  LLM first token  TTS first byte  "
            "end of speech to first audio")
    check(head in lines, "the latency table's head", r)
    table = lines[lines.index(head) + 1:]
    for turn in range(1, turns + 1):
        m = fake_session.metrics_for(turn)
        row = table[turn - 1].split()
        check_eq(row[0], str(turn), "turn number")
        want = [str(m["stt_final_ms"]), str(m["llm_first_token_ms"]),
                "-" if m["tts_first_byte_ms"] is None
                else str(m["tts_first_byte_ms"]),
                str(m["end_to_first_audio_ms"])]
        check_eq(row[1:], want, "turn %d latencies" % turn)
    if turns > 1:
        check(table[turns].startswith("mean"), "a mean row", r)


@case
def call_pcm_unix():
    """A whole call over the unix socket: PCM, two turns, reply to WAV."""
    t = Tmp()
    wav = t("in.wav")
    out = t("out.wav")
    write_wav(wav, 0.4)
    with FakeSession(unix_path=t("sv.sock"), turns=2) as fake:
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav, out=out))
        s = fake.sessions[0]
    check_eq(r.rc, 0, "exit status: %r" % r)
    no_key_in(r)
    check_eq(s.path, "/api/v1/sessions", "path")
    check_eq(s.headers.get("authorization"), "Bearer " + KEY, "header")
    check_eq(s.start, {"type": "start", "assistant_id": ASSISTANT,
                       "audio": {"encoding": "pcm_s16le",
                                 "sample_rate": 16000}}, "start")
    check_eq(s.texts[-1], {"type": "stop"}, "stop last, after the input")
    check(s.got_stop, "stop arrived")
    # 0.4 s of file and 0.2 s of silence, in 20 ms frames of 320 samples.
    sizes = [len(f) for _, f in s.frames]
    check_eq(sizes, [640] * 30, "frame sizes")
    pcm = array.array("h", b"".join(f for _, f in s.frames))
    check(max(pcm[:6400]) > 7000, "the file's tone is there")
    check_eq(max(abs(v) for v in pcm[6400:]), 0, "then silence")
    # Real time: 30 frames span about 580 ms (one frame of lead).
    span = s.frames[-1][0] - s.frames[0][0]
    check(0.45 < span < 1.5, "paced in real time", span)
    channels, width, rate, data = read_wav(out)
    check_eq((channels, width, rate), (1, 2, 16000), "output format")
    check_eq(data, bytes(s.reply), "the reply audio, sample for sample")
    check_eq(len(data), 2 * 320 * 10 * 2, "two turns of 10 frames")
    check_conversation(r, 2)
    check("Call ended (customer-ended-call)." in r.out, "end reason", r)
    check("Call %s started (pcm_s16le, 16000 Hz" % fake_session.CALL_ID
          in r.err, "start noted", r)
    check("Reply audio: 0.40 s written to " + out in r.err, "summary", r)


@case
def call_opus_tcp():
    """Over TCP the default is Opus, both ways."""
    t = Tmp()
    wav = t("in.wav")
    out = t("out.wav")
    write_wav(wav, 0.4)
    with FakeSession(reply_frames=7) as fake:
        r = ctl(*call_args(["--url", fake.url], wav=wav, out=out))
        s = fake.sessions[0]
    check_eq(r.rc, 0, "exit status: %r" % r)
    check_eq(s.start["audio"], {"encoding": "opus", "sample_rate": 16000},
             "audio format")
    check_eq(len(s.frames), 30, "one packet per 20 ms frame")
    for _, f in s.frames:
        # TOC byte: a single 20 ms frame (code 0; config 1, 9, 17 or
        # 13/15/19/23/27/31 all mean 20 ms for SILK, hybrid or CELT).
        check(0 < len(f) < 400, "packet size", len(f))
        check_eq(f[0] & 3, 0, "one frame per packet")
    channels, width, rate, data = read_wav(out)
    check_eq((channels, rate), (1, 16000), "output format")
    check_eq(len(data), 2 * 320 * 7, "7 decoded 20 ms frames")
    check_conversation(r, 1)


@case
def call_resample():
    """A 44.1 kHz stereo file goes out as 8 kHz mono PCM over TCP."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.5, rate=44100, channels=2, freq=300)
    with FakeSession(turns=0) as fake:
        r = ctl(*call_args(["--url", fake.url], "--encoding", "pcm",
                           "--rate", "8000", wav=wav))
        s = fake.sessions[0]
    check_eq(r.rc, 0, "exit status: %r" % r)
    check_eq(s.start["audio"], {"encoding": "pcm_s16le", "sample_rate": 8000},
             "audio format")
    sizes = [len(f) for _, f in s.frames]
    check(all(n == 320 for n in sizes), "20 ms frames at 8 kHz", sizes)
    # 0.5 s = 25 frames (the resampler may end one short), then 10 silent.
    check(34 <= len(sizes) <= 35, "frame count", len(sizes))
    pcm = array.array("h", b"".join(f for _, f in s.frames))
    check(max(pcm[200:3800]) > 6000, "the tone survives the conversion")
    check_eq(r.out.count("Latency"), 0, "no turns, no table")


@case
def call_hangup():
    """The assistant ends the call: exit 0 without sending stop."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    with FakeSession(unix_path=t("sv.sock"), mode="hangup") as fake:
        r = ctl("call", "--assistant", ASSISTANT, "--output", "none",
                "--input", wav, "--socket", t("sv.sock"), "--grace", "20000")
        s = fake.sessions[0]
    check_eq(r.rc, 0, "exit status: %r" % r)
    check("Call ended (assistant-ended-call)." in r.out, "end reason", r)
    check(not s.got_stop, "no stop")
    check(r.seconds < 5, "no wait for the grace period", r.seconds)


@case
def call_barge_in():
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    with FakeSession(unix_path=t("sv.sock"), mode="barge"):
        r = ctl(*call_args(["--socket", t("sv.sock")], wav=wav))
    check_eq(r.rc, 0, "exit status: %r" % r)
    check("Assistant: Hi there! [interrupted]" in r.out.splitlines(),
          "the cut reply is marked", r)


@case
def call_tty():
    """On a terminal, interim transcripts overwrite one line."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 0.3)
    master, slave = pty.openpty()
    with FakeSession(unix_path=t("sv.sock")):
        p = start_call(call_args(["--socket", t("sv.sock")], wav=wav),
                       stdout=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(10)
        os.close(master)
    check_eq(p.returncode, 0, "exit status")
    text = out.decode()
    check("\r\x1b[KYou: hell\r\x1b[KYou: hello ther\r\x1b[KYou: hello there"
          in text, "interims overwrite the line", text)
    check("Latency per turn" in text, "table", text)


@case
def call_sigint():
    """Ctrl-C sends stop and exits 0 once the call has ended."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 5.0)
    with FakeSession(unix_path=t("sv.sock")) as fake:
        p = start_call(call_args(["--socket", t("sv.sock")], wav=wav))
        s = fake.wait_session()
        while not s.frames:
            time.sleep(0.01)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=5)
        took = time.monotonic() - t0
    check_eq(p.returncode, 0, "exit status: %s %s" % (out, err))
    check(s.got_stop, "stop was sent")
    check("Hanging up" in err, "says so", err)
    check("Call ended (customer-ended-call)." in out, "ended", out)
    check(took < 1.5, "promptly", took)
    check(len(s.frames) < 100, "the file was cut short", len(s.frames))


@case
def call_sigint_no_answer():
    """If ended never comes, Ctrl-C gives up after 2 s."""
    t = Tmp()
    wav = t("in.wav")
    write_wav(wav, 5.0)
    with FakeSession(unix_path=t("sv.sock"), mode="mute") as fake:
        p = start_call(call_args(["--socket", t("sv.sock")], wav=wav))
        s = fake.wait_session()
        while not s.frames:
            time.sleep(0.01)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=6)
        took = time.monotonic() - t0
    check_eq(p.returncode, 1, "exit status")
    check(s.got_stop, "stop was sent")
    check("did not end the call within 2 s" in err, "says so", err)
    check(1.8 < took < 4, "after about 2 s", took)


@case
def call_null_devices():
    """Microphone and speaker through PortAudio on ALSA's null device.

    The null device runs faster than real time and captures silence, so
    this checks the plumbing (rings, wake-ups, teardown), not timing.
    """
    t = Tmp()
    with open(t(".asoundrc"), "w") as f:
        f.write("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    r = ctl("devices", key=None, home=t.path, sound=True)
    if "[default input and output]" not in r.out:
        print("skip: no ALSA null device here", file=sys.stderr)
        sys.exit(77)
    with FakeSession(unix_path=t("sv.sock")) as fake:
        p = start_call(["call", "--assistant", ASSISTANT, "--socket",
                        t("sv.sock")], home=t.path, sound=True)
        s = fake.wait_session()
        end = time.monotonic() + 5
        while s.reply_frames == 0 and time.monotonic() < end:
            time.sleep(0.01)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=5)
    check_eq(p.returncode, 0, "exit status: %s %s" % (out, err))
    check(s.frames and all(len(f) == 640 for _, f in s.frames),
          "microphone audio in 20 ms frames", len(s.frames))
    check_eq(s.reply_frames, 10, "the reply was played")
    check(s.got_stop, "stop")


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in _cases:
        print("cases:", " ".join(sorted(_cases)), file=sys.stderr)
        sys.exit(2)
    _cases[sys.argv[1]]()


if __name__ == "__main__":
    main()
