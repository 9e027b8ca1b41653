"""Turn-taking on the plain PCM endpoint, measured like a caller (``manage.py
turn_benchmark``).

A :class:`Phone` streams its microphone in real time (20 ms frames: silence, or what it is
told to say) and times everything it receives on its own clock. Three measurements, each
turn on a fresh connection, with speech made by Piper:

- **response**: a question, then silence; end of the user's speech (its last voiced
  sample, as sent) to the answer's first audio frame received. Target p50 <= 1 s.
- **barge-in**: a question whose answer runs long; 1.5 s into the answer the caller says
  something else. Stop time: the start of that speech (its first voiced sample, as sent)
  to the last frame of the first answer received. Target p90 <= 300 ms; each barge-in
  must be cleared and answered.
- **false turns**: 10 non-speech clips (noise, tones, hum, clicks, cough-like bursts) on a
  silent line, and the bot's own answer fed back into the microphone as it plays (no echo
  cancellation): user turns counted. Target 0.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from streaming.stats import percentile
from voicebot import voicebench as vb

RATE = 16000
FRAME_BYTES = RATE // 50 * 2  # 20 ms
PATH = "/api/voicebot/pcm"
VOICED = 600  # |sample| above this is voice, for the onset and end of a clip
QUESTIONS = ("What is the capital of France?", "How many legs does a spider have?",
             "What color is the sky on a clear day?", "Who wrote Romeo and Juliet?",
             "What is two plus two?")
LONG_QUESTION = "Tell me a long story about a ship on the sea."
INTERRUPTION = "Stop. What time is it?"
TARGETS = {"response_p50_ms": 1000.0, "barge_in_stop_p90_ms": 300.0, "false_turns": 0}


def silence(ms: float) -> bytes:
    return b"\0\0" * int(RATE * ms / 1000)


def voiced_span_ms(pcm: bytes) -> tuple[float, float]:
    """Where the voice of a clip starts and ends, in ms from its start."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > VOICED)
    if not len(loud):
        return 0.0, 0.0
    return float(loud[0]) / RATE * 1000, float(loud[-1] + 1) / RATE * 1000


def non_speech_clips(seconds: float = 2.0) -> dict[str, bytes]:
    """Ten sounds that are not speech, at 16 kHz."""
    rng = np.random.default_rng(7)
    n = int(RATE * seconds)
    t = np.arange(n) / RATE

    def pcm(x: np.ndarray) -> bytes:
        return np.clip(x, -32768, 32767).astype("<i2").tobytes()

    white = rng.normal(0, 1, n)
    pink = np.cumsum(rng.normal(0, 1, n))
    pink = (pink - np.convolve(pink, np.ones(400) / 400, mode="same")) / 20
    bursts = np.zeros(n)
    for start in range(0, n - 1600, 4000):  # a cough-like burst every 250 ms
        bursts[start:start + 1600] = rng.normal(0, 1, 1600) * np.hanning(1600) * 14000
    clicks = np.zeros(n)
    clicks[:: RATE // 8] = 20000  # keyboard-like taps, 8 a second
    return {
        "white noise (quiet)": pcm(white * 800), "white noise (loud)": pcm(white * 6000),
        "pink noise": pcm(pink * 3000), "tone 220 Hz": pcm(np.sin(2 * np.pi * 220 * t) * 9000),
        "tone 1 kHz": pcm(np.sin(2 * np.pi * 1000 * t) * 9000),
        "mains hum 60 Hz": pcm(np.sin(2 * np.pi * 60 * t) * 12000),
        "coughs": pcm(bursts), "clicks": pcm(clicks),
        "chirp": pcm(np.sin(2 * np.pi * (200 + 900 * t / seconds) * t) * 8000),
        "breath": pcm(np.convolve(white, np.ones(40) / 40, mode="same") * 2500
                      * (0.5 + 0.5 * np.sin(2 * np.pi * 0.8 * t))),
    }


@dataclass
class Received:
    """One frame the phone got: an event, or audio (``bytes``), at a client time."""

    at: float
    event: dict = field(default_factory=dict)
    audio: bytes = b""

    @property
    def kind(self) -> str:
        return "audio" if self.audio else self.event.get("type", "")


class Phone:
    """A caller on the PCM endpoint over any transport: ``send`` a text or binary frame,
    ``receive`` the next one. Its microphone sends 20 ms frames in real time."""

    def __init__(self, send: Callable[[str | bytes], Awaitable[None]],
                 receive: Callable[[], Awaitable[str | bytes]], *, rate: int = RATE) -> None:
        self._send, self._receive = send, receive
        self.rate = rate
        self.received: list[Received] = []
        self.said: dict[str, tuple[float, float]] = {}  # mark -> (first, last frame sent at)
        self._queue: list[tuple[bytes, str | None]] = []
        self._arrived = asyncio.Event()
        self._quiet = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Say the rate, then run the microphone and the receiver."""
        await self._send(json.dumps({"type": "start", "sample_rate": self.rate}))
        self._tasks = [asyncio.create_task(self._microphone()),
                       asyncio.create_task(self._receiver())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def say(self, pcm: bytes, mark: str | None = None) -> None:
        """Speak ``pcm`` after what is queued; ``mark`` records when it was sent."""
        self._quiet.clear()
        self._queue.append((pcm, mark))

    async def quiet(self, timeout: float = 120) -> None:
        """Wait until everything queued has been said."""
        await asyncio.wait_for(self._quiet.wait(), timeout)

    async def until(self, check: Callable[[list[Received]], bool], timeout: float = 120) -> None:
        """Wait until ``check(received)`` holds (re-checked as frames arrive)."""
        async with asyncio.timeout(timeout):
            while not check(self.received):
                self._arrived.clear()
                await self._arrived.wait()

    async def send_text(self, text: str) -> None:
        """A text frame, as is."""
        await self._send(text)

    def audio(self) -> bytes:
        """All the audio received."""
        return b"".join(r.audio for r in self.received)

    def audio_ms(self) -> float:
        """How long the audio received plays (its last frame has played by this long
        after the phone got its first)."""
        return sum(len(r.audio) for r in self.received) / 2 / self.rate * 1000

    def events(self, kind: str, **match: object) -> list[Received]:
        """The events of ``kind`` whose fields have these values."""
        return [r for r in self.received if r.kind == kind
                and all(r.event.get(k) == v for k, v in match.items())]

    def transcripts(self, role: str, *, final: bool = True) -> list[str]:
        """The texts of ``role``'s final (or partial) transcripts."""
        return [r.event["text"] for r in self.events("transcript", role=role, final=final)]

    def kinds(self) -> list[str]:
        """What was received, in order (``audio`` for an audio frame)."""
        return [r.kind for r in self.received]

    async def _microphone(self) -> None:
        frame_bytes = self.rate // 50 * 2
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        current, mark, offset = b"", None, 0
        while True:
            if offset >= len(current) and self._queue:
                current, mark = self._queue.pop(0)
                offset = 0
            frame = current[offset:offset + frame_bytes]
            offset += frame_bytes
            now = time.monotonic()
            if mark is not None and frame:
                first = self.said.get(mark, (now, now))[0]
                self.said[mark] = (first, now)
            if offset >= len(current) and not self._queue:
                self._quiet.set()
            await self._send(frame.ljust(frame_bytes, b"\0"))
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * 0.02 - loop.time()))

    async def _receiver(self) -> None:
        while True:
            frame = await self._receive()
            at = time.monotonic()
            if isinstance(frame, bytes):
                self.received.append(Received(at, audio=frame))
            else:
                self.received.append(Received(at, event=json.loads(frame)))
            self._arrived.set()


