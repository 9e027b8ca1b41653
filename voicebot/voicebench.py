"""The offline voice agent measured like a user: ``manage.py voice_benchmark``'s logic.

Two measurements against the voicebot endpoint, one turn at a time, each turn on a fresh
connection (so the conversation's history never grows):

- **Spoken turns**: a fixed question, spoken once by Piper (in this process), resampled to
  16 kHz with 300 ms of silence after it, sent as 100 ms binary frames paced in real time
  (frame *k* leaves when a microphone would have captured it, (k + 1) x 100 ms after
  ``audio_start``), then ``audio_end``. **Voice-to-voice** is the first binary audio frame
  received minus the moment ``audio_end`` was sent, on the client's clock; the components
  come from the ``transcript`` event (``stt_ms``) and the ``metrics`` event (``llm_queue_ms``,
  ``llm_ttft_ms``, ``first_segment_ms``, ``tts_ttfb_ms``, ``ttfa_ms``: ms from the start of
  the answer's stream, which begins after transcription).
- **Typed turns**: a fixed prompt inviting several sentences, sent as ``user_text``. Per
  turn: did the first binary audio frame arrive before the last ``llm`` delta (by the order
  of the frames on the socket), and how many sentences the answer has.
- **A long spoken turn** (optional): the questions spoken back to back, then silence, up to
  a given length (at most the server's 30 s), reported apart.
- **The loop probe**: during the counted turns one more connection pings the server every
  50 ms (``streaming.loadclient.LoopProbe``); its round trips are reported for all the
  turns and by phase (``PROBE_PHASES``: while Whisper transcribes, while the LLM and Piper
  answer), which shows whether anything holds the server's event loop.

Sentence counting (``count_sentences``) is a simple rule: a sentence ends at a run of
``.``, ``!`` or ``?`` (closing quotes or brackets may follow) that is followed by whitespace
or the end of the text; text after the last such end counts as one more sentence. So
"Hi. How are you?" has 2, "It costs 3.50 dollars" has 1, "Wait... what?" has 2; an
abbreviation like "Dr. Smith" counts as a sentence end (the rule does not know it).

The client side is plain asyncio and ``websockets`` (the style of ``streaming.loadclient``,
whose ``stats`` and clock it reuses); the command starts the server.
"""
from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection

from streaming.audio import resample_pcm
from streaming.loadclient import (
    ENDPOINT_PATHS,
    MAX_FRAMES,
    SOCKET_ERRORS,
    UNLIMITED_ACCESS_ENV,
    LoopProbe,
    Span,
    now_ms,
    open_socket,
    probe_line,
    socket_error,
    stats,
)
from streaming.stats import format_ms
from voicebot.stt_benchmark import normalize, silence, synthesize, word_errors

_ms = partial(format_ms, decimals=0)  # whole milliseconds in the tables

QUESTIONS: tuple[str, ...] = (
    "What is the capital of France?",
    "Tell me a fun fact about cats.",
    "How far away is the moon?",
    "What should I cook for dinner tonight?",
    "Why is the sky blue?",
    "How many legs does a spider have?",
    "What is your favorite color?",
    "Can you recommend a good book?",
    "What is the tallest mountain in the world?",
    "How do I make a cup of tea?",
)
PROMPTS: tuple[str, ...] = (
    "Tell me about the ocean and its animals.",
    "Describe a typical day in the life of a farmer.",
    "Explain how the weather changes with the seasons.",
    "Tell me about the history of the bicycle.",
    "Describe what you would see on a walk through a forest.",
    "Explain how bees make honey.",
    "Tell me about the planets of the solar system.",
    "Describe how to plan a picnic with friends.",
    "Explain why people need to sleep.",
    "Tell me about life in a big city.",
    "Describe how bread is made.",
    "Tell me about dogs and why people love them.",
    "Explain how trains changed the way people travel.",
    "Describe a good way to start the morning.",
    "Tell me about the desert and the animals that live there.",
    "Explain how plants grow from seeds.",
    "Describe what happens at a birthday party.",
    "Tell me about the moon and how it changes each month.",
    "Explain why exercise is good for you.",
    "Describe a trip to the beach in summer.",
)

