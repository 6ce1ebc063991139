"""Local audio through the real PortAudio library and real ALSA devices.

Each case writes an ALSA configuration of its own (ALSA_CONFIG_PATH) in
which two PCMs use ALSA's built-in "file" plugin over the "null" PCM:

  svcap   capture: samples come from "infile" (a raw file or a FIFO)
  svplay  playback: samples go to "file" (a raw file or a FIFO)

PortAudio lists the pcm.* names of that configuration as devices.

The null PCM has no clock: it is always ready, so PortAudio would run
its streams as fast as the CPU allows. pa_loop (one full-duplex stream
that stops after N samples) does not mind. For the daemon, both files
are FIFOs and this script is the clock: one thread writes 20 ms of
capture every 20 ms, another reads playback no faster than real time
from a pipe shrunk to one page, so ALSA's reads and writes block like a
sound card's would.

Standard library only; `python3 test_local_audio.py CASE`.
"""

import fcntl
import json
import os
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
from harness import Daemon, case, check, check_eq, wait_for  # noqa: E402
from session_client import speech_pcm  # noqa: E402

API = "/api/v1"
RATE = 16000
FRAME_BYTES = RATE // 50 * 2
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

# PortAudio 19.6 asserts (BuildDeviceList: devIdx < numDeviceNames)
# when every listed PCM opens and none is called "default"; a system
# alsa.conf always defines one, so ours does too.
ALSA_CONF = """
pcm.null {{
    type null
}}
pcm.default {{
    type null
}}
pcm.svcap {{
    type file
    slave.pcm "null"
    infile "{infile}"
    file "/dev/null"
    format "raw"
}}
pcm.svplay {{
    type file
    slave.pcm "null"
    file "{outfile}"
    format "raw"
}}
"""


