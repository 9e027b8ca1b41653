"""Deterministic simulated providers with configurable latency and rate.

For tests and the load test: they cost no CPU worth mentioning, so what is measured
is the pipeline, not an engine. Same parameters, same output, same timing schedule.
"""
from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator
from functools import lru_cache

from streaming.protocols import LLM, TTS, ProviderError

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "Streaming speech while the model is still writing keeps the listener engaged.",
    "Every segment is synthesized as soon as it is cut, in the order it was written.",
    "A good voice pipeline adds only a few milliseconds to the time of first audio.",
    "When the user interrupts, the answer stops at once and nothing else is spoken.",
    "Short sentences help the first audio start early, and longer ones sound natural.",
)


def simulated_reply(words: int = 80) -> str:
    """A deterministic reply of about ``words`` words made of whole sentences."""
    out: list[str] = []
    count = 0
    i = 0
    while count < words:
        sentence = SENTENCES[i % len(SENTENCES)]
        out.append(sentence)
        count += len(sentence.split())
        i += 1
    return " ".join(out)


@lru_cache(maxsize=16)
def _tone_frame(sample_rate: int, frame_samples: int, hz: float) -> bytes:
    """One frame of a quiet sine tone (whole periods are not needed: frames are short)."""
    return b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * hz * n / sample_rate)))
        for n in range(frame_samples)
    )


class SimulatedTTS(TTS):
    """Audio for any text: ``ms_per_char`` of tone, first byte after ``first_byte_ms``,
    then frames of ``frame_ms`` produced ``realtime_factor`` times faster than real time."""

    voices = ("tone",)

    def __init__(self, *, sample_rate: int = 24000, first_byte_ms: float = 150.0,
                 realtime_factor: float = 5.0, frame_ms: int = 100, ms_per_char: float = 60.0,
                 fail_after_frames: int | None = None, tone_hz: float = 220.0) -> None:
        self.sample_rate = sample_rate
        self.first_byte_ms = first_byte_ms
        self.realtime_factor = realtime_factor
        self.frame_ms = frame_ms
        self.ms_per_char = ms_per_char
        self.fail_after_frames = fail_after_frames
        self.tone_hz = tone_hz

    def audio_ms_for(self, text: str) -> float:
        """How much audio ``synthesize`` produces for this text."""
        frames = max(1, math.ceil(len(text) * self.ms_per_char / self.frame_ms))
        return frames * self.frame_ms

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield tone frames on a fixed schedule."""
        loop = asyncio.get_running_loop()
        frame = _tone_frame(self.sample_rate, self.sample_rate * self.frame_ms // 1000,
                            self.tone_hz)
        frames = int(self.audio_ms_for(text) // self.frame_ms)
        start = loop.time() + self.first_byte_ms / 1000
        interval = self.frame_ms / 1000 / self.realtime_factor
        for n in range(frames):
            if self.fail_after_frames is not None and n >= self.fail_after_frames:
                raise ProviderError("simulated TTS failure")
            delay = start + n * interval - loop.time()
            await asyncio.sleep(max(0.0, delay))
            yield frame


class SimulatedLLM(LLM):
    """A fixed reply streamed word by word: first token after ``first_token_ms``,
    then ``tokens_per_s`` tokens a second."""

    def __init__(self, *, first_token_ms: float = 300.0, tokens_per_s: float = 40.0,
                 reply: str | None = None, words: int = 80,
                 fail_after_tokens: int | None = None) -> None:
        self.first_token_ms = first_token_ms
        self.tokens_per_s = tokens_per_s
        self.reply = reply or simulated_reply(words)
        self.fail_after_tokens = fail_after_tokens

    def tokens(self) -> list[str]:
        """The reply cut into word tokens (each with its following space)."""
        words = self.reply.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    async def stream(self, messages: list[dict]) -> AsyncIterator[str]:
        """Yield the reply's tokens on a fixed schedule."""
        loop = asyncio.get_running_loop()
        start = loop.time() + self.first_token_ms / 1000
        for n, token in enumerate(self.tokens()):
            if self.fail_after_tokens is not None and n >= self.fail_after_tokens:
                raise ProviderError("simulated LLM failure")
            await asyncio.sleep(max(0.0, start + n / self.tokens_per_s - loop.time()))
            yield token
