#!/usr/bin/env python3
# fake_http.py - a small HTTP/1.1 server for the httpc and keycheck tests.
#
# Listens on 127.0.0.1 on a free port and prints the port as the first
# line on stdout. Exits when stdin reaches end of file, so it never
# outlives the test that started it, even one that crashed.
#
# Routes:
#   /ok                 200 JSON, with an "X-Test: hello" header
#   /chunked?n=N&ms=M   N chunks "chunk <i>\n", M ms apart (chunked coding)
#   /stall              headers and one chunk, then silence
#   /drop               Content-Length 1000, 10 bytes, then the socket closes
#   /hang...            never answers (any path below /hang too)
#   /status/<code>      that status with {"status": <code>}
#   /echo               the method, body and User-Agent as JSON; a request
#                       with "Expect: 100-continue" first gets a 100 that
#                       carries an "X-Interim: yes" header
#   /conn               {"conn": <n>}: n counts accepted connections
#   /fail...            503 (any path below /fail)
#   /limit...           429 (any path below /limit)
# Key checks (good key "good-key"; Resend also "send-key", send-only):
#   /v1/projects        Deepgram: "Authorization: Token good-key"
#   /v1/models          OpenAI: "Authorization: Bearer good-key"
#   /v1/voices          ElevenLabs: "xi-api-key: good-key"
#   /domains            Resend, User-Agent required as the real one does
#
# SPDX-License-Identifier: MIT

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 50 concurrent connects must not be dropped

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.connections = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.conn_id = self.server.connections

    def log_message(self, fmt, *args):
        pass

    def handle_expect_100(self):
        # An interim header that the client must forget with the 100.
        self.wfile.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
        self.wfile.flush()
        return True

    def send_json(self, code, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n > 0 else b""

    def hang(self):
        # Wait until the client gives up and closes the connection.
        self.close_connection = True
        self.connection.settimeout(30)
        try:
            while self.connection.recv(4096):
                pass
        except OSError:
            pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def key_route(self, path):
        auth = self.headers.get("Authorization", "")
        if path == "/v1/projects":
            if auth == "Token good-key":
                return self.send_json(200, {"projects": []})
            return self.send_json(401, {"err_code": "INVALID_AUTH",
                                        "err_msg": "Invalid credentials."})
        if path == "/v1/models":
            if auth == "Bearer good-key":
                return self.send_json(200, {"object": "list", "data": []})
            return self.send_json(401, {"error": {
                "code": "invalid_api_key", "type": "invalid_request_error",
                "message": "Incorrect API key provided"}})
        if path == "/v1/voices":
            if self.headers.get("xi-api-key") == "good-key":
                return self.send_json(200, {"voices": []})
            return self.send_json(401, {"detail": {
                "status": "invalid_api_key", "message": "Invalid API key"}})
        # /domains, as Resend answers it.
        if not self.headers.get("User-Agent"):
            return self.send_json(403, {"error": 1010})
        if auth == "Bearer good-key":
            return self.send_json(200, {"object": "list", "data": []})
        if auth == "Bearer send-key":
            return self.send_json(401, {
                "statusCode": 401, "name": "restricted_api_key",
                "message": "This API key is restricted to only send emails"})
        if auth == "":
            return self.send_json(401, {"statusCode": 401,
                                        "name": "missing_api_key"})
        return self.send_json(400, {"statusCode": 400,
                                    "name": "validation_error",
                                    "message": "API key is invalid"})

    def route(self):
        url = urlparse(self.path)
        path = url.path
        query = parse_qs(url.query)
        body = self.read_body()
        if path.startswith("/hang"):
            return self.hang()
        if path.startswith("/fail"):
            return self.send_json(503, {"error": "unavailable"})
        if path.startswith("/limit"):
            return self.send_json(429, {"error": "rate_limited"},
                                  [("Retry-After", "1")])
        if path == "/ok":
            return self.send_json(200, {"ok": True}, [("X-Test", "hello")])
        if path == "/conn":
            return self.send_json(200, {"conn": self.conn_id})
        if path == "/echo":
            return self.send_json(200, {
                "method": self.command,
                "body": body.decode("latin-1"),
                "user_agent": self.headers.get("User-Agent", ""),
                "x_key": self.headers.get("X-Key", "")})
        if path.startswith("/status/"):
            code = int(path[len("/status/"):])
            return self.send_json(code, {"status": code})
        if path in ("/chunked", "/stall"):
            n = int(query.get("n", ["5"])[0])
            delay = int(query.get("ms", ["20"])[0]) / 1000.0
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if path == "/stall":
                self.chunk(b"chunk 0\n")
                return self.hang()
            for i in range(n):
                if i > 0:
                    time.sleep(delay)
                self.chunk(b"chunk %d\n" % i)
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/drop":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if path in ("/v1/projects", "/v1/models", "/v1/voices", "/domains"):
            return self.key_route(path)
        return self.send_json(404, {"error": "not found"})

    do_GET = route
    do_POST = route
    do_PUT = route
    do_DELETE = route
    do_HEAD = route


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The test holds our stdin open; end of file means it is gone.
    sys.stdin.buffer.read()
    sys.exit(0)


if __name__ == "__main__":
    main()
