"""A small websocket client for the daemon's session protocol
(docs/session-protocol.md), over TCP or the unix socket, with a reader
thread that records every event and audio frame with its arrival time.
Standard library only."""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def speech_pcm(text, rate=16000, voice="en"):
    """Real speech: espeak-ng's voice resampled with sox to s16le mono."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        raise RuntimeError("espeak-ng and sox are needed (install-deps.sh)")
    tmp = tempfile.mkdtemp(prefix="sv-speech-")
    wav = os.path.join(tmp, "s.wav")
    raw = os.path.join(tmp, "s.raw")
    subprocess.run(["espeak-ng", "-v", voice, "-w", wav, text], check=True,
                   capture_output=True)
    subprocess.run(["sox", wav, "-r", str(rate), "-c", "1", "-b", "16",
                    "-e", "signed-integer", "-L", raw], check=True,
                   capture_output=True)
    with open(raw, "rb") as f:
        data = f.read()
    shutil.rmtree(tmp)
    return data


def silence(seconds, rate=16000):
    return b"\0\0" * int(seconds * rate)


class Session:
    def __init__(self, daemon, key=None, unix=False, path="/api/v1/sessions",
                 timeout=10):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(daemon.sock)
        else:
            self.sock = socket.create_connection(("127.0.0.1", daemon.port),
                                                 timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wskey = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: localhost",
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + wskey, "Sec-WebSocket-Version: 13"]
        if key is not None:
            lines.append("Authorization: Bearer " + key)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        if self.status != 101:
            raise ConnectionError("upgrade refused: %d" % self.status)
        self.sock.settimeout(None)
        self.events = []      # (time, dict)
        self.frames = []      # (time, bytes)
        self.close_code = None
        self.closed = threading.Event()
        self.cv = threading.Condition()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    # -- sending --

    def _send(self, op, payload):
        header = bytes([0x80 | op])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self.lock:
            self.sock.sendall(header + mask + masked)

    def send_json(self, obj):
        self._send(OP_TEXT, json.dumps(obj).encode())

    def send_text(self, text):
        self._send(OP_TEXT, text.encode())

    def send_audio(self, data):
        self._send(OP_BINARY, data)

    def start(self, assistant_id, rate=16000, encoding="pcm_s16le", **extra):
        msg = {"type": "start", "assistant_id": assistant_id,
               "audio": {"encoding": encoding, "sample_rate": rate}}
        msg.update(extra)
        self.send_json(msg)
        return self.wait_event("started")

    def stream(self, pcm, rate=16000, frame_ms=20, stop_when=None):
        """Sends pcm in real time, 20 ms a frame; stops early when
        stop_when() becomes true."""
        step = rate * frame_ms // 1000 * 2
        t0 = time.monotonic()
        for i in range(0, len(pcm), step):
            if stop_when is not None and stop_when():
                return
            if self.closed.is_set():
                return
            self.send_audio(pcm[i:i + step])
            due = t0 + (i // step + 1) * frame_ms / 1000.0
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.send_json({"type": "stop"})

    def abort(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- receiving --

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read(self):
        parts, op = [], None
        try:
            while True:
                b0, b1 = self._recv_exact(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._recv_exact(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._recv_exact(8))[0]
                data = self._recv_exact(n)
                fop = b0 & 0x0F
                if fop == OP_CLOSE:
                    self.close_code = (struct.unpack("!H", data[:2])[0]
                                       if len(data) >= 2 else 1005)
                    try:
                        self._send(OP_CLOSE, data[:2])
                    except OSError:
                        pass
                    break
                if fop == OP_PING:
                    self._send(OP_PONG, data)
                    continue
                if fop != 0:
                    op = fop
                parts.append(data)
                if not b0 & 0x80:
                    continue
                payload, parts = b"".join(parts), []
                now = time.monotonic()
                with self.cv:
                    if op == OP_TEXT:
                        self.events.append((now, json.loads(payload)))
                    else:
                        self.frames.append((now, payload))
                    self.cv.notify_all()
        except (OSError, ConnectionError, ValueError):
            pass
        self.closed.set()
        with self.cv:
            self.cv.notify_all()

    def types(self):
        with self.cv:
            return [e["type"] for _, e in self.events]

    def wait_event(self, type_, timeout=15, pred=None, after=0):
        """The first event of type_ (from index after) matching pred."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for _, e in self.events[after:]:
                    if e["type"] == type_ and (pred is None or pred(e)):
                        return e
                if self.closed.is_set():
                    raise AssertionError(
                        "closed before %s; events: %s" %
                        (type_, [e for _, e in self.events]))
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "no %s within %ss; events: %s" %
                        (type_, timeout, [e for _, e in self.events]))
                self.cv.wait(left)

    def wait_closed(self, timeout=15):
        if not self.closed.wait(timeout):
            raise AssertionError("the daemon did not close the session")
        return self.close_code

    def audio_bytes(self):
        with self.cv:
            return sum(len(f) for _, f in self.frames)
