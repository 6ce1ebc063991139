#!/usr/bin/env python3
# fake_openai.py - local stand-in for the OpenAI Chat Completions API.
#
# Serves POST /v1/chat/completions as SSE (protocols.md B.2), the error
# shapes of B.3 and GET /v1/models for key checks (B.5). Replies echo the
# last user message unless scripted. Events are split across TCP writes at
# odd byte offsets and interleaved with ": keep-alive" comments so the
# daemon's SSE parser is exercised. See docs/testing-fakes.md.
#
# SPDX-License-Identifier: MIT

import json
import math
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakebase  # noqa: E402
import wsproto  # noqa: E402
from fakebase import FakeServer, bearer, split_behaviour  # noqa: E402

MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"]
ROLES = {"system", "developer", "user", "assistant", "tool"}


def _err(message, etype, code=None, param=None):
    return {"error": {"message": message, "type": etype, "param": param,
                      "code": code}}


def default_reply(messages):
    """"You said: <last user text>. Anything else?" (or a greeting)."""
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, list):
            c = " ".join(p.get("text", "") for p in c
                         if isinstance(p, dict))
        text = (c or "").strip().rstrip(".!?")
        if text:
            return "You said: %s. Anything else?" % text
    return "Hello! How can I help you today?"


def tokens_of(text):
    """Splits text into word-like deltas that concatenate back to it."""
    toks = re.findall(r"\s*\S+\s*$|\s*\S+", text)
    return toks or [text]


