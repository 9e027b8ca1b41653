"""The segmenter's sentence-boundary detection on the golden corpus, against pysbd.

Pure tests (no Django, no server). ``pytest -s`` prints the per-category table that
``.venv/bin/python -m tests.segmenter_conformance`` prints.
"""
from __future__ import annotations

import random

import pytest

from streaming.segmenter import Segmenter
from tests import segmenter_conformance as conformance
from tests.segmenter_corpus import CASES, CATEGORIES

CASE_PARAMS = [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(CASES)]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, conformance.Score]]:
    return conformance.score_all()


def test_corpus_has_at_least_150_cases_covering_every_category() -> None:
    assert len(CASES) >= 150
    counts = {category: 0 for category in CATEGORIES}
    for category, _, _ in CASES:
        counts[category] += 1  # a KeyError here: a case in an unlisted category
    assert all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize(("category", "text", "golden"), CASE_PARAMS)
def test_golden_sentences_are_the_text_cut_into_pieces(
        category: str, text: str, golden: list[str]) -> None:
    assert all(s.strip() for s in golden)
    assert conformance.squash("".join(golden)) == conformance.squash(text)


@pytest.mark.parametrize(("category", "text", "golden"), CASE_PARAMS)
def test_every_delta_split_gives_the_same_segments(
        category: str, text: str, golden: list[str]) -> None:
    by_split = conformance.ours_by_split(text)
    whole = by_split["whole"]
    assert {name: segs for name, segs in by_split.items() if segs != whole} == {}


def test_no_false_cut_in_any_category(results: dict[str, dict[str, conformance.Score]]) -> None:
    ours = results["ours"]
    assert {c: ours[c].wrong for c in CATEGORIES if ours[c].false_cuts} == {}
    assert ours["total"].false_cuts == 0


def test_no_more_false_cuts_than_pysbd_in_any_category(
        results: dict[str, dict[str, conformance.Score]]) -> None:
    ours, pysbd = results["ours"], results["pysbd"]
    for category in (*CATEGORIES, "total"):
        assert ours[category].false_cuts <= pysbd[category].false_cuts, category


def test_no_segment_starts_with_a_lone_punctuation_run(
        results: dict[str, dict[str, conformance.Score]]) -> None:
    ours = results["ours"]
    assert ours["total"].punct_starts == 0, [w for w in ours["total"].wrong if "punct" in w]


def test_no_more_missed_boundaries_than_pysbd(
        results: dict[str, dict[str, conformance.Score]]) -> None:
    assert results["ours"]["total"].missed <= results["pysbd"]["total"].missed


def test_scoring_counts_false_cuts_missed_boundaries_and_punctuation_starts() -> None:
    text = "He paused . . . then spoke, slowly. It ended."
    golden = ["He paused . . . then spoke, slowly.", "It ended."]
    score = conformance.score_case(
        text, golden, ["He paused .", ". . then spoke,", "slowly. It ended."])
    # "paused .|" is a false cut; "spoke,|" is a clause boundary; "slowly.|" was missed
    assert (score.false_cuts, score.missed, score.punct_starts) == (1, 1, 1)
    assert conformance.cut_positions("end.Next one", ["end.", "Next one"]) == {4}


def test_report_prints_the_scored_table(
        results: dict[str, dict[str, conformance.Score]]) -> None:
    report = conformance.report(results)
    print("\n" + report)  # shown with pytest -s
    total = results["ours"]["total"]
    cell = f"**{total.false_cuts} / {total.missed} / {total.punct_starts}**"
    total_row = next(line for line in report.splitlines() if line.startswith("| **total**"))
    assert cell in total_row
    assert all(f"| {category} |" in report for category in CATEGORIES)


def _run(chunks: list[str], **config: int) -> list[str]:
    seg = Segmenter(**config)
    out: list[str] = []
    for chunk in chunks:
        out += seg.feed(chunk)
    return out + seg.flush()


def test_min_chars_0_still_cuts_a_unit_that_reaches_max_chars() -> None:
    """min_chars 0 (as in the conformance settings) once made a forced cut at 0: a hang."""
    text = "one two three four five six seven eight nine ten eleven twelve"
    segments = _run([text], min_chars=0, max_chars=20)
    assert " ".join(segments) == text
    assert all(len(s) <= 20 for s in segments)


# Pieces of what the conformance rules look at: markers, quotes, ellipses, attributions.
FUZZ_PIECES = [*"aaAAbb  \n\n.,;:1-\u2014\u2026\"*#)(I?!`'\u201c\u201d\u2022", " . . .",
               ". . . .", "[...]", "(1) ", "1. ", "2. ", "a. ", "b) ", "ii. ", " John said",
               " The man asked", "U.S.", " The", " Did", "N\u00b0.", " 5", "Jan.", "2019.",
               "\n- ", "\n1. ", "e.g.", "Dr.", "\u2022 ", "`x.Y`", "Step"]


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_of_conformance_pieces_is_split_invariant_and_loses_nothing(seed: int) -> None:
    rng = random.Random(2000 + seed)
    for _ in range(150):
        text = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(0, 60)))
        first_min = rng.randint(1, 5)
        config = rng.choice([conformance.OURS, {
            "first_min_words": first_min, "first_max_words": rng.choice([0, first_min]),
            "min_chars": rng.randint(0, 30), "max_chars": rng.randint(5, 80)}])
        whole = _run([text], **config)
        assert _run(list(text), **config) == whole, (text, config)
        sizes = random.Random(seed)
        chunks, i = [], 0
        while i < len(text):
            size = sizes.randint(1, 6)
            chunks.append(text[i : i + size])
            i += size
        assert _run(chunks, **config) == whole, (text, config)
        assert conformance.squash("".join(whole)) == conformance.squash(text)
        assert all(s and s == s.strip() for s in whole)