def finals(role: str, count: int) -> Callable[[list[Received]], bool]:
    """``count`` final transcripts of ``role`` have arrived."""
    return lambda received: sum(
        r.kind == "transcript" and r.event.get("role") == role and r.event.get("final")
        for r in received) >= count


Dial = Callable[[], Awaitable[tuple[Phone, Callable[[], Awaitable[None]]]]]


def websocket_dial(url: str) -> Dial:
    """Connect phones to ``url`` (a running server) over a real WebSocket."""
    from websockets.asyncio.client import connect

    async def dial() -> tuple[Phone, Callable[[], Awaitable[None]]]:
        ws = await connect(url + PATH, origin=url.replace("ws", "http", 1), max_size=None)
        phone = Phone(ws.send, ws.recv)
        await phone.start()

        async def hang_up() -> None:
            await phone.stop()
            await ws.close()
        return phone, hang_up
    return dial


@dataclass
class Row:
    """One turn's measurement (``None``: it did not happen)."""

    case: str
    ms: float | None = None
    user_turns: int = 0
    cleared: bool = False
    error: str = ""
    heard: list[str] = field(default_factory=list)  # the false turns' words


async def response_turn(dial: Dial, question: str, speech: bytes) -> Row:
    """A question on a quiet line: end of speech to the answer's first audio."""
    phone, hang_up = await dial()
    try:
        phone.say(silence(300))
        phone.say(speech, mark="question")
        await phone.until(lambda r: any(x.kind == "audio" for x in r), timeout=60)
        first_audio = next(r.at for r in phone.received if r.kind == "audio")
        speech_end = phone.said["question"][0] + voiced_span_ms(speech)[1] / 1000
        return Row(question, ms=round((first_audio - speech_end) * 1000, 1),
                   user_turns=len(phone.transcripts("user")))
    except TimeoutError:
        return Row(question, error="no answer")
    finally:
        await hang_up()


