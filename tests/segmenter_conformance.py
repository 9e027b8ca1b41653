"""Score the streaming segmenter's sentence-boundary detection on the golden corpus.

Run ``.venv/bin/python -m tests.segmenter_conformance`` (``--details`` lists every wrong
cut) for a per-category table; ``tests/test_segmenter_conformance.py`` asserts on the
same numbers.

For each case of ``tests/segmenter_corpus.py`` the text is segmented by

* ours: ``streaming.segmenter.Segmenter`` set to cut at every boundary it detects (no
  early first cut, no merging of short sentences, no length cut: ``OURS``), fed whole,
  word by word, char by char and in random pieces (fixed seeds); all must give the same
  segments (the segmenter's split invariance), and those are scored;
* ``pysbd`` (and ``sentencex`` when installed), fed the whole text.

Cut positions are compared on the text with its whitespace squeezed out (a cut is the
number of non-space characters before it), so neither spacing nor a cut made without
whitespace ("end.|Next") matters. Columns:

* FC, false cuts: a cut that is not a golden boundary and not a clause boundary (right
  after ``, ; :`` and whitespace, after a spaced dash or an em dash, or at a newline);
* MB, missed boundaries: a golden boundary with no cut;
* PS, punctuation starts: segments that begin with a lone punctuation run (". .", "...",
  "[...]"), which a TTS would read aloud or stumble on.
"""
from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streaming.segmenter import Segmenter
from tests.segmenter_corpus import CASES, CATEGORIES

# Every boundary the segmenter detects becomes a cut: no early first cut (first_min_words
# is never reached, first_max_words is off), no merging (min_chars 0), no length cut.
OURS = {"first_min_words": 10**6, "first_max_words": 0, "min_chars": 0, "max_chars": 10**6}
SEEDS = range(5)

_CLOSERS = "\"'\u201d\u2019\u00bb)]}*_`"
_PUNCT_START_RE = re.compile(
    r"[\"'\u201c\u2018\u00ab(\[]*[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(?:\s|$)"
)

Segment = Callable[[str], list[str]]


# -- segmenters -------------------------------------------------------------------------


def _run(chunks: Iterable[str]) -> list[str]:
    seg = Segmenter(**OURS)
    out: list[str] = []
    for chunk in chunks:
        out += seg.feed(chunk)
    return out + seg.flush()


def delta_splits(text: str) -> dict[str, list[str]]:
    """The ways a text is streamed: whole, word by word, char by char, random pieces."""
    splits = {
        "whole": [text],
        "words": re.findall(r"\s*\S+|\s+$", text),
        "chars": list(text),
    }
    for seed in SEEDS:
        rng, chunks, i = random.Random(seed), [], 0
        while i < len(text):
            size = rng.randint(1, 12)
            chunks.append(text[i : i + size])
            i += size
        splits[f"random{seed}"] = chunks
    return splits


def ours_by_split(text: str) -> dict[str, list[str]]:
    """Our segments for each delta split of ``text``."""
    return {name: _run(chunks) for name, chunks in delta_splits(text).items()}


def ours(text: str) -> list[str]:
    """Our segments, fed whole (the scored ones: every split must give the same)."""
    return _run([text])


def _pysbd() -> Segment:
    import pysbd

    seg = pysbd.Segmenter(language="en", clean=False)
    return lambda text: [s for s in seg.segment(text) if s.strip()]


def _sentencex() -> Segment | None:
    try:
        import sentencex
    except ImportError:  # optional: the table just has no column for it
        return None
    return lambda text: [s for s in sentencex.segment("en", text) if s.strip()]


def segmenters() -> dict[str, Segment]:
    """Name -> segment function, ours first."""
    found: dict[str, Segment | None] = {"ours": ours, "pysbd": _pysbd(), "sentencex": _sentencex()}
    return {name: fn for name, fn in found.items() if fn is not None}


# -- scoring ----------------------------------------------------------------------------


def squash(text: str) -> str:
    return "".join(text.split())


def cut_positions(text: str, segments: list[str]) -> set[int]:
    """Where ``segments`` cut ``text``: non-space characters before each cut."""
    if squash("".join(segments)) != squash(text):
        raise ValueError(f"segments do not cover the text: {text!r} -> {segments!r}")
    cuts, k = set(), 0
    for s in segments[:-1]:
        k += len(squash(s))
        cuts.add(k)
    return cuts


