"""Caption timing measured against Whisper: ``manage.py caption_benchmark``'s logic.

Each of a fixed set of English sentences (``SENTENCES``: prose, numbers, names, commas,
questions, two long ones) is streamed through the real engine (``StreamEngine`` with
``text_once``, the settings' ``EngineConfig`` and ``SpeakableFilter``, as the pages' streams
are) on Piper, so the caption timings are exactly those the engine sends: each segment's
``words`` from its ``audio_offset_ms``. The audio sent is resampled to 16 kHz and
transcribed by the offline Whisper adapter, whose words carry timestamps. The caption words
are aligned to Whisper's (compared without case or punctuation, as ``streaming.captions``
compares them; ``difflib`` on the two word lists): only words found in both count.

Per matched word, the error of its start and of its end: caption minus Whisper, in ms
(negative: the caption is early). Two timings of the same words over the same audio are
compared side by side:

- **exact**: Piper's phoneme alignments, as the engine keeps them (``SegmentTiming.words``);
- **estimate**: what the engine falls back to for a TTS without timings,
  ``estimate_words(segment.spoken, audio_ms)`` carried onto the text by ``onto_text``.

Whisper's own timestamps are not the truth: they come from its cross-attention (tiny.en,
in 20 ms steps) and their error is part of every figure measured here, for both timings.
The target (issue 14): the exact start error's p90 <= 150 ms.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from streaming.audio import resample_pcm
from streaming.captions import as_rows, estimate_words, onto_text, word_key
from streaming.engine import COMPLETED, EngineConfig, StreamEngine, text_once
from streaming.loadclient import stats
from streaming.protocols import ProviderError, Word
from streaming.speakable import SpeakableFilter
from streaming.stats import format_ms
from voicebot.providers.whisper_stt import MODEL_RATE

TARGET_P90_MS = 150.0
METHODS = {"exact": "exact (Piper alignments)", "estimate": "estimate (by word length)"}
WHISPER_NOTE = ("Whisper's own timestamp error (tiny.en, 20 ms steps) is part of every "
                "figure, for both timings")

SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "My flight to Chicago leaves at 7:45 tomorrow morning.",
    "Could you remind me to call my sister on Sunday?",
    "Well, I think the answer is yes, but let me check first.",
    "There are 365 days in a year, and 52 weeks.",
    "Sarah, David and Michael are meeting in London next Tuesday.",
    "How far is it from Paris to Berlin by train?",
    "The library opens at nine and closes at five.",
    "Please add eggs, milk, bread and butter to the shopping list.",
    "What is the weather going to be like this weekend?",
    "The package weighs 12 kilograms and costs $45.",
    "Doctor Emily Johnson will see you in room 204.",
    "If it rains tomorrow, we will stay inside and watch a movie.",
    "Turn left at the second traffic light, then keep going straight.",
    "Mount Everest is 8,849 meters tall, the highest mountain on Earth.",
    "Do you want tea or coffee with your breakfast?",
    "The museum was built in 1887 by a wealthy merchant from Boston.",
    "Honestly, I had no idea that octopuses have three hearts.",
    "Why do cats sleep for so many hours every day?",
    "Our team scored 3 goals in the first half and 2 in the second.",
    "Amazon, Google and Microsoft all announced new products this week.",
    "The recipe calls for 2 cups of flour, 1 cup of sugar and 3 eggs.",
    "When the sun sets over the ocean, the sky turns orange, pink and purple.",
    "Is the pharmacy on Main Street still open at this hour?",
    "Albert Einstein published his theory of relativity in 1905.",
    "First, preheat the oven; then, mix the dry ingredients in a large bowl.",
    "The meeting has been moved from Thursday afternoon to Friday morning.",
    "Can you tell me how many people live in Tokyo?",
    "We walked along the river, stopped for lunch at a small cafe, and then took the bus "
    "back to the hotel before it started to rain.",
    "Although the journey was long and the weather was terrible, everyone in the group "
    "agreed that the view from the top of the mountain, with its lakes and forests "
    "stretching to the horizon, was worth every step.",
    "The invoice number is 4 5 7 9, and it is due on March 15th.",
    "Hello! Nice to meet you.",
    "Absolutely, that sounds wonderful.",
    "Temperatures will drop to minus 5 degrees by Wednesday night.",
    "Jennifer asked, quite politely, whether the concert would start on time.",
)


@dataclass
class Spoken:
    """One sentence as the engine streamed it: its audio and its words' timings (ms from
    the start of the audio) by each method; ``timed_by_tts``: Piper timed every segment."""

    pcm: bytes
    sample_rate: int
    words: dict[str, list[Word]]
    timed_by_tts: bool

    @property
    def audio_ms(self) -> float:
        """How long the audio plays."""
        return len(self.pcm) / 2 / self.sample_rate * 1000


async def speak(tts: Any, sentence: str, config: EngineConfig | None = None) -> Spoken:
    """Stream ``sentence`` through the engine on ``tts``: the audio sent, the caption
    timings it sent (exact) and the length-based estimate over the same segments."""
    frames: list[bytes] = []

    async def emit(event: dict | bytes) -> None:
        if isinstance(event, bytes):
            frames.append(event)

    engine = StreamEngine(tts, emit, config=config, speakable=SpeakableFilter())
    result = await engine.run(text_once(sentence))
    if result.status != COMPLETED:
        raise ProviderError(f"the engine did not speak {sentence!r}: {result.status} "
                            f"{result.error}")
    words: dict[str, list[Word]] = {"exact": [], "estimate": []}
    timed_by_tts = True
    for segment in result.segments:
        at = segment.audio_offset_ms
        exact = [Word(*row) for row in segment.words or ()]
        guess = onto_text(segment.text, estimate_words(
            segment.spoken, segment.audio_ms(engine.sample_rate)))
        timed_by_tts &= bool(exact) and segment.words != as_rows(guess)  # not the fallback
        for method, timed in (("exact", exact), ("estimate", guess)):
            words[method] += [Word(w.text, at + w.start_ms, at + w.end_ms) for w in timed]
    return Spoken(b"".join(frames), engine.sample_rate, words, timed_by_tts)


def align(captions: Sequence[str], heard: Sequence[str]) -> list[tuple[int, int]]:
    """The (caption, heard) index pairs of the words found in both, in order (compared
    without case or punctuation; a word of nothing but punctuation is never matched)."""
    a, b = [word_key(w) for w in captions], [word_key(w) for w in heard]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(i + k, j + k) for i, j, n in matcher.get_matching_blocks() for k in range(n)
            if a[i + k]]


@dataclass
class SentenceRow:
    """One sentence: what Whisper heard, and per matched word its timings (``[text,
    whisper start, whisper end, exact start, exact end, estimate start, estimate end]``)."""

    sentence: str
    heard: str
    words: int
    audio_ms: float
    timed_by_tts: bool
    matched: list[list] = field(default_factory=list)

    def errors(self, method: str, edge: str) -> list[float]:
        """Caption minus Whisper (ms) of each matched word's ``edge`` (start or end)."""
        edge_at = {"start": 0, "end": 1}[edge]
        column = 3 + 2 * list(METHODS).index(method) + edge_at
        return [round(row[column] - row[1 + edge_at], 1) for row in self.matched]