MIC_RATE = 16000
FRAME_MS = 100
FRAME_BYTES = MIC_RATE * 2 * FRAME_MS // 1000
TRAILING_SILENCE_MS = 300
TTS = "piper"
VOICE_TO_VOICE_P50_TARGET_MS = 1000.0
AUDIO_BEFORE_LAST_DELTA_TARGET = 0.9
COMPONENTS = ("stt_ms", "llm_queue_ms", "llm_ttft_ms", "first_segment_ms", "tts_ttfb_ms",
              "ttfa_ms", "llm_deltas")

# The server's environment: the embedded offline defaults, whatever the caller's shell says.
FORCED_ENV = {
    "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "STREAMING_STORE_AUDIO": "0",
    "LLM_PROVIDER": "local",
    "STT_PROVIDER": "whisper",
    "TTS_PROVIDER": "piper",
    "PYTHONUNBUFFERED": "1",
}
REMOVED_ENV = ("DATABASE_URL",)  # and every OPENAI_* variable
# Inherited variables worth reporting: the ones that configure the project.
REPORTED_PREFIXES = ("STREAMING_", "PIPER_", "LLM_", "STT_", "TTS_", "WHISPER_", "LOCAL_",
                     "VOICEBOT_", "OFFLINE_LLM_", "DJANGO_", "REDIS_URL", "DEBUG", "SQLITE_",
                     "MEDIA_ROOT", "ALLOWED_HOSTS", "LOG_LEVEL", "OMP_")
SECRET_MARKERS = ("SECRET", "KEY", "TOKEN", "PASSWORD", "CREDENTIAL")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")


# --- pure parts ----------------------------------------------------------------------------


def count_sentences(text: str) -> int:
    """Sentences in ``text`` by the module's simple rule (see the module docstring)."""
    text = text.strip()
    ends = list(_SENTENCE_END.finditer(text))
    tail = text[ends[-1].end():] if ends else text
    return len(ends) + bool(re.search(r"\w", tail))


def cycle(items: Sequence[str], n: int) -> list[str]:
    """The first ``n`` items, starting over when the list is exhausted."""
    return [items[i % len(items)] for i in range(n)]


