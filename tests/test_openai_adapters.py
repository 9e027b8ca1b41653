"""OpenAI LLM/STT adapters driven through the real openai SDK against a loopback server.

No SDK class is mocked: requests go over real HTTP to ``tests.loopback_openai``, which
speaks the OpenAI wire formats (SSE chat streaming, multipart transcription uploads).
"""
from __future__ import annotations

import asyncio
import io
import math
import struct
import sys
import wave

import openai
import pytest
from django.core.exceptions import ImproperlyConfigured

from streaming.openai_client import PLACEHOLDER_API_KEY
from streaming.protocols import LLM, STT, ProviderError
from tests.live_server import free_port
from tests.loopback_openai import CHAT_PATH, TRANSCRIPTIONS_PATH, LoopbackOpenAI
from voicebot.providers.openai_llm import OpenAILLM
from voicebot.providers.openai_stt import OpenAISTT

MESSAGES = [
    {"role": "system", "content": "You are a helpful voice assistant."},
    {"role": "user", "content": "Say hello."},
]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep loopback traffic direct even if the environment configures a proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def tone_pcm(seconds: float, sample_rate: int, freq: float = 440.0) -> bytes:
    """A sine tone as PCM s16le mono."""
    count = int(seconds * sample_rate)
    return struct.pack(
        f"<{count}h",
        *(int(12000 * math.sin(2 * math.pi * freq * i / sample_rate)) for i in range(count)),
    )


async def collect(llm: OpenAILLM, messages: list[dict] = MESSAGES) -> list[str]:
    """All deltas of one stream."""
    return [delta async for delta in llm.stream(messages)]


# --- LLM ----------------------------------------------------------------------------------


def test_adapters_satisfy_the_protocols() -> None:
    assert isinstance(OpenAILLM(api_key="sk-test"), LLM)
    assert isinstance(OpenAISTT(api_key="sk-test"), STT)
    assert OpenAILLM(model="llama3.2", api_key="sk-test").label == "llama3.2 (OpenAI-compatible)"


@pytest.mark.asyncio
async def test_stream_yields_deltas_in_order_and_records_usage() -> None:
    async with LoopbackOpenAI(tokens=["The", " time", " is", " noon", "."]) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            deltas = await collect(llm)
        finally:
            await llm.aclose()
    # The role-only first chunk (empty content), the finish chunk and the usage chunk
    # (no choices) yield nothing.
    assert deltas == ["The", " time", " is", " noon", "."]
    assert "".join(deltas) == "The time is noon."
    assert llm.usage == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


@pytest.mark.asyncio
async def test_each_delta_is_yielded_before_the_next_is_sent() -> None:
    gate: asyncio.Queue[None] = asyncio.Queue()
    async with LoopbackOpenAI(tokens=["one", "two", "three"], gate=gate) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            stream = llm.stream(MESSAGES)
            for expected_sent, token in enumerate(["one", "two", "three"], start=1):
                gate.put_nowait(None)  # let the server send exactly one more token
                assert await anext(stream) == token
                assert server.sent_tokens == expected_sent  # not buffered until the end
            assert [delta async for delta in stream] == []
        finally:
            await llm.aclose()


@pytest.mark.asyncio
async def test_request_carries_model_messages_and_stream_flag() -> None:
    async with LoopbackOpenAI() as server:
        llm = OpenAILLM(
            model="llama3.2", base_url=server.base_url, api_key="sk-test", temperature=0.3
        )
        try:
            await collect(llm)
        finally:
            await llm.aclose()
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == CHAT_PATH
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json["model"] == "llama3.2"
    assert request.json["messages"] == MESSAGES
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.json["temperature"] == 0.3


@pytest.mark.asyncio
async def test_temperature_is_omitted_unless_set() -> None:
    async with LoopbackOpenAI() as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            await collect(llm)
        finally:
            await llm.aclose()
    assert "temperature" not in server.requests[0].json
    assert server.requests[0].json["model"] == "gpt-4o-mini"


@pytest.mark.asyncio
async def test_local_server_without_key_gets_a_placeholder_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with LoopbackOpenAI() as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="")
        try:
            assert "".join(await collect(llm)) == "Hello, world!"
        finally:
            await llm.aclose()
    assert server.requests[0].headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


@pytest.mark.asyncio
async def test_one_client_is_reused_across_streams() -> None:
    async with LoopbackOpenAI() as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            first = await collect(llm)
            client = llm._client
            second = await collect(llm)
            assert llm._client is client
        finally:
            await llm.aclose()
    assert first == second == ["Hel", "lo", ",", " world", "!"]
    # The SSE body was properly terminated, so the pooled connection was reused.
    assert [r.connection for r in server.requests] == [1, 1]


@pytest.mark.asyncio
async def test_stopping_early_releases_the_stream() -> None:
    async with LoopbackOpenAI(tokens=["a", "b", "c", "d"]) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            stream = llm.stream(MESSAGES)
            assert await anext(stream) == "a"
            await stream.aclose()  # e.g. the user barged in
            assert await collect(llm) == ["a", "b", "c", "d"]
        finally:
            await llm.aclose()
    assert len(server.requests) == 2


@pytest.mark.asyncio
async def test_mid_stream_error_raises_provider_error_after_first_deltas() -> None:
    async with LoopbackOpenAI(tokens=["Hel", "lo", " there"], error_after=2) as server:
        server.error_message = "The model overloaded mid-answer."
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        received: list[str] = []
        try:
            with pytest.raises(ProviderError) as info:
                async for delta in llm.stream(MESSAGES):
                    received.append(delta)
        finally:
            await llm.aclose()
    assert received == ["Hel", "lo"]
    assert str(info.value).startswith("OpenAI LLM request failed:")
    assert "The model overloaded mid-answer." in str(info.value)
    assert isinstance(info.value.__cause__, openai.APIError)
    assert llm.usage is None


