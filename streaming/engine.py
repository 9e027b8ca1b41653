"""The parallel streaming pipeline: text deltas in; segments, audio and progress out.

Plain asyncio, no Django. Three tasks per stream:

- the **producer** reads text deltas, feeds the segmenter and queues each cut segment;
- the **scheduler** starts each segment's synthesis (a task of its own) as soon as the
  look-ahead has room: at most ``lookahead_segments`` segments are synthesized ahead of the
  one being sent, and each one in flight holds at most ``lookahead_ms`` of audio the sender
  has not taken (it reads on as the sender takes it), so work ahead stays bounded.
  Each request carries, in :data:`streaming.scheduling.need_by`, when the listener will
  need that audio, so local engines can serve the most urgent request first;
- the **sender** takes the segments in order and sends their frames as they arrive,
  paced to stay at most ``max_lead_ms`` ahead of a listener that reports playback.

So segment N+1 is synthesized while segment N is still being synthesized or played, and
pacing never holds a provider's stream. Every step is stamped on a monotonic timeline,
from which the metrics derive (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field

from streaming.audio import WholeSamples
from streaming.captions import as_rows, estimate_words, onto_text, words_heard
from streaming.protocols import (
    TTS,
    ProviderError,
    TruncatedSpeech,
    Word,
    logged_error,
    stream_marker,
)
from streaming.scheduling import need_by
from streaming.segmenter import Segmenter

Event = dict | bytes
Emit = Callable[[Event], Awaitable[None]]

COMPLETED, CANCELLED, FAILED = "completed", "cancelled", "failed"
SPEECH_MS_PER_CHAR = 55.0  # audio expected per character before a voice has shown its pace


@dataclass(frozen=True)
class EngineConfig:
    """Tunables of one stream (the consumer fills them from settings)."""

    queue_size: int = 8
    frame_ms: int = 100
    max_lead_ms: float = 2000.0
    lookahead_segments: int = 2  # segments synthesized ahead of the one being sent
    lookahead_ms: float = 1000.0  # most unsent audio each segment in flight holds
    progress_interval_ms: float = 100.0
    first_min_words: int = 4
    first_max_words: int = 5  # no clause boundary came: the first cut after this word
    sequential: bool = False  # the naive design (benchmarks): synthesize after all text is in

    @classmethod
    def from_settings(cls, conf: Mapping[str, object]) -> EngineConfig:
        """The tunables from ``settings.STREAMING``."""
        return cls(queue_size=conf["QUEUE_SIZE"], frame_ms=conf["FRAME_MS"],
                   max_lead_ms=conf["MAX_LEAD_MS"],
                   lookahead_segments=conf["LOOKAHEAD_SEGMENTS"],
                   lookahead_ms=conf["LOOKAHEAD_MS"],
                   progress_interval_ms=conf["PROGRESS_INTERVAL_MS"],
                   first_max_words=conf["FIRST_MAX_WORDS"],
                   sequential=conf.get("SEQUENTIAL", False))


@dataclass
class SegmentTiming:
    """One segment: its text, what TTS was asked to say, and its timeline (ms)."""

    index: int
    text: str
    spoken: str
    cut_ms: float
    request_ms: float | None = None
    first_byte_ms: float | None = None
    end_ms: float | None = None
    bytes: int = 0
    audio_offset_ms: float = 0.0  # where this segment's audio starts in the stream
    words: list[list] | None = None  # [text, start_ms, end_ms] of each word, in its audio

    def audio_ms(self, sample_rate: int) -> float:
        """Duration of the audio sent for this segment."""
        return self.bytes / 2 / sample_rate * 1000


@dataclass
class StreamResult:
    """Everything a finished stream leaves behind for the client and the database."""

    status: str
    metrics: dict
    segments: list[SegmentTiming]
    timeline: list[list]
    input_text: str
    error: str = ""
    error_code: str = ""

    @property
    def spoken_text(self) -> str:
        """The text of every segment that reached the TTS, in order."""
        return " ".join(seg.text for seg in self.segments)

    def heard_text(self, played_ms: float, sample_rate: int) -> str:
        """The part of the output a listener heard after ``played_ms`` of playback.

        Whole segments played to their end are kept; the segment playing at the cut keeps
        the words more than half played by its word timings (or, without them, the share
        of its words matching the share of its audio that was played).
        """
        heard: list[str] = []
        for seg in self.segments:
            duration = seg.audio_ms(sample_rate)
            if duration <= 0 or played_ms <= seg.audio_offset_ms:
                break
            if played_ms >= seg.audio_offset_ms + duration:
                heard.append(seg.text)
                continue
            words = seg.text.split()
            into = played_ms - seg.audio_offset_ms
            if seg.words is not None:
                kept = words[: words_heard([Word(*row) for row in seg.words], into)]
            else:
                kept = words[: round(len(words) * into / duration)]
            if kept:
                heard.append(" ".join(kept))
            break
        return " ".join(heard)


class Timeline:
    """Events stamped in milliseconds since the stream's start, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._start = clock()
        self.events: list[list] = []

    def now_ms(self) -> float:
        """Milliseconds since the start."""
        return (self.clock() - self._start) * 1000

    def mark(self, name: str, index: int | None = None, **data: object) -> float:
        """Stamp an event; returns its time."""
        t = round(self.now_ms(), 3)
        self.events.append([t, name, index, data] if data else [t, name, index])
        return t

    def first(self, name: str) -> float | None:
        """Time of the first event with this name."""
        return next((e[0] for e in self.events if e[1] == name), None)


