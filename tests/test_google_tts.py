"""GoogleTTS driven through the real google-cloud-texttospeech SDK against a gRPC loopback.

No SDK class is mocked: calls go over a real (insecure) gRPC channel to
``tests.loopback_google``, which serves the TextToSpeech service, checks the streaming
request rules and records every request.
"""
from __future__ import annotations

import asyncio
import json
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from django.core.exceptions import ImproperlyConfigured
from google.api_core import exceptions as api_exceptions
from google.cloud.texttospeech_v1 import TextToSpeechAsyncClient, types
from google.cloud.texttospeech_v1.services.text_to_speech.transports import (
    TextToSpeechGrpcAsyncIOTransport,
)
from google.cloud.texttospeech_v1beta1 import types as beta_types

from streaming.captions import estimate_words
from streaming.engine import StreamEngine, text_once
from streaming.protocols import TTS, ProviderError, SpeechChunk, Word
from tests.live_server import free_port
from tests.loopback_google import (
    LoopbackGoogleTTS,
    mark_seconds,
    speak_ssml,
    speech_pcm,
    wav_header,
)
from tts.providers.google_tts import (
    SDK_MODULE,
    GoogleTTS,
    language_of,
    load_credentials_file,
    strip_wav_header,
    words_at_marks,
)

TEXT = "Hello there, how can I help you today?"
STANDARD_VOICE = "en-US-Standard-C"
SSML_MARK = beta_types.SynthesizeSpeechRequest.TimepointType.SSML_MARK


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep loopback gRPC traffic direct even if the environment configures a proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "GRPC_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "grpc_proxy"):
        monkeypatch.delenv(name, raising=False)


def kind(request: types.StreamingSynthesizeRequest) -> str | None:
    """Which member of the request's oneof is set."""
    return types.StreamingSynthesizeRequest.pb(request).WhichOneof("streaming_request")


async def collect(tts: GoogleTTS, text: str = TEXT, voice: str | None = None) -> list[bytes]:
    return [chunk async for chunk in tts.synthesize(text, voice=voice)]


def adapter(server: LoopbackGoogleTTS, **options: object) -> GoogleTTS:
    return GoogleTTS(endpoint=server.endpoint, insecure=True, **options)


def loopback_timings(text: str, sample_rate: int = 24000) -> list[Word]:
    """The words of ``text`` as the loopback times them: word N from its mark (after the
    characters said before it) to the next word's mark, the last to the audio's end."""
    words = text.split()
    starts = [mark_seconds(sum(len(w) + 1 for w in words[:n]), sample_rate) * 1000
              for n in range(len(words))]
    ends = [*starts[1:], len(speech_pcm(text, sample_rate)) / 2 / sample_rate * 1000]
    return [Word(w, round(a, 1), round(b, 1)) for w, a, b in zip(words, starts, ends, strict=True)]


# --- streaming (Chirp 3 HD) ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_chirp_voice_streams_config_then_one_input_in_whole_samples() -> None:
    async with LoopbackGoogleTTS(chunk_bytes=1001) as server:  # odd: responses split samples
        tts = adapter(server)
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    assert isinstance(tts, TTS)
    [call] = server.calls
    assert call.method == "StreamingSynthesize"
    first, second = call.requests
    assert kind(first) == "streaming_config"
    config = first.streaming_config
    assert config.voice.name == "en-US-Chirp3-HD-Charon"
    assert config.voice.language_code == "en-US"
    assert config.streaming_audio_config.audio_encoding == types.AudioEncoding.PCM
    assert config.streaming_audio_config.sample_rate_hertz == 24000
    assert kind(second) == "input"
    assert second.input.text == TEXT
    assert server.violations == []
    assert len(server.sent_audio) > 2  # the audio came in several responses
    assert b"".join(chunks) == b"".join(server.sent_audio) == speech_pcm(TEXT, 24000)
    assert len(chunks) > 1
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


@pytest.mark.asyncio
async def test_each_segment_is_its_own_streaming_call_on_one_client() -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server)
        try:
            first = b"".join(await collect(tts, "First sentence."))
            client = tts._clients[SDK_MODULE]
            second = b"".join(await collect(tts, "Second one."))
            assert tts._clients[SDK_MODULE] is client
        finally:
            await tts.aclose()
    assert first == speech_pcm("First sentence.", 24000)
    assert second == speech_pcm("Second one.", 24000)
    calls = server.calls_of("StreamingSynthesize")
    assert [[kind(r) for r in c.requests] for c in calls] == [["streaming_config", "input"]] * 2
    assert [c.requests[1].input.text for c in calls] == ["First sentence.", "Second one."]


