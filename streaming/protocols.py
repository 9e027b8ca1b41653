"""The one-method provider protocols every adapter implements (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

error_log = logging.getLogger("streaming.errors")

stream_marker: ContextVar[Callable[..., float] | None] = ContextVar("stream_marker", default=None)
"""The running stream's ``Timeline.mark`` (set by the engine for its tasks)."""


def mark(name: str) -> None:
    """Stamp a provider event (e.g. ``llm_queued``) on the running stream's timeline;
    nothing outside a stream."""
    marker = stream_marker.get()
    if marker is not None:
        marker(name)


def message_text(message: object) -> str:
    """The text of one chat message (plain string or a list of content parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


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
    """Transcribes PCM s16le mono audio to text (a plain ``str`` or a ``Transcript``)."""

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str: ...


@dataclass(frozen=True)
class Word:
    """One recognised word and when it was spoken, in ms from the start of the audio."""

    text: str
    start_ms: float
    end_ms: float


class Transcript(str):
    """What an STT may return instead of a plain str: the text, with word timings.

    It is the text itself (compares, hashes and prints as that ``str``), plus ``words``:
    the recognised words in order (``from_words`` joins their texts with single spaces).
    String methods (``strip``, slicing, ...) return plain ``str`` without the timings.
    """

    words: tuple[Word, ...]

    def __new__(cls, text: str = "", words: Iterable[Word] = ()) -> Transcript:
        """The ``text`` carrying ``words`` (their timings)."""
        transcript = super().__new__(cls, text)
        transcript.words = tuple(words)
        return transcript

    @classmethod
    def from_words(cls, words: Iterable[Word]) -> Transcript:
        """The transcript whose text is ``words`` joined by single spaces."""
        words = tuple(words)
        return cls(" ".join(word.text for word in words), words)


def logged_error(summary: str, exc: BaseException) -> str:
    """Log ``exc`` under a new error id; return ``summary`` naming that id, the message a
    client gets instead of the exception's internal text."""
    error_id = secrets.token_hex(4)
    error_log.error("%s [error %s]", summary, error_id, exc_info=exc)
    return f"{summary} (error {error_id} in the server log)"


class ProviderError(Exception):
    """A provider failed (network, auth, engine); the stream ends as ``failed``. Its text
    reaches the client: an engine's own exception text goes through ``logged_error``."""


class TruncatedSpeech(ProviderError):
    """A TTS stream stopped after some audio and a fallback took over for what follows:
    the caller keeps the audio it already passed on, or asks again for the whole text."""