class FakeOpenAI(FakeServer):
    """Options:
    models          extra accepted model ids (besides MODELS)
    reply           fixed reply text for every request (None: echo)
    first_token_ms  delay before the response head and first chunk
    token_ms        delay between content chunks
    retry_after_ms  delay advertised by the "429" script
    keepalive_every insert ": keep-alive" before every Nth event (0: off)
    split_events    write each event as two TCP writes at an odd offset
    crlf            end SSE lines with CRLF instead of LF
    """

    NAME = "openai"
    url_path = "/v1"
    OPTIONS = {
        "models": (),
        "reply": None,
        "first_token_ms": 0,
        "token_ms": 0,
        "retry_after_ms": 200,
        "keepalive_every": 3,
        "split_events": True,
        "crlf": False,
    }
    ROUTES = [
        ("POST", r"^/v1/chat/completions$", "chat", "route_chat", "main"),
        ("GET", r"^/v1/models$", "models", "route_models", "models"),
        ("GET", r"^/v1/models/(?P<model>[^/]+)$", "model", "route_model",
         "models"),
    ]

    def extract_key(self, req):
        return bearer(req.header("authorization"))

    def models(self):
        return MODELS + [m for m in self.opt["models"] if m not in MODELS]

    def _rl_headers(self):
        return {"x-ratelimit-limit-requests": "10000",
                "x-ratelimit-limit-tokens": "10000000",
                "x-ratelimit-remaining-requests": "9999",
                "x-ratelimit-remaining-tokens": "9999000",
                "x-ratelimit-reset-requests": "6ms",
                "x-ratelimit-reset-tokens": "0s"}

    def _base_headers(self):
        h = {"x-request-id": "req_" + uuid.uuid4().hex,
             "openai-version": "2020-10-01",
             "openai-processing-ms": "12"}
        h.update(self._rl_headers())
        return h

    async def _error(self, conn, entry, status, body, extra=None):
        h = self._base_headers()
        h.update(extra or {})
        await self.reply_json(conn, entry, status, body, h)

    async def _auth(self, conn, entry, name):
        """Sends 401 and returns False when the key is bad or scripted."""
        if name != "401" and entry["key"] in self.keys:
            return True
        if entry["key"] is None:
            msg = ("You didn't provide an API key. You need to provide your "
                   "API key in an Authorization header using Bearer auth.")
        else:
            msg = "Incorrect API key provided. You can find your API key " \
                  "at https://platform.openai.com/account/api-keys."
        await self._error(conn, entry, 401,
                          _err(msg, "invalid_request_error",
                               "invalid_api_key"))
        return False

    async def _scripted(self, conn, entry, name, arg, model="gpt-4o-mini"):
        """Answers the scripted error statuses; True when it did."""
        if name in ("429", "429_noretry"):
            ms = int(arg) if arg else int(self.opt["retry_after_ms"])
            h = {"retry-after-ms": str(ms),
                 "retry-after": str(max(1, math.ceil(ms / 1000.0)))}
            if name == "429_noretry":
                h["x-should-retry"] = "false"
            await self._error(conn, entry, 429, _err(
                "Rate limit reached for %s on requests per min (RPM): "
                "Limit 3, Used 3, Requested 1. Please try again in %dms."
                % (model, ms), "requests", "rate_limit_exceeded"), h)
            return True
        if name == "429_quota":
            await self._error(conn, entry, 429, _err(
                "You exceeded your current quota, please check your plan "
                "and billing details.", "insufficient_quota",
                "insufficient_quota"))
            return True
        if name == "500":
            await self._error(conn, entry, 500, _err(
                "The server had an error while processing your request. "
                "Sorry about that!", "server_error"))
            return True
        if name == "503":
            await self._error(conn, entry, 503, _err(
                "The engine is currently overloaded, please try again "
                "later.", "server_error", "service_unavailable"))
            return True
        if name == "400":
            await self._error(conn, entry, 400, _err(
                "Scripted bad request.", "invalid_request_error"))
            return True
        return False

    async def route_models(self, conn, req, entry):
        name, arg = split_behaviour(entry["behaviour"])
        if not await self._auth(conn, entry, name):
            return
        if await self._scripted(conn, entry, name, arg):
            return
        data = [{"id": m, "object": "model", "created": 1721172741,
                 "owned_by": "system"} for m in self.models()]
        await self.reply_json(conn, entry, 200,
                              {"object": "list", "data": data},
                              self._base_headers())

    async def route_model(self, conn, req, entry, model):
        name, arg = split_behaviour(entry["behaviour"])
        if not await self._auth(conn, entry, name):
            return
        if await self._scripted(conn, entry, name, arg):
            return
        if model not in self.models():
            await self._error(conn, entry, 404, self._no_model(model))
            return
        await self.reply_json(conn, entry, 200,
                              {"id": model, "object": "model",
                               "created": 1721172741, "owned_by": "system"},
                              self._base_headers())

    def _no_model(self, model):
        return _err("The model `%s` does not exist or you do not have "
                    "access to it." % model, "invalid_request_error",
                    "model_not_found")

    def _validate(self, body):
        """Returns (param, message) of the first problem, or None."""
        if not isinstance(body, dict):
            return None, "The request body must be a JSON object."
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model", "you must provide a model parameter"
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return "messages", "'messages' must be a non-empty array."
        for i, m in enumerate(msgs):
            p = "messages[%d]" % i
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                return p + ".role", "Invalid value for 'role'."
            c = m.get("content")
            if m["role"] == "assistant":
                if c is None and not m.get("tool_calls"):
                    return p + ".content", "'content' is required unless " \
                        "'tool_calls' is given."
            elif not isinstance(c, (str, list)):
                return p + ".content", "Invalid type for 'content'."
            if m["role"] == "tool" and not isinstance(m.get("tool_call_id"),
                                                      str):
                return p + ".tool_call_id", "'tool_call_id' is required."
            for tc in m.get("tool_calls") or []:
                f = tc.get("function") if isinstance(tc, dict) else None
                if (not isinstance(f, dict) or not tc.get("id")
                        or not isinstance(f.get("arguments"), str)):
                    return p + ".tool_calls", "Invalid tool call."
        if "stream_options" in body and body.get("stream") is not True:
            return "stream_options", "The 'stream_options' parameter is " \
                "only allowed when 'stream' is enabled."
        if body.get("stream") is not True:
            return "stream", "This fake serves only stream=true."
        so = body.get("stream_options")
        if so is not None and not isinstance(so, dict):
            return "stream_options", "Invalid type for 'stream_options'."
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                return "tools", "Invalid type for 'tools'."
            for i, t in enumerate(tools):
                f = t.get("function") if isinstance(t, dict) else None
                if (t.get("type") != "function" or not isinstance(f, dict)
                        or not isinstance(f.get("name"), str)):
                    return "tools[%d]" % i, "Invalid tool definition."
        t = body.get("temperature")
        if t is not None and (not isinstance(t, (int, float)) or t < 0
                              or t > 2):
            return "temperature", "Invalid 'temperature'."
        return None

    async def route_chat(self, conn, req, entry):
        name, arg = split_behaviour(entry["behaviour"])
        if not await self._auth(conn, entry, name):
            return
        try:
            body = req.json()
        except ValueError:
            await self._error(conn, entry, 400, _err(
                "We could not parse the JSON body of your request.",
                "invalid_request_error"))
            return
        entry["json"] = body
        bad = self._validate(body)
        if bad:
            await self._error(conn, entry, 400,
                              _err(bad[1], "invalid_request_error",
                                   None, bad[0]))
            return
        model = body["model"]
        if model not in self.models():
            await self._error(conn, entry, 404, self._no_model(model))
            return
        if await self._scripted(conn, entry, name, arg, model):
            return
        await self._stream(conn, entry, body, name, arg)

    async def _stream(self, conn, entry, body, name, arg):
        nl = "\r\n" if self.opt["crlf"] else "\n"
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        model = body["model"]
        usage_on = bool((body.get("stream_options") or {})
                        .get("include_usage"))
        state = {"events": 0}
        entry["sent"] = []

        def chunk(delta, finish=None, choices=None):
            c = {"id": cid, "object": "chat.completion.chunk",
                 "created": created, "model": model,
                 "system_fingerprint": "fp_fake", "service_tier": "default",
                 "choices": choices if choices is not None else [
                     {"index": 0, "delta": delta, "logprobs": None,
                      "finish_reason": finish}]}
            if usage_on:
                c["usage"] = None
            return c

        async def emit(payload):
            text = payload if isinstance(payload, str) else \
                wsproto.dumps(payload)
            entry["sent"].append(payload)
            data = ("data: " + text + nl + nl).encode("utf-8")
            state["events"] += 1
            ka = self.opt["keepalive_every"]
            if ka and state["events"] % ka == 0:
                data = (": keep-alive" + nl + nl).encode() + data
            if self.opt["split_events"] and len(data) > 2:
                cut = (7 + 13 * state["events"]) % (len(data) - 1) + 1
                await conn.write_chunk(data[:cut])
                await conn.write_chunk(data[cut:])
            else:
                await conn.write_chunk(data)
            self.changed()

        await self.sleep_ms(self.opt["first_token_ms"])
        h = {"content-type": "text/event-stream; charset=utf-8",
             "cache-control": "no-cache"}
        h.update(self._base_headers())
        entry["status"] = 200
        await conn.start_chunked(200, h)

        if name == "tool":
            tname, _, targs = (arg or "end_call").partition(":")
            await self._tool_stream(emit, chunk, tname, targs or "{}")
            finish = "tool_calls"
            ntoks = 3
        elif name == "reply_tool":
            # Text, then a tool call in the same answer: how a model says
            # goodbye and calls end_call.
            text, _, spec = (arg or "").partition("|")
            tname, _, targs = (spec or "end_call").partition(":")
            entry["reply"] = text
            toks = tokens_of(text)
            await emit(chunk({"role": "assistant", "content": "",
                              "refusal": None}))
            for i, tok in enumerate(toks):
                if i > 0:
                    await self.sleep_ms(self.opt["token_ms"])
                await emit(chunk({"content": tok}))
            await self._tool_stream(emit, chunk, tname, targs or "{}",
                                    with_role=False)
            finish = "tool_calls"
            ntoks = len(toks) + 3
        else:
            if name == "reply":
                text = arg or ""
            elif self.opt["reply"] is not None:
                text = self.opt["reply"]
            else:
                text = default_reply(body["messages"])
            entry["reply"] = text
            toks = tokens_of(text)
            finish = "stop"
            cap = body.get("max_completion_tokens", body.get("max_tokens"))
            if isinstance(cap, int) and 0 < cap < len(toks):
                toks = toks[:cap]
                finish = "length"
            ntoks = len(toks)
            await emit(chunk({"role": "assistant", "content": "",
                              "refusal": None}))
            for i, tok in enumerate(toks):
                if i > 0:
                    await self.sleep_ms(self.opt["token_ms"])
                if name == "drop_after" and i >= int(arg or 0):
                    entry["status"] = "dropped"
                    conn.abort()
                    return
                if name == "stall" and i >= int(arg or 0):
                    entry["status"] = "stalled"
                    self.changed()
                    await self.hang(conn)
                    return
                if name == "error_mid" and i >= int(arg or 1):
                    await emit(_err("The server had an error while "
                                    "processing your request.",
                                    "server_error"))
                    await conn.end_chunked()
                    entry["status"] = "error_mid"
                    await conn.close()
                    return
                c = chunk({"content": tok})
                c["obfuscation"] = "x" * (i % 5)
                await emit(c)
        await emit(chunk({}, finish))
        if usage_on:
            prompt = sum(len(json.dumps(m)) for m in body["messages"]) // 4
            u = chunk(None, choices=[])
            u["usage"] = {"prompt_tokens": prompt,
                          "completion_tokens": ntoks,
                          "total_tokens": prompt + ntoks,
                          "prompt_tokens_details": {"cached_tokens": 0},
                          "completion_tokens_details": {
                              "reasoning_tokens": 0}}
            await emit(u)
        await emit("[DONE]")
        await conn.end_chunked()
        entry["done"] = True

    async def _tool_stream(self, emit, chunk, tname, targs, with_role=True):
        """Tool call with arguments cut into three fragments."""
        call_id = "call_" + uuid.uuid4().hex[:24]
        head = {"tool_calls": [{"index": 0, "id": call_id,
                                "type": "function",
                                "function": {"name": tname,
                                             "arguments": ""}}]}
        if with_role:
            head.update(role="assistant", content=None)
        await emit(chunk(head))
        n = len(targs)
        cuts = sorted({0, max(1, n // 3), max(1, 2 * n // 3), n})
        for a, b in zip(cuts, cuts[1:]):
            await self.sleep_ms(self.opt["token_ms"])
            await emit(chunk({"tool_calls": [
                {"index": 0, "function": {"arguments": targs[a:b]}}]}))


if __name__ == "__main__":
    sys.exit(fakebase.run_cli(FakeOpenAI))
