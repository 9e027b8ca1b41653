"""PCM helpers shared by providers: whole samples, WAV wrapping and sample-rate conversion.

Everything here works on raw PCM s16le mono bytes (the format every STT/TTS protocol uses)
and is Django-free. ``numpy`` and ``soxr`` are imported only when resampling is needed.
"""
from __future__ import annotations

import io
import wave

SAMPLE_WIDTH = 2  # bytes per sample: signed 16-bit little-endian


def _check_pcm(pcm: bytes) -> None:
    """Reject buffers that cannot be s16le (an odd number of bytes)."""
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"PCM s16le needs an even number of bytes, got {len(pcm)}")


class WholeSamples:
    """Cuts a stream of PCM s16le chunks at whole samples.

    Network chunks split samples anywhere: an odd byte at the end of a chunk is held and
    put before the next one, so every piece handed on is whole samples.
    """

    def __init__(self) -> None:
        self.pending = b""

    def take(self, chunk: bytes) -> bytes:
        """The whole samples of the held byte and ``chunk``; an odd last byte is held."""
        data = self.pending + chunk if self.pending else chunk
        whole = len(data) - len(data) % SAMPLE_WIDTH
        self.pending = data[whole:]
        return data[:whole] if self.pending else data


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap PCM s16le mono in an in-memory WAV container at ``sample_rate``."""
    _check_pcm(pcm)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def resample_pcm(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample PCM s16le mono from ``src_rate`` to ``dst_rate`` Hz (soxr, high quality)."""
    _check_pcm(pcm)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
    if src_rate == dst_rate or not pcm:
        return pcm
    import numpy as np
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2")
    resampled = soxr.resample(samples, src_rate, dst_rate)
    return np.asarray(resampled, dtype="<i2").tobytes()