@pytest.mark.asyncio
async def test_voice_argument_overrides_the_default_and_sets_its_language() -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server, sample_rate=16000)
        try:
            audio = b"".join(await collect(tts, "Guten Tag.", voice="de-DE-Chirp3-HD-Kore"))
        finally:
            await tts.aclose()
    config = server.calls[0].requests[0].streaming_config
    assert config.voice.name == "de-DE-Chirp3-HD-Kore"
    assert config.voice.language_code == "de-DE"
    assert config.streaming_audio_config.sample_rate_hertz == 16000
    assert audio == speech_pcm("Guten Tag.", 16000)


@pytest.mark.asyncio
async def test_stopping_early_cancels_the_call_and_the_next_segment_works() -> None:
    async with LoopbackGoogleTTS(chunk_bytes=480) as server:
        tts = adapter(server)
        try:
            stream = tts.synthesize(TEXT, voice=None)
            assert len(await anext(stream)) == 480
            await stream.aclose()  # e.g. the user barged in
            assert b"".join(await collect(tts, "Next.")) == speech_pcm("Next.", 24000)
        finally:
            await tts.aclose()
    assert len(server.calls_of("StreamingSynthesize")) == 2


# --- unary (other voices) ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_other_voices_send_ssml_with_a_mark_before_each_word_asking_ssml_mark_timepoints(
) -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server)
        try:
            chunks = await collect(tts, voice=STANDARD_VOICE)
        finally:
            await tts.aclose()
    [call] = server.calls
    assert (call.method, call.version) == ("SynthesizeSpeech", "v1beta1")
    [request] = call.requests
    assert request.input.text == ""
    assert request.input.ssml == (
        '<speak><mark name="w0"/>Hello <mark name="w1"/>there, <mark name="w2"/>how'
        ' <mark name="w3"/>can <mark name="w4"/>I <mark name="w5"/>help <mark name="w6"/>you'
        ' <mark name="w7"/>today?</speak>'
    )
    assert list(request.enable_time_pointing) == [SSML_MARK]
    assert request.voice.name == STANDARD_VOICE
    assert request.voice.language_code == "en-US"
    assert request.audio_config.audio_encoding == beta_types.AudioEncoding.PCM
    assert request.audio_config.sample_rate_hertz == 24000
    assert b"".join(chunks) == speech_pcm(TEXT, 24000)
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert server.violations == []


@pytest.mark.asyncio
async def test_the_chunks_words_start_at_their_marks_and_end_at_the_next_words_mark() -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server, voice=STANDARD_VOICE, sample_rate=16000)
        try:
            [chunk] = await collect(tts)
        finally:
            await tts.aclose()
    assert isinstance(chunk, SpeechChunk)
    assert bytes(chunk) == speech_pcm(TEXT, 16000)
    assert list(chunk.words) == loopback_timings(TEXT, 16000)
    # spelled out for the first words: "Hello " is 6 characters of 12 ms, "there, " 7 more
    assert chunk.words[:2] == (Word("Hello", 0.0, 72.0), Word("there,", 72.0, 156.0))
    assert chunk.words[-1].end_ms == len(TEXT) * 12.0  # the last word ends with the audio


@pytest.mark.asyncio
async def test_ampersands_angle_brackets_and_quotes_are_escaped_and_words_keep_their_text(
) -> None:
    text = """Tom & Jerry <3 "cheese" isn't 5>4 &amp; <b>bold</b>"""
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            [chunk] = await collect(tts, text)
        finally:
            await tts.aclose()
    assert server.violations == []  # the SSML parsed
    ssml = server.calls[0].requests[0].input.ssml
    assert "&amp;amp;" in ssml and "&lt;b&gt;bold&lt;/b&gt;" in ssml and "&quot;" in ssml
    said, marks = speak_ssml(ssml)
    assert said == text  # the service is asked to say exactly the original words
    assert [name for name, _ in marks] == [f"w{n}" for n in range(len(text.split()))]
    assert [w.text for w in chunk.words] == text.split()
    assert list(chunk.words) == loopback_timings(text)


