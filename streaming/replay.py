"""Replaying stored sessions through the current engine (the ``replay_session(s)`` commands).

A replay feeds a session's recorded input text (the LLM answer, for voicebot turns) into a
real :class:`StreamEngine` through a TTS provider of choice: either all at once, or cut
back into its recorded deltas, each at its recorded offset, the input ending when it
ended. The audio is collected in memory; the replay is stored as a new session linked to
the original by ``replay_of``, through the same ``services`` functions the live consumer
uses.
"""
from __future__ import annotations

import asyncio
import os
import re
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from streaming import services, voices
from streaming.audio import pcm_to_wav
from streaming.engine import EngineConfig, Event, StreamEngine, StreamResult, text_once
from streaming.models import REPLAY_END_REASON, StreamSession
from streaming.processes import heartbeat
from streaming.protocols import TTS
from streaming.providers import UnknownProvider, UnknownVoice, default_alias
from streaming.speakable import SpeakableFilter
from streaming.stats import format_ms, percentile

END_REASON = REPLAY_END_REASON
FAST, REALTIME = "fast", "realtime"
SPEEDS = (FAST, REALTIME)
PRIMING_TEXT = "Ready."

# (label, StreamSession field) of the metrics compared between an original and its replay.
COMPARED = (
    ("ttfa_ms", "ttfa_ms"), ("overhead_ms", "overhead_ms"),
    ("first_segment_ms", "first_segment_ms"), ("tts_ttfb_ms", "tts_ttfb_ms"),
    ("text_done_ms", "text_done_ms"), ("overlap_ms", "overlap_ms"), ("total_ms", "total_ms"),
    ("audio_ms", "audio_ms"), ("segments", "segment_count"), ("bytes", "bytes_sent"),
)
DISTRIBUTED = ("ttfa_ms", "overhead_ms")
HEX_DIGITS = re.compile(r"[0-9a-f]{1,32}")
UUID_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))  # hex digits between hyphens
MAX_LISTED = 5  # sessions named when a start of an id matches several


_primed: weakref.WeakSet = weakref.WeakSet()  # provider instances already loaded


class ReplayError(Exception):
    """A replay that cannot run or did not succeed; the commands turn it into a CommandError."""


@dataclass(frozen=True)
class TTSChoice:
    """The TTS adapter, alias and voice a replay speaks with."""

    tts: TTS
    alias: str
    voice: str | None
    sample_rate: int


@dataclass
class Replay:
    """A finished replay: its stored session id, the engine's result and the audio."""

    session_id: uuid.UUID
    original_id: uuid.UUID
    choice: TTSChoice
    result: StreamResult
    audio: bytes

    @property
    def failed(self) -> bool:
        """The stream ended as ``failed`` (a provider error)."""
        return self.result.status == StreamSession.Status.FAILED


# --- lookups -------------------------------------------------------------------------------
def load_original(raw_id: str) -> StreamSession:
    """The session to replay, by its UUID or a unique start of it (the admin shows the first
    8 characters); refuses bad ids, starts of no or several sessions, and sessions with no
    input."""
    digits = str(raw_id).strip().lower().replace("-", "")
    if not HEX_DIGITS.fullmatch(digits):
        raise ReplayError(f"{raw_id!r} is not a session id (a UUID such as "
                          f"{uuid.UUID(int=0)}, or its first characters)")
    if len(digits) == 32:
        try:
            original = StreamSession.objects.get(id=uuid.UUID(digits))
        except (StreamSession.DoesNotExist, ValidationError):
            raise ReplayError(f"there is no session {uuid.UUID(digits)}") from None
    else:
        original = _by_prefix(digits)
    check_replayable(original)
    return original


def _by_prefix(digits: str) -> StreamSession:
    """The one session whose id starts with these hex digits."""
    start = "-".join(digits[a:b] for a, b in UUID_GROUPS if a < len(digits))  # as UUIDs print
    found = list(StreamSession.objects.filter(id__startswith=start).order_by("created_at")
                 [:MAX_LISTED + 1])
    if not found:
        raise ReplayError(f"there is no session whose id starts with {start!r}")
    if len(found) > 1:
        count = f"more than {MAX_LISTED}" if len(found) > MAX_LISTED else str(len(found))
        listed = ", ".join(str(session.id) for session in found[:MAX_LISTED])
        raise ReplayError(f"{start!r} is the start of {count} sessions' ids ({listed}"
                          f"{', ...' if len(found) > MAX_LISTED else ''}): give more characters")
    return found[0]


