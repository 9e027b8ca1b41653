"""The TTS endpoint over a real ASGI stack: protocol order, input streaming, bad input,
cancel, disconnect and provider failure, each leaving a session record."""
from __future__ import annotations

import asyncio
import logging
import uuid
import wave

import pytest
from channels.db import database_sync_to_async

from streaming.models import StreamSession

pytestmark = pytest.mark.django_db(transaction=True)

PARAGRAPH = (
    "Streaming speech starts early, while the text is still arriving. "
    "Each sentence is synthesized as soon as it is complete. "
    "The listener hears the first words almost at once. "
    "Nothing is lost when the stream ends."
)
ORDER = ["session", "segment", "audio", "progress", "metrics", "done"]


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


@database_sync_to_async
def segment_texts(session_id: str) -> list[str]:
    return list(StreamSession.objects.get(id=session_id)
                .segment_records.order_by("index").values_list("text", flat=True))


def stream_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]


async def test_whole_text_streams_events_in_order_and_is_recorded(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH, tts="simulated")

    done = await client.receive_until("done")

    firsts = [client.first(kind) for kind in ORDER]
    assert firsts == sorted(firsts)
    assert done["status"] == "completed"
    session = client.of("session")[0]
    assert session["sample_rate"] == 24000 and session["format"] == "pcm_s16le"
    assert all(e["session_id"] == session["session_id"]
               for e in client.events if e["type"] != "audio")
    metrics = client.of("metrics")[0]
    assert metrics["bytes"] == len(client.audio) and len(client.audio) % 2 == 0
    assert client.of("progress")[-1]["tts_percent"] == 100.0
    record = await stored(session["session_id"])
    assert record.status == "completed" and record.kind == "tts"
    assert record.tts_provider == "simulated" and record.input_text == PARAGRAPH
    assert record.ttfa_ms == metrics["ttfa_ms"] and record.overhead_ms is not None
    assert record.segment_count == metrics["segments"] == len(client.of("segment"))
    assert await segment_texts(session["session_id"]) == [e["text"] for e in client.of("segment")]
    assert record.timeline and record.ended_at is not None


