# fakeaudio.py - G.711 codecs, energy measurement and test signals.
#
# Pure standard-library helpers shared by the fakes (Deepgram's VAD, the
# ElevenLabs audio generator) and by tests that synthesise caller audio.
# PCM is always mono signed 16-bit little-endian ("s16le"). Tables are
# built once at import; functions are pure and safe from any thread.
#
# SPDX-License-Identifier: MIT

import array
import math
import operator
import random
import sys


def _ulaw_decode(u):
    u = ~u & 0xFF
    sign = u & 0x80
    exp = (u >> 4) & 0x07
    mant = u & 0x0F
    x = (((mant << 3) + 0x84) << exp) - 0x84
    return -x if sign else x


def _alaw_decode(a):
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _ulaw_encode(s):
    sign = 0
    if s < 0:
        s = -s
        sign = 0x80
    s = min(s, 32635) + 0x84
    exp = 7
    mask = 0x4000
    while exp > 0 and not s & mask:
        exp -= 1
        mask >>= 1
    mant = (s >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


ULAW_TO_PCM = [_ulaw_decode(i) for i in range(256)]
ALAW_TO_PCM = [_alaw_decode(i) for i in range(256)]
ULAW_SQ = [v * v for v in ULAW_TO_PCM]
ALAW_SQ = [v * v for v in ALAW_TO_PCM]
# Index with (sample + 32768); 64 K entries, built once.
PCM_TO_ULAW = bytes(_ulaw_encode(s) for s in range(-32768, 32768))


def pcm_from_bytes(data):
    """array('h') of s16le bytes (an odd trailing byte is dropped)."""
    a = array.array("h")
    a.frombytes(bytes(data[:len(data) & ~1]))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def pcm_to_bytes(samples):
    """s16le bytes of an iterable of ints (clipped to 16 bits)."""
    a = array.array("h", (max(-32768, min(32767, int(s)))
                          for s in samples))
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def ulaw_encode(pcm_bytes):
    """G.711 mu-law bytes of s16le PCM."""
    a = pcm_from_bytes(pcm_bytes)
    return bytes(PCM_TO_ULAW[s + 32768] for s in a)


def ulaw_decode(data):
    """s16le PCM bytes of G.711 mu-law bytes."""
    return pcm_to_bytes(ULAW_TO_PCM[b] for b in data)


def rms(data, encoding="linear16", channels=1, step=2):
    """Root mean square of channel 0 of one frame, in 16-bit units.

    Every step-th sample is used: plenty for a speech/silence decision
    and cheap enough for a hundred concurrent streams.
    """
    if encoding == "linear16":
        a = pcm_from_bytes(data)[::channels * step]
        if not a:
            return 0.0
        return math.sqrt(sum(map(operator.mul, a, a)) / len(a))
    table = ULAW_SQ if encoding == "mulaw" else ALAW_SQ
    sub = memoryview(bytes(data))[::channels * step]
    if not len(sub):
        return 0.0
    return math.sqrt(sum(map(table.__getitem__, sub)) / len(sub))


def voice_like(n, rate, amp=9000.0, f0=140.0, phase=0):
    """n samples of a vowel-like buzz: a few harmonics of f0 with a slow
    syllable-rate amplitude wobble that never drops to silence."""
    out = []
    two_pi = 2.0 * math.pi
    for i in range(phase, phase + n):
        t = i / rate
        env = 0.65 + 0.35 * math.sin(two_pi * 4.0 * t)
        w = (math.sin(two_pi * f0 * t)
             + 0.5 * math.sin(two_pi * 2 * f0 * t)
             + 0.3 * math.sin(two_pi * 3 * f0 * t)
             + 0.2 * math.sin(two_pi * 5 * f0 * t))
        out.append(amp * env * w / 2.0)
    return out


def noise_burst(n, amp=6000.0, seed=1):
    """n samples of deterministic white noise."""
    rnd = random.Random(seed)
    return [rnd.uniform(-amp, amp) for _ in range(n)]


def speech_like(pattern, rate=16000, encoding="linear16"):
    """Test audio from [("speech"|"noise"|"silence", ms), ...] in
    linear16 (s16le) or mulaw bytes."""
    samples = []
    for i, (kind, ms) in enumerate(pattern):
        n = int(rate * ms / 1000)
        if kind == "speech":
            samples += voice_like(n, rate, phase=len(samples))
        elif kind == "noise":
            samples += noise_burst(n, seed=i + 1)
        else:
            samples += [0] * n
    pcm = pcm_to_bytes(samples)
    return ulaw_encode(pcm) if encoding == "mulaw" else pcm


def resample_linear(pcm_bytes, src_rate, dst_rate):
    """Linear-interpolation resampling of s16le mono PCM (test quality)."""
    a = pcm_from_bytes(pcm_bytes)
    if src_rate == dst_rate or not a:
        return bytes(pcm_bytes)
    n = int(len(a) * dst_rate / src_rate)
    out = []
    ratio = src_rate / dst_rate
    last = len(a) - 1
    for i in range(n):
        x = i * ratio
        j = int(x)
        f = x - j
        k = min(j + 1, last)
        out.append(a[j] + (a[k] - a[j]) * f)
    return pcm_to_bytes(out)
