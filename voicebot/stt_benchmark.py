"""Speech-to-text accuracy benchmark: Piper speaks known sentences, an STT transcribes them.

This module owns the benchmark's fixed material and arithmetic, reused by the
``stt_benchmark`` management command and by the tests:

- ``SENTENCES``: 20 English sentences (numbers, names, questions) whose spoken form
  normalizes cleanly, and the non-speech clip generators (``tone``, ``white_noise``,
  ``brown_noise``, ``silence``, ``cough_bursts``; PCM s16le mono, deterministic);
- ``normalize`` and ``word_errors`` / ``wer``: standard word error rate, i.e. word-level
  Levenshtein distance (substitutions + deletions + insertions) over the number of
  reference words, after normalization;
- ``run_benchmark``: synthesizes every sentence with Piper, transcribes it and the
  non-speech clips, and returns per-clip rows and the totals.

Normalization (applied to reference and hypothesis alike): lowercase; ``$N`` becomes
``N dollars`` and ``%`` ``percent``; hyphens, colons and slashes separate words, and so
does a dot between digits (Whisper writes "9:30" as "9.30" at times; the sentences have no
decimals); thousands separators (``1,200``) are dropped; other punctuation is removed
(apostrophes inside words are kept: ``o'clock``, ``don't``; contractions are not expanded,
so the sentences avoid spoken forms Whisper contracts, like "where is" heard as "where's");
runs of number words (``twenty five``,
``nine thirty``, ``four five seven``) become numerals; finally every numeral is spelled
digit by digit (``457`` -> ``4 5 7``). So "457", "4 5 7", "4-5-7" and "four five seven"
all compare equal, and so do "9:30" and "nine thirty": each digit counts as one word.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

CLIP_RATE = 16000  # default sample rate of the generated non-speech clips
FULL_SCALE = 32767

SENTENCES: tuple[str, ...] = (
    "What time does the train to Boston leave?",
    "My flight number is 4 5 7 and it leaves at 9:30.",
    "Please call me back at 5 5 5 0 1 9 9.",
    "Can you book a table for 4 people tomorrow night?",
    "Sarah and David are meeting in London next week.",
    "How much does a ticket to Chicago cost?",
    "Set an alarm for 7 o'clock in the morning.",
    "The meeting has been moved to Thursday afternoon.",
    "Is it going to rain in Seattle this weekend?",
    "I would like to order 2 large pizzas, please.",
    "Turn off the lights in the living room.",
    "My name is Emily Johnson and I live in Denver.",
    "What is the weather like in New York today?",
    "Remind me to buy milk and eggs on the way home.",
    "There are 12 students waiting outside the library.",
    "Where can I find the nearest pharmacy?",
    "Send a message to Michael saying I will be late.",
    "The package should arrive within 3 business days.",
    "Could you play some relaxing music in the kitchen?",
    "We need 25 chairs for the conference on Friday.",
)


# --- non-speech clips (PCM s16le mono) ------------------------------------------------------


def _pcm(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as PCM s16le."""
    return (np.clip(samples, -1.0, 1.0) * FULL_SCALE).astype("<i2").tobytes()


def _frames(seconds: float, rate: int) -> int:
    if seconds < 0 or rate <= 0:
        raise ValueError(f"need seconds >= 0 and rate > 0, got {seconds}, {rate}")
    return round(seconds * rate)


def tone(seconds: float = 2.0, *, freq: float = 440.0, rate: int = CLIP_RATE,
         amplitude: float = 0.3) -> bytes:
    """A pure sine tone (a beep)."""
    t = np.arange(_frames(seconds, rate)) / rate
    return _pcm(amplitude * np.sin(2 * np.pi * freq * t))


def white_noise(seconds: float = 2.0, *, rate: int = CLIP_RATE, amplitude: float = 0.2,
                seed: int = 1) -> bytes:
    """Gaussian white noise, ``amplitude`` its standard deviation (a fan, a hiss)."""
    rng = np.random.default_rng(seed)
    return _pcm(amplitude * rng.standard_normal(_frames(seconds, rate)))


