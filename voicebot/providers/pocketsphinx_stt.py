"""Offline speech-to-text adapter on PocketSphinx (its bundled US English model).

This module owns ``PocketsphinxSTT``: decoding is CPU-bound, so it runs in the adapter's
own thread pool, never on the event loop, and since decoders are not thread-safe each
worker thread keeps its own ``Decoder``, built on first use in that thread. An optional
JSGF grammar restricts recognition to known phrases (far more accurate for commands).
Django-free except for ``ImproperlyConfigured``.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.audio import resample_pcm
from streaming.protocols import ProviderError

DECODER_RATE = 16000  # the bundled acoustic model is 16 kHz
GRAMMAR_SEARCH = "grammar"


class PocketsphinxSTT:
    """Transcribes PCM s16le mono offline with PocketSphinx, optionally with a JSGF grammar."""

    label = "PocketSphinx (offline)"

    def __init__(self, *, jsgf: str | None = None, max_workers: int = 2) -> None:
        """Store the options; pocketsphinx is imported and decoders built on first use."""
        if max_workers < 1:
            raise ImproperlyConfigured(f"max_workers must be >= 1, got {max_workers!r}")
        self.jsgf = jsgf or None
        self.max_workers = max_workers
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="pocketsphinx"
        )
        self._local = threading.local()

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str:
        """Return the stripped transcript (``""`` when nothing was recognised).

        Raises ``ProviderError`` if the engine fails, ``ImproperlyConfigured`` if
        pocketsphinx is missing or the grammar is invalid.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._decode, pcm, sample_rate)

    def close(self) -> None:
        """Stop the worker threads (pending transcriptions still finish)."""
        self._executor.shutdown(wait=False)

    # --- worker thread side ---------------------------------------------------------------

    def _decoder(self) -> Any:
        """Return this worker thread's decoder, creating it on first use."""
        decoder = getattr(self._local, "decoder", None)
        if decoder is not None:
            return decoder
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise ImproperlyConfigured(
                "PocketsphinxSTT needs pocketsphinx: pip install pocketsphinx"
            ) from exc
        try:
            decoder = Decoder(samprate=DECODER_RATE, loglevel="FATAL")
        except (RuntimeError, ValueError) as exc:
            raise ProviderError(f"PocketSphinx could not start: {exc}") from exc
        if self.jsgf:
            try:
                # pocketsphinx 5: add_jsgf_string() + activate_search(); the older
                # set_jsgf_string() is a deprecated alias that does not activate it.
                decoder.add_jsgf_string(GRAMMAR_SEARCH, self.jsgf)
                decoder.activate_search(GRAMMAR_SEARCH)
            except (ValueError, KeyError, RuntimeError) as exc:
                raise ImproperlyConfigured(
                    f"Invalid JSGF grammar for PocketsphinxSTT (syntax error or a word not in "
                    f"the dictionary): {exc}"
                ) from exc
        self._local.decoder = decoder
        return decoder

    def _decode(self, pcm: bytes, sample_rate: int) -> str:
        """Resample to 16 kHz if needed and decode one utterance (runs in a worker)."""
        pcm = resample_pcm(pcm, sample_rate, DECODER_RATE)
        if not pcm:
            return ""
        decoder = self._decoder()
        try:
            decoder.start_utt()
            try:
                decoder.process_raw(pcm, full_utt=True)
            finally:
                decoder.end_utt()
            hyp = decoder.hyp()
        except (RuntimeError, ValueError) as exc:
            raise ProviderError(f"PocketSphinx decoding failed: {exc}") from exc
        return hyp.hypstr.strip() if hyp else ""