class InputIdle(Exception):
    """Streamed input stopped coming before its end: the stream ends as failed."""

    code = "input_idle"


class TextInput:
    """Text deltas pushed by a client (input streaming), read by the engine as they come.

    With ``idle_timeout_s``, a wait of that long for the next delta (or the end) ends the
    stream (``InputIdle``), so a client that opens a stream and sends nothing holds nothing.
    """

    def __init__(self, idle_timeout_s: float | None = None) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.idle_timeout_s = idle_timeout_s
        self.closed = False
        self.chars = 0

    def push(self, delta: str) -> None:
        """Add a delta; the stream must still be open."""
        if self.closed:
            raise RuntimeError("input is closed")
        self.chars += len(delta)
        self._queue.put_nowait(delta)

    def close(self) -> None:
        """No more input: the engine flushes the segmenter."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        try:
            async with asyncio.timeout(self.idle_timeout_s):
                item = await self._queue.get()
        except TimeoutError:
            raise InputIdle(f"no text came for {self.idle_timeout_s:g} s; the stream was "
                            "ended (send text deltas, then end)") from None
        if item is None:
            raise StopAsyncIteration
        return item


async def text_once(text: str) -> AsyncIterator[str]:
    """The whole input at once, as a one-delta stream."""
    yield text


class PcmFramer:
    """Cuts provider chunks into whole-sample frames of at most ``frame_bytes``."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = max(2, frame_bytes - frame_bytes % 2)
        self._whole = WholeSamples()

    def split(self, chunk: bytes) -> list[bytes]:
        """Frames ready to send now; an odd trailing byte waits for the next chunk."""
        data = self._whole.take(chunk)
        step = self.frame_bytes
        return [data[i : i + step] for i in range(0, len(data), step)]