@pytest.mark.asyncio
async def test_a_response_without_timepoints_yields_plain_bytes() -> None:
    async with LoopbackGoogleTTS(timepoints=False) as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    assert list(server.calls[0].requests[0].enable_time_pointing) == [SSML_MARK]
    assert [type(chunk) for chunk in chunks] == [bytes]
    assert b"".join(chunks) == speech_pcm(TEXT, 24000)


@pytest.mark.asyncio
async def test_a_response_missing_one_words_mark_yields_plain_bytes() -> None:
    async with LoopbackGoogleTTS(skip_marks=("w3",)) as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    assert [type(chunk) for chunk in chunks] == [bytes]
    assert b"".join(chunks) == speech_pcm(TEXT, 24000)


@pytest.mark.asyncio
async def test_a_voice_refusing_ssml_is_asked_again_in_plain_text_and_then_only_so() -> None:
    async with LoopbackGoogleTTS(ssml_refused=(STANDARD_VOICE,)) as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            first = await collect(tts)
            second = await collect(tts, "Next.")
        finally:
            await tts.aclose()
    sent = [call.requests[0].input for call in server.calls_of("SynthesizeSpeech")]
    assert [bool(request.ssml) for request in sent] == [True, False, False]
    assert [request.text for request in sent[1:]] == [TEXT, "Next."]
    assert [type(chunk) for chunk in first + second] == [bytes, bytes]  # untimed
    assert b"".join(first) == speech_pcm(TEXT, 24000)


@pytest.mark.asyncio
async def test_a_plain_text_request_refused_as_invalid_is_a_provider_error_not_asked_again(
) -> None:
    async with LoopbackGoogleTTS(status=grpc.StatusCode.INVALID_ARGUMENT,
                                 status_details="Bad voice.") as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            for text in (TEXT, "Next."):
                with pytest.raises(ProviderError, match="INVALID_ARGUMENT"):
                    await collect(tts, text)
        finally:
            await tts.aclose()
    sent = [call.requests[0].input for call in server.calls_of("SynthesizeSpeech")]
    assert [bool(request.ssml) for request in sent] == [True, False, False]


def test_words_at_marks_ends_a_word_no_earlier_than_it_starts() -> None:
    points = [beta_types.Timepoint(mark_name="w0", time_seconds=0.0),
              beta_types.Timepoint(mark_name="w1", time_seconds=0.5),
              beta_types.Timepoint(mark_name="w2", time_seconds=0.4)]
    assert words_at_marks(["a", "b", "c"], points, 300.0) == [
        Word("a", 0.0, 500.0), Word("b", 500.0, 500.0), Word("c", 400.0, 400.0)
    ]
    assert words_at_marks(["a", "b"], points[:1], 300.0) is None


@pytest.mark.asyncio
async def test_chirp_3_hd_voices_stream_plain_text_without_marks_and_yield_untimed_audio(
) -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server)  # the default voice: en-US-Chirp3-HD-Charon
        try:
            chunks = await collect(tts)
        finally:
            await tts.aclose()
    [call] = server.calls
    assert (call.method, call.version) == ("StreamingSynthesize", "v1")
    assert call.requests[1].input.text == TEXT
    assert "<mark" not in str(call.requests)
    assert not any(isinstance(chunk, SpeechChunk) for chunk in chunks)


@pytest.mark.asyncio
async def test_an_engine_segment_on_a_standard_voice_gets_the_services_timings_not_an_estimate(
) -> None:
    text = "Well... perhaps, 'maybe' tomorrow!"
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            result = await StreamEngine(tts, _ignore).run(text_once(text))
        finally:
            await tts.aclose()
    [segment] = result.segments
    assert segment.spoken == segment.text == text
    service = [[w.text, w.start_ms, w.end_ms] for w in loopback_timings(text)]
    length = len(speech_pcm(text, 24000)) / 2 / 24
    estimate = [[w.text, w.start_ms, w.end_ms] for w in estimate_words(text, length)]
    assert service != estimate
    assert segment.words == service


async def _ignore(event: object) -> None:
    """An engine output that drops what it is given."""


@pytest.mark.asyncio
async def test_a_wav_header_in_the_answer_is_stripped() -> None:
    async with LoopbackGoogleTTS(wav_header=True) as server:
        tts = adapter(server, voice=STANDARD_VOICE)
        try:
            audio = b"".join(await collect(tts))
        finally:
            await tts.aclose()
    assert audio == speech_pcm(TEXT, 24000)