CLOUD = {"stt": "deepgram", "llm": "openai", "tts": "elevenlabs"}
UNREACHABLE = {"deepgram": {"url": "ws://127.0.0.1:9"},
               "openai": {"url": "http://127.0.0.1:9"},
               "elevenlabs": {"url": "http://127.0.0.1:9"}}


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def tone(samples, period=40, amp=8000):
    """A square-ish ramp no device or plugin would produce by itself."""
    return b"".join(struct.pack("<h", (i % period) * amp // period - amp // 2)
                    for i in range(samples))


# Playback devices that take one rate and nothing else, as many USB and
# HDMI sound cards do: ALSA's a52 plugin (libasound2-plugins) encodes
# AC3, which exists at 48000 and 44100 Hz only; the plug in front
# converts format and channels (mono 16-bit in) but, with its slave rate
# "unchanged", never the rate. sv48 takes 48000 Hz, sv44 44100 Hz (no
# rate [local_audio] allows). The AC3 bytes go to svplay, so the clock
# paces them like any playback.
ALSA_CONF_FIXED_RATE = """
pcm.svac3_48 {
    type a52
    slavepcm "svplay"
    rate 48000
    channels 2
}
pcm.sv48 {
    type plug
    slave {
        pcm "svac3_48"
        rate "unchanged"
    }
}
pcm.svac3_44 {
    type a52
    slavepcm "svplay"
    rate 44100
    channels 2
}
pcm.sv44 {
    type plug
    slave {
        pcm "svac3_44"
        rate "unchanged"
    }
}
"""


def alsa_env(tmp, infile, outfile, extra=""):
    conf = os.path.join(tmp, "asound.conf")
    with open(conf, "w") as f:
        f.write(ALSA_CONF.format(infile=infile, outfile=outfile) + extra)
    return {"ALSA_CONFIG_PATH": conf, "JACK_NO_START_SERVER": "1"}


class Clock:
    """Feeds svcap's FIFO and drains svplay's at real-time pace."""

    def __init__(self, tmp, speech=b""):
        self.infile = os.path.join(tmp, "cap.fifo")
        self.outfile = os.path.join(tmp, "play.fifo")
        os.mkfifo(self.infile)
        os.mkfifo(self.outfile)
        # O_RDWR never blocks on a FIFO, and keeps it open for both ends,
        # so ALSA's own opens (at enumeration too) never wait for us.
        self.wfd = os.open(self.infile, os.O_RDWR | os.O_NONBLOCK)
        self.rfd = os.open(self.outfile, os.O_RDWR | os.O_NONBLOCK)
        fcntl.fcntl(self.wfd, F_SETPIPE_SZ, 4096)
        fcntl.fcntl(self.rfd, F_SETPIPE_SZ, 4096)
        self.speech = bytearray(speech)
        self.lock = threading.Lock()
        self.played = bytearray()
        self.stop = threading.Event()
        self.stop_drain = threading.Event()
        self.rfd_open = True
        self.threads = [threading.Thread(target=self._feed, daemon=True),
                        threading.Thread(target=self._drain, daemon=True)]
        for t in self.threads:
            t.start()

    def say(self, pcm):
        with self.lock:
            self.speech += pcm

    def _feed(self):
        t0 = time.monotonic()
        n = 0
        while not self.stop.is_set():
            with self.lock:
                chunk = bytes(self.speech[:FRAME_BYTES])
                del self.speech[:FRAME_BYTES]
            chunk += b"\0" * (FRAME_BYTES - len(chunk))
            try:
                os.write(self.wfd, chunk)
            except BlockingIOError:
                pass
            n += 1
            delay = t0 + n * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _drain(self):
        t0 = time.monotonic()
        taken = 0
        while not self.stop.is_set() and not self.stop_drain.is_set():
            due = int((time.monotonic() - t0) * RATE * 2) - taken
            if due > 0:
                try:
                    data = os.read(self.rfd, due & ~1)
                except BlockingIOError:
                    data = b""
                taken += len(data)
                with self.lock:
                    self.played += data
            time.sleep(0.01)

    def played_bytes(self):
        with self.lock:
            return bytes(self.played)

    def unplug_speaker(self):
        """Closes the only reader of svplay's FIFO: ALSA's next write
        fails with EPIPE, as writing to a vanished device fails."""
        self.stop_drain.set()
        self.threads[1].join()
        os.close(self.rfd)
        self.rfd_open = False

    def close(self):
        """The capture feed must run until the daemon has stopped: its
        capture thread blocks in read() on the FIFO otherwise."""
        self.stop.set()
        for t in self.threads:
            t.join()
        os.close(self.wfd)
        if self.rfd_open:
            os.close(self.rfd)


def pick_providers(d, key):
    """Per category, a provider that runs offline when the daemon lists
    one (anything but the three cloud defaults), else the default."""
    r = d.request("GET", API + "/byok/config", key=key)
    check_eq(r.status, 200, "byok/config")
    chosen = dict(CLOUD)
    for p in r.json["providers"]:
        cat = p.get("category")
        if cat in CLOUD and p["id"] != CLOUD[cat]:
            chosen[cat] = p["id"]
    return chosen


def local_daemon(tmp, clock, extra="", setup=None,
                 first_message="Hello from the speaker.", alsa_extra="",
                 env_extra=None):
    """Creates an org and an assistant with a daemon without local audio,
    then starts one with a [local_audio] section on svcap and svplay.
    Returns (daemon, org id, assistant id, providers)."""
    env = alsa_env(tmp, clock.infile, clock.outfile, alsa_extra)
    env.update(env_extra or {})
    # Platform keys, so that calls get past key resolution to the
    # adapters; nothing here reaches a provider.
    env.update({"DEEPGRAM_API_KEY": "dg-test", "OPENAI_API_KEY": "oa-test",
                "ELEVENLABS_API_KEY": "el-test"})
    # Cloud providers point at a closed local port: nothing leaves the
    # machine, and a call with them fails fast and cleanly.
    d = Daemon(tmp=tmp, env=env, providers=UNREACHABLE)
    org, key = d.org()
    providers = pick_providers(d, key)
    body = {"name": "Desk", "first_message": first_message,
            "stt_config": {"provider": providers["stt"]},
            "llm_config": {"provider": providers["llm"]},
            "tts_config": {"provider": providers["tts"]}}
    r = d.request("POST", API + "/assistants", key=key, body=body)
    check_eq(r.status, 201, "assistant created: %r" % (r,))
    aid = r.json["assistant"]["id"]
    d.stop()
    with open(d.conf, "a") as f:
        f.write("[local_audio]\nassistant = %s\norg = %s\n%s\n" %
                (aid, org, extra))
    d.start()
    return d, org, aid, providers, key


def healthz_ok(d):
    r = d.request("GET", "/healthz")
    check_eq(r.status, 200, "healthz")


# -- cases --

@case
def pa_loop():
    """PortAudio reads a raw file through svcap and writes it to svplay."""
    prog = os.path.join(os.environ.get("SV_BUILD_DIR", "."), "tests",
                        "local_audio", "pa_loop")
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    src = os.path.join(tmp, "in.raw")
    dst = os.path.join(tmp, "out.raw")
    pcm = tone(RATE)  # one second
    with open(src, "wb") as f:
        f.write(pcm)
    env = dict(os.environ)
    env.update(alsa_env(tmp, src, dst))
    r = subprocess.run([prog, "svcap", "svplay", str(RATE), str(RATE)],
                       env=env, capture_output=True, text=True, timeout=30)
    if r.returncode == 77:
        skip(r.stderr.strip())
    check_eq(r.returncode, 0, "pa_loop: " + r.stderr)
    with open(dst, "rb") as f:
        out = f.read()
    # Playback starts with PortAudio's priming silence; after it the
    # captured file must come through whole and in order.
    at = out.find(pcm[:FRAME_BYTES])
    check(at >= 0, "the first captured frame reached playback")
    check(out[at:at + len(pcm)] == pcm,
          "every captured sample reached playback in order",
          len(out), at)
    check(not any(out[:at]), "only silence before it")


@case
def daemon_call():
    """The daemon opens the configured devices and runs a call on them:
    the first message plays when the assistant's providers exist, else
    the call ends with one clear line and HTTP keeps serving."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        d, org, aid, providers, key = local_daemon(
            tmp, clock, "input_device = svcap\noutput_device = svplay")
        with d:
            wait_for(lambda: "devices open" in d.log_since_start(), 15,
                     "the devices to open")
            log = d.log_since_start()
            check('local_audio: devices open: input "svcap", output '
                  '"svplay", 16000 Hz, 20 ms frames' in log, "open line",
                  log)
            wait_for(lambda: "call started on input" in d.log_since_start()
                     or "the call cannot start" in d.log_since_start(), 15,
                     "the call to start or fail")
            healthz_ok(d)
            log = d.log_since_start()
            if "the call cannot start" in log:
                line = [x for x in log.splitlines()
                        if "the call cannot start" in x][0]
                check("has no adapter" in line or "key" in line,
                      "the line says why", line)
                check_eq(log.count("the call cannot start"), 1,
                         "logged once")
                # Between calls the speaker plays silence in real time:
                # the device runs, paced by its clock, and nothing else.
                n0 = len(clock.played_bytes())
                time.sleep(1.0)
                got = len(clock.played_bytes()) - n0
                check(RATE * 2 * 0.5 < got < RATE * 2 * 1.5,
                      "about a second of playback in a second", got)
                check(not any(clock.played_bytes()), "all of it silence")
            elif providers["tts"] == CLOUD["tts"]:
                # Every adapter exists but the providers are unreachable:
                # the call fails and ends cleanly, and the next one starts.
                wait_for(lambda: "call ended (" in d.log_since_start(), 30,
                         "the call to end")
                cid = d.log_since_start().split(
                    "call started on input")[0].rsplit("[", 1)[1][:36]
                r = d.request("GET", API + "/calls/" + cid, key=key)
                check_eq(r.status, 200, "call recorded")
                check_eq(r.json["direction"], "web", "direction")
                check(r.json["status"] in ("ended", "failed"), r.json)
            else:
                # A TTS runs here: the first message reaches the speaker.
                wait_for(lambda: any(clock.played_bytes()), 20,
                         "the first message on the playback device")
            rc = d.stop()
            check_eq(rc, 0, "clean exit")
            log = d.log()
            check("a loop handle leaked" not in log, "no leaked handle")
            check("sovereignd: stopped" in log, "stopped", log[-2000:])
    finally:
        clock.close()


@case
def missing_device():
    """A device name that matches nothing: one ERR line naming the
    devices there are; the daemon keeps serving and stops cleanly."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        d, org, aid, providers, key = local_daemon(
            tmp, clock, "input_device = nosuchmic\noutput_device = svplay")
        with d:
            wait_for(lambda: "local audio is off" in d.log_since_start(), 15,
                     "the device error")
            log = d.log_since_start()
            line = [x for x in log.splitlines()
                    if "local audio is off" in x][0]
            check('no input device matches "nosuchmic"' in line, line)
            check('"svcap"' in line, "the line lists the devices", line)
            check("starting a call" not in log, "no call without devices")
            healthz_ok(d)
            check_eq(d.stop(), 0, "clean exit")
            check("a loop handle leaked" not in d.log(), "no leaked handle")
    finally:
        clock.close()


