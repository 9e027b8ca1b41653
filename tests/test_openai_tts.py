"""OpenAITTS driven through the real openai SDK against the loopback HTTP server.

No SDK class is mocked: requests go over real HTTP to ``tests.loopback_openai``, which
streams deterministic 24 kHz PCM for ``POST /v1/audio/speech`` in odd-sized chunks.
"""
from __future__ import annotations

import openai
import pytest
from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import TTS, ProviderError
from tests.loopback_openai import SPEECH_PATH, LoopbackOpenAI, speech_pcm
from tts.providers import openai_tts
from tts.providers.openai_tts import OPENAI_VOICES, OpenAITTS, accepts_instructions

TEXT = "Hello there, this sentence is long enough to need several reads of audio."


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep loopback traffic direct even if the environment configures a proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


async def collect(tts: OpenAITTS, text: str = TEXT, voice: str | None = None) -> list[bytes]:
    return [chunk async for chunk in tts.synthesize(text, voice=voice)]


@pytest.mark.asyncio
async def test_audio_is_the_servers_pcm_in_whole_samples() -> None:
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test",
                        instructions="Speak warmly.")
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    assert isinstance(tts, TTS)
    assert tts.sample_rate == 24000
    assert server.speech_chunk_bytes % 2 == 1  # the server's chunks split samples
    assert b"".join(chunks) == bytes(server.sent_speech) == speech_pcm(TEXT)
    assert len(chunks) > 1
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    [request] = server.requests
    assert request.path == SPEECH_PATH
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json == {
        "model": "gpt-4o-mini-tts",
        "voice": "alloy",
        "input": TEXT,
        "response_format": "pcm",
        "instructions": "Speak warmly.",
    }


@pytest.mark.asyncio
async def test_odd_read_boundaries_carry_a_byte_to_the_next_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK re-cuts the body into reads of exactly READ_SIZE bytes: an odd size makes
    # every read end mid-sample.
    monkeypatch.setattr(openai_tts, "READ_SIZE", 1001)
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test")
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    assert b"".join(chunks) == speech_pcm(TEXT)
    assert [len(c) for c in chunks[:3]] == [1000, 1002, 1000]
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "sends_instructions"),
    [("gpt-4o-mini-tts", True), ("tts-1", False), ("tts-1-hd", False)],
)
async def test_instructions_only_go_to_models_that_accept_them(
    model: str, sends_instructions: bool
) -> None:
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(model=model, instructions="Whisper.", base_url=server.base_url,
                        api_key="sk-test")
        try:
            assert b"".join(await collect(tts, "Hi.")) == speech_pcm("Hi.")
        finally:
            await tts.aclose()
    body = server.requests[0].json
    assert body["model"] == model
    assert body["response_format"] == "pcm"
    assert ("instructions" in body) is sends_instructions
    assert accepts_instructions(model) is sends_instructions


@pytest.mark.asyncio
async def test_no_instructions_unless_configured_and_voice_override() -> None:
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test")
        try:
            await collect(tts, "One.", voice="coral")
            await collect(tts, "Two.")
        finally:
            await tts.aclose()
    first, second = (r.json for r in server.requests)
    assert "instructions" not in first
    assert (first["voice"], first["input"]) == ("coral", "One.")
    assert (second["voice"], second["input"]) == ("alloy", "Two.")
    # The chunked body was properly ended, so the pooled connection was reused.
    assert [r.connection for r in server.requests] == [1, 1]


@pytest.mark.asyncio
async def test_blank_text_makes_no_request() -> None:
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test")
        assert await collect(tts, " \n") == []
    assert server.requests == []


def test_voices_are_openais_with_the_configured_one_first() -> None:
    assert OpenAITTS().voices == list(OPENAI_VOICES)
    voices = OpenAITTS(voice="nova").voices
    assert voices[0] == "nova"
    assert sorted(voices) == sorted(OPENAI_VOICES)
    assert OpenAITTS(voice="marin").voices == ["marin", *OPENAI_VOICES]


def test_invalid_options_are_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        OpenAITTS(model="")
    with pytest.raises(ImproperlyConfigured):
        OpenAITTS(voice="")
    with pytest.raises(ImproperlyConfigured):
        OpenAITTS(timeout=0)


# --- failures -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_http_401_raises_provider_error() -> None:
    async with LoopbackOpenAI(status=401) as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-wrong")
        try:
            with pytest.raises(ProviderError) as info:
                await collect(tts)
        finally:
            await tts.aclose()
    message = str(info.value)
    assert message.startswith("OpenAI TTS request failed: HTTP 401")
    assert "Incorrect API key provided." in message
    assert isinstance(info.value.__cause__, openai.AuthenticationError)


@pytest.mark.asyncio
async def test_stall_before_the_first_byte_raises_provider_error_on_timeout() -> None:
    async with LoopbackOpenAI(stall=True) as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test", timeout=0.3)
        try:
            with pytest.raises(ProviderError, match="timed out") as info:
                await collect(tts)
        finally:
            await tts.aclose()
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_dropped_connection_mid_audio_raises_provider_error_after_some_audio() -> None:
    async with LoopbackOpenAI(speech_drop_after=5005) as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test")
        received: list[bytes] = []
        try:
            with pytest.raises(ProviderError, match="OpenAI TTS request failed") as info:
                async for chunk in tts.synthesize(TEXT, voice=None):
                    received.append(chunk)
        finally:
            await tts.aclose()
    assert len(server.sent_speech) == 5005
    assert received  # audio was yielded before the failure
    audio = b"".join(received)
    assert audio == speech_pcm(TEXT)[: len(audio)]
    assert all(len(chunk) % 2 == 0 for chunk in received)
    assert "peer closed connection" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.asyncio
async def test_stall_mid_audio_raises_provider_error_on_timeout() -> None:
    async with LoopbackOpenAI(speech_stall_after=5005) as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test", timeout=0.3)
        received: list[bytes] = []
        try:
            with pytest.raises(ProviderError, match="timed out"):
                async for chunk in tts.synthesize(TEXT, voice=None):
                    received.append(chunk)
        finally:
            await tts.aclose()
    assert b"".join(received) == speech_pcm(TEXT)[:4096]


@pytest.mark.asyncio
async def test_stopping_early_releases_the_response() -> None:
    async with LoopbackOpenAI() as server:
        tts = OpenAITTS(base_url=server.base_url, api_key="sk-test")
        try:
            stream = tts.synthesize(TEXT, voice=None)
            assert len(await anext(stream)) == 4096
            await stream.aclose()  # e.g. the user barged in
            assert b"".join(await collect(tts, "Next.")) == speech_pcm("Next.")
        finally:
            await tts.aclose()
    assert len(server.requests) == 2