def check_replayable(original: StreamSession) -> None:
    """Refuse a session with no recorded input text."""
    if not original.input_text:
        raise ReplayError(f"session {original.id} ({original.status}) has no input text "
                          "to replay")


async def resolve_tts(original: StreamSession, alias: str | None = None,
                      voice: str | None = None) -> TTSChoice:
    """The TTS for a replay: ``alias`` or the original's provider (or the default); the
    voice is ``voice``, else the original's when the provider is the same, else the
    provider's first voice."""
    alias = alias or original.tts_provider or default_alias("tts")
    from_original = voice is None and alias == original.tts_provider and bool(original.voice)
    if from_original:
        voice = original.voice
    try:
        tts, alias, voice = await voices.resolve_tts(alias, voice, operator=True)
    except UnknownProvider as exc:
        raise ReplayError(str(exc)) from None
    except UnknownVoice as exc:
        hint = " (the original's voice; choose one with --voice)" if from_original else ""
        raise ReplayError(f"{exc}{hint}") from None
    except ImproperlyConfigured as exc:
        raise ReplayError(f"tts provider {alias!r} is unavailable: {exc}") from None
    return TTSChoice(tts, alias, voice, int(tts.sample_rate))


def check_output(path: str) -> Path:
    """A WAV output path that can be written, checked before the replay runs."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ReplayError(f"cannot write {path}: it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise ReplayError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ReplayError(f"cannot write {path}: permission denied")
    return target


def write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    """Write the replay's audio as a WAV file."""
    try:
        path.write_bytes(pcm_to_wav(pcm, sample_rate))
    except OSError as exc:
        raise ReplayError(f"cannot write {path}: {exc.strerror or exc}") from None


# --- input ---------------------------------------------------------------------------------
def recorded_deltas(text: str, timeline: Sequence | None) -> list[tuple[float, str]]:
    """``text`` cut back into its recorded deltas, each with its offset (ms) from the first.

    The engine stamps every input delta as ``[t, "text_delta", None, {"chars": n}]``. Text
    the timeline does not account for (a session recorded before deltas were stamped, or a
    mismatch) follows at the last recorded offset.
    """
    stamps: list[tuple[float, int]] = []
    for event in timeline or []:
        if (isinstance(event, list | tuple) and len(event) >= 4 and event[1] == "text_delta"
                and isinstance(event[0], int | float) and isinstance(event[3], dict)):
            chars = event[3].get("chars")
            if isinstance(chars, int) and not isinstance(chars, bool) and chars > 0:
                stamps.append((float(event[0]), chars))
    deltas: list[tuple[float, str]] = []
    pos = 0
    for t, chars in stamps:
        if pos >= len(text):
            break
        deltas.append((t, text[pos : pos + chars]))
        pos += chars
    if pos < len(text):
        deltas.append((deltas[-1][0] if deltas else 0.0, text[pos:]))
    first = deltas[0][0] if deltas else 0.0
    return [(max(0.0, t - first), piece) for t, piece in deltas]


def recorded_end(timeline: Sequence | None) -> float | None:
    """When the input ended (``text_done``), in ms from the first recorded delta."""
    times = {}
    for event in timeline or []:
        if (isinstance(event, list | tuple) and len(event) >= 2
                and event[1] in ("text_delta", "text_done") and event[1] not in times
                and isinstance(event[0], int | float)):
            times[event[1]] = float(event[0])
    if "text_done" not in times:
        return None
    return max(0.0, times["text_done"] - times.get("text_delta", times["text_done"]))


