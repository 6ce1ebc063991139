"""A fake of sovereignd's session websocket, the daemon side of
docs/session-protocol.md, for testing `sovereignctl call` without the
daemon or any provider. Standard library only.

It listens on a unix socket or on 127.0.0.1, accepts the upgrade at
/api/v1/sessions with any key, and then behaves like the daemon:

- a wrong key (Authorization header and no "token") gets an `error`
  event `unauthorized` after `start`, then a close;
- an assistant id other than the known one gets `assistant_not_found`,
  and NOKEY_ASSISTANT gets `missing_provider_key`;
- otherwise it answers `started` and, after each TURN_AFTER_MS of caller
  audio, plays one scripted turn (speech_started, interim and final user
  transcripts, assistant_text, reply audio, turn_metrics, the assistant
  transcript); `stop` gets `ended` (customer-ended-call) and a close.

The mode changes the script: "hangup" ends the call itself after the
last turn, "drop" closes the socket right after `started`, "mute"
ignores `stop`, "barge" sends `interrupted` in the middle of the reply.

Everything the client sent is recorded in `sessions` for the test to
check. Run it alone for manual tries:
    python3 fake_session.py --unix /tmp/fake.sock   (or a free TCP port)
"""

import argparse
import base64
import hashlib
import json
import math
import os
import socket
import struct
import sys
import threading
import time

KEY = "sk-test-0123456789abcdef"
ASSISTANT = "a1b2c3d4-0000-4000-8000-000000000001"
NOKEY_ASSISTANT = "a1b2c3d4-0000-4000-8000-00000000dead"
SESSION_PATH = "/api/v1/sessions"
CALL_ID = "c0ffee00-0000-4000-8000-000000000042"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

USER_TEXT = "hello there"
REPLY_PARTS = ["Hi there! ", "How can I help?"]
# An Opus packet of one TOC byte: CELT fullband, 20 ms, mono, one empty
# frame; it decodes (as concealment) to 20 ms of audio at any rate.
OPUS_EMPTY_20MS = b"\xf8"


def metrics_for(turn):
    """The turn_metrics fields the fake sends for turn (1-based); the
    second turn has no TTS figure, as when a provider gives none."""
    return {"stt_final_ms": 100 + turn, "llm_first_token_ms": 340,
            "tts_first_byte_ms": None if turn == 2 else 210,
            "end_to_first_audio_ms": 690 + turn}


class Session:
    """What one client connection sent, and what it was sent back."""

    def __init__(self):
        self.path = None
        self.headers = {}
        self.start = None
        self.texts = []          # every text message, parsed
        self.frames = []         # (monotonic time, bytes) per binary frame
        self.got_stop = False
        self.reply = bytearray()  # the reply audio sent, as sent
        self.reply_frames = 0
        self.closed = threading.Event()


