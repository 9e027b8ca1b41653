"""The replay commands: a recorded stream re-run through the engine, stored and compared."""
from __future__ import annotations

import asyncio
import io
import uuid
import wave
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from streaming.models import StreamSession
from streaming.replay import distribution, recorded_deltas, recorded_end
from voicebot.models import Turn

pytestmark = pytest.mark.django_db(transaction=True)

DELTAS = [
    "Replays re-run a stored stream, ",
    "with the text it received. ",
    "Each sentence is cut again, ",
    "and spoken again by the chosen voice. ",
    "The new record points back to the original.",
]
TODAY = timezone.localdate().isoformat()


def _call(name: str, args: tuple, options: dict) -> str:
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
    finally:
        connections.close_all()  # this worker thread's connections
    return out.getvalue()


async def command(name: str, *args: str, **options: object) -> str:
    """Run a management command as from the shell: in a thread with no event loop."""
    return await sync_to_async(_call, thread_sensitive=False)(name, args, options)


async def record_original(ws_client, deltas: list[str] = DELTAS, pause: float = 0.02) -> str:
    """Stream ``deltas`` through the TTS endpoint (simulated voice); the session's id."""
    client = await ws_client()
    await client.send(type="start", tts="simulated")
    for delta in deltas:
        await client.send(type="text", delta=delta)
        await asyncio.sleep(pause)
    await client.send(type="end")
    done = await client.receive_until("done")
    assert done["status"] == "completed"
    return client.of("session")[0]["session_id"]


@database_sync_to_async
def is_turn(session_id: str) -> bool:
    return Turn.objects.filter(session_id=session_id).exists()


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


@database_sync_to_async
def replays_of(session_id: str) -> list[StreamSession]:
    return list(StreamSession.objects.filter(replay_of_id=session_id))


@database_sync_to_async
def segment_texts(session_id: str) -> list[str]:
    return list(StreamSession.objects.get(id=session_id)
                .segment_records.order_by("index").values_list("text", flat=True))


def delta_chars(session: StreamSession) -> list[int]:
    return [e[3]["chars"] for e in session.timeline if e[1] == "text_delta"]