def test_strip_wav_header_and_language_of() -> None:
    pcm = speech_pcm("abc", 8000)
    assert strip_wav_header(wav_header(len(pcm), 8000) + pcm) == pcm
    assert strip_wav_header(pcm) == pcm
    # An extra chunk before "data" is skipped.
    header = wav_header(len(pcm), 8000)
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    assert strip_wav_header(header[:36] + extra + header[36:] + pcm) == pcm
    assert language_of("en-GB-Chirp3-HD-Charon", "en-US") == "en-GB"
    assert language_of("cmn-CN-Standard-A", "en-US") == "cmn-CN"
    assert language_of("custom", "fr-FR") == "fr-FR"


@pytest.mark.asyncio
async def test_blank_text_makes_no_call() -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server)
        assert await collect(tts, "  \n") == []
    assert server.calls == []


# --- failures -----------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", [None, STANDARD_VOICE])
async def test_unauthenticated_raises_provider_error_saying_so(voice: str | None) -> None:
    async with LoopbackGoogleTTS(status=grpc.StatusCode.UNAUTHENTICATED) as server:
        tts = adapter(server)
        try:
            with pytest.raises(ProviderError) as info:
                await collect(tts, voice=voice)
        finally:
            await tts.aclose()
    message = str(info.value)
    assert message.startswith("Google TTS failed: UNAUTHENTICATED")
    assert "invalid authentication credentials" in message
    assert "authentication failed" in message
    assert isinstance(info.value.__cause__, api_exceptions.Unauthenticated)


@pytest.mark.asyncio
async def test_permission_denied_raises_provider_error_saying_so() -> None:
    async with LoopbackGoogleTTS(
        status=grpc.StatusCode.PERMISSION_DENIED, status_details="API not enabled."
    ) as server:
        tts = adapter(server)
        try:
            with pytest.raises(ProviderError, match="PERMISSION_DENIED API not enabled") as info:
                await collect(tts)
        finally:
            await tts.aclose()
    assert "permission denied" in str(info.value)
    assert isinstance(info.value.__cause__, api_exceptions.PermissionDenied)


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", [None, STANDARD_VOICE])
async def test_stalled_server_raises_provider_error_on_timeout(voice: str | None) -> None:
    async with LoopbackGoogleTTS(stall=True) as server:
        tts = adapter(server, timeout=0.3)
        try:
            with pytest.raises(ProviderError, match="timed out"):
                await collect(tts, voice=voice)
        finally:
            await tts.aclose()
    assert len(server.calls) == 1  # the call did arrive; no answer came


@pytest.mark.asyncio
async def test_failure_mid_audio_raises_provider_error_after_the_first_chunks() -> None:
    async with LoopbackGoogleTTS(
        chunk_bytes=4800, fail_after=2, fail_status=grpc.StatusCode.INTERNAL,
        fail_details="Synthesis backend crashed.",
    ) as server:
        tts = adapter(server)
        received: list[bytes] = []
        try:
            with pytest.raises(ProviderError) as info:
                async for chunk in tts.synthesize(TEXT, voice=None):
                    received.append(chunk)
        finally:
            await tts.aclose()
    assert len(server.sent_audio) == 2
    assert b"".join(received) == b"".join(server.sent_audio) == speech_pcm(TEXT, 24000)[:9600]
    assert str(info.value) == "Google TTS failed: INTERNAL Synthesis backend crashed."
    assert isinstance(info.value.__cause__, api_exceptions.InternalServerError)


@pytest.mark.asyncio
async def test_unreachable_endpoint_raises_provider_error() -> None:
    tts = GoogleTTS(endpoint=f"127.0.0.1:{free_port()}", insecure=True, timeout=5)
    try:
        with pytest.raises(ProviderError, match="Google TTS failed: UNAVAILABLE"):
            await collect(tts)
    finally:
        await tts.aclose()


# --- the loopback's request-rule checker ---------------------------------------------------


async def raw_stream(server: LoopbackGoogleTTS, *requests: types.StreamingSynthesizeRequest
                     ) -> list[types.StreamingSynthesizeResponse]:
    """Send hand-made requests through the SDK client, bypassing the adapter."""
    channel = grpc.aio.insecure_channel(server.endpoint)
    client = TextToSpeechAsyncClient(transport=TextToSpeechGrpcAsyncIOTransport(channel=channel))

    async def feed() -> AsyncIterator[types.StreamingSynthesizeRequest]:
        for request in requests:
            yield request

    try:
        call = await client.streaming_synthesize(requests=feed(), timeout=5)
        return [response async for response in call]
    finally:
        await channel.close()


