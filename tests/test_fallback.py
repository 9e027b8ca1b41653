"""TTS fallback: before the first byte, mid-audio, on a stall, at another sample rate."""
from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from streaming.engine import COMPLETED, FAILED, EngineConfig, StreamEngine, text_once
from streaming.fallback import FallbackTTS, Timeouts
from streaming.models import StreamSession
from streaming.protocols import ProviderError, TruncatedSpeech
from streaming.scheduling import need_by
from streaming.simulated import SimulatedTTS

TEXT = "First sentence is here. Second sentence follows it. Third one ends the text."


def tts(**options: object) -> SimulatedTTS:
    return SimulatedTTS(**{"first_byte_ms": 1, "realtime_factor": 100, "ms_per_char": 10,
                           **options})


async def collect(speaker: FallbackTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in speaker.synthesize(text, voice=None)])


async def test_failure_before_the_first_byte_retries_the_segment_on_the_next() -> None:
    backup = tts()
    speaker = FallbackTTS([("broken", tts(fail_after_frames=0)), ("backup", backup)])

    audio = await collect(speaker, "Hello there.")

    assert len(audio) == backup.audio_ms_for("Hello there.") * 24000 * 2 // 1000
    assert speaker.alias == "backup"
    assert speaker.switches == [{"from": "broken", "to": "backup", "after_audio": False,
                                 "reason": "ProviderError: simulated TTS failure"}]


async def test_failure_mid_audio_drops_the_rest_and_never_repeats_it() -> None:
    frame = 24000 * 2 // 10
    speaker = FallbackTTS([("flaky", tts(fail_after_frames=2)), ("backup", tts())])

    first: list[bytes] = []
    with pytest.raises(TruncatedSpeech, match="flaky stopped mid-segment"):
        async for chunk in speaker.synthesize("A segment long enough for many frames.",
                                              voice=None):
            first.append(chunk)
    second = await collect(speaker, "The next segment.")

    assert len(b"".join(first)) == 2 * frame  # what came stays; the rest is not re-spoken
    assert speaker.switches[0]["after_audio"] is True
    assert len(second) == tts().audio_ms_for("The next segment.") * 48  # from the backup


async def test_segments_failing_at_once_move_the_chain_on_by_one_provider() -> None:
    speaker = FallbackTTS([("stalled", tts(first_byte_ms=60_000)), ("backup", tts()),
                           ("last", tts())], timeouts=Timeouts(first_byte=0.1))

    first, second = await asyncio.gather(collect(speaker, "One segment."),
                                         collect(speaker, "Another segment."))

    assert first and second  # both spoken by the backup, none given up
    assert speaker.alias == "backup"
    assert [(s["from"], s["to"]) for s in speaker.switches] == [("stalled", "backup")]


async def test_a_stall_times_out_and_falls_back() -> None:
    speaker = FallbackTTS([("stalled", tts(first_byte_ms=60_000)), ("backup", tts())],
                          timeouts=Timeouts(first_byte=0.2, between_chunks=0.2))

    audio = await collect(speaker, "Anyone there?")

    assert audio and speaker.switches[0]["reason"] == "TimeoutError"


async def test_a_segment_asked_for_ahead_has_until_it_is_needed_plus_the_first_byte_time(
        ) -> None:
    slow = tts(first_byte_ms=300)  # waits in an engine's queue, as a look-ahead request does
    speaker = FallbackTTS([("slow", slow), ("backup", tts())], timeouts=Timeouts(first_byte=0.1))

    token = need_by.set(time.monotonic() + 0.6)  # its listener needs it in 0.6 s
    try:
        audio = await collect(speaker, "Anyone there?")
    finally:
        need_by.reset(token)

    assert audio and speaker.switches == []  # 0.3 s was early enough: no timeout
    assert await collect(speaker, "Anyone there?") and speaker.switches[0]["reason"] == \
        "TimeoutError"  # needed now: 0.1 s to the first byte, as before