def read_wav(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()


# --- the recorded input --------------------------------------------------------------------
def test_recorded_deltas_and_end_are_offsets_from_the_first_delta() -> None:
    timeline = [[0.0, "text_first", None], [5.0, "text_delta", None, {"chars": 3}],
                [9.5, "segment_cut", 0], [20.0, "text_delta", None, {"chars": 4}]]
    assert recorded_deltas("abcdefg", timeline) == [(0.0, "abc"), (15.0, "defg")]
    # text the timeline does not account for follows at once; no timeline: one delta
    assert recorded_deltas("abcdefgXY", timeline)[-1] == (15.0, "XY")
    assert recorded_deltas("whole text", []) == [(0.0, "whole text")]
    assert recorded_end([*timeline, [31.0, "text_done", None]]) == 26.0
    assert recorded_end(timeline) is None


def test_distributions_interpolate_percentiles_and_skip_unmeasured_values() -> None:
    dist = distribution([4.0, None, 2.0])
    assert dist == {"count": 2, "p50": 3.0, "p90": 3.8, "p99": pytest.approx(3.98), "max": 4.0}
    assert distribution([None])["count"] == 0


# --- replay_session ------------------------------------------------------------------------
async def test_replay_reproduces_the_stream_stores_it_and_writes_a_wav(ws_client,
                                                                       tmp_path) -> None:
    original_id = await record_original(ws_client)
    original = await stored(original_id)
    out = tmp_path / "replay.wav"

    printed = await command("replay_session", original_id, "--output", str(out))

    [replayed] = await replays_of(original_id)
    assert str(replayed.id) in printed and "completed" in printed
    assert replayed.status == "completed" and replayed.end_reason == "replay"
    assert replayed.kind == "tts" and replayed.tts_provider == "simulated"
    assert replayed.voice == original.voice == "tone"
    assert replayed.input_text == original.input_text == "".join(DELTAS)
    assert replayed.output_text == original.output_text
    assert replayed.segment_count == original.segment_count > 1
    assert await segment_texts(replayed.id) == await segment_texts(original_id)
    assert replayed.ttfa_ms is not None and replayed.overhead_ms is not None
    assert delta_chars(replayed) == [len("".join(DELTAS))]  # fast: the whole text at once
    rate, channels, width, frames = read_wav(out)
    assert (rate, channels, width) == (24000, 1, 2)
    assert frames > 0 and frames * 2 == replayed.bytes_sent


async def test_compare_prints_both_metric_sets_with_the_difference(ws_client) -> None:
    original_id = await record_original(ws_client)

    printed = await command("replay_session", original_id, "--compare")

    original = await stored(original_id)
    [replayed] = await replays_of(original_id)
    header, *rows = printed.split("metric", 1)[1].strip().splitlines()
    assert header.split() == ["original", "replay", "diff"]
    table = {row.split()[0]: row.split()[1:] for row in rows}
    assert list(table) == ["ttfa_ms", "overhead_ms", "first_segment_ms", "tts_ttfb_ms",
                           "text_done_ms", "overlap_ms", "total_ms", "audio_ms", "segments",
                           "bytes"]
    assert table["segments"] == [str(original.segment_count), str(replayed.segment_count), "+0"]
    assert table["bytes"] == [str(original.bytes_sent), str(replayed.bytes_sent), "+0"]
    assert float(table["ttfa_ms"][0]) == pytest.approx(original.ttfa_ms, abs=0.06)
    assert float(table["ttfa_ms"][1]) == pytest.approx(replayed.ttfa_ms, abs=0.06)


async def test_realtime_feeds_the_recorded_deltas_in_order_at_their_offsets(ws_client) -> None:
    original_id = await record_original(ws_client, pause=0.03)
    original = await stored(original_id)
    first_delta = next(e[0] for e in original.timeline if e[1] == "text_delta")
    span = original.text_done_ms - first_delta  # from the first delta to the input's end
    assert span > 0

    await command("replay_session", original_id, "--speed", "realtime")

    [replayed] = await replays_of(original_id)
    assert replayed.status == "completed" and replayed.input_text == original.input_text
    assert delta_chars(replayed) == delta_chars(original) == [len(d) for d in DELTAS]
    replay_times = [e[0] for e in replayed.timeline if e[1] == "text_delta"]
    assert replay_times == sorted(replay_times)
    # the input cannot end before its recorded offset from the first delta
    assert replayed.text_done_ms >= span - 0.01
    assert replayed.segment_count == original.segment_count


async def test_replay_through_piper_speaks_at_22050_hz(ws_client, tmp_path) -> None:
    original_id = await record_original(ws_client, pause=0)
    out = tmp_path / "piper.wav"

    await command("replay_session", original_id, "--tts", "piper", "--output", str(out))

    original = await stored(original_id)
    [replayed] = await replays_of(original_id)
    assert replayed.status == "completed" and replayed.tts_provider == "piper"
    assert replayed.voice == "en_US-joe-medium" and replayed.sample_rate == 22050
    assert replayed.segment_count == original.segment_count
    rate, _, _, frames = read_wav(out)
    assert rate == 22050 and frames * 2 == replayed.bytes_sent > 22050


async def test_a_voicebot_turn_replays_the_recorded_answer(ws_client) -> None:
    client = await ws_client("/api/voicebot/streaming")
    await client.send(type="user_text", text="Hello, my name is Ada.", tts="simulated")
    await client.receive_until("done")
    original_id = client.of("session")[0]["session_id"]

    await command("replay_session", original_id, "--speed", "realtime")

    original = await stored(original_id)
    [replayed] = await replays_of(original_id)
    assert replayed.kind == "voicebot" and replayed.status == "completed"
    assert replayed.input_text == original.input_text != ""
    assert replayed.llm_provider == original.llm_provider
    assert await is_turn(original_id) and not await is_turn(replayed.pk)  # not a new turn
    assert replayed.llm_ttft_ms is not None
    assert delta_chars(replayed) == delta_chars(original)


# --- replay_session: errors ----------------------------------------------------------------
async def test_unknown_and_invalid_ids_are_refused() -> None:
    missing = uuid.uuid4()
    with pytest.raises(CommandError, match=f"there is no session {missing}"):
        await command("replay_session", str(missing))
    with pytest.raises(CommandError, match="'not-a-uuid' is not a session id"):
        await command("replay_session", "not-a-uuid")


async def test_the_first_characters_the_admin_shows_replay_that_session(ws_client) -> None:
    original_id = await record_original(ws_client, pause=0)

    printed = await command("replay_session", original_id[:8])
    await command("replay_session", original_id.replace("-", "")[:13].upper())

    assert f"Replay of {original_id}" in printed
    assert len(await replays_of(original_id)) == 2


@database_sync_to_async
def session_with_id(session_id: str) -> None:
    StreamSession.objects.create(id=uuid.UUID(session_id), kind="tts", tts_provider="simulated",
                                 status="completed", input_text="Hello.")


async def test_a_prefix_of_no_session_or_of_several_is_refused_by_name() -> None:
    one, two = "abcdef01-0000-4000-8000-000000000001", "abcdef02-0000-4000-8000-000000000002"
    await session_with_id(one)
    await session_with_id(two)

    with pytest.raises(CommandError, match="'abcdef0' is the start of 2 sessions' ids") as many:
        await command("replay_session", "abcdef0")
    with pytest.raises(CommandError, match="there is no session whose id starts with 'abcdef03'"):
        await command("replay_session", "abcdef03")
    with pytest.raises(CommandError, match="'abc-xyz' is not a session id"):
        await command("replay_session", "abc-xyz")

    assert one in str(many.value) and two in str(many.value)


async def test_a_session_without_input_text_is_refused() -> None:
    empty = await database_sync_to_async(StreamSession.objects.create)(
        kind="tts", tts_provider="simulated", status="failed")
    with pytest.raises(CommandError, match="has no input text"):
        await command("replay_session", str(empty.id))


async def test_unknown_provider_and_voice_list_the_configured_ones(ws_client) -> None:
    original_id = await record_original(ws_client, pause=0)
    with pytest.raises(CommandError, match=r"unknown tts provider 'nope' \(configured: piper, "):
        await command("replay_session", original_id, "--tts", "nope")
    with pytest.raises(CommandError, match=r"simulated has no voice 'alto' \(voices: tone\)"):
        await command("replay_session", original_id, "--voice", "alto")
    assert await replays_of(original_id) == []


async def test_an_output_that_cannot_be_written_is_refused_before_replaying(ws_client,
                                                                          tmp_path) -> None:
    original_id = await record_original(ws_client, pause=0)
    with pytest.raises(CommandError, match=r"the folder .* does not exist"):
        await command("replay_session", original_id, "--output",
                      str(tmp_path / "missing" / "out.wav"))
    with pytest.raises(CommandError, match="is a directory"):
        await command("replay_session", original_id, "--output", str(tmp_path))
    assert await replays_of(original_id) == []


async def test_a_failed_replay_is_stored_and_reported(ws_client, tmp_path) -> None:
    original_id = await record_original(ws_client, pause=0)
    out = tmp_path / "failed.wav"
    with pytest.raises(CommandError, match="failed: simulated TTS failure"):
        await command("replay_session", original_id, "--tts", "failing", "--output", str(out))
    [replayed] = await replays_of(original_id)
    assert replayed.status == "failed" and replayed.error == "simulated TTS failure"
    assert replayed.end_reason == "replay" and not out.exists()


# --- replay_sessions -----------------------------------------------------------------------
async def test_replay_sessions_replays_originals_and_prints_percentiles(ws_client) -> None:
    ids = [await record_original(ws_client, pause=0) for _ in range(3)]
    await command("replay_session", ids[0])  # a replay is never replayed itself

    printed = await command("replay_sessions", "--since", TODAY, "--until", TODAY)

    for original_id in ids:
        assert len(await replays_of(original_id)) == (2 if original_id == ids[0] else 1)
    progress = [line for line in printed.splitlines() if line.startswith("[")]
    assert [line[:5] for line in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert ids[2] in progress[0]  # newest first
    assert "Replayed 3 of 3 sessions" in printed
    header = next(line for line in printed.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "sessions", "count", "p50", "p90", "p99", "max"]
    for metric in ("ttfa_ms", "overhead_ms"):
        for label in ("original", "replay"):
            row = next(line.split() for line in printed.splitlines()
                       if line.startswith(metric) and label in line)
            assert row[2] == "3" and all(cell != "-" for cell in row[3:])

    limited = await command("replay_sessions", "--since", TODAY, "--limit", "1",
                            "--kind", "tts", "--tts", "simulated")
    assert "Replayed 1 of 1 sessions" in limited and ids[2] in limited


async def test_replay_sessions_says_when_nothing_matches_and_refuses_bad_dates() -> None:
    with pytest.raises(CommandError, match="no sessions to replay since 2000-01-01 until "):
        await command("replay_sessions", "--since", "2000-01-01", "--until", "2000-01-02")
    with pytest.raises(CommandError, match="no voicebot sessions to replay"):
        await command("replay_sessions", "--since", TODAY, "--kind", "voicebot")
    with pytest.raises(CommandError, match="--since must be a date as YYYY-MM-DD"):
        await command("replay_sessions", "--since", "yesterday")
    with pytest.raises(CommandError, match="--until must be a date"):
        await command("replay_sessions", "--since", TODAY, "--until", "2024-02-30")
    with pytest.raises(CommandError, match="--until is before --since"):
        await command("replay_sessions", "--since", TODAY, "--until", "2000-01-01")
