"""Google Cloud Text-to-Speech adapter: raw PCM over gRPC, streamed for Chirp 3 HD voices.

This module owns ``GoogleTTS``: the lazily created ``TextToSpeechAsyncClient``s (v1, and
v1beta1 for timepoints; built inside the running event loop, rebuilt if the adapter is
used from another loop), the credential lookup (Application Default Credentials,
``GOOGLE_APPLICATION_CREDENTIALS`` or an explicit key file), the two synthesis paths
(v1 ``StreamingSynthesize`` for Chirp 3 HD voices, untimed; v1beta1 ``SynthesizeSpeech``
for the others, with an SSML ``<mark>`` before each word and ``SSML_MARK`` time pointing,
so their audio comes as a ``SpeechChunk`` with the service's word timings), the cached
voice list and the translation of gRPC / Google API errors into ``ProviderError``.

Each text segment gets its own ``StreamingSynthesize`` call (config, then one input):
the responses carry no boundary between inputs, and the engine needs every segment's
audio delimited (per-segment timings, barge-in truncation).
Django-free except for ``ImproperlyConfigured`` on configuration problems.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

from django.core.exceptions import ImproperlyConfigured

from streaming.audio import SAMPLE_WIDTH, WholeSamples
from streaming.protocols import TTS, ProviderError, SpeechChunk, Word

SDK_MODULE = "google.cloud.texttospeech_v1"
BETA_SDK_MODULE = "google.cloud.texttospeech_v1beta1"  # SSML mark timepoints
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CREDENTIALS_HINT = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, pass "
    "credentials_file, or run `gcloud auth application-default login`"
)
_SSML_QUOTES = {'"': "&quot;", "'": "&apos;"}  # escape() does &, < and >
_STATUS_HINTS = {
    "UNAUTHENTICATED": "authentication failed: check the Google credentials",
    "PERMISSION_DENIED": (
        "permission denied: the credentials may not use the Text-to-Speech API "
        "(is it enabled for the project?)"
    ),
}


def load_credentials_file(path: str) -> Any:
    """Service-account or authorized-user credentials from a JSON key file.

    Only these two types are accepted (google-auth deprecates its generic file loader,
    which takes any credential configuration); others can still come through ADC.
    """
    try:
        with open(path, encoding="utf-8") as file:
            info = json.load(file)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"Google TTS needs credentials: cannot read credentials_file {path!r} ({exc});"
            f" {CREDENTIALS_HINT}"
        ) from exc
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_info(
                info, scopes=SCOPES
            )
        if kind == "authorized_user":
            from google.oauth2 import credentials

            return credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    except ValueError as exc:  # missing fields, malformed key
        raise ImproperlyConfigured(
            f"Google TTS credentials_file {path!r} is not a valid {kind} key: {exc}"
        ) from exc
    raise ImproperlyConfigured(
        f"Google TTS credentials_file {path!r} has type {kind!r}: use a service-account key"
        " (or an authorized-user file), or point GOOGLE_APPLICATION_CREDENTIALS at it"
    )


def import_sdk(module: str = SDK_MODULE) -> ModuleType:
    """Import ``google.cloud.texttospeech_v1`` (or ``module``, e.g. its v1beta1); its
    absence is ``ImproperlyConfigured``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(
            "Google TTS needs its SDK: pip install google-cloud-texttospeech"
        ) from exc


def is_streaming_voice(name: str) -> bool:
    """Whether a voice supports ``StreamingSynthesize`` (the Chirp 3 HD voices)."""
    return "Chirp3-HD" in name


def language_of(voice: str, default: str) -> str:
    """The language code a voice name starts with ("en-US-Chirp3-HD-Charon" -> "en-US")."""
    parts = voice.split("-")
    if len(parts) >= 3 and parts[0].isalpha() and parts[1].isalnum():
        return f"{parts[0]}-{parts[1]}"
    return default