def mic_frames(pcm: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """PCM cut into microphone frames (the last one may be shorter)."""
    return [pcm[i:i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]


@dataclass
class Capture:
    """What one connection received, on the client's clock (``now_ms``) and in order."""

    seq: int = 0  # frames received so far
    frames: int = 0
    first_audio_at: float | None = None
    first_audio_seq: int | None = None
    deltas: list[str] = field(default_factory=list)
    first_delta_at: float | None = None
    last_delta_at: float | None = None
    last_delta_seq: int | None = None
    transcript: dict | None = None
    transcript_at: float | None = None
    done_at: float | None = None
    metrics: dict = field(default_factory=dict)
    session_id: str = ""
    status: str = ""
    errors: list[str] = field(default_factory=list)

    def since(self, at: float | None, t0: float | None) -> float | None:
        """``at`` in ms after ``t0``, when both are known."""
        return None if at is None or t0 is None else round(at - t0, 3)

    def final_status(self) -> str:
        """The ``done`` status, else why there was none; a bad status is also an error."""
        status = self.status or ("timeout" if "timeout" in self.errors else "error")
        if status != "completed" and not self.errors:
            self.errors.append(f"status:{status}")
        return status


@dataclass(kw_only=True)
class TurnRow:
    """What every turn records: the answer, its stream and how it ended."""

    answer: str = ""
    llm_deltas: int = 0
    llm_ttft_ms: float | None = None
    ttfa_ms: float | None = None
    frames: int = 0
    status: str = ""
    session_id: str = ""
    errors: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Completed without an error."""
        return self.status == "completed" and not self.errors


@dataclass(kw_only=True)
class SpokenRow(TurnRow):
    """One spoken turn."""

    index: int
    question: str
    speech_ms: float  # audio sent, trailing silence included
    transcript: str | None = None
    transcript_word_errors: int | None = None  # against the question, after normalization
    stt_ms: float | None = None
    voice_to_voice_ms: float | None = None
    llm_queue_ms: float | None = None
    first_segment_ms: float | None = None
    tts_ttfb_ms: float | None = None


@dataclass(kw_only=True)
class TypedRow(TurnRow):
    """One typed turn."""

    index: int
    prompt: str
    sentences: int = 0
    first_audio_ms: float | None = None  # after user_text was sent
    last_delta_ms: float | None = None
    # The answer's pace: deltas per second from the first to the last (the local model
    # sends one delta per token).
    deltas_per_s: float | None = None
    audio_before_last_delta: bool | None = None  # None: no delta, or no audio and no delta


def spoken_row(index: int, question: str, speech_ms: float, capture: Capture,
               end_sent_at: float | None) -> SpokenRow:
    """A spoken turn's row from what its connection received."""
    heard = capture.transcript or {}
    transcript = heard.get("text") if capture.transcript is not None else None
    metrics = capture.metrics
    row = SpokenRow(
        index=index, question=question, speech_ms=round(speech_ms, 1), transcript=transcript,
        transcript_word_errors=(word_errors(normalize(question), normalize(transcript))
                                if transcript is not None else None),
        stt_ms=heard.get("stt_ms"),
        voice_to_voice_ms=capture.since(capture.first_audio_at, end_sent_at),
        **{k: metrics.get(k) for k in ("llm_queue_ms", "llm_ttft_ms", "first_segment_ms",
                                       "tts_ttfb_ms", "ttfa_ms")},
        llm_deltas=len(capture.deltas), answer="".join(capture.deltas),
        frames=capture.frames, session_id=capture.session_id, metrics=metrics,
    )
    row.status = capture.final_status()
    row.errors = capture.errors
    return row


def typed_row(index: int, prompt: str, capture: Capture, sent_at: float | None) -> TypedRow:
    """A typed turn's row from what its connection received."""
    answer = "".join(capture.deltas)
    if capture.last_delta_seq is None:
        before = None
    else:
        before = (capture.first_audio_seq is not None
                  and capture.first_audio_seq < capture.last_delta_seq)
    span_ms = capture.since(capture.last_delta_at, capture.first_delta_at)
    pace = (round((len(capture.deltas) - 1) * 1000 / span_ms, 1)
            if span_ms and len(capture.deltas) > 1 else None)
    row = TypedRow(
        index=index, prompt=prompt, answer=answer, sentences=count_sentences(answer),
        llm_deltas=len(capture.deltas),
        first_audio_ms=capture.since(capture.first_audio_at, sent_at),
        last_delta_ms=capture.since(capture.last_delta_at, sent_at), deltas_per_s=pace,
        audio_before_last_delta=before, ttfa_ms=capture.metrics.get("ttfa_ms"),
        llm_ttft_ms=capture.metrics.get("llm_ttft_ms"), frames=capture.frames,
        session_id=capture.session_id, metrics=capture.metrics,
    )
    row.status = capture.final_status()
    row.errors = capture.errors
    return row


def _failures(rows: Iterable[SpokenRow | TypedRow]) -> dict:
    failed = [r for r in rows if not r.ok]
    kinds = Counter(":".join(e.split(":")[:2]) for r in failed for e in r.errors)
    return {"failed": len(failed), "error_kinds": dict(kinds)}


def summarize_spoken(rows: list[SpokenRow],
                     target_ms: float = VOICE_TO_VOICE_P50_TARGET_MS) -> dict:
    """Voice-to-voice percentiles, the components' medians, failures and the target."""
    v2v = stats(r.voice_to_voice_ms for r in rows)
    p50 = v2v["p50"]
    return {
        "turns": len(rows),
        "completed": sum(r.ok for r in rows),
        **_failures(rows),
        "voice_to_voice_ms": v2v,
        "components_p50": {name: stats(getattr(r, name) for r in rows)["p50"]
                           for name in COMPONENTS},
        "transcripts_exact": sum(r.transcript_word_errors == 0 for r in rows),
        "target": {"name": f"offline voice-to-voice p50 <= {target_ms / 1000:g} s",
                   "limit_ms": target_ms, "value_ms": p50,
                   "met": p50 is not None and p50 <= target_ms},
    }


def summarize_typed(rows: list[TypedRow],
                    target: float = AUDIO_BEFORE_LAST_DELTA_TARGET) -> dict:
    """Among completed answers of more than one sentence, the share whose audio started
    before the last LLM delta, against the target; also the one-sentence answers."""
    done = [r for r in rows if r.ok]
    multi = [r for r in done if r.sentences > 1]
    early = sum(bool(r.audio_before_last_delta) for r in multi)
    share = round(early / len(multi), 4) if multi else None
    return {
        "turns": len(rows),
        "completed": len(done),
        **_failures(rows),
        "multi_sentence": len(multi),
        "audio_before_last_delta": early,
        "share": share,
        "one_sentence": sum(r.sentences == 1 for r in done),
        "no_sentence": sum(r.sentences == 0 for r in done),
        "sentences": stats(r.sentences for r in done),
        "llm_deltas": stats(r.llm_deltas for r in done),
        "first_audio_ms": stats(r.first_audio_ms for r in done),
        "last_delta_ms": stats(r.last_delta_ms for r in done),
        "llm_ttft_ms": stats(r.llm_ttft_ms for r in done),
        "deltas_per_s": stats(r.deltas_per_s for r in done),
        "target": {"name": f"audio before the last LLM delta in >= {target:.0%} of "
                           "multi-sentence answers",
                   "limit": target, "value": share,
                   "met": share is not None and share >= target},
    }


def verdict(target: dict) -> str:
    """``met`` or ``not met``."""
    return "met" if target["met"] else "not met"


def spoken_table(rows: list[SpokenRow], summary: dict) -> str:
    """The spoken turns and their totals as plain text."""
    head = (f"{'#':>3} {'v2v ms':>7} {'stt':>5} {'queue':>6} {'ttft':>6} {'ttfa':>6} "
            f"{'deltas':>6} {'status':<10} question | transcript")
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.index:>3} {_ms(r.voice_to_voice_ms):>7} {_ms(r.stt_ms):>5} "
            f"{_ms(r.llm_queue_ms):>6} {_ms(r.llm_ttft_ms):>6} {_ms(r.ttfa_ms):>6} "
            f"{r.llm_deltas:>6} {r.status:<10} {r.question} | {r.transcript!r}"
            + (f"  errors: {', '.join(r.errors)}" if r.errors else ""))
    v = summary["voice_to_voice_ms"]
    c = summary["components_p50"]
    lines += [
        f"voice-to-voice (ms): p50 {_ms(v['p50'])}, p90 {_ms(v['p90'])}, "
        f"max {_ms(v['max'])} (n {v['n']})",
        "component medians (ms): " + ", ".join(f"{k} {_ms(c[k])}" for k in COMPONENTS
                                               if k != "llm_deltas")
        + f"; llm deltas {_ms(c['llm_deltas'])}",
        f"turns: {summary['completed']} / {summary['turns']} completed, "
        f"{summary['failed']} failed{_kinds(summary['error_kinds'])}; "
        f"{summary['transcripts_exact']} transcripts word-exact",
        f"target {summary['target']['name']}: {verdict(summary['target'])}",
    ]
    return "\n".join(lines)


