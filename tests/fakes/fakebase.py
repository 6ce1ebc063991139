# fakebase.py - common machinery of the fake provider servers.
#
# A fake runs one asyncio event loop in a background thread and serves
# HTTP routes and WebSocket upgrades on 127.0.0.1. Tests drive it from
# their own thread: start()/stop(), script() to queue behaviours for the
# next requests, the thread-safe requests log and wait_for() to await
# what the daemon did. Handlers run on the loop thread only.
#
# SPDX-License-Identifier: MIT

import argparse
import asyncio
import collections
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid

import wsproto

# Headers that carry secrets are left out of the request log; the key a
# request used is logged on its own under "key".
SECRET_HEADERS = {"authorization", "xi-api-key", "sec-websocket-protocol",
                  "cookie"}


def split_behaviour(b):
    """"drop_after:3" -> ("drop_after", "3"); "ok" -> ("ok", None)."""
    if b is None:
        return "ok", None
    name, sep, arg = str(b).partition(":")
    return name, (arg if sep else None)


def new_request_id():
    return str(uuid.uuid4())


class Route:
    def __init__(self, method, pattern, name, handler, queue=None, ws=False):
        self.method = method
        self.regex = re.compile(pattern)
        self.name = name
        self.handler = handler
        self.queue = queue or name
        self.ws = ws


