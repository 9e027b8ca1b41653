"""The cloud voices through the TTS endpoint, with the real SDKs against loopback servers:
the happy paths, audio order, odd chunks, and every way of falling back to Piper."""
from __future__ import annotations

import grpc
import pytest
from channels.db import database_sync_to_async

from streaming.models import StreamSession
from tests.loopback_google import LoopbackGoogleTTS
from tests.loopback_openai import LoopbackOpenAI, speech_pcm

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = ("Cloud voices speak this first sentence. A second sentence follows right away. "
        "The third sentence closes the paragraph.")


@pytest.fixture(autouse=True)
def _direct_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def use(settings, *, google: LoopbackGoogleTTS | None = None,
        openai: LoopbackOpenAI | None = None, fallback: list[str] | None = None,
        first_byte_s: float = 10.0) -> None:
    """Point the google / openai aliases at loopback servers; set the fallback chain."""
    tts = dict(settings.STREAMING_PROVIDERS["tts"])
    if google:
        tts["google"] = {**tts["google"], "OPTIONS": {
            "endpoint": google.endpoint, "insecure": True, "timeout": 5.0}}
    if openai:
        tts["openai"] = {**tts["openai"], "OPTIONS": {
            "base_url": openai.base_url, "api_key": "sk-test", "timeout": 5.0}}
    settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "tts": tts}
    settings.STREAMING = {**settings.STREAMING, "TTS_FALLBACK": fallback or [],
                          "TTS_FIRST_BYTE_TIMEOUT_S": first_byte_s}


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


def speech_requests(server: LoopbackOpenAI) -> list:
    return [r for r in server.requests if r.path.endswith("/audio/speech")]


def spoken(client) -> list[str]:
    return [e["text"] for e in client.of("segment")]


async def test_google_chirp_voice_through_the_endpoint(ws_client, settings) -> None:
    async with LoopbackGoogleTTS(chunk_bytes=1001) as server:
        use(settings, google=server)
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="google")
        done = await client.receive_until("done")

    assert done["status"] == "completed"
    assert client.of("session")[0]["sample_rate"] == 24000
    texts = spoken(client)
    assert len(texts) >= 2
    assert bytes(client.audio) == b"".join(speech_pcm(t, 24000) for t in texts)  # in order
    calls = server.calls_of("StreamingSynthesize")  # one call per segment, made concurrently
    assert sorted(c.requests[1].input.text for c in calls) == sorted(texts)
    assert server.violations == []


async def test_openai_voice_with_odd_chunks_through_the_endpoint(ws_client, settings) -> None:
    async with LoopbackOpenAI(speech_chunk_bytes=1001) as server:
        use(settings, openai=server)
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="openai", voice="nova")
        done = await client.receive_until("done")

    assert done["status"] == "completed" and client.of("session")[0]["voice"] == "nova"
    assert bytes(client.audio) == b"".join(speech_pcm(t) for t in spoken(client))
    assert all(e["bytes"] % 2 == 0 for e in client.of("audio"))
    assert [r.json["voice"] for r in speech_requests(server)] == ["nova"] * len(spoken(client))


async def test_auth_failure_falls_back_to_piper(ws_client, settings) -> None:
    async with LoopbackGoogleTTS(status=grpc.StatusCode.UNAUTHENTICATED) as server:
        use(settings, google=server, fallback=["piper"])
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="google")
        done = await client.receive_until("done", timeout=60)

    assert done["status"] == "completed"
    [switch] = client.of("provider_switch")
    assert (switch["from"], switch["to"], switch["after_audio"]) == ("google", "piper", False)
    assert "UNAUTHENTICATED" in switch["reason"]
    assert client.first("provider_switch") < client.first("audio")
    assert client.of("session")[0]["sample_rate"] == 24000 and len(client.audio) > 24000
    assert (await stored(done["session_id"])).fallbacks[0]["to"] == "piper"


async def test_a_stall_times_out_and_falls_back_to_piper(ws_client, settings) -> None:
    from tts.providers.piper import PiperTTS

    async for _ in PiperTTS().synthesize("Ready."):  # the voice loaded, as on a started server
        pass
    async with LoopbackOpenAI(stall=True) as server:
        use(settings, openai=server, fallback=["piper"], first_byte_s=1.0)
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="openai")
        done = await client.receive_until("done", timeout=60)

    assert done["status"] == "completed"
    [switch] = client.of("provider_switch")
    assert switch["to"] == "piper" and switch["reason"] == "TimeoutError"


async def test_failure_mid_audio_moves_the_rest_to_piper_without_repeats(ws_client,
                                                                          settings) -> None:
    async with LoopbackOpenAI(speech_drop_after=6000) as server:
        use(settings, openai=server, fallback=["piper"])
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="openai")
        done = await client.receive_until("done", timeout=60)

    assert done["status"] == "completed"
    [switch] = client.of("provider_switch")
    assert switch["after_audio"] is True and switch["to"] == "piper"
    indices = [e["index"] for e in client.of("segment")]
    assert indices == list(range(len(indices)))  # each segment announced (and spoken) once
    assert client.of("session")[0]["sample_rate"] == 24000  # piper's audio resampled to it
    record = await stored(done["session_id"])
    assert record.segment_count == len(indices) and record.fallbacks[0]["after_audio"]
    assert record.bytes_sent == len(client.audio)  # nothing sent twice


async def test_the_whole_chain_failing_fails_the_stream_and_keeps_the_record(
        ws_client, settings) -> None:
    async with (LoopbackGoogleTTS(status=grpc.StatusCode.UNAUTHENTICATED) as google,
                LoopbackOpenAI(status=401) as openai):
        use(settings, google=google, openai=openai, fallback=["openai"])
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="google")
        done = await client.receive_until("done")

    assert done["status"] == "failed"
    error = client.of("error")[0]
    assert error["code"] == "provider_error" and "google -> openai" in error["message"]
    record = await stored(done["session_id"])
    assert record.status == "failed" and "every TTS provider failed" in record.error
    assert record.fallbacks == [{k: v for k, v in client.of("provider_switch")[0].items()
                                 if k not in ("type", "session_id")}]


async def test_a_google_voice_the_picker_lists_streams_through_the_endpoint(
        ws_client, settings) -> None:
    from django.test import AsyncClient

    async with LoopbackGoogleTTS() as server:
        use(settings, google=server)
        listed = (await AsyncClient().get("/api/voices")).json()["providers"]
        google = next(p for p in listed if p["alias"] == "google")
        voice = next(v for v in google["voices"] if v != google["default_voice"])
        client = await ws_client()
        await client.send(type="start", text=TEXT, tts="google", voice=voice)
        done = await client.receive_until("done")
        await client.send(type="start", text=TEXT, tts="google", voice="en-US-Nobody")
        refused = await client.receive_until("error")

    assert done["status"] == "completed" and client.of("session")[0]["voice"] == voice
    assert refused["code"] == "unknown_voice"
