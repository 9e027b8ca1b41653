"""Voice activity: the probability of speech in each 32 ms of a 16 kHz stream.

Silero VAD v6, the ONNX model that ships inside faster-whisper, on onnxruntime (which
releases the GIL: callers run :meth:`VadStream.feed` in a worker thread). One model per
process, shared by every stream; each :class:`VadStream` carries its own recurrent state
and the window's context from one call to the next, so a continuous microphone stream
gets the same probabilities as one whole recording.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # samples per probability (32 ms)
WINDOW_MS = WINDOW * 1000 / SAMPLE_RATE
WINDOW_BYTES = WINDOW * 2
CONTEXT = 64  # samples of the window before, given with each window
STATE_SHAPE = (1, 1, 128)

_model_lock = threading.Lock()
_model: object | None = None


def model_path() -> Path:
    """The Silero VAD model inside the installed faster-whisper package."""
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


def silero_session() -> object:
    """The process's ONNX Runtime session of the model (loaded on first use)."""
    global _model
    with _model_lock:
        if _model is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = 1
            options.log_severity_level = 4
            _model = onnxruntime.InferenceSession(
                str(model_path()), providers=["CPUExecutionProvider"], sess_options=options)
        return _model


def silero_loaded() -> bool:
    """Whether the process has loaded the model."""
    return _model is not None


class VadStream:
    """Speech probabilities of one continuous 16 kHz PCM s16le stream (give it whole
    samples: an odd byte would shift every sample after it)."""

    def __init__(self) -> None:
        self._session = silero_session()
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = b""

    def feed(self, pcm: bytes) -> list[tuple[float, bytes]]:
        """Each whole window the stream completes with ``pcm`` (whole samples; what is short
        of a window waits for the next call): its probability of speech and its PCM.
        Blocking: call it in a worker thread."""
        data = self._pending + pcm
        count = len(data) // WINDOW_BYTES
        self._pending = data[count * WINDOW_BYTES:]
        if count == 0:
            return []
        chunk = data[: count * WINDOW_BYTES]
        windows = (np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768.0
                   ).reshape(count, WINDOW)
        contexts = np.concatenate([self._context[None, :], windows[:-1, -CONTEXT:]])
        self._context = windows[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        probabilities, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c})
        return [(float(p), chunk[i * WINDOW_BYTES:(i + 1) * WINDOW_BYTES])
                for i, p in enumerate(np.asarray(probabilities).reshape(-1))]