CONFIG = types.StreamingSynthesizeRequest(streaming_config=types.StreamingSynthesizeConfig(
    voice=types.VoiceSelectionParams(name="en-US-Chirp3-HD-Charon", language_code="en-US"),
    streaming_audio_config=types.StreamingAudioConfig(
        audio_encoding=types.AudioEncoding.PCM, sample_rate_hertz=24000
    ),
))
INPUT = types.StreamingSynthesizeRequest(input=types.StreamingSynthesisInput(text="Hi."))


@pytest.mark.asyncio
async def test_checker_rejects_input_before_config() -> None:
    async with LoopbackGoogleTTS() as server:
        with pytest.raises(api_exceptions.InvalidArgument, match="streaming_config"):
            await raw_stream(server, INPUT, CONFIG)
    assert server.violations == ["first request must carry only streaming_config, got input"]


@pytest.mark.asyncio
async def test_checker_rejects_a_second_config() -> None:
    async with LoopbackGoogleTTS() as server:
        with pytest.raises(api_exceptions.InvalidArgument, match="only input"):
            await raw_stream(server, CONFIG, INPUT, CONFIG)
    assert server.violations == ["request 3 must carry only input, got streaming_config"]


@pytest.mark.asyncio
async def test_checker_accepts_the_valid_order() -> None:
    async with LoopbackGoogleTTS() as server:
        responses = await raw_stream(server, CONFIG, INPUT, INPUT)
    assert b"".join(r.audio_content for r in responses) == speech_pcm("Hi.Hi.", 24000)
    assert server.violations == []


@pytest.mark.asyncio
async def test_checker_rejects_unescaped_ssml_like_the_real_service() -> None:
    from google.cloud.texttospeech_v1beta1 import TextToSpeechAsyncClient as BetaClient

    async with LoopbackGoogleTTS() as server:
        channel = grpc.aio.insecure_channel(server.endpoint)
        transport = BetaClient.get_transport_class("grpc_asyncio")(channel=channel)
        try:
            with pytest.raises(api_exceptions.InvalidArgument, match="invalid SSML"):
                await BetaClient(transport=transport).synthesize_speech(
                    input=beta_types.SynthesisInput(ssml="<speak>Tom & Jerry</speak>"),
                    voice=beta_types.VoiceSelectionParams(
                        name=STANDARD_VOICE, language_code="en-US"),
                    audio_config=beta_types.AudioConfig(
                        audio_encoding=beta_types.AudioEncoding.PCM),
                    timeout=5,
                )
        finally:
            await channel.close()
    assert server.violations[0].startswith("SynthesizeSpeech: invalid SSML")


# --- voices -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_voices_returns_the_servers_voices_and_caches_them() -> None:
    async with LoopbackGoogleTTS() as server:
        tts = adapter(server)
        try:
            voices = await tts.list_voices()
            again = await tts.list_voices()
            assert len(server.calls_of("ListVoices")) == 1  # served from the cache
            german = await tts.list_voices("de-DE")
            tts.voices_cache_seconds = 0  # expired: asks again
            await tts.list_voices()
        finally:
            await tts.aclose()
    assert voices == again
    assert voices[0] == {
        "name": "en-US-Chirp3-HD-Charon",
        "language_codes": ["en-US"],
        "gender": "MALE",
        "natural_sample_rate_hertz": 24000,
    }
    assert [v["name"] for v in voices] == [
        "en-US-Chirp3-HD-Charon", "en-US-Standard-C", "de-DE-Chirp3-HD-Kore"
    ]
    assert [v["name"] for v in german] == ["de-DE-Chirp3-HD-Kore"]
    calls = server.calls_of("ListVoices")
    assert [c.requests[0].language_code for c in calls] == ["", "de-DE", ""]


@pytest.mark.asyncio
async def test_list_voices_failure_raises_provider_error() -> None:
    async with LoopbackGoogleTTS(status=grpc.StatusCode.UNAUTHENTICATED) as server:
        tts = adapter(server)
        try:
            with pytest.raises(ProviderError, match="authentication failed"):
                await tts.list_voices()
        finally:
            await tts.aclose()


