"""A loopback gRPC server speaking Google Cloud Text-to-Speech (v1, v1beta1), for tests.

This module owns ``LoopbackGoogleTTS``: a ``grpc.aio`` server on 127.0.0.1 serving
``google.cloud.texttospeech.v1.TextToSpeech`` (``SynthesizeSpeech``,
``StreamingSynthesize``, ``ListVoices``) and ``google.cloud.texttospeech.v1beta1.
TextToSpeech`` (``SynthesizeSpeech``) through generic handlers that (de)serialize
with the proto-plus message classes, so the real SDK client can be exercised end to end
over an insecure channel. Like the real service, v1beta1 ``SynthesizeSpeech`` parses SSML
input (rejecting malformed SSML) and, when asked for ``SSML_MARK`` time pointing, answers
a timepoint for each ``<mark>``: where its audio for the text before the mark ends. It
checks the request rules the real service enforces (a streaming call's first request
carries only ``streaming_config``, every later one only ``input``), answering violations
with INVALID_ARGUMENT and recording them in ``violations``. Every call and its requests
are recorded in ``calls``.

A streaming call is answered only once the client has half-closed its request stream:
grpc.aio clients lose the server's status (and report ``INTERNAL: Internal error from
Core``) when a write fails because the server already ended the call (grpc/grpc#36066),
so failing a call while the client may still be writing would make tests flaky.

    async with LoopbackGoogleTTS() as server:
        tts = GoogleTTS(endpoint=server.endpoint, insecure=True)
        ...
        assert server.calls[0].method == "StreamingSynthesize"
"""
from __future__ import annotations

import asyncio
import struct
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import grpc
from google.cloud.texttospeech_v1 import types
from google.cloud.texttospeech_v1beta1 import types as beta_types

from tests.loopback_openai import MS_PER_CHARACTER, speech_pcm

SERVICE = "google.cloud.texttospeech.v1.TextToSpeech"
BETA_SERVICE = "google.cloud.texttospeech.v1beta1.TextToSpeech"
DEFAULT_SAMPLE_RATE = 24000

__all__ = [
    "BETA_SERVICE", "SERVICE", "LoopbackGoogleTTS", "RecordedCall", "mark_seconds",
    "speak_ssml", "speech_pcm", "wav_header",
]


def default_voices() -> list[types.Voice]:
    """The voices the fake offers unless told otherwise."""
    return [
        types.Voice(name="en-US-Chirp3-HD-Charon", language_codes=["en-US"],
                    ssml_gender=types.SsmlVoiceGender.MALE, natural_sample_rate_hertz=24000),
        types.Voice(name="en-US-Standard-C", language_codes=["en-US"],
                    ssml_gender=types.SsmlVoiceGender.FEMALE, natural_sample_rate_hertz=24000),
        types.Voice(name="de-DE-Chirp3-HD-Kore", language_codes=["de-DE"],
                    ssml_gender=types.SsmlVoiceGender.FEMALE, natural_sample_rate_hertz=24000),
    ]


