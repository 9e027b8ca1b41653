"""The one-method provider protocols every adapter implements (docs/ARCHITECTURE.md)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class LLM(Protocol):
    """Streams text deltas of the answer to a list of chat messages."""

    def stream(self, messages: list[dict]) -> AsyncIterator[str]: ...


@runtime_checkable
class TTS(Protocol):
    """Streams raw PCM s16le mono at ``sample_rate`` for one text segment."""

    sample_rate: int

    def synthesize(self, text: str, *, voice: str | None) -> AsyncIterator[bytes]: ...


@runtime_checkable
class STT(Protocol):
    """Transcribes PCM s16le mono audio to text."""

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str: ...


class ProviderError(Exception):
    """A provider failed (network, auth, engine); the stream ends as ``failed``."""


class TruncatedSpeech(ProviderError):
    """A TTS stream stopped after some audio and a fallback took over for what follows:
    the caller keeps the audio it already passed on, or asks again for the whole text."""