async def test_other_rates_are_resampled_to_the_announced_rate() -> None:
    speaker = FallbackTTS([("broken", tts(fail_after_frames=0)),
                           ("slow-rate", tts(sample_rate=16000))])

    audio = await collect(speaker, "Resample me please.")

    expected = tts().audio_ms_for("Resample me please.") * 24000 * 2 // 1000
    assert speaker.sample_rate == 24000
    assert abs(len(audio) - expected) <= 2 * 24  # within a millisecond of samples
    assert len(audio) % 2 == 0


async def test_an_exhausted_chain_fails_the_stream() -> None:
    events: list = []

    async def emit(event: object) -> None:
        events.append(event)

    speaker = FallbackTTS([("a", tts(fail_after_frames=0)), ("b", tts(fail_after_frames=1))])
    result = await StreamEngine(speaker, emit).run(text_once(TEXT))

    assert result.status == FAILED
    assert "every TTS provider failed (a -> b)" in result.error


async def test_segments_are_spoken_once_across_a_switch_in_the_engine() -> None:
    events: list = []

    async def emit(event: object) -> None:
        events.append(event)

    speaker = FallbackTTS([("flaky", tts(fail_after_frames=3)), ("backup", tts())])
    result = await StreamEngine(speaker, emit).run(text_once(TEXT))

    assert result.status == COMPLETED
    segments = [e["index"] for e in events if isinstance(e, dict) and e["type"] == "segment"]
    assert segments == list(range(len(result.segments)))
    assert len(speaker.switches) == 1


async def test_a_switch_mid_audio_re_asks_segments_not_yet_playing_and_keeps_the_one_playing(
) -> None:
    frame = 24000 * 2 // 10
    sent: list[bytes] = []

    async def emit(event: object) -> None:
        if isinstance(event, bytes):
            sent.append(event)

    backup = tts()
    speaker = FallbackTTS([("flaky", tts(fail_after_frames=3)), ("backup", backup)])
    config = EngineConfig(frame_ms=100, max_lead_ms=100, lookahead_segments=3)
    engine = StreamEngine(speaker, emit, config=config, clock=lambda: 0.0)
    engine.played(0)  # a listener at the start: with the clock frozen, segment 0 stays playing
    run = asyncio.create_task(engine.run(text_once(TEXT)))
    while speaker.switches == [] or engine.synthesizing:
        await asyncio.sleep(0.01)

    engine.played(1e9)
    result = await run

    first, *rest = result.segments
    assert result.status == COMPLETED and rest
    assert first.bytes == 3 * frame  # it was playing: cut short, never repeated
    for segment in rest:  # not started when flaky failed: spoken whole by the backup
        assert segment.bytes == backup.audio_ms_for(segment.spoken) * 48
    retried = [e[2] for e in result.timeline if e[1] == "tts_retry"]
    assert retried == [s.index for s in rest] and len(speaker.switches) == 1
    assert len(b"".join(sent)) == sum(s.bytes for s in result.segments)


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


@pytest.mark.django_db(transaction=True)
async def test_the_endpoint_switches_to_piper_and_records_it(ws_client, settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "TTS_FALLBACK": ["piper"]}
    client = await ws_client()
    await client.send(type="start", text=TEXT, tts="failing")

    done = await client.receive_until("done", timeout=60)

    assert done["status"] == "completed"
    assert client.of("session")[0]["sample_rate"] == 24000  # piper's 22,050 Hz resampled
    switch = client.of("provider_switch")[0]
    assert switch["from"] == "failing" and switch["to"] == "piper"
    assert switch["after_audio"] is True
    record = await stored(done["session_id"])
    assert record.fallbacks == [{k: v for k, v in switch.items()
                                 if k not in ("type", "session_id")}]
    assert record.segment_count == len(client.of("segment"))


async def test_a_chain_of_one_raises_the_provider_error() -> None:
    with pytest.raises(ProviderError):
        await collect(FallbackTTS([("only", tts(fail_after_frames=0))]), "x")