class FakeServer:
    """Base class: subclasses set ROUTES, OPTIONS, url_scheme, url_path
    and implement extract_key() and scripted_error().

    fake = FakeX(keys={"good-key"}, **options); fake.start(); ...;
    fake.stop(). Unknown options raise TypeError so typos fail loudly.
    """

    NAME = "fake"
    ROUTES = []
    OPTIONS = {}
    url_scheme = "http"
    url_path = ""

    def __init__(self, keys=None, host="127.0.0.1", port=0,
                 behaviour="ok", **options):
        self.keys = set(keys if keys is not None else {"good-key"})
        self.host = host
        self.port = port
        self.opt = dict(self.OPTIONS)
        self.configure(**options)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._requests = []
        self.errors = []  # tracebacks of exceptions inside the fake
        self._waiting = 0
        self._scripts = collections.defaultdict(collections.deque)
        self._defaults = collections.defaultdict(lambda: "ok")
        self._defaults["main"] = behaviour
        self._routes = [Route(*r) for r in self.ROUTES]
        self._loop = None
        self._thread = None
        self._server = None
        self._tasks = set()
        self._stopping = None
        self._seq = 0

    # ----- test-thread API -------------------------------------------------

    def configure(self, **options):
        """Changes options; takes effect for the next requests."""
        for k, v in options.items():
            if k not in self.OPTIONS:
                raise TypeError("%s: unknown option %r" % (self.NAME, k))
            self.opt[k] = v

    @property
    def url(self):
        """Base URL to give the daemon for this provider."""
        return "%s://%s:%d%s" % (self.url_scheme, self.host, self.port,
                                 self.url_path)

    @property
    def http_url(self):
        """http:// base of the same port (for REST routes)."""
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        """Starts listening in a background thread; returns self once the
        port is bound."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name=self.NAME, daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._bind(), self._loop)
        fut.result(10)
        return self

    def stop(self):
        """Closes the listener and every connection, then ends the thread."""
        if self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def script(self, *behaviours, route="main"):
        """Queues behaviours for the next requests of route (each request
        takes one; when the queue is empty the default applies)."""
        with self._lock:
            for b in behaviours:
                self._scripts[route].append(b)

    def set_default(self, behaviour, route="main"):
        """Behaviour used when route's script queue is empty."""
        with self._lock:
            self._defaults[route] = behaviour

    def pending_script(self, route="main"):
        with self._lock:
            return list(self._scripts[route])

    def reset(self):
        """Forgets logged requests and queued behaviours."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()

    @property
    def requests(self):
        """Snapshot of the request log (list of dicts; the dicts of open
        connections keep changing)."""
        with self._lock:
            return list(self._requests)

    @property
    def open_connections(self):
        """Number of TCP connections the fake currently has open."""
        return len(self._tasks)

    def requests_for(self, route):
        return [r for r in self.requests if r["route"] == route]

    def wait_for(self, predicate, timeout=5.0, what=None):
        """Waits until predicate() is truthy and returns its value; raises
        TimeoutError naming what otherwise. Woken on every logged event."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    v = predicate()
                    if v:
                        return v
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(
                            "%s: timed out after %.1fs waiting for %s"
                            % (self.NAME, timeout, what or predicate))
                    self._cond.wait(min(left, 0.05))
            finally:
                self._waiting -= 1

    def wait_requests(self, n, route=None, timeout=5.0):
        """Waits until at least n requests (of route) were logged."""
        def enough():
            rs = self.requests if route is None else self.requests_for(route)
            return rs if len(rs) >= n else None
        return self.wait_for(enough, timeout, "%d requests" % n)

    # ----- loop-thread internals -------------------------------------------

    def changed(self):
        """Wakes wait_for(); call after any logged state changes. Skipped
        when nobody waits (wait_for also polls every 50 ms)."""
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def next_behaviour(self, queue):
        with self._lock:
            q = self._scripts[queue]
            return q.popleft() if q else self._defaults[queue]

    async def _bind(self):
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._on_conn, self.host, self.port, limit=wsproto.MAX_HEAD,
            backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self):
        self._stopping.set()
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._server.wait_closed()

    async def _on_conn(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = wsproto.HttpConn(reader, writer)
        try:
            while not conn.closed:
                try:
                    req = await conn.read_request()
                except (wsproto.ProtocolError, ValueError,
                        asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError):
                    await conn.send(400, {"content-type": "text/plain"},
                                    b"bad request", close=True)
                    break
                if req is None:
                    break
                upgraded = await self._dispatch(conn, req)
                if upgraded or not req.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels; ending normally keeps asyncio's
            # start_server callback from reporting the cancellation.
            conn.abort()
        finally:
            await conn.close()
            self._tasks.discard(task)

    def _log_entry(self, req, route):
        with self._lock:
            self._seq += 1
            entry = {
                "id": self._seq,
                "route": route.name if route else None,
                "method": req.method,
                "path": req.path,
                "query": dict(req.query),
                "query_all": {k: list(v) for k, v in req.query_all.items()},
                "headers": {k: v for k, v in req.headers.items()
                            if k not in SECRET_HEADERS},
                "key": None,
                "time": time.monotonic(),
                "behaviour": None,
                "status": None,
            }
            self._requests.append(entry)
        return entry

    async def _dispatch(self, conn, req):
        """Runs the matching route; returns True when the connection was
        taken over (WebSocket) and must not be read as HTTP again."""
        route, params = None, {}
        for r in self._routes:
            m = r.regex.match(req.path)
            if m and (r.method == req.method or r.method == "*"):
                route, params = r, m.groupdict()
                break
        entry = self._log_entry(req, route)
        entry["key"] = self.extract_key(req)
        self.changed()
        if route is None:
            await self.reply_json(conn, entry, 404, self.not_found_body(req))
            return False
        if route.ws and not req.is_websocket():
            await self.reply_json(conn, entry, 426,
                                  {"error": "websocket upgrade required"})
            return False
        b = self.next_behaviour(route.queue)
        entry["behaviour"] = b
        name, arg = split_behaviour(b)
        if name == "hang":
            entry["status"] = "hang"
            self.changed()
            await self.hang(conn)
            return True
        if name == "drop":
            entry["status"] = "drop"
            self.changed()
            conn.abort()
            return True
        if name == "delay":
            await asyncio.sleep(float(arg) / 1000.0)
        handler = getattr(self, route.handler)
        try:
            await handler(conn, req, entry, **params)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.abort()
            return True
        except Exception:
            # A bug in the fake itself: keep it visible to the test.
            text = traceback.format_exc()
            sys.stderr.write("%s fake: handler error\n%s" % (self.NAME, text))
            with self._lock:
                self.errors.append(text)
            conn.abort()
            return True
        finally:
            self.changed()
        return route.ws

    async def reply_json(self, conn, entry, status, obj, headers=None,
                         close=False):
        entry["status"] = status
        self.changed()
        await conn.send_json(status, obj, headers, close=close)

    async def reply(self, conn, entry, status, body, headers=None,
                    close=False):
        entry["status"] = status
        self.changed()
        await conn.send(status, headers, body, close=close)

    async def hang(self, conn):
        """Sends nothing more; returns (dropping the connection) when the
        client goes away or the fake stops."""
        stop = asyncio.ensure_future(self._stopping.wait())
        rd = None
        try:
            while True:
                rd = asyncio.ensure_future(conn.reader.read(65536))
                done, _ = await asyncio.wait(
                    {stop, rd}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    break
                try:
                    if not rd.result():
                        break
                except (ConnectionError, OSError):
                    break
        finally:
            stop.cancel()
            if rd is not None:
                rd.cancel()
        conn.abort()

    async def sleep_ms(self, ms):
        if ms and ms > 0:
            await asyncio.sleep(ms / 1000.0)

    # ----- subclass hooks --------------------------------------------------

    def extract_key(self, req):
        """The API key a request carries, or None."""
        return None

    def not_found_body(self, req):
        return {"error": "not found", "path": req.path}


def bearer(value):
    """Token of an "Authorization: Bearer x" (any case) header, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def parse_opt(text):
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected NAME=VALUE: %r" % text)
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def run_cli(cls, argv=None):
    """Runs fake class cls until SIGINT/SIGTERM; prints "PORT <n>" first."""
    p = argparse.ArgumentParser(description="%s fake server" % cls.NAME)
    p.add_argument("--key", action="append", default=[],
                   help="accepted API key (repeatable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--opt", action="append", type=parse_opt, default=[],
                   metavar="NAME=VALUE",
                   help="constructor option; VALUE is JSON or a string")
    p.add_argument("--script", action="append", default=[],
                   help="comma-separated behaviours for the main route")
    p.add_argument("--default", default="ok",
                   help="behaviour when the script is empty")
    p.add_argument("--record", metavar="PATH",
                   help="on exit, write the request log and the fake's own "
                   "errors as JSON to PATH")
    args = p.parse_args(argv)
    fake = cls(keys=set(args.key) or {"good-key"}, host=args.host,
               port=args.port, behaviour=args.default, **dict(args.opt))
    for s in args.script:
        fake.script(*[b for b in s.split(",") if b])
    # Handlers go in before the port is announced, so a caller may send
    # SIGTERM as soon as it has read the PORT line.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    fake.start()
    print("PORT %d" % fake.port, flush=True)
    print("URL %s" % fake.url, flush=True)
    while not done.wait(0.5):
        pass
    fake.stop()
    print("requests %d" % len(fake.requests), file=sys.stderr)
    if args.record:
        write_record(fake, args.record)
    return 0


def write_record(fake, path):
    """Writes {"requests": [...], "errors": [...]} to path, atomically, for
    callers that are not Python (the C adapter tests)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"requests": fake.requests, "errors": list(fake.errors)},
                  f, default=repr)
    os.replace(tmp, path)