def wav_header(pcm_bytes: int, sample_rate: int) -> bytes:
    """A 44-byte RIFF/WAVE header for 16-bit mono PCM (what LINEAR16 answers start with)."""
    return (
        b"RIFF" + struct.pack("<I", 36 + pcm_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data" + struct.pack("<I", pcm_bytes)
    )


def speak_ssml(ssml: str) -> tuple[str, list[tuple[str, int]]]:
    """The text an SSML document says, and each ``<mark>``'s name with the number of
    characters said before it. Raises ``ValueError`` for malformed SSML."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise ValueError(f"invalid SSML: {exc}") from exc
    if root.tag != "speak":
        raise ValueError(f"SSML must be a <speak> document, got <{root.tag}>")
    said, marks = [root.text or ""], []
    for element in root.iter():
        if element is root:
            continue
        if element.tag == "mark":
            marks.append((element.get("name", ""), len("".join(said))))
        said.append(element.tail or "")
    return "".join(said), marks


def mark_seconds(characters: int, sample_rate: int) -> float:
    """When the fake's audio for ``characters`` characters ends (``speech_pcm``'s pace)."""
    per_char = max(1, sample_rate * MS_PER_CHARACTER // 1000)
    return characters * per_char / sample_rate


@dataclass
class RecordedCall:
    """One RPC as the server saw it: method name, request messages, client metadata, and
    the API version it was served as ("v1" or "v1beta1")."""

    method: str
    requests: list[Any] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    version: str = "v1"


@dataclass
class LoopbackGoogleTTS:
    """Fake Text-to-Speech endpoint; use as ``async with LoopbackGoogleTTS(...) as server``.

    Behaviours (checked per call, in this order): ``status`` fails every call with that
    gRPC status and ``status_details``; ``stall`` accepts the call and never answers
    (released when the server stops); otherwise synthesis answers ``speech_pcm(text)`` at
    the requested sample rate, split into responses of ``chunk_bytes`` (odd sizes split
    samples), failing with ``fail_status`` after ``fail_after`` audio responses if set.
    ``wav_header`` makes ``SynthesizeSpeech`` prefix its audio with a RIFF header.
    ``timepoints=False`` makes v1beta1 ``SynthesizeSpeech`` answer no timepoints even when
    asked; marks named in ``skip_marks`` get none; voices named in ``ssml_refused`` answer
    SSML input with INVALID_ARGUMENT (as voices without SSML support do).
    """

    voices: list[types.Voice] = field(default_factory=default_voices)
    chunk_bytes: int = 4800
    status: grpc.StatusCode | None = None
    status_details: str = "Request had invalid authentication credentials."
    stall: bool = False
    fail_after: int | None = None
    fail_status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    fail_details: str = "The service is currently unavailable."
    wav_header: bool = False
    timepoints: bool = True
    skip_marks: tuple[str, ...] = ()
    ssml_refused: tuple[str, ...] = ()
    calls: list[RecordedCall] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    sent_audio: list[bytes] = field(default_factory=list)  # every audio response, in order

    def __post_init__(self) -> None:
        """Prepare the (not yet started) server state."""
        self._server: grpc.aio.Server | None = None
        self._closing: asyncio.Event | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """The ``host:port`` to give ``GoogleTTS(endpoint=..., insecure=True)``."""
        return f"127.0.0.1:{self.port}"

    def calls_of(self, method: str) -> list[RecordedCall]:
        """The recorded calls of one method."""
        return [call for call in self.calls if call.method == method]

    async def __aenter__(self) -> Self:
        """Listen on a free loopback port (or ``self.port`` if set before entering)."""
        self._closing = asyncio.Event()
        self._server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                self._synthesize_speech,
                request_deserializer=types.SynthesizeSpeechRequest.deserialize,
                response_serializer=types.SynthesizeSpeechResponse.serialize,
            ),
            "StreamingSynthesize": grpc.stream_stream_rpc_method_handler(
                self._streaming_synthesize,
                request_deserializer=types.StreamingSynthesizeRequest.deserialize,
                response_serializer=types.StreamingSynthesizeResponse.serialize,
            ),
            "ListVoices": grpc.unary_unary_rpc_method_handler(
                self._list_voices,
                request_deserializer=types.ListVoicesRequest.deserialize,
                response_serializer=types.ListVoicesResponse.serialize,
            ),
        })
        beta_handler = grpc.method_handlers_generic_handler(BETA_SERVICE, {
            "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                self._synthesize_speech_beta,
                request_deserializer=beta_types.SynthesizeSpeechRequest.deserialize,
                response_serializer=beta_types.SynthesizeSpeechResponse.serialize,
            ),
        })
        self._server.add_generic_rpc_handlers((handler, beta_handler))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Release stalled calls and stop the server, cancelling whatever still runs."""
        assert self._server is not None and self._closing is not None
        self._closing.set()
        await self._server.stop(grace=None)
        self._server = None

    # --- behaviours shared by the methods ---------------------------------------------

    def _record(
        self, method: str, context: grpc.aio.ServicerContext, version: str = "v1"
    ) -> RecordedCall:
        metadata = {
            item.key: item.value if isinstance(item.value, str) else repr(item.value)
            for item in context.invocation_metadata() or ()
        }
        call = RecordedCall(method, metadata=metadata, version=version)
        self.calls.append(call)
        return call

    async def _misbehave(self, context: grpc.aio.ServicerContext) -> None:
        """Apply ``status`` (abort) and ``stall`` (wait until the server stops)."""
        if self.status is not None:
            await context.abort(self.status, self.status_details)
        if self.stall:
            assert self._closing is not None
            await self._closing.wait()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")

    async def _reject(self, context: grpc.aio.ServicerContext, violation: str) -> None:
        self.violations.append(violation)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, violation)

    def _split(self, audio: bytes) -> list[bytes]:
        size = max(1, self.chunk_bytes)
        return [audio[i : i + size] for i in range(0, len(audio), size)]

    # --- the methods ----------------------------------------------------------------------

    async def _synthesize_speech(
        self, request: types.SynthesizeSpeechRequest, context: grpc.aio.ServicerContext
    ) -> types.SynthesizeSpeechResponse:
        """Unary synthesis (v1): the whole audio in one response."""
        self._record("SynthesizeSpeech", context).requests.append(request)
        await self._misbehave(context)
        if not request.input.text:
            await self._reject(context, "SynthesizeSpeech: input.text is empty")
        audio, _rate = await self._unary_audio(request, request.input.text, context)
        return types.SynthesizeSpeechResponse(audio_content=audio)

    async def _synthesize_speech_beta(
        self, request: beta_types.SynthesizeSpeechRequest, context: grpc.aio.ServicerContext
    ) -> beta_types.SynthesizeSpeechResponse:
        """Unary synthesis (v1beta1): the whole audio, and a timepoint for each SSML mark
        when ``SSML_MARK`` time pointing is enabled."""
        self._record("SynthesizeSpeech", context, "v1beta1").requests.append(request)
        await self._misbehave(context)
        text, marks = request.input.text, []
        if request.input.ssml and request.voice.name in self.ssml_refused:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"Voice {request.voice.name} does not support SSML input.")
        if request.input.ssml:
            try:
                text, marks = speak_ssml(request.input.ssml)
            except ValueError as exc:
                await self._reject(context, f"SynthesizeSpeech: {exc}")
        if not text:
            await self._reject(context, "SynthesizeSpeech: input is empty")
        audio, rate = await self._unary_audio(request, text, context)
        wanted = beta_types.SynthesizeSpeechRequest.TimepointType.SSML_MARK
        if not self.timepoints or wanted not in request.enable_time_pointing:
            marks = []
        return beta_types.SynthesizeSpeechResponse(audio_content=audio, timepoints=[
            beta_types.Timepoint(mark_name=name, time_seconds=mark_seconds(before, rate))
            for name, before in marks if name not in self.skip_marks
        ])

    async def _unary_audio(
        self, request: Any, text: str, context: grpc.aio.ServicerContext
    ) -> tuple[bytes, int]:
        """The audio content answering ``text`` (both versions) and its sample rate."""
        if not request.voice.language_code:
            await self._reject(context, "SynthesizeSpeech: voice.language_code is required")
        encoding = types.AudioEncoding(int(request.audio_config.audio_encoding))  # v1 enum
        if encoding not in (types.AudioEncoding.PCM, types.AudioEncoding.LINEAR16):
            await self._reject(context, f"SynthesizeSpeech: this fake cannot encode {encoding!r}")
        rate = request.audio_config.sample_rate_hertz or DEFAULT_SAMPLE_RATE
        audio = speech_pcm(text, rate)
        self.sent_audio.append(audio)
        if self.wav_header or encoding == types.AudioEncoding.LINEAR16:
            audio = wav_header(len(audio), rate) + audio
        return audio, rate

    async def _streaming_synthesize(
        self,
        requests: AsyncIterator[types.StreamingSynthesizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[types.StreamingSynthesizeResponse]:
        """Bidirectional synthesis: checks the request order, then audio for each input."""
        call = self._record("StreamingSynthesize", context)
        async for request in requests:  # until the client half-closes (see module doc)
            call.requests.append(request)
        await self._misbehave(context)
        kinds = [
            types.StreamingSynthesizeRequest.pb(r).WhichOneof("streaming_request")
            for r in call.requests
        ]
        if not kinds:
            await self._reject(context, "the stream carried no request")
        if kinds[0] != "streaming_config":
            await self._reject(
                context, f"first request must carry only streaming_config, got {kinds[0]}"
            )
        for number, kind in enumerate(kinds[1:], start=2):
            if kind != "input":
                await self._reject(context, f"request {number} must carry only input, got {kind}")
        config = call.requests[0].streaming_config
        if "Chirp3-HD" not in config.voice.name:
            await self._reject(context, f"voice {config.voice.name!r} does not support streaming")
        if config.streaming_audio_config.audio_encoding != types.AudioEncoding.PCM:
            await self._reject(context, "this fake only streams PCM")
        rate = config.streaming_audio_config.sample_rate_hertz or DEFAULT_SAMPLE_RATE
        sent = 0
        for request in call.requests[1:]:
            for piece in self._split(speech_pcm(request.input.text, rate)):
                if self.fail_after is not None and sent >= self.fail_after:
                    await context.abort(self.fail_status, self.fail_details)
                self.sent_audio.append(piece)
                sent += 1
                yield types.StreamingSynthesizeResponse(audio_content=piece)

    async def _list_voices(
        self, request: types.ListVoicesRequest, context: grpc.aio.ServicerContext
    ) -> types.ListVoicesResponse:
        """The configured voices, filtered by language code if one is given."""
        self._record("ListVoices", context).requests.append(request)
        await self._misbehave(context)
        code = request.language_code
        voices = [v for v in self.voices if not code or code in v.language_codes]
        return types.ListVoicesResponse(voices=voices)
