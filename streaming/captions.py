"""Word timings of a segment's audio: what the captions follow and what "heard" counts.

This module owns the word-level timeline of one segment (pure Python, no Django):

* :func:`estimate_words` spreads a text over its audio by character weight (with a pause
  after punctuation), for a TTS that gives no timings;
* :func:`onto_text` carries timings of the *spoken* words (what the TTS was asked to say,
  after :mod:`streaming.speakable`) over to the words of the segment's *text* (what the
  pages show and the history keeps), aligning the two word lists;
* :func:`words_heard` counts the words a listener heard by a playback position.

Times are milliseconds from the start of the segment's audio; a word is ``[text, start,
end]`` on the wire and in the database (:func:`as_rows`).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from streaming.protocols import Word

PAUSE_CHARS = {",": 3.0, ";": 4.0, ":": 4.0, ".": 6.0, "!": 6.0, "?": 6.0, "…": 6.0}
_CLOSERS = "\"'”’)]}*_`"
_NORMAL = re.compile(r"[^\w]+")


def _pause_after(word: str) -> float:
    """Extra weight (in characters) for the pause after a word's closing punctuation."""
    mark = word.rstrip(_CLOSERS)[-1:]
    return PAUSE_CHARS.get(mark, 0.0)


def _weight(word: str) -> float:
    """How long a word takes to say, in characters: its letters and digits (a digit is
    said as a word of its own, roughly), at least one."""
    letters = sum(c.isalpha() for c in word)
    digits = sum(c.isdigit() for c in word)
    return max(1.0, letters + 4.0 * digits)


def estimate_words(text: str, audio_ms: float) -> list[Word]:
    """The words of ``text`` spread over ``audio_ms`` of speech by their length, with a
    pause after each punctuated word (a TTS without timings says it at an even pace)."""
    return _spread(text.split(), 0.0, max(0.0, audio_ms), pauses=True)


def _spread(tokens: Sequence[str], start: float, end: float, *, pauses: bool) -> list[Word]:
    """``tokens`` spread over ``start``..``end`` by their length (and, with ``pauses``, a
    pause after each punctuated one but the last)."""
    if not tokens:
        return []
    spans = [(_weight(t), _pause_after(t) if pauses and i < len(tokens) - 1 else 0.0)
             for i, t in enumerate(tokens)]
    scale = (end - start) / sum(say + pause for say, pause in spans)
    words, at = [], start
    for token, (say, pause) in zip(tokens, spans, strict=True):
        words.append(Word(token, round(at, 1), round(at + say * scale, 1)))
        at += (say + pause) * scale
    return words


def word_key(token: str) -> str:
    """A word as compared with another: without punctuation or case."""
    return _NORMAL.sub("", token).lower()


def onto_text(text: str, spoken: Sequence[Word]) -> list[Word]:
    """The timings of the spoken words, carried over to the words of ``text``.

    Words found in both (compared without punctuation or case) keep their own timings; a
    run of text words said differently ("$5" said as "5 dollars") shares the time of the
    spoken run it stands for, split by length; a text word that was not said at all
    (markdown, code) gets an instant at the place it would have been.
    """
    tokens = text.split()
    if [w.text for w in spoken] == tokens:
        return list(spoken)
    matcher = difflib.SequenceMatcher(None, [word_key(t) for t in tokens],
                                      [word_key(w.text) for w in spoken], autojunk=False)
    words: list[Word] = []
    for op, t0, t1, s0, s1 in matcher.get_opcodes():
        if op == "insert":  # said more than written ("$5" -> "5 dollars"): the word before
            if words:  # lasts to the end of what was added
                words[-1] = Word(words[-1].text, words[-1].start_ms, spoken[s1 - 1].end_ms)
            continue
        if op == "equal":
            words.extend(Word(tokens[t0 + k], spoken[s0 + k].start_ms, spoken[s0 + k].end_ms)
                         for k in range(t1 - t0))
        elif op in ("replace", "delete"):
            if s1 > s0:
                start, end = spoken[s0].start_ms, spoken[s1 - 1].end_ms
            else:  # not said: an instant where it would have been
                start = end = spoken[s0 - 1].end_ms if s0 else (
                    spoken[0].start_ms if spoken else 0.0)
            words.extend(_spread(tokens[t0:t1], start, end, pauses=False))
    return words


def words_heard(words: Sequence[Word], played_ms: float) -> int:
    """How many of the words (in order) a listener heard after ``played_ms`` of the
    segment's audio: a word counts once more than half of it has played."""
    return sum(1 for w in words if played_ms >= (w.start_ms + w.end_ms) / 2)


def as_rows(words: Sequence[Word]) -> list[list]:
    """The words as ``[text, start_ms, end_ms]`` rows (the events and the database)."""
    return [[w.text, round(w.start_ms, 1), round(w.end_ms, 1)] for w in words]
