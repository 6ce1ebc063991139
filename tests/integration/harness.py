"""Test harness: runs the real sovereignd binary on 127.0.0.1 port 0 with
a private state directory, and talks to it over HTTP (TCP or the unix
socket). Standard library only.

Each test case is a function registered with @case; `python3 t.py NAME`
runs one (ctest registers each case as its own test).
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SOVEREIGND = os.environ.get("SOVEREIGND", "sovereignd")
SOVEREIGNCTL = os.environ.get("SOVEREIGNCTL", "sovereignctl")
SOURCE_DIR = os.environ.get(
    "SV_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "fakes"))

_cases = {}


def case(fn):
    _cases[fn.__name__] = fn
    return fn


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in _cases:
        print("cases:", " ".join(sorted(_cases)), file=sys.stderr)
        sys.exit(2)
    _cases[sys.argv[1]]()


def check(cond, what, *values):
    if not cond:
        raise AssertionError(what + (": " + repr(values) if values else ""))


def check_eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what or "values differ", a, b))


def wait_for(pred, timeout=10.0, what="condition"):
    """Polls pred until it is true; raises after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Daemon:
    """One sovereignd process with its own state directory."""

    def __init__(self, tmp=None, extra_conf="", env=None, providers=None,
                 rate_limit=1000, start=True, log_level="info"):
        self.tmp = tmp or tempfile.mkdtemp(prefix="sv-test-")
        self.conf = os.path.join(self.tmp, "sovereignd.conf")
        self.store = os.path.join(self.tmp, "sovereign.db")
        self.master = os.path.join(self.tmp, "master.key")
        self.sock = os.path.join(self.tmp, "sovereignd.sock")
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.env = dict(os.environ)
        for k in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY",
                  "RESEND_API_KEY", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET",
                  "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"):
            self.env.pop(k, None)
        self.env.update(env or {})
        self.proc = None
        self.port = None
        self.responses = []
        lines = ["[server]", "listen = 127.0.0.1:0",
                 "unix_socket = %s" % self.sock,
                 "rate_limit = %d" % rate_limit,
                 "log_level = %s" % log_level, "",
                 "[store]", "path = %s" % self.store, "",
                 "[vault]", "master_key_file = %s" % self.master, ""]
        for name, url_opts in (providers or {}).items():
            lines.append("[provider.%s]" % name)
            for k, v in url_opts.items():
                lines.append("%s = %s" % (k, v))
            lines.append("")
        lines.append(extra_conf)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if not os.path.exists(self.master):
            self.ctl("vault", "init", parse=False)
        if start:
            self.start()

    # -- process --

    def start(self, expect_ready=True):
        self.log_file = open(self.log_path, "ab")
        self.log_offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen([SOVEREIGND, "--config", self.conf],
                                     stdout=self.log_file,
                                     stderr=self.log_file, env=self.env)
        if expect_ready:
            m = wait_for(self._listening, 20, "the daemon to listen")
            self.port = int(m.group(1))
            wait_for(lambda: "ready" in self.log_since_start(), 10,
                     "the daemon to be ready")
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("sovereignd exited with %d:\n%s" %
                                 (self.proc.returncode, self.log()))
        return re.search(r"listening on 127\.0\.0\.1:(\d+)",
                         self.log_since_start())

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def log_since_start(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sovereignd did not stop on %s" % sig)
        self.proc = None
        self.log_file.close()
        self._check_sanitizers()
        return rc

    def _check_sanitizers(self):
        text = self.log_since_start()
        for mark in ("runtime error:", "ERROR: AddressSanitizer",
                     "ERROR: LeakSanitizer"):
            at = text.find(mark)
            if at >= 0:
                raise AssertionError("sanitizer report in the daemon's "
                                     "log:\n" + text[max(0, at - 200):
                                                      at + 6000])

    def kill(self):
        return self.stop(signal.SIGKILL)

    def wait_exit(self, timeout=20):
        rc = self.proc.wait(timeout)
        self.proc = None
        self.log_file.close()
        self._check_sanitizers()
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.stop()

    # -- admin command --

    def ctl(self, *args, parse=True, check_rc=True):
        r = subprocess.run([SOVEREIGNCTL, "--config", self.conf] + list(args),
                           capture_output=True, text=True, env=self.env,
                           timeout=30)
        if check_rc and r.returncode != 0:
            raise AssertionError("sovereignctl %s failed (%d): %s" %
                                 (args, r.returncode, r.stderr))
        return json.loads(r.stdout) if parse else r

    def org(self, name="Acme"):
        """Creates an organization; returns (org id, API key)."""
        o = self.ctl("org", "create", name)
        return o["id"], o["api_key"]

    # -- HTTP --

    def request(self, method, path, body=None, key=None, headers=None,
                raw=None, unix=False, content_type="application/json"):
        conn = (UnixHTTPConnection(self.sock) if unix else
                http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=30))
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            h["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        conn.close()
        self.responses.append(resp.raw)
        return resp

    def raw_request(self, data, close_timeout=10):
        """Sends data over TCP exactly as given (a request http.client
        would not write) and reads one answer. Returns (response, closed):
        closed is whether the daemon then closed the connection, as it
        must after a request whose body it cannot frame."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            sock.sendall(data)
            r = http.client.HTTPResponse(sock)
            r.begin()
            resp = Response(r.status, r.getheaders(), r.read())
            sock.settimeout(close_timeout)
            try:
                closed = sock.recv(1) == b""
            except socket.timeout:
                closed = False
        finally:
            sock.close()
        self.responses.append(resp.raw)
        return resp, closed