@pytest.mark.asyncio
async def test_http_401_raises_provider_error_with_clear_message() -> None:
    async with LoopbackOpenAI(status=401) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-wrong")
        received: list[str] = []
        try:
            with pytest.raises(ProviderError) as info:
                async for delta in llm.stream(MESSAGES):
                    received.append(delta)
        finally:
            await llm.aclose()
    assert received == []
    message = str(info.value)
    assert message.startswith("OpenAI LLM request failed:")
    assert "HTTP 401" in message
    assert "Incorrect API key provided." in message
    assert isinstance(info.value.__cause__, openai.AuthenticationError)


@pytest.mark.asyncio
async def test_http_500_is_not_retried_by_default() -> None:
    async with LoopbackOpenAI(status=500, status_message="Upstream exploded.") as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        try:
            with pytest.raises(ProviderError, match=r"HTTP 500.*Upstream exploded"):
                await collect(llm)
        finally:
            await llm.aclose()
    assert len(server.requests) == 1  # max_retries=0


@pytest.mark.asyncio
async def test_stalled_server_raises_provider_error_on_timeout() -> None:
    async with LoopbackOpenAI(stall=True) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test", timeout=0.5)
        try:
            with pytest.raises(ProviderError, match="timed out") as info:
                await collect(llm)
        finally:
            await llm.aclose()
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    assert len(server.requests) == 1  # the request did arrive; no answer came


@pytest.mark.asyncio
async def test_unreachable_server_raises_provider_error() -> None:
    llm = OpenAILLM(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="sk-test")
    try:
        with pytest.raises(ProviderError, match="OpenAI LLM request failed") as info:
            await collect(llm)
    finally:
        await llm.aclose()
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


@pytest.mark.asyncio
async def test_missing_sdk_is_improperly_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    llm = OpenAILLM(base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    with pytest.raises(ImproperlyConfigured, match="pip install openai"):
        await collect(llm)
    stt = OpenAISTT(base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    with pytest.raises(ImproperlyConfigured, match="pip install openai"):
        await stt.transcribe(tone_pcm(0.1, 16000), sample_rate=16000)


@pytest.mark.asyncio
async def test_missing_api_key_for_openai_is_improperly_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    llm = OpenAILLM()  # no key and no base_url: the real API would refuse us
    with pytest.raises(ImproperlyConfigured, match="api_key"):
        await collect(llm)


def test_invalid_options_are_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        OpenAILLM(timeout=0)
    with pytest.raises(ImproperlyConfigured):
        OpenAILLM(max_retries=-1)
    with pytest.raises(ImproperlyConfigured):
        OpenAISTT(model="")


# --- STT ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_transcription_uploads_a_wav_of_our_pcm_and_returns_the_text() -> None:
    pcm = tone_pcm(0.5, 24000)
    async with LoopbackOpenAI(transcript="  What time is it?\n") as server:
        stt = OpenAISTT(base_url=server.base_url, api_key="sk-test", language="en")
        try:
            text = await stt.transcribe(pcm, sample_rate=24000)
        finally:
            await stt.aclose()
    assert text == "What time is it?"
    [request] = server.requests
    assert request.path == TRANSCRIPTIONS_PATH
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.form == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    upload = request.files["file"]
    assert upload.filename == "speech.wav"
    assert upload.content_type == "audio/wav"
    with wave.open(io.BytesIO(upload.data), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        assert wav.getframerate() == 24000
        assert wav.getnframes() == len(pcm) // 2
        assert wav.readframes(wav.getnframes()) == pcm


@pytest.mark.asyncio
async def test_transcription_omits_language_unless_set() -> None:
    async with LoopbackOpenAI() as server:
        stt = OpenAISTT(model="whisper-1", base_url=server.base_url, api_key="sk-test")
        try:
            assert await stt.transcribe(tone_pcm(0.2, 16000), sample_rate=16000) == (
                "what time is it"
            )
        finally:
            await stt.aclose()
    assert server.requests[0].form == {"model": "whisper-1"}


@pytest.mark.asyncio
async def test_empty_audio_is_an_empty_transcript_without_a_request() -> None:
    async with LoopbackOpenAI() as server:
        stt = OpenAISTT(base_url=server.base_url, api_key="sk-test")
        assert await stt.transcribe(b"", sample_rate=16000) == ""
    assert server.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [401, 500])
async def test_transcription_http_errors_raise_provider_error(status: int) -> None:
    async with LoopbackOpenAI(status=status, status_message="Nope.") as server:
        stt = OpenAISTT(base_url=server.base_url, api_key="sk-test")
        try:
            with pytest.raises(ProviderError, match=f"OpenAI STT request failed: HTTP {status}"):
                await stt.transcribe(tone_pcm(0.1, 16000), sample_rate=16000)
        finally:
            await stt.aclose()
    assert server.requests[0].files["file"].filename == "speech.wav"


@pytest.mark.asyncio
async def test_transcription_stall_raises_provider_error_on_timeout() -> None:
    async with LoopbackOpenAI(stall=True) as server:
        stt = OpenAISTT(base_url=server.base_url, api_key="sk-test", timeout=0.5)
        try:
            with pytest.raises(ProviderError, match="timed out") as info:
                await stt.transcribe(tone_pcm(0.1, 16000), sample_rate=16000)
        finally:
            await stt.aclose()
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