def typed_table(rows: list[TypedRow], summary: dict) -> str:
    """The typed turns and their totals as plain text."""
    head = (f"{'#':>3} {'sent.':>5} {'deltas':>6} {'audio ms':>8} {'last delta':>10} "
            f"{'audio<last':>10} {'status':<10} prompt")
    lines = [head]
    for r in rows:
        before = {True: "yes", False: "no", None: "-"}[r.audio_before_last_delta]
        lines.append(
            f"{r.index:>3} {r.sentences:>5} {r.llm_deltas:>6} {_ms(r.first_audio_ms):>8} "
            f"{_ms(r.last_delta_ms):>10} {before:>10} {r.status:<10} {r.prompt}"
            + (f"  errors: {', '.join(r.errors)}" if r.errors else ""))
    share = summary["share"]
    lines += [
        f"audio before the last LLM delta: {summary['audio_before_last_delta']} / "
        f"{summary['multi_sentence']} multi-sentence answers"
        + (f" ({share:.0%})" if share is not None else ""),
        f"one-sentence answers: {summary['one_sentence']}; without a sentence: "
        f"{summary['no_sentence']}",
        f"LLM first token (ms): p50 {_ms(summary['llm_ttft_ms']['p50'])}; deltas per second "
        f"(tokens, for the local model): p50 {_ms(summary['deltas_per_s']['p50'])}",
        f"turns: {summary['completed']} / {summary['turns']} completed, "
        f"{summary['failed']} failed{_kinds(summary['error_kinds'])}",
        f"target {summary['target']['name']}: {verdict(summary['target'])}",
    ]
    return "\n".join(lines)