def measure(sentence: str, spoken: Spoken, heard: Any) -> SentenceRow:
    """Align the sentence's caption words to Whisper's and keep the matched words."""
    exact, estimate = spoken.words["exact"], spoken.words["estimate"]
    said = list(getattr(heard, "words", ()))
    row = SentenceRow(sentence, str(heard), len(exact), round(spoken.audio_ms, 1),
                      spoken.timed_by_tts)
    for i, j in align([w.text for w in exact], [w.text for w in said]):
        row.matched.append([exact[i].text, said[j].start_ms, said[j].end_ms,
                            *(round(t, 1) for w in (exact[i], estimate[i])
                              for t in (w.start_ms, w.end_ms))])
    return row


def summarize(rows: Sequence[SentenceRow]) -> dict:
    """Per method and edge: the absolute errors' stats (``abs``) and the signed ones'
    (``signed``: a constant offset shows in their p50 and mean); the words matched."""
    words = sum(r.words for r in rows)
    matched = sum(len(r.matched) for r in rows)
    summary: dict = {"sentences": len(rows), "words": words, "matched": matched,
                     "matched_share": round(matched / words, 4) if words else None}
    for method in METHODS:
        summary[method] = {}
        for edge in ("start", "end"):
            errors = [e for r in rows for e in r.errors(method, edge)]
            summary[method][edge] = {"abs": stats(abs(e) for e in errors),
                                     "signed": stats(errors)}
    p90 = summary["exact"]["start"]["abs"]["p90"]
    summary["target"] = {"exact_start_p90_ms": TARGET_P90_MS,
                         "met": p90 is not None and p90 <= TARGET_P90_MS}
    return summary


