#!/usr/bin/env python3
# el_fake.py - runs tests/fakes/fake_elevenlabs.py for the C adapter test
# and lets that test drive it over stdin/stdout.
#
# Prints "PORT <n>" once listening, then answers one line per command:
#
#   script B1 B2 ...     queue behaviours for the next TTS requests -> ok
#                        (the fake's, plus 422, 400_string, 403_plain)
#   configure {json}     FakeElevenLabs.configure(**json)            -> ok
#   split on|off         cut every HTTP chunk at an odd byte offset  -> ok
#   requests             the TTS request log as one JSON line
#   expect TEXT...       {"bytes": n, "fnv": h} of the fake's audio for
#                        TEXT (rest of the line) in the last format asked
#   expect_pcm TEXT...   the same for that audio as s16le PCM (mu-law
#                        decoded; PCM formats as they are)
#   characters           characters the fake generated
#
# End of input stops the fake. The request log adds "conn" (the client's
# TCP port, to tell connections apart) and "key_ok" (whether the key was
# one of --key) and leaves the key itself out.
#
# SPDX-License-Identifier: MIT

import argparse
import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get(
    "SV_SOURCE_DIR", os.path.join(HERE, "..", "..")), "tests", "fakes"))

import fake_elevenlabs  # noqa: E402
import fakeaudio  # noqa: E402


def fnv1a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


class DrivenFake(fake_elevenlabs.FakeElevenLabs):
    """The fake plus connection ids and optional odd chunk splitting."""

    split = False

    async def route_tts(self, conn, req, entry, voice_id):
        peer = conn.writer.get_extra_info("peername")
        entry["conn"] = peer[1] if peer else None
        # Error shapes the fake has no script for (protocols.md C.6).
        extra = {
            "422": (422, {"detail": [{"loc": ["body", "voice_settings",
                                              "stability"],
                                      "msg": "ensure this value is less "
                                             "than or equal to 1.0",
                                      "type": "value_error.number"}]}),
            "400_string": (400, {"detail": "Something about the text."}),
            "403_plain": (403, {"detail": {"status": "forbidden",
                                           "message": "Nope.",
                                           "code": "x", "type": "y"}}),
        }
        if entry["behaviour"] in extra:
            await self._err(conn, entry, *extra[entry["behaviour"]])
            return
        if self.split:
            write = conn.write_chunk

            async def split_write(data):
                # An odd cut inside each chunk, sent apart, so the client
                # sees a sample split across two reads.
                cut = min(len(data), 2 * (len(data) // 4) + 1)
                await write(data[:cut])
                await asyncio.sleep(0.002)
                await write(data[cut:])

            conn.write_chunk = split_write
        await super().route_tts(conn, req, entry, voice_id)


def log_line(fake):
    out = []
    for r in fake.requests:
        out.append({k: v for k, v in r.items() if k != "key"})
        out[-1]["key_ok"] = r.get("key") in fake.keys
    return json.dumps(out, default=str)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", action="append", default=[])
    p.add_argument("--opt", action="append", default=[])
    args = p.parse_args()
    opts = {}
    for o in args.opt:
        name, _, value = o.partition("=")
        opts[name] = json.loads(value)
    fake = DrivenFake(keys=set(args.key) or {"good-key"}, **opts)
    fake.start()
    print("PORT %d" % fake.port, flush=True)
    fmt = "pcm_16000"
    for line in sys.stdin:
        cmd, _, rest = line.rstrip("\n").partition(" ")
        if cmd == "script":
            fake.script(*rest.split())
            reply = "ok"
        elif cmd == "configure":
            fake.configure(**json.loads(rest))
            reply = "ok"
        elif cmd == "split":
            DrivenFake.split = rest == "on"
            reply = "ok"
        elif cmd == "requests":
            reply = log_line(fake)
        elif cmd in ("expect", "expect_pcm"):
            rs = [r for r in fake.requests if r.get("output_format")]
            if rs:
                fmt = rs[-1]["output_format"]
            audio = fake_elevenlabs.synth(rest, fmt, fake.opt["ms_per_char"])
            if cmd == "expect_pcm" and fmt.startswith("ulaw"):
                audio = fakeaudio.ulaw_decode(audio)
            reply = json.dumps({"bytes": len(audio), "fnv": fnv1a(audio)})
        elif cmd == "characters":
            reply = str(fake.characters)
        else:
            reply = "error unknown command"
        print(reply, flush=True)
    fake.stop()
    if fake.errors:
        sys.stderr.write("".join(fake.errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
