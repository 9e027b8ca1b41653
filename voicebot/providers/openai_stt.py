"""OpenAI-compatible speech-to-text adapter: PCM in, ``/audio/transcriptions`` text out.

This module owns the ``OpenAISTT`` adapter: it wraps the caller's PCM s16le mono in an
in-memory WAV file and uploads it with the lazily created, reused ``AsyncOpenAI`` client
(see ``OpenAIClientHolder``). Django-free except for ``ImproperlyConfigured``.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.audio import pcm_to_wav
from streaming.openai_client import OpenAIClientHolder, import_openai
from streaming.protocols import STT


class OpenAISTT(OpenAIClientHolder, STT):
    """Transcribes one utterance with an OpenAI (or compatible) transcription model."""

    label = "OpenAI transcription"
    error_prefix = "OpenAI STT request failed"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini-transcribe",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
        language: str | None = None,
    ) -> None:
        """Store the options; the SDK is imported and the client built on first use."""
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        if not model:
            raise ImproperlyConfigured("OpenAISTT needs a model name")
        self.model = model
        self.language = language or None

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str:
        """Return the stripped transcript of PCM s16le mono at ``sample_rate`` Hz.

        Empty audio returns ``""`` without a request. Raises ``ProviderError`` on any
        request, HTTP or timeout error.
        """
        wav = pcm_to_wav(pcm, sample_rate)  # validates the PCM before any network work
        if not pcm:
            return ""
        client = await self._get_client()
        sdk = import_openai()
        options: dict[str, Any] = {}
        if self.language:
            options["language"] = self.language
        try:
            result = await client.audio.transcriptions.create(
                model=self.model,
                file=("speech.wav", wav, "audio/wav"),
                **options,
            )
        except (sdk.OpenAIError, ValueError) as exc:
            raise self._provider_error(exc) from exc
        text = result if isinstance(result, str) else getattr(result, "text", None)
        if not isinstance(text, str):
            raise self._provider_error(ValueError("response has no transcript text"))
        return text.strip()
