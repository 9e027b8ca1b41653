"""The one-method provider protocols every adapter implements (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
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


class Adapter(Protocol):
    """What any adapter may also offer besides its one method. An adapter subclasses its
    protocol and inherits these defaults: nothing to load, nothing to check."""

    label: str = ""  # what the pages call it, when it knows better than the settings
    load_error: str = ""  # why loading failed ("" when it did not)
    cold_start: bool = False  # True: it loads a model (``warm_up``) before it is fast

    @property
    def ready(self) -> bool:
        """Loaded and able to answer at once (``/healthz``)."""
        return True

    def warm_up(self) -> None:
        """Start loading models in the background; returns at once."""

    def check(self) -> None:
        """Raise ``ImproperlyConfigured`` when it cannot work as configured (no network)."""


@runtime_checkable
class LLM(Adapter, Protocol):
    """Streams text deltas of the answer to a list of chat messages."""

    def stream(self, messages: list[dict]) -> AsyncIterator[str]: ...


@runtime_checkable
class TTS(Adapter, Protocol):
    """Streams raw PCM s16le mono at ``sample_rate`` for one text segment (chunks may be
    ``SpeechChunk``: then they also say when each word is spoken)."""

    sample_rate: int
    voices: Sequence[str] = ()  # configured voices, the default first
    can_list_voices: bool = False  # True: ``list_voices()`` asks the service for more

    def synthesize(self, text: str, *, voice: str | None) -> AsyncIterator[bytes]: ...

    async def list_voices(self) -> list[dict]:
        """The service's voices (``{"name", ...}`` each), when ``can_list_voices``."""
        raise ProviderError(f"{type(self).__name__} cannot list its voices")


@runtime_checkable
class STT(Adapter, Protocol):
    """Transcribes PCM s16le mono audio to text (a plain ``str`` or a ``Transcript``)."""

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str: ...


@dataclass(frozen=True)
class Word:
    """One recognised word and when it was spoken, in ms from the start of the audio."""

    text: str
    start_ms: float
    end_ms: float


class SpeechChunk(bytes):
    """What a TTS may yield instead of plain ``bytes``: the audio, with the timings of the
    words said in it (``words``, in ms from the start of this chunk; each word of the text
    once, in order, over all the chunks of one ``synthesize`` call)."""

    words: tuple[Word, ...]

    def __new__(cls, audio: bytes = b"", words: Iterable[Word] = ()) -> SpeechChunk:
        """The ``audio`` carrying ``words`` (their timings)."""
        chunk = super().__new__(cls, audio)
        chunk.words = tuple(words)
        return chunk


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