async def barge_in_turn(dial: Dial, question: bytes, interruption: bytes) -> Row:
    """Speech 1.5 s into a long answer: its start to the answer's last frame received."""
    phone, hang_up = await dial()
    try:
        phone.say(silence(300) + question)
        try:
            await phone.until(lambda r: sum(len(x.audio) for x in r) >= RATE * 2 * 1.5,
                              timeout=60)
        except TimeoutError:
            return Row("barge-in", error="no answer to speak over",
                       heard=phone.transcripts("user"))
        phone.say(interruption, mark="interruption")
        await phone.until(finals("user", 2), timeout=60)
        onset = phone.said["interruption"][0] + voiced_span_ms(interruption)[0] / 1000
        clear = next((i for i, r in enumerate(phone.received) if r.kind == "clear"), None)
        before = phone.received[:clear] if clear is not None else []
        last_frame = max((r.at for r in before if r.kind == "audio"), default=None)
        ms = None if last_frame is None else round(max(0.0, last_frame - onset) * 1000, 1)
        return Row("barge-in", ms=ms, cleared=clear is not None,
                   user_turns=len(phone.transcripts("user")))
    except TimeoutError:
        return Row("barge-in", error="the interruption was not taken",
                   cleared=bool(phone.events("clear")), heard=phone.transcripts("user"))
    finally:
        await hang_up()


async def noise_turn(dial: Dial, name: str, clip: bytes) -> Row:
    """A non-speech clip on a quiet line: any user turn is a false one."""
    phone, hang_up = await dial()
    try:
        phone.say(silence(300) + clip + silence(2500))
        await phone.quiet()
        heard = phone.transcripts("user")
        return Row(name, user_turns=len(heard), heard=heard)
    finally:
        await hang_up()


async def echo_turn(dial: Dial, question: bytes, delay_ms: float = 150.0,
                    gain: float = 0.6) -> Row:
    """The bot's answer fed back into the microphone as it plays (a speakerphone with no
    echo cancellation): any user turn after the question is a false one."""
    phone, hang_up = await dial()
    try:
        phone.say(silence(300) + question)
        await phone.until(lambda r: any(x.kind == "audio" for x in r), timeout=60)
        fed = [0]  # bytes of the answer fed back so far
        done = finals("agent", 1)
        while not done(phone.received):
            await phone.until(lambda r: len(phone.audio()) > fed[0] or done(r), timeout=60)
            audio = phone.audio()
            chunk = (np.frombuffer(audio[fed[0]:], dtype="<i2") * gain).astype("<i2").tobytes()
            phone.say((silence(delay_ms) if fed[0] == 0 else b"") + chunk)
            fed[0] = len(audio)
        phone.say(silence(2500))
        await phone.quiet()
        heard = phone.transcripts("user")[1:]  # after the question
        return Row("own voice fed back", cleared=bool(phone.events("clear")),
                   user_turns=len(heard), heard=heard)
    except TimeoutError:
        return Row("own voice fed back", error="no answer")
    finally:
        await hang_up()


def summary(rows: Iterable[Row]) -> dict:
    """p50/p90 of the rows' times, and the failures."""
    rows = list(rows)
    times = [r.ms for r in rows if r.ms is not None]
    return {"n": len(rows), "p50_ms": percentile(times, 50), "p90_ms": percentile(times, 90),
            "failed": sum(bool(r.error) for r in rows)}


async def run(dial: Dial, speak: Callable[[Iterable[str]], Awaitable[dict[str, bytes]]], *,
              responses: int, barge_ins: int,
              progress: Callable[[str], None] = lambda line: None) -> dict:
    """Every measurement, one turn at a time; the result document."""
    questions = vb.cycle(QUESTIONS, responses)
    speech = await speak([*questions, LONG_QUESTION, INTERRUPTION])
    result: dict[str, list[Row]] = {"response": [], "barge_in": [], "false_turns": []}
    for question in questions:
        result["response"].append(row := await response_turn(dial, question, speech[question]))
        progress(f"response: {row}")
    for _ in range(barge_ins):
        row = await barge_in_turn(dial, speech[LONG_QUESTION], speech[INTERRUPTION])
        result["barge_in"].append(row)
        progress(f"barge-in: {row}")
    for name, clip in non_speech_clips().items():
        result["false_turns"].append(row := await noise_turn(dial, name, clip))
        progress(f"false turns: {row}")
    result["false_turns"].append(row := await echo_turn(dial, speech[LONG_QUESTION]))
    progress(f"false turns: {row}")
    response, barge = summary(result["response"]), summary(result["barge_in"])
    false_turns = sum(r.user_turns for r in result["false_turns"])
    barge_ok = all(r.cleared and r.user_turns == 2 for r in result["barge_in"])
    return {
        "rows": {k: [asdict(r) for r in v] for k, v in result.items()},
        "response": response, "barge_in": barge | {"all_cleared_and_answered": barge_ok},
        "false_turns": false_turns, "targets": TARGETS,
        "met": {
            "response_p50": response["p50_ms"] is not None
            and response["p50_ms"] <= TARGETS["response_p50_ms"],
            "barge_in_stop_p90": barge["p90_ms"] is not None and barge_ok
            and barge["p90_ms"] <= TARGETS["barge_in_stop_p90_ms"],
            "false_turns": false_turns == TARGETS["false_turns"],
        },
    }