def test_voices_is_the_configured_default() -> None:
    assert GoogleTTS().voices == ["en-US-Chirp3-HD-Charon"]
    assert GoogleTTS(voice=STANDARD_VOICE).voices == [STANDARD_VOICE]


# --- configuration and event loops ---------------------------------------------------------


@pytest.mark.asyncio
async def test_missing_credentials_file_is_improperly_configured() -> None:
    tts = GoogleTTS(credentials_file="/nonexistent/key.json")
    with pytest.raises(ImproperlyConfigured, match="Google TTS needs credentials"):
        await collect(tts)


@pytest.mark.asyncio
async def test_missing_application_default_credentials_are_improperly_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
    tts = GoogleTTS()
    with pytest.raises(ImproperlyConfigured, match="GOOGLE_APPLICATION_CREDENTIALS"):
        await collect(tts)


@pytest.mark.asyncio
async def test_missing_sdk_is_improperly_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.texttospeech_v1", None)
    tts = GoogleTTS(endpoint="127.0.0.1:9", insecure=True)
    with pytest.raises(ImproperlyConfigured, match="pip install google-cloud-texttospeech"):
        await collect(tts)


def service_account_info() -> dict:
    """A syntactically valid service-account key (fresh RSA key; no account behind it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "loopback",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "tts@loopback.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@pytest.mark.asyncio
async def test_service_account_credentials_file_builds_a_client(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(service_account_info()))
    credentials = load_credentials_file(str(key_file))
    assert credentials.service_account_email == "tts@loopback.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/cloud-platform" in credentials.scopes
    tts = GoogleTTS(credentials_file=str(key_file))
    client, _sdk = await tts._get_client()  # no network yet: the channel connects lazily
    try:
        assert client.transport._credentials.service_account_email == (
            "tts@loopback.iam.gserviceaccount.com"
        )
    finally:
        await tts.aclose()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read credentials_file"),
        ('{"type": "external_account"}', "has type 'external_account'"),
        ('{"type": "service_account"}', "is not a valid service_account key"),
    ],
)
def test_unusable_credentials_files_are_improperly_configured(
    tmp_path: Path, content: str, message: str
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(content)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_credentials_file(str(key_file))


def test_authorized_user_file_is_accepted(tmp_path: Path) -> None:
    key_file = tmp_path / "adc.json"
    key_file.write_text(json.dumps({
        "type": "authorized_user", "client_id": "c", "client_secret": "s",
        "refresh_token": "r",
    }))
    assert load_credentials_file(str(key_file)).refresh_token == "r"


def test_invalid_options_are_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        GoogleTTS(timeout=0)
    with pytest.raises(ImproperlyConfigured):
        GoogleTTS(voice="")
    with pytest.raises(ImproperlyConfigured):
        GoogleTTS(sample_rate=1000)
    with pytest.raises(ImproperlyConfigured):
        GoogleTTS(insecure=True)


def test_client_is_rebuilt_when_used_from_another_event_loop() -> None:
    tts = GoogleTTS(endpoint="127.0.0.1:9", insecure=True)
    clients: list[object] = []

    async def speak(*, close: bool) -> bytes:
        async with LoopbackGoogleTTS() as server:
            tts.endpoint = server.endpoint  # read when a client is built
            try:
                audio = b"".join(await collect(tts, "Same text."))
                clients.append(tts._clients[SDK_MODULE])
                return audio
            finally:
                if close:
                    await tts.aclose()

    first = asyncio.run(speak(close=False))  # the client stays bound to the closed loop
    second = asyncio.run(speak(close=True))
    assert first == second == speech_pcm("Same text.", 24000)
    assert clients[0] is not None and clients[1] is not None
    assert clients[0] is not clients[1]


def test_error_descriptions_name_the_status_and_a_hint() -> None:
    from google.auth.exceptions import RefreshError

    from tts.providers.google_tts import describe_grpc_error

    assert describe_grpc_error(RefreshError("invalid_grant"), 10) == (
        "RefreshError invalid_grant (authentication failed: check the Google credentials)"
    )
    raw = grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, None, None, "Deadline Exceeded")
    assert describe_grpc_error(raw, 2.5) == (
        "DEADLINE_EXCEEDED Deadline Exceeded (timed out after 2.5 s)"
    )
    lost = grpc.aio.AioRpcError(grpc.StatusCode.INTERNAL, None, None, "Internal error from Core")
    assert "gRPC lost its status" in describe_grpc_error(lost, 10)