def _kinds(kinds: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else ""


# --- environment and machine ---------------------------------------------------------------


def server_env(workdir: Path, base: Mapping[str, str] | None = None,
               secret_key: str = "") -> dict[str, str]:
    """The environment of the server the command starts: the caller's, without a database
    URL or any OPENAI_* variable, with the offline defaults, a throwaway SQLite database and
    media folder in ``workdir`` and a throwaway SECRET_KEY forced."""
    import secrets

    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in REMOVED_ENV and not k.startswith("OPENAI_")}
    return env | FORCED_ENV | UNLIMITED_ACCESS_ENV | {
        "SECRET_KEY": secret_key or secrets.token_urlsafe(32),
        "SQLITE_PATH": str(workdir / "voicebench.sqlite3"),
        "MEDIA_ROOT": str(workdir / "media"),
    }


def is_secret(name: str) -> bool:
    """A variable whose value must not be reported."""
    return any(marker in name.upper() for marker in SECRET_MARKERS)


def reported_env(env: Mapping[str, str]) -> dict[str, str]:
    """The server variables that configure the project, secrets left out."""
    return {k: v for k, v in sorted(env.items())
            if k.startswith(REPORTED_PREFIXES) and not is_secret(k)}


def env_report(env: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict:
    """The server's environment for the result: what configures the project (no secrets),
    what the benchmark forced and what it removed from ``base`` (names only)."""
    base = os.environ if base is None else base
    return {
        "set": reported_env(env),
        "forced": sorted([*FORCED_ENV, "MEDIA_ROOT", "SECRET_KEY", "SQLITE_PATH"]),
        "removed": sorted(k for k in base if k in REMOVED_ENV or k.startswith("OPENAI_")),
    }


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Cores, CPU model, load average and Python of this machine."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {"nproc": usable, "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


# --- speech --------------------------------------------------------------------------------


def piper_tts() -> Any:
    """A Piper voice of this project (the client's own, not the server's)."""
    from tts.providers.piper import PiperTTS

    return PiperTTS()


async def speak(questions: Iterable[str], tts: Any = None) -> dict[str, bytes]:
    """Each distinct question spoken once by Piper, at 16 kHz, with the trailing silence."""
    tts = tts or piper_tts()
    pause = silence(TRAILING_SILENCE_MS / 1000, rate=MIC_RATE)
    speech = {}
    for question in dict.fromkeys(questions):
        pcm = await synthesize(tts, question)
        speech[question] = resample_pcm(pcm, tts.sample_rate, MIC_RATE) + pause
    return speech


LongTurn = tuple[str, bytes]  # what is said, and its 16 kHz PCM


def long_turn(clips: Iterable[tuple[str, bytes]], seconds: float) -> LongTurn:
    """One spoken turn of exactly ``seconds``: as many whole clips (text, PCM) as fit, back
    to back, then silence; the texts joined. ValueError when not even the first fits."""
    limit = 2 * round(seconds * MIC_RATE)
    texts, pcm = [], bytearray()
    for text, clip in clips:
        if len(pcm) + len(clip) > limit:
            break
        texts.append(text)
        pcm += clip
    if not texts:
        raise ValueError(f"not one question fits in {seconds:g} s")
    return " ".join(texts), bytes(pcm) + bytes(limit - len(pcm))


async def speak_long_turn(seconds: float, speech: Mapping[str, bytes],
                          tts: Any = None) -> LongTurn:
    """A long spoken turn (``long_turn``) of the questions in order, from the first again
    when they run out; each spoken once (``speech`` holds those already spoken)."""
    tts = tts or piper_tts()
    spoken, clips = dict(speech), []
    # Every clip lasts at least its trailing silence: this many are always enough.
    for question in cycle(QUESTIONS, int(seconds * 1000 / TRAILING_SILENCE_MS) + 1):
        if question not in spoken:
            spoken |= await speak([question], tts)
        clips.append((question, spoken[question]))
        if sum(len(pcm) for _, pcm in clips) > 2 * seconds * MIC_RATE:
            break
    return long_turn(clips, seconds)


# --- the client ----------------------------------------------------------------------------


async def read_turn(ws: ClientConnection, capture: Capture) -> None:
    """Read frames until ``done``, or an error that ends the turn before any stream."""
    for _ in range(MAX_FRAMES):
        frame = await ws.recv()
        at = now_ms()
        capture.seq += 1
        if isinstance(frame, bytes):
            if capture.first_audio_at is None:
                capture.first_audio_at, capture.first_audio_seq = at, capture.seq
            capture.frames += 1
            continue
        event = json.loads(frame)
        kind = event.get("type")
        if kind == "transcript":
            capture.transcript, capture.transcript_at = event, at
        elif kind == "session":
            capture.session_id = event.get("session_id", "")
        elif kind == "llm":
            capture.deltas.append(str(event.get("delta", "")))
            if capture.first_delta_at is None:
                capture.first_delta_at = at
            capture.last_delta_at, capture.last_delta_seq = at, capture.seq
        elif kind == "metrics":
            capture.metrics = {k: v for k, v in event.items() if k not in ("type", "session_id")}
        elif kind == "error":
            capture.errors.append(f"error:{event.get('code')}")
            # no_speech, a failed transcription, a fatal error: no `done` will come.
            if event.get("fatal") or not (capture.session_id or event.get("session_id")):
                return
        elif kind == "done":
            capture.status, capture.done_at = event.get("status", ""), at
            return
    capture.errors.append("too_many_frames")


Sender = Callable[[ClientConnection, asyncio.Task], Awaitable[float]]


async def converse(url: str, send: Sender, timeout_s: float) -> tuple[Capture, float | None]:
    """One turn on a fresh connection: ``send`` starts it (and returns the client time its
    measurements count from) while the frames are read; failures become error entries."""
    capture = Capture()
    t0: float | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async with open_socket(url, timeout_s) as ws:
                event = json.loads(await ws.recv())
                if event.get("type") != "conversation":
                    capture.errors.append(f"unexpected:{event.get('type')}")
                reader = asyncio.create_task(read_turn(ws, capture))
                try:
                    t0 = await send(ws, reader)
                    await reader
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
    except SOCKET_ERRORS as exc:
        capture.errors.append(socket_error(exc))
    return capture, t0


Phases = dict[str, Span]  # what a turn's server was doing when, on the client's clock
Row = TypeVar("Row", SpokenRow, TypedRow)


def phases(capture: Capture, sent_at: float | None, *, spoken: bool) -> Phases:
    """A turn's spans: ``transcribing`` (spoken: ``audio_end`` sent to the transcript) and
    ``answering`` (the answer's start, the transcript or ``user_text`` sent, to ``done``)."""
    spans: Phases = {}
    answer_from = sent_at
    if spoken:
        heard = capture.transcript_at
        if sent_at is not None and heard is not None:
            spans["transcribing"] = (sent_at, heard)
        answer_from = heard if (capture.transcript or {}).get("text") else None
    if answer_from is not None:
        spans["answering"] = (answer_from, capture.done_at or now_ms())
    return spans


async def spoken_turn(url: str, index: int, question: str, speech: bytes,
                      timeout_s: float) -> tuple[SpokenRow, Phases]:
    """Say ``speech`` like a microphone would, then measure the answer."""
    frames = mic_frames(speech)

    async def send(ws: ClientConnection, reader: asyncio.Task) -> float:
        await ws.send(json.dumps({"type": "audio_start", "sample_rate": MIC_RATE, "tts": TTS}))
        start = time.perf_counter()
        for k, frame in enumerate(frames):
            # Real-time pacing: frame k is complete (k + 1) frames after the capture began.
            await asyncio.sleep(max(0.0, start + (k + 1) * FRAME_MS / 1000 - time.perf_counter()))
            if reader.done():  # the server ended the turn early (an error)
                return now_ms()
            await ws.send(frame)
        await ws.send(json.dumps({"type": "audio_end"}))
        return now_ms()

    capture, end_sent = await converse(url, send, timeout_s)
    row = spoken_row(index, question, len(speech) / 2 / MIC_RATE * 1000, capture, end_sent)
    return row, phases(capture, end_sent, spoken=True)


async def typed_turn(url: str, index: int, prompt: str,
                     timeout_s: float) -> tuple[TypedRow, Phases]:
    """Type ``prompt`` and watch the answer's text and audio."""

    async def send(ws: ClientConnection, reader: asyncio.Task) -> float:
        sent = now_ms()
        await ws.send(json.dumps({"type": "user_text", "text": prompt, "tts": TTS}))
        return sent

    capture, sent_at = await converse(url, send, timeout_s)
    return typed_row(index, prompt, capture, sent_at), phases(capture, sent_at, spoken=False)


PROBE_PHASES = {  # the probe's spans by what the server was doing (see ``phases``)
    "transcribing": "Whisper transcribes a spoken turn",
    "answering": "the LLM and Piper answer",
    "long_turn_transcribing": "Whisper transcribes the long turn",
    "long_turn_answering": "the long turn is answered",
}


@dataclass
class BenchmarkRun:
    """Every turn of a run, its summaries and the probe's round trips."""

    spoken: list[SpokenRow]
    typed: list[TypedRow]
    warmup: list[TypedRow]
    wall_s: float
    long_turn: SpokenRow | None = None
    probe: dict = field(default_factory=dict)  # ``LoopProbe.report`` over the counted turns
    probe_by_phase: dict[str, dict] = field(default_factory=dict)  # PROBE_PHASES: stats

    @property
    def spoken_summary(self) -> dict:
        """See ``summarize_spoken``."""
        return summarize_spoken(self.spoken)

    @property
    def typed_summary(self) -> dict:
        """See ``summarize_typed``."""
        return summarize_typed(self.typed)

    @property
    def failed(self) -> int:
        """Counted turns that did not complete cleanly."""
        extra = [self.long_turn] if self.long_turn else []
        return sum(not r.ok for r in [*self.spoken, *extra, *self.typed])


async def run_benchmark(base_url: str, *, speech: Mapping[str, bytes],
                        questions: Sequence[str], prompts: Sequence[str], warmup: int = 1,
                        timeout_s: float = 60.0, long: LongTurn | None = None,
                        progress: Callable[[str], None] | None = None) -> BenchmarkRun:
    """Warm-up typed turns (not counted), then the spoken turns, the ``long`` spoken turn
    if any, then the typed ones, one at a time, each on its own connection, while a
    ``LoopProbe`` pings the server; ``progress(line)`` after each turn."""
    url = base_url.rstrip("/") + ENDPOINT_PATHS["voicebot"]
    say = progress or (lambda line: None)
    started = time.perf_counter()
    warm = []
    for i, prompt in enumerate(cycle(PROMPTS, warmup)):
        warm.append((await typed_turn(url, -1 - i, prompt, timeout_s))[0])
        say(f"warm-up {i + 1}/{warmup}: {warm[-1].status}")
    probe = LoopProbe(url, timeout_s=timeout_s)
    await probe.start()
    turns: list[Span] = []
    spans: dict[str, list[Span]] = {}

    async def timed(turn: Awaitable[tuple[Row, Phases]], prefix: str = "") -> Row:
        at = now_ms()
        row, turn_phases = await turn
        turns.append((at, now_ms()))
        for name, span in turn_phases.items():
            spans.setdefault(prefix + name, []).append(span)
        return row

    spoken = []
    for i, question in enumerate(questions):
        row = await timed(spoken_turn(url, i, question, speech[question], timeout_s))
        spoken.append(row)
        say(f"spoken {i + 1}/{len(questions)}: voice-to-voice "
            f"{_ms(row.voice_to_voice_ms)} ms, {row.status}")
    long_row = None
    if long:
        text, pcm = long
        seconds = len(pcm) / 2 / MIC_RATE
        long_row = await timed(spoken_turn(url, 0, text, pcm, timeout_s + seconds),
                               "long_turn_")
        say(f"long turn ({seconds:g} s): transcribed in {_ms(long_row.stt_ms)} ms, "
            f"voice-to-voice {_ms(long_row.voice_to_voice_ms)} ms, {long_row.status}")
    typed = []
    for i, prompt in enumerate(prompts):
        typed.append(await timed(typed_turn(url, i, prompt, timeout_s)))
        say(f"typed {i + 1}/{len(prompts)}: {typed[-1].sentences} sentences, "
            f"audio before last delta: {typed[-1].audio_before_last_delta}, {typed[-1].status}")
    await probe.stop()
    return BenchmarkRun(spoken, typed, warm, round(time.perf_counter() - started, 3),
                        long_turn=long_row, probe=probe.report(turns),
                        probe_by_phase={name: stats(probe.round_trips(spans[name]))
                                        for name in PROBE_PHASES if name in spans})


def probe_lines(run: BenchmarkRun) -> str:
    """The probe's round trips during the turns, then while the server did each thing."""
    lines = [probe_line(run.probe["server_probe_ms"], run.probe["server_probe"]["errors"])]
    lines += [probe_line(round_trips, label=f"probe while {PROBE_PHASES[name]}")
              for name, round_trips in run.probe_by_phase.items()]
    return "\n".join(lines)


def long_turn_line(row: SpokenRow) -> str:
    """The long spoken turn in one line."""
    return (f"long spoken turn ({row.speech_ms / 1000:g} s, {len(row.question.split())} words):"
            f" transcribed in {_ms(row.stt_ms)} ms, voice-to-voice "
            f"{_ms(row.voice_to_voice_ms)} ms, {_ms(row.transcript_word_errors)} word "
            f"errors, {row.status}" + (f"; errors: {', '.join(row.errors)}" if row.errors
                                      else ""))


def document(run: BenchmarkRun, *, config: dict, machine: dict, env: dict | None,
             server_log: str = "") -> dict:
    """The JSON result of a run."""
    result = {
        "config": config,
        "machine": machine,
        "server_env": env,
        "spoken": {"summary": run.spoken_summary, "turns": [asdict(r) for r in run.spoken]},
        "typed": {"summary": run.typed_summary, "turns": [asdict(r) for r in run.typed]},
        "long_turn": asdict(run.long_turn) if run.long_turn else None,
        "warmup": [asdict(r) for r in run.warmup],
        **run.probe,
        "server_probe_by_phase_ms": run.probe_by_phase,
        "failed_turns": run.failed,
        "wall_s": run.wall_s,
        "finished_at": datetime.now(UTC).isoformat(),
    }
    if server_log:
        result["server_log_tail"] = server_log.splitlines()
    return result