def brown_noise(seconds: float = 2.0, *, rate: int = CLIP_RATE, amplitude: float = 0.3,
                seed: int = 2) -> bytes:
    """Brown (red, 1/f²) noise: integrated white noise, a rumble like traffic or wind."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal(_frames(seconds, rate)))
    if walk.size:
        walk -= np.linspace(walk[0], walk[-1], walk.size)  # no drift: starts and ends at 0
        walk *= amplitude / max(float(np.max(np.abs(walk))), 1e-9)
    return _pcm(walk)


def silence(seconds: float = 2.0, *, rate: int = CLIP_RATE) -> bytes:
    """Digital silence."""
    return bytes(2 * _frames(seconds, rate))


def cough_bursts(seconds: float = 2.0, *, bursts: int = 3, rate: int = CLIP_RATE,
                 amplitude: float = 0.6, seed: int = 3) -> bytes:
    """Cough-like bursts: ``bursts`` short (about 0.25 s) band-limited noise blasts with a
    sharp attack and fast decay, the first at 0.1 s, spread over the first half of the clip;
    the rest is silence (``bursts=1``: one cough followed by silence)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(_frames(seconds, rate))
    burst_len = _frames(0.25, rate)
    t = np.arange(burst_len) / rate
    envelope = (1 - np.exp(-t / 0.004)) * np.exp(-t / 0.06)
    # Noise through a crude band-pass (difference of moving averages): most energy
    # between a few hundred Hz and a few kHz, like the burst of air of a cough.
    kernel_lo, kernel_hi = np.ones(3) / 3, np.ones(24) / 24
    spacing = _frames(min(0.45, seconds / (2 * max(bursts, 1))), rate)
    for k in range(bursts):
        start = _frames(0.1, rate) + k * spacing
        if start >= out.size:
            break
        noise = rng.standard_normal(burst_len + 48)
        band = np.convolve(noise, kernel_lo, "same") - np.convolve(noise, kernel_hi, "same")
        burst = band[24:24 + burst_len] * envelope
        burst *= amplitude / max(float(np.max(np.abs(burst))), 1e-9)
        end = min(out.size, start + burst_len)
        out[start:end] += burst[:end - start]
    return _pcm(out)


NON_SPEECH: dict[str, Any] = {
    "tone 440 Hz": tone,
    "white noise": white_noise,
    "brown noise": brown_noise,
    "silence": silence,
    "cough bursts": cough_bursts,
}
"""The benchmark's non-speech clips: name -> generator (2 s at ``rate``, default 16 kHz)."""


# --- normalization and word error rate ------------------------------------------------------

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
UNIT_VALUES = {word: n for n, word in enumerate(_UNITS)}
TENS_VALUES = {word: 10 * (n + 2) for n, word in enumerate(_TENS)}
SCALE_VALUES = {"hundred": 100, "thousand": 1000}


def _numbers_to_numerals(words: list[str]) -> list[str]:
    """Replace each run of number words by its numeral(s): ``twenty five`` -> ``25``,
    ``nine thirty`` -> ``9 30``, ``four five seven`` -> ``4 5 7``, ``one hundred`` -> ``100``."""
    out: list[str] = []
    value: int | None = None  # the number being built
    last = ""  # "unit", "teen", "tens" or "scale": what the previous number word was

    def flush() -> None:
        nonlocal value, last
        if value is not None:
            out.append(str(value))
        value, last = None, ""

    for word in words:
        if word in TENS_VALUES:
            if value is not None and last != "scale":
                flush()
            value = (value or 0) + TENS_VALUES[word]
            last = "tens"
        elif word in UNIT_VALUES:
            n = UNIT_VALUES[word]
            joins = value is not None and (last == "scale" or (last == "tens" and 0 < n < 10))
            if not joins:
                flush()
            value = (value or 0) + n
            last = "teen" if n >= 10 else "unit"
        elif word in SCALE_VALUES and value is not None and last != "scale":
            scale = SCALE_VALUES[word]
            high, low = divmod(value, 1000) if scale == 100 else (0, value)
            value = high * 1000 + low * scale
            last = "scale"
        else:
            flush()
            out.append(word)
    flush()
    return out


def normalize(text: str) -> list[str]:
    """The words of ``text`` in the benchmark's normal form (see the module docstring)."""
    text = text.lower()
    text = re.sub(r"\$\s*(\d[\d,]*(?:\.\d+)?)", r"\1 dollars", text)
    text = text.replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,200 -> 1200
    text = re.sub(r"[-:/]", " ", text)
    text = re.sub(r"(?<=\d)\.(?=\d)", " ", text)  # 9.30 -> 9 30, as 9:30
    text = re.sub(r"[^\w\s']", " ", text)  # remaining punctuation
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, but not o'clock or don't
    words = _numbers_to_numerals(text.split())
    spelled: list[str] = []
    for word in words:
        spelled.extend(list(word) if word.isdigit() else [word])
    return spelled


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1,  # deletion
                               current[j - 1] + 1,  # insertion
                               previous[j - 1] + (ref_word != hyp_word)))  # substitution
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one hypothesis after normalization (errors / reference words)."""
    ref = normalize(reference)
    if not ref:
        raise ValueError("the reference has no words")
    return word_errors(ref, normalize(hypothesis)) / len(ref)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class SpeechRow:
    """One spoken sentence: what was said, what was heard, and the errors."""

    reference: str
    hypothesis: str
    reference_words: int
    errors: int
    audio_s: float
    transcribe_s: float

    @property
    def wer(self) -> float:
        """This sentence's word error rate."""
        return self.errors / self.reference_words


@dataclass
class NonSpeechRow:
    """One non-speech clip and whatever words the STT found in it (should be none)."""

    name: str
    hypothesis: str
    words: int
    audio_s: float
    transcribe_s: float