class SegmentAudio:
    """One segment's synthesized frames, held until the sender takes them, in order.

    Its synthesis keeps at most ``hold_bytes`` of audio the sender has not taken (plus the
    chunk that crossed the line): ``room()`` waits until the sender has taken half of it.
    """

    def __init__(self, framer: PcmFramer, chars: int, hold_bytes: int) -> None:
        self.frames: deque[bytes] = deque()
        self.chars = chars  # length of the text being spoken
        self.received = 0  # bytes synthesized for this segment
        self.held = 0  # bytes synthesized and not taken by the sender
        self.hold_bytes = hold_bytes
        self.words: list[Word] = []  # timed by the TTS, in ms from the segment's start
        self.done = False
        self.announced = False  # the sender has announced this segment
        self.taken = False  # the sender has taken a frame of this segment
        self.error: Exception | None = None
        self._framer = framer
        self._sender: asyncio.Future | None = None  # the sender, waiting for frames
        self._reader: asyncio.Future | None = None  # the synthesis, waiting for room

    def split(self, chunk: bytes, sample_rate: int) -> list[bytes]:
        """A provider chunk as whole-sample frames (counted as received); the timings of
        the words it says (a ``SpeechChunk``) are kept from where it starts."""
        at = self.received / 2 / sample_rate * 1000
        self.words.extend(Word(w.text, at + w.start_ms, at + w.end_ms)
                          for w in getattr(chunk, "words", ()))
        frames = self._framer.split(chunk)
        self.received += sum(len(frame) for frame in frames)
        return frames

    def put(self, frames: list[bytes]) -> int:
        """Hold frames for the sender; returns the bytes added."""
        self.frames.extend(frames)
        _wake(self._sender)
        added = sum(len(frame) for frame in frames)
        self.held += added
        return added

    @property
    def sender_waiting(self) -> bool:
        """The sender has taken every frame and waits for the next one."""
        return self._sender is not None and not self._sender.done()

    async def room(self) -> None:
        """Wait while the audio held is at its limit (until the sender has taken half)."""
        if self.held >= self.hold_bytes:
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader

    def clear(self) -> int:
        """Drop every frame held (for a fresh start); returns the bytes dropped."""
        dropped = self.held
        self.frames.clear()
        self.words.clear()
        self.received -= dropped
        self.held = 0
        return dropped

    def close(self, error: Exception | None = None) -> None:
        """Synthesis ended (with ``error`` if it failed)."""
        self.done, self.error = True, error
        _wake(self._sender)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The frames as they come; raises the synthesis error after the last good one."""
        while True:
            while self.frames:
                self.taken = True
                frame = self.frames.popleft()
                self.held -= len(frame)
                if self.held <= self.hold_bytes // 2:
                    _wake(self._reader)
                yield frame
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            self._sender = asyncio.get_running_loop().create_future()
            await self._sender


def _wake(waiter: asyncio.Future | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def derive_metrics(timeline: Timeline, segments: list[SegmentTiming], *, sample_rate: int,
                   bytes_sent: int, from_llm: bool) -> dict:
    """The metrics (docs/ARCHITECTURE.md), in milliseconds, from the timeline."""
    first = next((s for s in segments if s.first_byte_ms is not None), None)
    ttfa = timeline.first("first_audio")
    text_first = timeline.first("text_first")
    text_done = timeline.first("text_done")
    metrics: dict[str, float | int | None] = {
        "first_segment_ms": first.cut_ms if first else None,
        "tts_ttfb_ms": _diff(first.first_byte_ms, first.request_ms) if first else None,
        "ttfa_ms": ttfa,
        "text_done_ms": text_done,
        "overlap_ms": _diff(text_done, ttfa),
        "total_ms": round(timeline.now_ms(), 3),
        "audio_ms": round(bytes_sent / 2 / sample_rate * 1000, 3),
        "segments": len(segments),
        "bytes": bytes_sent,
    }
    if from_llm:
        metrics["llm_ttft_ms"] = text_first
        metrics["llm_queue_ms"] = _diff(timeline.first("llm_started"),
                                        timeline.first("llm_queued"))
    if ttfa is not None and first is not None and metrics["tts_ttfb_ms"] is not None:
        metrics["overhead_ms"] = round(ttfa - first.cut_ms - metrics["tts_ttfb_ms"], 3)
    else:
        metrics["overhead_ms"] = None
    return metrics


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


@dataclass
class _Progress:
    text_chars: int = 0
    text_done: bool = False
    synth_chars: int = 0
    last_ms: float = field(default=-1e9)


class StreamEngine:
    """One stream: producer, scheduler, per-segment synthesis and sender tasks.

    ``run()`` returns a :class:`StreamResult` whatever happens; ``stop()`` stops every
    task at once; ``played()`` takes the listener's position for flow control; ``pause()``
    holds the sending (a listener who may be barging in) and ``resume()`` goes on, from
    where the listener was if it dropped the audio it had queued. The last
    ``2 * max_lead_ms`` of audio sent is kept for that.
    """

    def __init__(
        self,
        tts: TTS,
        emit: Emit,
        *,
        voice: str | None = None,
        config: EngineConfig | None = None,
        speakable: Callable[[str], str] | None = None,
        llm_text: bool = False,
        echo_deltas_as: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tts = tts
        self.voice = voice
        self.config = config or EngineConfig()
        self.sample_rate = int(tts.sample_rate)
        self.timeline = Timeline(clock)
        self.segments: list[SegmentTiming] = []
        self.result: StreamResult | None = None
        self._emit = emit
        self._speakable = speakable
        self._llm_text = llm_text  # an LLM writes the text: metrics get llm_ttft_ms
        self._echo_deltas_as = echo_deltas_as  # each delta also goes out as this event type
        self._segmenter = Segmenter(first_min_words=self.config.first_min_words,
                                    first_max_words=self.config.first_max_words)
        self._frame_bytes = int(self.sample_rate * 2 * self.config.frame_ms / 1000)
        self._progress = _Progress()
        self._input: list[str] = []
        self._bytes_sent = 0
        self._bytes_synthesized = 0
        self._unsent = 0  # segments whose synthesis started and whose audio is not all sent
        self._room = asyncio.Event()  # set when a segment has all been sent
        self._tasks: list[asyncio.Task] = []
        self._synthesis: set[asyncio.Task] = set()
        self._audio: list[SegmentAudio] = []  # per segment index, once its synthesis started
        self._cancel_requested = False
        self._first_audio_ms: float | None = None
        self._played_ms: float | None = None
        self._played_at = 0.0
        self._played_changed = asyncio.Event()
        self._paused: asyncio.Event | None = None  # set (and dropped) by resume()
        self._recent: deque[tuple[SegmentTiming, bytes]] = deque()  # sent, newest last
        self._recent_bytes = 0
        self._resend: list[tuple[SegmentTiming, bytes]] = []

    @property
    def audio_sent_ms(self) -> float:
        """Milliseconds of audio sent so far."""
        return self._ms(self._bytes_sent)

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio synthesized and not sent yet (the look-ahead's buffer)."""
        return self._ms(self._bytes_synthesized - self._bytes_sent)

    @property
    def synthesizing(self) -> int:
        """Segments being synthesized now."""
        return sum(not task.done() for task in self._synthesis)

    @property
    def listener_ms(self) -> float:
        """Where the listener is in the audio sent: its last report plus the time since,
        as it plays on in real time (all of it, when it reports nothing)."""
        if self._played_ms is None:
            return self.audio_sent_ms
        elapsed = self.timeline.now_ms() - self._played_at
        return min(self.audio_sent_ms, self._played_ms + elapsed)

    @property
    def paused(self) -> bool:
        """The sending is held (``pause()``)."""
        return self._paused is not None

    def _ms(self, pcm_bytes: int) -> float:
        return pcm_bytes / 2 / self.sample_rate * 1000

    async def run(self, deltas: AsyncIterable[str]) -> StreamResult:
        """Stream ``deltas`` through segmentation and TTS until done, cancelled or failed."""
        if self._cancel_requested:  # cancelled before it started
            return self._finish(CANCELLED, "", "")
        cut: asyncio.Queue[SegmentTiming | None] = asyncio.Queue(self.config.queue_size)
        started: asyncio.Queue[tuple[SegmentTiming, SegmentAudio] | None] = asyncio.Queue()
        marking = stream_marker.set(self.timeline.mark)  # providers stamp events; tasks copy it
        self._tasks = [
            asyncio.create_task(self._produce(deltas, cut), name="stream-producer"),
            asyncio.create_task(self._schedule(cut, started), name="stream-scheduler"),
            asyncio.create_task(self._send(started), name="stream-sender"),
        ]
        stream_marker.reset(marking)
        status, error, code = COMPLETED, "", ""
        try:
            for next_done in asyncio.as_completed(self._tasks):
                await next_done
            await self._send_progress(final=True)
        except asyncio.CancelledError:
            status = CANCELLED
            current = asyncio.current_task()
            if not self._cancel_requested or (current and current.cancelling()):
                self._finish(status, error, code)
                await self._stop_tasks()
                raise
        except Exception as exc:  # a provider (or the input) failed: end as failed
            status, code = FAILED, getattr(exc, "code", "provider_error")
            if isinstance(exc, ProviderError) or hasattr(exc, "code"):
                error = str(exc) or type(exc).__name__
            else:  # a bug: its text stays in the log
                error, code = logged_error("the stream failed", exc), "internal_error"
        finally:
            await self._stop_tasks()
        return self._finish(status, error, code)

    def stop(self) -> None:
        """Stop the stream now: every task is cancelled (``run()`` then stops each segment's
        synthesis and drops the buffered audio) and ``run()`` returns ``cancelled``."""
        self._cancel_requested = True
        for task in self._tasks:
            task.cancel()

    def pause(self) -> None:
        """Hold the sending before its next frame (synthesis goes on, within the
        look-ahead) until ``resume()``."""
        if self._paused is None:
            self._paused = asyncio.Event()
            self.timeline.mark("paused", sent_ms=round(self.audio_sent_ms, 1))

    def resume(self, from_ms: float | None = None) -> None:
        """Go on sending. ``from_ms``: the listener dropped what it had queued at that
        position, so the audio sent after it is sent again first (from the start of the
        frame that holds it) and pacing restarts there."""
        if self._paused is None:
            return
        if from_ms is not None:
            self._rewind(from_ms)
        self.timeline.mark("resumed", sent_ms=round(self.audio_sent_ms, 1))
        paused, self._paused = self._paused, None
        paused.set()

    def _rewind(self, from_ms: float) -> None:
        """Take back the frames that end after ``from_ms``, to be sent again."""
        while self._recent and self.audio_sent_ms > from_ms + 1e-6:
            segment, frame = self._recent.pop()
            self._recent_bytes -= len(frame)
            self._bytes_sent -= len(frame)
            segment.bytes -= len(frame)
            self._resend.insert(0, (segment, frame))
        self._played_ms = self.audio_sent_ms
        self._played_at = self.timeline.now_ms()

    def played(self, ms: float) -> None:
        """The listener has played ``ms`` of this stream's audio (flow control)."""
        if self._played_ms is None or ms >= self._played_ms:
            self._played_ms = float(ms)
            self._played_at = self.timeline.now_ms()
            self._played_changed.set()

    async def _stop_tasks(self) -> None:
        tasks = [*self._tasks, *self._synthesis]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _finish(self, status: str, error: str, code: str) -> StreamResult:
        if self.result is None:
            metrics = derive_metrics(
                self.timeline, self.segments, sample_rate=self.sample_rate,
                bytes_sent=self._bytes_sent, from_llm=self._llm_text,
            )
            self.result = StreamResult(
                status=status, metrics=metrics, segments=self.segments,
                timeline=self.timeline.events, input_text="".join(self._input),
                error=error, error_code=code,
            )
        return self.result

    async def _produce(self, deltas: AsyncIterable[str], queue: asyncio.Queue) -> None:
        progress = self._progress
        held: list[str] = []
        async for delta in deltas:
            if not delta:
                continue
            if not self._input:
                self.timeline.mark("text_first")
            self.timeline.mark("text_delta", chars=len(delta))  # for replays at recorded pace
            self._input.append(delta)
            progress.text_chars += len(delta)
            if self._echo_deltas_as:
                await self._emit({"type": self._echo_deltas_as, "delta": delta})
            held.extend(self._segmenter.feed(delta))
            if not self.config.sequential:
                await self._enqueue_all(held, queue)
        self.timeline.mark("text_done")
        progress.text_done = True
        held.extend(self._segmenter.flush())
        await self._enqueue_all(held, queue)
        await queue.put(None)

    async def _enqueue_all(self, texts: list[str], queue: asyncio.Queue) -> None:
        """Hand the cut segments to the synthesizer, in order, and forget them."""
        for text in texts:
            await self._enqueue(text, queue)
        texts.clear()

    async def _enqueue(self, text: str, queue: asyncio.Queue) -> None:
        spoken = self._speakable(text) if self._speakable else text
        if not spoken.strip():
            return
        index = len(self.segments)
        segment = SegmentTiming(index, text, spoken, self.timeline.mark("segment_cut", index))
        self.segments.append(segment)
        await queue.put(segment)

    async def _schedule(self, cut: asyncio.Queue, started: asyncio.Queue) -> None:
        """Start each segment's synthesis, in order, as soon as the look-ahead has room."""
        while (segment := await cut.get()) is not None:
            await self._wait_for_room()
            audio = SegmentAudio(PcmFramer(self._frame_bytes), len(segment.spoken),
                                 int(self.config.lookahead_ms * self.sample_rate * 2 / 1000))
            self._audio.append(audio)
            self._unsent += 1
            task = asyncio.create_task(self._synthesize(segment, audio),
                                       name=f"stream-tts-{segment.index}")
            self._synthesis.add(task)
            task.add_done_callback(self._synthesis.discard)
            started.put_nowait((segment, audio))
        started.put_nowait(None)

    async def _wait_for_room(self) -> None:
        """Wait while ``lookahead_segments`` segments are ahead of the one being sent."""
        while self._unsent > self.config.lookahead_segments:
            self._room.clear()
            await self._room.wait()

    def _need_by(self, index: int) -> float:
        """When the listener will reach segment ``index`` (clock seconds), as known now.

        The audio of every earlier segment comes first: what it has synthesized, or for
        one still in synthesis its length estimated from its text at the voice's pace
        seen so far. The listener plays on in real time from its last ``played`` report,
        or from the first audio sent.
        """
        done = [a for a in self._audio if a.done]
        done_chars = sum(a.chars for a in done)
        ms_per_char = (self._ms(sum(a.received for a in done)) / done_chars if done_chars
                       else SPEECH_MS_PER_CHAR)
        before = sum(self._ms(a.received) if a.done
                     else max(self._ms(a.received), a.chars * ms_per_char)
                     for a in self._audio[:index])
        now = self.timeline.now_ms()
        if self._played_ms is not None:
            listener = self._played_ms + now - self._played_at
        elif self._first_audio_ms is not None:
            listener = now - self._first_audio_ms
        else:
            listener = 0.0
        return self.timeline.clock() + max(0.0, before - listener) / 1000

    async def _synthesize(self, segment: SegmentTiming, audio: SegmentAudio) -> None:
        """Stream one segment through the TTS into its buffer (errors go in the buffer).

        If the TTS stops mid-segment and a fallback takes over (``TruncatedSpeech``), a
        segment none of whose frames the sender has taken is asked for again whole; one
        already playing keeps what it has (audio sent is never repeated).
        """
        need_by.set(self._need_by(segment.index))
        segment.request_ms = self.timeline.mark("tts_request", segment.index)
        while True:
            try:
                await self._synthesize_into(segment, audio)
                break
            except TruncatedSpeech:
                if audio.taken:
                    break
                self._bytes_synthesized -= audio.clear()
                self.timeline.mark("tts_retry", segment.index)
            except Exception as exc:  # raised by the sender when it reaches this segment
                audio.close(exc)
                return
        segment.end_ms = self.timeline.mark("tts_end", segment.index)
        segment.words = as_rows(self._timed_words(segment, audio))
        self._progress.synth_chars += len(segment.text)
        audio.close()
        await self._send_words(segment, audio)
        await self._send_progress(now=True)  # a finished segment is news: never held back

    def _timed_words(self, segment: SegmentTiming, audio: SegmentAudio) -> list[Word]:
        """The segment's words timed in its audio: by the TTS when it timed every word it
        said, else estimated from their length over the audio's length."""
        spoken = audio.words
        if [w.text for w in spoken] != segment.spoken.split():
            spoken = estimate_words(segment.spoken, self._ms(audio.received))
        return onto_text(segment.text, spoken)

    async def _send_words(self, segment: SegmentTiming, audio: SegmentAudio) -> None:
        """Send the segment's word timings once it is announced and they are known."""
        if audio.announced and segment.words is not None:
            await self._emit({"type": "words", "index": segment.index, "words": segment.words})

    async def _synthesize_into(self, segment: SegmentTiming, audio: SegmentAudio) -> None:
        speech = self.tts.synthesize(segment.spoken, voice=self.voice)
        async with contextlib.aclosing(speech) as chunks:
            async for chunk in chunks:
                if not chunk:
                    continue
                if segment.first_byte_ms is None:
                    segment.first_byte_ms = self.timeline.mark("tts_first_byte", segment.index)
                frames = audio.split(chunk, self.sample_rate)
                self._bytes_synthesized += sum(len(frame) for frame in frames)
                # The sender waits for this segment: send what the pacing allows now from
                # here, saving a task hop per frame; the rest waits for the sender (which also
                # holds it while paused, and sends the audio to send again first).
                while (frames and audio.sender_waiting and self._paused is None
                       and not self._resend and self._lead_left_ms() > 0):
                    audio.taken = True
                    await self._deliver(segment, frames.pop(0))
                if frames:
                    audio.put(frames)
                    await audio.room()

    async def _send(self, started: asyncio.Queue) -> None:
        """Send the segments in order: each one's announcement, then its frames."""
        while (item := await started.get()) is not None:
            segment, audio = item
            segment.audio_offset_ms = self.audio_sent_ms + self._ms(
                sum(len(frame) for _, frame in self._resend))  # where its first frame lands
            await self._emit({"type": "segment", "index": segment.index, "text": segment.text,
                              "audio_ms": round(segment.audio_offset_ms, 1)})
            audio.announced = True
            await self._send_words(segment, audio)
            async for frame in audio:
                await self._send_audio(segment, frame)
            self._unsent -= 1
            self._room.set()

    async def _send_audio(self, segment: SegmentTiming, frame: bytes) -> None:
        await self._pace()
        while self._paused is not None or self._resend:
            if self._paused is not None:
                await self._paused.wait()
                continue
            again, old = self._resend.pop(0)
            await self._deliver(again, old)
            await self._pace()
        await self._deliver(segment, frame)

    async def _deliver(self, segment: SegmentTiming, frame: bytes) -> None:
        """Send one frame now and account for it."""
        if self._bytes_sent == 0:
            self._first_audio_ms = self.timeline.mark("first_audio", segment.index)
        await self._emit(frame)
        self._bytes_sent += len(frame)
        segment.bytes += len(frame)
        self._recent.append((segment, frame))
        self._recent_bytes += len(frame)
        keep = 2 * self.config.max_lead_ms * self.sample_rate * 2 / 1000
        while self._recent_bytes - len(self._recent[0][1]) >= keep:
            self._recent_bytes -= len(self._recent.popleft()[1])
        self.timeline.mark("audio_sent", segment.index, bytes=len(frame))
        await self._send_progress()

    def _lead_left_ms(self) -> float:
        """Audio that may still be sent before the listener's lead is full (inf: unpaced)."""
        if self._played_ms is None:
            return float("inf")
        listener = self._played_ms + self.timeline.now_ms() - self._played_at
        return listener + self.config.max_lead_ms - self.audio_sent_ms

    async def _pace(self) -> None:
        """Keep at most ``max_lead_ms`` of audio ahead of a listener that reports playback.

        Between reports the listener is assumed to play on in real time.
        """
        while (left := self._lead_left_ms()) < 0:
            self._played_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(-left / 1000):  # no task per wait, as wait_for has
                    await self._played_changed.wait()

    async def _send_progress(self, *, final: bool = False, now: bool = False) -> None:
        progress = self._progress
        at = self.timeline.now_ms()
        if not (final or now) and at - progress.last_ms < self.config.progress_interval_ms:
            return
        progress.last_ms = at
        if final:
            percent: float | None = 100.0
        elif progress.text_done:  # the whole text is known: a share that only grows
            percent = round(min(99.9, progress.synth_chars / max(progress.text_chars, 1) * 100),
                            1)
        else:
            percent = None
        await self._emit({
            "type": "progress",
            "text_chars": progress.text_chars,
            "text_done": progress.text_done,
            "synth_chars": progress.synth_chars,
            "synth_ms": round(self._ms(self._bytes_synthesized), 1),
            "audio_ms": round(self.audio_sent_ms, 1),
            "tts_percent": percent,
        })


def segment_rows(result: StreamResult, sample_rate: int) -> list[dict]:
    """Per-segment dicts (for storage), with the audio duration added."""
    return [asdict(s) | {"audio_ms": round(s.audio_ms(sample_rate), 3)} for s in result.segments]
