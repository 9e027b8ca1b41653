"""OpenAI text-to-speech adapter: streams ``/audio/speech`` as raw 24 kHz PCM.

This module owns ``OpenAITTS``: one streamed speech request per text segment with
``response_format="pcm"`` (24 kHz s16le mono, no header), re-cut into whole-sample
chunks. The lazily created, reused ``AsyncOpenAI`` client and the translation of SDK
errors come from ``OpenAIClientHolder``; the HTTP errors the SDK lets through while the
body streams (a dropped connection, a read timeout) are translated here.
Django-free except for ``ImproperlyConfigured`` on configuration problems.
"""
from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.audio import WholeSamples
from streaming.openai_client import OpenAIClientHolder, import_openai
from streaming.protocols import TTS, ProviderError

OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    "verse",
)
READ_SIZE = 4096


def accepts_instructions(model: str) -> bool:
    """Whether a speech model takes ``instructions`` (the ``tts-1`` family does not)."""
    return model != "tts-1" and not model.startswith("tts-1-")


class OpenAITTS(OpenAIClientHolder, TTS):
    """Streams speech from an OpenAI (or compatible) model as PCM s16le mono at 24 kHz."""

    label = "OpenAI speech"
    error_prefix = "OpenAI TTS request failed"
    sample_rate = 24000

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        instructions: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
    ) -> None:
        """Store the options; the SDK is imported and the client built on first use.

        ``timeout`` applies to each network wait (connect, first byte, every next read).
        ``instructions`` (speaking style) are sent only to models that accept them.
        """
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        if not model:
            raise ImproperlyConfigured("OpenAITTS needs a model name")
        if not voice:
            raise ImproperlyConfigured("OpenAITTS needs a voice name")
        self.model = model
        self.voice = voice
        self.instructions = instructions or None

    @property
    def voices(self) -> list[str]:
        """OpenAI's voices, the configured one first."""
        return [self.voice, *(v for v in OPENAI_VOICES if v != self.voice)]

    def _stream_errors(self, sdk: Any) -> tuple[type[BaseException], ...]:
        """SDK errors plus the transport errors raised while the body streams."""
        http = importlib.import_module("httpx2")  # the HTTP client openai 3.x runs on
        return (sdk.OpenAIError, ValueError, http.HTTPError, http.StreamError)

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield s16le PCM at 24 kHz for one segment, in whole samples, as it arrives.

        Blank text yields nothing (and makes no request). Raises ``ProviderError`` on any
        request, HTTP, timeout or mid-audio connection error.
        """
        if not text.strip():
            return
        client = await self._get_client()
        sdk = import_openai()
        options: dict[str, Any] = {}
        if self.instructions and accepts_instructions(self.model):
            options["instructions"] = self.instructions
        samples = WholeSamples()
        try:
            async with client.audio.speech.with_streaming_response.create(
                model=self.model,
                voice=voice or self.voice,
                input=text,
                response_format="pcm",
                **options,
            ) as response:
                async for piece in response.iter_bytes(READ_SIZE):
                    if data := samples.take(piece):
                        yield data
        except self._stream_errors(sdk) as exc:
            raise self._stream_error(exc) from exc

    def _stream_error(self, exc: BaseException) -> ProviderError:
        """``ProviderError`` for a failure; read timeouts mid-body say they timed out."""
        error = self._provider_error(exc)
        if "timed out" not in str(error).lower() and "timeout" in type(exc).__name__.lower():
            error = ProviderError(f"{error} (timed out after {self.timeout:g} s)")
        return error
