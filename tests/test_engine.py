"""The parallel pipeline with simulated providers: order, causality, cancel, failure."""
from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import AsyncIterator

import pytest

from streaming.engine import (
    CANCELLED,
    COMPLETED,
    FAILED,
    EngineConfig,
    PcmFramer,
    StreamEngine,
    TextInput,
    text_once,
)
from streaming.protocols import SpeechChunk, Word
from streaming.scheduling import need_by
from streaming.simulated import SimulatedLLM, SimulatedTTS

REPLY = (
    "Well, I think the answer is yes. It was first measured in 1998. "
    "Dr. Smith wrote about it, e.g. in his second book. The rest is history."
)


class Recorder:
    """Collects what the engine emits, in order, with markers from the input side."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def emit(self, event: dict | bytes) -> None:
        if isinstance(event, bytes):
            self.events.append(("audio", event))
        else:
            self.events.append((event["type"], event))

    def mark(self, name: str) -> None:
        self.events.append((name, None))

    def index(self, name: str) -> int:
        return next(i for i, (kind, _) in enumerate(self.events) if kind == name)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


async def marked(deltas: AsyncIterator[str], recorder: Recorder) -> AsyncIterator[str]:
    """Pass deltas through, recording when the input ended."""
    async for delta in deltas:
        yield delta
    recorder.mark("input_end")


def fast_tts(**options: object) -> SimulatedTTS:
    return SimulatedTTS(**{"first_byte_ms": 5, "realtime_factor": 50, "ms_per_char": 20,
                           **options})


async def test_audio_flows_before_the_text_ends() -> None:
    recorder = Recorder()
    llm = SimulatedLLM(first_token_ms=10, tokens_per_s=200, reply=REPLY)
    engine = StreamEngine(fast_tts(), recorder.emit, llm_text=True, echo_deltas_as="llm")

    result = await engine.run(marked(llm.stream([]), recorder))

    assert result.status == COMPLETED
    assert recorder.index("audio") < recorder.index("input_end")
    assert result.metrics["overlap_ms"] > 0
    assert result.metrics["ttfa_ms"] < result.metrics["text_done_ms"]
    assert result.input_text == REPLY
    assert "".join(e["delta"] for kind, e in recorder.events if kind == "llm") == REPLY


async def test_segments_and_audio_keep_their_order() -> None:
    recorder = Recorder()
    engine = StreamEngine(fast_tts(), recorder.emit)

    result = await engine.run(text_once(REPLY))

    kinds = recorder.kinds()
    segment_positions = [i for i, k in enumerate(kinds) if k == "segment"]
    indices = [recorder.events[i][1]["index"] for i in segment_positions]
    assert indices == list(range(len(result.segments))) and len(indices) >= 3
    for position in segment_positions:  # every segment's audio follows its announcement
        assert next(k for k in kinds[position + 1:] if k != "words") == "audio"
    assert kinds[0] == "segment" and kinds[-1] == "progress"
    audio = b"".join(e for k, e in recorder.events if k == "audio")
    assert len(audio) == result.metrics["bytes"] == sum(s.bytes for s in result.segments)
    offsets = [s.audio_offset_ms for s in result.segments]
    assert offsets == sorted(offsets) and offsets[0] == 0


async def test_first_segment_is_cut_early_and_metrics_add_up() -> None:
    recorder = Recorder()
    engine = StreamEngine(fast_tts(), recorder.emit)

    result = await engine.run(text_once(REPLY))

    m = result.metrics
    first = result.segments[0]
    assert first.text == "Well, I think the answer is yes."
    assert m["tts_ttfb_ms"] == pytest.approx(first.first_byte_ms - first.request_ms, abs=0.01)
    assert m["overhead_ms"] == pytest.approx(
        m["ttfa_ms"] - m["first_segment_ms"] - m["tts_ttfb_ms"], abs=0.01)
    assert m["segments"] == len(result.segments)
    assert m["audio_ms"] == pytest.approx(m["bytes"] / 2 / 24000 * 1000, abs=0.01)
    assert "llm_ttft_ms" not in m


async def test_char_by_char_input_gives_the_same_segments_as_whole_text() -> None:
    whole = await StreamEngine(fast_tts(), Recorder().emit).run(text_once(REPLY))
    text_input = TextInput()
    for char in REPLY:
        text_input.push(char)
    text_input.close()

    streamed = await StreamEngine(fast_tts(), Recorder().emit).run(text_input)

    assert [s.text for s in streamed.segments] == [s.text for s in whole.segments]


async def test_cancel_stops_every_task() -> None:
    recorder = Recorder()
    text_input = TextInput()  # never closed: the producer would wait forever
    text_input.push(REPLY)
    engine = StreamEngine(SimulatedTTS(first_byte_ms=1, realtime_factor=1), recorder.emit)
    before = asyncio.all_tasks()
    run = asyncio.create_task(engine.run(text_input))
    while "audio" not in recorder.kinds():
        await asyncio.sleep(0.005)

    engine.stop()
    result = await run

    assert result.status == CANCELLED
    assert asyncio.all_tasks() == before
    assert all(task.done() for task in engine._tasks)
    frames = recorder.kinds().count("audio")
    await asyncio.sleep(0.05)
    assert recorder.kinds().count("audio") == frames  # nothing is sent after the cancel


async def test_cancel_before_start_runs_nothing() -> None:
    recorder = Recorder()
    engine = StreamEngine(fast_tts(), recorder.emit)
    engine.stop()

    result = await engine.run(text_once(REPLY))

    assert result.status == CANCELLED and recorder.events == []


async def test_cancelling_the_runner_task_cleans_up_and_propagates() -> None:
    engine = StreamEngine(SimulatedTTS(first_byte_ms=1, realtime_factor=1), Recorder().emit)
    before = asyncio.all_tasks()
    run = asyncio.create_task(engine.run(text_once(REPLY)))
    await asyncio.sleep(0.05)

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert engine.result is not None and engine.result.status == CANCELLED
    assert asyncio.all_tasks() == before


async def test_tts_failure_ends_the_stream_as_failed() -> None:
    recorder = Recorder()
    engine = StreamEngine(fast_tts(fail_after_frames=2), recorder.emit)
    before = asyncio.all_tasks()

    result = await engine.run(text_once(REPLY))

    assert result.status == FAILED
    assert result.error_code == "provider_error" and "simulated TTS failure" in result.error
    assert recorder.kinds().count("audio") == 2
    assert asyncio.all_tasks() == before


class BrokenTTS(SimulatedTTS):
    """A TTS with a bug: it raises what no adapter should (not a ``ProviderError``)."""

    async def synthesize(self, text: str, *, voice: str | None = None):
        raise KeyError("/srv/secret/internal-detail")
        yield b""


async def test_a_bug_fails_the_stream_with_an_error_id_and_keeps_its_text_in_the_log(
        caplog) -> None:
    recorder = Recorder()
    engine = StreamEngine(BrokenTTS(), recorder.emit)

    result = await engine.run(text_once(REPLY))

    assert result.status == FAILED and result.error_code == "internal_error"
    assert "internal-detail" not in result.error
    error_id = re.search(r"error ([0-9a-f]{8})", result.error).group(1)
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and "internal-detail" in str(logged[0].exc_info[1])


async def test_llm_failure_mid_stream_ends_the_stream_as_failed() -> None:
    recorder = Recorder()
    llm = SimulatedLLM(first_token_ms=1, tokens_per_s=500, reply=REPLY, fail_after_tokens=12)
    engine = StreamEngine(fast_tts(), recorder.emit, llm_text=True, echo_deltas_as="llm")

    result = await engine.run(llm.stream([]))

    assert result.status == FAILED and "simulated LLM failure" in result.error
    assert recorder.kinds().count("llm") == 12


async def test_flow_control_keeps_the_lead_over_the_listener() -> None:
    recorder = Recorder()
    config = EngineConfig(frame_ms=100, max_lead_ms=300)
    tts = SimulatedTTS(first_byte_ms=1, realtime_factor=1000, ms_per_char=50)
    engine = StreamEngine(tts, recorder.emit, config=config, clock=lambda: 0.0)
    engine.played(0)  # a listener that has heard nothing yet (the frozen clock stops time)
    run = asyncio.create_task(engine.run(text_once("One two three four five six. " * 4)))
    await asyncio.sleep(0.3)

    assert not run.done()
    assert engine.audio_sent_ms <= 300 + 100

    engine.played(10_000)
    result = await run
    assert result.status == COMPLETED and engine.audio_sent_ms > 1000


async def test_heard_text_cuts_at_the_played_position() -> None:
    engine = StreamEngine(fast_tts(), Recorder().emit)
    result = await engine.run(text_once(REPLY))
    first, second = result.segments[0], result.segments[1]
    rate = 24000

    assert result.heard_text(0, rate) == ""
    assert result.heard_text(first.audio_ms(rate), rate) == first.text
    halfway = second.audio_offset_ms + second.audio_ms(rate) / 2
    heard = result.heard_text(halfway, rate)
    assert heard.startswith(first.text) and len(first.text) < len(heard)
    assert len(heard) < len(first.text) + 1 + len(second.text)
    assert result.heard_text(1e9, rate) == result.spoken_text


def test_framer_keeps_whole_samples_across_odd_chunks() -> None:
    framer = PcmFramer(frame_bytes=4)
    frames = framer.split(b"\x01\x02\x03") + framer.split(b"\x04\x05\x06\x07\x08\x09")
    assert frames == [b"\x01\x02", b"\x03\x04\x05\x06", b"\x07\x08"]
    assert all(len(f) % 2 == 0 for f in frames)
    assert framer.split(b"\x0a") == [b"\x09\x0a"]  # the odd byte waited for its partner


async def test_sequential_mode_waits_for_all_text_before_synthesis() -> None:
    recorder = Recorder()
    llm = SimulatedLLM(first_token_ms=1, tokens_per_s=300, reply=REPLY)
    engine = StreamEngine(fast_tts(), recorder.emit, config=EngineConfig(sequential=True))

    result = await engine.run(marked(llm.stream([]), recorder))

    assert result.status == COMPLETED
    assert recorder.index("input_end") < recorder.index("segment")
    assert result.metrics["overlap_ms"] < 0


def events_named(result, name: str) -> dict[int, list[float]]:
    """Times of a timeline event, by segment index."""
    times: dict[int, list[float]] = {}
    for event in result.timeline:
        if event[1] == name:
            times.setdefault(event[2], []).append(event[0])
    return times


async def until(condition, what: str, timeout: float = 10) -> None:
    """Wait for a condition of the running engine (polled; fails after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


LONG_SENTENCES = [
    f"Sentence number {n} is long enough to stand as a segment of its own here. "
    for n in range(1, 11)
]


async def test_next_segments_are_synthesized_before_the_one_playing_has_all_been_sent() -> None:
    # The TTS takes longer to its first byte (300 ms) than the lead the listener allows
    # (100 ms): only synthesis ahead of the sending keeps segment boundaries gapless.
    tts = SimulatedTTS(first_byte_ms=300, realtime_factor=50, ms_per_char=5)
    config = EngineConfig(frame_ms=100, max_lead_ms=100, lookahead_segments=3)
    engine = StreamEngine(tts, Recorder().emit, config=config, clock=lambda: 0.0)
    engine.played(0)  # the listener holds at 0 ms (frozen clock): segment 0 cannot finish
    run = asyncio.create_task(engine.run(text_once("".join(LONG_SENTENCES[:4]))))
    await until(lambda: engine.segments and engine.synthesizing == 0, "synthesis ahead")

    assert engine.audio_sent_ms == 200  # two frames of segment 0 sent, then held
    assert [s.first_byte_ms is not None for s in engine.segments] == [True] * 4

    engine.played(1e9)
    result = await run
    first_bytes = events_named(result, "tts_first_byte")
    sent = events_named(result, "audio_sent")
    for n in range(len(result.segments) - 1):  # the next audio was there before this one ended
        assert first_bytes[n + 1][0] <= sent[n][-1]
    assert result.status == COMPLETED


async def test_lookahead_stops_at_its_segment_count_while_the_listener_holds() -> None:
    tts = SimulatedTTS(first_byte_ms=1, realtime_factor=1000, ms_per_char=5)
    config = EngineConfig(frame_ms=100, max_lead_ms=100, lookahead_segments=2,
                          lookahead_ms=1e9, first_max_words=0)  # a segment per sentence
    engine = StreamEngine(tts, Recorder().emit, config=config, clock=lambda: 0.0)
    engine.played(0)
    run = asyncio.create_task(engine.run(text_once("".join(LONG_SENTENCES))))
    await until(lambda: len(engine.segments) == 10 and engine.synthesizing == 0, "held")

    requested = [s.index for s in engine.segments if s.request_ms is not None]
    assert requested == [0, 1, 2]  # the one playing and two ahead

    engine.played(1e9)
    result = await run
    assert result.status == COMPLETED and len(events_named(result, "tts_request")) == 10


async def test_each_segment_in_flight_holds_at_most_its_lookahead_audio_unsent() -> None:
    held_at_ask: list[float] = []  # ms a segment held unsent each time it asked for more
    yielded: dict[str, float] = {}
    engine: StreamEngine

    class Watched(SimulatedTTS):
        async def synthesize(self, text: str, *, voice: str | None = None):
            async for chunk in super().synthesize(text, voice=voice):
                yielded[text] = yielded.get(text, 0.0) + len(chunk) / 48  # ms at 24 kHz
                yield chunk
                segment = next(s for s in engine.segments if s.spoken == text)
                held_at_ask.append(yielded[text] - segment.bytes / 48)

    tts = Watched(first_byte_ms=1, realtime_factor=1000, ms_per_char=20)  # 1.5 s each
    config = EngineConfig(frame_ms=100, max_lead_ms=100, lookahead_segments=3,
                          lookahead_ms=500)
    engine = StreamEngine(tts, Recorder().emit, config=config, clock=lambda: 0.0)
    engine.played(0)  # the listener holds at 0 ms (frozen clock)
    run = asyncio.create_task(engine.run(text_once("".join(LONG_SENTENCES[:6]))))
    await until(lambda: len(yielded) == 4 and all(ms >= 500 for ms in yielded.values()),
                "each segment in flight holds its share")

    # None read on while holding its limit (the sender may hold one frame it has not sent).
    assert max(held_at_ask) < 500 + 100
    assert sum(yielded.values()) < 4 * 600  # four segments, none much past 500 ms

    engine.played(1e9)
    assert (await run).status == COMPLETED
    assert max(yielded.values()) > 1000  # once taken, they were read to their ends


async def test_a_frame_the_sender_waits_for_is_sent_before_the_provider_reads_on() -> None:
    recorder = Recorder()
    unsent_at_resume: list[int] = []  # frames yielded but not yet sent, each time read on

    class Watched(SimulatedTTS):
        async def synthesize(self, text: str, *, voice: str | None = None):
            yielded = 0
            async for chunk in super().synthesize(text, voice=voice):
                yield chunk
                yielded += 1
                unsent_at_resume.append(yielded - recorder.kinds().count("audio"))

    tts = Watched(first_byte_ms=1, realtime_factor=1000, ms_per_char=20)
    one_segment = EngineConfig(frame_ms=100, first_max_words=0)
    engine = StreamEngine(tts, recorder.emit, config=one_segment)
    result = await engine.run(text_once(LONG_SENTENCES[0]))

    # No hop through the buffer: each frame reached the listener while the synthesis ran.
    assert result.status == COMPLETED and len(unsent_at_resume) > 5
    assert set(unsent_at_resume) == {0}


async def test_need_by_grows_with_the_audio_queued_before_each_segment() -> None:
    seen: list[tuple[float, float | None]] = []

    class Recording(SimulatedTTS):
        async def synthesize(self, text: str, *, voice: str | None = None):
            seen.append((time.monotonic(), need_by.get()))
            async for chunk in super().synthesize(text, voice=voice):
                yield chunk

    engine = StreamEngine(Recording(first_byte_ms=1, realtime_factor=1000), Recorder().emit,
                          config=EngineConfig(lookahead_segments=3))
    result = await engine.run(text_once("".join(LONG_SENTENCES[:4])))

    assert result.status == COMPLETED and len(seen) == 4
    (asked_first, first), *_, (asked_fourth, fourth) = seen
    assert first <= asked_first + 0.001  # the first segment is needed now (TTFA)
    needed_after = fourth - asked_fourth  # the fourth plays after three segments' audio
    assert needed_after * 1000 >= 3 * 0.9 * len(result.segments[0].spoken) * 55


async def test_cancel_during_lookahead_stops_every_synthesis_and_drops_buffered_audio() -> None:
    recorder = Recorder()
    tts = SimulatedTTS(first_byte_ms=1, realtime_factor=1, ms_per_char=20)  # real time
    config = EngineConfig(frame_ms=100, max_lead_ms=100, lookahead_segments=3)
    engine = StreamEngine(tts, recorder.emit, config=config, clock=lambda: 0.0)
    engine.played(0)
    before = asyncio.all_tasks()
    run = asyncio.create_task(engine.run(text_once("".join(LONG_SENTENCES[:6]))))
    await until(lambda: engine.synthesizing >= 3 and engine.buffered_ms > 0, "lookahead")

    engine.stop()
    result = await run

    assert result.status == CANCELLED
    assert engine.synthesizing == 0 and asyncio.all_tasks() == before
    frames = recorder.kinds().count("audio")
    assert frames * 100 == engine.audio_sent_ms  # the buffered audio was never sent
    await asyncio.sleep(0.05)
    assert recorder.kinds().count("audio") == frames


async def test_progress_reports_each_segment_as_its_synthesis_ends() -> None:
    recorder = Recorder()
    # A long progress interval: only the segment ends themselves can get through it.
    engine = StreamEngine(fast_tts(), recorder.emit,
                          config=EngineConfig(progress_interval_ms=60_000))

    result = await engine.run(text_once("".join(LONG_SENTENCES[:4])))

    ends = sorted(result.segments, key=lambda s: s.end_ms)
    totals, done = [], 0
    for segment in ends:
        done += len(segment.text)
        totals.append(done)
    reported = [e["synth_chars"] for kind, e in recorder.events if kind == "progress"]
    assert set(totals) <= set(reported)
    assert reported == sorted(reported)


# --- pause and resume (a listener who may be barging in) -----------------------------------
def audio_frames(recorder: Recorder) -> list[bytes]:
    return [frame for kind, frame in recorder.events if kind == "audio"]


async def reference_audio(text: str, tts_options: dict) -> bytes:
    """The audio of ``text`` sent without a pause."""
    recorder = Recorder()
    engine = StreamEngine(SimulatedTTS(**tts_options), recorder.emit,
                          config=EngineConfig(frame_ms=100))
    await engine.run(text_once(text))
    return b"".join(audio_frames(recorder))


TTS_OPTIONS = {"first_byte_ms": 1, "realtime_factor": 1000, "ms_per_char": 20}
TEXT = "".join(LONG_SENTENCES[:3])


async def test_a_paused_stream_sends_nothing_until_resumed_and_then_all_of_its_audio() -> None:
    recorder = Recorder()
    engine = StreamEngine(SimulatedTTS(**TTS_OPTIONS), recorder.emit,
                          config=EngineConfig(frame_ms=100, max_lead_ms=300),
                          clock=lambda: 0.0)
    engine.played(0)  # frozen clock: the lead holds the sending at ~400 ms
    run = asyncio.create_task(engine.run(text_once(TEXT)))
    await until(lambda: engine.audio_sent_ms >= 300, "the lead is full")

    engine.pause()
    engine.played(1e9)  # the listener is far ahead: only the pause holds the sending
    sent_at_pause = len(audio_frames(recorder))
    await until(lambda: engine.buffered_ms >= 1000, "synthesis goes on into the look-ahead")

    assert engine.paused and len(audio_frames(recorder)) == sent_at_pause
    engine.resume()
    result = await run
    assert result.status == COMPLETED and not engine.paused
    assert b"".join(audio_frames(recorder)) == await reference_audio(TEXT, TTS_OPTIONS)
    assert [e[1] for e in result.timeline if e[1] in ("paused", "resumed")] == [
        "paused", "resumed"]


async def test_resume_from_the_listener_position_sends_the_audio_it_dropped_again() -> None:
    recorder = Recorder()
    now = [0.0]
    engine = StreamEngine(SimulatedTTS(**TTS_OPTIONS), recorder.emit,
                          config=EngineConfig(frame_ms=100, max_lead_ms=300),
                          clock=lambda: now[0])
    engine.played(0)
    run = asyncio.create_task(engine.run(text_once(TEXT)))
    await until(lambda: engine.audio_sent_ms >= 300, "the lead is full")
    engine.pause()
    now[0] = 0.15  # 150 ms of audio played when the listener dropped its queue
    cut = engine.listener_ms
    before = audio_frames(recorder)

    engine.resume(from_ms=cut)
    now[0] = 1e6  # then it plays on: no more pacing
    result = await run

    frames = audio_frames(recorder)
    assert cut == pytest.approx(150)
    assert frames[len(before):len(before) + len(before) - 1] == before[1:]  # from 100 ms on
    reference = await reference_audio(TEXT, TTS_OPTIONS)
    assert b"".join(before[:1] + frames[len(before):]) == reference  # nothing lost
    assert result.metrics["audio_ms"] == pytest.approx(len(reference) / 2 / 24)
    assert sum(s.bytes for s in result.segments) == len(reference)


class Numbered(SimulatedTTS):
    """Frames whose samples all hold the frame's number (1, 2, ...): their order shows."""

    made = 0

    async def synthesize(self, text: str, *, voice: str | None = None):
        async for chunk in super().synthesize(text, voice=voice):
            self.made += 1
            yield struct.pack("<h", self.made) * (len(chunk) // 2)


def numbers(recorder: Recorder) -> list[int]:
    return [struct.unpack_from("<h", frame)[0] for frame in audio_frames(recorder)]


async def test_a_slow_synthesis_sends_nothing_past_a_pause_nor_ahead_of_the_audio_resent(
        ) -> None:
    recorder = Recorder()
    # Frames come at twice real time and nothing paces the sending: the sender waits for
    # each frame, which the synthesis hands it straight away.
    tts = Numbered(first_byte_ms=1, realtime_factor=2, ms_per_char=20)
    one_segment = EngineConfig(frame_ms=100, first_max_words=0)
    engine = StreamEngine(tts, recorder.emit, config=one_segment)
    run = asyncio.create_task(engine.run(text_once(LONG_SENTENCES[0])))
    await until(lambda: engine.audio_sent_ms >= 300, "audio flows")

    engine.pause()
    sent = len(audio_frames(recorder))
    made = tts.made
    await until(lambda: tts.made >= made + 2, "the synthesis goes on")
    assert len(audio_frames(recorder)) == sent  # the pause held them
    engine.resume(from_ms=engine.audio_sent_ms - 200)  # the listener dropped its last 200 ms
    result = await run

    assert result.status == COMPLETED
    assert numbers(recorder) == [*range(1, sent + 1), *range(sent - 1, tts.made + 1)]


async def test_stop_while_paused_cancels_every_task() -> None:
    engine = StreamEngine(SimulatedTTS(**TTS_OPTIONS), Recorder().emit,
                          config=EngineConfig(frame_ms=100, max_lead_ms=300),
                          clock=lambda: 0.0)
    engine.played(0)
    run = asyncio.create_task(engine.run(text_once(TEXT)))
    await until(lambda: engine.audio_sent_ms >= 300, "the lead is full")
    engine.pause()

    engine.stop()
    result = await run

    assert result.status == CANCELLED
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("stream-")]


class TimedTTS(SimulatedTTS):
    """Times its words as a TTS with exact timings does: the first word takes 90% of the
    audio, the rest share the last 10% (far from an even pace)."""

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        audio = b"".join([frame async for frame in super().synthesize(text, voice=voice)])
        length = len(audio) / 2 / self.sample_rate * 1000
        tokens = text.split()
        rest = length * 0.1 / max(1, len(tokens) - 1)
        words = [Word(tokens[0], 0, length * 0.9)]
        words += [Word(t, length * 0.9 + i * rest, length * 0.9 + (i + 1) * rest)
                  for i, t in enumerate(tokens[1:])]
        half = len(audio) // 4 * 2
        yield SpeechChunk(audio[:half], [w for w in words if w.start_ms < length / 2])
        later = [Word(w.text, w.start_ms - length / 2, w.end_ms - length / 2)
                 for w in words if w.start_ms >= length / 2]
        yield SpeechChunk(audio[half:], later)


async def test_each_segment_gets_its_word_timings_after_its_announcement() -> None:
    recorder = Recorder()
    engine = StreamEngine(fast_tts(), recorder.emit)

    result = await engine.run(text_once(REPLY))

    rate = engine.sample_rate
    announced = {e["index"]: i for i, (k, e) in enumerate(recorder.events) if k == "segment"}
    timed = {e["index"]: (i, e["words"]) for i, (k, e) in enumerate(recorder.events)
             if k == "words"}
    assert set(timed) == set(announced) == set(range(len(result.segments)))
    for segment in result.segments:
        position, words = timed[segment.index]
        assert position > announced[segment.index]
        assert [w[0] for w in words] == segment.text.split() and words == segment.words
        assert words[0][1] == 0 and words[-1][2] == pytest.approx(segment.audio_ms(rate), abs=0.1)
        event = recorder.events[announced[segment.index]][1]
        assert event["audio_ms"] == round(segment.audio_offset_ms, 1)


async def test_word_timings_given_by_the_tts_are_kept_across_its_chunks() -> None:
    tts = TimedTTS(first_byte_ms=5, realtime_factor=50, ms_per_char=20)
    engine = StreamEngine(tts, Recorder().emit)

    result = await engine.run(text_once("Wonderful, say it again please."))

    segment = result.segments[0]
    length = segment.audio_ms(engine.sample_rate)
    assert [w[0] for w in segment.words] == segment.text.split()
    assert segment.words[0][2] == pytest.approx(length * 0.9, abs=0.1)
    assert segment.words[-1][2] == pytest.approx(length, abs=0.1)


async def test_heard_text_follows_the_word_timings_not_the_share_of_words() -> None:
    tts = TimedTTS(first_byte_ms=5, realtime_factor=50, ms_per_char=20)
    engine = StreamEngine(tts, Recorder().emit)
    result = await engine.run(text_once("Wonderful, say it again please."))
    length = result.segments[0].audio_ms(engine.sample_rate)

    # 60% played: four words out of five by share, but only the first one by its timing
    assert result.heard_text(length * 0.6, engine.sample_rate) == "Wonderful,"
    assert result.heard_text(length * 0.96, engine.sample_rate) == "Wonderful, say it"
