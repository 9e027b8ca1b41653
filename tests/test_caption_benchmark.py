"""``manage.py caption_benchmark``: how caption words are matched to Whisper's and their
errors computed (pure), and one real run on three sentences (Piper through the engine,
Whisper tiny.en). No speed is asserted: the figures belong in BENCHMARKS.md."""
from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from streaming.protocols import Transcript, Word
from streaming.stats import percentile
from voicebot import captionbench as cb


def test_words_match_without_case_or_punctuation_and_only_where_equal() -> None:
    captions = ["Well,", "Doctor", "Smith", "—", "leaves", "at", "9:30."]
    heard = ["well", "Dr.", "Smith", "leaves", "at", "9.30"]

    assert cb.align(captions, heard) == [(0, 0), (2, 2), (4, 3), (5, 4), (6, 5)]
    assert cb.align(["—"], ["—"]) == []  # nothing but punctuation is never a match


def spoken(exact: list[Word], estimate: list[Word]) -> cb.Spoken:
    return cb.Spoken(b"\0\0" * 22050, 22050, {"exact": exact, "estimate": estimate}, True)


def test_each_matched_words_error_is_the_caption_minus_whisper_by_method_and_edge() -> None:
    exact = [Word("Hello,", 50, 400), Word("Doctor", 500, 800), Word("Who.", 850, 1200)]
    estimate = [Word("Hello,", 0, 300), Word("Doctor", 450, 900), Word("Who.", 950, 1250)]
    heard = Transcript.from_words([Word("hello", 100, 420), Word("Dr.", 520, 820),
                                   Word("who?", 900, 1180)])

    row = cb.measure("Hello, Doctor Who.", spoken(exact, estimate), heard)

    assert row.words == 3 and row.audio_ms == 1000.0 and row.heard == "hello Dr. who?"
    assert [m[0] for m in row.matched] == ["Hello,", "Who."]  # "Doctor" is not "Dr."
    assert row.errors("exact", "start") == [-50.0, -50.0]
    assert row.errors("exact", "end") == [-20.0, 20.0]
    assert row.errors("estimate", "start") == [-100.0, 50.0]
    assert row.errors("estimate", "end") == [-120.0, 70.0]

    summary = cb.summarize([row])
    assert (summary["words"], summary["matched"], summary["matched_share"]) == (3, 2, 0.6667)
    assert summary["estimate"]["start"]["abs"]["max"] == 100.0
    assert summary["estimate"]["start"]["signed"]["p50"] == -25.0  # the offset keeps its sign
    assert summary["exact"]["start"]["abs"]["p90"] == 50.0 and summary["target"]["met"]
    assert "NOT met" not in cb.text_report(summary)


def test_a_run_that_measured_nothing_sound_says_why() -> None:
    untimed = cb.SentenceRow("A b.", "", 2, 500.0, timed_by_tts=False)
    failures = cb.failures([untimed])
    assert len(failures) == 2 and "no word timings" in failures[0]
    assert "no word matched" in failures[1]
    assert cb.summarize([untimed])["target"]["met"] is False  # no figure meets nothing


def test_the_sentences_are_many_and_varied() -> None:
    assert len(cb.SENTENCES) >= 30 and len(set(cb.SENTENCES)) == len(cb.SENTENCES)
    assert sum(s.endswith("?") for s in cb.SENTENCES) >= 5
    assert sum(any(c.isdigit() for c in s) for s in cb.SENTENCES) >= 5
    assert sum(s.count(",") >= 2 for s in cb.SENTENCES) >= 5
    assert sum(len(s.split()) >= 25 for s in cb.SENTENCES) >= 2


@pytest.mark.parametrize("count", [0, len(cb.SENTENCES) + 1])
def test_a_sentence_count_out_of_range_is_a_command_error(count: int) -> None:
    with pytest.raises(CommandError, match="--sentences must be 1 to"):
        call_command("caption_benchmark", sentences=count)


def test_three_sentences_through_piper_and_whisper(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "captions.json"
    call_command("caption_benchmark", sentences=3, write=str(output))

    result = json.loads(output.read_text())
    rows = result["sentences"]
    assert [r["sentence"] for r in rows] == list(cb.SENTENCES[:3]) and not result["failures"]
    for row in rows:
        assert row["heard"].strip() and row["timed_by_tts"]  # Piper timed every word
        assert len(row["matched"]) >= row["words"] // 2 > 0
        for _text, heard_start, heard_end, start, end, *_ in row["matched"]:
            assert heard_start <= heard_end and start <= end <= row["audio_ms"] + 0.1
    summary = result["summary"]
    assert summary["matched"] == sum(len(r["matched"]) for r in rows)
    errors = [abs(m[3] - m[1]) for r in rows for m in r["matched"]]
    assert summary["exact"]["start"]["abs"]["max"] == pytest.approx(max(errors), abs=0.1)
    # Each word's exact timing is its own, from the audio: Whisper's word is far nearer to
    # it than to the next word's (medians of 58 to 72 ms against 228 to 279 in 14 runs).
    next_word = [abs(b[3] - a[1]) for r in rows for a, b in pairwise(r["matched"])]
    assert percentile(errors, 50) < percentile(next_word, 50) / 2
    # Piper's alignments follow the speech better than the spread by length, on the same
    # audio against the same Whisper words: at the word ends by 53 to 134 ms (p90, 14 runs).
    # (Not asserted on the starts: their p90 was lower in 13 of those 14 runs, not all.)
    exact, estimate = summary["exact"]["end"]["abs"], summary["estimate"]["end"]["abs"]
    assert exact["p90"] < estimate["p90"]
    assert result["note"] == cb.WHISPER_NOTE and result["machine"]["nproc"] >= 1
    out = capsys.readouterr().out
    assert "exact (Piper alignments)" in out and "estimate (by word length)" in out
    assert "target: exact start error p90 <= 150 ms:" in out and f"result: {output}" in out