@case
def device_gone():
    """The speaker fails while the daemon runs: one ERR line naming it,
    local audio goes off, HTTP keeps serving, the daemon stops cleanly."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        d, org, aid, providers, key = local_daemon(
            tmp, clock, "input_device = svcap\noutput_device = svplay")
        with d:
            wait_for(lambda: "devices open" in d.log_since_start(), 15,
                     "the devices to open")
            clock.unplug_speaker()
            wait_for(lambda: "stays off" in d.log_since_start(), 15,
                     "the device failure")
            log = d.log_since_start()
            lines = [x for x in log.splitlines() if "stays off" in x]
            check(len(lines) == 1, "one line", lines)
            check('local_audio: the output device "svplay" stopped' in
                  lines[0], lines[0])
            check(" err " in lines[0] or "<3>" in lines[0], "at ERR",
                  lines[0])
            healthz_ok(d)
            check_eq(d.stop(), 0, "clean exit")
            check("a loop handle leaked" not in d.log(), "no leaked handle")
    finally:
        clock.close()


@case
def rate_refused():
    """A speaker that takes 48000 Hz only, with sample_rate = 16000: one
    ERR line naming the device, the rate, and the rate it takes; no call,
    HTTP keeps serving, a clean stop. With sample_rate = 48000 the same
    devices open, so it was the rate that was refused."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        env = dict(os.environ)
        env.update(alsa_env(tmp, clock.infile, clock.outfile, ALSA_CONF_FIXED_RATE))
        try:
            r = subprocess.run(["aplay", "-D", "sv48", "--dump-hw-params",
                                "-c1", "-fS16_LE", "-d1", "/dev/zero"],
                               env=env, capture_output=True, text=True,
                               timeout=10)
            rates = [x for x in r.stderr.splitlines()
                     if x.startswith("RATE:")]
        except FileNotFoundError:
            rates = []
        if rates != ["RATE: 48000"]:
            skip("no ALSA device that takes 48000 Hz only here (the a52 "
                 "plugin of libasound2-plugins): %s" %
                 (rates or r.stderr.strip()[-300:]))
        # The a52 plugin leaks some 14 KiB each time PortAudio probes it
        # (pa_loop, which has no daemon code, shows the same), and is
        # unloaded before exit, so LeakSanitizer cannot name it: leak
        # checks are off for this daemon; ASan's other checks stay.
        opts = os.environ.get("ASAN_OPTIONS", "")
        d, org, aid, providers, key = local_daemon(
            tmp, clock, "input_device = svcap\noutput_device = sv48\n"
            "sample_rate = 16000", alsa_extra=ALSA_CONF_FIXED_RATE,
            env_extra={"ASAN_OPTIONS": (opts + ":" if opts else "") +
                       "detect_leaks=0"})
        with d:
            wait_for(lambda: "local audio is off" in d.log_since_start(), 15,
                     "the rate refusal")
            log = d.log_since_start()
            lines = [x for x in log.splitlines() if "local audio is off" in x]
            check_eq(len(lines), 1, "one line")
            check('local_audio: the output device "sv48" refuses mono '
                  '16-bit audio at 16000 Hz' in lines[0], lines[0])
            check("(it takes sample_rate = 48000 in [local_audio])" in
                  lines[0], "the line says the rate the device takes",
                  lines[0])
            check(" err " in lines[0] or "<3>" in lines[0], "at ERR",
                  lines[0])
            check("devices open" not in log and "starting a call" not in log,
                  "no call on a refused device", log)
            healthz_ok(d)
            r = d.request("GET", API + "/calls", key=key)
            check_eq(r.status, 200, "the API serves")
            check_eq(r.json["calls"], [], "no call recorded")
            check_eq(d.stop(), 0, "clean exit")
            check("a loop handle leaked" not in d.log(), "no leaked handle")

        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, "w") as f:
            f.write(conf.replace("sample_rate = 16000", "sample_rate = 48000"))
        d.start()
        with d:
            wait_for(lambda: "devices open" in d.log_since_start()
                     or "local audio is off" in d.log_since_start(), 15,
                     "the devices to open at 48000 Hz")
            log = d.log_since_start()
            check('local_audio: devices open: input "svcap", output "sv48", '
                  '48000 Hz' in log, "open at 48000 Hz", log)
            check_eq(d.stop(), 0, "clean exit at 48000 Hz")

        # A device at 44100 Hz only: no rate that can be set helps.
        with open(d.conf, "w") as f:
            f.write(conf.replace("output_device = sv48",
                                 "output_device = sv44"))
        d.start()
        with d:
            wait_for(lambda: "local audio is off" in d.log_since_start(), 15,
                     "the refusal at 44100 Hz")
            line = [x for x in d.log_since_start().splitlines()
                    if "local audio is off" in x][0]
            check('the output device "sv44" refuses mono 16-bit audio at '
                  '16000 Hz' in line, line)
            check("(it takes no sample_rate that [local_audio] allows: pick "
                  "another device)" in line, "no rate helps", line)
            healthz_ok(d)
            check_eq(d.stop(), 0, "clean exit at 44100 Hz")
    finally:
        clock.close()