@dataclass
class BenchmarkResult:
    """Every row, the totals and the verdict against ``max_wer``."""

    speech: list[SpeechRow] = field(default_factory=list)
    non_speech: list[NonSpeechRow] = field(default_factory=list)
    max_wer: float = 0.05

    @property
    def reference_words(self) -> int:
        """Reference words over all sentences (normalized)."""
        return sum(row.reference_words for row in self.speech)

    @property
    def errors(self) -> int:
        """Word errors over all sentences."""
        return sum(row.errors for row in self.speech)

    @property
    def wer(self) -> float:
        """Overall word error rate: all errors over all reference words."""
        return self.errors / self.reference_words if self.reference_words else 0.0

    @property
    def real_time_factor(self) -> float:
        """Transcription time over audio time, over all sentences (0.1: ten times faster
        than real time)."""
        audio_s = sum(row.audio_s for row in self.speech)
        return sum(row.transcribe_s for row in self.speech) / audio_s if audio_s else 0.0

    @property
    def non_speech_with_words(self) -> list[str]:
        """Names of the non-speech clips that yielded words."""
        return [row.name for row in self.non_speech if row.words]

    @property
    def failures(self) -> list[str]:
        """Why the benchmark fails (empty when it passes)."""
        problems = []
        if self.wer > self.max_wer:
            problems.append(f"WER {self.wer:.1%} is above {self.max_wer:.1%}")
        if bad := self.non_speech_with_words:
            problems.append(f"non-speech clips gave words: {', '.join(bad)}")
        return problems

    def as_dict(self) -> dict:
        """JSON-ready result."""
        return {
            "sentences": [asdict(row) | {"wer": row.wer} for row in self.speech],
            "non_speech": [asdict(row) for row in self.non_speech],
            "reference_words": self.reference_words,
            "errors": self.errors,
            "wer": self.wer,
            "real_time_factor": self.real_time_factor,
            "max_wer": self.max_wer,
            "non_speech_with_words": self.non_speech_with_words,
            "passed": not self.failures,
            "failures": self.failures,
        }


async def synthesize(tts: Any, text: str) -> bytes:
    """All of Piper's PCM for ``text`` (at ``tts.sample_rate``)."""
    return b"".join([chunk async for chunk in tts.synthesize(text, voice=None)])


async def run_benchmark(stt: Any, tts: Any, *, sentences: Iterable[str] = SENTENCES,
                        max_wer: float = 0.05, progress: Any = None) -> BenchmarkResult:
    """Speak every sentence with ``tts``, transcribe it and the non-speech clips with
    ``stt``; ``progress(row)`` is called after each clip if given."""
    import time

    result = BenchmarkResult(max_wer=max_wer)
    for sentence in sentences:
        pcm = await synthesize(tts, sentence)
        started = time.perf_counter()
        heard = await stt.transcribe(pcm, sample_rate=tts.sample_rate)
        elapsed = time.perf_counter() - started
        ref = normalize(sentence)
        row = SpeechRow(sentence, str(heard), len(ref), word_errors(ref, normalize(heard)),
                        len(pcm) / 2 / tts.sample_rate, elapsed)
        result.speech.append(row)
        if progress:
            progress(row)
    for name, generate in NON_SPEECH.items():
        pcm = generate(rate=CLIP_RATE)
        started = time.perf_counter()
        heard = await stt.transcribe(pcm, sample_rate=CLIP_RATE)
        elapsed = time.perf_counter() - started
        row = NonSpeechRow(name, str(heard), len(normalize(heard)), len(pcm) / 2 / CLIP_RATE,
                           elapsed)
        result.non_speech.append(row)
        if progress:
            progress(row)
    return result


def text_table(result: BenchmarkResult) -> str:
    """The rows and totals as a plain-text table."""
    lines = [f"{'WER':>6}  {'err':>3}/{'ref':<3}  {'audio':>6}  {'stt':>6}  reference | heard"]
    for row in result.speech:
        lines.append(f"{row.wer:>6.1%}  {row.errors:>3}/{row.reference_words:<3}  "
                     f"{row.audio_s:>5.2f}s  {row.transcribe_s:>5.2f}s  "
                     f"{row.reference} | {row.hypothesis}")
    lines.append(f"{result.wer:>6.1%}  {result.errors:>3}/{result.reference_words:<3}  "
                 f"overall WER over {len(result.speech)} sentences (max {result.max_wer:.1%})")
    lines.append(f"real-time factor {result.real_time_factor:.3f} (transcription time / audio "
                 "time)")
    lines.append("")
    lines.append(f"{'words':>6}  {'audio':>6}  {'stt':>6}  non-speech clip | heard")
    for ns in result.non_speech:
        lines.append(f"{ns.words:>6}  {ns.audio_s:>5.2f}s  {ns.transcribe_s:>5.2f}s  "
                     f"{ns.name} | {ns.hypothesis!r}")
    clean = len(result.non_speech) - len(result.non_speech_with_words)
    lines.append(f"{clean}/{len(result.non_speech)} non-speech clips gave no words")
    return "\n".join(lines)