async def paced(deltas: Sequence[tuple[float, str]], end_ms: float | None = None
                ) -> AsyncIterator[str]:
    """Yield each delta once its offset (ms) has passed since the first was read, and end
    the input at ``end_ms`` (the segmenter flushes its last segment only then)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for offset, delta in deltas:
        delay = start + offset / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield delta
    if end_ms is not None and (delay := start + end_ms / 1000 - loop.time()) > 0:
        await asyncio.sleep(delay)


# --- the replay ----------------------------------------------------------------------------
async def prime(choice: TTSChoice) -> None:
    """Load a provider that has a cold start (a voice model) before the replay's clock runs,
    as a live server has it loaded: the replay measures the pipeline, not the model load."""
    if not choice.tts.cold_start or choice.tts in _primed:
        return
    choice.tts.warm_up()
    chunks = choice.tts.synthesize(PRIMING_TEXT, voice=choice.voice)
    try:
        async for _ in chunks:
            break
    except Exception:
        return  # a broken provider is reported by the replay itself
    finally:
        await chunks.aclose()
    _primed.add(choice.tts)


async def replay(original: StreamSession, choice: TTSChoice, *, speed: str = FAST) -> Replay:
    """Run ``original``'s input through the engine and store the outcome as a new session."""
    if speed not in SPEEDS:
        raise ValueError(f"speed must be one of {', '.join(SPEEDS)}")
    check_replayable(original)
    audio = bytearray()

    async def emit(event: Event) -> None:
        if isinstance(event, bytes):
            audio.extend(event)

    await prime(choice)
    session_id = uuid.uuid4()
    await services.create_session(
        session_id, kind=original.kind, tts_provider=choice.alias, voice=choice.voice or "",
        sample_rate=choice.sample_rate, replay_of_id=original.id,
        llm_provider=original.llm_provider,
    )
    engine = StreamEngine(choice.tts, emit, voice=choice.voice,
                          config=EngineConfig.from_settings(settings.STREAMING),
                          speakable=SpeakableFilter(), llm_text=bool(original.llm_provider))
    if speed == REALTIME:
        source = paced(recorded_deltas(original.input_text, original.timeline),
                       recorded_end(original.timeline))
    else:
        source = text_once(original.input_text)
    try:
        result = await engine.run(source)
    except asyncio.CancelledError:  # interrupted (Ctrl-C): the record is still saved
        if engine.result is not None:
            await asyncio.shield(_save(session_id, engine.result, choice, audio))
        raise
    await _save(session_id, result, choice, audio)
    return Replay(session_id, original.id, choice, result, bytes(audio))


async def _save(session_id: uuid.UUID, result: StreamResult, choice: TTSChoice,
                audio: bytearray) -> None:
    store = audio if settings.STREAMING["STORE_AUDIO"] else None
    await services.finish_session(session_id, result, sample_rate=choice.sample_rate,
                                  end_reason=END_REASON, audio=store)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a replay coroutine to completion from synchronous code (a command); the process
    beats meanwhile, so its running rows are not taken for a dead process's."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with heartbeat():
            return asyncio.run(coro)
    coro.close()
    raise ReplayError("replays run their own event loop: call the command from synchronous "
                      "code (in async code: sync_to_async(call_command, thread_sensitive=False))")


# --- reports -------------------------------------------------------------------------------
def _fmt_diff(a: float | None, b: float | None) -> str:
    """The replay's difference, signed."""
    return "-" if a is None or b is None else format_ms(b - a, sign=True)


def compare_lines(original: StreamSession, replayed: StreamSession) -> list[str]:
    """The two sessions' metrics side by side, with the replay's difference."""
    lines = [f"{'metric':<18}{'original':>12}{'replay':>12}{'diff':>12}"]
    for label, name in COMPARED:
        a, b = getattr(original, name), getattr(replayed, name)
        lines.append(f"{label:<18}{format_ms(a):>12}{format_ms(b):>12}{_fmt_diff(a, b):>12}")
    return lines


def distribution(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Count, p50, p90, p99 and max of the values that are not ``None``."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    return {"count": len(present), "p50": percentile(present, 50),
            "p90": percentile(present, 90), "p99": percentile(present, 99),
            "max": max(present)}


def distribution_lines(originals: Sequence[dict], replays: Sequence[dict]) -> list[str]:
    """Latency distributions of the originals next to those of their replays."""
    header = f"{'metric':<14}{'sessions':<10}{'count':>7}"
    lines = [header + "".join(f"{col:>10}" for col in ("p50", "p90", "p99", "max"))]
    for metric in DISTRIBUTED:
        for label, rows in (("original", originals), ("replay", replays)):
            dist = distribution([row.get(metric) for row in rows])
            cells = "".join(f"{format_ms(dist[col]):>10}" for col in ("p50", "p90", "p99", "max"))
            lines.append(f"{metric:<14}{label:<10}{dist['count']:>7}{cells}")
    return lines
