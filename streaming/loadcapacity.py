"""``manage.py loadtest --capacity``: Piper's compute ceiling and the capacity search.

The ceiling is how many real-time listeners the Piper adapter's workers could feed if
they did nothing but synthesize: audio seconds produced per wall second with every worker
busy, measured in the calling process. The capacity is the largest number of concurrent
paced listeners a server actually serves well; :func:`search_capacity` finds it from a
``probe(n) -> bool`` that runs ``n`` sessions.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from streaming.simulated import simulated_reply

CEILING_SECONDS = 10.0
WARM_TEXT = "Hello there."


def piper_options(scheduling: str | None = None) -> dict[str, Any]:
    """The Piper adapter's options from settings, with ``scheduling`` when one is given
    (what a server started with ``LOCAL_SCHEDULING=<scheduling>`` builds)."""
    piper = settings.STREAMING_PROVIDERS.get("tts", {}).get("piper", {})
    options = dict(piper.get("OPTIONS", {}))
    return options | ({"scheduling": scheduling} if scheduling else {})


def sentences(text: str) -> list[str]:
    """The text cut after every ``.``, ``!`` or ``?`` followed by a space."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


async def _audio_bytes(tts: Any, text: str) -> int:
    total = 0
    async for chunk in tts.synthesize(text):
        total += len(chunk)
    return total


async def measure_ceiling(tts: Any, *, words: int, workers: int,
                          duration_s: float = CEILING_SECONDS) -> dict[str, Any]:
    """Warm ``tts`` (one short synthesis per worker), then keep its workers busy with
    ``2 x workers`` streams looping over the reply's sentences for ``duration_s``.

    Every stream synthesizes at least one sentence and starts none after ``duration_s``;
    the wall time runs until the last one ends. ``x_realtime`` = audio s / wall s.
    """
    bytes_per_s = 2 * tts.sample_rate  # s16le mono
    warm_started = time.perf_counter()
    await asyncio.gather(*(_audio_bytes(tts, WARM_TEXT) for _ in range(workers)))
    warmup_s = time.perf_counter() - warm_started
    reply = simulated_reply(words)
    parts = sentences(reply)
    streams = 2 * workers
    started = time.perf_counter()
    deadline = started + duration_s

    async def stream(offset: int) -> tuple[int, int, int]:
        done = chars = audio = 0
        while True:  # each stream starts at another sentence, so all are covered early
            text = parts[(offset + done) % len(parts)]
            audio += await _audio_bytes(tts, text)
            chars += len(text)
            done += 1
            if time.perf_counter() >= deadline:
                return done, chars, audio

    results = await asyncio.gather(*(stream(i) for i in range(streams)))
    wall_s = time.perf_counter() - started
    done = sum(r[0] for r in results)
    chars = sum(r[1] for r in results)
    audio_s = sum(r[2] for r in results) / bytes_per_s
    return {
        "x_realtime": round(audio_s / wall_s, 2) if wall_s > 0 else None,
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall_s, 3),
        "streams": streams,
        "workers": workers,
        "sentences": done,
        "chars": chars,
        "audio_s_per_reply": round(audio_s / chars * len(reply), 3),
        "reply_chars": len(reply),
        "warmup_s": round(warmup_s, 3),
    }


def piper_ceiling(*, words: int, scheduling: str | None = None,
                  duration_s: float = CEILING_SECONDS) -> dict[str, Any]:
    """:func:`measure_ceiling` of the ``piper`` adapter built with the server's options
    (its class from ``STREAMING_PROVIDERS``), its regular workers only: the urgent ones
    start work sooner, they add no compute (the cores are the same)."""
    options = piper_options(scheduling) | {"urgent_workers": 0}
    tts = import_string(settings.STREAMING_PROVIDERS["tts"]["piper"]["BACKEND"])(**options)
    result = asyncio.run(measure_ceiling(
        tts, words=words, workers=int(options.get("max_workers", 2)), duration_s=duration_s))
    return result | {"options": options}  # the pool's daemon workers end with the command


def probe_verdict(summary: dict, ttfa_p95_limit_ms: float) -> bool:
    """A probe passes with no underrun, no session with errors and client TTFA p95 within
    the limit (a run without any first audio fails)."""
    p95 = summary["client_ttfa_ms"]["p95"]
    return (summary["underruns_total"] == 0 and summary["sessions_with_errors"] == 0
            and p95 is not None and p95 <= ttfa_p95_limit_ms)


def search_capacity(probe: Callable[[int], bool], start: int, *, max_probes: int = 7,
                    step: int | None = None) -> tuple[int, list[tuple[int, bool]]]:
    """The largest ``n`` for which ``probe(n)`` passes, assuming passing is monotonic.

    Probes ``start``; after a pass goes up by ``step`` (default a quarter of ``start``)
    until a failure, after a failure halves until a pass; then bisects between the last
    pass and the first failure. At most ``max_probes`` probes, never one ``n`` twice: when
    the cap cuts the search short, the answer is the largest ``n`` that passed (0 if none).
    Returns ``(capacity, [(n, passed), ...] in probe order)``.
    """
    if max_probes < 1:
        raise ValueError("max_probes must be at least 1")
    start = max(1, start)
    step = step or max(1, round(start / 4))
    probes: list[tuple[int, bool]] = []
    passed, failed = 0, None  # the largest n that passed, the smallest that failed

    def run(n: int) -> bool:
        ok = probe(n)
        probes.append((n, ok))
        return ok

    if run(start):
        passed = n = start
        while failed is None and len(probes) < max_probes:
            n += step
            if run(n):
                passed = n
            else:
                failed = n
    else:
        failed = n = start
        while n > 1 and not passed and len(probes) < max_probes:
            n //= 2
            if run(n):
                passed = n
            else:
                failed = n
    while failed is not None and failed - passed > 1 and len(probes) < max_probes:
        mid = (passed + failed) // 2
        if run(mid):
            passed = mid
        else:
            failed = mid
    return passed, probes
