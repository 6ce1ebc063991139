# wsclient.py - small blocking RFC 6455 client for tests.
#
# Used by the fakes' self-tests and usable by integration tests that talk
# WebSocket to the daemon. One client per thread; every call blocks with a
# timeout. Handshake failures raise HandshakeError carrying the HTTP
# status, headers and body.
#
# SPDX-License-Identifier: MIT

import base64
import json
import os
import socket
import struct
import time
import urllib.parse

import wsproto


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        super().__init__("websocket upgrade refused: HTTP %d" % status)
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Closed(Exception):
    """The server closed: code/reason of its close frame, or 1006 when the
    TCP connection ended without one."""

    def __init__(self, code, reason=""):
        super().__init__("closed %s %s" % (code, reason))
        self.code = code
        self.reason = reason


class WsClient:
    """ws = WsClient("ws://127.0.0.1:PORT/v1/listen?...", headers={...})"""

    def __init__(self, url, headers=None, timeout=5.0, subprotocols=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "http"):
            raise ValueError("only ws:// is supported: %s" % url)
        self.timeout = timeout
        self.sock = socket.create_connection((u.hostname, u.port or 80),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.close_frame = None
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": "%s:%d" % (u.hostname, u.port or 80),
             "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if subprotocols:
            h["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
        h.update(headers or {})
        lines = ["GET %s HTTP/1.1" % target]
        lines += ["%s: %s" % kv for kv in h.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *hl = head.split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {}
        for line in hl:
            if line:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            body = self._read_exact(n)
            self.sock.close()
            raise HandshakeError(self.status, self.headers, body)
        if self.headers.get("sec-websocket-accept") != \
                wsproto.accept_key(key):
            raise ValueError("bad Sec-WebSocket-Accept")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("websocket read timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("websocket read timed out") from None
        except ConnectionResetError:
            data = b""
        if not data:
            raise ConnectionResetError("connection closed")
        self.buf += data

    def _read_until(self, sep, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while sep not in self.buf:
            self._fill(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        frame = wsproto.build_frame(opcode, payload, fin, os.urandom(4))
        self.sock.sendall(frame)

    def send_text(self, text):
        self.send_frame(wsproto.OP_TEXT, text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_bytes(self, data):
        self.send_frame(wsproto.OP_BINARY, bytes(data))

    def ping(self, data=b"p"):
        self.send_frame(wsproto.OP_PING, data)

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload) of the next frame, control frames too."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            b0, b1 = self._read_exact(2, deadline)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
            if b1 & 0x80:
                raise ValueError("server frames must not be masked")
            return bool(b0 & 0x80), b0 & 0x0F, self._read_exact(n, deadline)
        except ConnectionResetError:
            raise Closed(1006) from None

    def recv(self, timeout=None):
        """Next data message as (opcode, str|bytes); raises Closed when
        the server closes (after answering its close frame)."""
        parts, op = [], None
        while True:
            fin, fop, data = self.recv_frame(timeout)
            if fop == wsproto.OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 \
                    else 1005
                reason = data[2:].decode("utf-8", "replace")
                self.close_frame = (code, reason)
                try:
                    self.send_frame(wsproto.OP_CLOSE, data[:2])
                except OSError:
                    pass
                raise Closed(code, reason)
            if fop in (wsproto.OP_PING, wsproto.OP_PONG):
                if fop == wsproto.OP_PING:
                    self.send_frame(wsproto.OP_PONG, data)
                    continue
                return fop, data
            if fop != wsproto.OP_CONT:
                op = fop
            parts.append(data)
            if fin:
                payload = b"".join(parts)
                if op == wsproto.OP_TEXT:
                    return op, payload.decode("utf-8")
                return op, payload

    def recv_json(self, timeout=None):
        """Next text message parsed as JSON (binary messages skipped)."""
        while True:
            op, data = self.recv(timeout)
            if op == wsproto.OP_TEXT:
                return json.loads(data)

    def messages_until_close(self, timeout=None):
        """All JSON messages until the server closes; returns (msgs,
        (code, reason))."""
        msgs = []
        try:
            while True:
                msgs.append(self.recv_json(timeout))
        except Closed as c:
            return msgs, (c.code, c.reason)

    def close(self, code=1000, reason=""):
        """Sends a close frame and waits for the server's answer."""
        try:
            self.send_frame(wsproto.OP_CLOSE,
                            wsproto.close_payload(code, reason))
            while True:
                self.recv(2.0)
        except (Closed, OSError, TimeoutError):
            pass
        self.sock.close()

    def abort(self):
        self.sock.close()