@case
def unknown_assistant():
    """An assistant id the org does not have: the devices open, the call
    start fails with one clear line (and is retried), HTTP serves."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        env = alsa_env(tmp, clock.infile, clock.outfile)
        d = Daemon(tmp=tmp, env=env, start=False)
        with open(d.conf, "a") as f:
            f.write("[local_audio]\nassistant = nope\norg = nobody\n"
                    "input_device = svcap\noutput_device = svplay\n")
        d.start()
        with d:
            wait_for(lambda: "the call cannot start" in d.log_since_start(),
                     15, "the start failure")
            log = d.log_since_start()
            check("organization nobody has no assistant nope" in log, log)
            healthz_ok(d)
            check_eq(d.stop(), 0, "clean exit")
    finally:
        clock.close()


@case
def barge_in():
    """Speech over the first message flushes the queued reply audio.
    Needs an STT and a TTS that run here (the offline pocketsphinx and
    espeak); skips without them."""
    tmp = harness.tempfile.mkdtemp(prefix="sv-la-")
    clock = Clock(tmp)
    try:
        # Long enough to be still playing when the caller's words have
        # crossed the FIFO, the start-up of the recognizer and its first
        # interim transcripts (about two seconds in all).
        d, org, aid, providers, key = local_daemon(
            tmp, clock, "input_device = svcap\noutput_device = svplay",
            first_message="Hello from the speaker. This greeting is long "
            "on purpose, so that the caller can talk over it while it "
            "plays, and the daemon has to cut it short.")
        with d:
            wait_for(lambda: "call started on input" in d.log_since_start()
                     or "the call cannot start" in d.log_since_start(), 15,
                     "the call to start or fail")
            if ("the call cannot start" in d.log_since_start() or
                    providers["stt"] == CLOUD["stt"] or
                    providers["tts"] == CLOUD["tts"]):
                d.stop()
                skip("no STT/TTS adapter in this daemon can run offline "
                     "(chose %s); barge-in over ALSA needs them" %
                     json.dumps(providers))
            wait_for(lambda: any(clock.played_bytes()), 20,
                     "the first message on the playback device")
            # Words, not a tone: a recognizer hears no words in a tone.
            # Six seconds of them, so that the turn (and the next reply)
            # ends long after the check below even when a loaded host
            # makes the recognizer lag and notice the barge-in late.
            clock.say(speech_pcm("Stop, stop, wait a moment please, I have "
                                 "a question about my order, and I would "
                                 "like to ask it before you go on.", RATE))
            wait_for(lambda: "barge" in d.log_since_start().lower(), 20,
                     "a barge-in")
            # What ALSA, the FIFO and the file plugin already hold still
            # drains (well under 0.4 s); after that, silence until the
            # next reply, which waits for the end of the 6 s of speech.
            time.sleep(0.4)
            n = len(clock.played_bytes())
            time.sleep(0.5)
            tail = clock.played_bytes()[n:]
            check(not any(tail), "the speaker went quiet after barge-in")
            check_eq(d.stop(), 0, "clean exit")
    finally:
        clock.close()


if __name__ == "__main__":
    harness.main()