def clause_positions(text: str) -> set[int]:
    """Positions (as in ``cut_positions``) where a cut is a clause or line boundary."""
    offsets = [i for i, ch in enumerate(text) if not ch.isspace()]
    found = set()
    for k in range(1, len(offsets)):
        a, b = offsets[k - 1], offsets[k]
        gap = text[a + 1 : b]
        p = a
        while p > 0 and text[p] in _CLOSERS:
            p -= 1
        mark = text[p]
        if (
            "\n" in gap
            or (gap and mark in ",;:")
            or text[a] == "\u2014"
            or (gap and text[a] in "-\u2013" and a > 0 and text[a - 1].isspace())
        ):
            found.add(k)
    return found


def punctuation_starts(segments: list[str]) -> int:
    """Segments that begin with a lone punctuation run (". .", "...", "[...]")."""
    return sum(1 for s in segments if _PUNCT_START_RE.match(s.strip()))


@dataclass
class Score:
    cases: int = 0
    boundaries: int = 0
    false_cuts: int = 0
    missed: int = 0
    punct_starts: int = 0
    split_mismatches: int = 0  # ours only: cases whose segments depend on the delta split
    wrong: list[str] = field(default_factory=list)  # details, one line per mistake

    def add(self, other: Score) -> None:
        self.cases += other.cases
        self.boundaries += other.boundaries
        self.false_cuts += other.false_cuts
        self.missed += other.missed
        self.punct_starts += other.punct_starts
        self.split_mismatches += other.split_mismatches
        self.wrong += other.wrong


def _mark(text: str, k: int) -> str:
    """``text`` with ``|`` at non-space position ``k`` (for the details)."""
    offsets = [i for i, ch in enumerate(text) if not ch.isspace()]
    i = offsets[k - 1] + 1
    return f"{text[max(0, i - 40) : i]}|{text[i : i + 30]}".replace("\n", "\\n")


def score_case(text: str, golden: list[str], segments: list[str]) -> Score:
    gold = cut_positions(text, golden)
    cuts = cut_positions(text, segments)
    false = cuts - gold - clause_positions(text)
    missed = gold - cuts
    wrong = [f"false cut: {_mark(text, k)!r}" for k in sorted(false)]
    wrong += [f"missed:    {_mark(text, k)!r}" for k in sorted(missed)]
    starts = punctuation_starts(segments)
    if starts:
        wrong.append(f"punct start: {segments!r}")
    return Score(1, len(gold), len(false), len(missed), starts, 0, wrong)


def score(name: str, segment: Segment) -> dict[str, Score]:
    """Per-category scores (plus ``"total"``) of one segmenter over the corpus."""
    scores = {category: Score() for category in (*CATEGORIES, "total")}
    for category, text, golden in CASES:
        if name == "ours":
            by_split = ours_by_split(text)
            segments = by_split["whole"]
            differ = sorted(k for k, v in by_split.items() if v != segments)
        else:
            segments, differ = segment(text), []
        case = score_case(text, golden, segments)
        if differ:
            case.split_mismatches = 1
            case.wrong.append(f"splits {differ} differ from whole: {text!r}")
        scores[category].add(case)
        scores["total"].add(case)
    return scores


def score_all() -> dict[str, dict[str, Score]]:
    """Segmenter name -> category -> score."""
    return {name: score(name, fn) for name, fn in segmenters().items()}


# -- report -----------------------------------------------------------------------------


def table(results: dict[str, dict[str, Score]]) -> str:
    """A markdown table: one row per category, FC/MB/PS per segmenter."""
    names = list(results)
    head = ["category", "cases", "boundaries"] + [f"{n} FC / MB / PS" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for category in (*CATEGORIES, "total"):
        first = results[names[0]][category]
        cells = [category if category != "total" else "**total**", str(first.cases),
                 str(first.boundaries)]
        for n in names:
            s = results[n][category]
            cell = f"{s.false_cuts} / {s.missed} / {s.punct_starts}"
            cells.append(f"**{cell}**" if category == "total" else cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results: dict[str, dict[str, Score]], details: bool = False) -> str:
    ours_total = results["ours"]["total"]
    out = [
        "Segmenter conformance: FC false cuts, MB missed boundaries, PS segments starting "
        "with a lone punctuation run",
        "",
        table(results),
        "",
        f"ours: {ours_total.split_mismatches} case(s) whose segments depend on the delta split "
        f"(whole, words, chars, {len(SEEDS)} random)",
    ]
    if details:
        for name, scores in results.items():
            out += ["", f"## {name}"]
            for category in CATEGORIES:
                out += [f"  [{category}] {line}" for line in scores[category].wrong]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(report(score_all(), details="--details" in argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