async def test_streamed_deltas_get_audio_before_the_input_ends(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", tts="simulated")
    words = PARAGRAPH.split(" ")
    sent = 0
    while "audio" not in client.kinds():  # send words until the first audio frame arrives
        assert sent < len(words) - 1, "no audio before the last delta"
        await client.send(type="text", delta=words[sent] + " ")
        sent += 1
        await client.drain()
    first_audio_before_last_delta = sent < len(words)
    for word in words[sent:]:
        await client.send(type="text", delta=word + " ")
    await client.send(type="end")

    done = await client.receive_until("done")

    assert first_audio_before_last_delta and done["status"] == "completed"
    firsts = [client.first(kind) for kind in ORDER]
    assert firsts == sorted(firsts)
    metrics = client.of("metrics")[0]
    assert metrics["overlap_ms"] > 0
    record = await stored(done["session_id"])
    assert record.input_text.split() == words and record.overlap_ms > 0


@pytest.mark.parametrize(("frame", "code"), [
    ("{not json", "bad_json"),
    ("[1, 2]", "bad_message"),
    ('{"text": "hi"}', "missing_field"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "__init__"}', "unknown_type"),
    ('{"type": "text", "delta": "hello"}', "no_stream"),
    ('{"type": "end"}', "no_stream"),
    ('{"type": "start", "text": "   "}', "empty_text"),
    ('{"type": "start", "text": 42}', "bad_field"),
    ('{"type": "start", "text": "Hi.", "tts": "nope"}', "unknown_provider"),
    ('{"type": "start", "text": "Hi.", "tts": "simulated", "voice": "x"}', "unknown_voice"),
    ('{"type": "played", "ms": -5}', "bad_field"),
    ('{"type": "played"}', "missing_field"),
    ('{"type": "cancel", "played_ms": "soon"}', "bad_field"),
    ('{"type": "client_metrics", "underruns": 0}', "no_session"),
    ('{"type": "played", "ms": NaN}', "bad_json"),
    ('{"type": "played", "ms": Infinity}', "bad_json"),
    ('{"type": "played", "ms": 1e400}', "bad_field"),  # parses as inf
    ('{"type": "played", "ms": 1e300}', "bad_field"),
    ('{"type": "cancel", "played_ms": 1099511627776}', "bad_field"),  # 2**40
    ('{"type": "start", "text": "Hi\\u0000 there."}', "bad_text"),
    ('{"type": "start", "text": "Hi \\ud800 there."}', "bad_text"),
    ('{"type": "start", "text": "Hi.", "voice": "\\u0000"}', "bad_text"),
    ("[" * 20_000 + "]" * 20_000, "bad_json"),  # nesting too deep to parse
    ('{"a": ' * 20_000 + "1" + "}" * 20_000, "message_too_long"),
    ('{"type": "' + "x" * 10_000 + '"}', "unknown_type"),
])
async def test_bad_frames_get_an_error_and_the_socket_lives(ws_client, frame, code,
                                                           caplog) -> None:
    client = await ws_client()
    await client.send_raw(text=frame)

    error = await client.receive()

    assert error["type"] == "error" and error["code"] == code and error["fatal"] is False
    assert error["message"] and len(error["message"]) < 300  # a short excerpt at most
    await client.send(type="start", text="Still here. Still working.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
    assert await running_rows() == 0


@database_sync_to_async
def running_rows() -> int:
    return StreamSession.objects.filter(status="running").count()


async def test_an_unknown_provider_error_lists_only_the_providers_users_may_choose(
        ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text="Hi.", tts="nope")

    error = await client.receive()

    assert error["code"] == "unknown_provider" and "piper" in error["message"]
    assert "simulated" not in error["message"] and "failing" not in error["message"]


async def test_a_streamed_input_that_stops_coming_ends_the_stream_and_its_record(
        ws_client, settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "INPUT_IDLE_TIMEOUT_S": 0.2}
    client = await ws_client()
    await client.send(type="start", tts="simulated")
    await client.send(type="text", delta="Hello there, and then ")

    error = await client.receive_until("error")
    done = await client.receive_until("done")

    assert error["code"] == "input_idle" and done["status"] == "failed"
    record = await stored(done["session_id"])
    assert record.status == "failed" and "no text came" in record.error
    await client.send(type="start", text="Still here. Still working.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_a_ping_is_answered_with_a_pong_while_a_stream_runs(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH, tts="simulated")
    await client.receive_until("segment")

    await client.send(type="ping")
    await client.receive_until("pong")

    assert "done" not in client.kinds()
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_a_handler_bug_gets_an_error_id_and_the_socket_lives(ws_client,
                                                                  monkeypatch) -> None:
    from streaming import services

    def broken(session_id: object, metrics: dict) -> None:
        raise KeyError("/srv/secret/internal-detail")

    monkeypatch.setattr(services, "record_client_metrics", broken)
    client = await ws_client()
    await client.send(type="start", text="Hello there.", tts="simulated")
    await client.receive_until("done")

    await client.send(type="client_metrics", underruns=0)
    error = await client.receive_until("error")

    assert error["code"] == "internal_error" and "internal-detail" not in error["message"]
    await client.send(type="start", text="Still here. Still working.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_binary_frame_is_refused_and_the_socket_lives(ws_client) -> None:
    client = await ws_client()
    await client.send_raw(data=b"\x00\x01" * 100)

    error = await client.receive()

    assert error["code"] == "unexpected_binary"
    await client.send(type="start", text="Fine. Thanks.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_text_over_the_limit_is_refused(ws_client, settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "MAX_TEXT_CHARS": 40}
    client = await ws_client()
    await client.send(type="start", text="x" * 41, tts="simulated")
    assert (await client.receive())["code"] == "text_too_long"

    await client.send(type="start", tts="simulated")
    session = await client.receive_until("session")
    await client.send(type="text", delta="Short enough. ")
    await client.send(type="text", delta="y" * 30)
    assert (await client.receive_until("error"))["code"] == "text_too_long"
    await client.send(type="end")
    done = await client.receive_until("done")
    assert done["status"] == "completed"
    assert (await stored(session["session_id"])).input_text == "Short enough. "


async def test_text_after_end_is_refused(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", tts="simulated")
    await client.send(type="text", delta="One sentence only. ")
    await client.send(type="end")
    await client.send(type="text", delta="Too late.")
    errors_or_done = []
    while not errors_or_done or errors_or_done[-1]["type"] != "done":
        event = await client.receive()
        if event["type"] in ("error", "done"):
            errors_or_done.append(event)
    codes = [e.get("code") for e in errors_or_done if e["type"] == "error"]
    assert codes in (["input_closed"], ["no_stream"])


async def test_cancel_stops_the_stream_and_records_what_was_played(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH * 6, tts="simulated")
    await client.receive_until("audio")

    await client.send(type="cancel", played_ms=120)
    done = await client.receive_until("done")

    assert done["status"] == "cancelled"
    assert stream_tasks() == []
    record = await stored(done["session_id"])
    assert record.status == "cancelled" and record.end_reason == "client"
    assert record.played_ms == 120 and record.bytes_sent == len(client.audio)


async def test_a_played_report_naming_another_session_does_not_count_on_this_stream(
        ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH * 6, tts="simulated")
    session = await client.receive_until("session")
    await client.receive_until("audio")

    await client.send(type="played", ms=80, session_id=session["session_id"])
    await client.send(type="played", ms=5000, session_id=str(uuid.uuid4()))  # an earlier one's
    await client.send(type="cancel")
    done = await client.receive_until("done")

    record = await stored(done["session_id"])
    assert record.played_ms == 80


async def test_disconnect_mid_stream_still_saves_the_session(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH * 6, tts="simulated")
    session = await client.receive_until("session")
    await client.receive_until("audio")

    await client.disconnect()

    assert stream_tasks() == []
    record = await stored(session["session_id"])
    assert record.status == "cancelled" and record.end_reason == "disconnected"
    assert record.bytes_sent > 0 and record.input_text == PARAGRAPH * 6


async def test_provider_failure_sends_an_error_and_records_failed(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH, tts="failing")

    done = await client.receive_until("done")

    assert done["status"] == "failed"
    error = client.of("error")[0]
    assert error["code"] == "provider_error" and "simulated TTS failure" in error["message"]
    assert client.first("error") < client.first("metrics") < client.first("done")
    record = await stored(done["session_id"])
    assert record.status == "failed" and "simulated TTS failure" in record.error
    await client.send(type="start", text="Recovered. Yes.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_a_new_start_supersedes_the_running_stream(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text=PARAGRAPH * 6, tts="simulated")
    first = await client.receive_until("audio")
    await client.send(type="start", text="Second stream. Short.", tts="simulated")

    first_done = await client.receive_until("done")
    second_done = await client.receive_until("done")

    assert first and first_done["status"] == "cancelled"
    assert second_done["status"] == "completed"
    assert first_done["session_id"] != second_done["session_id"]
    assert (await stored(first_done["session_id"])).end_reason == "superseded"


async def test_client_metrics_are_stored_on_the_session(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text="Measure me. Please.", tts="simulated")
    done = await client.receive_until("done")

    await client.send(type="client_metrics", session_id=done["session_id"],
                      playback_start_ms=87.5, underruns=1, played_ms=900, browser="test")
    await client.send(type="client_metrics", session_id=str(uuid.uuid4()), underruns=0)
    error = await client.receive()

    assert error["code"] == "unknown_session"
    record = await stored(done["session_id"])
    assert record.playback_start_ms == 87.5 and record.underruns == 1
    assert record.client_metrics["browser"] == "test"


@pytest.mark.parametrize("metrics", [
    '"underruns": 1e300', '"played_ms": 1e400', '"playback_start_ms": -1',
])
async def test_client_metrics_out_of_range_are_refused_and_nothing_is_stored(
        ws_client, metrics) -> None:
    client = await ws_client()
    await client.send(type="start", text="Measure me. Please.", tts="simulated")
    done = await client.receive_until("done")

    await client.send_raw(text=f'{{"type": "client_metrics", {metrics}}}')
    error = await client.receive()

    assert error["code"] == "bad_field"
    record = await stored(done["session_id"])
    assert record.underruns is None and record.played_ms is None


async def test_client_metrics_keep_only_what_every_database_can_store(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text="Measure me. Please.", tts="simulated")
    done = await client.receive_until("done")

    await client.send_raw(text=(
        '{"type": "client_metrics", "underruns": 0, "browser": "test", "huge": 1e400, '
        '"big": 1e300, "nul": "a\\u0000b", "lone": "\\udc00", "bad key\\u0000": 1, '
        '"nested": {"a": 1}, "fine": 2.5}'))
    await client.send(type="start", text="Next. One.", tts="simulated")
    await client.receive_until("done")

    record = await stored(done["session_id"])
    assert record.client_metrics == {"underruns": 0, "browser": "test", "fine": 2.5}


async def test_a_record_whose_outcome_cannot_be_saved_is_still_closed(ws_client,
                                                                      monkeypatch) -> None:
    from streaming import services

    async def broken_save(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database refused the row")

    monkeypatch.setattr(services, "finish_session", broken_save)
    client = await ws_client()
    await client.send(type="start", text="Save me. If you can.", tts="simulated")
    done = await client.receive_until("done")

    record = await stored(done["session_id"])
    assert done["status"] == "completed"
    assert record.status == "completed" and record.ended_at is not None
    assert "could not be saved (RuntimeError" in record.error


async def test_stored_audio_is_the_audio_that_was_sent(ws_client, settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "STORE_AUDIO": True}
    client = await ws_client()
    await client.send(type="start", text="Keep this audio. Thank you.", tts="simulated")

    done = await client.receive_until("done")

    record = await stored(done["session_id"])
    with record.audio.open("rb") as handle, wave.open(handle) as wav:
        assert wav.getframerate() == 24000 and wav.getnchannels() == 1
        assert wav.readframes(wav.getnframes()) == bytes(client.audio)


async def test_a_piper_voice_whose_files_are_missing_is_refused_as_unavailable(
        ws_client, settings, caplog) -> None:
    tts = dict(settings.STREAMING_PROVIDERS["tts"])
    tts["piper"] = {**tts["piper"], "OPTIONS": {"model_path": "/nonexistent/voice.onnx"}}
    settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "tts": tts}
    client = await ws_client()

    await client.send(type="start", text="Hello there.", tts="piper")
    error = await client.receive()

    assert error["code"] == "provider_unavailable" and "/nonexistent/voice.onnx" in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await client.send(type="start", text="Still here. Still working.", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


async def test_hidden_test_providers_are_refused_unless_enabled(ws_client, settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "HIDDEN_PROVIDERS": False}
    client = await ws_client()

    await client.send(type="start", text="Hello there.", tts="simulated")
    error = await client.receive()

    assert error["code"] == "unknown_provider" and "simulated" not in error["message"].split(
        "configured")[1]
    assert client.of("session") == []