async def run_benchmark(tts: Any, stt: Any, sentences: Iterable[str] = SENTENCES, *,
                        config: EngineConfig | None = None,
                        progress: Callable[[SentenceRow], None] | None = None
                        ) -> list[SentenceRow]:
    """Speak, transcribe and align every sentence; ``progress(row)`` after each."""
    rows = []
    for sentence in sentences:
        spoken = await speak(tts, sentence, config)
        pcm = resample_pcm(spoken.pcm, spoken.sample_rate, MODEL_RATE)
        heard = await stt.transcribe(pcm, sample_rate=MODEL_RATE)
        rows.append(row := measure(sentence, spoken, heard))
        if progress:
            progress(row)
    return rows


def failures(rows: Sequence[SentenceRow]) -> list[str]:
    """Why the run measured nothing sound (empty when every sentence counted)."""
    problems = []
    if untimed := [r.sentence for r in rows if not r.timed_by_tts]:
        problems.append(f"Piper gave no word timings for {len(untimed)} sentences (the "
                        f"'exact' figures would be the estimate's): {untimed[0]!r}...")
    if unmatched := [r.sentence for r in rows if not r.matched]:
        problems.append(f"no word matched Whisper's in {len(unmatched)} sentences: "
                        f"{unmatched[0]!r}...")
    return problems


def document(rows: Sequence[SentenceRow], *, config: dict, machine: dict) -> dict:
    """The JSON result of a run."""
    return {"config": config, "machine": machine, "note": WHISPER_NOTE,
            "summary": summarize(rows), "failures": failures(rows),
            "sentences": [asdict(r) for r in rows]}


def text_report(summary: dict) -> str:
    """The summary as a table, with the target's verdict."""
    share = summary["matched_share"]
    lines = [f"caption timing vs Whisper word timestamps: {summary['sentences']} sentences, "
             f"{summary['matched']} of {summary['words']} caption words matched "
             f"({'-' if share is None else f'{share:.1%}'})",
             f"{'timing':<27}{'start error (ms): p50':>22}{'p90':>7}{'max':>7}{'offset':>8}"
             f"{'end error: p50':>16}{'p90':>7}{'max':>7}{'offset':>8}"]
    for method, label in METHODS.items():
        cells = []
        for edge in ("start", "end"):
            a, signed = summary[method][edge]["abs"], summary[method][edge]["signed"]
            cells += [f"{format_ms(a['p50'], decimals=0):>{22 if edge == 'start' else 16}}",
                      f"{format_ms(a['p90'], decimals=0):>7}",
                      f"{format_ms(a['max'], decimals=0):>7}",
                      f"{format_ms(signed['p50'], decimals=0, sign=True):>8}"]
        lines.append(f"{label:<27}" + "".join(cells))
    target = summary["target"]
    lines.append("offset: the median of caption minus Whisper (negative: the caption is early)")
    lines.append(f"target: exact start error p90 <= {target['exact_start_p90_ms']:g} ms: "
                 f"{'met' if target['met'] else 'NOT met'}")
    lines.append(f"note: {WHISPER_NOTE}")
    return "\n".join(lines)