def strip_wav_header(audio: bytes) -> bytes:
    """The samples of a RIFF/WAVE answer (LINEAR16); headerless audio is returned as is."""
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return audio
    pos = 12
    while pos + 8 <= len(audio):
        chunk_id = audio[pos : pos + 4]
        size = int.from_bytes(audio[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            start = pos + 8
            if size in (0, 0xFFFFFFFF):  # unknown length (a streamed WAV): the rest
                return audio[start:]
            return audio[start : start + size]
        pos += 8 + size + (size & 1)
    return b""


def marked_ssml(words: Sequence[str]) -> str:
    """SSML saying ``words`` (escaped) with a ``<mark name="wN"/>`` before word N."""
    marked = " ".join(
        f'<mark name="w{n}"/>{escape(word, _SSML_QUOTES)}' for n, word in enumerate(words)
    )
    return f"<speak>{marked}</speak>"


def words_at_marks(
    words: Sequence[str], timepoints: Iterable[Any], audio_ms: float
) -> list[Word] | None:
    """``words`` timed by the service's timepoints of the marks ``marked_ssml`` put before
    them: word N from mark wN to the next word's mark (the last word to ``audio_ms``).
    None unless every word's mark came back."""
    at = {point.mark_name: point.time_seconds * 1000 for point in timepoints}
    starts = [at.get(f"w{n}") for n in range(len(words))]
    if None in starts:
        return None
    ends = [*starts[1:], audio_ms]
    return [
        Word(word, round(start, 1), round(max(start, end), 1))
        for word, start, end in zip(words, starts, ends, strict=True)
    ]


def describe_grpc_error(exc: BaseException, timeout: float) -> str:
    """One line for a gRPC / Google API failure: status name, details and a hint."""
    code = getattr(exc, "grpc_status_code", None)  # google.api_core GoogleAPICallError
    details = getattr(exc, "message", None)
    if code is None and callable(getattr(exc, "code", None)):  # grpc.aio.AioRpcError
        code = exc.code()
        details = exc.details()
    status = getattr(code, "name", None) or type(exc).__name__
    line = f"{status} {details or str(exc) or 'no details'}"
    if code is None and type(exc).__module__.startswith("google.auth"):
        line += f" ({_STATUS_HINTS['UNAUTHENTICATED']})"  # e.g. a failed token refresh
    elif status in _STATUS_HINTS:
        line += f" ({_STATUS_HINTS[status]})"
    elif status == "DEADLINE_EXCEEDED":
        line += f" (timed out after {timeout:g} s)"
    elif status == "INTERNAL" and details == "Internal error from Core":
        # grpc.aio replaces the server's status with this one when a request write fails
        # because the server already ended the call (grpc/grpc#36066).
        line += (
            " (the server ended the call early and gRPC lost its status; often a"
            " rejected request or bad credentials)"
        )
    return line


class GoogleTTS(TTS):
    """Streams Google Cloud Text-to-Speech audio as PCM s16le mono at ``sample_rate``."""

    label = "Google Cloud Text-to-Speech"
    can_list_voices = True
    voices_cache_seconds = 600.0

    def __init__(
        self,
        *,
        voice: str = "en-US-Chirp3-HD-Charon",
        language_code: str = "en-US",
        sample_rate: int = 24000,
        credentials_file: str | None = None,
        endpoint: str | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """Validate and store the options; nothing is imported or opened yet.

        ``endpoint`` overrides the API host (e.g. a regional endpoint); with
        ``insecure=True`` it is reached over a plaintext channel without credentials
        (local test servers). ``timeout`` bounds each wait for the service: a unary call
        as a whole, and in a streaming call the wait for each next audio response.
        """
        if not voice:
            raise ImproperlyConfigured("GoogleTTS needs a voice name")
        if timeout <= 0:
            raise ImproperlyConfigured(f"Google TTS timeout must be positive, got {timeout!r}")
        if not 8000 <= int(sample_rate) <= 48000:
            raise ImproperlyConfigured(
                f"Google TTS sample_rate must be 8000 to 48000 Hz, got {sample_rate!r}"
            )
        if insecure and not endpoint:
            raise ImproperlyConfigured("GoogleTTS(insecure=True) needs an endpoint")
        self.voice = voice
        self.language_code = language_code
        self.sample_rate = int(sample_rate)
        self.credentials_file = credentials_file or None
        self.endpoint = endpoint or None
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self._credentials: Any = None
        self._clients: dict[str, Any] = {}  # SDK module -> its client, for _client_loop
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._voices_cache: dict[str, tuple[float, list[dict]]] = {}
        self._refuses_ssml: set[str] = set()  # voices that answered SSML INVALID_ARGUMENT

    @property
    def voices(self) -> list[str]:
        """The configured default voice (the full list needs a call: ``list_voices``)."""
        return [self.voice]

    def check(self) -> None:
        """Raise ``ImproperlyConfigured`` when the SDK or credentials are missing.

        Looks only for local credentials (key file, ``gcloud`` ADC file), never the network.
        """
        if importlib.util.find_spec("google.cloud.texttospeech_v1") is None:
            raise ImproperlyConfigured(
                "Google TTS needs its SDK: pip install google-cloud-texttospeech")
        if self.insecure:
            return
        key_file = self.credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        adc_file = Path.home() / ".config/gcloud/application_default_credentials.json"
        if key_file and not Path(key_file).is_file():
            raise ImproperlyConfigured(
                f"Google TTS needs credentials: {key_file} is not a file ({CREDENTIALS_HINT})")
        if not key_file and not adc_file.is_file():
            raise ImproperlyConfigured(f"Google TTS needs credentials: {CREDENTIALS_HINT}")

    # --- client -------------------------------------------------------------------------

    def _load_credentials(self) -> Any:
        """Credentials from ``credentials_file`` or ADC (blocking: run in a thread)."""
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        self.check()  # local credentials only: never probe the metadata server blindly
        if self.credentials_file:
            return load_credentials_file(self.credentials_file)
        try:
            credentials, _ = google.auth.default(default_scopes=SCOPES)
        except DefaultCredentialsError as exc:
            raise ImproperlyConfigured(
                f"Google TTS needs credentials: {CREDENTIALS_HINT} ({exc})"
            ) from exc
        return credentials

    async def _get_client(self, module: str = SDK_MODULE) -> tuple[Any, ModuleType]:
        """The client of SDK ``module`` (v1, or v1beta1 for timepoints) for the running
        loop, created on first use, and that SDK module."""
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:  # clients are bound to the loop they were built in
            self._clients, self._client_loop = {}, loop
        clients = self._clients  # this loop's
        if (client := clients.get(module)) is not None:
            return client, import_sdk(module)  # already imported: a dict look-up
        # The first SDK import takes a while: keep it off the event loop.
        sdk = await asyncio.to_thread(import_sdk, module)
        if not self.insecure and self._credentials is None:
            # ADC may probe the metadata server: blocking, so in a thread.
            self._credentials = await asyncio.to_thread(self._load_credentials)
        if (client := clients.get(module)) is not None:  # built meanwhile
            return client, sdk
        if self.insecure:
            import grpc

            transport = sdk.TextToSpeechAsyncClient.get_transport_class("grpc_asyncio")
            channel = grpc.aio.insecure_channel(self.endpoint)  # bound to this loop
            client = sdk.TextToSpeechAsyncClient(transport=transport(channel=channel))
        else:
            options = {"api_endpoint": self.endpoint} if self.endpoint else None
            client = sdk.TextToSpeechAsyncClient(
                credentials=self._credentials, client_options=options
            )
        clients[module] = client
        return client, sdk

    async def aclose(self) -> None:
        """Close the gRPC channels (call from the loop that used the adapter)."""
        clients, self._clients, self._client_loop = self._clients, {}, None
        for client in clients.values():
            await client.transport.close()

    def _provider_error(self, exc: BaseException) -> ProviderError:
        return ProviderError(f"Google TTS failed: {describe_grpc_error(exc, self.timeout)}")

    def _service_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types that mean "the service call failed"."""
        import grpc
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import GoogleAuthError

        return (grpc.RpcError, GoogleAPICallError, GoogleAuthError)

    # --- synthesis ----------------------------------------------------------------------

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield s16le PCM for one segment, in whole samples, as the service sends it.

        Blank text yields nothing (and makes no call). Raises ``ProviderError`` on any
        service, authentication or timeout error, ``ImproperlyConfigured`` when the SDK
        or the credentials are missing.
        """
        if not text.strip():
            return
        name = voice or self.voice
        language = language_of(name, self.language_code)
        if is_streaming_voice(name):
            client, sdk = await self._get_client()
            audio = self._stream(client, sdk, text, name, language)
        else:
            client, sdk = await self._get_client(BETA_SDK_MODULE)
            audio = self._unary(client, sdk, text, name, language)
        samples = WholeSamples()
        try:
            async with contextlib.aclosing(audio):
                async for piece in audio:
                    if data := samples.take(piece):
                        yield data
        except TimeoutError as exc:
            raise ProviderError(
                f"Google TTS failed: timed out after {self.timeout:g} s waiting for audio"
            ) from exc
        except self._service_errors() as exc:
            raise self._provider_error(exc) from exc

    async def _stream(
        self, client: Any, sdk: ModuleType, text: str, name: str, language: str
    ) -> AsyncIterator[bytes]:
        """One ``StreamingSynthesize`` call: the config, then the segment as one input."""
        config = sdk.StreamingSynthesizeConfig(
            voice=sdk.VoiceSelectionParams(name=name, language_code=language),
            streaming_audio_config=sdk.StreamingAudioConfig(
                audio_encoding=sdk.AudioEncoding.PCM, sample_rate_hertz=self.sample_rate
            ),
        )

        async def requests() -> AsyncIterator[Any]:
            yield sdk.StreamingSynthesizeRequest(streaming_config=config)
            yield sdk.StreamingSynthesizeRequest(input=sdk.StreamingSynthesisInput(text=text))

        call = responses = None
        try:
            async with asyncio.timeout(self.timeout):
                call = await client.streaming_synthesize(requests=requests())
            responses = aiter(call)
            while True:
                # An idle timeout, not a deadline: a paced consumer may take its time.
                async with asyncio.timeout(self.timeout):
                    try:
                        response = await anext(responses)
                    except StopAsyncIteration:
                        return
                if response.audio_content:
                    yield response.audio_content
        finally:
            if call is not None and not call.done():
                call.cancel()  # the consumer stopped early (barge-in) or we failed
            if responses is not None:
                with contextlib.suppress(Exception):
                    await responses.aclose()

    async def _unary(
        self, client: Any, sdk: ModuleType, text: str, name: str, language: str
    ) -> AsyncIterator[bytes]:
        """One v1beta1 ``SynthesizeSpeech`` call: the whole segment's audio in one answer,
        a ``SpeechChunk`` timed by the SSML marks before its words when all came back.

        A voice that refuses SSML (``INVALID_ARGUMENT``) is asked again with the plain text,
        untimed, and from then on with plain text only."""
        from google.api_core.exceptions import InvalidArgument

        words = text.split()
        marked = name not in self._refuses_ssml
        try:
            response = await self._synthesize_once(
                client, sdk, text, name, language, marked_ssml(words) if marked else None)
        except InvalidArgument:
            if not marked:
                raise
            self._refuses_ssml.add(name)
            marked = False
            response = await self._synthesize_once(client, sdk, text, name, language, None)
        audio = strip_wav_header(response.audio_content)
        audio = audio[: len(audio) - len(audio) % SAMPLE_WIDTH]
        if not audio:
            return
        audio_ms = len(audio) / SAMPLE_WIDTH / self.sample_rate * 1000
        timed = words_at_marks(words, response.timepoints, audio_ms) if marked else None
        yield audio if timed is None else SpeechChunk(audio, timed)

    async def _synthesize_once(self, client: Any, sdk: ModuleType, text: str, name: str,
                               language: str, ssml: str | None) -> Any:
        """The ``SynthesizeSpeech`` response: for ``ssml`` (its marks' timepoints asked
        for) when given, else for the plain ``text``."""
        marked = ssml is not None
        timed = sdk.SynthesizeSpeechRequest.TimepointType.SSML_MARK
        return await client.synthesize_speech(
            request=sdk.SynthesizeSpeechRequest(
                input=(sdk.SynthesisInput(ssml=ssml) if marked
                       else sdk.SynthesisInput(text=text)),
                voice=sdk.VoiceSelectionParams(name=name, language_code=language),
                audio_config=sdk.AudioConfig(
                    audio_encoding=sdk.AudioEncoding.PCM, sample_rate_hertz=self.sample_rate
                ),
                enable_time_pointing=[timed] if marked else [],
            ),
            timeout=self.timeout,
        )

    # --- voices -------------------------------------------------------------------------

    async def list_voices(self, language_code: str | None = None) -> list[dict]:
        """The service's voices (optionally for one language), cached for 10 minutes.

        Each voice is ``{"name", "language_codes", "gender", "natural_sample_rate_hertz"}``.
        Raises ``ProviderError`` when the call fails.
        """
        key = language_code or ""
        cached = self._voices_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.voices_cache_seconds:
            return [dict(v) for v in cached[1]]
        client, _sdk = await self._get_client()
        try:
            response = await client.list_voices(
                language_code=language_code or None, timeout=self.timeout
            )
        except self._service_errors() as exc:
            raise self._provider_error(exc) from exc
        voices = [
            {
                "name": v.name,
                "language_codes": list(v.language_codes),
                "gender": getattr(v.ssml_gender, "name", str(v.ssml_gender)),
                "natural_sample_rate_hertz": v.natural_sample_rate_hertz,
            }
            for v in response.voices
        ]
        self._voices_cache[key] = (time.monotonic(), voices)
        return [dict(v) for v in voices]
