"""TTS fallback: a chain of providers that speaks as one, at one sample rate.

If the active provider fails before a segment's first audio byte (auth error, timeout,
unavailable), the same segment is retried on the next provider. If it fails after audio
has started, the following segments go to the next provider and the segment's stream ends
with ``TruncatedSpeech``: the engine asks again for a segment none of whose audio was sent
yet, and otherwise drops its rest (audio already sent is never repeated). Audio of a
provider at another rate is resampled (soxr) to the rate announced for the session. Only
when the chain is exhausted does the failure reach the engine, which ends the stream as
``failed``.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from streaming.audio import WholeSamples
from streaming.protocols import TTS, ProviderError, TruncatedSpeech
from streaming.scheduling import need_by


@dataclass(frozen=True)
class Timeouts:
    """How long a provider may take to its first byte, and between two chunks (s)."""

    first_byte: float = 10.0
    between_chunks: float = 10.0


class Resampler:
    """Streaming soxr resampler of s16le mono PCM for one segment."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        import soxr

        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="int16")
        self._samples = WholeSamples()

    def feed(self, chunk: bytes, *, last: bool = False) -> bytes:
        """Resampled audio for ``chunk`` (an odd trailing byte waits for the next one)."""
        import numpy as np

        samples = np.frombuffer(self._samples.take(chunk), dtype="<i2")
        return self._stream.resample_chunk(samples, last=last).astype("<i2").tobytes()


class FallbackTTS:
    """Several TTS providers behind the one-method TTS protocol, for one session."""

    def __init__(self, chain: list[tuple[str, TTS]], *, timeouts: Timeouts | None = None,
                 on_switch: Callable[[dict], Awaitable[None]] | None = None) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one provider")
        self.chain = chain
        self.timeouts = timeouts or Timeouts()
        self.sample_rate = int(chain[0][1].sample_rate)
        self.voices = list(chain[0][1].voices)
        self.switches: list[dict] = []
        self.active = 0
        self._on_switch = on_switch

    @property
    def alias(self) -> str:
        """The provider speaking now."""
        return self.chain[self.active][0]

    async def synthesize(self, text: str, *, voice: str | None) -> AsyncIterator[bytes]:
        """Yield the segment's audio from the first provider of the chain that works.

        Several segments may be synthesized at once: a failure moves the chain on only
        if no other segment has moved it past the failed provider already.
        """
        while True:
            index = self.active
            alias, tts = self.chain[index]
            started = False
            try:
                async for chunk in self._timed(tts, text, voice if index == 0 else None):
                    started = True
                    yield chunk
                return
            except (ProviderError, TimeoutError, ImproperlyConfigured) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if index + 1 >= len(self.chain):
                    tried = " -> ".join(a for a, _ in self.chain)
                    raise ProviderError(f"every TTS provider failed ({tried}); "
                                        f"{alias}: {reason}") from exc
                if index == self.active:
                    await self._switch(reason, after_audio=started)
                if started:
                    raise TruncatedSpeech(f"{alias} stopped mid-segment ({reason}); "
                                          f"{self.alias} takes over") from exc

    async def _timed(self, tts: TTS, text: str, voice: str | None) -> AsyncIterator[bytes]:
        """The provider's audio with first-byte and between-chunk timeouts, at our rate."""
        rate = int(tts.sample_rate)
        resampler = Resampler(rate, self.sample_rate) if rate != self.sample_rate else None
        chunks = tts.synthesize(text, voice=voice).__aiter__()
        # Asked for ahead of its listener, a segment may wait in a local engine's queue
        # until it is needed: the first byte's time counts from then.
        ahead = max(0.0, (need_by.get() or 0.0) - time.monotonic())
        timeout = self.timeouts.first_byte + ahead
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                timeout = self.timeouts.between_chunks
                yield resampler.feed(chunk) if resampler else chunk
            if resampler:
                yield resampler.feed(b"", last=True)
        finally:
            await chunks.aclose()

    async def _switch(self, reason: str, *, after_audio: bool) -> None:
        before = self.alias
        self.active += 1
        switch = {"from": before, "to": self.alias, "reason": reason,
                  "after_audio": after_audio}
        self.switches.append(switch)
        if self._on_switch is not None:
            await self._on_switch(switch)