class FakeSession:
    def __init__(self, unix_path=None, mode="normal", turns=1,
                 turn_after_ms=200, reply_frames=10):
        self.mode = mode
        self.turns = turns
        self.turn_after_ms = turn_after_ms
        self.n_reply_frames = reply_frames
        self.sessions = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.unix_path = unix_path
        if unix_path:
            if os.path.exists(unix_path):
                os.unlink(unix_path)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.port

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_session(self, timeout=5.0):
        """The first session once its start has arrived."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.sessions and self.sessions[0].start is not None:
                    return self.sessions[0]
            time.sleep(0.01)
        raise AssertionError("no session started")

    # ---- connection handling ----

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._serve, args=(conn, Session()),
                             daemon=True).start()

    def _serve(self, conn, s):
        try:
            if self._handshake(conn, s):
                Conversation(self, conn, s).run()
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            s.closed.set()

    def _handshake(self, conn, s):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return False
            data += chunk
            if len(data) > 65536:
                return False
        # Only connections that send a request count as sessions (the
        # client probes a unix socket with a bare connect first).
        with self.lock:
            self.sessions.append(s)
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        s.path = parts[1] if len(parts) > 1 else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            s.headers[name.strip().lower()] = value.strip()
        ws_key = s.headers.get("sec-websocket-key")
        if s.path.rstrip("/") != SESSION_PATH or ws_key is None:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1(
            (ws_key + WS_GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        return True


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def read_message(conn):
    """One whole message: (opcode, payload). Answers pings itself."""
    opcode = None
    payload = b""
    while True:
        b0, b1 = read_exact(conn, 2)
        fin = b0 & 0x80
        op = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", read_exact(conn, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", read_exact(conn, 8))[0]
        mask = read_exact(conn, 4) if b1 & 0x80 else None
        data = read_exact(conn, n)
        if mask:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        if op == 9:
            send_frame(conn, 10, data)
            continue
        if op == 10:
            continue
        if op >= 8:
            return op, data
        if op != 0:
            opcode = op
        payload += data
        if fin:
            return opcode, payload


def send_frame(conn, opcode, data):
    n = len(data)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    conn.sendall(head + data)


class Conversation:
    """The daemon's side of one session."""

    def __init__(self, fake, conn, s):
        self.fake = fake
        self.conn = conn
        self.s = s
        self.rate = 16000
        self.opus = False
        self.samples_in = 0
        self.turns_done = 0

    def send(self, event):
        send_frame(self.conn, 1, json.dumps(event).encode())

    def close(self, code=1000):
        try:
            send_frame(self.conn, 8, struct.pack(">H", code))
        except OSError:
            pass

    def fail(self, code, message):
        self.send({"type": "error", "error": code, "message": message})
        self.close(1008)

    def run(self):
        while True:
            op, data = read_message(self.conn)
            if op == 8:
                self.close()
                return
            if op == 2:
                if not self.on_audio(data):
                    return
                continue
            msg = json.loads(data)
            self.s.texts.append(msg)
            if msg.get("type") == "start":
                if not self.on_start(msg):
                    return
            elif msg.get("type") == "stop":
                self.s.got_stop = True
                if self.fake.mode == "mute":
                    continue
                self.send({"type": "ended", "reason": "customer-ended-call",
                           "call_id": CALL_ID})
                self.close()
                return

    def on_start(self, msg):
        self.s.start = msg
        auth = self.s.headers.get("authorization", "")
        token = msg.get("token")
        if auth != "Bearer " + KEY and token != KEY:
            self.fail("unauthorized", "missing or unknown API key "
                      "(Authorization header, or \"token\" in start)")
            return False
        assistant = msg.get("assistant_id")
        if assistant == NOKEY_ASSISTANT:
            self.fail("missing_provider_key", "no key for deepgram: the "
                      "organization has none and the platform has none")
            return False
        if assistant != ASSISTANT:
            self.fail("assistant_not_found", "no assistant with that id")
            return False
        audio = msg.get("audio", {})
        self.rate = audio.get("sample_rate", 16000)
        self.opus = audio.get("encoding") == "opus"
        self.send({"type": "started", "call_id": CALL_ID,
                   "audio": {"encoding": audio.get("encoding"),
                             "sample_rate": self.rate}})
        if self.fake.mode == "drop":
            self.conn.shutdown(socket.SHUT_RDWR)
            return False
        return True

    def on_audio(self, data):
        self.s.frames.append((time.monotonic(), data))
        self.samples_in += self.rate // 50 if self.opus else len(data) // 2
        per_turn = self.fake.turn_after_ms * self.rate // 1000
        if (self.turns_done < self.fake.turns and
                self.samples_in >= per_turn * (self.turns_done + 1)):
            self.turns_done += 1
            self.play_turn(self.turns_done)
            if (self.fake.mode == "hangup" and
                    self.turns_done == self.fake.turns):
                self.send({"type": "ended", "reason": "assistant-ended-call",
                           "call_id": CALL_ID})
                self.close()
                return False
        return True

    def reply_frame(self, i):
        if self.opus:
            return OPUS_EMPTY_20MS
        n = self.rate // 50
        return b"".join(struct.pack(
            "<h", int(5000 * math.sin(2 * math.pi * 300 * (i * n + k) /
                                      self.rate)))
            for k in range(n))

    def play_turn(self, turn):
        self.send({"type": "speech_started"})
        words = USER_TEXT.split(" ")
        for k in range(1, len(words) + 1):
            self.send({"type": "transcript", "role": "user",
                       "text": " ".join(words[:k])[:-1], "final": False})
        self.send({"type": "transcript", "role": "user", "text": USER_TEXT,
                   "final": True})
        self.send({"type": "assistant_text", "text": REPLY_PARTS[0]})
        if self.fake.mode == "barge":
            self.send({"type": "interrupted"})
            self.send({"type": "transcript", "role": "assistant",
                       "text": REPLY_PARTS[0].strip(), "final": True})
            return
        for part in REPLY_PARTS[1:]:
            self.send({"type": "assistant_text", "text": part})
        for i in range(self.fake.n_reply_frames):
            frame = self.reply_frame(i)
            self.s.reply += frame
            self.s.reply_frames += 1
            send_frame(self.conn, 2, frame)
            if i == 0:
                ev = {"type": "turn_metrics", "turn": turn}
                ev.update(metrics_for(turn))
                self.send(ev)
        self.send({"type": "transcript", "role": "assistant",
                   "text": "".join(REPLY_PARTS), "final": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--unix")
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--turns", type=int, default=1)
    args = ap.parse_args()
    fake = FakeSession(unix_path=args.unix, mode=args.mode, turns=args.turns)
    print("listening on", args.unix or fake.url, "key", KEY, "assistant",
          ASSISTANT, file=sys.stderr)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main()
