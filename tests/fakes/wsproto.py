# wsproto.py - minimal HTTP/1.1 and RFC 6455 server side for asyncio streams.
#
# The fake provider servers serve plain HTTP routes and WebSocket upgrades
# on one port, the way the real vendors do. This module reads requests
# (Content-Length or chunked bodies, Expect: 100-continue, keep-alive),
# writes responses (fixed or chunked), performs the WebSocket handshake and
# speaks the frame protocol (masked client frames, fragmentation, ping/pong,
# close codes, payload limit). Everything runs on the fake's event loop
# thread; nothing here is thread-safe.
#
# SPDX-License-Identifier: MIT

import asyncio
import base64
import hashlib
import http
import json
import struct
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


def dumps(obj):
    """Compact JSON, as the vendors send it."""
    return json.dumps(obj, separators=(",", ":"))


class ProtocolError(Exception):
    """The peer broke HTTP framing; the connection must be closed."""


class Request:
    """One parsed HTTP request.

    headers maps lower-case names to the last value; header_list keeps
    every (name, value) pair in order. query maps each parameter to its
    first value and query_all to the list of all its values.
    """

    def __init__(self, method, target, version, header_list):
        self.method = method
        self.target = target
        self.version = version
        self.header_list = header_list
        self.headers = {k: v for k, v in header_list}
        parts = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(parts.path)
        self.raw_query = parts.query
        self.query_all = urllib.parse.parse_qs(parts.query,
                                               keep_blank_values=True)
        self.query = {k: v[0] for k, v in self.query_all.items()}
        self.body = b""

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        """The body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    @property
    def keep_alive(self):
        conn = self.header("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    def is_websocket(self):
        return (self.method == "GET"
                and "websocket" in self.header("upgrade", "").lower()
                and "upgrade" in self.header("connection", "").lower())


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


class HttpConn:
    """Server side of one TCP connection: reads requests, writes replies."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.closed = False
        self._chunked = False

    async def read_request(self):
        """Next request with its body, or None at a clean EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                raise ProtocolError("truncated request head") from None
            return None
        except asyncio.LimitOverrunError:
            raise ProtocolError("request head too large") from None
        except ConnectionError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise ProtocolError("bad request line") from None
        if not version.startswith("HTTP/1."):
            raise ProtocolError("bad HTTP version")
        header_list = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("bad header line")
            header_list.append((name.lower(), value.strip()))
        req = Request(method, target, version, header_list)
        if req.header("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        req.body = await self._read_body(req)
        return req

    async def _read_body(self, req):
        te = req.header("transfer-encoding", "").lower()
        if "chunked" in te:
            body = bytearray()
            while True:
                line = await self.reader.readuntil(b"\r\n")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    raise ProtocolError("body too large")
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
        length = req.header("content-length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise ProtocolError("bad content-length") from None
        if n < 0 or n > MAX_BODY:
            raise ProtocolError("bad content-length")
        return await self.reader.readexactly(n)

    def _head(self, status, headers, extra):
        out = ["HTTP/1.1 %d %s" % (status, _reason(status))]
        for k, v in list(headers.items()) + extra:
            out.append("%s: %s" % (k.lower(), v))
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1",
                                                         "replace")

    def _check_open(self):
        if self.closed or self.writer.transport.is_closing():
            self.closed = True
            raise ConnectionResetError("client went away")

    async def send(self, status, headers=None, body=b"", close=False):
        """Writes a complete response with a Content-Length body."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._check_open()
        extra = [("content-length", str(len(body)))]
        if close:
            extra.append(("connection", "close"))
        self.writer.write(self._head(status, headers or {}, extra) + body)
        await self.drain()

    async def send_json(self, status, obj, headers=None, close=False):
        h = {"content-type": "application/json"}
        h.update(headers or {})
        await self.send(status, h, dumps(obj).encode(), close=close)

    async def start_chunked(self, status, headers=None):
        """Starts a chunked response; follow with write_chunk/end_chunked."""
        self._check_open()
        extra = [("transfer-encoding", "chunked")]
        self.writer.write(self._head(status, headers or {}, extra))
        self._chunked = True
        await self.drain()

    async def write_chunk(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            return
        self._check_open()
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.drain()

    async def end_chunked(self):
        self._check_open()
        self.writer.write(b"0\r\n\r\n")
        self._chunked = False
        await self.drain()

    async def drain(self):
        """Waits for the socket buffer; raises ConnectionError when the
        client has gone away (the fake's dispatcher then drops it)."""
        try:
            await self.writer.drain()
        except ConnectionError:
            self.closed = True
            raise

    def abort(self):
        """Drops the TCP connection at once, without any closing bytes."""
        self.closed = True
        self.writer.transport.abort()

    async def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (ConnectionError, asyncio.TimeoutError, OSError):
            pass


def accept_key(client_key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    digest = hashlib.sha1((client_key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


async def ws_handshake(conn, req, headers=None, subprotocol=None,
                       max_payload=1 << 20):
    """Answers the upgrade with 101 and returns a WebSocket, or None after
    answering 400 when the request is not a valid RFC 6455 upgrade."""
    key = req.header("sec-websocket-key") or ""
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 16 or req.header("sec-websocket-version") != "13":
        await conn.send(400, {"content-type": "text/plain"},
                        b"bad websocket upgrade", close=True)
        return None
    h = {"upgrade": "websocket", "connection": "Upgrade",
         "sec-websocket-accept": accept_key(key)}
    if subprotocol:
        h["sec-websocket-protocol"] = subprotocol
    h.update(headers or {})
    out = ["HTTP/1.1 101 Switching Protocols"]
    out += ["%s: %s" % (k.lower(), v) for k, v in h.items()]
    conn.writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
    await conn.drain()
    return WebSocket(conn.reader, conn.writer, max_payload)


class WsClosed(Exception):
    """The WebSocket is closed; code/reason are what the peer sent (or
    1006 with an empty reason when the TCP connection just ended)."""

    def __init__(self, code, reason=""):
        super().__init__("websocket closed %d %s" % (code, reason))
        self.code = code
        self.reason = reason


def _mask(data, key):
    """XORs data with the 4-byte key using big integers (C speed)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "big") ^ int.from_bytes(k, "big")
    return x.to_bytes(n, "big")


def build_frame(opcode, payload, fin=True, mask_key=None):
    """One frame; mask_key (4 bytes) is given only by clients."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask_key else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask_key:
        return head + mask_key + _mask(payload, mask_key)
    return head + payload


def close_payload(code, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


class WebSocket:
    """Server side of an upgraded connection.

    recv() returns (OP_TEXT, str) or (OP_BINARY, bytes) for each complete
    message and answers pings itself. When the peer closes, recv() replies
    to the close and raises WsClosed. Sending after close() is a no-op.
    """

    def __init__(self, reader, writer, max_payload=1 << 20):
        self.reader = reader
        self.writer = writer
        self.max_payload = max_payload
        self.sent_close = None      # (code, reason) we sent, if any
        self.recv_close = None      # (code, reason) the peer sent, if any
        self.closed = False

    async def _read_frame(self):
        head = await self.reader.readexactly(2)
        b0, b1 = head[0], head[1]
        fin = bool(b0 & 0x80)
        if b0 & 0x70:
            raise _Fail(1002, "reserved bits set")
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        if not masked:
            raise _Fail(1002, "client frame not masked")
        if opcode >= 0x8 and (n > 125 or not fin):
            raise _Fail(1002, "bad control frame")
        if n > self.max_payload:
            raise _Fail(1009, "message too big")
        data = await self.reader.readexactly(4 + n)
        return fin, opcode, _mask(data[4:], data[:4])

    async def recv(self):
        """Next data message; raises WsClosed when the connection ends."""
        msg_op = None
        parts = []
        size = 0
        try:
            while True:
                fin, op, data = await self._read_frame()
                if op == OP_PING:
                    await self._send_frame(OP_PONG, data)
                    continue
                if op == OP_PONG:
                    continue
                if op == OP_CLOSE:
                    await self._on_close(data)
                if op in (OP_TEXT, OP_BINARY):
                    if msg_op is not None:
                        raise _Fail(1002, "expected continuation")
                    msg_op = op
                elif op == OP_CONT:
                    if msg_op is None:
                        raise _Fail(1002, "unexpected continuation")
                else:
                    raise _Fail(1002, "unknown opcode")
                size += len(data)
                if size > self.max_payload:
                    raise _Fail(1009, "message too big")
                parts.append(data)
                if fin:
                    payload = b"".join(parts)
                    if msg_op == OP_TEXT:
                        try:
                            return OP_TEXT, payload.decode("utf-8")
                        except UnicodeDecodeError:
                            raise _Fail(1007, "invalid utf-8") from None
                    return OP_BINARY, payload
        except _Fail as f:
            await self.close(f.code, f.reason)
            raise WsClosed(f.code, f.reason) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed = True
            raise WsClosed(1006, "") from None

    async def _on_close(self, data):
        if len(data) >= 2:
            code = struct.unpack("!H", data[:2])[0]
            reason = data[2:].decode("utf-8", "replace")
        else:
            code, reason = 1005, ""
        self.recv_close = (code, reason)
        if self.sent_close is None:
            echo = None if code == 1005 else code
            self.sent_close = (echo, "")
            await self._send_frame(OP_CLOSE, close_payload(echo))
        self._shutdown()
        raise WsClosed(code, reason)

    async def _send_frame(self, opcode, payload):
        if self.closed or (self.sent_close is not None and opcode != OP_CLOSE):
            return False
        try:
            self.writer.write(build_frame(opcode, payload))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.closed = True
            return False
        return True

    async def send_text(self, text):
        return await self._send_frame(OP_TEXT, text.encode("utf-8"))

    async def send_json(self, obj):
        return await self.send_text(dumps(obj))

    async def send_bytes(self, data):
        return await self._send_frame(OP_BINARY, bytes(data))

    async def close(self, code=1000, reason="", wait=1.0):
        """Sends a close frame, waits up to wait seconds for the peer's
        close (reading and discarding data), then ends the connection."""
        if self.closed or self.sent_close is not None:
            self._shutdown()
            return
        self.sent_close = (code, reason)
        await self._send_frame(OP_CLOSE, close_payload(code, reason))
        try:
            await asyncio.wait_for(self._await_peer_close(), wait)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                ConnectionError, _Fail):
            pass
        self._shutdown()

    async def _await_peer_close(self):
        while self.recv_close is None:
            fin, op, data = await self._read_frame()
            if op == OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 \
                    else 1005
                self.recv_close = (code, data[2:].decode("utf-8", "replace"))

    def _shutdown(self):
        if not self.closed:
            self.closed = True
            try:
                self.writer.close()
            except RuntimeError:
                pass

    def abort(self):
        """Drops the TCP connection without a close frame."""
        self.closed = True
        self.writer.transport.abort()


class _Fail(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason
